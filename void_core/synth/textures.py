"""Backgrounds and surface textures: photographs scaled to cover a scene, and procedural walls.

Everything here is deterministic given a numpy `Generator`. Photographs come from the samples
bundled inside scikit-image (no download); procedural backgrounds layer multi-octave value noise
over a brick or plank pattern, so they hold detail at every scale that a fill cannot fake.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import cv2
import numpy as np

# scikit-image samples shipped inside the wheel (others are fetched from the network: never used).
PHOTOS = {
    "coffee": "a cup of coffee on a saucer on a wooden table",
    "rocket": "a rocket standing on its launch pad",
    "astronaut": "a portrait of an astronaut in front of a flag",
    "chelsea": "a tabby cat sitting still",
    "immunohistochemistry": "a stained tissue sample under a microscope",
}
PATTERNS = {
    "bricks": "a weathered brick wall",
    "planks": "a wall of old wooden planks",
}
# Photos enlarged more than this get synthetic fine grain (their own detail is too coarse).
DETAIL_ABOVE_UPSCALE = 2.0

_HUE_NAMES = ((15, "red"), (40, "orange"), (70, "yellow"), (160, "green"), (195, "teal"),
              (250, "blue"), (290, "purple"), (335, "pink"), (360, "red"))


@dataclass(frozen=True)
class BackgroundChoice:
    kind: str  # "photo" or "procedural"
    source: str  # photo name or pattern name
    description: str


def choose_background(rng: np.random.Generator, kind: str) -> BackgroundChoice:
    names = PHOTOS if kind == "photo" else PATTERNS
    source = list(names)[rng.integers(len(names))]
    return BackgroundChoice(kind, source, names[source])


def make_background(choice: BackgroundChoice, rng: np.random.Generator, height: int, width: int,
                    frame_height: int) -> np.ndarray:
    """An (height, width, 3) uint8 RGB canvas; `frame_height` sets the scale of the pattern."""
    if choice.kind == "photo":
        return photo_canvas(choice.source, rng, height, width)
    if choice.source == "bricks":
        return bricks_canvas(rng, height, width, frame_height)
    return planks_canvas(rng, height, width, frame_height)


def load_photo(name: str) -> np.ndarray:
    """A bundled scikit-image sample as (H, W, 3) uint8 RGB."""
    import skimage.data

    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}; choose one of {', '.join(PHOTOS)}")
    image = getattr(skimage.data, name)()
    return np.ascontiguousarray(image[..., :3], np.uint8)


def photo_canvas(name: str, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """The photo scaled to cover the canvas (with a little random slack for the crop).

    A photo enlarged beyond `DETAIL_ABOVE_UPSCALE` (4K canvases) gets a fine multiplicative grain,
    so the background keeps pixel-scale texture that a spatial fill cannot fake.
    """
    photo = load_photo(name)
    scale = max(height / photo.shape[0], width / photo.shape[1]) * rng.uniform(1.0, 1.15)
    size = (max(width, round(photo.shape[1] * scale)), max(height, round(photo.shape[0] * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    photo = cv2.resize(photo, size, interpolation=interpolation)
    dy = int(rng.integers(photo.shape[0] - height + 1))
    dx = int(rng.integers(photo.shape[1] - width + 1))
    canvas = photo[dy:dy + height, dx:dx + width]
    if scale <= DETAIL_ABOVE_UPSCALE:
        return np.ascontiguousarray(canvas)
    grain = value_noise(rng, height, width, 1.5, 2 * scale, persistence=0.8)
    detailed = canvas.astype(np.float32) * (1 + 0.05 * grain)[..., None]
    return np.clip(detailed + 0.5, 0, 255).astype(np.uint8)


def value_noise(rng: np.random.Generator, height: int, width: int, finest_px: float,
                coarsest_px: float, persistence: float = 0.6) -> np.ndarray:
    """Multi-octave value noise, float32 of about zero mean and unit spread.

    Octaves go from cells of `coarsest_px` down to `finest_px`, each half the size of the last,
    with amplitude multiplied by `persistence` per octave.
    """
    total = np.zeros((height, width), np.float32)
    cell, amplitude, weight = float(coarsest_px), 1.0, 0.0
    while cell >= finest_px * 0.99:
        grid_shape = (int(height / cell) + 2, int(width / cell) + 2)
        grid = rng.standard_normal(grid_shape).astype(np.float32)
        # Resize the grid one cell larger than the canvas and crop: cells keep their size.
        big = cv2.resize(grid, (int(grid.shape[1] * cell), int(grid.shape[0] * cell)),
                         interpolation=cv2.INTER_CUBIC)
        total += amplitude * big[:height, :width]
        weight += amplitude**2
        cell, amplitude = cell / 2, amplitude * persistence
    return total / np.float32(np.sqrt(max(weight, 1e-6)))


def hsv_colour(hue_deg: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue_deg / 360, saturation, value), np.float32) * 255


def hue_name(hue_deg: float) -> str:
    return next(name for limit, name in _HUE_NAMES if hue_deg % 360 < limit)


def bricks_canvas(rng: np.random.Generator, height: int, width: int,
                  frame_height: int) -> np.ndarray:
    """Running-bond bricks with per-brick colour, mortar joints, grime and fine grain."""
    brick_h = frame_height / rng.uniform(7, 10)
    brick_w = brick_h * rng.uniform(2.0, 2.6)
    joint = max(1.0, 0.09 * brick_h)
    yy = np.arange(height, dtype=np.float32)[:, None]
    xx = np.arange(width, dtype=np.float32)[None, :]
    row = np.floor(yy / brick_h).astype(np.int32)
    shifted = xx + (row % 2) * (brick_w / 2)
    col = np.floor(shifted / brick_w).astype(np.int32)
    u, v = shifted - col * brick_w, yy - row * brick_h
    edge = np.minimum(np.minimum(u, brick_w - u), np.minimum(v, brick_h - v))
    mortar = edge < joint / 2

    base_hue = rng.uniform(5, 30)
    palette = np.stack([hsv_colour(base_hue + rng.uniform(-8, 8), rng.uniform(0.45, 0.7),
                                   rng.uniform(0.45, 0.75)) for _ in range(64)])
    brick_id = (row * 7919 + col * 104729) % len(palette)
    colour = palette[brick_id]
    colour[mortar] = hsv_colour(40, 0.12, 0.72)
    # Bricks darken a little towards their joints (a bevel).
    bevel = np.clip(edge / (2.0 * joint), 0.0, 1.0)[..., None]
    colour *= 0.82 + 0.18 * np.where(mortar[..., None], 1.0, bevel)
    return _weathered(rng, colour, frame_height)


def planks_canvas(rng: np.random.Generator, height: int, width: int,
                  frame_height: int) -> np.ndarray:
    """Vertical wooden planks: per-plank tint, wavy grain stripes, dark gaps and fine grain."""
    plank_w = frame_height / rng.uniform(4, 6)
    yy = np.arange(height, dtype=np.float32)[:, None]
    xx = np.arange(width, dtype=np.float32)[None, :]
    plank = np.floor(xx / plank_w).astype(np.int32)
    u = xx - plank * plank_w
    warp = value_noise(rng, height, width, frame_height / 40, frame_height / 3)
    period = plank_w / rng.uniform(5, 9)
    grain = 0.5 + 0.5 * np.sin(2 * np.pi * (u + 0.6 * period * warp + 0.05 * yy) / period)
    base_hue = rng.uniform(20, 40)
    palette = np.stack([hsv_colour(base_hue + rng.uniform(-6, 6), rng.uniform(0.35, 0.6),
                                   rng.uniform(0.45, 0.8)) for _ in range(32)])
    colour = palette[(plank * 31 + 7) % len(palette)] * (0.75 + 0.25 * grain)[..., None]
    gap = np.minimum(u, plank_w - u) < max(1.0, 0.03 * plank_w)
    colour = np.where(gap[..., None], colour * 0.35, colour)
    return _weathered(rng, colour, frame_height)


def _weathered(rng: np.random.Generator, colour: np.ndarray, frame_height: int) -> np.ndarray:
    """Large grime blotches and pixel-scale grain over a float colour image -> uint8."""
    height, width = colour.shape[:2]
    grime = value_noise(rng, height, width, frame_height / 16, frame_height / 1.5)
    grain = value_noise(rng, height, width, 1.5, frame_height / 24, persistence=0.8)
    colour *= (1 + 0.12 * grime + 0.07 * grain)[..., None]
    return np.clip(colour + 0.5, 0, 255).astype(np.uint8)
