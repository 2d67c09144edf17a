"""Regenerate test/fixtures/tiny-llava-random deterministically (random weights, fixed seed).

    /usr/bin/python3 models/recipes/tiny-random/make_fixture.py [--out test/fixtures/tiny-llava-random]

A llava-1.5-shaped model (336 px, patch 14, "default" strategy → 576 image tokens, feature layer
-2, GQA decoder) at toy widths. Weights are random but scaled so greedy decoding wanders over many
tokens with clear argmax margins (token-for-token parity tests are meaningful). Also writes
reference.json: a prompt, its input_ids, a formula for pixel_values and the greedy continuation.
"""
import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))

from tinyllava.bpe import Tokenizer, render_chat, train_bpe  # noqa: E402
from tinyllava.corpus import load_spec, task_corpus  # noqa: E402
from tinyllava.export import export_onnx, write_configs  # noqa: E402
from tinyllava.model import LlavaConfig, TextConfig, VisionConfig, Llava  # noqa: E402

SEED = 1234


def reference_pixels(size):
    """pixel_values[0, c, y, x] = ((7x + 3y + 11c) mod 17) / 8 - 1 (easy to rebuild in TS)."""
    c = torch.arange(3).view(3, 1, 1)
    y = torch.arange(size).view(1, size, 1)
    x = torch.arange(size).view(1, 1, size)
    return (((7 * x + 3 * y + 11 * c) % 17).float() / 8.0 - 1.0).unsqueeze(0)


def init_weights(model: Llava, g: torch.Generator):
    """Larger-than-usual random init: confident, position-sensitive, non-repeating greedy output."""
    for name, p in model.named_parameters():
        if p.dim() == 1:
            if "bias" in name:
                p.data.zero_()
            else:
                p.data.fill_(1.0)
            continue
        fan_in = p.shape[1] if p.dim() == 2 else p[0].numel()
        std = 1.0 / fan_in ** 0.5
        if "embed_tokens" in name or "position_embedding" in name or "class_embedding" in name:
            std = 1.0
        if "q_proj" in name or "k_proj" in name:
            std *= 2.0
        if "lm_head" in name:
            std *= 3.0
        p.data.copy_(torch.randn(p.shape, generator=g) * std)


@torch.no_grad()
def greedy(model, ids, pixel_values, n):
    ids = ids.clone()
    feats = model.image_features(pixel_values)
    out = []
    margins = []
    for _ in range(n):
        am = torch.ones_like(ids)
        logits = model(ids, am, feats=feats)[0, -1]
        top = logits.topk(2)
        margins.append(float(top.values[0] - top.values[1]))
        nxt = int(top.indices[0])
        out.append(nxt)
        ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    return out, margins


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "..", "test", "fixtures", "tiny-llava-random"))
    args = ap.parse_args()
    torch.manual_seed(SEED)
    spec = load_spec()
    vocab, merges = train_bpe(task_corpus(spec), vocab_size=512)
    tok = Tokenizer(vocab, merges)
    cfg = LlavaConfig(
        vision=VisionConfig(image_size=336, patch_size=14, hidden_size=32, intermediate_size=64,
                            num_hidden_layers=2, num_attention_heads=2, projection_dim=32),
        text=TextConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                        tie_word_embeddings=False, bos_token_id=tok.bos_id, eos_token_id=tok.eos_id,
                        pad_token_id=tok.pad_id),
        image_token_index=tok.image_id, vision_feature_layer=-2, vision_feature_select_strategy="default",
    )
    model = Llava(cfg)
    init_weights(model, torch.Generator().manual_seed(SEED))
    model.eval()
    # Greedy decoding should never pick <image>/<pad>/<unk> or a raw byte token (random bytes make
    # invalid UTF-8, which is a poor parity target): zero their lm_head rows (logit 0, far below the
    # top logits).
    with torch.no_grad():
        for t in [tok.image_id, tok.pad_id, tok.unk_id] + [tok.vocab[f"<0x{b:02X}>"] for b in range(256)]:
            model.lm.lm_head.weight[t].mul_(0.0)

    out = os.path.abspath(args.out)
    write_configs(model, tok, out, name_or_path="glimpse/tiny-llava-random")
    export_onnx(model, out)

    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour is the circle?"}]}]
    prompt = render_chat(msgs, add_generation_prompt=True)
    n_img = model.num_image_tokens()
    ids = tok.encode(prompt)
    i = ids.index(tok.image_id)
    ids = ids[:i] + [tok.image_id] * n_img + ids[i + 1:]
    px = reference_pixels(cfg.vision.image_size)
    gen, margins = greedy(model, torch.tensor([ids]), px, 24)
    ref = {
        "prompt": prompt,
        "input_ids_before_image_expansion": tok.encode(prompt),
        "image_tokens": n_img,
        "pixel_values": "pixel_values[0, c, y, x] = ((7*x + 3*y + 11*c) % 17) / 8 - 1, shape [1, 3, 336, 336]",
        "greedy_new_tokens": gen,
        "greedy_text": tok.decode(gen),
        "min_top2_logit_margin": min(margins),
    }
    with open(os.path.join(out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(ref, f, ensure_ascii=False, indent=2)
        f.write("\n")
    print(json.dumps({k: ref[k] for k in ("greedy_new_tokens", "greedy_text", "min_top2_logit_margin")}, ensure_ascii=False))
    print("vocab", len(tok), "distinct generated", len(set(gen)))


if __name__ == "__main__":
    main()
