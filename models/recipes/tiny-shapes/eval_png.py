"""Evaluate a checkpoint in PyTorch on scenes drawn by the TypeScript side (sharp/librsvg PNGs +
cases.json with the TS questions, follow-ups and zero-shot labels) — a preview of `npm run eval`
(onnxruntime-node reproduces PyTorch token for token, see models/tiny-shapes/reference).

    /usr/bin/python3 models/recipes/tiny-shapes/eval_png.py --ckpt ck.pt --dir /tmp/tsscenes

cases.json: [{scene, questions: [{type, question, answer}], followUp: {type, first: {question,
answer}, second: {...}}, zeroShot: {labels, answer}}], images scene-<i>.png.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import train as T  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ck, spec, tok, model, tenc, text = T.load_checkpoint(args.ckpt)
    model.eval()
    tenc.eval()
    cases = json.load(open(os.path.join(args.dir, "cases.json")))
    res = {}
    caption_ok, zs_ok, zs_single = [], [], []
    with torch.no_grad():
        for i, c in enumerate(cases):
            arr = np.asarray(Image.open(os.path.join(args.dir, f"scene-{i}.png")).convert("RGB"))
            px = T.to_pixels(torch.from_numpy(arr[None].copy()))
            feats = model.image_features(px)
            items = [(q["type"], [(q["question"], None)], q["answer"]) for q in c["questions"]]
            fu = c["followUp"]
            first = T.generate(model, text, [text.prompt([(fu["first"]["question"], None)])], feats)[0]
            items.append(("followup", [(fu["first"]["question"], first.strip()), (fu["second"]["question"], None)],
                          fu["second"]["answer"]))
            outs = T.generate(model, text, [text.prompt(t) for _, t, _ in items], feats.expand(len(items), -1, -1))
            for (typ, _, exp), got in zip(items, outs):
                res.setdefault(typ, []).append(T.norm_answer(got) == T.norm_answer(exp))
                if typ == "describe":
                    caption_ok.append(T.caption_complete(spec, c["scene"], got))
            l_ids, l_am = T.encode_labels(tok, c["zeroShot"]["labels"])
            sims = (model.vision.image_embeds(px) @ tenc(l_ids, l_am).t())[0]
            ok = c["zeroShot"]["labels"][int(sims.argmax())] == c["zeroShot"]["answer"]
            zs_ok.append(ok)
            if len(c["scene"]["shapes"]) == 1:
                zs_single.append(ok)
    core = [x for k in ("colour", "shape", "count", "position") for x in res.get(k, [])]
    out = {
        "images": len(cases),
        "qa_exact_colour_shape_count_position": sum(core) / len(core),
        "captions_complete": sum(caption_ok) / len(caption_ok),
        "zero_shot_top1_of_8": sum(zs_ok) / len(zs_ok),
        "zero_shot_single_shape": sum(zs_single) / max(1, len(zs_single)),
        "followups": sum(res["followup"]) / len(res["followup"]),
        "per_type": {k: round(sum(v) / len(v), 3) for k, v in sorted(res.items())},
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
