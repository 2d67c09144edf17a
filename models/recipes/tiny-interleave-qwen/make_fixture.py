"""Regenerate test/fixtures/tiny-llava-interleave-qwen deterministically (random weights, fixed seed).

    /usr/bin/python3 models/recipes/tiny-interleave-qwen/make_fixture.py [--out test/fixtures/tiny-llava-interleave-qwen]

A LLaVA of the exact shape of llava-hf/llava-interleave-qwen-0.5b-hf at toy widths: SigLIP-style
tower at 384 px / patch 14 (729 image tokens, "full" strategy, feature layer -1), Qwen2-style
decoder (GQA, q/k/v biases, rope_theta 1e6, tied embeddings), Qwen byte-level BPE without BOS,
chat_template.json, SiglipImageProcessor config. Writes the standard ONNX layout and
reference.json (PyTorch's greedy answers). CPU only, well under a minute.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))

from tinyllava.random_interleave import build_random_interleave, export_random_interleave, write_reference  # noqa: E402

SEED = 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "..", "test", "fixtures", "tiny-llava-interleave-qwen"))
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()
    model, tok, cfg = build_random_interleave(
        args.seed,
        vision=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2),
        text=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=32768),
        bpe_tokens=496, vocab_size=512,
    )
    out = os.path.abspath(args.out)
    export_random_interleave(model, tok, out, name_or_path="glimpse/tiny-llava-interleave-qwen")
    ref = write_reference(model, tok, out, new_tokens=20)
    for case in ref["cases"]:
        print(json.dumps({k: case[k] for k in ("name", "greedy_text", "min_top2_logit_margin")}, ensure_ascii=False))
    print("tokenizer", len(tok), "vocab rows", cfg.text.vocab_size, "image tokens", ref["image_tokens"])


if __name__ == "__main__":
    main()
