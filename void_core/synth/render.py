"""Render a scene twice per frame (with and without the primary object) and derive its quadmask.

Three noise-free renders share one camera crop of the background:

- factual: everything (the plate a user would shoot);
- effects: the factual scene with the primary object's own pixels left out, but with everything
  it caused (its shadow, the box where it pushed it): VOID's Kubric "removed objects invisible";
- target: the counterfactual, where the object never existed (no shadow, the box never moves).

Quadmask (VOID's rules): 127 where effects and target differ by >= 2 code values (max channel),
0 on the object (its alpha > 0.5, plus its faint anti-aliased fringe where that differs), 63
where the two overlap, 255 elsewhere. Differences below the threshold are removed from the
factual render, so factual == target exactly wherever the quadmask is 255, noise included.
The same Gaussian noise field is then added to both renders.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from void_core.synth.plan import Body, ScenePlan, plan_scene
from void_core.synth.spec import SceneSpec
from void_core.synth.sprites import (Placed, Sprite, alpha_in, body_sprite, darken, draw_over,
                                     place, shadow_sprite)
from void_core.synth.textures import make_background

DIFF_THRESHOLD = 2.0  # code values (8-bit) of max-channel difference that count as "changed"
PRIMARY, OVERLAP, AFFECTED, KEEP = 0, 63, 127, 255


@dataclass(frozen=True)
class SceneFrame:
    """One frame of a scene: the plate, the counterfactual and the ground-truth quadmask."""

    index: int
    factual: np.ndarray  # (H, W, 3) uint8 RGB, with the object
    target: np.ndarray  # (H, W, 3) uint8 RGB, as if the object had never been there
    quadmask: np.ndarray  # (H, W) uint8 in {0, 63, 127, 255}
    object_alpha: np.ndarray  # (H, W) float32 coverage of the primary object


@dataclass(frozen=True)
class _Assets:
    canvas: np.ndarray
    primary: Sprite
    primary_shadow: Sprite | None
    pushed: Sprite | None
    pushed_shadow: Sprite | None


def render_scene(spec: SceneSpec) -> Iterator[SceneFrame]:
    """Yield the scene's frames one at a time (memory does not grow with the frame count)."""
    plan = plan_scene(spec)
    assets = _build_assets(plan)
    for index in range(spec.frames):
        yield _render_frame(plan, assets, index)


def _build_assets(plan: ScenePlan) -> _Assets:
    spec = plan.spec
    rng = np.random.default_rng([spec.seed, 2])
    canvas = make_background(plan.background, rng, plan.canvas_size[1], plan.canvas_size[0],
                             spec.height)
    light = np.array(plan.light, np.float32)
    primary = _body(rng, plan.primary, light, rounded=True)
    pushed = _body(rng, plan.pushed, light, rounded=False) if plan.pushed else None
    return _Assets(canvas, primary, _shadow(plan, primary), pushed, _shadow(plan, pushed))


def _shadow(plan: ScenePlan, body: Sprite | None) -> Sprite | None:
    if plan.shadow is None or body is None:
        return None
    return shadow_sprite(body, plan.shadow.softness, plan.shadow.strength)


def _body(rng: np.random.Generator, body: Body, light: np.ndarray, *, rounded: bool) -> Sprite:
    return body_sprite(rng, body.shape, *body.half_size, np.array(body.colour, np.float32), light,
                       rounded=rounded)


@dataclass(frozen=True)
class _Layers:
    """Every sprite placed for one frame, in frame coordinates."""

    primary: Placed
    primary_shadow: Placed | None
    pushed_now: Placed | None
    pushed_now_shadow: Placed | None
    pushed_rest: Placed | None
    pushed_rest_shadow: Placed | None

    def all(self) -> list[Placed]:
        return [p for p in (self.primary, self.primary_shadow, self.pushed_now,
                            self.pushed_now_shadow, self.pushed_rest, self.pushed_rest_shadow)
                if p is not None]


def _place_layers(plan: ScenePlan, assets: _Assets, index: int) -> _Layers:
    def at(sprite, world, offset=(0.0, 0.0)):
        if sprite is None or world is None:
            return None
        x, y = plan.on_screen(world, index) + offset
        return place(sprite, float(x), float(y))

    offset = plan.shadow.offset if plan.shadow else (0.0, 0.0)
    primary_world = plan.primary_path[index]
    now = plan.pushed_path[index] if plan.pushed_path is not None else None
    rest = plan.pushed_rest
    pushed_now = at(assets.pushed, now)
    pushed_now_shadow = at(assets.pushed_shadow, now, offset)
    moved = now is not None and tuple(now) != tuple(rest)
    return _Layers(
        primary=at(assets.primary, primary_world),
        primary_shadow=at(assets.primary_shadow, primary_world, offset),
        pushed_now=pushed_now,
        pushed_now_shadow=pushed_now_shadow,
        pushed_rest=at(assets.pushed, rest) if moved else pushed_now,
        pushed_rest_shadow=at(assets.pushed_shadow, rest, offset) if moved else pushed_now_shadow,
    )


def _camera_view(plan: ScenePlan, canvas: np.ndarray, index: int) -> np.ndarray:
    """The background as the camera sees it on frame `index` (sub-pixel translation)."""
    x, y = plan.camera[index]
    width, height = plan.spec.width, plan.spec.height
    if x == int(x) and y == int(y):
        return canvas[int(y):int(y) + height, int(x):int(x) + width]
    shift = np.array([[1, 0, -x], [0, 1, -y]], np.float64)
    return cv2.warpAffine(canvas, shift, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


def _render_frame(plan: ScenePlan, assets: _Assets, index: int) -> SceneFrame:
    spec = plan.spec
    base = _camera_view(plan, assets.canvas, index)
    layers = _place_layers(plan, assets, index)
    rect = _dirty_rect(layers.all(), spec.width, spec.height)
    noise = _sensor_noise(spec, index)
    factual = _add_noise(base, noise)
    target = factual.copy()
    quadmask = np.full((spec.height, spec.width), KEEP, np.uint8)
    alpha = np.zeros((spec.height, spec.width), np.float32)
    if rect is not None:
        x0, y0, x1, y1 = rect
        region = (slice(y0, y1), slice(x0, x1))
        f_clean, t_clean, local_mask, local_alpha = _render_region(base[region], rect, layers)
        local_noise = None if noise is None else noise[region]
        factual[region] = _add_noise(f_clean, local_noise)
        target[region] = _add_noise(t_clean, local_noise)
        quadmask[region] = local_mask
        alpha[region] = local_alpha
    return SceneFrame(index, factual, target, quadmask, alpha)


def _render_region(base: np.ndarray, rect: tuple[int, int, int, int], layers: _Layers):
    """Noise-free factual and target renders over `rect`, its quadmask and the object alpha."""
    background = base.astype(np.float32)
    target = background.copy()
    if layers.pushed_rest_shadow is not None:
        darken(target, rect, layers.pushed_rest_shadow)
    if layers.pushed_rest is not None:
        draw_over(target, rect, layers.pushed_rest)

    effects = background
    for shadow in (layers.primary_shadow, layers.pushed_now_shadow):
        if shadow is not None:
            darken(effects, rect, shadow)
    if layers.pushed_now is not None:
        draw_over(effects, rect, layers.pushed_now)
    factual = effects.copy()
    draw_over(factual, rect, layers.primary)

    alpha = alpha_in(layers.primary, rect)
    changed = _differs(factual, target)
    affected = _differs(effects, target)
    primary = alpha > 0.5
    quadmask = np.full(alpha.shape, KEEP, np.uint8)
    quadmask[changed | primary] = PRIMARY
    quadmask[affected] = AFFECTED
    quadmask[affected & primary] = OVERLAP
    factual = np.where(changed[..., None], factual, target)
    return factual, target, quadmask, alpha


def _differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b).max(axis=2) >= DIFF_THRESHOLD


def _dirty_rect(placed: list[Placed], width: int, height: int):
    """The frame rectangle covering every sprite, or None when all are out of view."""
    boxes = np.array([p.box for p in placed])
    x0, y0 = max(int(boxes[:, 0].min()), 0), max(int(boxes[:, 1].min()), 0)
    x1, y1 = min(int(boxes[:, 2].max()), width), min(int(boxes[:, 3].max()), height)
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, y0, x1, y1


def _sensor_noise(spec: SceneSpec, index: int) -> np.ndarray | None:
    if spec.noise_sigma == 0:
        return None
    rng = np.random.default_rng([spec.seed, 3, index])
    noise = rng.standard_normal((spec.height, spec.width, 3), dtype=np.float32)
    noise *= np.float32(spec.noise_sigma)
    return noise


def _add_noise(clean: np.ndarray, noise: np.ndarray | None) -> np.ndarray:
    """clean + noise, rounded and saturated to uint8 (one OpenCV pass)."""
    if noise is None:
        return np.clip(np.rint(clean), 0, 255).astype(np.uint8)
    return cv2.add(clean, noise, dtype=cv2.CV_8U)
