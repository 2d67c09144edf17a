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

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "tiny-random"))

from make_fixture import SEED, init_weights  # noqa: E402
from tinyllava.bpe import Tokenizer, train_bpe  # noqa: E402
from tinyllava.corpus import load_spec, task_corpus  # noqa: E402
from tinyllava.export import export_onnx, write_configs  # noqa: E402
from tinyllava.model import LlavaConfig, TextConfig, VisionConfig, Llava  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/bench-llava-random")
    args = ap.parse_args()
    torch.manual_seed(SEED)
    vocab, merges = train_bpe(task_corpus(load_spec()), vocab_size=512)
    tok = Tokenizer(vocab, merges)
    cfg = LlavaConfig(
        vision=VisionConfig(image_size=336, patch_size=14, hidden_size=256, intermediate_size=1024,
                            num_hidden_layers=4, num_attention_heads=4, projection_dim=256),
        text=TextConfig(vocab_size=len(tok), hidden_size=512, intermediate_size=1536, num_hidden_layers=8,
                        num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=4096,
                        tie_word_embeddings=False, bos_token_id=tok.bos_id, eos_token_id=tok.eos_id,
                        pad_token_id=tok.pad_id),
        image_token_index=tok.image_id, vision_feature_layer=-2, vision_feature_select_strategy="default",
    )
    model = Llava(cfg)
    init_weights(model, torch.Generator().manual_seed(SEED))
    model.eval()
    with torch.no_grad():
        for t in [tok.image_id, tok.pad_id, tok.unk_id] + [tok.vocab[f"<0x{b:02X}>"] for b in range(256)]:
            model.lm.lm_head.weight[t].mul_(0.0)
    out = os.path.abspath(args.out)
    write_configs(model, tok, out, name_or_path="glimpse/bench-llava-random")
    export_onnx(model, out)
    print(out, sum(p.numel() for p in model.parameters()), "parameters")


if __name__ == "__main__":
    main()
