"""Write models/tiny-shapes/reference/: a few rendered PNGs with PyTorch's greedy answers and
zero-shot scores, for token-for-token parity tests of the TypeScript pipeline. train.py writes it
with every export; this script rewrites it from a saved checkpoint:

    /usr/bin/python3 models/recipes/tiny-shapes/make_reference.py --ckpt ck.pt --out models/tiny-shapes
"""
import argparse
import json
import os
import random
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import scenes as S  # noqa: E402
import train as T  # noqa: E402
from tinyllava.bpe import render_chat  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "tiny-shapes"))
    ap.add_argument("--n", type=int, default=4)
    args = ap.parse_args()
    _ck, spec, _tok, model, tenc, text = T.load_checkpoint(args.ckpt)
    cases = write_reference(model, tenc, text, spec, args.out, n=args.n)
    print(json.dumps([[(q["question"], q["expected"], q["greedy_answer"]) for q in c["questions"]] for c in cases], indent=0))


def write_reference(model, tenc, text, spec, out, n=4):
    """Render n scenes (seed 4242, plain) into out/reference/ with PyTorch's answers; → cases."""
    tok = text.tok
    model.eval()
    tenc.eval()
    out_dir = os.path.join(out, "reference")
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(5)
    cases = []
    for i in range(n):
        sc = S.generate_scene(spec, 4242, i)
        arr = S.render(spec, sc)
        name = f"scene-{i}.png"
        Image.fromarray(arr).save(os.path.join(out_dir, name))
        px = T.to_pixels(torch.from_numpy(arr[None]))
        qs = S.all_questions(spec, sc, rng)
        with torch.no_grad():
            feats = model.image_features(px)
            items = []
            for typ, q, ans in qs:
                msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q}]}]
                prompt = render_chat(msgs, add_generation_prompt=True)
                ids = text.expand(tok.encode(prompt))
                got = T.generate(model, text, [ids], feats)[0]
                gen_ids = tok.encode(" " + got, add_special_tokens=False, continuation=True)
                items.append({"type": typ, "question": q, "expected": ans, "prompt": prompt,
                              "greedy_answer": got, "greedy_ids": gen_ids})
            labels, _ = S.zero_shot_case(spec, sc, rng)
            l_ids, l_am = T.encode_labels(tok, labels)
            ie = model.vision.image_embeds(px)
            scores = (ie @ tenc(l_ids, l_am).t())[0].tolist()
        cases.append({"image": name, "scene": sc, "questions": items,
                      "zero_shot": {"labels": labels, "answer": labels[0], "cosine": scores}})
    with open(os.path.join(out_dir, "reference.json"), "w", encoding="utf-8") as f:
        json.dump({"note": "PNG → CLIPImageProcessor (128, CLIP mean/std) → greedy decoding in PyTorch; "
                           "greedy_ids are the answer's tokens without the final </s>",
                   "cases": cases}, f, indent=1)
        f.write("\n")
    return cases


if __name__ == "__main__":
    main()
