"""A Qwen2-style byte-level BPE, trained here, written as a HF `tokenizer.json`, plus a Python
encoder/decoder that does what the `tokenizers` runtimes (HF Rust, @huggingface/tokenizers,
transformers.js) do with that file:

  split on added tokens → NFC → Split(Qwen2's regex, Isolated) → ByteLevel (bytes → GPT-2's
  printable characters, no prefix space) → BPE by merge rank (every byte is in the vocabulary,
  so there is no unknown token and no byte fallback).
  post-processor: ByteLevel — it adds nothing: no BOS, as Qwen's tokenizer.
  decoder: ByteLevel (characters → bytes → UTF-8).

Ids as Qwen's: the 256 byte characters first (in bytes_to_unicode order), then the merges, then
the added tokens `<|endoftext|>`, `<|im_start|>`, `<|im_end|>` and llava-interleave's `<image>`.
"""
from __future__ import annotations

import collections
import json
import unicodedata

import regex
from .bpe import learn_merges

# Qwen2's pre-tokenizer pattern (tokenizer.json of Qwen/Qwen1.5-*, Qwen2-*)
PRETOKENIZE_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_PAT = regex.compile(PRETOKENIZE_REGEX)

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
IMAGE = "<image>"
ADDED = [ENDOFTEXT, IM_START, IM_END, IMAGE]


def bytes_to_unicode():
    """GPT-2's reversible byte → printable character map, in its order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_ENCODER = bytes_to_unicode()
BYTE_DECODER = {c: b for b, c in BYTE_ENCODER.items()}


def _split_added(text, added):
    """[(segment, is_added)] splitting on the added tokens (longest first)."""
    pat = "(" + "|".join(regex.escape(s) for s in sorted(added, key=len, reverse=True)) + ")"
    return [(part, part in added) for part in regex.split(pat, text) if part != ""]


def _pieces(text):
    """NFC, then Qwen2's regex; each piece as byte-level characters."""
    text = unicodedata.normalize("NFC", text)
    return ["".join(BYTE_ENCODER[b] for b in m.encode("utf-8")) for m in _PAT.findall(text)]


def train_bpe(texts, vocab_size, min_freq=2):
    """Byte-level BPE training on pre-tokenized pieces; vocab_size counts bytes and merges (the added
    tokens come on top). Returns (vocab dict, merges list)."""
    counts = collections.Counter()
    for t in texts:
        for seg, added in _split_added(t, ADDED):
            if not added:
                counts.update(_pieces(seg))
    vocab = {}
    for b, c in BYTE_ENCODER.items():  # bytes_to_unicode order, as GPT-2 / Qwen
        vocab[c] = len(vocab)
    merges = learn_merges(counts, vocab, vocab_size, min_freq)
    return vocab, merges


class QwenTokenizer:
    def __init__(self, vocab, merges):
        self.vocab = dict(vocab)
        self.merges = [tuple(m) for m in merges]
        self.ranks = {m: i for i, m in enumerate(self.merges)}
        for tok in ADDED:
            if tok not in self.vocab:
                self.vocab[tok] = len(self.vocab)
        self.inv = {i: t for t, i in self.vocab.items()}
        self.endoftext_id = self.vocab[ENDOFTEXT]
        self.im_start_id = self.vocab[IM_START]
        self.im_end_id = self.vocab[IM_END]
        self.image_id = self.vocab[IMAGE]
        self.eos_id = self.im_end_id
        self.pad_id = self.endoftext_id
        self._cache = {}

    def __len__(self):
        return len(self.vocab)

    def byte_id(self, b):
        return self.vocab[BYTE_ENCODER[b]]

    def _bpe(self, piece):
        if piece in self._cache:
            return self._cache[piece]
        syms = list(piece)
        while len(syms) > 1:
            best, bi = None, -1
            for i in range(len(syms) - 1):
                r = self.ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best):
                    best, bi = r, i
            if best is None:
                break
            syms = syms[:bi] + [syms[bi] + syms[bi + 1]] + syms[bi + 2:]
        ids = [self.vocab[s] for s in syms]
        self._cache[piece] = ids
        return ids

    def encode(self, text):
        """As tokenizers do with add_special_tokens on or off alike (the post-processor adds nothing)."""
        ids = []
        for seg, added in _split_added(text, ADDED):
            if added:
                ids.append(self.vocab[seg])
            else:
                for piece in _pieces(seg):
                    ids.extend(self._bpe(piece))
        return ids

    def decode(self, ids, skip_special_tokens=True):
        out = bytearray()
        for i in ids:
            t = self.inv[int(i)]
            if t in ADDED:
                if not skip_special_tokens:
                    out.extend(t.encode("utf-8"))
                continue
            out.extend(BYTE_DECODER[ch] for ch in t)
        return out.decode("utf-8", errors="replace")

    # ---- serialisation: the layout of Qwen/Qwen1.5-0.5B-Chat's tokenizer.json ---------------
    def to_json(self):
        added = [{"id": self.vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                  "normalized": False, "special": True} for t in ADDED]
        byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": {"type": "NFC"},
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": PRETOKENIZE_REGEX}, "behavior": "Isolated", "invert": False},
                byte_level,
            ]},
            "post_processor": dict(byte_level),
            "decoder": dict(byte_level),
            "model": {
                "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                "vocab": {t: i for t, i in self.vocab.items() if t not in ADDED},
                "merges": [f"{a} {b}" for a, b in self.merges],
            },
        }

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_json(), f, ensure_ascii=False, indent=1)


# llava-hf's chat template for its Qwen-based LLaVAs (chat_template.json beside the tokenizer; the
# same as the llava-onevision conversion's, without its video placeholder): images first, then text,
# `<|im_start|>{role}\n … <|im_end|>\n`, generation prompt `<|im_start|>assistant\n`. No BOS anywhere.
CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'}}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\\n' }}{% endfor %}"
    "{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] }}{% endfor %}"
    "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] }}{% endgeneration %}{% endfor %}{% endif %}"
    "{{'<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def render_chat(messages, add_generation_prompt):
    """Python twin of CHAT_TEMPLATE (checked against @huggingface/jinja by the tests' prompts)."""
    out = []
    for m in messages:
        parts = [{"type": "text", "text": m["content"]}] if isinstance(m["content"], str) else m["content"]
        out.append(IM_START + m["role"] + "\n")
        out.append("".join("<image>\n" for p in parts if p["type"] == "image"))
        out.append("".join(p["text"] for p in parts if p["type"] == "text"))
        out.append(IM_END + "\n")
    if add_generation_prompt:
        out.append(IM_START + "assistant\n")
    return "".join(out)


def _added_decoder(tok):
    return {str(tok.vocab[t]): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                "single_word": False, "special": True} for t in ADDED}


def tokenizer_config(tok: QwenTokenizer, model_max_length):
    """Qwen2Tokenizer's tokenizer_config.json: no BOS token, eos <|im_end|>, and no chat_template
    (llava-hf keeps it in chat_template.json)."""
    return {
        "add_prefix_space": False,
        "added_tokens_decoder": _added_decoder(tok),
        "additional_special_tokens": [IM_START, IM_END],
        "bos_token": None,
        "clean_up_tokenization_spaces": False,
        "eos_token": IM_END,
        "errors": "replace",
        "model_max_length": model_max_length,
        "pad_token": ENDOFTEXT,
        "padding_side": "left",
        "processor_class": "LlavaProcessor",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }


def special_tokens_map():
    def tok(t):
        return {"content": t, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False}
    return {
        "additional_special_tokens": [IM_START, IM_END],
        "eos_token": tok(IM_END),
        "pad_token": tok(ENDOFTEXT),
    }
