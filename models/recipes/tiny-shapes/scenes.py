"""tiny-shapes scenes: a seeded generator, an anti-aliased renderer, and the questions, captions
and two-turn dialogues, all exactly as scene-spec.json says.

The held-out evaluation draws its scenes in TypeScript and renders SVG with sharp/librsvg; the
geometry here follows the same conventions (shape boxes, star/hexagon/diamond proportions,
outlines as a stroke of width outlineWidth inside the box, 11 px DejaVu labels, 1.6 px arrows)
and is supersampled then downscaled like an anti-aliased rasteriser. Augmentation (random
supersampling factor and downscale filter, slight proportions, sub-pixel offsets, mild noise and
blur) makes the model robust to the change of renderer.
"""
from __future__ import annotations

import json
import math
import os
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC_PATH = os.path.join(HERE, "scene-spec.json")
FONT_PATHS = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
              "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"]
BORDER = 2
LABEL_FONT = 11
SIDES = ["left", "right", "top", "bottom"]


def load_spec(path=SPEC_PATH):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------------------------------------
# scenes

def _box(s):
    h = s["size"] / 2
    return (s["cx"] - h, s["cy"] - h, s["cx"] + h, s["cy"] + h)


def _overlaps(a, b, gap):
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def _inside(b, size):
    return b[0] >= 0 and b[1] >= 0 and b[2] <= size and b[3] <= size


def _label_box(lb):
    w = lb["fontSize"] * 0.7 * len(lb["text"])
    return (lb["x"], lb["y"], lb["x"] + w, lb["y"] + lb["fontSize"])


def _seg_hits(a, b):
    for i in range(21):
        t = i / 20
        x = a["x1"] + (a["x2"] - a["x1"]) * t
        y = a["y1"] + (a["y2"] - a["y1"]) * t
        if b[0] <= x <= b[2] and b[1] <= y <= b[3]:
            return True
    return False


def generate_scene(spec, seed, index, shape_count=None):
    rng = random.Random(f"tiny-shapes:{seed}:{index}")
    size = spec["imageSize"]
    colours = list(spec["colours"].keys())
    n = shape_count or rng.randint(spec["shapeCount"]["min"], spec["shapeCount"]["max"])
    shapes = None
    for _ in range(200):
        shapes = []
        for _k in range(n):
            sz = rng.randint(spec["shapeSize"]["min"], spec["shapeSize"]["max"])
            h = sz / 2
            placed = None
            for _a in range(100):
                cx = rng.randint(math.ceil(h + BORDER), math.floor(size - h - BORDER))
                cy = rng.randint(math.ceil(h + BORDER), math.floor(size - h - BORDER))
                b = (cx - h, cy - h, cx + h, cy + h)
                if all(not _overlaps(b, _box(o), spec["minGap"]) for o in shapes):
                    placed = (cx, cy)
                    break
            if placed is None:
                shapes = None
                break
            colour = rng.choice(colours)
            j = spec["colourJitter"]
            rgb = [min(255, max(0, c + rng.randint(-j, j))) for c in spec["colours"][colour]]
            shapes.append({"kind": rng.choice(spec["kinds"]), "colour": colour, "rgb": rgb, "size": sz,
                           "cx": placed[0], "cy": placed[1],
                           "outlined": rng.random() < spec["diagram"]["outlineProbability"]})
        if shapes is not None:
            break
    d = spec["diagram"]
    # labels
    unused = list(d["labels"])
    rng.shuffle(unused)
    taken = [_box(s) for s in shapes]
    for si, s in enumerate(shapes):
        if rng.random() >= d["labelProbability"] or not unused:
            continue
        text = unused[0]
        w = LABEL_FONT * 0.7 * len(text)
        b = _box(s)
        spots = [(b[2] + 2, s["cy"] - LABEL_FONT / 2), (b[0] - 2 - w, s["cy"] - LABEL_FONT / 2),
                 (s["cx"] - w / 2, b[3] + 2), (s["cx"] - w / 2, b[1] - 2 - LABEL_FONT)]
        for x, y in spots:
            lb = {"text": text, "x": round(x), "y": round(y), "fontSize": LABEL_FONT}
            lbb = _label_box(lb)
            others = [t for i, t in enumerate(taken) if i != si]
            if _inside(lbb, size) and all(not _overlaps(lbb, o, 1) for o in others):
                s["label"] = lb
                taken.append(lbb)
                unused.pop(0)
                break
    arrows = []
    if rng.random() < d["arrowProbability"]:
        target = rng.choice(shapes)
        obstacles = [_box(s) for s in shapes if s is not target] + \
                    [_label_box(s["label"]) for s in shapes if "label" in s]
        for _ in range(40):
            ang = rng.random() * math.pi * 2
            length = rng.randint(14, 26)
            dx, dy = math.cos(ang), math.sin(ang)
            reach = target["size"] / 2 + 3
            a = {"x2": round(target["cx"] + dx * reach), "y2": round(target["cy"] + dy * reach),
                 "x1": round(target["cx"] + dx * (reach + length)), "y1": round(target["cy"] + dy * (reach + length))}
            if any(v < BORDER or v > size - BORDER for v in a.values()):
                continue
            if any(_seg_hits(a, (o[0] - 2, o[1] - 2, o[2] + 2, o[3] + 2)) for o in obstacles):
                continue
            arrows.append(a)
            break
    bg = rng.choice(list(spec["backgrounds"].keys()))
    return {"index": index, "imageSize": size, "background": bg, "backgroundRgb": spec["backgrounds"][bg],
            "shapes": shapes, "arrows": arrows}


# ---------------------------------------------------------------------------------------------
# rendering

def _regular(cx, cy, r, n, start_deg):
    return [(cx + r * math.cos(math.radians(start_deg + 360 / n * i)),
             cy + r * math.sin(math.radians(start_deg + 360 / n * i))) for i in range(n)]


def shape_polygon(kind, cx, cy, r, p):
    """Vertices of a shape (None for a circle); p: proportions (augmentable)."""
    if kind == "square":
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if kind == "triangle":
        return [(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if kind == "diamond":
        w = p["diamond"]
        return [(cx, cy - r), (cx + r * w, cy), (cx, cy + r), (cx - r * w, cy)]
    if kind == "hexagon":
        return _regular(cx, cy, r, 6, p["hexStart"])
    if kind == "star":
        off = r * 0.095
        outer = _regular(cx, cy + off, r, 5, -90)
        inner = _regular(cx, cy + off, r * p["starInner"], 5, -54)
        return [pt for pair in zip(outer, inner) for pt in pair]
    return None


def _signed_area(pts):
    return sum(pts[i][0] * pts[(i + 1) % len(pts)][1] - pts[(i + 1) % len(pts)][0] * pts[i][1]
               for i in range(len(pts))) / 2


def offset_polygon(pts, d):
    """Miter offset of a simple polygon by d (outwards if d > 0)."""
    n = len(pts)
    sign = 1 if _signed_area(pts) > 0 else -1  # image coords: y down
    normals = []
    for i in range(n):
        (x0, y0), (x1, y1) = pts[i], pts[(i + 1) % n]
        ex, ey = x1 - x0, y1 - y0
        ln = math.hypot(ex, ey) or 1.0
        # outward normal for the orientation
        normals.append((sign * ey / ln, -sign * ex / ln))
    out = []
    for i in range(n):
        n1, n2 = normals[i - 1], normals[i]
        dot = n1[0] * n2[0] + n1[1] * n2[1]
        k = d / max(1 + dot, 0.05)
        out.append((pts[i][0] + (n1[0] + n2[0]) * k, pts[i][1] + (n1[1] + n2[1]) * k))
    return out


def render(spec, scene, aug_rng=None, ss=None):
    """RGB uint8 array [size, size, 3]. aug_rng: random.Random for augmentation, None = plain."""
    size = scene["imageSize"]
    a = aug_rng
    ss = ss or (a.choice([3, 4, 4, 5]) if a else 4)
    p = {"diamond": 0.8, "hexStart": 0.0, "starInner": 0.45}
    dx = dy = 0.0
    if a:
        p = {"diamond": a.uniform(0.74, 0.86), "hexStart": a.choice([0.0, 0.0, 0.0, 30.0]),
             "starInner": a.uniform(0.40, 0.50)}
        dx, dy = a.uniform(-0.5, 0.5), a.uniform(-0.5, 0.5)
    bg = tuple(scene["backgroundRgb"])
    if a and a.random() < 0.3:
        bg = tuple(min(255, max(0, c + a.randint(-6, 6))) for c in bg)
    S = size * ss
    img = Image.new("RGB", (S, S), bg)
    dr = ImageDraw.Draw(img)
    ow = spec["diagram"]["outlineWidth"]

    def sc(pts):
        return [((x + dx) * ss, (y + dy) * ss) for x, y in pts]

    for s in scene["shapes"]:
        col = tuple(s["rgb"])
        r = s["size"] / 2
        cx, cy = s["cx"], s["cy"]
        if s["kind"] == "circle":
            if s["outlined"]:
                rr = [r, r - ow]
                cols = [col, bg]
            else:
                rr, cols = [r], [col]
            for radius, c in zip(rr, cols):
                dr.ellipse([(cx - radius + dx) * ss, (cy - radius + dy) * ss,
                            (cx + radius + dx) * ss, (cy + radius + dy) * ss], fill=c)
            continue
        if s["outlined"]:
            base = shape_polygon(s["kind"], cx, cy, r - ow / 2, p)
            dr.polygon(sc(offset_polygon(base, ow / 2)), fill=col)
            dr.polygon(sc(offset_polygon(base, -ow / 2)), fill=bg)
        else:
            dr.polygon(sc(shape_polygon(s["kind"], cx, cy, r, p)), fill=col)
    label_col = tuple(spec["diagram"]["labelColour"])
    font = _font(LABEL_FONT * ss)
    for s in scene["shapes"]:
        lb = s.get("label")
        if lb:
            dr.text(((lb["x"] + dx) * ss, (lb["y"] + lb["fontSize"] * 0.85 + dy) * ss), lb["text"], fill=label_col,
                    font=font, anchor="ls")
    arrow_col = tuple(spec["diagram"]["arrowColour"])
    for ar in scene["arrows"]:
        ang = math.atan2(ar["y2"] - ar["y1"], ar["x2"] - ar["x1"])
        end = (ar["x2"] - 4 * math.cos(ang), ar["y2"] - 4 * math.sin(ang))
        dr.line(sc([(ar["x1"], ar["y1"]), end]), fill=arrow_col, width=max(1, round(1.6 * ss)))
        head = 6
        pts = [(ar["x2"], ar["y2"])] + [(ar["x2"] - head * math.cos(ang + sd * 0.45),
                                          ar["y2"] - head * math.sin(ang + sd * 0.45)) for sd in (1, -1)]
        dr.polygon(sc(pts), fill=arrow_col)
    filt = Image.BOX
    if a:
        filt = a.choice([Image.BOX, Image.BOX, Image.BILINEAR, Image.LANCZOS])
    img = img.resize((size, size), filt)
    if a and a.random() < 0.2:
        img = img.filter(ImageFilter.GaussianBlur(a.uniform(0.2, 0.6)))
    arr = np.asarray(img, dtype=np.uint8)
    if a and a.random() < 0.5:
        nrng = np.random.default_rng(a.randint(0, 2 ** 31))
        arr = np.clip(arr.astype(np.float32) + nrng.normal(0, a.uniform(0.5, 2.5), arr.shape), 0, 255).astype(np.uint8)
    return arr


_FONTS = {}


def _font(px):
    if px not in _FONTS:
        f = None
        for path in FONT_PATHS:
            if os.path.exists(path):
                f = ImageFont.truetype(path, px)
                break
        _FONTS[px] = f or ImageFont.load_default()
    return _FONTS[px]


# ---------------------------------------------------------------------------------------------
# text

def article(colour):
    return "an" if colour[0] in "aeiou" else "a"


def phrase(colour, kind):
    return f"{article(colour)} {colour} {kind}"


def join_list(items):
    if len(items) <= 1:
        return items[0] if items else ""
    return ", ".join(items[:-1]) + " and " + items[-1]


def describe(spec, scene):
    ordered = sorted(scene["shapes"], key=lambda s: s["cx"])
    return spec["questions"]["describe"]["a"].format(list=join_list([phrase(s["colour"], s["kind"]) for s in ordered]))


def extreme(spec, scene, side):
    key = {"left": lambda s: -s["cx"], "right": lambda s: s["cx"],
           "top": lambda s: -s["cy"], "bottom": lambda s: s["cy"]}[side]
    ordered = sorted(scene["shapes"], key=key, reverse=True)
    if len(ordered) > 1 and key(ordered[0]) - key(ordered[1]) < spec["positionMargin"]:
        return None
    return ordered[0]


def _count(scene, kind):
    return sum(1 for s in scene["shapes"] if s["kind"] == kind)


def _unique(scene, attr):
    vals = []
    for s in scene["shapes"]:
        if s[attr] not in vals:
            vals.append(s[attr])
    return [v for v in vals if sum(1 for s in scene["shapes"] if s[attr] == v) == 1]


def _count_kind(spec, scene, rng, except_=None):
    present = []
    for s in scene["shapes"]:
        if s["kind"] != except_ and s["kind"] not in present:
            present.append(s["kind"])
    if present and rng.random() < 0.7:
        return rng.choice(present)
    return rng.choice([k for k in spec["kinds"] if k != except_])


def number(spec, n):
    return spec["questions"]["count"]["numbers"][n]


def all_questions(spec, scene, rng):
    """Every question type whose `when` rule the scene meets: [(type, q, a)]."""
    q = spec["questions"]
    out = []
    kinds = _unique(scene, "kind")
    if kinds:
        k = rng.choice(kinds)
        s = next(s for s in scene["shapes"] if s["kind"] == k)
        out.append(("colour", q["colour"]["q"].format(kind=k), q["colour"]["a"].format(colour=s["colour"])))
    cols = _unique(scene, "colour")
    if cols:
        c = rng.choice(cols)
        s = next(s for s in scene["shapes"] if s["colour"] == c)
        out.append(("shape", q["shape"]["q"].format(colour=c), q["shape"]["a"].format(kind=s["kind"])))
    clear = [sd for sd in SIDES if extreme(spec, scene, sd) is not None]
    if clear:
        sd = rng.choice(clear)
        s = extreme(spec, scene, sd)
        out.append(("position", q["position"]["q"].format(side=q["position"]["sides"][sd]),
                    q["position"]["a"].format(colour=s["colour"], kind=s["kind"])))
    k = _count_kind(spec, scene, rng)
    out.append(("count", q["count"]["q"].format(plural=spec["plural"][k]), q["count"]["a"].format(number=number(spec, _count(scene, k)))))
    present = {(s["colour"], s["kind"]) for s in scene["shapes"]}
    if rng.random() < 0.5:
        s = rng.choice(scene["shapes"])
        c, k = s["colour"], s["kind"]
    else:
        absent = [(c, k) for c in spec["colours"] for k in spec["kinds"] if (c, k) not in present]
        # hard negatives half of the time: same colour or same kind as a present shape
        if rng.random() < 0.5:
            s = rng.choice(scene["shapes"])
            hard = [(c, k) for (c, k) in absent if c == s["colour"] or k == s["kind"]]
            absent = hard or absent
        c, k = rng.choice(absent)
    out.append(("exists", q["exists"]["q"].format(colour=c, kind=k), q["exists"]["a"].format(yesno="yes" if (c, k) in present else "no")))
    out.append(("describe", q["describe"]["q"], describe(spec, scene)))
    return out


def follow_ups(spec, scene, rng):
    """Every follow-up dialogue the scene allows: [(type, q1, a1, q2, a2)]."""
    f = spec["followUps"]
    out = []
    kinds = _unique(scene, "kind")
    if kinds:
        k = rng.choice(kinds)
        s = next(s for s in scene["shapes"] if s["kind"] == k)
        t = f["existsThenColour"]
        out.append(("existsThenColour", t["q1"].format(kind=k), t["a1"], t["q2"], t["a2"].format(colour=s["colour"])))
    k = _count_kind(spec, scene, rng)
    k2 = _count_kind(spec, scene, rng, k)
    t = f["countThenCount"]
    out.append(("countThenCount", t["q1"].format(plural=spec["plural"][k]), t["a1"].format(number=number(spec, _count(scene, k))),
                t["q2"].format(plural2=spec["plural"][k2]), t["a2"].format(number2=number(spec, _count(scene, k2)))))
    clear = [sd for sd in SIDES if extreme(spec, scene, sd) is not None]
    if len(clear) >= 2:
        sd, sd2 = rng.sample(clear, 2)
        a, b = extreme(spec, scene, sd), extreme(spec, scene, sd2)
        t = f["positionThenColour"]
        sides = spec["questions"]["position"]["sides"]
        out.append(("positionThenColour", t["q1"].format(side=sides[sd]), t["a1"].format(colour=a["colour"], kind=a["kind"]),
                    t["q2"].format(side2=sides[sd2]), t["a2"].format(colour2=b["colour"], kind2=b["kind"])))
    return out


def largest(scene):
    best = scene["shapes"][0]
    for s in scene["shapes"][1:]:
        if s["size"] > best["size"]:
            best = s
    return best


def zero_shot_case(spec, scene, rng, n=8):
    """8 labels: the largest shape and 7 absent pairs (hard negatives first), like the TS eval."""
    t = largest(scene)
    present = {(s["colour"], s["kind"]) for s in scene["shapes"]}
    same_c = [(t["colour"], k) for k in spec["kinds"] if (t["colour"], k) not in present]
    same_k = [(c, t["kind"]) for c in spec["colours"] if (c, t["kind"]) not in present]
    rng.shuffle(same_c)
    rng.shuffle(same_k)
    chosen = []
    while len(chosen) < min(n - 2, 6) and (same_c or same_k):
        use_c = (len(chosen) % 2 == 0 and same_c) or not same_k
        pair = same_c.pop(0) if use_c else same_k.pop(0)
        if pair not in chosen:
            chosen.append(pair)
    others = [(c, k) for c in spec["colours"] for k in spec["kinds"] if (c, k) not in present and (c, k) not in chosen]
    rng.shuffle(others)
    chosen += others[: n - 1 - len(chosen)]
    labels = [phrase(t["colour"], t["kind"])] + [phrase(c, k) for c, k in chosen]
    return labels, 0
