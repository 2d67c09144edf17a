"""Export a tiny LLaVA to the onnx-community / transformers.js directory layout."""
from __future__ import annotations

import json
import os

import torch
import torch.nn as nn

from .bpe import Tokenizer, special_tokens_map, tokenizer_config
from .model import ClipTextEncoder, Llava

OPSET = 14


class _VisionExport(nn.Module):
    def __init__(self, model: Llava, with_embeds: bool):
        super().__init__()
        self.model = model
        self.with_embeds = with_embeds

    def forward(self, pixel_values):
        hs, pooled = self.model.vision(pixel_values)
        f = hs[self.model.cfg.vision_feature_layer]
        if self.model.cfg.vision_feature_select_strategy == "default":
            f = f[:, 1:]
        feats = self.model.projector(f)
        if not self.with_embeds:
            return feats
        emb = self.model.vision.visual_projection(pooled)
        emb = emb / emb.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        return feats, emb


class _EmbedExport(nn.Module):
    def __init__(self, model: Llava):
        super().__init__()
        self.emb = model.lm.embed_tokens

    def forward(self, input_ids):
        return self.emb(input_ids)


class _DecoderExport(nn.Module):
    def __init__(self, model: Llava):
        super().__init__()
        self.lm = model.lm
        self.n = model.cfg.text.num_hidden_layers

    def forward(self, inputs_embeds, attention_mask, position_ids, *past):
        pkv = [(past[2 * i], past[2 * i + 1]) for i in range(self.n)]
        logits, presents = self.lm(inputs_embeds, attention_mask, position_ids, pkv)
        out = [logits]
        for k, v in presents:
            out += [k, v]
        return tuple(out)


class _TextExport(nn.Module):
    def __init__(self, enc: ClipTextEncoder):
        super().__init__()
        self.enc = enc

    def forward(self, input_ids, attention_mask):
        return self.enc(input_ids, attention_mask)


def export_onnx(model: Llava, out_dir, text_encoder: ClipTextEncoder | None = None, with_embeds=False):
    model = model.eval()
    onnx_dir = os.path.join(out_dir, "onnx")
    os.makedirs(onnx_dir, exist_ok=True)
    vc, tc = model.cfg.vision, model.cfg.text
    with torch.no_grad():
        px = torch.randn(1, 3, vc.image_size, vc.image_size)
        outs = ["image_features"] + (["image_embeds"] if with_embeds else [])
        dyn = {"pixel_values": {0: "batch_size"}, "image_features": {0: "batch_size"}}
        if with_embeds:
            dyn["image_embeds"] = {0: "batch_size"}
        torch.onnx.export(_VisionExport(model, with_embeds), (px,), os.path.join(onnx_dir, "vision_encoder.onnx"),
                          input_names=["pixel_values"], output_names=outs, dynamic_axes=dyn,
                          opset_version=OPSET, do_constant_folding=True)

        ids = torch.tensor([[1, 5, 6]], dtype=torch.long)
        torch.onnx.export(_EmbedExport(model), (ids,), os.path.join(onnx_dir, "embed_tokens.onnx"),
                          input_names=["input_ids"], output_names=["inputs_embeds"],
                          dynamic_axes={"input_ids": {0: "batch_size", 1: "sequence_length"},
                                        "inputs_embeds": {0: "batch_size", 1: "sequence_length"}},
                          opset_version=OPSET, do_constant_folding=True)

        b, s, past = 2, 3, 4
        hd = tc.hidden_size // tc.num_attention_heads
        args = [torch.randn(b, s, tc.hidden_size), torch.ones(b, past + s, dtype=torch.long),
                torch.arange(past, past + s).unsqueeze(0).repeat(b, 1)]
        in_names = ["inputs_embeds", "attention_mask", "position_ids"]
        out_names = ["logits"]
        dyn = {"inputs_embeds": {0: "batch_size", 1: "sequence_length"},
               "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
               "position_ids": {0: "batch_size", 1: "sequence_length"},
               "logits": {0: "batch_size", 1: "sequence_length"}}
        for i in range(tc.num_hidden_layers):
            for kv in ("key", "value"):
                args.append(torch.randn(b, tc.num_key_value_heads, past, hd))
                n_in, n_out = f"past_key_values.{i}.{kv}", f"present.{i}.{kv}"
                in_names.append(n_in)
                out_names.append(n_out)
                dyn[n_in] = {0: "batch_size", 2: "past_sequence_length"}
                dyn[n_out] = {0: "batch_size", 2: "total_sequence_length"}
        torch.onnx.export(_DecoderExport(model), tuple(args), os.path.join(onnx_dir, "decoder_model_merged.onnx"),
                          input_names=in_names, output_names=out_names, dynamic_axes=dyn,
                          opset_version=OPSET, do_constant_folding=True)

        if text_encoder is not None:
            text_encoder = text_encoder.eval()
            ids = torch.tensor([[1, 7, 8, 9], [1, 7, 0, 0]], dtype=torch.long)
            am = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.long)
            torch.onnx.export(_TextExport(text_encoder), (ids, am), os.path.join(onnx_dir, "text_encoder.onnx"),
                              input_names=["input_ids", "attention_mask"], output_names=["text_embeds"],
                              dynamic_axes={"input_ids": {0: "batch_size", 1: "sequence_length"},
                                            "attention_mask": {0: "batch_size", 1: "sequence_length"},
                                            "text_embeds": {0: "batch_size"}},
                              opset_version=OPSET, do_constant_folding=True)


def write_configs(model: Llava, tok: Tokenizer, out_dir, extra_config=None, name_or_path="tiny-llava"):
    vc, tc = model.cfg.vision, model.cfg.text
    os.makedirs(out_dir, exist_ok=True)
    hd = tc.hidden_size // tc.num_attention_heads
    config = {
        "_name_or_path": name_or_path,
        "architectures": ["LlavaForConditionalGeneration"],
        "model_type": "llava",
        "ignore_index": -100,
        "image_token_index": tok.image_id,
        "image_seq_length": model.num_image_tokens(),
        "projector_hidden_act": model.cfg.projector_hidden_act,
        "multimodal_projector_bias": True,
        "vision_feature_layer": model.cfg.vision_feature_layer,
        "vision_feature_select_strategy": model.cfg.vision_feature_select_strategy,
        "tie_word_embeddings": tc.tie_word_embeddings,
        "torch_dtype": "float32",
        "transformers_version": "4.46.0",
        "pad_token_id": tok.pad_id,
        "text_config": {
            "model_type": "llama",
            "architectures": ["LlamaForCausalLM"],
            "vocab_size": tc.vocab_size,
            "hidden_size": tc.hidden_size,
            "intermediate_size": tc.intermediate_size,
            "num_hidden_layers": tc.num_hidden_layers,
            "num_attention_heads": tc.num_attention_heads,
            "num_key_value_heads": tc.num_key_value_heads,
            "head_dim": hd,
            "hidden_act": "silu",
            "max_position_embeddings": tc.max_position_embeddings,
            "rms_norm_eps": tc.rms_norm_eps,
            "rope_theta": tc.rope_theta,
            "rope_scaling": None,
            "attention_bias": False,
            "mlp_bias": False,
            "tie_word_embeddings": tc.tie_word_embeddings,
            "bos_token_id": tok.bos_id,
            "eos_token_id": tok.eos_id,
            "pad_token_id": tok.pad_id,
            "torch_dtype": "float32",
        },
        "vision_config": {
            "model_type": "clip_vision_model",
            "image_size": vc.image_size,
            "patch_size": vc.patch_size,
            "num_channels": 3,
            "hidden_size": vc.hidden_size,
            "intermediate_size": vc.intermediate_size,
            "num_hidden_layers": vc.num_hidden_layers,
            "num_attention_heads": vc.num_attention_heads,
            "projection_dim": vc.projection_dim,
            "hidden_act": "quick_gelu",
            "layer_norm_eps": vc.layer_norm_eps,
        },
    }
    if extra_config:
        config.update(extra_config)
    gen = {"bos_token_id": tok.bos_id, "eos_token_id": tok.eos_id, "pad_token_id": tok.pad_id,
           "transformers_version": "4.46.0"}
    pre = {
        "crop_size": {"height": vc.image_size, "width": vc.image_size},
        "do_center_crop": True,
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "image_processor_type": "CLIPImageProcessor",
        "processor_class": "LlavaProcessor",
        "resample": 3,
        "rescale_factor": 0.00392156862745098,
        "size": {"shortest_edge": vc.image_size},
    }
    proc = {"image_token": "<image>", "num_additional_image_tokens": 1, "patch_size": vc.patch_size,
            "processor_class": "LlavaProcessor",
            "vision_feature_select_strategy": model.cfg.vision_feature_select_strategy}
    files = {
        "config.json": config,
        "generation_config.json": gen,
        "preprocessor_config.json": pre,
        "processor_config.json": proc,
        "tokenizer_config.json": tokenizer_config(tok, tc.max_position_embeddings),
        "special_tokens_map.json": special_tokens_map(),
    }
    for name, obj in files.items():
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=2)
            f.write("\n")
    tok.save(os.path.join(out_dir, "tokenizer.json"))
