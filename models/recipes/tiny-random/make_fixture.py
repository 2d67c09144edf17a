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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))

from tinyllava.random_llava import build_random_llava, export_random_llava, write_reference  # noqa: E402

SEED = 1234


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "..", "test", "fixtures", "tiny-llava-random"))
    args = ap.parse_args()
    model, tok, cfg = build_random_llava(
        SEED,
        vision=dict(image_size=336, patch_size=14, hidden_size=32, intermediate_size=64,
                    num_hidden_layers=2, num_attention_heads=2, projection_dim=32),
        text=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=4096),
        strategy="default",
    )
    out = os.path.abspath(args.out)
    export_random_llava(model, tok, out, name_or_path="glimpse/tiny-llava-random")
    ref = write_reference(model, tok, cfg, out, new_tokens=24)
    gen = ref["greedy_new_tokens"]
    print(json.dumps({k: ref[k] for k in ("greedy_new_tokens", "greedy_text", "min_top2_logit_margin")}, ensure_ascii=False))
    print("vocab", len(tok), "distinct generated", len(set(gen)))


if __name__ == "__main__":
    main()
