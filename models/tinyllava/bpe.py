"""A Llama/SentencePiece-style BPE with byte fallback, trained here, written as a HF
`tokenizer.json`, plus a Python encoder/decoder that reproduces what the `tokenizers` runtimes
(HF Rust, @huggingface/tokenizers, transformers.js) do with that file:

  split on added tokens → for each remaining piece: normalizer Prepend("▁") + Replace(" ", "▁")
  → BPE over the whole piece by merge rank → unknown symbols fall back to <0xXX> byte tokens.
  TemplateProcessing adds <s> in front when add_special_tokens is on.
  decoder: Replace("▁", " ") → ByteFallback → Fuse → Strip(1 leading space).

Ids: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then characters and merges, then <image>,
<pad> (the llava-hf arrangement: image and pad tokens at the end of the vocabulary).
"""
from __future__ import annotations

import collections
import json
import re

SPACE = "\u2581"  # ▁
BASE_SPECIALS = ["<unk>", "<s>", "</s>"]
EXTRA_SPECIALS = ["<image>", "<pad>"]


def _words(text):
    """Training 'words': the normalised text split before each ▁ (merges never cross one)."""
    t = SPACE + text.replace(" ", SPACE)
    return [w for w in re.split(f"(?={SPACE})", t) if w]


def train_bpe(texts, vocab_size, min_freq=2):
    """Classic BPE training on ▁-prefixed words. Returns (vocab dict, merges list)."""
    counts = collections.Counter()
    for t in texts:
        for segment in _split_specials(t, BASE_SPECIALS + EXTRA_SPECIALS):
            if segment[1]:
                continue
            counts.update(_words(segment[0]))
    vocab = {tok: i for i, tok in enumerate(BASE_SPECIALS)}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    chars = collections.Counter()
    for w, c in counts.items():
        for ch in w:
            chars[ch] += c
    for ch, _ in sorted(chars.items(), key=lambda kv: (-kv[1], kv[0])):
        if ch not in vocab:
            vocab[ch] = len(vocab)
    budget = vocab_size - len(EXTRA_SPECIALS)
    merges = learn_merges(counts, vocab, budget, min_freq)
    for tok in EXTRA_SPECIALS:
        vocab[tok] = len(vocab)
    return vocab, merges


def learn_merges(counts, vocab, budget, min_freq):
    """Greedy BPE: merge the most frequent pair (ties: shorter, then smaller) while `vocab` has
    fewer than `budget` entries and the pair occurs at least `min_freq` times. `counts` maps a
    word (a sequence of symbols) to its frequency; new symbols are added to `vocab` in place."""
    words = {tuple(w): c for w, c in counts.items()}
    merges = []
    while len(vocab) < budget:
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        (a, b), f = max(pairs.items(), key=lambda kv: (kv[1], -len(kv[0][0] + kv[0][1]), kv[0]))
        if f < min_freq:
            break
        merges.append((a, b))
        new = a + b
        if new not in vocab:
            vocab[new] = len(vocab)
        nw = {}
        for w, c in words.items():
            out = []
            i = 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            nw[tuple(out)] = nw.get(tuple(out), 0) + c
        words = nw
    return merges


def _split_specials(text, specials):
    """[(segment, is_special)] splitting on the special tokens (longest first)."""
    if not specials:
        return [(text, False)]
    pat = "(" + "|".join(re.escape(s) for s in sorted(specials, key=len, reverse=True)) + ")"
    out = []
    for part in re.split(pat, text):
        if part == "":
            continue
        out.append((part, part in specials))
    return out


class Tokenizer:
    def __init__(self, vocab, merges):
        self.vocab = dict(vocab)
        self.inv = {i: t for t, i in self.vocab.items()}
        self.merges = [tuple(m) for m in merges]
        self.ranks = {m: i for i, m in enumerate(self.merges)}
        self.specials = BASE_SPECIALS + EXTRA_SPECIALS
        self.bos_id = self.vocab["<s>"]
        self.eos_id = self.vocab["</s>"]
        self.unk_id = self.vocab["<unk>"]
        self.pad_id = self.vocab["<pad>"]
        self.image_id = self.vocab["<image>"]
        self._cache = {}

    def __len__(self):
        return len(self.vocab)

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
        ids = []
        for s in syms:
            if s in self.vocab:
                ids.append(self.vocab[s])
            else:
                ids.extend(self.vocab[f"<0x{b:02X}>"] for b in s.encode("utf-8"))
        if len(self._cache) < 100000:
            self._cache[piece] = ids
        return ids

    def encode(self, text, add_special_tokens=True, continuation=False):
        """continuation=True: `text` continues a piece of text that did not end at a special
        token, so its first segment gets no ▁ prepended (encode(a + b) == encode(a) +
        encode(b, False, True) when b starts with a space or a special token)."""
        ids = [self.bos_id] if add_special_tokens else []
        first = True
        for seg, special in _split_specials(text, self.specials):
            if special:
                ids.append(self.vocab[seg])
            elif continuation and first:
                for w in re.split(f"(?={SPACE})", seg.replace(" ", SPACE)):
                    if w:
                        ids.extend(self._bpe(w))
            else:
                # merges never cross a ▁ (training words start at one), so BPE over the whole
                # piece equals BPE word by word: cache per word
                for w in re.split(f"(?={SPACE})", SPACE + seg.replace(" ", SPACE)):
                    if w:
                        ids.extend(self._bpe(w))
            first = False
        return ids

    def decode(self, ids, skip_special_tokens=True):
        toks = []
        for i in ids:
            t = self.inv[int(i)]
            if skip_special_tokens and t in self.specials:
                continue
            toks.append(t)
        out = bytearray()
        for t in toks:
            m = re.fullmatch(r"<0x([0-9A-F]{2})>", t)
            if m:
                out.append(int(m.group(1), 16))
            else:
                out.extend(t.replace(SPACE, " ").encode("utf-8"))
        s = out.decode("utf-8", errors="replace")
        return s[1:] if s.startswith(" ") else s

    # ---- serialisation -------------------------------------------------------------------
    def to_json(self):
        added = []
        for tok in self.specials:
            added.append({"id": self.vocab[tok], "content": tok, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True})
        added.sort(key=lambda a: a["id"])
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "Prepend", "prepend": SPACE},
                {"type": "Replace", "pattern": {"String": " "}, "content": SPACE},
            ]},
            "pre_tokenizer": None,
            "post_processor": {
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [self.bos_id], "tokens": ["<s>"]}},
            },
            "decoder": {"type": "Sequence", "decoders": [
                {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
                {"type": "ByteFallback"},
                {"type": "Fuse"},
                {"type": "Strip", "content": " ", "start": 1, "stop": 0},
            ]},
            "model": {
                "type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                "vocab": self.vocab,
                "merges": [[a, b] for a, b in self.merges],
            },
        }

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_json(), f, ensure_ascii=False, indent=1)

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in j["model"]["merges"]]
        return cls(j["model"]["vocab"], merges)


# llava-1.5 style: "USER: <image>\n{text} ASSISTANT: {answer}</s>USER: ... ASSISTANT:"
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['content'] is string -%}"
    "{%- set parts = [{'type': 'text', 'text': message['content']}] -%}"
    "{%- else -%}{%- set parts = message['content'] -%}{%- endif -%}"
    "{%- if message['role'] == 'system' -%}"
    "{%- for p in parts | selectattr('type', 'equalto', 'text') -%}{{ p['text'] + ' ' }}{%- endfor -%}"
    "{%- elif message['role'] == 'user' -%}"
    "{{ 'USER: ' }}"
    "{%- for p in parts | selectattr('type', 'equalto', 'image') -%}{{ '<image>\\n' }}{%- endfor -%}"
    "{%- for p in parts | selectattr('type', 'equalto', 'text') -%}{{ p['text'] + ' ' }}{%- endfor -%}"
    "{%- else -%}"
    "{{ 'ASSISTANT: ' }}"
    "{%- for p in parts | selectattr('type', 'equalto', 'text') -%}{{ p['text'] }}{%- endfor -%}"
    "{{ '</s>' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'ASSISTANT:' }}{%- endif -%}"
)


def render_chat(messages, add_generation_prompt):
    """Python twin of CHAT_TEMPLATE (kept in sync; checked against @huggingface/jinja)."""
    out = []
    for m in messages:
        parts = [{"type": "text", "text": m["content"]}] if isinstance(m["content"], str) else m["content"]
        texts = [p["text"] for p in parts if p["type"] == "text"]
        if m["role"] == "system":
            out.append("".join(t + " " for t in texts))
        elif m["role"] == "user":
            out.append("USER: " + "".join("<image>\n" for p in parts if p["type"] == "image")
                       + "".join(t + " " for t in texts))
        else:
            out.append("ASSISTANT: " + "".join(texts) + "</s>")
    if add_generation_prompt:
        out.append("ASSISTANT:")
    return "".join(out)


def tokenizer_config(tok: Tokenizer, model_max_length):
    added = {}
    for t in tok.specials:
        added[str(tok.vocab[t])] = {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                    "single_word": False, "special": True}
    return {
        "add_bos_token": True,
        "add_eos_token": False,
        "added_tokens_decoder": added,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "image_token": "<image>",
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "legacy": True,
        "model_max_length": model_max_length,
        "padding_side": "left",
        "processor_class": "LlavaProcessor",
        "sp_model_kwargs": {},
        "spaces_between_special_tokens": False,
        "tokenizer_class": "LlamaTokenizer",
        "use_default_system_prompt": False,
    }


def special_tokens_map():
    return {
        "bos_token": {"content": "<s>", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False},
        "eos_token": {"content": "</s>", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False},
        "unk_token": {"content": "<unk>", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False},
        "pad_token": {"content": "<pad>", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False},
        "image_token": "<image>",
    }
