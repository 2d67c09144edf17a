"""The model card (README.md) of an exported tiny-shapes directory, written from its
training_report.json — by train.py after every export, or on its own:

    /usr/bin/python3 models/recipes/tiny-shapes/model_card.py models/tiny-shapes

`--glimpse-eval a.json [b.json …]` (the output of `npm run eval -- --model DIR --json`, one per
seed) first stores those runs' rows in training_report.json (`glimpse_eval`), and the card shows them.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import scenes as S  # noqa: E402


def _pct(x):
    return f"{100 * x:.1f} %"


def model_card(report, config, spec):
    """Markdown for the directory's README.md: what the model is (from its config.json), how it was
    made, how well it answered in train.py's own held-out check, and what it cannot do."""
    a, ev, t = report["args"], report["eval"], report["timings_s"]
    glimpse = glimpse_eval_table(report.get("glimpse_eval", []))
    v, txt = config["vision_config"], config["text_config"]
    colours, kinds = list(spec["colours"].keys()), spec["kinds"]
    steps = (f"stage 0 {a['steps0']}, LM {a['steps_lm']}, stage 1 {a['steps1']}, stage 2 {a['steps2']} tuned "
             f"+ {a['steps2_frozen']} frozen, zero-shot head {a['steps_zs']}")
    rows = [("Q&A exact, colour/shape/count/position", "qa_exact_colour_shape_count_position"),
            ("captions naming every shape and colour", "captions_complete"),
            ("zero-shot top-1 among 8 labels", "zero_shot_top1_of_8"),
            ("follow-ups (second answer)", "followups")]
    table = "\n".join(f"| {name} | {_pct(ev[key])} | {_pct(report['eval_augmented'][key])} |" for name, key in rows)
    conv = ev.get("conversation") or {}
    conv_rows = [("in-domain questions, trained phrasings", "phrasing_trained"),
                 ("in-domain questions, held-out phrasings", "phrasing_heldOut"),
                 ("dialogue turn 1 (true answers in the history)", "turn_1"),
                 ("dialogue turns 2–3", "turns_2_3"), ("dialogue turns 4–6", "turns_4_6"),
                 ("out of domain: the honest reply, trained questions", "ood_trained"),
                 ("out of domain: the honest reply, held-out questions", "ood_heldOut")]
    if conv:
        table += "\n" + "\n".join(f"| {name} | {_pct(conv[key])} | |" for name, key in conv_rows if key in conv)
    grammar = a.get("canon2", 1.0) < 1.0 and "conversation" in spec
    vocab = a.get("vocab", 512)
    if grammar:
        c = spec["conversation"]
        can = f"""Questions as people type them (issue #17): many phrasings of each intent — the colour of a
shape ("What color is the circle?", "circle colour?", "Can you tell me what colour the star is?"),
the shape of a colour, counts ("how many stars?"), positions ("Which shape is on the left side?",
"leftmost object?", "What's at the top?"), existence with or without a colour ("Is there a star?",
"Do you see a blue square in the image?"), and "what's in this picture?" / "what do you see?" for a
description — in either spelling of colour, any case, with or without the question mark,
politely or not. Conversations of up to {c['maxTurns']} turns that refer back: "Is there a star?" → "What
colour is it?" → "And the square?" → "How many of those?", "And on the right?". Answers are short:
a colour, a shape, a number word, "the red circle", yes/no, or the list of shapes left to right.
Zero-shot labels of the form "a {{colour}} {{kind}}" (`glimpse label`)."""
        cannot = f"""Anything but shapes, colours, counts and positions. Asked who made the picture, what its text or
labels say, about an animal, a person or the weather, it answers "{c['honestReply']}"
— trained on such questions, measured on ones it never saw (below). It cannot read the labels
A/B/1/2, name colours other than its eight (a grey shape does not exist for it: "no"), say where a
shape is except as the extreme on a side, or answer about a shape kind that appears twice ("What
colour is the circle?" with two circles). Its vocabulary is a {vocab}-token BPE trained on the task
text; a real photo still gets an answer in that small language, most likely shapes that are not
there: it only ever saw pictures of shapes. It is a demonstration of the pipeline, not a general
assistant: point `GLIMPSE_MODEL_DIR` at a real LLaVA export for that."""
    else:
        can = """Questions in the training phrasing: "What colour is the
star?", "Which shape is on the left?", "How many circles are there?", "Is there a hexagon?",
"Describe the image.", and follow-ups that refer back ("And what colour is it?"). Zero-shot labels
of the form "a {colour} {kind}" (`glimpse label`)."""
        cannot = f"""Anything else. Its vocabulary is the task's (a {vocab}-token BPE trained on the task text); a photo,
a real diagram or another colour word gets an answer in the same small language — a description
of shapes that are not there. It is a demonstration of the pipeline, not a general assistant:
point `GLIMPSE_MODEL_DIR` at a real LLaVA export for that."""
    return f"""---
license: mit
pipeline_tag: image-text-to-text
tags: [llava, onnx, synthetic, glimpse]
---

# tiny-shapes

A tiny LLaVA-style vision-language model (CLIP-style ViT → 2-layer projector → Llama-style
decoder, {v['hidden_size']}/{txt['hidden_size']} wide, {v['image_size']} px images, {config['image_seq_length']} image tokens) plus a CLIP text encoder for
zero-shot labels, trained from scratch on synthetic pictures of simple shapes. It is Glimpse's
embedded default model: it lets a fresh clone answer questions about images with no download and
no GPU. Files follow the standard LLaVA ONNX layout that transformers.js loads.

## What it can answer

Pictures of 1–5 shapes — {", ".join(kinds)} — in {", ".join(colours)}, on plain backgrounds, with
optional labels, arrows and outlines. {can}

## What it cannot do

{cannot}

## How it was made

One command, `models/recipes/tiny-shapes/train.py` in the Glimpse repository
(`models/README.md` there explains every stage and run): {steps} steps, {report['total_s'] / 60:.1f} min
on {report['threads']} CPU threads (torch {report['torch']}, `--bf16 {a['bf16']}`); by stage:
{', '.join(f'{k} {v:.0f} s' for k, v in t.items())}. The exact arguments are in `training_report.json`.

## Evaluation

train.py's own check on held-out seeds ({ev['scenes']} scenes plain, {report['eval_augmented']['scenes']}
augmented; rendered by the Python renderer; held-out phrasings are the spec's held-out split, never
trained):

| metric | plain | augmented |
| --- | ---: | ---: |
{table}

Glimpse's acceptance figures come from `npm run eval` in the Glimpse repository: held-out scenes
drawn by the TypeScript side (SVG through sharp) and answered through the real ONNX pipeline.
{glimpse}
## License

MIT, as Glimpse.
"""


def glimpse_eval_table(runs):
    """The TS evaluation's target rows, one column per recorded run (seed)."""
    if not runs:
        return ""
    head = " | ".join(f"seed {r['seed']}, {r['images']} images" for r in runs)
    lines = [f"| metric | {head} | target |", "| --- |" + " ---: |" * (len(runs) + 1)]
    for i, row in enumerate(runs[0]["rows"]):
        cells = " | ".join(f"{100 * r['rows'][i]['rate']:.1f} % ({r['rows'][i]['correct']}/{r['rows'][i]['total']})"
                           for r in runs)
        lines.append(f"| {row['name']} | {cells} | ≥ {100 * row['target']:.0f} % |")
    missed = [f"{row['name']} (seed {r['seed']})" for r in runs for row in r["rows"] if not row["pass"]]
    verdict = ("every target met" if not missed else "missed: " + "; ".join(missed))
    return f"""
Measured that way for this export ({verdict}):

{chr(10).join(lines)}
"""


def record_glimpse_eval(out, paths):
    """Keep the target rows of `npm run eval --json` outputs in the directory's training_report.json."""
    path = os.path.join(out, "training_report.json")
    with open(path) as f:
        report = json.load(f)
    runs = []
    for p in paths:
        with open(p) as f:
            j = json.load(f)
        runs.append({"seed": j["result"]["seed"], "images": j["result"]["images"],
                     "rows": [r for r in j["rows"] if "target" in r]})
    report["glimpse_eval"] = runs
    with open(path, "w") as f:
        json.dump(report, f, indent=2)


def write_model_card(out):
    def read(name):
        with open(os.path.join(out, name)) as f:
            return json.load(f)
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(model_card(read("training_report.json"), read("config.json"), S.load_spec()))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="an exported tiny-shapes directory (with training_report.json)")
    ap.add_argument("--glimpse-eval", nargs="+", default=[], metavar="JSON",
                    help="`npm run eval -- --model DIR --json` outputs, one per seed, to store and show")
    args = ap.parse_args()
    if args.glimpse_eval:
        record_glimpse_eval(args.dir, args.glimpse_eval)
    write_model_card(args.dir)
