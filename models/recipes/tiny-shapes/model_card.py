"""The model card (README.md) of an exported tiny-shapes directory, written from its
training_report.json — by train.py after every export, or on its own:

    /usr/bin/python3 models/recipes/tiny-shapes/model_card.py models/tiny-shapes
"""
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
    v, txt = config["vision_config"], config["text_config"]
    colours, kinds = list(spec["colours"].keys()), spec["kinds"]
    steps = (f"stage 0 {a['steps0']}, LM {a['steps_lm']}, stage 1 {a['steps1']}, stage 2 {a['steps2']} tuned "
             f"+ {a['steps2_frozen']} frozen, zero-shot head {a['steps_zs']}")
    rows = [("Q&A exact, colour/shape/count/position", "qa_exact_colour_shape_count_position"),
            ("captions naming every shape and colour", "captions_complete"),
            ("zero-shot top-1 among 8 labels", "zero_shot_top1_of_8"),
            ("follow-ups (second answer)", "followups")]
    table = "\n".join(f"| {name} | {_pct(ev[key])} | {_pct(report['eval_augmented'][key])} |" for name, key in rows)
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
optional labels, arrows and outlines. Questions in the training phrasing: "What colour is the
star?", "Which shape is on the left?", "How many circles are there?", "Is there a hexagon?",
"Describe the image.", and follow-ups that refer back ("And what colour is it?"). Zero-shot labels
of the form "a {{colour}} {{kind}}" (`glimpse label`).

## What it cannot do

Anything else. Its vocabulary is the task's (a 512-token BPE trained on the task text); a photo,
a real diagram or another colour word gets an answer in the same small language — a description
of shapes that are not there. It is a demonstration of the pipeline, not a general assistant:
point `GLIMPSE_MODEL_DIR` at a real LLaVA export for that.

## How it was made

One command, `models/recipes/tiny-shapes/train.py` in the Glimpse repository
(`models/README.md` there explains every stage and run): {steps} steps, {report['total_s'] / 60:.1f} min
on {report['threads']} CPU threads (torch {report['torch']}, `--bf16 {a['bf16']}`); by stage:
{', '.join(f'{k} {v:.0f} s' for k, v in t.items())}. The exact arguments are in `training_report.json`.

## Evaluation

train.py's own check on held-out seeds ({ev['scenes']} scenes plain, {report['eval_augmented']['scenes']}
augmented; rendered by the Python renderer):

| metric | plain | augmented |
| --- | ---: | ---: |
{table}

Glimpse's acceptance figures come from `npm run eval` in the Glimpse repository: held-out scenes
drawn by the TypeScript side (SVG through sharp) and answered through the real ONNX pipeline.

## License

MIT, as Glimpse.
"""


def write_model_card(out):
    def read(name):
        with open(os.path.join(out, name)) as f:
            return json.load(f)
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(model_card(read("training_report.json"), read("config.json"), S.load_spec()))


if __name__ == "__main__":
    write_model_card(sys.argv[1])
