"""Issue #17's phrasing grammar and dialogues (scene-spec.json → "conversation"), the Python twin of
src/eval/phrasing-grammar.ts and src/eval/conversation-questions.ts.

A template's <wordClass> references expand to every value of the class (the last class varies
fastest), {slot}s are filled from the scene ({a}: "a"/"an" for the next word), and a surface
(politeness, end mark, case) is applied last. Every part is trained or held out; a question is
held out when any part is. The trainer calls everything here with split="trained" only: held-out
templates, words, side phrases, nouns and the prefix+suffix surface never reach training (nor the
BPE corpus). The evaluation (TypeScript, and train.py's quick Python check) asks held-out ones.

    /usr/bin/python3 models/recipes/tiny-shapes/phrasings.py --catalog   # the grammar as JSON
    /usr/bin/python3 models/recipes/tiny-shapes/phrasings.py --sample 5  # a few training dialogues

The catalog equals TypeScript's phrasingCatalog() (test/eval/phrasing-catalog.test.ts compares it
with test/fixtures/tiny-shapes-phrasing-catalog.json, which this command writes).
"""
from __future__ import annotations

import json
import re

import scenes as S

INTENTS = ["colour", "shape", "position", "count", "exists", "existsKind", "describe", "outOfDomain"]
FRESH = INTENTS[:-1]
FOLLOW_UPS = ["itColour", "andKind", "andPlural", "andSide", "andColourOne", "andExists", "andExistsKind",
              "howManyOfThose"]
SIDES = ["left", "right", "top", "bottom"]


def intent_spec(spec, name):
    c = spec["conversation"]
    return c["intents"].get(name) or c["followUps"][name]


def _text(entry):
    return entry if isinstance(entry, str) else entry["t"]


def _reason(entry):
    return None if isinstance(entry, str) else entry["heldOut"]


def _classes(text):
    out = []
    for m in re.finditer(r"<(\w+)>", text):
        if m.group(1) not in out:
            out.append(m.group(1))
    return out


def expand_template(spec, d, index):
    """Every expansion of one template: [(template index, text, held-out reasons)]."""
    entry = d["templates"][index]
    out = [(_text(entry), [_reason(entry)] if _reason(entry) else [])]
    for word in _classes(_text(entry)):
        nxt = []
        for text, reasons in out:
            for value in spec["conversation"]["words"][word]:
                r = d.get("heldOutWords", {}).get(word, {}).get(value)
                nxt.append((text.replace(f"<{word}>", value), reasons + [r] if r else reasons))
        out = nxt
    return [(index, t, r) for t, r in out]


_CACHE = {}


def patterns(spec, name):
    key = (id(spec), name)
    if key not in _CACHE:
        d = intent_spec(spec, name)
        _CACHE[key] = [p for i in range(len(d["templates"])) for p in expand_template(spec, d, i)]
    return _CACHE[key]


def catalog(spec):
    c = spec["conversation"]
    out = {}
    for name in INTENTS + FOLLOW_UPS:
        ps = patterns(spec, name)
        out[name] = {"trained": [t for _, t, r in ps if not r], "heldOut": [t for _, t, r in ps if r]}
    out["sides:where"] = {"trained": [w for s in SIDES for w in c["sidePhrases"][s]["where"]],
                          "heldOut": list(c["sidePhrases"]["heldOut"])}
    out["sides:most"] = {"trained": [w for s in SIDES for w in c["sidePhrases"][s]["most"]], "heldOut": []}
    out["nouns"] = {"trained": list(c["nouns"]["values"]), "heldOut": list(c["nouns"]["heldOut"])}
    return out


def held_out_where(spec, side):
    return [p for p in spec["conversation"]["sidePhrases"]["heldOut"] if side in re.split(r"\W+", p)]


def article_for(word):
    return "an" if word[:1].lower() in "aeiou" and word[:1] else "a"


def fill_slots(text, values):
    def sub(m):
        name = m.group(1)
        if name == "a":
            return m.group(0)
        if name not in values:
            raise KeyError(f"pattern '{text}' needs {{{name}}}")
        return values[name]
    filled = re.sub(r"\{(\w+)\}", sub, text)
    return re.sub(r"\{a\} (\S+)", lambda m: f"{article_for(m.group(1))} {m.group(1)}", filled)


def apply_surface(spec, text, surface):
    s = spec["conversation"]["surface"]
    m = re.match(r"^(.*?)([?.!]*)$", text, re.S)
    body, end = m.group(1), m.group(2)
    if surface["end"] == "drop":
        end = ""
    elif surface["end"] == "double" and end == "?":
        end = "??"
    suffix = s["suffixes"][surface["suffix"]] if surface.get("suffix") is not None else None
    if suffix and suffix["beforeEnd"]:
        out = body + suffix["text"] + end
    else:
        out = body + end + (suffix["text"] if suffix else "")
    if surface.get("prefix") is not None:
        prefix = s["prefixes"][surface["prefix"]]
        out = prefix["text"] + ((out[:1].lower() + out[1:]) if prefix["lowerNext"] else out)
    if surface["case"] == "lower":
        return out.lower()
    if surface["case"] == "upper":
        return out.upper()
    return out


def _weighted(rng, weights):
    keys = list(weights)
    r = rng.random() * sum(weights.values())
    for k in keys:
        r -= weights[k]
        if r < 0:
            return k
    return keys[-1]


def sample_surface(spec, rng, held_out=False):
    s = spec["conversation"]["surface"]
    surface = {"end": _weighted(rng, s["end"]), "case": _weighted(rng, s["case"])}
    politeness = "both" if held_out else _weighted(rng, s["politeness"])
    if politeness in ("prefix", "both"):
        surface["prefix"] = rng.randrange(len(s["prefixes"]))
    if politeness in ("suffix", "both"):
        surface["suffix"] = rng.randrange(len(s["suffixes"]))
    return surface


def _phrase_slots(spec, values, side, rng):
    c = spec["conversation"]
    v = dict(values)
    if side:
        v.setdefault("where", rng.choice(c["sidePhrases"][side]["where"]))
        v.setdefault("most", rng.choice(c["sidePhrases"][side]["most"]))
        v.setdefault("side", side)
    v.setdefault("noun", rng.choice(c["nouns"]["values"]))
    v.setdefault("honest", c["honestReply"])
    return v


def _trained_pattern(spec, name, rng, keep=lambda t: True):
    ps = [p for p in patterns(spec, name) if not p[2] and keep(p[1])]
    templates = sorted({p[0] for p in ps})
    t = rng.choice(templates)
    return rng.choice([p for p in ps if p[0] == t])


def phrase_question(spec, name, values, side, rng, split="trained"):
    """(question, held-out reasons) for intent `name`. split="trained": trained parts only."""
    if split == "trained":
        _, text, _ = _trained_pattern(spec, name, rng)
        q = fill_slots(text, _phrase_slots(spec, values, side, rng))
        return apply_surface(spec, q, sample_surface(spec, rng)), []
    d = intent_spec(spec, name)
    c = spec["conversation"]
    trained_texts = [_text(e) for e in d["templates"] if isinstance(e, str)]
    items = [("template", i, _reason(e)) for i, e in enumerate(d["templates"]) if _reason(e)]
    for word, vals in d.get("heldOutWords", {}).items():
        if any(f"<{word}>" in t for t in trained_texts):
            items += [("word", (word, v), r) for v, r in vals.items()]
    if side and any("{where}" in t for t in trained_texts):
        items += [("where", p, c["sidePhrases"]["heldOut"][p]) for p in held_out_where(spec, side)]
    if any("{noun}" in t for t in trained_texts):
        items += [("noun", n, r) for n, r in c["nouns"]["heldOut"].items()]
    items.append(("surface", None, c["surface"]["heldOut"]["prefixAndSuffix"]))
    kind, arg, reason = rng.choice(items)
    extra, surface = {}, None
    if kind == "template":
        _, text, reasons = rng.choice([p for p in patterns(spec, name) if p[0] == arg])
    elif kind == "word":
        ps = [p for p in patterns(spec, name) if isinstance(d["templates"][p[0]], str)
              and f"<{arg[0]}>" in _text(d["templates"][p[0]]) and p[2] == [reason]]
        t = rng.choice(sorted({p[0] for p in ps}))
        _, text, reasons = rng.choice([p for p in ps if p[0] == t])
    else:
        key = {"where": "{where}", "noun": "{noun}"}.get(kind)
        _, text, _ = _trained_pattern(spec, name, rng, (lambda t: key in t) if key else (lambda t: True))
        reasons = [reason]
        if kind == "where":
            extra["where"] = arg
        elif kind == "noun":
            extra["noun"] = arg
        else:
            surface = sample_surface(spec, rng, True)
    q = fill_slots(text, _phrase_slots(spec, {**values, **extra}, side, rng))
    return apply_surface(spec, q, surface or sample_surface(spec, rng)), reasons


# ---------------------------------------------------------------------------------------------
# turns: (intent, question, answer, held-out reasons, subject)

def _count(sc, kind):
    return sum(1 for s in sc["shapes"] if s["kind"] == kind)


def _unique_kinds(sc):
    return S._unique(sc, "kind")


def _unique_colours(sc):
    return S._unique(sc, "colour")


def _clear(spec, sc):
    return [sd for sd in SIDES if S.extreme(spec, sc, sd) is not None]


def _exists_pair(spec, sc, rng, except_=None):
    present = {(s["colour"], s["kind"]) for s in sc["shapes"]}
    shapes = [s for s in sc["shapes"] if (s["colour"], s["kind"]) != except_]
    if shapes and rng.random() < 0.5:
        s = rng.choice(shapes)
        return s["colour"], s["kind"], True
    if rng.random() < 0.15:
        return rng.choice(spec["conversation"]["absentColours"]["values"]), rng.choice(spec["kinds"]), False
    absent = [(c, k) for c in spec["colours"] for k in spec["kinds"] if (c, k) not in present and (c, k) != except_]
    if rng.random() < 0.5:
        s = rng.choice(sc["shapes"])
        hard = [(c, k) for c, k in absent if c == s["colour"] or k == s["kind"]]
        absent = hard or absent
    c, k = rng.choice(absent)
    return c, k, False


def _exists_kind(spec, sc, rng, except_=None):
    present = [k for k in dict.fromkeys(s["kind"] for s in sc["shapes"]) if k != except_]
    absent = [k for k in spec["kinds"] if k != except_ and k not in present]
    if present and (not absent or rng.random() < 0.5):
        return rng.choice(present)
    return rng.choice(absent)


def _turn(spec, name, values, side, answer, subject, rng, split):
    q, reasons = phrase_question(spec, name, values, side, rng, split)
    return {"intent": name, "q": q, "a": answer, "heldOut": reasons, "subject": subject}


def fresh_turn(spec, sc, intent, rng, split="trained"):
    plural = spec["plural"]
    if intent == "colour":
        kinds = _unique_kinds(sc)
        if not kinds:
            return None
        k = rng.choice(kinds)
        s = next(s for s in sc["shapes"] if s["kind"] == k)
        return _turn(spec, intent, {"kind": k}, None, s["colour"], {"kind": k, "colour": s["colour"], "shape": s}, rng, split)
    if intent == "shape":
        cols = _unique_colours(sc)
        if not cols:
            return None
        c = rng.choice(cols)
        s = next(s for s in sc["shapes"] if s["colour"] == c)
        return _turn(spec, intent, {"colour": c}, None, s["kind"], {"colour": c, "kind": s["kind"]}, rng, split)
    if intent == "position":
        clear = _clear(spec, sc)
        if not clear:
            return None
        sd = rng.choice(clear)
        s = S.extreme(spec, sc, sd)
        return _turn(spec, intent, {}, sd, f"the {s['colour']} {s['kind']}",
                     {"side": sd, "shape": s, "kind": s["kind"], "colour": s["colour"]}, rng, split)
    if intent == "count":
        k = S._count_kind(spec, sc, rng)
        return _turn(spec, intent, {"kind": k, "plural": plural[k]}, None, S.number(spec, _count(sc, k)), {"kind": k},
                     rng, split)
    if intent == "exists":
        c, k, yes = _exists_pair(spec, sc, rng)
        return _turn(spec, intent, {"colour": c, "kind": k, "plural": plural[k]}, None, "yes" if yes else "no",
                     {"pair": (c, k)}, rng, split)
    if intent == "existsKind":
        k = _exists_kind(spec, sc, rng)
        n = _count(sc, k)
        subj = {"kind": k}
        if n == 1:
            subj["shape"] = next(s for s in sc["shapes"] if s["kind"] == k)
        return _turn(spec, intent, {"kind": k, "plural": plural[k]}, None, "yes" if n else "no", subj, rng, split)
    if intent == "describe":
        return _turn(spec, intent, {}, None, S.describe(spec, sc), {}, rng, split)
    if intent == "outOfDomain":
        return _turn(spec, intent, {}, None, spec["conversation"]["honestReply"], {}, rng, split)
    raise KeyError(intent)


def follow_ups_after(spec, sc, prev):
    out = []
    it, subj = prev["intent"], prev["subject"]
    if subj.get("shape") is not None and it in ("existsKind", "andExistsKind", "position", "andSide") and prev["a"] != "no":
        out.append("itColour")
    if it in ("colour", "itColour", "andKind") and subj.get("kind") and any(k != subj["kind"] for k in _unique_kinds(sc)):
        out.append("andKind")
    if it in ("count", "andPlural", "howManyOfThose") and subj.get("kind"):
        out.append("andPlural")
    if it in ("position", "andSide") and subj.get("side") and any(s != subj["side"] for s in _clear(spec, sc)):
        out.append("andSide")
    if it in ("shape", "andColourOne") and subj.get("colour") and any(c != subj["colour"] for c in _unique_colours(sc)):
        out.append("andColourOne")
    if it in ("exists", "andExists") and subj.get("pair"):
        out.append("andExists")
    if it in ("existsKind", "andExistsKind") and subj.get("kind"):
        out += ["andExistsKind", "howManyOfThose"]
    return out


def follow_up_turn(spec, sc, prev, name, rng, split="trained"):
    subj, plural = prev["subject"], spec["plural"]
    values, side = {}, None
    if name == "itColour":
        s = subj["shape"]
        answer, nxt = s["colour"], {"kind": s["kind"], "colour": s["colour"], "shape": s}
    elif name == "andKind":
        k = rng.choice([k for k in _unique_kinds(sc) if k != subj["kind"]])
        s = next(s for s in sc["shapes"] if s["kind"] == k)
        values, answer, nxt = {"kind": k}, s["colour"], {"kind": k, "colour": s["colour"], "shape": s}
    elif name == "andPlural":
        k = S._count_kind(spec, sc, rng, subj["kind"])
        values, answer, nxt = {"kind": k, "plural": plural[k]}, S.number(spec, _count(sc, k)), {"kind": k}
    elif name == "andSide":
        side = rng.choice([s for s in _clear(spec, sc) if s != subj["side"]])
        s = S.extreme(spec, sc, side)
        answer, nxt = f"the {s['colour']} {s['kind']}", {"side": side, "shape": s, "kind": s["kind"], "colour": s["colour"]}
    elif name == "andColourOne":
        c = rng.choice([c for c in _unique_colours(sc) if c != subj["colour"]])
        s = next(s for s in sc["shapes"] if s["colour"] == c)
        values, answer, nxt = {"colour": c}, s["kind"], {"colour": c, "kind": s["kind"]}
    elif name == "andExists":
        c, k, yes = _exists_pair(spec, sc, rng, subj["pair"])
        values, answer, nxt = {"colour": c, "kind": k, "plural": plural[k]}, "yes" if yes else "no", {"pair": (c, k)}
    elif name == "andExistsKind":
        k = _exists_kind(spec, sc, rng, subj["kind"])
        n = _count(sc, k)
        nxt = {"kind": k}
        if n == 1:
            nxt["shape"] = next(s for s in sc["shapes"] if s["kind"] == k)
        values, answer = {"kind": k, "plural": plural[k]}, "yes" if n else "no"
    elif name == "howManyOfThose":
        answer, nxt = S.number(spec, _count(sc, subj["kind"])), {"kind": subj["kind"]}
    else:
        raise KeyError(name)
    return _turn(spec, name, values, side, answer, nxt, rng, split)


def reference_dialogue(spec, sc, rng, before=0, canonical=False):
    """Training practice for "What colour is it?" when the answer before it does not name the colour
    (issue #17: run 17b answered it from the image alone, ~50 % right on scenes of several shapes,
    however the shape had been named — after "Is there a star?", "Is there a red star?" or "What
    colour is the star?"). `before` fresh trained-split turns, then a turn naming a kind the scene
    holds once — exists of that kind (70 %), exists with its colour (15 %), its count "one" (15 %),
    all answered without its colour — then an itColour follow-up about it. With `canonical`, the
    exists turn and the follow-up are the spec's `followUps.existsThenColour` wording. None when no
    kind occurs once. train.py --it2-p draws these (off by default: at 0.15, #17's run N, the model
    got worse at everything, "it" included — models/README.md)."""
    kinds = _unique_kinds(sc)
    if not kinds:
        return None
    k = rng.choice(kinds)
    s = next(s for s in sc["shapes"] if s["kind"] == k)
    out = sample_dialogue(spec, sc, rng, before) if before else []
    subject = {"kind": k, "colour": s["colour"], "shape": s}
    if canonical:
        t = spec["followUps"]["existsThenColour"]
        return out + [{"intent": "existsKind", "q": t["q1"].format(kind=k), "a": t["a1"], "heldOut": [], "subject": subject},
                      {"intent": "itColour", "q": t["q2"], "a": t["a2"].format(colour=s["colour"]), "heldOut": [],
                       "subject": subject}]
    r = rng.random()
    values = {"kind": k, "plural": spec["plural"][k]}
    if r < 0.7:
        first = _turn(spec, "existsKind", values, None, "yes", subject, rng, "trained")
    elif r < 0.85:
        first = _turn(spec, "exists", {**values, "colour": s["colour"]}, None, "yes", subject, rng, "trained")
    else:
        first = _turn(spec, "count", values, None, S.number(spec, 1), subject, rng, "trained")
    return out + [first, follow_up_turn(spec, sc, first, "itColour", rng)]


def sample_dialogue(spec, sc, rng, turns, held_out_p=0.0, follow_up_p=0.5, ood_p=0.08):
    """A dialogue of `turns` turns: fresh questions of every intent, follow-ups referring back to the
    turn before, out-of-domain turns. held_out_p is 0 in training (trained split only)."""
    out = []
    for _ in range(turns):
        split = "heldOut" if held_out_p > 0 and rng.random() < held_out_p else "trained"
        prev = out[-1] if out else None
        fus = follow_ups_after(spec, sc, prev) if prev else []
        if fus and rng.random() < follow_up_p:
            out.append(follow_up_turn(spec, sc, prev, rng.choice(fus), rng, split))
            continue
        if rng.random() < ood_p:
            out.append(fresh_turn(spec, sc, "outOfDomain", rng, split))
            continue
        order = list(FRESH)
        rng.shuffle(order)
        described = any(t["intent"] == "describe" for t in out)
        for intent in order:
            if intent == "describe" and described:
                continue  # one long caption per dialogue at most
            t = fresh_turn(spec, sc, intent, rng, split)
            if t:
                out.append(t)
                break
    return out


def corpus_texts(spec, rng, per_pattern=2):
    """Trained-split text for the BPE: every trained pattern filled a few times, with surfaces."""
    c = spec["conversation"]
    colours = list(spec["colours"]) + c["absentColours"]["values"]
    texts = [c["honestReply"]] * 40  # every out-of-domain answer: worth its own merges
    for name in INTENTS + FOLLOW_UPS:
        for _, text, reasons in patterns(spec, name):
            if reasons:
                continue
            for _ in range(per_pattern):
                k = rng.choice(spec["kinds"])
                side = rng.choice(SIDES)
                values = _phrase_slots(spec, {"kind": k, "plural": spec["plural"][k], "colour": rng.choice(colours)},
                                       side, rng)
                texts.append(apply_surface(spec, fill_slots(text, values), sample_surface(spec, rng)))
    for side in SIDES:
        texts += c["sidePhrases"][side]["where"] + c["sidePhrases"][side]["most"]
    texts += c["nouns"]["values"]
    return texts


def main():
    import argparse
    import random
    ap = argparse.ArgumentParser()
    ap.add_argument("--catalog", action="store_true", help="print the grammar's catalog as JSON")
    ap.add_argument("--sample", type=int, default=0, help="print N training dialogues")
    a = ap.parse_args()
    spec = S.load_spec()
    if a.catalog:
        print(json.dumps(catalog(spec), indent=1, ensure_ascii=False))
    rng = random.Random(1)
    for i in range(a.sample):
        sc = S.generate_scene(spec, 1, i)
        print(", ".join(f"{s['colour']} {s['kind']}" for s in sc["shapes"]))
        for t in sample_dialogue(spec, sc, rng, spec["conversation"]["maxTurns"]):
            print(f"  {t['intent']:>14} | {t['q']} -> {t['a']}")


if __name__ == "__main__":
    main()
