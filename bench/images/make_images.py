"""The benchmark's phone photo and the PIL references its preprocessing is compared against.

    /usr/bin/python3 bench/images/make_images.py

- phone-4032x3024.jpg: a photo-like 12-megapixel scene (what a phone uploads), JPEG quality 85.
- <image>.pil-clip<N>.png: what HF's CLIPImageProcessor feeds the model, before rescale and
  normalise — PIL decodes, resizes the short side to N with BICUBIC (`Image.resize`, no
  reducing_gap, as HF calls it) and centre-crops N×N — for N = 336 (CLIP-336 LLaVAs, the bench
  models) and 128 (models/tiny-shapes), for the phone photo and for picture-672x504.png (the
  bench's timed picture, rendered once by sharp from the SVG in src/bench/bench-image.ts).

Only for regenerating: `npm run bench` reads these files and needs no Python (PIL 9.4, Debian).
"""
import os
import random

from PIL import Image, ImageDraw

here = os.path.dirname(os.path.abspath(__file__))


def photo(width, height, seed=11):
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / height
        sky = (int(90 + 120 * t), int(150 + 60 * t), int(230 - 40 * t))
        ground = (int(70 + 60 * t), int(110 + 40 * t), int(40 + 20 * t))
        draw.line([(0, y), (width - 1, y)], fill=sky if t < 0.55 else ground)
    s = width / 1024
    draw.ellipse([700 * s, 60 * s, 860 * s, 220 * s], fill=(255, 236, 150))
    draw.polygon([(80 * s, 560 * s), (420 * s, 180 * s), (760 * s, 560 * s)], fill=(110, 100, 120))
    draw.rectangle([520 * s, 430 * s, 880 * s, 700 * s], fill=(180, 60, 50), outline=(30, 20, 20), width=int(3 * s))
    for _ in range(6000):
        x, y = rng.uniform(0, width), rng.uniform(0.55 * height, height)
        r = rng.uniform(2, 14)
        g = rng.randint(80, 170)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(g // 2, g, g // 3))
    for i in range(12):
        x = (60 + 80 * i) * s
        draw.line([(x, 620 * s), (x + 40 * s, 760 * s)], fill=(20, 20, 20), width=2)
    return image


def shortest_edge(width, height, edge):
    short, long = min(width, height), max(width, height)
    new_long = int(edge * long / short)
    return (edge, new_long) if width <= height else (new_long, edge)


def preprocess_clip(image, edge):
    size = shortest_edge(image.width, image.height, edge)
    resized = image.resize(size, resample=Image.BICUBIC)
    left, top = int((size[0] - edge) / 2), int((size[1] - edge) / 2)
    return resized.crop((left, top, left + edge, top + edge))


phone = os.path.join(here, "phone-4032x3024.jpg")
photo(4032, 3024).save(phone, quality=85)
for name in ["phone-4032x3024.jpg", "picture-672x504.png"]:
    decoded = Image.open(os.path.join(here, name)).convert("RGB")
    for edge in (336, 128):
        out = os.path.join(here, f"{os.path.splitext(name)[0]}.pil-clip{edge}.png")
        preprocess_clip(decoded, edge).save(out)
        print(out, decoded.size, "->", edge)
