"""The text the BPE is trained on: every phrasing of the tiny-shapes scene spec, rendered through
the chat template, plus a little general chat text so common English words get merges too."""
from __future__ import annotations

import itertools
import json
import os

from .bpe import render_chat

SPEC_PATH = os.path.join(os.path.dirname(__file__), "..", "recipes", "tiny-shapes", "scene-spec.json")

GENERAL = [
    "Hello! How can I help you today?",
    "I can see an image with some shapes in it.",
    "What does this diagram show? It shows a few coloured shapes on a plain background.",
    "Please describe the picture in one sentence.",
    "Thank you. You are welcome.",
    "The answer is yes. The answer is no. I am not sure.",
    "What is in this image? What is this? Can you tell me more about it?",
    "A chat between a curious human and an artificial intelligence assistant.",
    "The assistant gives helpful, detailed, and polite answers to the human's questions.",
    "label: a photo of a red circle; a drawing of a blue square; shapes",
]


def load_spec(path=SPEC_PATH):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def article(word):
    return "an" if word[0] in "aeiou" else "a"


def task_corpus(spec):
    kinds = spec["kinds"]
    colours = list(spec["colours"].keys())
    plural = spec["plural"]
    numbers = spec["questions"]["count"]["numbers"]
    sides = list(spec["questions"]["position"]["sides"].values())
    q = spec["questions"]
    f = spec["followUps"]
    texts = list(GENERAL)
    for k, c in itertools.product(kinds, colours):
        texts.append(f"{article(c)} {c} {k}")
        texts.append(q["exists"]["q"].format(colour=c, kind=k))
        for s in sides:
            texts.append(q["position"]["a"].format(colour=c, kind=k, side=s))
    for k in kinds:
        texts.append(q["colour"]["q"].format(kind=k))
        texts.append(q["count"]["q"].format(plural=plural[k]))
        texts.append(f["existsThenColour"]["q1"].format(kind=k))
        texts.append(f["countThenCount"]["q2"].format(plural2=plural[k]))
    for c in colours:
        texts.append(q["shape"]["q"].format(colour=c))
    for s in sides:
        texts.append(q["position"]["q"].format(side=s))
        texts.append(f["positionThenColour"]["q2"].format(side2=s))
    texts.extend(numbers)
    texts.extend(["yes", "no", q["describe"]["q"], f["existsThenColour"]["q2"]])
    # a few full dialogues through the template, so "USER:", "ASSISTANT:" etc. get merges
    for k, c in zip(itertools.cycle(kinds), colours):
        msgs = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q["colour"]["q"].format(kind=k)}]},
            {"role": "assistant", "content": [{"type": "text", "text": c}]},
            {"role": "user", "content": [{"type": "text", "text": q["describe"]["q"]}]},
            {"role": "assistant", "content": [{"type": "text", "text": f"{article(c)} {c} {k}, a red circle and an orange star."}]},
        ]
        texts.append(render_chat(msgs, add_generation_prompt=True))
    return texts
