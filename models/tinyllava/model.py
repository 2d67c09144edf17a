"""A tiny LLaVA in pure PyTorch (no HF transformers): CLIP-style ViT (or a SigLIP-style one),
2-layer MLP projector, Llama-style decoder (or Qwen2-style: q/k/v biases), and a small CLIP text
encoder for zero-shot labels.

Shapes and conventions follow the HF implementations so that an export of these modules has the
same semantics as an onnx-community LLaVA conversion:
  - ViT: patch conv (no bias), CLS token, learned positions, pre_layrnorm, pre-LN blocks with
    quick_gelu MLP, post_layernorm on the pooled CLS; hidden_states[0] is the embedding output.
  - SigLIP (`model_type: siglip_vision_model`, HF SiglipVisionTransformer): patch conv with bias,
    learned positions for the patches only (no CLS token, no pre-LN), pre-LN blocks with
    gelu_pytorch_tanh MLP; hidden_states[0] is the embedding output, hidden_states[-1] the last
    block's output *before* post_layernorm (what LLaVA reads with vision_feature_layer -1).
  - LLaVA features: hidden_states[vision_feature_layer]; "default" drops the first token (CLIP's CLS).
  - Decoder: RMSNorm, RoPE (rotate_half, HF Llama layout), SwiGLU, GQA, optional tied lm_head;
    `attention_bias` puts biases on q/k/v (Qwen2; o_proj stays without one).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class VisionConfig:
    # "clip_vision_model" or "siglip_vision_model"
    model_type: str = "clip_vision_model"
    image_size: int = 336
    patch_size: int = 14
    hidden_size: int = 32
    intermediate_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    projection_dim: int = 32  # CLIP embedding width (zero-shot head)
    layer_norm_eps: float = 1e-5
    # "patch": CLIP's single patch conv. "conv": a small convolutional stem (3×3 stride-2 convs,
    # then a conv to patch resolution) in its place, as in hybrid ViTs ("early convolutions help
    # transformers see better"); same token grid, better shape recognition for tiny models.
    stem: str = "patch"
    stem_channels: int = 32
    # "cls": CLIP's pooled CLS token; "mean": the mean of the last layer's patch tokens
    pool: str = "cls"


@dataclass
class TextConfig:
    vocab_size: int = 512
    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 4096
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    tie_word_embeddings: bool = False
    # q/k/v biases (Qwen2); Llama has none
    attention_bias: bool = False
    bos_token_id: int = 1
    eos_token_id: int = 2
    pad_token_id: int = 0


@dataclass
class ClipTextConfig:
    vocab_size: int = 512
    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    max_position_embeddings: int = 32
    projection_dim: int = 32
    layer_norm_eps: float = 1e-5
    pool: str = "last"  # "last": the last attended token (CLIP's EOS pooling); "mean": masked mean


@dataclass
class LlavaConfig:
    vision: VisionConfig = field(default_factory=VisionConfig)
    text: TextConfig = field(default_factory=TextConfig)
    image_token_index: int = 0
    vision_feature_layer: int = -2
    vision_feature_select_strategy: str = "default"
    projector_hidden_act: str = "gelu"


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


class ClipAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x, bias=None):
        b, n, d = x.shape
        q = self.q_proj(x).view(b, n, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, n, self.heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, n, self.heads, self.head_dim).transpose(1, 2)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        if bias is not None:
            att = att + bias
        att = att.softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(b, n, d)
        return self.out_proj(y)


class ClipLayer(nn.Module):
    def __init__(self, dim, inter, heads, eps, act="quick_gelu"):
        super().__init__()
        self.act_name = act  # "quick_gelu" (CLIP) or "gelu_tanh" (SigLIP's gelu_pytorch_tanh)
        self.layer_norm1 = nn.LayerNorm(dim, eps=eps)
        self.self_attn = ClipAttention(dim, heads)
        self.layer_norm2 = nn.LayerNorm(dim, eps=eps)
        self.fc1 = nn.Linear(dim, inter)
        self.fc2 = nn.Linear(inter, dim)

    def forward(self, x, bias=None):
        x = x + self.self_attn(self.layer_norm1(x), bias)
        h = self.fc1(self.layer_norm2(x))
        h = quick_gelu(h) if self.act_name == "quick_gelu" else F.gelu(h, approximate="tanh")
        x = x + self.fc2(h)
        return x


class VisionTower(nn.Module):
    """CLIPVisionModel + visual_projection."""

    def __init__(self, cfg: VisionConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.hidden_size
        if cfg.stem == "conv":
            c = cfg.stem_channels
            layers, cin, stride = [], 3, 1
            while stride * 2 < cfg.patch_size:
                cout = min(c * stride, 4 * c)
                layers += [nn.Conv2d(cin, cout, 3, 2, 1), nn.GELU()]
                cin, stride = cout, stride * 2
            k = cfg.patch_size // stride
            layers.append(nn.Conv2d(cin, d, k, k))
            self.patch_embedding = nn.Sequential(*layers)
        else:
            self.patch_embedding = nn.Conv2d(3, d, cfg.patch_size, cfg.patch_size, bias=False)
        self.num_patches = (cfg.image_size // cfg.patch_size) ** 2
        self.class_embedding = nn.Parameter(torch.randn(d) * 0.02)
        self.position_embedding = nn.Parameter(torch.randn(self.num_patches + 1, d) * 0.02)
        self.pre_layrnorm = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.layers = nn.ModuleList(
            [ClipLayer(d, cfg.intermediate_size, cfg.num_attention_heads, cfg.layer_norm_eps)
             for _ in range(cfg.num_hidden_layers)])
        self.post_layernorm = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.visual_projection = nn.Linear(d, cfg.projection_dim, bias=False)

    def embed(self, pixel_values):
        """hidden_states[0]: patch embedding + CLS + positions, through pre_layrnorm."""
        x = self.patch_embedding(pixel_values).flatten(2).transpose(1, 2)  # b, n, d
        cls = self.class_embedding.view(1, 1, -1).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.position_embedding.unsqueeze(0)
        return self.pre_layrnorm(x)

    def hidden_state(self, pixel_values, layer):
        """forward()'s hidden_states[layer] (negative: from the end) without running the layers after it."""
        x = self.embed(pixel_values)
        for block in self.layers[:layer % (len(self.layers) + 1)]:
            x = block(x)
        return x

    def forward(self, pixel_values):
        """Returns (hidden_states list, pooled CLS after post_layernorm)."""
        x = self.embed(pixel_values)
        hs = [x]
        for layer in self.layers:
            x = layer(x)
            hs.append(x)
        pooled = self.post_layernorm(x[:, 1:].mean(dim=1) if self.cfg.pool == "mean" else x[:, 0])
        return hs, pooled

    def image_embeds(self, pixel_values):
        _, pooled = self.forward(pixel_values)
        return F.normalize(self.visual_projection(pooled), dim=-1)


class SiglipTower(nn.Module):
    """SiglipVisionModel without its attention-pooling head (`vision_use_head: false`, as in
    llava-interleave): no CLS token, positions for the patches only, no pre-LN."""

    def __init__(self, cfg: VisionConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.hidden_size
        self.patch_embedding = nn.Conv2d(3, d, cfg.patch_size, cfg.patch_size)  # bias, "valid"
        self.num_patches = (cfg.image_size // cfg.patch_size) ** 2
        self.position_embedding = nn.Parameter(torch.randn(self.num_patches, d) * 0.02)
        self.layers = nn.ModuleList(
            [ClipLayer(d, cfg.intermediate_size, cfg.num_attention_heads, cfg.layer_norm_eps, act="gelu_tanh")
             for _ in range(cfg.num_hidden_layers)])
        self.post_layernorm = nn.LayerNorm(d, eps=cfg.layer_norm_eps)

    def embed(self, pixel_values):
        x = self.patch_embedding(pixel_values).flatten(2).transpose(1, 2)  # b, n, d
        return x + self.position_embedding.unsqueeze(0)

    def hidden_state(self, pixel_values, layer):
        x = self.embed(pixel_values)
        for block in self.layers[:layer % (len(self.layers) + 1)]:
            x = block(x)
        return x

    def forward(self, pixel_values):
        """Returns (hidden_states list, post_layernorm'd last hidden state)."""
        x = self.embed(pixel_values)
        hs = [x]
        for layer in self.layers:
            x = layer(x)
            hs.append(x)
        return hs, self.post_layernorm(x)


class Projector(nn.Module):
    def __init__(self, vdim, tdim):
        super().__init__()
        self.linear_1 = nn.Linear(vdim, tdim)
        self.linear_2 = nn.Linear(tdim, tdim)

    def forward(self, x):
        return self.linear_2(F.gelu(self.linear_1(x)))


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def repeat_kv(x, rep):
    """[b, kv, t, hd] -> [b, kv*rep, t, hd] (each kv head repeated rep times, HF order)."""
    if rep == 1:
        return x
    b, kv, t, hd = x.shape
    return x.unsqueeze(2).expand(b, kv, rep, t, hd).reshape(b, kv * rep, t, hd)


class LlamaAttention(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.h = cfg.num_attention_heads
        self.kv = cfg.num_key_value_heads
        self.hd = cfg.hidden_size // cfg.num_attention_heads
        d = cfg.hidden_size
        self.q_proj = nn.Linear(d, self.h * self.hd, bias=cfg.attention_bias)
        self.k_proj = nn.Linear(d, self.kv * self.hd, bias=cfg.attention_bias)
        self.v_proj = nn.Linear(d, self.kv * self.hd, bias=cfg.attention_bias)
        self.o_proj = nn.Linear(self.h * self.hd, d, bias=False)

    def forward(self, x, cos, sin, bias, past_k=None, past_v=None):
        b, s, _ = x.shape
        q = self.q_proj(x).view(b, s, self.h, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(b, s, self.kv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(b, s, self.kv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if past_k is not None:
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
        present = (k, v)
        rep = self.h // self.kv
        kk = repeat_kv(k, rep)
        vv = repeat_kv(v, rep)
        att = (q @ kk.transpose(-1, -2)) / math.sqrt(self.hd) + bias
        att = att.softmax(-1)
        y = (att @ vv).transpose(1, 2).reshape(b, s, self.h * self.hd)
        return self.o_proj(y), present


class LlamaLayer(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = LlamaAttention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x, cos, sin, bias, past_k=None, past_v=None):
        a, present = self.self_attn(self.input_layernorm(x), cos, sin, bias, past_k, past_v)
        x = x + a
        h = self.post_attention_layernorm(x)
        x = x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))
        return x, present


class LlamaLM(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList([LlamaLayer(cfg) for _ in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        hd = cfg.hidden_size // cfg.num_attention_heads
        inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        self.register_buffer("inv_freq", inv, persistent=False)

    def rope(self, position_ids):
        freqs = position_ids.to(torch.float32).unsqueeze(-1) * self.inv_freq  # b, s, hd/2
        emb = torch.cat([freqs, freqs], dim=-1).unsqueeze(1)  # b, 1, s, hd
        return emb.cos(), emb.sin()

    @staticmethod
    def make_bias(attention_mask, q_len):
        """Additive mask [b,1,s,total]: causal over absolute positions plus key padding."""
        total = attention_mask.shape[1]
        past = total - q_len
        qpos = torch.arange(q_len, device=attention_mask.device).unsqueeze(1) + past
        kpos = torch.arange(total, device=attention_mask.device).unsqueeze(0)
        allowed = (kpos <= qpos).unsqueeze(0) & (attention_mask.unsqueeze(1) > 0)  # b, s, total
        bias = (~allowed).to(torch.float32) * -1e9
        return bias.unsqueeze(1)

    def forward(self, inputs_embeds, attention_mask, position_ids, past=None):
        """past: list of (k, v) or None. Returns logits, presents."""
        cos, sin = self.rope(position_ids)
        bias = self.make_bias(attention_mask, inputs_embeds.shape[1])
        x = inputs_embeds
        presents = []
        for i, layer in enumerate(self.layers):
            pk, pv = past[i] if past is not None else (None, None)
            x, pr = layer(x, cos, sin, bias, pk, pv)
            presents.append(pr)
        return self.lm_head(self.norm(x)), presents


class Llava(nn.Module):
    def __init__(self, cfg: LlavaConfig):
        super().__init__()
        self.cfg = cfg
        self.vision = SiglipTower(cfg.vision) if cfg.vision.model_type == "siglip_vision_model" \
            else VisionTower(cfg.vision)
        self.projector = Projector(cfg.vision.hidden_size, cfg.text.hidden_size)
        self.lm = LlamaLM(cfg.text)

    def image_features(self, pixel_values):
        hs, _ = self.vision(pixel_values)
        f = hs[self.cfg.vision_feature_layer]
        if self.cfg.vision_feature_select_strategy == "default":
            f = f[:, 1:]
        return self.projector(f)

    def num_image_tokens(self):
        n = self.vision.num_patches
        if self.cfg.vision.model_type == "siglip_vision_model":  # no CLS token
            return n - 1 if self.cfg.vision_feature_select_strategy == "default" else n
        return n if self.cfg.vision_feature_select_strategy == "default" else n + 1

    def merge(self, input_ids, feats):
        """Replace image-token embeddings with image features (row-major, image by image)."""
        emb = self.lm.embed_tokens(input_ids)
        mask = input_ids == self.cfg.image_token_index
        if feats is not None and mask.any():
            emb = emb.clone()
            emb[mask] = feats.reshape(-1, feats.shape[-1]).to(emb.dtype)
        return emb

    def forward(self, input_ids, attention_mask, pixel_values=None, feats=None):
        if feats is None and pixel_values is not None:
            feats = self.image_features(pixel_values)
        emb = self.merge(input_ids, feats)
        pos = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        logits, _ = self.lm(emb, attention_mask, pos)
        return logits


class ClipTextEncoder(nn.Module):
    """CLIP text transformer: causal pre-LN blocks, final LN, pooled at the EOS position
    (last attended token), text_projection, L2-normalised."""

    def __init__(self, cfg: ClipTextConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.hidden_size
        self.token_embedding = nn.Embedding(cfg.vocab_size, d)
        self.position_embedding = nn.Parameter(torch.randn(cfg.max_position_embeddings, d) * 0.01)
        self.layers = nn.ModuleList(
            [ClipLayer(d, cfg.intermediate_size, cfg.num_attention_heads, cfg.layer_norm_eps)
             for _ in range(cfg.num_hidden_layers)])
        self.final_layer_norm = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.text_projection = nn.Linear(d, cfg.projection_dim, bias=False)

    def forward(self, input_ids, attention_mask):
        b, s = input_ids.shape
        x = self.token_embedding(input_ids) + self.position_embedding[:s].unsqueeze(0)
        idx = torch.arange(s, device=input_ids.device)
        causal = idx.unsqueeze(0) <= idx.unsqueeze(1)  # s, s
        allowed = causal.unsqueeze(0) & (attention_mask.unsqueeze(1) > 0)
        bias = ((~allowed).to(torch.float32) * -1e9).unsqueeze(1)
        for layer in self.layers:
            x = layer(x, bias)
        x = self.final_layer_norm(x)
        if self.cfg.pool == "mean":
            m = attention_mask.unsqueeze(-1).to(x.dtype)
            pooled = (x * m).sum(1) / m.sum(1).clamp(min=1.0)
        else:
            last = (attention_mask.sum(-1) - 1).clamp(min=0)  # right padding
            pooled = torch.gather(x, 1, last.view(b, 1, 1).expand(b, 1, x.shape[-1])).squeeze(1)
        return F.normalize(self.text_projection(pooled), dim=-1)


def config_dicts(cfg: LlavaConfig):
    return asdict(cfg.vision), asdict(cfg.text)
