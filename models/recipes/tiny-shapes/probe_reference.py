"""Does a checkpoint resolve "it"? On scenes of two or more shapes with a kind that occurs once
(seed 4242, never a training seed), "What colour is it?" is asked after the shape was named in
different ways, and — as the control — the colour is asked with the kind named in the same turn.
If the model resolved "it", every row would be near the control; if it answered from the image
alone, the rows would agree with each other (the same wrong colours) whatever came before.

    /usr/bin/python3 models/recipes/tiny-shapes/probe_reference.py /tmp/run17b/ck.pt [--scenes 200]

Prints, per row: cases, right, and the share answered with another shape's colour. Greedy decoding
in float32 (train.py's generate), the true answers in the history.
"""
import argparse
import os
import random
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import train as T  # noqa: E402

PROBE_SEED = 4242


def rows_for(spec, kind, colour):
    """The dialogues asked about the shape of `kind` (its colour `colour`): name → turns, None = to answer."""
    return {
        "control: What colour is the K? (turn 1)": [(f"What colour is the {kind}?", None)],
        "control: Is there a K? / What colour is the K?": [(f"Is there a {kind}?", "yes"),
                                                             (f"What colour is the {kind}?", None)],
        "Is there a K? / What colour is it? (issue #4's follow-up)": [(f"Is there a {kind}?", "yes"),
                                                                      ("What colour is it?", None)],
        "Is there a {colour} K? / What colour is it?": [(f"Is there a {colour} {kind}?", "yes"),
                                                        ("What colour is it?", None)],
        "How many Ks? / What colour is it?": [(f"How many {spec['plural'][kind]} are there?", "one"),
                                              ("What colour is it?", None)],
        "What colour is the K? / What colour is it?": [(f"What colour is the {kind}?", colour),
                                                       ("What colour is it?", None)],
    }


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ckpt")
    ap.add_argument("--scenes", type=int, default=200)
    args = ap.parse_args()
    _, spec, _, model, _, text = T.load_checkpoint(args.ckpt)
    model.eval()
    scs, imgs = T.make_pool(PROBE_SEED, args.scenes, aug=False, workers=1)
    rng = random.Random(1)
    items = []
    for i, sc in enumerate(scs):
        kinds = sorted(k for k in {s["kind"] for s in sc["shapes"]} if sum(s["kind"] == k for s in sc["shapes"]) == 1)
        if not kinds or len(sc["shapes"]) < 2:
            continue
        kind = rng.choice(kinds)
        colour = next(s["colour"] for s in sc["shapes"] if s["kind"] == kind)
        others = {s["colour"] for s in sc["shapes"] if s["kind"] != kind} - {colour}
        for name, turns in rows_for(spec, kind, colour).items():
            items.append((i, name, turns, colour, others))
    tally = {}
    for b in range(0, len(items), 64):
        chunk = items[b:b + 64]
        feats = model.image_features(T.to_pixels(imgs[[c[0] for c in chunk]]))
        outs = T.generate(model, text, [text.prompt(c[2]) for c in chunk], feats)
        for (_, name, _, colour, others), got in zip(chunk, outs):
            got = T.norm_answer(got)
            n, right, other = tally.get(name, (0, 0, 0))
            tally[name] = (n + 1, right + (got == colour), other + (got in others))
    for name, (n, right, other) in tally.items():
        print(f"{name:60s} {n:4d} cases  right {100 * right / n:5.1f} %  another shape's colour {100 * other / n:5.1f} %")


if __name__ == "__main__":
    main()
