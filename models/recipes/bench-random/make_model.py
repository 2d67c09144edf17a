"""A random-weight LLaVA big enough for `npm run bench` to measure matrix work, not overhead.

    /usr/bin/python3 models/recipes/bench-random/make_model.py [--out /tmp/bench-llava-random]

llava-1.5-shaped (336 px, patch 14, 576 image tokens, "default" strategy, GQA decoder), widths
between the test fixture and a real model: CLIP hidden 256 × 4 layers, decoder hidden 512 × 8
layers (8 heads, 4 KV heads), ~30 M parameters, ~120 MB of fp32 ONNX. Not committed: build it
where you benchmark. Output is gibberish by design (the same BPE as the fixture).
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))

from tinyllava.random_llava import build_random_llava, export_random_llava  # noqa: E402

SEED = 1234  # the test fixture's seed (models/recipes/tiny-random/make_fixture.py)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/bench-llava-random")
    args = ap.parse_args()
    model, tok, _ = build_random_llava(
        SEED,
        vision=dict(image_size=336, patch_size=14, hidden_size=256, intermediate_size=1024,
                    num_hidden_layers=4, num_attention_heads=4, projection_dim=256),
        text=dict(hidden_size=512, intermediate_size=1536, num_hidden_layers=8, num_attention_heads=8,
                  num_key_value_heads=4, max_position_embeddings=4096),
        strategy="default",
    )
    out = os.path.abspath(args.out)
    export_random_llava(model, tok, out, name_or_path="glimpse/bench-llava-random")
    print(out, sum(p.numel() for p in model.parameters()), "parameters")


if __name__ == "__main__":
    main()
