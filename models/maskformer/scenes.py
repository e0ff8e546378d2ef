# SPDX-License-Identifier: Apache-2.0
"""Seeded generator of street and landscape scenes with ADE20k labels.

Scenes are painted back to front (sky, clouds, mountains, buildings, ground, water, road,
sidewalks, fences, trees, cars, people), each object drawn into the image and into the label map
with the same geometry, so later objects occlude earlier ones in both. Colours are drawn from
overlapping ranges on purpose (grey road, sidewalk, building, mountain and car; green grass and
trees; blue sky, water and cars), textures and lighting vary, so the class of a pixel cannot be
read from its colour: a per-pixel colour classifier scores far below a segmentation network.

The output follows the ADE20k layout: ``images/{training,validation}/*.jpg`` and
``annotations/{training,validation}/*.png`` with 0 = ignore and 1..150 = ADE class id.
"""
import os
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np

try:
    import cv2
except ImportError:
    cv2 = None

# ADE20k class ids (1-based) of the categories the scenes use
SKY, BUILDING, ROAD, SIDEWALK, TREE, GRASS = 3, 2, 7, 12, 5, 10
MOUNTAIN, WATER, CAR, PERSON, FENCE = 17, 22, 21, 13, 33
SCENE_CLASSES = (SKY, BUILDING, ROAD, SIDEWALK, TREE, GRASS, MOUNTAIN, WATER, CAR, PERSON, FENCE)
IGNORE = 0


@dataclass
class Canvas:
    image: np.ndarray  # H, W, 3 float32 RGB 0..255
    label: np.ndarray  # H, W uint8 ADE ids

    @property
    def h(self) -> int:
        return self.image.shape[0]

    @property
    def w(self) -> int:
        return self.image.shape[1]


def _noise(rng: np.random.Generator, h: int, w: int, scale: float, octaves: int = 3) -> np.ndarray:
    """Smooth value noise in [-1, 1]: random grids bilinearly upsampled, summed over octaves."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cells = max(2, int(scale * 2 ** o))
        grid = rng.uniform(-1, 1, (cells + 1, cells + 1)).astype(np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.5
    return np.clip(out / total, -1, 1)


def _paint(c: Canvas, mask: np.ndarray, colour, cls: int, texture: np.ndarray = None,
           strength: float = 0.0, label: bool = True) -> None:
    """Fill ``mask`` with a colour, modulated by a texture in [-1, 1]."""
    m = mask.astype(bool)
    if not m.any():
        return
    col = np.asarray(colour, np.float32)
    if texture is None:
        c.image[m] = col
    else:
        t = texture[m][:, None]
        c.image[m] = col * (1.0 + strength * t)
    if label:
        c.label[m] = cls


def _poly_mask(c: Canvas, pts: np.ndarray) -> np.ndarray:
    m = np.zeros((c.h, c.w), np.uint8)
    cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1)
    return m


def _jitter(rng, colour, amount: float = 25.0):
    return np.clip(np.asarray(colour, np.float32) + rng.normal(0, amount, 3), 0, 255)


def _sky(c: Canvas, rng, horizon: int) -> None:
    kind = rng.choice(["clear", "sunset", "overcast", "dusk"], p=[0.45, 0.2, 0.25, 0.1])
    top, bottom = {
        "clear": ((70, 130, 220), (185, 215, 245)),
        "sunset": ((90, 90, 170), (250, 170, 110)),
        "overcast": ((150, 155, 165), (205, 205, 210)),
        "dusk": ((30, 40, 90), (120, 110, 160)),
    }[kind]
    top, bottom = _jitter(rng, top, 15), _jitter(rng, bottom, 15)
    ys = np.linspace(0, 1, max(horizon, 1), dtype=np.float32)[:, None, None]
    grad = top * (1 - ys) + bottom * ys
    c.image[:horizon] = grad
    c.label[:horizon] = SKY
    # clouds: soft bright blobs that stay sky
    for _ in range(rng.integers(0, 6)):
        cx, cy = rng.uniform(0, c.w), rng.uniform(0, horizon * 0.8)
        rx, ry = rng.uniform(20, 90), rng.uniform(8, 25)
        yy, xx = np.mgrid[0:horizon, 0:c.w]
        d = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
        a = np.clip(1.2 - d, 0, 1)[..., None] * rng.uniform(0.4, 0.9)
        c.image[:horizon] = c.image[:horizon] * (1 - a) + a * _jitter(rng, (240, 240, 245), 10)


def _mountains(c: Canvas, rng, horizon: int) -> None:
    for layer in range(rng.integers(1, 3)):
        base = horizon + rng.integers(0, 6)
        peak = rng.uniform(0.25, 0.8) * horizon
        xs = np.linspace(-20, c.w + 20, rng.integers(5, 12))
        ys = base - rng.uniform(0.2, 1.0, len(xs)) * (base - peak)
        # add fine jagged detail between the control points
        fx = np.linspace(-20, c.w + 20, 80)
        fy = np.interp(fx, xs, ys) + rng.normal(0, 4, fx.size)
        pts = np.concatenate([np.stack([fx, fy], 1), [[c.w + 20, base], [-20, base]]])
        colour = _jitter(rng, rng.choice([(110, 110, 120), (120, 100, 85), (95, 110, 135),
                                          (140, 140, 140)]), 20)
        tex = _noise(rng, c.h, c.w, 8, 4)
        _paint(c, _poly_mask(c, pts), colour, MOUNTAIN, tex, 0.25)
        # snow caps on some
        if rng.random() < 0.35:
            cap = _poly_mask(c, pts) & (np.arange(c.h)[:, None] < peak + (base - peak) * 0.25)
            _paint(c, cap, _jitter(rng, (235, 235, 240), 8), MOUNTAIN, tex, 0.05)


def _buildings(c: Canvas, rng, horizon: int) -> None:
    x = rng.uniform(-40, 10)
    while x < c.w:
        bw = rng.uniform(40, 130)
        top = horizon - rng.uniform(0.25, 0.95) * horizon
        base = horizon + rng.uniform(2, 12)
        colour = _jitter(rng, rng.choice([(150, 75, 60), (200, 185, 150), (130, 130, 135),
                                          (90, 110, 140), (170, 160, 150), (110, 90, 80)]), 18)
        m = np.zeros((c.h, c.w), np.uint8)
        cv2.rectangle(m, (int(x), int(top)), (int(x + bw), int(base)), 1, -1)
        _paint(c, m, colour, BUILDING, _noise(rng, c.h, c.w, 16, 2), 0.08)
        # windows in a grid: part of the building
        win = _jitter(rng, rng.choice([(60, 80, 110), (200, 210, 220), (40, 40, 50)]), 12)
        wx, wy = rng.uniform(6, 12), rng.uniform(7, 14)
        gx, gy = wx + rng.uniform(4, 10), wy + rng.uniform(5, 10)
        yy = top + 6
        while yy + wy < base - 8:
            xx = x + 5
            while xx + wx < x + bw - 4:
                if rng.random() < 0.9:
                    cv2.rectangle(c.image, (int(xx), int(yy)), (int(xx + wx), int(yy + wy)),
                                  tuple(float(v) for v in (win * rng.uniform(0.8, 1.2))), -1)
                xx += gx
            yy += gy
        x += bw + rng.uniform(-10, 25)


def _ground(c: Canvas, rng, horizon: int, street: bool) -> Tuple[np.ndarray, Dict]:
    info: Dict = {}
    tex = _noise(rng, c.h, c.w, 20, 4)
    grass_col = _jitter(rng, rng.choice([(70, 140, 50), (100, 150, 60), (130, 150, 70),
                                         (60, 110, 45)]), 15)
    ground = np.zeros((c.h, c.w), np.uint8)
    ground[horizon:] = 1
    _paint(c, ground, grass_col, GRASS, tex, 0.3)
    # grass blades: short dark strokes
    for _ in range(int(c.w * (c.h - horizon) / 60)):
        x0, y0 = rng.uniform(0, c.w), rng.uniform(horizon + 2, c.h)
        cv2.line(c.image, (int(x0), int(y0)), (int(x0 + rng.normal(0, 2)), int(y0 - rng.uniform(2, 6))),
                 tuple(float(v) for v in grass_col * rng.uniform(0.6, 0.9)), 1)
    if not street and rng.random() < 0.7:
        # a lake or the sea: a band from the horizon, or a blob in the ground
        water = np.zeros((c.h, c.w), np.uint8)
        if rng.random() < 0.5:
            depth = rng.uniform(0.2, 0.6) * (c.h - horizon)
            edge = horizon + depth + _noise(rng, 1, c.w, 6, 2)[0] * 10
            for xi in range(c.w):
                water[horizon:int(edge[xi]), xi] = 1
        else:
            cx, cy = rng.uniform(0.2, 0.8) * c.w, horizon + rng.uniform(0.3, 0.7) * (c.h - horizon)
            ax, ay = rng.uniform(0.15, 0.4) * c.w, rng.uniform(0.1, 0.3) * (c.h - horizon)
            cv2.ellipse(water, (int(cx), int(cy)), (int(ax), int(ay)), 0, 0, 360, 1, -1)
        col = _jitter(rng, rng.choice([(50, 90, 150), (70, 120, 160), (60, 100, 110),
                                       (110, 140, 170)]), 15)
        waves = np.sin(np.arange(c.h)[:, None] * rng.uniform(0.6, 1.2) +
                       _noise(rng, c.h, c.w, 10, 2) * 6).astype(np.float32)
        _paint(c, water, col, WATER, waves, 0.12)
        info["water"] = water
    return ground, info


def _road(c: Canvas, rng, horizon: int) -> None:
    vx = rng.uniform(0.3, 0.7) * c.w
    half_top = rng.uniform(4, 20)
    half_bottom = rng.uniform(0.3, 0.6) * c.w
    cx_bottom = vx + rng.normal(0, 0.1 * c.w)
    road = np.array([[vx - half_top, horizon], [vx + half_top, horizon],
                     [cx_bottom + half_bottom, c.h], [cx_bottom - half_bottom, c.h]])
    col = _jitter(rng, rng.choice([(80, 80, 85), (110, 108, 105), (60, 60, 65)]), 12)
    tex = _noise(rng, c.h, c.w, 40, 3)
    walk_w = rng.uniform(0.12, 0.35)
    walk_col = _jitter(rng, rng.choice([(165, 160, 150), (140, 140, 145), (185, 175, 160)]), 15)
    for side in (-1, 1):
        if rng.random() < 0.85:
            outer_top = vx + side * (half_top + 6)
            outer_bottom = cx_bottom + side * half_bottom * (1 + walk_w * 2)
            inner_top, inner_bottom = vx + side * half_top, cx_bottom + side * half_bottom
            walk = np.array([[inner_top, horizon], [outer_top, horizon], [outer_bottom, c.h],
                             [inner_bottom, c.h]])
            m = _poly_mask(c, walk)
            _paint(c, m, walk_col, SIDEWALK, _noise(rng, c.h, c.w, 30, 2), 0.12)
            # paving joints
            for y in range(horizon + 3, c.h, int(rng.uniform(6, 12))):
                row = np.where(m[y])[0]
                if row.size:
                    c.image[y, row] *= 0.8
    _paint(c, _poly_mask(c, road), col, ROAD, tex, 0.15)
    # lane markings follow the road's centre line, dashed
    mark = _jitter(rng, rng.choice([(230, 230, 230), (230, 200, 60)]), 8)
    steps = np.linspace(0, 1, 24)
    for i in range(0, len(steps) - 1, 2):
        t0, t1 = steps[i], steps[i + 1]
        x0, y0 = vx + (cx_bottom - vx) * t0, horizon + (c.h - horizon) * t0
        x1, y1 = vx + (cx_bottom - vx) * t1, horizon + (c.h - horizon) * t1
        cv2.line(c.image, (int(x0), int(y0)), (int(x1), int(y1)),
                 tuple(float(v) for v in mark), max(1, int(1 + 4 * t1)))


def _fence(c: Canvas, rng, horizon: int) -> None:
    y_base = rng.uniform(horizon + 5, c.h * 0.95)
    height = rng.uniform(16, 40) * (0.6 + (y_base - horizon) / max(c.h - horizon, 1))
    x0, x1 = sorted(rng.uniform(-0.1, 1.1, 2) * c.w)
    if x1 - x0 < 40:
        return
    col = _jitter(rng, rng.choice([(120, 85, 50), (150, 150, 155), (200, 200, 195)]), 15)
    m = np.zeros((c.h, c.w), np.uint8)
    gap = rng.uniform(8, 18)
    post = max(3, int(gap * rng.uniform(0.3, 0.5)))
    x = x0
    while x < x1:
        cv2.rectangle(m, (int(x), int(y_base - height)), (int(x + post), int(y_base)), 1, -1)
        x += gap
    for r in rng.uniform(0.15, 0.85, rng.integers(1, 3)):
        y = y_base - r * height
        cv2.rectangle(m, (int(x0), int(y - 1)), (int(x1), int(y + 2)), 1, -1)
    _paint(c, m, col, FENCE, _noise(rng, c.h, c.w, 30, 2), 0.15)


def _tree(c: Canvas, rng, horizon: int) -> None:
    base_y = rng.uniform(horizon, c.h)
    size = rng.uniform(15, 45) * (0.4 + 1.2 * (base_y - horizon) / max(c.h - horizon, 1))
    x = rng.uniform(-0.05, 1.05) * c.w
    trunk_h, trunk_w = size * rng.uniform(0.8, 1.6), max(2, size * rng.uniform(0.12, 0.25))
    m = np.zeros((c.h, c.w), np.uint8)
    cv2.rectangle(m, (int(x - trunk_w / 2), int(base_y - trunk_h)), (int(x + trunk_w / 2), int(base_y)), 1, -1)
    canopy = np.zeros_like(m)
    cy = base_y - trunk_h
    kind = rng.random()
    if kind < 0.3:  # conifer: stacked triangles
        for k in range(3):
            w2 = size * (1.0 - 0.25 * k)
            yb = cy + size * 0.3 - k * size * 0.5
            cv2.fillPoly(canopy, [np.int32([[x - w2, yb], [x + w2, yb], [x, yb - size * 0.9]])], 1)
    else:  # deciduous: cluster of blobs
        for _ in range(rng.integers(4, 9)):
            ox, oy = rng.normal(0, size * 0.45), rng.normal(-size * 0.3, size * 0.35)
            r = size * rng.uniform(0.35, 0.6)
            cv2.circle(canopy, (int(x + ox), int(cy + oy)), int(r), 1, -1)
    trunk_col = _jitter(rng, (95, 70, 45), 12)
    leaf_col = _jitter(rng, rng.choice([(40, 100, 35), (70, 130, 50), (30, 80, 40),
                                        (180, 120, 40), (150, 60, 30)], p=[0.3, 0.25, 0.25, 0.1, 0.1]), 15)
    _paint(c, m, trunk_col, TREE, _noise(rng, c.h, c.w, 40, 2), 0.1)
    _paint(c, canopy, leaf_col, TREE, _noise(rng, c.h, c.w, 50, 3), 0.45)


def _car(c: Canvas, rng, horizon: int) -> None:
    base_y = rng.uniform(horizon + 8, c.h + 10)
    scale = 0.45 + 1.2 * (base_y - horizon) / max(c.h - horizon, 1)
    length, height = rng.uniform(50, 80) * scale, rng.uniform(16, 22) * scale
    x = rng.uniform(-0.1, 0.95) * c.w
    colour = _jitter(rng, rng.choice([(180, 30, 30), (30, 60, 150), (230, 230, 230), (30, 30, 35),
                                      (160, 165, 170), (40, 110, 60), (200, 170, 40),
                                      (90, 90, 95)]), 15)
    body = np.zeros((c.h, c.w), np.uint8)
    cv2.rectangle(body, (int(x), int(base_y - height)), (int(x + length), int(base_y - height * 0.25)), 1, -1)
    cabin = np.int32([[x + length * 0.2, base_y - height], [x + length * 0.3, base_y - height * 1.7],
                      [x + length * 0.72, base_y - height * 1.7], [x + length * 0.85, base_y - height]])
    cv2.fillPoly(body, [cabin], 1)
    wheels = np.zeros_like(body)
    r = max(2, int(height * 0.32))
    for wx in (x + length * 0.2, x + length * 0.8):
        cv2.circle(wheels, (int(wx), int(base_y - r * 0.8)), r, 1, -1)
    _paint(c, body, colour, CAR, _noise(rng, c.h, c.w, 30, 2), 0.08)
    window = np.int32([[x + length * 0.27, base_y - height * 1.05], [x + length * 0.34, base_y - height * 1.6],
                       [x + length * 0.68, base_y - height * 1.6], [x + length * 0.78, base_y - height * 1.05]])
    cv2.fillPoly(c.image, [window], tuple(float(v) for v in _jitter(rng, (50, 70, 90), 10)))
    _paint(c, wheels, _jitter(rng, (25, 25, 25), 5), CAR)


def _person(c: Canvas, rng, horizon: int) -> None:
    base_y = rng.uniform(horizon + 5, c.h + 5)
    hgt = rng.uniform(32, 48) * (0.6 + 1.3 * (base_y - horizon) / max(c.h - horizon, 1))
    x = rng.uniform(0, c.w)
    w = hgt * 0.32
    skin = _jitter(rng, rng.choice([(230, 190, 160), (190, 140, 100), (120, 80, 55)]), 10)
    shirt = _jitter(rng, rng.uniform(20, 235, 3), 5)
    trousers = _jitter(rng, rng.choice([(40, 50, 90), (30, 30, 30), (120, 100, 80), (150, 150, 150)]), 10)
    legs = np.zeros((c.h, c.w), np.uint8)
    cv2.rectangle(legs, (int(x - w / 2), int(base_y - hgt * 0.48)), (int(x - w * 0.05), int(base_y)), 1, -1)
    cv2.rectangle(legs, (int(x + w * 0.05), int(base_y - hgt * 0.48)), (int(x + w / 2), int(base_y)), 1, -1)
    torso = np.zeros_like(legs)
    cv2.rectangle(torso, (int(x - w * 0.6), int(base_y - hgt * 0.82)), (int(x + w * 0.6), int(base_y - hgt * 0.45)), 1, -1)
    head = np.zeros_like(legs)
    cv2.circle(head, (int(x), int(base_y - hgt * 0.9)), max(2, int(hgt * 0.09)), 1, -1)
    _paint(c, legs, trousers, PERSON)
    _paint(c, torso, shirt, PERSON, _noise(rng, c.h, c.w, 40, 2), 0.1)
    _paint(c, head, skin, PERSON)


def _lighting(img: np.ndarray, rng) -> np.ndarray:
    gain = rng.uniform(0.65, 1.3)
    cast = rng.normal(1.0, 0.07, 3)
    img = img * gain * cast + rng.uniform(-15, 15)
    # a soft shadow or light gradient across the frame
    h, w = img.shape[:2]
    ang = rng.uniform(0, 2 * np.pi)
    g = (np.cos(ang) * np.linspace(-1, 1, w)[None, :] + np.sin(ang) * np.linspace(-1, 1, h)[:, None])
    img = img * (1 + rng.uniform(0, 0.25) * g[..., None])
    img = img + rng.normal(0, rng.uniform(2, 9), img.shape)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.3))
    return np.clip(img, 0, 255)


SIZES = ((320, 256), (384, 256), (256, 256), (341, 256), (480, 360), (400, 300), (256, 320))


def generate(rng: np.random.Generator, width: int = None, height: int = None) -> Tuple[np.ndarray, np.ndarray]:
    """One scene: (RGB uint8 HxWx3, ADE-id uint8 HxW)."""
    if cv2 is None:
        raise RuntimeError("scene generation needs OpenCV (apt-get install python3-opencv)")
    if width is None or height is None:
        width, height = SIZES[rng.integers(len(SIZES))]
    c = Canvas(np.zeros((height, width, 3), np.float32), np.full((height, width), IGNORE, np.uint8))
    street = rng.random() < 0.55
    horizon = int(rng.uniform(0.3, 0.6) * height)
    _sky(c, rng, horizon)
    if rng.random() < (0.4 if street else 0.85):
        _mountains(c, rng, horizon)
    if street or rng.random() < 0.15:
        _buildings(c, rng, horizon)
    _ground(c, rng, horizon, street)
    if street:
        _road(c, rng, horizon)
    objects: List = []
    for _ in range(rng.integers(0, 3) if rng.random() < 0.6 else 0):
        objects.append(_fence)
    objects += [_tree] * int(rng.integers(0, 6 if not street else 4))
    if street:
        objects += [_car] * int(rng.integers(1, 5)) + [_person] * int(rng.integers(1, 5))
    else:
        objects += [_person] * int(rng.integers(0, 3)) + [_car] * int(rng.random() < 0.2)
    # paint far objects first: draw them in random order but sorted by their base y is implicit in
    # each painter; shuffling keeps occlusion patterns varied
    rng.shuffle(objects)
    for paint in objects:
        paint(c, rng, horizon)
    img = _lighting(c.image, rng)
    return img.astype(np.uint8), c.label


def write_split(root: str, split: str, count: int, seed: int, quality: int = 92) -> None:
    """Writes ``count`` scenes of one split in the ADE20k layout."""
    img_dir = os.path.join(root, "images", split)
    ann_dir = os.path.join(root, "annotations", split)
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(ann_dir, exist_ok=True)
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        rgb, label = generate(rng)
        name = f"scene_{seed:04d}_{i:05d}"
        cv2.imwrite(os.path.join(img_dir, name + ".jpg"), rgb[:, :, ::-1],
                    [cv2.IMWRITE_JPEG_QUALITY, quality])
        cv2.imwrite(os.path.join(ann_dir, name + ".png"), label)
