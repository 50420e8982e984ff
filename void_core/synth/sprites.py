"""Object sprites (textured, shaded, anti-aliased shapes), their soft shadows, and placement.

A sprite is drawn once per scene in premultiplied RGBA (float32, with a transparent border) and
is placed each frame at a sub-pixel position by a translation warp. Compositing works on regions
of interest only, so the cost follows the object's size, not the frame's.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from void_core.synth.textures import value_noise

_PAD = 2  # transparent border (px) so sub-pixel shifts never clip the shape


@dataclass(frozen=True)
class Sprite:
    """Premultiplied layers of one object: `layers[..., :3]` RGB*alpha, `layers[..., 3]` alpha.

    A shadow sprite holds one channel: darkness d in [0, 1) (the background is multiplied by 1-d).
    `centre` is the shape's centre in array coordinates (x, y; pixel centres at integers).
    """

    layers: np.ndarray
    centre: tuple[float, float]


@dataclass(frozen=True)
class Placed:
    """A sprite warped to its sub-pixel position; its top-left pixel is (x0, y0) in the frame."""

    layers: np.ndarray
    x0: int
    y0: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1), exclusive end."""
        return self.x0, self.y0, self.x0 + self.layers.shape[1], self.y0 + self.layers.shape[0]


def shape_distance(shape: str, half_w: float, half_h: float, x: np.ndarray,
                   y: np.ndarray) -> np.ndarray:
    """Signed distance (px, negative inside) to an ellipse or a rounded rectangle."""
    if shape == "ellipse":
        # First-order distance estimate |p/r| (|p/r| - 1) / |p/r^2|: exact on the boundary.
        k0 = np.hypot(x / half_w, y / half_h)
        k1 = np.hypot(x / half_w**2, y / half_h**2)
        return np.where(k1 > 0, k0 * (k0 - 1) / np.maximum(k1, 1e-12), -min(half_w, half_h))
    radius = corner_radius(half_w, half_h)
    qx, qy = np.abs(x) - (half_w - radius), np.abs(y) - (half_h - radius)
    outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
    return outside + np.minimum(np.maximum(qx, qy), 0) - radius


def corner_radius(half_w: float, half_h: float) -> float:
    return 0.3 * min(half_w, half_h)


def shape_area(shape: str, half_w: float, half_h: float) -> float:
    if shape == "ellipse":
        return float(np.pi * half_w * half_h)
    return 4 * half_w * half_h - (4 - np.pi) * corner_radius(half_w, half_h) ** 2


def _grid(half_w: float, half_h: float,
          margin: float) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    width = int(np.ceil(2 * (half_w + margin))) + 1
    height = int(np.ceil(2 * (half_h + margin))) + 1
    cx, cy = (width - 1) / 2, (height - 1) / 2
    x = np.arange(width, dtype=np.float32)[None, :] - cx
    y = np.arange(height, dtype=np.float32)[:, None] - cy
    return x, y, (cx, cy)


def body_sprite(rng: np.random.Generator, shape: str, half_w: float, half_h: float,
                colour: np.ndarray, light: np.ndarray, *, rounded: bool) -> Sprite:
    """A textured, lit shape: colour x noise/stripe texture x Lambert + specular shading.

    Args:
        colour: base RGB (0..255).
        light: direction towards the light (x right, y down, z towards the camera).
        rounded: dome-shaped relief (a pebble) rather than a flat top with bevelled edges (a box).
    """
    x, y, centre = _grid(half_w, half_h, _PAD)
    distance = shape_distance(shape, half_w, half_h, x, y)
    alpha = np.clip(0.5 - distance, 0.0, 1.0).astype(np.float32)
    inner = min(half_w, half_h)
    bevel = inner * (1.0 if rounded else 0.3)
    depth = np.clip(-distance / bevel, 0.0, 1.0)
    if rounded:
        # A pillow: the distance field's ridges (corners of a rectangle) are blurred away.
        depth = cv2.GaussianBlur(depth, (0, 0), sigmaX=0.25 * inner) * (distance < 0)
        relief = np.sqrt(1 - (1 - np.clip(depth, 0.0, 1.0)) ** 2)
    else:
        relief = depth * depth * (3 - 2 * depth)
    shade = _shading(relief * bevel, light, shininess=24 if rounded else 6)
    texture = _surface_texture(rng, alpha.shape, inner, rounded)
    rgb = colour[None, None, :] * (texture * shade)[..., None]
    rgb = np.clip(rgb, 0, 255)
    layers = np.concatenate([rgb * alpha[..., None], alpha[..., None]], axis=2)
    return Sprite(np.ascontiguousarray(layers, np.float32), centre)


def _shading(height_px: np.ndarray, light: np.ndarray, shininess: float) -> np.ndarray:
    gy, gx = np.gradient(height_px.astype(np.float32))
    normal = np.stack([-gx, -gy, np.ones_like(gx)], axis=-1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    light = light / np.linalg.norm(light)
    diffuse = np.clip(normal @ light.astype(np.float32), 0, 1)
    half = light + np.array([0, 0, 1], np.float32)
    half /= np.linalg.norm(half)
    specular = np.clip(normal @ half.astype(np.float32), 0, 1) ** shininess
    return 0.35 + 0.75 * diffuse + 0.25 * specular


def _surface_texture(rng: np.random.Generator, size: tuple[int, int], inner: float,
                     rounded: bool) -> np.ndarray:
    """Multiplicative texture around 1: blotchy noise plus stripes (so a fill can't fake it)."""
    height, width = size
    blotches = value_noise(rng, height, width, 1.5, max(3.0, inner / 1.5), persistence=0.75)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    period = max(3.0, inner / rng.uniform(2.5, 4.5))
    phase = (x * np.cos(angle) + y * np.sin(angle)) / period
    stripes = np.sin(2 * np.pi * (phase + (0.15 if rounded else 0.4) * blotches))
    return (1 + 0.12 * blotches + 0.15 * stripes).astype(np.float32)


def shadow_sprite(body: Sprite, softness: float, strength: float) -> Sprite:
    """The body's silhouette blurred by `softness` (px, Gaussian sigma), scaled to `strength`."""
    margin = int(np.ceil(3 * softness)) + 1
    alpha = np.pad(body.layers[..., 3], margin)
    blurred = cv2.GaussianBlur(alpha, (0, 0), sigmaX=max(softness, 0.3))
    centre = (body.centre[0] + margin, body.centre[1] + margin)
    return Sprite(np.ascontiguousarray(blurred * np.float32(strength)), centre)


def place(sprite: Sprite, x: float, y: float) -> Placed:
    """Put the sprite's centre at frame position (x, y), sub-pixel exact (bilinear)."""
    left, top = x - sprite.centre[0], y - sprite.centre[1]
    x0, y0 = int(np.floor(left)), int(np.floor(top))
    fx, fy = left - x0, top - y0
    layers = sprite.layers
    if fx or fy:
        height, width = layers.shape[:2]
        shift = np.array([[1, 0, fx], [0, 1, fy]], np.float64)
        layers = cv2.warpAffine(layers, shift, (width + 1, height + 1), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return Placed(layers, x0, y0)


def overlap(placed: Placed, rect: tuple[int, int, int, int]):
    """Slices (into a canvas covering `rect`, into the placed layers), or None if disjoint."""
    px0, py0, px1, py1 = placed.box
    x0, y0, x1, y1 = max(px0, rect[0]), max(py0, rect[1]), min(px1, rect[2]), min(py1, rect[3])
    if x0 >= x1 or y0 >= y1:
        return None
    canvas = (slice(y0 - rect[1], y1 - rect[1]), slice(x0 - rect[0], x1 - rect[0]))
    local = (slice(y0 - py0, y1 - py0), slice(x0 - px0, x1 - px0))
    return canvas, local


def draw_over(canvas: np.ndarray, rect: tuple[int, int, int, int], placed: Placed) -> None:
    """Premultiplied 'over' of an RGBA sprite onto a float RGB canvas covering `rect`."""
    hit = overlap(placed, rect)
    if hit is None:
        return
    target, local = hit
    layers = placed.layers[local]
    canvas[target] = layers[..., :3] + canvas[target] * (1 - layers[..., 3:4])


def darken(canvas: np.ndarray, rect: tuple[int, int, int, int], placed: Placed) -> None:
    """Multiply the canvas by 1 - darkness: a shadow that keeps the surface's chromaticity."""
    hit = overlap(placed, rect)
    if hit is None:
        return
    target, local = hit
    canvas[target] *= (1 - placed.layers[local])[..., None]


def alpha_in(placed: Placed, rect: tuple[int, int, int, int]) -> np.ndarray:
    """The sprite's alpha over `rect` (zeros where the sprite is absent)."""
    out = np.zeros((rect[3] - rect[1], rect[2] - rect[0]), np.float32)
    hit = overlap(placed, rect)
    if hit is not None:
        target, local = hit
        out[target] = placed.layers[local][..., 3]
    return out
