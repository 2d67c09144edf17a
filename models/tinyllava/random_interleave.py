"""A random-weight tiny LLaVA of the exact *shape* of `llava-hf/llava-interleave-qwen-0.5b-hf`:
a SigLIP-style vision tower at 384 px / patch 14 (27×27 = 729 patches, no CLS token),
`vision_feature_select_strategy: "full"`, `vision_feature_layer: -1` (the last block, before
post_layernorm), a 2-layer GELU projector, a Qwen2-style decoder (RMSNorm, rope_theta 1e6, GQA,
q/k/v biases, tied embeddings, a vocabulary padded past the tokenizer's), Qwen's byte-level BPE
without BOS, `<|im_start|>`/`<|im_end|>` chat format with the template in chat_template.json, and
SiglipImageProcessor's preprocessing (384×384 bicubic, no crop, mean/std 0.5). Only the widths and
depths are tiny.

Used by models/recipes/tiny-interleave-qwen/make_fixture.py (test/fixtures/tiny-llava-interleave-qwen).
"""
import hashlib
import json
import os

import numpy as np
import torch
from PIL import Image, ImageDraw

from .corpus import GENERAL, load_spec, task_corpus
from .export import export_onnx
from .model import LlavaConfig, Llava, TextConfig, VisionConfig
from .qwen_bpe import CHAT_TEMPLATE, QwenTokenizer, render_chat, special_tokens_map, tokenizer_config, train_bpe
from .random_llava import init_weights

IMAGE_SIZE = 384
PATCH = 14
MEAN = STD = [0.5, 0.5, 0.5]


def qwen_corpus():
    """The tiny-shapes phrasings (less their llava-1.5 dialogues) plus dialogues in Qwen's format."""
    spec = load_spec()
    texts = [t for t in task_corpus(spec) if "ASSISTANT:" not in t]
    kinds = spec["kinds"]
    colours = list(spec["colours"].keys())
    q = spec["questions"]
    for k, c in zip(kinds * 2, colours):
        msgs = [
            {"role": "system", "content": [{"type": "text", "text": GENERAL[6]}]},
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q["colour"]["q"].format(kind=k)}]},
            {"role": "assistant", "content": [{"type": "text", "text": c}]},
            {"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": q["describe"]["q"]}]},
            {"role": "assistant", "content": [{"type": "text", "text": f"A {c} {k}, a red circle and an orange star."}]},
        ]
        texts.append(render_chat(msgs, add_generation_prompt=True))
    return texts


def formula_pixels(size, k):
    """pixel_values[0, c, y, x] = ((7x + 3y + 11c + 5k) mod 17) / 8 − 1 for image k (easy to rebuild in TS)."""
    c = torch.arange(3).view(3, 1, 1)
    y = torch.arange(size).view(1, size, 1)
    x = torch.arange(size).view(1, 1, size)
    return (((7 * x + 3 * y + 11 * c + 5 * k) % 17).float() / 8.0 - 1.0).unsqueeze(0)


def source_image():
    """A small non-square RGB picture (an upscale to 384×384: the path PIL and sharp differ on most)."""
    w, h = 93, 61
    img = Image.new("RGB", (w, h))
    px = img.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = ((x * 255) // (w - 1), (y * 255) // (h - 1), ((x + y) * 7) % 256)
    d = ImageDraw.Draw(img)
    d.ellipse([10, 8, 40, 38], fill=(220, 40, 40))
    d.rectangle([55, 20, 85, 50], fill=(40, 90, 220))
    d.line([0, 60, 92, 0], fill=(0, 0, 0), width=1)
    return img


def siglip_preprocess(img):
    """SiglipImageProcessor (the slow, PIL one): RGB, PIL bicubic resize straight to 384×384 (no
    crop, reducing_gap None as HF calls it), then HF's arithmetic: `rescale` multiplies in float64
    and casts to float32, `normalize` subtracts and divides in float32 → (uint8 HWC, [1,3,H,W])."""
    rgb = np.asarray(img.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), resample=Image.BICUBIC), dtype=np.uint8)
    x = (rgb.astype(np.float64) * 0.00392156862745098).astype(np.float32)
    x = (x - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
    return rgb, torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))).unsqueeze(0)


def build_random_interleave(seed, vision: dict, text: dict, bpe_tokens: int, vocab_size: int):
    torch.manual_seed(seed)
    vocab, merges = train_bpe(qwen_corpus(), vocab_size=bpe_tokens)
    tok = QwenTokenizer(vocab, merges)
    assert len(tok) <= vocab_size, (len(tok), vocab_size)
    cfg = LlavaConfig(
        vision=VisionConfig(model_type="siglip_vision_model", image_size=IMAGE_SIZE, patch_size=PATCH,
                            layer_norm_eps=1e-6, **vision),
        text=TextConfig(vocab_size=vocab_size, tie_word_embeddings=True, attention_bias=True, rope_theta=1000000.0,
                        bos_token_id=tok.endoftext_id, eos_token_id=tok.eos_id, pad_token_id=tok.pad_id, **text),
        image_token_index=tok.image_id, vision_feature_layer=-1, vision_feature_select_strategy="full",
    )
    model = Llava(cfg)
    g = torch.Generator().manual_seed(seed)
    init_weights(model, g)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") and ("q_proj" in name or "k_proj" in name or "v_proj" in name):
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)  # Qwen2's q/k/v biases: make them matter
            elif name == "vision.patch_embedding.weight":
                p.mul_(3.0)  # the picture, not only the positions, should reach the features
            elif name == "vision.patch_embedding.bias":
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            elif name.startswith("lm.") and ("o_proj" in name or "down_proj" in name):
                p.mul_(2.0)  # the blocks' outputs outweigh the token's own embedding in the residual
        # With tied embeddings and a unit final norm, logits ≈ E·(e_last + …) make every random
        # model repeat its last token (e·e = |e|² wins). A random final RMSNorm weight (as trained
        # models have non-uniform ones) breaks that: greedy output wanders with clear margins.
        model.lm.norm.weight.copy_(torch.randn(model.lm.norm.weight.shape, generator=g))
        # tied embeddings: a zero row is never the argmax (logit 0, far below the top logits).
        # Greedy output stays printable ASCII: no raw control / non-ASCII bytes (invalid UTF-8),
        # no <|endoftext|> or <image>, none of the padding rows past the tokenizer's vocabulary.
        emb = model.lm.embed_tokens.weight
        quiet = [tok.endoftext_id, tok.image_id] + list(range(len(tok), vocab_size))
        quiet += [tok.byte_id(b) for b in range(256) if (b < 0x20 and b != 0x0A) or b >= 0x7F]
        for t in quiet:
            emb[t].mul_(0.0)
        # <|im_start|>/<|im_end|> keep a (small) embedding: they are in every prompt
        for t in (tok.im_start_id, tok.im_end_id):
            emb[t].mul_(0.15)
    model.eval()
    return model, tok, cfg


def write_configs(model: Llava, tok: QwenTokenizer, out_dir, name_or_path):
    """The files of llava-hf/llava-interleave-qwen-0.5b-hf, with this model's sizes."""
    vc, tc = model.cfg.vision, model.cfg.text
    os.makedirs(out_dir, exist_ok=True)
    config = {
        "_name_or_path": name_or_path,
        "architectures": ["LlavaForConditionalGeneration"],
        "ignore_index": -100,
        "image_token_index": tok.image_id,
        "model_type": "llava",
        "projector_hidden_act": model.cfg.projector_hidden_act,
        "text_config": {
            "_name_or_path": "glimpse/tiny-qwen2-random",
            "architectures": ["Qwen2ForCausalLM"],
            "bos_token_id": tok.endoftext_id,
            "eos_token_id": tok.im_end_id,
            "hidden_act": "silu",
            "hidden_size": tc.hidden_size,
            "intermediate_size": tc.intermediate_size,
            "max_position_embeddings": tc.max_position_embeddings,
            "max_window_layers": tc.num_hidden_layers,
            "model_type": "qwen2",
            "num_attention_heads": tc.num_attention_heads,
            "num_hidden_layers": tc.num_hidden_layers,
            "num_key_value_heads": tc.num_key_value_heads,
            "rms_norm_eps": tc.rms_norm_eps,
            "rope_theta": tc.rope_theta,
            "sliding_window": tc.max_position_embeddings,
            "tie_word_embeddings": True,
            "torch_dtype": "float32",
            "use_sliding_window": False,
            "vocab_size": tc.vocab_size,
        },
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "transformers_version": "4.46.0",
        "vision_config": {
            "hidden_act": "gelu_pytorch_tanh",
            "hidden_size": vc.hidden_size,
            "image_size": vc.image_size,
            "intermediate_size": vc.intermediate_size,
            "layer_norm_eps": vc.layer_norm_eps,
            "model_type": "siglip_vision_model",
            "num_attention_heads": vc.num_attention_heads,
            "num_channels": 3,
            "num_hidden_layers": vc.num_hidden_layers,
            "patch_size": vc.patch_size,
            "vision_use_head": False,
        },
        "vision_feature_layer": model.cfg.vision_feature_layer,
        "vision_feature_select_strategy": model.cfg.vision_feature_select_strategy,
    }
    gen = {"bos_token_id": tok.endoftext_id, "eos_token_id": tok.im_end_id, "pad_token_id": tok.pad_id,
           "transformers_version": "4.46.0"}
    pre = {
        "do_convert_rgb": None,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": MEAN,
        "image_processor_type": "SiglipImageProcessor",
        "image_std": STD,
        "processor_class": "LlavaProcessor",
        "resample": 3,
        "rescale_factor": 0.00392156862745098,
        "size": {"height": vc.image_size, "width": vc.image_size},
    }
    proc = {"image_token": "<image>", "num_additional_image_tokens": 0, "patch_size": vc.patch_size,
            "processor_class": "LlavaProcessor",
            "vision_feature_select_strategy": model.cfg.vision_feature_select_strategy}
    files = {
        "config.json": config,
        "generation_config.json": gen,
        "preprocessor_config.json": pre,
        "processor_config.json": proc,
        "chat_template.json": {"chat_template": CHAT_TEMPLATE},
        "tokenizer_config.json": tokenizer_config(tok, tc.max_position_embeddings),
        "special_tokens_map.json": special_tokens_map(),
    }
    for name, obj in files.items():
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=2)
            f.write("\n")
    tok.save(os.path.join(out_dir, "tokenizer.json"))


@torch.no_grad()
def greedy(model, ids, pixel_values, n):
    """Greedy decoding with a full forward per step (no KV cache): the plainest reference."""
    ids = ids.clone()
    feats = model.image_features(pixel_values) if pixel_values is not None else None
    out, margins = [], []
    for _ in range(n):
        logits = model(ids, torch.ones_like(ids), feats=feats)[0, -1]
        top = logits.topk(2)
        margins.append(float(top.values[0] - top.values[1]))
        nxt = int(top.indices[0])
        out.append(nxt)
        if nxt == model.cfg.text.eos_token_id:
            break
        ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    return out, margins


CASES = [
    ("one image", [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour is the circle?"}]},
    ]),
    ("two images in one turn", [
        {"role": "user", "content": [{"type": "image"}, {"type": "image"},
                                     {"type": "text", "text": "What differs between them?"}]},
    ]),
    ("a multi-turn history", [
        {"role": "system", "content": [{"type": "text", "text": "You answer briefly."}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What shapes are there?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A circle and a square."}]},
        {"role": "user", "content": [{"type": "text", "text": "Which one is bigger?"}]},
    ]),
]


def write_reference(model, tok, out, new_tokens):
    """reference.json: per case the prompt, its ids before image expansion and PyTorch's greedy
    continuation for formula pixel values; plus the SigLIP preprocessing of source.png (PIL) and the
    greedy answer for it."""
    n_img = model.num_image_tokens()
    size = model.cfg.vision.image_size

    def expand(ids):
        return [t for i in ids for t in ([i] * n_img if i == tok.image_id else [i])]

    cases = []
    for name, msgs in CASES:
        prompt = render_chat(msgs, add_generation_prompt=True)
        ids = tok.encode(prompt)
        k = ids.count(tok.image_id)
        px = torch.cat([formula_pixels(size, i) for i in range(k)]) if k else None
        gen, margins = greedy(model, torch.tensor([expand(ids)]), px, new_tokens)
        cases.append({
            "name": name,
            "messages": msgs,
            "images": [f"formula:{i}" for i in range(k)],
            "prompt": prompt,
            "input_ids_before_image_expansion": ids,
            "greedy_new_tokens": gen,
            "greedy_text": tok.decode(gen),
            "min_top2_logit_margin": min(margins),
        })

    src = source_image()
    src.save(os.path.join(out, "source.png"), optimize=True)
    rgb, px = siglip_preprocess(Image.open(os.path.join(out, "source.png")))
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe this image."}]}]
    prompt = render_chat(msgs, add_generation_prompt=True)
    ids = tok.encode(prompt)
    gen, margins = greedy(model, torch.tensor([expand(ids)]), px, new_tokens)
    cases.append({
        "name": "source.png through SigLIP preprocessing",
        "messages": msgs,
        "images": ["source.png"],
        "prompt": prompt,
        "input_ids_before_image_expansion": ids,
        "greedy_new_tokens": gen,
        "greedy_text": tok.decode(gen),
        "min_top2_logit_margin": min(margins),
    })
    ref = {
        "image_tokens": n_img,
        "image_token_id": tok.image_id,
        "pixel_values": f"formula:k → pixel_values[k, c, y, x] = ((7*x + 3*y + 11*c + 5*k) % 17) / 8 - 1, "
                        f"shape [images, 3, {size}, {size}]",
        "preprocess": {
            "image": "source.png",
            "width": src.width,
            "height": src.height,
            "$comment": "SiglipImageProcessor (PIL): resize((384, 384), BICUBIC), no crop; rescale (float64, then float32); normalise mean/std 0.5 in float32. sha256 of the uint8 HWC image and of the float32 CHW pixel values",
            "resized_rgb_sha256": hashlib.sha256(rgb.tobytes()).hexdigest(),
            "pixel_values_sha256": hashlib.sha256(px.numpy().astype("<f4").tobytes()).hexdigest(),
            "pixel_values_sum": float(px.double().sum()),
            "pixel_values_first": [float(v) for v in px.flatten()[:8]],
        },
        "cases": cases,
    }
    with open(os.path.join(out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(ref, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return ref


def export_random_interleave(model, tok, out, name_or_path):
    write_configs(model, tok, out, name_or_path=name_or_path)
    export_onnx(model, out)
