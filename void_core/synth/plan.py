"""A scene's geometry over time: camera path, object paths, the push, the click.

`plan_scene` is cheap (no images): it decides sizes, colours, where everything is on every frame
and what the scene is about, from the spec's seed. Positions are in *world* pixels (the scene
canvas); a frame shows the canvas from `camera[i]` (its top-left) onwards.

The layout is built for motion to the right and mirrored when the seed picks the other way. The
primary object enters from outside the frame after frame 0 (so frame 0 has no affected grey: VOID
was trained with grey from frame 1 on), crosses the frame, and in push scenes hits a box at rest:
the box slides away under friction while the object slows down and stops behind it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from void_core.synth.spec import SceneSpec
from void_core.synth.sprites import shape_area
from void_core.synth.textures import BackgroundChoice, choose_background, hsv_colour, hue_name

AREA_FRACTION = {"small": (0.012, 0.018), "large": (0.11, 0.14)}
PUSHED_SCALE = (0.6, 0.8)  # the box's size relative to the object
CONTACT_TIME = (0.35, 0.45)  # when the push happens, as a fraction of the shot
PAN_EXTENT = (0.15, 0.25)  # horizontal pan over the shot, as a fraction of the frame width


@dataclass(frozen=True)
class Body:
    """One object's look and size."""

    shape: str  # "ellipse" or "rounded_rect"
    half_size: tuple[float, float]  # (half width, half height) px
    hue: float
    colour: tuple[float, float, float]  # base RGB 0..255

    @property
    def colour_name(self) -> str:
        return hue_name(self.hue)


@dataclass(frozen=True)
class ShadowLook:
    offset: tuple[float, float]  # shadow centre minus object centre, px
    softness: float  # Gaussian sigma, px
    strength: float  # darkness at the shadow's core (background x (1 - strength))


@dataclass(frozen=True)
class ScenePlan:
    """Everything about a scene except its pixels."""

    spec: SceneSpec
    canvas_size: tuple[int, int]  # (width, height) of the world canvas
    camera: np.ndarray  # (frames, 2) world position of the frame's top-left pixel
    background: BackgroundChoice
    primary: Body
    primary_path: np.ndarray  # (frames, 2) world centre
    light: tuple[float, float, float]  # towards the light: x right, y down, z to the camera
    shadow: ShadowLook | None
    pushed: Body | None
    pushed_rest: tuple[float, float] | None  # world centre of the box at rest
    pushed_path: np.ndarray | None  # (frames, 2) world centre in the factual render
    contact_frame: int | None  # first frame on which the box has moved
    click_frame: int
    click: tuple[int, int]  # (x, y) frame pixel on the primary object's centre

    def on_screen(self, world: np.ndarray | tuple[float, float], frame: int) -> np.ndarray:
        return np.asarray(world, np.float64) - self.camera[frame]

    @property
    def prompt(self) -> str:
        """One sentence describing the scene without the primary object."""
        shot = "A static shot of" if self.spec.camera == "static" else "A slow camera pan across"
        tail = ""
        if self.pushed:
            colour = self.pushed.colour_name
            article = "an" if colour[0] in "aeiou" else "a"
            tail = f", with {article} {colour} box resting in place"
        return f"{shot} {self.background.description}{tail}."


def shot_times(frames: int) -> np.ndarray:
    """Normalised time of each frame: 0 on the first, 1 on the last (0.5 for a single frame)."""
    if frames == 1:
        return np.array([0.5])
    return np.linspace(0.0, 1.0, frames)


def plan_scene(spec: SceneSpec) -> ScenePlan:
    """Lay out the scene described by `spec` (deterministic in `spec.seed`)."""
    rng = np.random.default_rng([spec.seed, 1])
    times = shot_times(spec.frames)
    background = choose_background(rng, spec.background)
    primary = _primary_body(rng, spec)
    light_side = rng.choice([-1.0, 1.0])
    light = (light_side * rng.uniform(0.4, 0.8), -rng.uniform(0.5, 0.9), 1.0)
    shadow = _shadow_look(rng, primary, light) if spec.shadow else None
    canvas, camera = _camera_path(rng, spec, times)

    half_w, half_h = primary.half_size
    reach = half_w + 2 + (abs(shadow.offset[0]) + 3 * shadow.softness if shadow else 0)
    start_x = camera[0, 0] - reach  # just outside the left edge on frame 0
    lane_y = rng.uniform(0.4, 0.62) * spec.height + camera[len(camera) // 2, 1]
    lane_y = float(np.clip(lane_y, half_h + 3, canvas[1] - half_h - 3))
    push = _push_layout(rng, spec, primary, times, camera, start_x, lane_y) if spec.push else None
    if push is None:
        primary_path = _crossing_path(rng, spec, times, camera, start_x, lane_y)
        pushed, pushed_rest, pushed_path, contact_frame = None, None, None, None
    else:
        primary_path, pushed_rest, pushed_path = push.primary_path, push.rest, push.box_path
        pushed, contact_frame = push.box, push.contact_frame

    if rng.random() < 0.5:  # mirror: the action (and the pan) goes right to left
        camera, primary_path, pushed_path, pushed_rest, shadow, light = _mirror(
            canvas, spec.width, camera, primary_path, pushed_path, pushed_rest, shadow, light)
    click_frame, click = _click(primary, primary_path, camera, spec.width, spec.height)
    return ScenePlan(spec, canvas, camera, background, primary, primary_path, light, shadow,
                     pushed, pushed_rest, pushed_path, contact_frame, click_frame, click)


def _camera_path(rng: np.random.Generator, spec: SceneSpec,
                 times: np.ndarray) -> tuple[tuple[int, int], np.ndarray]:
    """The canvas size and the camera's top-left on every frame (a smooth pan, or still)."""
    pan = _pan(rng, spec)
    canvas = (spec.width + int(np.ceil(pan[0])) + 4, spec.height + int(np.ceil(abs(pan[1]))) + 4)
    start = np.array([2.0, 2.0 + max(0.0, -pan[1])])
    return canvas, start + np.outer(_ease(times), pan)


def _crossing_path(rng: np.random.Generator, spec: SceneSpec, times: np.ndarray,
                   camera: np.ndarray, start_x: float, lane_y: float) -> np.ndarray:
    """Constant speed from outside the frame to well inside it, on a slight slope."""
    end_x = camera[-1, 0] + rng.uniform(0.55, 0.75) * spec.width
    rise = rng.uniform(-0.08, 0.08) * spec.height
    xs = start_x + (end_x - start_x) * times
    return np.stack([xs, lane_y + rise * (times - 0.5)], axis=1)


def _primary_body(rng: np.random.Generator, spec: SceneSpec) -> Body:
    shape = str(rng.choice(["ellipse", "rounded_rect"]))
    fraction = rng.uniform(*AREA_FRACTION[spec.object_size])
    aspect = rng.uniform(0.75, 1.35)  # half width / half height
    half_w, half_h = _fit_area(shape, fraction * spec.width * spec.height, aspect)
    half_w, half_h = min(half_w, 0.3 * spec.width), min(half_h, 0.4 * spec.height)
    hue = rng.uniform(0, 360)
    return Body(shape, (half_w, half_h), hue, tuple(hsv_colour(hue, rng.uniform(0.55, 0.85),
                                                               rng.uniform(0.7, 0.9)).tolist()))


def _fit_area(shape: str, area: float, aspect: float) -> tuple[float, float]:
    unit = shape_area(shape, np.sqrt(aspect), 1 / np.sqrt(aspect))  # area at scale 1
    scale = np.sqrt(area / unit)
    return float(scale * np.sqrt(aspect)), float(scale / np.sqrt(aspect))


def _shadow_look(rng: np.random.Generator, body: Body,
                 light: tuple[float, float, float]) -> ShadowLook:
    half_w, half_h = body.half_size
    # The shadow falls away from the light, partly beside the object and partly under it.
    offset = (-np.sign(light[0]) * rng.uniform(0.55, 0.8) * half_w, rng.uniform(0.35, 0.6) * half_h)
    softness = 0.5 + 0.1 * min(half_w, half_h)
    return ShadowLook((float(offset[0]), float(offset[1])), float(softness),
                      float(rng.uniform(0.45, 0.6)))


def _pan(rng: np.random.Generator, spec: SceneSpec) -> np.ndarray:
    if spec.camera == "static":
        return np.zeros(2)
    return np.array([rng.uniform(*PAN_EXTENT) * spec.width, rng.uniform(-0.04, 0.04) * spec.height])


def _ease(times: np.ndarray) -> np.ndarray:
    """Smoothstep: the camera starts and stops gently."""
    return times * times * (3 - 2 * times)


@dataclass(frozen=True)
class _Push:
    box: Body
    rest: tuple[float, float]
    primary_path: np.ndarray
    box_path: np.ndarray
    contact_frame: int | None


def _push_layout(rng: np.random.Generator, spec: SceneSpec, primary: Body, times: np.ndarray,
                 camera: np.ndarray, start_x: float, lane_y: float) -> _Push:
    """Paths of the object and the box (moving right): constant speed until contact, then
    both slide with the same friction deceleration, the box faster, so they separate."""
    scale = rng.uniform(*PUSHED_SCALE)
    half_w, half_h = primary.half_size
    hue = (primary.hue + rng.uniform(120, 240)) % 360
    box = Body("rounded_rect", (max(3.0, half_w * scale), max(3.0, half_h * scale)), hue,
               tuple(hsv_colour(hue, rng.uniform(0.35, 0.6), rng.uniform(0.55, 0.8)).tolist()))
    contact_t = rng.uniform(*CONTACT_TIME)
    contact_x = np.interp(contact_t, times, camera[:, 0]) + rng.uniform(0.3, 0.4) * spec.width
    rest_x = contact_x + half_w + box.half_size[0]
    speed = (contact_x - start_x) / contact_t
    after_speed, box_speed = 0.25 * speed, 0.85 * speed
    friction = box_speed / ((1 - contact_t) * rng.uniform(0.9, 1.2))
    tau = np.clip(times - contact_t, 0.0, None)
    primary_x = np.where(times <= contact_t, start_x + speed * times,
                         contact_x + _slide(after_speed, friction, tau))
    box_x = rest_x + _slide(box_speed, friction, tau)
    box_y = lane_y + half_h - box.half_size[1]  # both stand on the same line
    moved = np.flatnonzero(times > contact_t)
    return _Push(box, (float(rest_x), float(box_y)),
                 np.stack([primary_x, np.full_like(primary_x, lane_y)], axis=1),
                 np.stack([box_x, np.full_like(box_x, box_y)], axis=1),
                 int(moved[0]) if moved.size else None)


def _slide(speed: float, friction: float, tau: np.ndarray) -> np.ndarray:
    """Distance covered after `tau` by a body launched at `speed` under constant deceleration."""
    tau = np.minimum(tau, speed / friction)
    return speed * tau - 0.5 * friction * tau * tau


def _mirror(canvas, width, camera, primary_path, pushed_path, pushed_rest, shadow, light):
    flip_x = canvas[0] - 1

    def flip(path):
        return None if path is None else np.stack([flip_x - path[:, 0], path[:, 1]], axis=1)

    camera = np.stack([canvas[0] - width - camera[:, 0], camera[:, 1]], axis=1)
    if pushed_rest is not None:
        pushed_rest = (flip_x - pushed_rest[0], pushed_rest[1])
    if shadow is not None:
        shadow = ShadowLook((-shadow.offset[0], shadow.offset[1]), shadow.softness, shadow.strength)
    light = (-light[0], light[1], light[2])
    return camera, flip(primary_path), flip(pushed_path), pushed_rest, shadow, light


def _click(body: Body, path: np.ndarray, camera: np.ndarray, width: int,
           height: int) -> tuple[int, tuple[int, int]]:
    """The frame nearest the middle of the object's fully visible stretch, and its centre pixel."""
    screen = path - camera
    half_w, half_h = body.half_size
    inside = ((screen[:, 0] - half_w >= 0) & (screen[:, 0] + half_w <= width - 1)
              & (screen[:, 1] - half_h >= 0) & (screen[:, 1] + half_h <= height - 1))
    candidates = np.flatnonzero(inside)
    if candidates.size:
        frame = int(candidates[len(candidates) // 2])
    else:  # never wholly in view: take the frame where the centre is deepest inside
        depth = np.minimum.reduce([screen[:, 0], width - 1 - screen[:, 0],
                                   screen[:, 1], height - 1 - screen[:, 1]])
        frame = int(np.argmax(depth))
    x, y = np.clip(np.rint(screen[frame]), 0, [width - 1, height - 1]).astype(int)
    return frame, (int(x), int(y))
