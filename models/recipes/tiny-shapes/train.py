"""Train the embedded tiny-shapes LLaVA, end to end, in one command:

    /usr/bin/python3 models/recipes/tiny-shapes/train.py --out models/tiny-shapes

(the committed models/tiny-shapes is run K's output — today `--canon2 1 --vocab 512 --bucket2 1` —:
58 min on 2 CPU cores with native bf16, deterministic; models/README.md. The defaults since issue #17
add the phrasing grammar's trained split, 6-turn dialogues and out-of-domain turns; that full run is
still to be done, `--smoke` checks the recipe end to end in a few minutes)

Stages (the LLaVA line's recipe, scaled down):
  data     seeded scenes (scene-spec.json), rendered anti-aliased with augmentation
  stage 0  CLIP: ViT image encoder + text encoder, contrastive (InfoNCE) on image–caption pairs
           plus a multi-positive InfoNCE over the 48 "a {colour} {kind}" labels (zero-shot)
  LM       a small Llama-style causal LM pretrained on the task text (dialogues without images)
  stage 1  feature alignment: only the projector trains (vision encoder and LM frozen),
           on "Describe the image." → caption, plus dense word grounding (--ground): each image
           token on a shape points at the LM embeddings of its colour and kind words
  stage 2  visual instruction tuning: projector + LM (+ the vision encoder, see --tune-vision) on
           multi-turn Q&A and two-turn follow-ups, loss on assistant tokens only (+ grounding),
           the first --easy2 steps on scenes with few shapes; then a frozen phase
           (--steps2-frozen): projector + LM only, on the vision encoder's cached features of the
           training pool and --pool2 fresh scenes
  head     the zero-shot head re-aligned on the same cached features (--steps-zs)
  (training forward passes under bf16 autocast where the CPU has native bf16: --bf16 auto)
  eval     a quick Python-side accuracy on a held-out seed
  export   the standard ONNX layout + onnx/text_encoder.onnx and image_embeds for zero-shot
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing as mp
import os
import random
import sys
import time
from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import phrasings as P  # noqa: E402
import scenes as S  # noqa: E402
from tinyllava.bpe import Tokenizer, render_chat, train_bpe  # noqa: E402
from tinyllava.corpus import task_corpus  # noqa: E402
from tinyllava.model import (ClipTextConfig, ClipTextEncoder, Llava, LlavaConfig, TextConfig,  # noqa: E402
                             VisionConfig)

MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
TRAIN_SEED = 20261127
EVAL_SEED = 777
ZS_MAX_LEN = 16
T0 = time.time()


def log(*a):
    print(f"[{time.time() - T0:7.1f}s]", *a, flush=True)


BF16 = False  # set by use_bf16(): training forward passes run under bf16 autocast


def use_bf16(flag):
    """--bf16 auto|1|0: bf16 autocast for the training forward passes (weights, optimiser state,
    losses, feature caches, eval and export stay float32). "auto" turns it on where the CPU multiplies
    bf16 natively (avx512_bf16 or amx_bf16 in /proc/cpuinfo): there matmuls run ~4.7x faster than
    float32 and a stage-2 step ~1.8-2x (models/README.md); elsewhere bf16 would be emulated, slower."""
    global BF16
    if flag == "auto":
        try:
            with open("/proc/cpuinfo") as f:
                flags = f.read()
        except OSError:
            flags = ""
        BF16 = DEV.type == "cpu" and ("avx512_bf16" in flags or "amx_bf16" in flags)
    else:
        BF16 = flag in ("1", "true", "on")
    return BF16


def amp(enabled=True):
    on = enabled and BF16 and DEV.type == "cpu"
    return torch.autocast("cpu", dtype=torch.bfloat16) if on else contextlib.nullcontext()


# ---------------------------------------------------------------------------------------------
# data

def _render_chunk(args):
    seed, start, end, aug = args
    spec = S.load_spec()
    scs, imgs = [], []
    for i in range(start, end):
        sc = S.generate_scene(spec, seed, i)
        rng = random.Random(f"aug:{seed}:{i}") if aug else None
        scs.append(sc)
        imgs.append(S.render(spec, sc, rng))
    return scs, np.stack(imgs)


def make_pool(seed, n, aug, workers=2):
    chunks = [(seed, i, min(n, i + 500), aug) for i in range(0, n, 500)]
    if workers > 1:
        with mp.get_context("fork").Pool(workers) as pool:
            res = pool.map(_render_chunk, chunks)
    else:
        res = [_render_chunk(c) for c in chunks]
    scs = [s for r in res for s in r[0]]
    imgs = np.concatenate([r[1] for r in res])
    return scs, torch.from_numpy(imgs)  # uint8 [n, H, W, 3]


# Dense auxiliary targets for stage 0 on every patch of the LLaVA feature layer. Local groups
# describe the shape whose box holds the patch centre (0 = background); global groups are facts
# about the whole scene, the same for every patch (what each kind's colour is, which shape is
# leftmost, the shapes left to right, how many of each kind, which colour-kind pairs are present).
# They make the frozen features object-centric and carry the scene's facts in every token, so that
# the tiny LM of stages 1–2 learns to read them instead of having to learn visual search.
SIDES = ("left", "right", "top", "bottom")
LOCAL_GROUPS = [
    ("colour", 9), ("kind", 7),            # 1 + index, 0 = background
    ("xrank", 6), ("yrank", 6),            # 1 + rank of the shape's centre, left→right / top→bottom
    ("left", 2), ("right", 2), ("top", 2), ("bottom", 2),  # the shape is the clear extreme on that side
    ("anchor", 2),                         # the patch holds the shape's centre
]
GLOBAL_GROUPS = (
    [("shapes", 6)]
    + [(f"count:{k}", 6) for k in range(6)]           # how many of each kind
    + [(f"colour-of:{k}", 10) for k in range(6)]      # 0 none, 1 + colour, 9 several
    + [(f"kind-of:{c}", 8) for c in range(8)]         # 0 none, 1 + kind, 7 several
    + [(f"{side}:{a}", n) for side in SIDES for a, n in (("colour", 9), ("kind", 7))]  # 0 unclear
    + [(f"rank{r}:{a}", n) for r in range(5) for a, n in (("colour", 9), ("kind", 7))]  # 0 none
)
N_PAIRS = 48  # present colour-kind pairs, multi-label
DENSE_WIDTH = sum(k for _, k in LOCAL_GROUPS) + sum(k for _, k in GLOBAL_GROUPS) + N_PAIRS


def patch_targets(spec, scs, patch):
    """(local [n, grid*grid, len(LOCAL_GROUPS)] int64, global [n, len(GLOBAL_GROUPS)] int64,
    pairs [n, 48] float): the class targets of LOCAL_GROUPS / GLOBAL_GROUPS and pair presence."""
    colours = list(spec["colours"].keys())
    kinds = spec["kinds"]
    g = spec["imageSize"] // patch
    centres = (np.arange(g) * patch + patch / 2.0)
    loc = np.zeros((len(scs), g, g, len(LOCAL_GROUPS)), dtype=np.int64)
    glo = np.zeros((len(scs), len(GLOBAL_GROUPS)), dtype=np.int64)
    pairs = np.zeros((len(scs), N_PAIRS), dtype=np.float32)
    for n, sc in enumerate(scs):
        shapes = sc["shapes"]
        by_x = sorted(shapes, key=lambda s: s["cx"])
        xr = {id(s): r for r, s in enumerate(by_x)}
        yr = {id(s): r for r, s in enumerate(sorted(shapes, key=lambda s: s["cy"]))}
        ext = {side: S.extreme(spec, sc, side) for side in SIDES}
        ci = lambda s: colours.index(s["colour"])  # noqa: E731
        ki = lambda s: kinds.index(s["kind"])  # noqa: E731
        for s in shapes:
            h = s["size"] / 2
            ys = (centres >= s["cy"] - h) & (centres <= s["cy"] + h)
            xs = (centres >= s["cx"] - h) & (centres <= s["cx"] + h)
            m = ys[:, None] & xs[None, :]
            cell = loc[n][m]
            cell[:, 0] = ci(s) + 1
            cell[:, 1] = ki(s) + 1
            cell[:, 2] = xr[id(s)] + 1
            cell[:, 3] = yr[id(s)] + 1
            for j, side in enumerate(SIDES):
                cell[:, 4 + j] = int(ext[side] is s)
            loc[n][m] = cell
            loc[n, min(g - 1, int(s["cy"] // patch)), min(g - 1, int(s["cx"] // patch)), 8] = 1
            pairs[n, ci(s) * len(kinds) + ki(s)] = 1
        row = [len(shapes)]
        row += [sum(1 for s in shapes if s["kind"] == k) for k in kinds]
        for k in kinds:
            of = [s for s in shapes if s["kind"] == k]
            row.append(0 if not of else ci(of[0]) + 1 if len(of) == 1 else 9)
        for c in colours:
            of = [s for s in shapes if s["colour"] == c]
            row.append(0 if not of else ki(of[0]) + 1 if len(of) == 1 else 7)
        for side in SIDES:
            e = ext[side]
            row += [0, 0] if e is None else [ci(e) + 1, ki(e) + 1]
        for r in range(5):
            row += [0, 0] if r >= len(by_x) else [ci(by_x[r]) + 1, ki(by_x[r]) + 1]
        glo[n] = row
    return (torch.from_numpy(loc.reshape(len(scs), g * g, len(LOCAL_GROUPS))), torch.from_numpy(glo),
            torch.from_numpy(pairs))


def dense_loss(logits, targets, tables=True):
    """Summed cross-entropy over LOCAL_GROUPS (shape kind counted twice: the hardest and the one
    everything else binds to) and GLOBAL_GROUPS (on every patch), plus 5 × the pair-presence BCE;
    and accuracies for the log (local: on the patches of shapes; global: where not 0)."""
    loc, glo, pairs = targets
    losses, accs, o = [], {}, 0
    P = logits.shape[1]
    for j, (name, k) in enumerate(LOCAL_GROUPS):
        lg = logits[..., o:o + k].reshape(-1, k)
        t = loc[..., j].reshape(-1)
        losses.append(F.cross_entropy(lg, t) * (2.0 if name == "kind" else 1.0))
        accs[name] = (lg.argmax(-1) == t)[t > 0].float().mean().item()
        o += k
    for j, (name, k) in enumerate(GLOBAL_GROUPS):
        if not tables and name != "shapes" and not name.startswith("count"):
            o += k
            continue
        lg = logits[..., o:o + k].reshape(-1, k)
        t = glo[:, j:j + 1].expand(-1, P).reshape(-1)
        losses.append(F.cross_entropy(lg, t))
        key = name.split(":")[0] if ":" in name and not name.startswith(SIDES) else name
        ok = (lg.argmax(-1) == t)[t > 0] if name != "shapes" and not name.startswith("count") else (lg.argmax(-1) == t)
        accs.setdefault(key, []).append(ok.float().mean().item() if ok.numel() else 1.0)
        o += k
    if tables:
        lp = logits[..., o:o + N_PAIRS]
        tp = pairs[:, None, :].expand_as(lp)
        losses.append(5.0 * F.binary_cross_entropy_with_logits(lp, tp))
        accs["pairs"] = ((lp > 0).float() == tp).all(-1).float().mean().item()
    accs = {k: (sum(v) / len(v) if isinstance(v, list) else v) for k, v in accs.items()}
    return torch.stack(losses).sum(), accs


DEV = torch.device("cpu")


def to_pixels(u8):
    x = u8.to(DEV).permute(0, 3, 1, 2).float() / 255.0
    return (x - MEAN.to(DEV)) / STD.to(DEV)


class Text:
    """Tokenisation of chat conversations with per-token loss masks."""

    def __init__(self, tok: Tokenizer, n_img: int):
        self.tok = tok
        self.n_img = n_img

    def expand(self, ids):
        out = []
        for t in ids:
            out.extend([t] * self.n_img if t == self.tok.image_id else [t])
        return out

    def conversation(self, turns, with_image=True, check=False):
        """turns: [(question, answer)]. Returns (ids, target mask), the image in the first turn.
        Encoded piece by piece (user turns start after </s>, answers continue "ASSISTANT:"),
        which equals encoding the rendered conversation at once (check=True verifies)."""
        if check:
            return self._conversation_checked(turns, with_image)
        ids, mask = [], []
        for i, (q, a) in enumerate(turns):
            user = "USER: " + ("<image>\n" if (i == 0 and with_image) else "") + q + " ASSISTANT:"
            u = self.tok.encode(user, add_special_tokens=(i == 0))
            ans = self.tok.encode(" " + a + "</s>", add_special_tokens=False, continuation=True)
            ids += u + ans
            mask += [False] * len(u) + [True] * len(ans)
        out_ids, out_mask = [], []
        for t, m in zip(ids, mask):
            k = self.n_img if t == self.tok.image_id else 1
            out_ids.extend([t] * k)
            out_mask.extend([m] * k)
        return out_ids, out_mask

    def prompt(self, turns):
        """The generation prompt's ids (image tokens expanded) for turns [(question, answer or None)]:
        the image in the first turn, the chat template rendered with the assistant prompt at the end."""
        msgs = []
        for t, (q, a) in enumerate(turns):
            msgs.append({"role": "user", "content": ([{"type": "image"}] if t == 0 else []) + [{"type": "text", "text": q}]})
            if a is not None:
                msgs.append({"role": "assistant", "content": [{"type": "text", "text": a}]})
        return self.expand(self.tok.encode(render_chat(msgs, add_generation_prompt=True)))

    def _conversation_checked(self, turns, with_image=True):
        msgs = []
        ids_prev = []
        pieces = []
        for i, (q, a) in enumerate(turns):
            content = [{"type": "image"}] if (i == 0 and with_image) else []
            content.append({"type": "text", "text": q})
            msgs.append({"role": "user", "content": content})
            pieces.append((render_chat(msgs, add_generation_prompt=True), False))
            msgs.append({"role": "assistant", "content": [{"type": "text", "text": a}]})
            pieces.append((render_chat(msgs, add_generation_prompt=False), True))
        ids, mask = [], []
        for text, target in pieces:
            cur = self.tok.encode(text)
            assert cur[:len(ids_prev)] == ids_prev, (text, cur, ids_prev)
            new = cur[len(ids_prev):]
            ids.extend(new)
            mask.extend([target] * len(new))
            ids_prev = cur
        # expand the image token
        out_ids, out_mask = [], []
        for t, m in zip(ids, mask):
            k = self.n_img if t == self.tok.image_id else 1
            out_ids.extend([t] * k)
            out_mask.extend([m] * k)
        return out_ids, out_mask

    def batch(self, convs, pad_id):
        L = max(len(c[0]) for c in convs)
        ids = torch.full((len(convs), L), pad_id, dtype=torch.long)
        am = torch.zeros((len(convs), L), dtype=torch.long)
        labels = torch.full((len(convs), L), -100, dtype=torch.long)
        for i, (c, m) in enumerate(convs):
            ids[i, :len(c)] = torch.tensor(c)
            am[i, :len(c)] = 1
            lab = torch.tensor(c)
            lab[~torch.tensor(m, dtype=torch.bool)] = -100
            labels[i, :len(c)] = lab
        # next-token: logits at t predict labels at t+1
        return ids.to(DEV), am.to(DEV), labels.to(DEV)


CANON_FOLLOW_UP_P = 0.45  # a canonical dialogue's chance of a two-turn follow-up (sample_turns)


def sample_turns(spec, sc, rng, max_turns=4, min_turns=1, focus=(), focus_p=0.0, follow_up_p=CANON_FOLLOW_UP_P):
    """A training dialogue about one scene: min_turns..max_turns shuffled questions and, with
    probability follow_up_p, one two-turn follow-up. With probability focus_p the question types in
    `focus` come first, so they are asked whenever the scene allows them (more weight on a weak type
    without a new loss).
    (Longer stage-2 dialogues, --min-turns2 3 --max-turns2 6, trained worse in the
    same time: models/README.md, runs D and E.)"""
    qs = S.all_questions(spec, sc, rng)
    rng.shuffle(qs)
    if focus and rng.random() < focus_p:
        qs.sort(key=lambda t: t[0] not in focus)
    qs = [(q, a) for _, q, a in qs]
    k = rng.randint(min(min_turns, max_turns), max_turns)
    turns = qs[:k]
    if rng.random() < follow_up_p:
        fu = rng.choice(S.follow_ups(spec, sc, rng))
        pos = rng.randint(0, len(turns)) if rng.random() < 0.5 else 0
        turns = turns[:pos] + [(fu[1], fu[2]), (fu[3], fu[4])] + turns[pos:]
        turns = turns[:max(max_turns, 2) + 1]
    return turns


def make_tokenizer(spec, vocab=512, grammar=True):
    """The BPE: trained on the canonical task text (tinyllava/corpus.py) plus, with `grammar`, the
    trained split of the phrasing grammar (phrasings.corpus_texts: every trained pattern filled a few
    times, with surfaces). Held-out phrasings never reach it."""
    texts = task_corpus(spec)
    if grammar:
        texts = texts + P.corpus_texts(spec, random.Random(5))
    return Tokenizer(*train_bpe(texts, vocab_size=vocab))


def dialogue_turns(spec, sc, rng, args, phase):
    """A training dialogue about one scene (issue #17) for `phase`: "lm" (LM pretraining), "tuned"
    (stage 2 with the vision encoder tuned) or "frozen" (stage 2 on frozen vision features). With
    probability --canon2, today's canonical dialogue (sample_turns: the spec's `questions` phrasing,
    1..--max-turns2 questions + a two-turn follow-up); otherwise a grammar dialogue (phrasings.sample_dialogue) of 1..N turns — N
    --max-turns2-tuned in the tuned phase, --max-turns2-grammar elsewhere — mixing every intent in
    trained phrasings, follow-ups that refer back, and out-of-domain turns with the honest reply.
    Answers in the history are the true short answers: the model's own style."""
    it_p = getattr(args, "it2_p", 0.0)
    if phase != "lm" and it_p > 0 and rng.random() < it_p:  # (no draw at 0, the default: the stream is run 17c's)
        turns = P.reference_dialogue(spec, sc, rng, rng.randint(0, 2), canonical=rng.random() < 0.4)
        if turns:
            return [(t["q"], t["a"]) for t in turns]
    focus = tuple(t for t in getattr(args, "focus2", "").split(",") if t)
    canon = getattr(args, "canon2", 1.0)
    if canon >= 1.0 or rng.random() < canon:  # (no draw at 1: runs before #17 keep their random stream)
        fu_p = frozen_or(args.canon_follow2_frozen, CANON_FOLLOW_UP_P, phase)
        return sample_turns(spec, sc, rng, args.max_turns2, args.min_turns2, focus, args.focus2_p, fu_p)
    n = args.max_turns2_tuned if phase == "tuned" else args.max_turns2_grammar
    ood_p = frozen_or(args.ood2_p_frozen, args.ood2_p, phase)
    turns = P.sample_dialogue(spec, sc, rng, rng.randint(1, max(1, n)), follow_up_p=args.follow2_p,
                              ood_p=ood_p)
    return [(t["q"], t["a"]) for t in turns]


def frozen_or(frozen_value, value, phase):
    """A --*-frozen option: its value in the frozen phase when given, `value` otherwise."""
    return frozen_value if phase == "frozen" and frozen_value is not None else value


def caption_text(spec, sc, rng):
    """Stage-0 text for an image: its caption, or one of its shapes ("a red circle")."""
    r = rng.random()
    if r < 0.4:
        return S.describe(spec, sc)
    s = S.largest(sc) if r < 0.75 else rng.choice(sc["shapes"])
    return S.phrase(s["colour"], s["kind"])


def encode_labels(tok, texts, max_len=ZS_MAX_LEN, memo=None):
    """Zero-shot text tokenisation (what config.glimpse_zero_shot describes): BOS + BPE, right
    padding with <pad>, truncation to max_len. `memo` (a dict owned by the caller's loop) keeps
    each text's ids: training loops encode the same few thousand captions again and again."""
    memo = {} if memo is None else memo
    for t in texts:
        if t not in memo:
            memo[t] = tok.encode(t, add_special_tokens=True)[:max_len]
    rows = [memo[t] for t in texts]
    L = max(len(r) for r in rows)
    ids = torch.full((len(rows), L), tok.pad_id, dtype=torch.long)
    am = torch.zeros((len(rows), L), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
        am[i, :len(r)] = 1
    return ids.to(DEV), am.to(DEV)


def cosine_lr(opt, step, total, base, warmup=50):
    lr = base * min(1.0, (step + 1) / warmup) * (0.5 * (1 + math.cos(math.pi * min(1.0, step / total))) * 0.95 + 0.05)
    for g in opt.param_groups:
        g["lr"] = lr * g.get("scale", 1.0)


# ---------------------------------------------------------------------------------------------
# stages

def label_presence(tok, spec, scs):
    """The 48 "a {colour} {kind}" labels tokenised, and [n, 48] presence of each in each scene."""
    labels = [S.phrase(c, k) for c in spec["colours"] for k in spec["kinds"]]
    lab_index = {l: i for i, l in enumerate(labels)}
    presence = torch.zeros(len(scs), len(labels))
    for i, sc in enumerate(scs):
        for s in sc["shapes"]:
            presence[i, lab_index[S.phrase(s["colour"], s["kind"])]] = 1
    return (*encode_labels(tok, labels), presence)


def label_loss(cos, pos, scale, sig, sig_weight):
    """Multi-positive InfoNCE over the 48 labels (every present pair is a positive), plus a
    SigLIP-style per-label presence BCE with its own scale and bias (sig)."""
    loss = _multi_pos(scale * cos, pos)
    if sig_weight > 0:
        loss = loss + sig_weight * F.binary_cross_entropy_with_logits(sig[0].exp().clamp(max=100) * cos + sig[1], pos)
    return loss


def caption_loss(ie, te, texts, scale):
    """Symmetric InfoNCE image ↔ text; texts identical across the batch are positives too."""
    same = torch.tensor([[a == b for b in texts] for a in texts], dtype=torch.float32, device=DEV)
    li = scale * ie @ te.t()
    return 0.5 * (_multi_pos(li, same) + _multi_pos(li.t(), same))


def optimise(opt, loss, params):
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()


def stage0_clip(model, tenc, tok, spec, pool, args):
    scs, imgs = pool
    lab_ids, lab_am, presence = label_presence(tok, spec, scs)
    logit_scale = torch.nn.Parameter(torch.tensor(math.log(args.scale_init), device=DEV))
    # SigLIP-style per-label presence: its own scale and bias (ranking uses logit_scale only)
    sig = torch.nn.Parameter(torch.tensor([math.log(10.0), -10.0], device=DEV))
    params = list(model.vision.parameters()) + list(tenc.parameters()) + [logit_scale, sig]
    # dense auxiliary head on the LLaVA feature layer (discarded after stage 0)
    dense = torch.nn.Linear(model.cfg.vision.hidden_size, DENSE_WIDTH).to(DEV)
    ptargets = patch_targets(spec, scs, model.cfg.vision.patch_size)
    if args.dense_aux > 0:
        params += list(dense.parameters())
    aux = ZeroShotAux(spec, model.cfg.vision.projection_dim).to(DEV)
    aux_targets = aux.targets(scs)
    if args.zs_aux > 0:
        params += list(aux.parameters())
    memo = {}
    opt = torch.optim.AdamW(params, lr=args.lr0, weight_decay=0.05)
    rng = random.Random(1)
    model.train()
    tenc.train()
    n = len(scs)
    for step in range(args.steps0):
        cosine_lr(opt, step, args.steps0, args.lr0)
        idx = [rng.randrange(n) for _ in range(args.bs0)]
        px = to_pixels(imgs[idx])
        texts = [caption_text(spec, scs[i], rng) for i in idx]
        t_ids, t_am = encode_labels(tok, texts, max_len=48, memo=memo)
        with amp():
            hs, pooled = model.vision(px)
            proj = model.vision.visual_projection(pooled)
            te = tenc(t_ids, t_am)
            le = tenc(lab_ids, lab_am)
            d = dense(hs[model.cfg.vision_feature_layer][:, 1:]) if args.dense_aux > 0 else None
        ie = F.normalize(proj.float(), dim=-1)
        te, le = F.normalize(te.float(), dim=-1), F.normalize(le.float(), dim=-1)
        scale = logit_scale.exp().clamp(max=100)
        loss_clip = caption_loss(ie, te, texts, scale)
        loss_lab = label_loss(ie @ le.t(), presence[idx].to(DEV), scale, sig, args.zs_sig)
        loss = loss_clip + loss_lab
        if args.zs_aux > 0:
            loss = loss + args.zs_aux * aux(ie, le, aux_targets[idx].to(DEV))
        accs = {}
        if args.dense_aux > 0:
            loss_dense, accs = dense_loss(d.float(), tuple(t[idx].to(DEV) for t in ptargets), tables=bool(args.dense_tables))
            loss = loss + args.dense_aux * loss_dense
        else:
            loss_dense = torch.zeros(())
        optimise(opt, loss, params)
        if step % args.log_every == 0 or step == args.steps0 - 1:
            log(f"stage0 step {step}/{args.steps0} clip {loss_clip.item():.3f} labels {loss_lab.item():.3f} "
                f"dense {loss_dense.item():.3f} scale {scale.item():.1f} "
                + " ".join(f"{k}={v:.2f}" for k, v in accs.items() if k in ("colour", "kind", "xrank", "anchor", "shapes", "count:0", "colour-of", "kind-of", "left:kind", "rank0", "rank4", "pairs")))
    return float(logit_scale.exp().clamp(max=100).item())


class ZeroShotAux(torch.nn.Module):
    """Symmetry breaker for the contrastive heads: linear probes that make the image embedding
    predict which colours and kinds are present (multi-label) and each label embedding predict
    its colour and kind. Without them the joint InfoNCE sits for a long time on a plateau where
    both sides encode colour only (loss log 6). Discarded after training."""

    def __init__(self, spec, dim):
        super().__init__()
        self.colours = list(spec["colours"].keys())
        self.kinds = spec["kinds"]
        self.img = torch.nn.Linear(dim, len(self.colours) + len(self.kinds))
        self.txt = torch.nn.Linear(dim, len(self.colours) + len(self.kinds))

    def targets(self, scenes):
        """[n, colours + kinds] multi-hot: which colours and kinds each scene holds (built once per pool)."""
        nc = len(self.colours)
        tgt = torch.zeros(len(scenes), nc + len(self.kinds))
        for r, sc in enumerate(scenes):
            for s in sc["shapes"]:
                tgt[r, self.colours.index(s["colour"])] = 1
                tgt[r, nc + self.kinds.index(s["kind"])] = 1
        return tgt

    def forward(self, ie, le, tgt):
        """tgt: the batch's rows of targets()."""
        nc = len(self.colours)
        li = F.binary_cross_entropy_with_logits(self.img(ie * 10), tgt)
        # label embeddings: rows are colours × kinds in spec order
        ci = torch.arange(nc, device=le.device).repeat_interleave(len(self.kinds))
        ki = torch.arange(len(self.kinds), device=le.device).repeat(nc)
        lt = self.txt(le * 10)
        lt = F.cross_entropy(lt[:, :nc], ci) + F.cross_entropy(lt[:, nc:], ki)
        return li + lt


def stage_zero_shot_head(model, tenc, tok, spec, scs, states, logit_scale, steps, bs, lr, clip_w, aux_w, sig_w,
                         log_every):
    """Re-align the zero-shot head after stage 2 tuned the vision encoder (train.py) or on its own
    (finetune.py): retrain the vision encoder's last layer, post_layernorm and visual_projection, and
    the text encoder, on `states` — the precomputed layer -2 states with CLS (precompute_features) —
    so the LLaVA features do not change and the chat model is untouched. Stage 0's label losses
    (sig_w weighs the presence BCE) + clip_w × caption InfoNCE + aux_w × ZeroShotAux. Returns the
    new logit scale."""
    v = model.vision
    assert model.cfg.vision_feature_layer == -2
    lab_ids, lab_am, presence = label_presence(tok, spec, scs)
    ls = torch.nn.Parameter(torch.tensor(math.log(max(logit_scale, 10.0)), device=DEV))
    sig = torch.nn.Parameter(torch.tensor([math.log(10.0), -10.0], device=DEV))
    with torch.random.fork_rng(devices=[]):  # the probes' init does not depend on what ran before
        torch.manual_seed(3)
        aux = ZeroShotAux(spec, v.cfg.projection_dim).to(DEV)
    aux_targets = aux.targets(scs)
    memo = {}
    params = list(v.layers[-1].parameters()) + list(v.post_layernorm.parameters()) + \
        list(v.visual_projection.parameters()) + list(tenc.parameters()) + [ls, sig] + list(aux.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    rng = random.Random(3)
    tenc.train()
    v.train()
    for step in range(steps):
        cosine_lr(opt, step, steps, lr)
        idx = [rng.randrange(len(scs)) for _ in range(bs)]
        texts = [caption_text(spec, scs[i], rng) for i in idx] if clip_w > 0 else []
        with amp():
            x = v.layers[-1](states[idx].to(DEV).float())
            pooled = v.post_layernorm(x[:, 1:].mean(1) if v.cfg.pool == "mean" else x[:, 0])
            proj = v.visual_projection(pooled)
            le = tenc(lab_ids, lab_am)
            te = tenc(*encode_labels(tok, texts, max_len=48, memo=memo)) if texts else None
        ie = F.normalize(proj.float(), dim=-1)
        le = F.normalize(le.float(), dim=-1)
        scale = ls.exp().clamp(max=100)
        loss_lab = label_loss(ie @ le.t(), presence[idx].to(DEV), scale, sig, sig_w)
        loss_clip = caption_loss(ie, F.normalize(te.float(), dim=-1), texts, scale) if texts else torch.zeros(())
        loss_aux = aux(ie, le, aux_targets[idx].to(DEV))
        loss = loss_lab + clip_w * loss_clip + aux_w * loss_aux
        optimise(opt, loss, params)
        if step % log_every == 0 or step == steps - 1:
            log(f"zero-shot head step {step}/{steps} labels {loss_lab.item():.3f} clip {loss_clip.item():.3f} "
                f"aux {loss_aux.item():.3f} scale {scale.item():.1f}")
    tenc.eval()
    v.eval()
    return float(ls.exp().clamp(max=100).item())


def _multi_pos(logits, pos):
    """-log of the softmax mass on the positives, averaged over rows."""
    lse_all = torch.logsumexp(logits, dim=-1)
    lse_pos = torch.logsumexp(logits.masked_fill(pos == 0, -1e9), dim=-1)
    return (lse_all - lse_pos).mean()


def lm_loss(logits, labels):
    logits = logits.float()
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)


def stage_lm(model, text, spec, pool, args):
    scs, _ = pool
    opt = torch.optim.AdamW(model.lm.parameters(), lr=args.lr_lm, weight_decay=0.01)
    rng = random.Random(2)
    model.train()
    for step in range(args.steps_lm):
        cosine_lr(opt, step, args.steps_lm, args.lr_lm)
        convs = []
        for _ in range(args.bs_lm):
            sc = scs[rng.randrange(len(scs))]
            ids, _m = text.conversation(dialogue_turns(spec, sc, rng, args, "lm"), with_image=False)
            convs.append((ids, [True] * len(ids)))
        ids, am, labels = text.batch(convs, text.tok.pad_id)
        labels[am == 0] = -100
        with amp():
            logits, _ = model.lm(model.lm.embed_tokens(ids), am, (am.cumsum(-1) - 1).clamp(min=0))
        loss = lm_loss(logits, labels)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.lm.parameters(), 1.0)
        opt.step()
        if step % args.log_every == 0 or step == args.steps_lm - 1:
            log(f"lm step {step}/{args.steps_lm} loss {loss.item():.3f}")


def grounding_words(tok, spec):
    """The LM token ids of the 8 colour words and the 6 kind words (each one BPE token)."""
    ids = [tok.encode(w, add_special_tokens=False) for w in list(spec["colours"]) + spec["kinds"]]
    assert all(len(i) == 1 for i in ids), ids
    ids = torch.tensor([i[0] for i in ids], device=DEV)
    return ids[:len(spec["colours"])], ids[len(spec["colours"]):]


def grounding_loss(feats, local, emb, words, scale=16.0):
    """Dense word grounding of the image tokens (--ground): every projected patch that lies on a shape
    should point, by cosine against the LM's token embeddings, at the words of its colour and its
    kind — the image tokens then live next to the question's own words ("What colour is the star?"),
    so attention can match them before stage 2 has learnt to search. feats [b, P, d] projector output,
    local [b, P, G] patch_targets' local groups (0 colour, 1 kind; 0 = background, not scored)."""
    col, kind = local[..., 0], local[..., 1]
    m = col > 0
    if not bool(m.any()):
        return feats.sum() * 0.0
    f = F.normalize(feats[m].float(), dim=-1)
    logp = (scale * f @ F.normalize(emb.float(), dim=-1).t()).log_softmax(-1)
    tc, tk = words[0][col[m] - 1], words[1][kind[m] - 1]
    return -0.5 * (logp.gather(1, tc[:, None]) + logp.gather(1, tk[:, None])).mean()


@torch.no_grad()
def precompute_features(model, imgs, bs=256, keep_cls=False, dtype=torch.float16):
    """The frozen vision encoder's states at vision_feature_layer for the whole pool (the LLaVA
    features without CLS, stored as fp16 by default): stages 1 and 2 then only run projector + LM;
    with CLS they are the input of the last layer, for the zero-shot head."""
    model.vision.eval()
    out = []
    for i in range(0, len(imgs), bs):
        with amp():  # the residual stream (and so these states) stays float32
            h = model.vision.hidden_state(to_pixels(imgs[i:i + bs]), model.cfg.vision_feature_layer)
        out.append((h if keep_cls else h[:, 1:]).to(dtype).cpu())
    return torch.cat(out)


def stage_vl(model, text, spec, pool, args, stage, cache=None, zs=None, steps=None, lr=None, seed=None, bs=None):
    """Stage 1 (projector only, captions) or stage 2 (projector + LM, dialogues). In stage 2 the vision
    encoder is tuned too when args.tune_vision and no `cache` is given; with a cache (the layer -2
    states with CLS, precompute_features(keep_cls=True)) the features are read from it and the step
    costs only projector + LM. steps/lr/seed override the stage's args (train.py's frozen phase of
    stage 2 and finetune.py). zs = (label embeddings [48, d], presence [n, 48], logit scale), given by
    main() only when the vision encoder is tuned and args.zs2 > 0: stage 0's label loss on the image
    embedding (weight args.zs2) then keeps the zero-shot head fitting the moved features."""
    scs, imgs = pool
    if stage == 1:
        steps, bs, lr = (args.steps1 if steps is None else steps), args.bs1, (args.lr1 if lr is None else lr)
        groups = [{"params": list(model.projector.parameters()), "scale": 1.0}]
        train_vision = False
    else:
        steps, bs, lr = (args.steps2 if steps is None else steps), (args.bs2 if bs is None else bs), \
            (args.lr2 if lr is None else lr)
        groups = [{"params": list(model.projector.parameters()) + list(model.lm.parameters()), "scale": 1.0}]
        train_vision = cache is None and bool(args.tune_vision)
        if train_vision:
            groups.append({"params": list(model.vision.parameters()), "scale": args.vision_lr_scale})
    for p in model.parameters():
        p.requires_grad_(False)
    for g in groups:
        for p in g["params"]:
            p.requires_grad_(True)
    opt = torch.optim.AdamW(groups, lr=lr, weight_decay=0.01)
    rng = random.Random(10 + stage if seed is None else seed)
    focus = tuple(t for t in args.focus2.split(",") if t)
    ground = getattr(args, "ground", 0.0)
    if ground > 0:
        words = grounding_words(text.tok, spec)
        local = patch_targets(spec, scs, model.cfg.vision.patch_size)[0]  # ~0.05 ms per scene
    # curriculum (--easy2): the first steps of the tuned phase draw scenes with few shapes only
    easy_steps = getattr(args, "easy2", 0) if (stage == 2 and cache is None) else 0
    easy = [i for i, sc in enumerate(scs) if len(sc["shapes"]) <= getattr(args, "easy2_shapes", 2)] if easy_steps else []
    model.train()
    if not train_vision:
        model.vision.eval()
    # --bucket2 B (stage 2): draw B batches' dialogues at once, sort them by length and train them as
    # B consecutive batches of similar length, so a batch pads to its own longest dialogue, not to the
    # longest of up to 6 turns (issue #17's dialogues: ~25 % fewer padded tokens in the frozen phase)
    bucket = max(1, getattr(args, "bucket2", 1)) if stage == 2 else 1
    queue = []

    def draw(step):
        if step < easy_steps:
            return easy[rng.randrange(len(easy))]
        return rng.randrange(len(scs))

    for step in range(steps):
        cosine_lr(opt, step, steps, lr)
        if not queue:
            pairs = []
            for k in range(bucket):
                for i in [draw(step + k) for _ in range(bs)]:  # indices first, as before (bucket 1 = run K's stream)
                    if stage == 1:
                        turns = [(spec["questions"]["describe"]["q"], S.describe(spec, scs[i]))]
                    else:
                        turns = dialogue_turns(spec, scs[i], rng, args,
                                               "tuned" if train_vision else "frozen")
                    pairs.append((i, text.conversation(turns)))
            if bucket > 1:
                pairs.sort(key=lambda p: len(p[1][0]))
                chunks = [pairs[k * bs:(k + 1) * bs] for k in range(bucket)]
                rng.shuffle(chunks)
            else:
                chunks = [pairs]
            queue.extend(chunks)
        batch = queue.pop(0)
        idx = [i for i, _ in batch]
        convs = [c for _, c in batch]
        ids, am, labels = text.batch(convs, text.tok.pad_id)
        loss_zs = None
        with amp(not train_vision or args.bf16_tuned):
            if cache is not None:
                f = cache[idx][:, 1:].to(DEV).float()
            else:
                with torch.set_grad_enabled(bool(train_vision)):
                    px = to_pixels(imgs[idx])
                    if zs is None:  # the layers after the feature layer are not needed
                        f = model.vision.hidden_state(px, model.cfg.vision_feature_layer)[:, 1:]
                    else:
                        hs, pooled = model.vision(px)
                        f = hs[model.cfg.vision_feature_layer][:, 1:]
                        proj = model.vision.visual_projection(pooled)
            feats = model.projector(f)
            logits = model(ids, am, feats=feats)
        if zs is not None and cache is None:
            ie = F.normalize(proj.float(), dim=-1)
            loss_zs = label_loss(ie @ zs[0].t(), zs[1][idx].to(DEV), zs[2], None, 0.0)
        loss = lm_loss(logits, labels)
        total = loss if loss_zs is None else loss + args.zs2 * loss_zs
        loss_g = None
        if ground > 0:
            loss_g = grounding_loss(feats, local[idx].to(DEV), model.lm.embed_tokens.weight, words)
            total = total + ground * loss_g
        optimise(opt, total, [p for g in groups for p in g["params"]])
        if step % args.log_every == 0 or step == steps - 1:
            log(f"stage{stage} step {step}/{steps} loss {loss.item():.4f}"
                + ("" if loss_zs is None else f" labels {loss_zs.item():.3f}")
                + ("" if loss_g is None else f" grounding {loss_g.item():.3f}"))
    for p in model.parameters():
        p.requires_grad_(True)


# ---------------------------------------------------------------------------------------------
# evaluation (Python side, quick)

@torch.no_grad()
def generate(model, text, prompts_ids, feats, max_new=40):
    """Batched greedy decoding with a KV cache; prompts left-padded."""
    tok = text.tok
    B = len(prompts_ids)
    L = max(len(p) for p in prompts_ids)
    ids = torch.full((B, L), tok.pad_id, dtype=torch.long)
    am = torch.zeros((B, L), dtype=torch.long)
    for i, p in enumerate(prompts_ids):
        ids[i, L - len(p):] = torch.tensor(p)
        am[i, L - len(p):] = 1
    ids, am = ids.to(DEV), am.to(DEV)
    emb = model.merge(ids, feats)
    pos = (am.cumsum(-1) - 1).clamp(min=0)
    logits, past = model.lm(emb, am, pos)
    nxt = logits[:, -1].argmax(-1)
    out = [[] for _ in range(B)]
    done = [False] * B
    nxt_l = None
    last_pos = pos[:, -1]
    for _ in range(max_new):
        nxt_l = nxt.tolist()
        for i in range(B):
            if not done[i]:
                if nxt_l[i] == tok.eos_id:
                    done[i] = True
                else:
                    out[i].append(nxt_l[i])
        if all(done):
            break
        am = torch.cat([am, torch.ones(B, 1, dtype=torch.long, device=DEV)], dim=1)
        last_pos = last_pos + 1
        logits, past = model.lm(model.lm.embed_tokens(nxt.view(B, 1)), am, last_pos.view(B, 1), past)
        nxt = logits[:, -1].argmax(-1)
    return [tok.decode(o) for o in out]


def norm_answer(s):
    s = s.lower().strip()
    return s[:-1] if s.endswith(".") else s


def caption_complete(spec, sc, caption):
    import re
    text = re.sub(r"\s+", " ", caption.lower())
    need = {}
    for s in sc["shapes"]:
        need[(s["colour"], s["kind"])] = need.get((s["colour"], s["kind"]), 0) + 1

    def occ(p):
        return len(re.findall(r"(?<![a-z])" + re.escape(p) + r"(?![a-z])", text))
    for (c, k), n in need.items():
        if occ(f"{c} {k}") < n and not (n > 1 and occ(f"{c} {spec['plural'][k]}") > 0):
            return False
    return True


@torch.no_grad()
def conversation_items(spec, scs, seed):
    """Issue #17's cases for the quick Python check (own rng, so the older items stay as they were;
    evaluate() passes its first 150 scenes): per scene one question of every fresh intent and one out-of-domain question in each split, and a
    6-turn dialogue (half held-out phrasings) asked turn by turn with the TRUE answers in the history
    (teacher forcing: the TypeScript eval puts the model's own answers there)."""
    rng = random.Random(f"conversation:{seed}")
    items = []
    for i, sc in enumerate(scs):
        for split in ("trained", "heldOut"):
            for intent in P.FRESH + ["outOfDomain"]:
                t = P.fresh_turn(spec, sc, intent, rng, split)
                if t:
                    items.append((i, f"conv:{split}:{intent}", [(t["q"], None)], t["a"]))
        dialogue = P.sample_dialogue(spec, sc, rng, spec["conversation"]["maxTurns"], held_out_p=0.5,
                                     follow_up_p=0.5, ood_p=0.1)
        for k, t in enumerate(dialogue):
            hist = [(d["q"], d["a"]) for d in dialogue[:k]] + [(t["q"], None)]
            items.append((i, f"turn:{k + 1}:{t['intent']}", hist, t["a"]))
    return items


def evaluate(model, tenc, text, spec, logit_scale, n=300, seed=EVAL_SEED, aug=False, bs=64, conversation=150):
    model.eval()
    tenc.eval()
    scs, imgs = make_pool(seed, n, aug=aug, workers=1)
    rng = random.Random(seed)
    items = []  # (scene index, type, turns-so-far, expected)
    for i, sc in enumerate(scs):
        for typ, q, a in S.all_questions(spec, sc, rng):
            items.append((i, typ, [(q, None)], a))
        fus = S.follow_ups(spec, sc, rng)
        fu = fus[i % len(fus)]
        items.append((i, "followup:" + fu[0], [(fu[1], fu[2]), (fu[3], None)], fu[4]))
    if conversation and "conversation" in spec:
        items += conversation_items(spec, scs[:conversation], seed)  # the first `conversation` scenes
    conv = {}
    results = {}
    captions_ok = []
    for b in range(0, len(items), bs):
        chunk = items[b:b + bs]
        prompts = [text.prompt(turns) for _, _, turns, _ in chunk]
        px = to_pixels(imgs[[c[0] for c in chunk]])
        feats = model.image_features(px)
        outs = generate(model, text, prompts, feats)
        for (i, typ, _, exp), got in zip(chunk, outs):
            key = typ.split(":")[0]
            if key in ("conv", "turn"):
                intent = typ.split(":")[-1]
                ok = caption_complete(spec, scs[i], got) if intent == "describe" else norm_answer(got) == norm_answer(exp)
                group = typ.split(":")[1]
                if key == "conv":
                    group = ("ood_" if intent == "outOfDomain" else "phrasing_") + group
                else:
                    k = int(group)
                    group = "turn_1" if k == 1 else ("turns_2_3" if k <= 3 else "turns_4_6")
                conv.setdefault(group, []).append(ok)
                continue
            results.setdefault(typ, []).append(norm_answer(got) == norm_answer(exp))
            if key == "followup":
                results.setdefault("followup", []).append(norm_answer(got) == norm_answer(exp))
            if typ == "describe":
                captions_ok.append(caption_complete(spec, scs[i], got))
    # zero-shot
    zs_ok = []
    for i, sc in enumerate(scs):
        labels, ans = S.zero_shot_case(spec, sc, rng)
        ids, am = encode_labels(text.tok, labels)
        te = tenc(ids, am)
        ie = model.vision.image_embeds(to_pixels(imgs[i:i + 1]))
        zs_ok.append(int((ie @ te.t()).argmax().item()) == ans)
    acc = {k: sum(v) / len(v) for k, v in sorted(results.items())}
    core = [x for k in ("colour", "shape", "count", "position") for x in results.get(k, [])]
    summary = {
        "qa_exact_colour_shape_count_position": sum(core) / len(core),
        "qa_exact_all_types": sum(x for k, v in results.items() if not k.startswith("followup") for x in v)
        / sum(len(v) for k, v in results.items() if not k.startswith("followup")),
        "captions_complete": sum(captions_ok) / len(captions_ok),
        "zero_shot_top1_of_8": sum(zs_ok) / len(zs_ok),
        "followups": acc.get("followup", 0.0),
        "per_type": acc,
        "conversation": {k: sum(v) / len(v) for k, v in sorted(conv.items())},
        "scenes": n,
        "seed": seed,
        "augmented_render": aug,
    }
    return summary


# ---------------------------------------------------------------------------------------------

def build(tok, args):
    cfg = LlavaConfig(
        vision=VisionConfig(image_size=128, patch_size=args.patch, hidden_size=args.vdim,
                            intermediate_size=4 * args.vdim, num_hidden_layers=args.vlayers,
                            num_attention_heads=args.vdim // 32, projection_dim=args.proj_dim,
                            stem=args.stem, stem_channels=args.stem_ch, pool=args.pool_mode),
        text=TextConfig(vocab_size=len(tok), hidden_size=args.tdim, intermediate_size=args.tinter,
                        num_hidden_layers=args.tlayers, num_attention_heads=args.theads,
                        num_key_value_heads=args.tkv, max_position_embeddings=2048,
                        tie_word_embeddings=True, bos_token_id=tok.bos_id, eos_token_id=tok.eos_id,
                        pad_token_id=tok.pad_id),
        image_token_index=tok.image_id, vision_feature_layer=-2, vision_feature_select_strategy="default",
    )
    model = Llava(cfg)
    tenc = ClipTextEncoder(ClipTextConfig(vocab_size=len(tok), hidden_size=args.cdim, intermediate_size=4 * args.cdim,
                                          num_hidden_layers=args.clayers, num_attention_heads=args.cdim // 32,
                                          max_position_embeddings=48, projection_dim=args.proj_dim,
                                          pool=getattr(args, "text_pool", "last")))
    _init(model)
    _init(tenc)
    return model, tenc



def load_checkpoint(path, text_pool=None):
    """A checkpoint written by train.py/finetune.py → (ck, spec, tok, model, tenc, text).

    The model is rebuilt from the checkpoint's own arguments; the text encoder pools as `text_pool`
    says, else as the checkpoint recorded: finetune.py's "text_pool" entry, else train.py's
    --text-pool argument, else "last". Modules are left in training mode.
    """
    ck = torch.load(path, map_location="cpu")
    a = argparse.Namespace(**{k.replace("-", "_"): v for k, v in ck["args"].items()})
    spec = S.load_spec()
    tok = make_tokenizer(spec, getattr(a, "vocab", 512), getattr(a, "canon2", 1.0) < 1.0)
    model, tenc = build(tok, a)
    model.load_state_dict(ck["model"])
    tenc.load_state_dict(ck["tenc"])
    tenc.cfg.pool = text_pool or ck.get("text_pool") or getattr(a, "text_pool", "last")
    return ck, spec, tok, model, tenc, Text(tok, model.num_image_tokens())

def _init(m):
    for name, p in m.named_parameters():
        if p.dim() >= 2 and "position_embedding" not in name:
            torch.nn.init.normal_(p, std=0.02)
        if name.endswith(("o_proj.weight", "down_proj.weight", "out_proj.weight", "fc2.weight")):
            torch.nn.init.normal_(p, std=0.02 / math.sqrt(2))


def add_dialogue_args(ap):
    """How stage 2 samples its dialogues (sample_turns), for train.py and finetune.py alike."""
    ap.add_argument("--min-turns2", type=int, default=1)
    ap.add_argument("--max-turns2", type=int, default=4)
    ap.add_argument("--focus2", default="", help="stage-2 question types asked first, e.g. colour,position")
    ap.add_argument("--focus2-p", type=float, default=0.0, help="... in this share of the dialogues")
    ap.add_argument("--canon2", type=float, default=0.35,
                    help="share of dialogues in the canonical phrasing (sample_turns); the rest come from the "
                         "phrasing grammar's trained split (issue #17; 1 = before #17, no grammar, 512-token BPE of "
                         "the canonical text)")
    ap.add_argument("--max-turns2-grammar", type=int, default=6, help="grammar dialogues: 1..N turns (LM, frozen phase)")
    ap.add_argument("--max-turns2-tuned", type=int, default=4, help="grammar dialogues in the tuned phase: 1..N turns")
    ap.add_argument("--canon-follow2-frozen", type=float, default=None,
                    help="frozen phase: chance that a canonical dialogue carries a two-turn follow-up (default: "
                         f"{CANON_FOLLOW_UP_P}, as elsewhere; 0.9 was tried for 'Is there a diamond? / What colour "
                         "is it?' in #17's run L and did not help: models/README.md)")
    ap.add_argument("--follow2-p", type=float, default=0.5, help="grammar dialogues: chance of a follow-up when one fits")
    ap.add_argument("--ood2-p", type=float, default=0.08, help="grammar dialogues: chance of an out-of-domain turn")
    ap.add_argument("--ood2-p-frozen", type=float, default=None,
                    help="the frozen phase's --ood2-p (default: --ood2-p); tried in #17's run M")
    ap.add_argument("--it2-p", type=float, default=0.0,
                    help="stage 2 (tuned and frozen phases): share of dialogues that practise 'What colour is it?' "
                         "after a turn that named the shape without its colour (phrasings.reference_dialogue; 0 = "
                         "none and no draw; 0.15 was #17's run N, much worse: models/README.md)")
    ap.add_argument("--bucket2", type=int, default=4,
                    help="stage 2: sort this many batches' dialogues by length together (1 = off, before #17)")


# --smoke: every stage runs, a few tens of steps each, on small pools (≈ 3–5 min on 2 cores)
SMOKE = dict(pool=800, pool2=200, steps0=40, steps_lm=30, steps1=20, steps2=60, easy2=20, steps2_frozen=60,
             steps_zs=40, eval_n=16, log_every=10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "tiny-shapes"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pool", type=int, default=30000)
    ap.add_argument("--pool2", type=int, default=30000,
                    help="fresh scenes (another seed) rendered for the frozen phase and the zero-shot head, "
                         "which train on both pools")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=768, help="BPE vocabulary (512 before issue #17)")
    ap.add_argument("--smoke", action="store_true",
                    help="a few-minute end-to-end check of the recipe (tiny pools, tens of steps per stage, "
                         "small eval); its model is not meant to answer well")
    ap.add_argument("--bf16", default="auto", choices=("auto", "1", "0"),
                    help="bf16 autocast for training forward passes (auto: where the CPU has avx512_bf16/amx_bf16)")
    ap.add_argument("--patch", type=int, default=16)
    ap.add_argument("--vdim", type=int, default=128)
    ap.add_argument("--vlayers", type=int, default=4)
    ap.add_argument("--stem", default="conv")
    ap.add_argument("--stem-ch", type=int, default=32)
    ap.add_argument("--pool-mode", default="mean")
    ap.add_argument("--dense-aux", type=float, default=1.0)
    ap.add_argument("--dense-tables", type=int, default=0)
    ap.add_argument("--scale-init", type=float, default=30.0)
    ap.add_argument("--zs-aux", type=float, default=3.0)
    ap.add_argument("--zs-sig", type=float, default=1.0)
    ap.add_argument("--text-pool", default="mean")
    ap.add_argument("--proj-dim", type=int, default=128)
    ap.add_argument("--cdim", type=int, default=128)
    ap.add_argument("--clayers", type=int, default=2)
    ap.add_argument("--tdim", type=int, default=192)
    ap.add_argument("--tinter", type=int, default=512)
    ap.add_argument("--tlayers", type=int, default=4)
    ap.add_argument("--theads", type=int, default=4)
    ap.add_argument("--tkv", type=int, default=2)
    ap.add_argument("--steps0", type=int, default=2000)
    ap.add_argument("--bs0", type=int, default=64)
    ap.add_argument("--lr0", type=float, default=2e-3)
    ap.add_argument("--steps-lm", type=int, default=300)
    ap.add_argument("--bs-lm", type=int, default=32)
    ap.add_argument("--lr-lm", type=float, default=2e-3)
    ap.add_argument("--steps1", type=int, default=300)
    ap.add_argument("--bs1", type=int, default=32)
    ap.add_argument("--lr1", type=float, default=2e-3)
    ap.add_argument("--steps2", type=int, default=4000, help="stage 2 steps with the vision encoder tuned")
    ap.add_argument("--steps2-frozen", type=int, default=5000,
                    help="then stage 2 steps on cached features, vision frozen (with --tune-vision 1; "
                         "finetune.py's stage 2 — run F in models/README.md; 7000 before issue #17, "
                         "3600 in #17's run 17b)")
    ap.add_argument("--lr2-frozen", type=float, default=4e-4)
    ap.add_argument("--bs2-frozen", type=int, default=24,
                    help="the frozen phase's batch (32 before issue #17: its longer dialogues cost ~60 µs a "
                         "token here, so 24 keeps the run within 60 minutes)")
    ap.add_argument("--bs2", type=int, default=32)
    ap.add_argument("--lr2", type=float, default=1e-3)
    add_dialogue_args(ap)
    ap.add_argument("--tune-vision", type=int, default=1)
    ap.add_argument("--ground", type=float, default=1.0,
                    help="weight of the dense word-grounding loss of the image tokens in stages 1 and 2")
    ap.add_argument("--easy2", type=int, default=1000, help="first steps of the tuned phase on scenes with few shapes")
    ap.add_argument("--easy2-shapes", type=int, default=3)
    ap.add_argument("--bf16-tuned", type=int, default=1,
                    help="bf16 autocast in stage 2's tuned phase too (0: float32 there; runs G and H, models/README.md)")
    ap.add_argument("--zs2", type=float, default=0.0)
    ap.add_argument("--steps-zs", type=int, default=9000,
                    help="zero-shot head steps (11000 until #17's run 17c: 2000 fewer pay for 1400 more frozen-phase steps)")
    ap.add_argument("--lr-zs", type=float, default=2e-3)
    ap.add_argument("--vision-lr-scale", type=float, default=1.0)
    ap.add_argument("--eval-n", type=int, default=24,
                    help="scenes in train.py's own check (300 before issue #17; the acceptance check is the TS "
                         "`npm run eval`, 200 images): float32 decoding here costs ~0.7 s a scene")
    ap.add_argument("--eval-conversation", type=int, default=6,
                    help="of those, scenes that also get issue #17's phrasing, out-of-domain and 6-turn cases "
                         "(~4 s a scene)")
    ap.add_argument("--log-every", type=int, default=250)
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--save-ckpt", default="")
    ap.add_argument("--load-ckpt", default="")
    ap.add_argument("--save-tuned", default="",
                    help="also save the state after stage 2's tuned phase here (weights and gradients), so that "
                         "--resume-tuned can try other frozen-phase settings without the first ~32 minutes")
    ap.add_argument("--resume-tuned", default="",
                    help="start from a --save-tuned file: skip stage 0, LM pretraining, stage 1 and the tuned phase "
                         "(same command otherwise; the rest of the run is bit-identical to the whole run's)")
    args = ap.parse_args()
    if args.smoke:
        for k, v in SMOKE.items():
            setattr(args, k, v)
    global DEV
    DEV = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    random.seed(0)
    use_bf16(args.bf16)
    spec = S.load_spec()
    tok = make_tokenizer(spec, args.vocab, args.canon2 < 1.0)
    for w in list(spec["colours"]) + spec["kinds"]:
        assert len(tok.encode(w, add_special_tokens=False)) == 1, f"'{w}' is not one BPE token (word grounding needs it)"
    model, tenc = build(tok, args)
    model.to(DEV)
    tenc.to(DEV)
    text = Text(tok, model.num_image_tokens())
    nparams = sum(p.numel() for p in model.parameters()) + sum(p.numel() for p in tenc.parameters())
    log(f"vocab {len(tok)}; params {nparams / 1e6:.2f}M; image tokens {model.num_image_tokens()}; "
        f"bf16 autocast {BF16}; args {vars(args)}")
    timings = {}
    if args.load_ckpt:
        ck = torch.load(args.load_ckpt, map_location=DEV)
        model.load_state_dict(ck["model"])
        tenc.load_state_dict(ck["tenc"])
        logit_scale = ck["logit_scale"]
    else:
        t = time.time()
        pool = make_pool(TRAIN_SEED, args.pool, aug=True, workers=args.workers)
        timings["data"] = time.time() - t
        log(f"rendered {args.pool} training scenes in {timings['data']:.1f}s")
    if args.resume_tuned:
        logit_scale = load_tuned(model, tenc, args.resume_tuned)
        log(f"resumed after the tuned phase from {args.resume_tuned}")
    elif not args.load_ckpt:
        t = time.time()
        logit_scale = stage0_clip(model, tenc, tok, spec, pool, args)
        timings["stage0_clip"] = time.time() - t
        t = time.time()
        stage_lm(model, text, spec, pool, args)
        timings["lm_pretrain"] = time.time() - t
        t = time.time()
        cache = None if args.tune_vision else precompute_features(model, pool[1], keep_cls=True)
        stage_vl(model, text, spec, pool, args, stage=1, cache=cache)
        timings["stage1_align"] = time.time() - t
        t = time.time()
        zs = None
        if args.tune_vision and args.zs2 > 0:
            lab_ids, lab_am, presence = label_presence(tok, spec, pool[0])
            with torch.no_grad():
                tenc.eval()
                zs = (tenc(lab_ids, lab_am), presence, logit_scale)
        stage_vl(model, text, spec, pool, args, stage=2, cache=cache, zs=zs)
        timings["stage2_instruct"] = time.time() - t
        if args.save_tuned:
            save_tuned(model, tenc, logit_scale, args.save_tuned)
    if not args.load_ckpt:
        if args.tune_vision:
            # the vision encoder is final from here on: its layer -2 states (with CLS) feed both the
            # frozen phase of stage 2 and the zero-shot head (which retrains only the layers after them)
            if args.pool2 > 0 and (args.steps2_frozen > 0 or args.steps_zs > 0):
                t = time.time()
                fresh = make_pool(TRAIN_SEED + 2, args.pool2, aug=True, workers=args.workers)
                pool = (pool[0] + fresh[0], torch.cat([pool[1], fresh[1]]))
                timings["data2"] = time.time() - t
                log(f"rendered {args.pool2} fresh scenes in {timings['data2']:.1f}s: the frozen phase and the "
                    f"zero-shot head train on {len(pool[0])}")
            t = time.time()
            cache = precompute_features(model, pool[1], keep_cls=True)
            timings["feature_cache"] = time.time() - t
            if args.steps2_frozen > 0:
                t = time.time()
                log(f"stage 2, frozen phase: vision encoder frozen, features cached {tuple(cache.shape)}")
                stage_vl(model, text, spec, pool, args, stage=2, cache=cache, steps=args.steps2_frozen,
                         lr=args.lr2_frozen, seed=13, bs=args.bs2_frozen)
                timings["stage2_frozen"] = time.time() - t
            if args.steps_zs > 0:
                t = time.time()
                logit_scale = stage_zero_shot_head(model, tenc, tok, spec, pool[0], cache, logit_scale,
                                                   args.steps_zs, args.bs0, args.lr_zs, 0.25, args.zs_aux,
                                                   args.zs_sig, args.log_every)
                timings["zero_shot_head"] = time.time() - t
        if args.save_ckpt:
            cpu = lambda m: {k: v.detach().cpu() for k, v in m.state_dict().items()}  # noqa: E731
            torch.save({"model": cpu(model), "tenc": cpu(tenc), "logit_scale": logit_scale,
                        "args": vars(args)}, args.save_ckpt)
    model.to(DEV)
    tenc.to(DEV)
    t = time.time()
    ev = evaluate(model, tenc, text, spec, logit_scale, n=args.eval_n, conversation=args.eval_conversation)
    ev_aug = evaluate(model, tenc, text, spec, logit_scale, n=args.eval_n // 2, seed=EVAL_SEED + 1, aug=True,
                      conversation=0)
    timings["eval"] = time.time() - t
    log("eval (held-out seed, plain render):", json.dumps(ev, indent=1))
    log("eval (held-out seed, augmented render):", json.dumps({k: v for k, v in ev_aug.items() if k != "per_type"}))
    if not args.no_export:
        model.cpu()
        tenc.cpu()
        t = time.time()
        export(model, tenc, tok, logit_scale, args.out)
        from make_reference import write_reference
        write_reference(model, tenc, text, spec, args.out)
        timings["export"] = time.time() - t
        with open(os.path.join(args.out, "training_report.json"), "w") as f:
            json.dump({"timings_s": timings, "total_s": time.time() - T0, "eval": ev, "eval_augmented": ev_aug,
                       "args": vars(args), "torch": torch.__version__, "threads": args.threads}, f, indent=2)
            f.write("\n")
        from model_card import write_model_card
        write_model_card(args.out)
    log("timings", json.dumps(timings), "total", f"{time.time() - T0:.0f}s")


def save_tuned(model, tenc, logit_scale, path):
    """The state after stage 2's tuned phase: weights and the gradients left in them (zeroed or stale,
    they still decide what a later AdamW does with a parameter that gets no new gradient), so that a
    --resume-tuned run continues bit for bit as the whole run does."""
    def state(m):
        return {"weights": {k: v.detach().cpu().clone() for k, v in m.state_dict().items()},
                "grads": {n: p.grad.detach().cpu().clone() for n, p in m.named_parameters() if p.grad is not None}}
    torch.save({"model": state(model), "tenc": state(tenc), "logit_scale": logit_scale}, path)
    log("saved the tuned-phase state to", path)


def load_tuned(model, tenc, path):
    ck = torch.load(path, map_location=DEV)
    for m, st in ((model, ck["model"]), (tenc, ck["tenc"])):
        m.load_state_dict(st["weights"])
        for n, p in m.named_parameters():
            p.grad = st["grads"][n].to(DEV) if n in st["grads"] else None
    return ck["logit_scale"]


def export(model, tenc, tok, logit_scale, out):
    from tinyllava.export import export_onnx, write_configs
    model.eval()
    tenc.eval()
    zs = {"glimpse_zero_shot": {
        "text_encoder": "onnx/text_encoder.onnx",
        "logit_scale": round(logit_scale, 4),
        "max_length": ZS_MAX_LEN,
        "add_special_tokens": True,
        "pad_token_id": tok.pad_id,
        "padding_side": "right",
        "image_embeds_output": "image_embeds",
        "template": "{label}",
    }}
    write_configs(model, tok, out, extra_config=zs, name_or_path="glimpse/tiny-shapes")
    export_onnx(model, out, text_encoder=tenc, with_embeds=True)
    log("exported to", os.path.abspath(out))


if __name__ == "__main__":
    main()
