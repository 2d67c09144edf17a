"""Random-weight tiny LLaVAs for tests and benchmarks: one builder, one greedy reference.

Used by models/recipes/tiny-random/make_fixture.py (test/fixtures/tiny-llava-random),
test/fixtures/tiny-llava-224-full/make_fixture.py and models/recipes/bench-random/make_model.py.
"""
import json
import os

import torch

from .bpe import Tokenizer, render_chat, train_bpe
from .corpus import load_spec, task_corpus
from .export import export_onnx, write_configs
from .model import LlavaConfig, Llava, TextConfig, VisionConfig


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


def build_random_llava(seed, vision: dict, text: dict, strategy: str):
    """The task BPE (512 tokens) and a LLaVA with `vision`/`text` widths, random weights from `seed`.

    Greedy decoding never picks <image>/<pad>/<unk> or a raw byte token (random bytes make invalid
    UTF-8, a poor parity target): their lm_head rows are zeroed (logit 0, far below the top logits).
    """
    torch.manual_seed(seed)
    vocab, merges = train_bpe(task_corpus(load_spec()), vocab_size=512)
    tok = Tokenizer(vocab, merges)
    cfg = LlavaConfig(
        vision=VisionConfig(**vision),
        text=TextConfig(vocab_size=len(tok), tie_word_embeddings=False, bos_token_id=tok.bos_id,
                        eos_token_id=tok.eos_id, pad_token_id=tok.pad_id, **text),
        image_token_index=tok.image_id, vision_feature_layer=-2, vision_feature_select_strategy=strategy,
    )
    model = Llava(cfg)
    init_weights(model, torch.Generator().manual_seed(seed))
    model.eval()
    with torch.no_grad():
        for t in [tok.image_id, tok.pad_id, tok.unk_id] + [tok.vocab[f"<0x{b:02X}>"] for b in range(256)]:
            model.lm.lm_head.weight[t].mul_(0.0)
    return model, tok, cfg


def export_random_llava(model, tok, out, name_or_path):
    write_configs(model, tok, out, name_or_path=name_or_path)
    export_onnx(model, out)


def write_reference(model, tok, cfg, out, new_tokens):
    """reference.json: a prompt, its ids, the pixel formula and PyTorch's greedy continuation."""
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour is the circle?"}]}]
    prompt = render_chat(msgs, add_generation_prompt=True)
    n_img = model.num_image_tokens()
    ids = tok.encode(prompt)
    i = ids.index(tok.image_id)
    ids = ids[:i] + [tok.image_id] * n_img + ids[i + 1:]
    size = cfg.vision.image_size
    gen, margins = greedy(model, torch.tensor([ids]), reference_pixels(size), new_tokens)
    ref = {
        "prompt": prompt,
        "input_ids_before_image_expansion": tok.encode(prompt),
        "image_tokens": n_img,
        "pixel_values": f"pixel_values[0, c, y, x] = ((7*x + 3*y + 11*c) % 17) / 8 - 1, shape [1, 3, {size}, {size}]",
        "greedy_new_tokens": gen,
        "greedy_text": tok.decode(gen),
        "min_top2_logit_margin": min(margins),
    }
    with open(os.path.join(out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(ref, f, ensure_ascii=False, indent=2)
        f.write("\n")
    return ref
