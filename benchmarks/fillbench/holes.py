"""Test holes on real footage: ellipses cut where nothing needs removing and nothing moves.

The placement rule (printed with every benchmark run, see `RULE`):
- *forbidden*: every pixel that is not 255 in the shot's quadmask in any frame, grown by the
  margin (max(30 px, 1.5% of the width)), and a border of a third of the margin;
- *moving*: on a coarse copy (at most 480 px wide) each pixel's motion score is the largest
  frame-to-frame absolute change of its luma over the shot once the camera's motion is
  removed (each frame's predecessor warped onto it with `camera.py`'s track), box-averaged
  over about 2% of the width; a pixel is moving when its score is above MOTION_FACTOR x the
  median score of the non-forbidden area, grown by a quarter of the margin. The relative
  threshold rejects what moves against its surroundings (a stick across a wall, a floating
  toy) while water that moves everywhere stays eligible at its typical level;
- a hole is placed only where its whole footprint (every frame's ellipse) avoids both. Places
  are drawn uniformly from the eligible ones with a seeded generator; held-out holes use
  another seed and keep a margin from the main holes.

Hole kinds: a static ellipse of 2% of the frame, and an ellipse of 1% sliding across a third
of the frame width over the shot (a quarter, a sixth or an eighth when no free path of a third
exists, as in shots whose object fills the middle of the frame; the label says which).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import cv2
import numpy as np

from .camera import CameraTracker

AREA_SHARE = {"static": 0.02, "sliding": 0.01}
SLIDE_RISES = (0.0, 1 / 8, -1 / 8)  # vertical travel over the shot, as a share of the height
ASPECT = 1.5  # horizontal semi-axis / vertical semi-axis
TRAVEL_SHARES = (1 / 3, 1 / 4, 1 / 6, 1 / 8)  # the first that fits the shot's free background
MOTION_FACTOR = 3.0
COARSE_WIDTH = 480
MAIN_SEED, HELD_OUT_SEED = 9, 1009
KINDS = ("static", "sliding")

RULE = (f"holes: ellipses of {AREA_SHARE['static']:.0%} of the frame (static) and "
        f"{AREA_SHARE['sliding']:.0%} (sliding across a third of the width, or a quarter, a "
        f"sixth or an eighth where a third does not fit; level or slanted by 1/8 of the height), "
        f"kept max(30 px, 1.5% of width) from any non-255 quadmask pixel of any frame, off the "
        f"frame edge, and off places whose largest frame-to-frame luma change once the camera's "
        f"motion is removed exceeds {MOTION_FACTOR}x the shot's median; "
        f"seeds {MAIN_SEED} (main) and {HELD_OUT_SEED} (held out: other places)")

_SUBPIXEL = 4  # cv2 drawing shift: centres and axes in 1/16 px


@dataclass(frozen=True)
class Hole:
    """An ellipse per frame, in full-resolution pixel coordinates."""

    kind: str
    held_out: bool
    width: int
    height: int
    axes: tuple[float, float]
    centres: tuple[tuple[float, float], ...]
    travel: float = 0.0  # share of the width a sliding hole crosses

    @property
    def label(self) -> str:
        name = self.kind
        if self.kind == "sliding" and self.travel != TRAVEL_SHARES[0]:
            name += f" 1/{round(1 / self.travel)} W"
        return f"{name} (held out)" if self.held_out else name

    @property
    def slug(self) -> str:
        return f"{self.kind}_heldout" if self.held_out else self.kind

    @property
    def frames(self) -> int:
        return len(self.centres)

    def box(self, index: int, pad: int = 0) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) around frame `index`'s ellipse, grown by pad, clipped to the frame."""
        cx, cy = self.centres[index]
        return self._clip(cx - self.axes[0], cy - self.axes[1], cx + self.axes[0],
                          cy + self.axes[1], pad)

    def union_box(self, pad: int = 0) -> tuple[int, int, int, int]:
        xs = [c[0] for c in self.centres]
        ys = [c[1] for c in self.centres]
        return self._clip(min(xs) - self.axes[0], min(ys) - self.axes[1],
                          max(xs) + self.axes[0], max(ys) + self.axes[1], pad)

    def _clip(self, x0: float, y0: float, x1: float, y1: float, pad: int) -> tuple[int, int, int, int]:
        return (max(0, int(np.floor(x0)) - 1 - pad), max(0, int(np.floor(y0)) - 1 - pad),
                min(self.width, int(np.ceil(x1)) + 2 + pad), min(self.height, int(np.ceil(y1)) + 2 + pad))

    def mask(self, index: int, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """Bool mask of frame `index`'s hole, over the whole frame or over `box` only."""
        x0, y0, x1, y1 = box or (0, 0, self.width, self.height)
        canvas = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cx, cy = self.centres[index]
        _draw_ellipse(canvas, (cx - x0, cy - y0), self.axes)
        return canvas.astype(bool)


def _draw_ellipse(canvas: np.ndarray, centre: tuple[float, float], axes: tuple[float, float],
                  value: int = 1) -> None:
    one = 1 << _SUBPIXEL
    cv2.ellipse(canvas, (round(centre[0] * one), round(centre[1] * one)),
                (round(axes[0] * one), round(axes[1] * one)), 0, 0, 360, value, -1, cv2.LINE_8,
                _SUBPIXEL)


def hole_axes(width: int, height: int, kind: str) -> tuple[float, float]:
    """Semi-axes of an ellipse covering its kind's share of the frame, ASPECT wide."""
    share = AREA_SHARE[kind]
    minor = float(np.sqrt(share * width * height / (np.pi * ASPECT)))
    return minor * ASPECT, minor


def margin_px(width: int) -> int:
    return max(30, round(0.015 * width))


def slide_paths(width: int, height: int, share: float) -> tuple[tuple[float, float], ...]:
    """(dx, dy) of a sliding hole's whole path: `share` of the width, level or slanted."""
    return tuple((share * width, height * rise) for rise in SLIDE_RISES)


def hole_centres(start: tuple[float, float], path: tuple[float, float],
                 frames: int) -> tuple[tuple[float, float], ...]:
    steps = max(frames - 1, 1)
    return tuple((start[0] + path[0] * i / steps, start[1] + path[1] * i / steps)
                 for i in range(frames))


class ShotSurvey:
    """Streams a shot's frames and quadmasks into the coarse maps placement needs."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.scale = min(1.0, COARSE_WIDTH / width)
        self.size = (round(width * self.scale), round(height * self.scale))
        self.forbidden = np.zeros(self.size[::-1], bool)
        self._greys: list[np.ndarray] = []
        self._motion: np.ndarray | None = None

    @property
    def frames(self) -> int:
        return len(self._greys)

    def add(self, rgb: np.ndarray, quadmask: np.ndarray | None) -> None:
        self._greys.append(cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), self.size,
                                      interpolation=cv2.INTER_AREA))
        if quadmask is not None:
            object_share = cv2.resize((quadmask != 255).astype(np.float32), self.size,
                                      interpolation=cv2.INTER_AREA)
            self.forbidden |= object_share > 0
        self._motion = None

    @property
    def motion(self) -> np.ndarray:
        """Per-pixel largest frame-to-frame luma change once the camera's motion is removed."""
        if self._motion is None:
            self._motion = self._residual_motion()
        return self._motion

    def _residual_motion(self) -> np.ndarray:
        tracker = CameraTracker()
        for grey in self._greys:
            tracker.add(grey, ~self.forbidden)
        track = tracker.track()
        window = max(3, round(0.02 * self.size[0]) | 1)
        motion = np.zeros(self.size[::-1], np.float32)
        for index in range(1, self.frames):
            previous = cv2.warpPerspective(self._greys[index - 1], track.between(index - 1, index),
                                           self.size, flags=cv2.INTER_LINEAR,
                                           borderMode=cv2.BORDER_REPLICATE)
            change = np.abs(self._greys[index].astype(np.float32) - previous)
            np.maximum(motion, cv2.blur(change, (window, window)), out=motion)
        return motion

    def eligible(self, avoid: list[Hole] = ()) -> np.ndarray:
        """Coarse bool map of pixels a hole may cover (see the module docstring)."""
        margin = margin_px(self.width) * self.scale
        blocked = _grow(self.forbidden, margin)
        calm = self.motion[~blocked] if (~blocked).any() else self.motion.ravel()
        moving = self.motion > MOTION_FACTOR * float(np.median(calm))
        blocked |= _grow(moving, margin / 4)
        for hole in avoid:
            blocked |= _grow(self.footprint_map(hole), margin)
        edge = max(1, round(margin / 3))
        blocked[:edge], blocked[-edge:], blocked[:, :edge], blocked[:, -edge:] = True, True, True, True
        return ~blocked

    def footprint_map(self, hole: Hole) -> np.ndarray:
        canvas = np.zeros(self.size[::-1], np.uint8)
        axes = (hole.axes[0] * self.scale, hole.axes[1] * self.scale)
        for cx, cy in set(hole.centres):
            _draw_ellipse(canvas, (cx * self.scale, cy * self.scale), axes)
        return canvas.astype(bool)

    def place(self, kind: str, frames: int, seed: int, held_out: bool,
              avoid: list[Hole] = ()) -> Hole | None:
        """A seeded random eligible place for a hole of `kind`, or None when there is none."""
        axes = hole_axes(self.width, self.height, kind)
        eligible = self.eligible(avoid).astype(np.uint8)
        for share in TRAVEL_SHARES if kind == "sliding" else (0.0,):
            places = []
            paths = slide_paths(self.width, self.height, share) if share else ((0.0, 0.0),)
            for path in paths:
                kernel, anchor = self._footprint_kernel(axes, path)
                fits = cv2.erode(eligible, kernel, anchor=anchor, borderType=cv2.BORDER_CONSTANT,
                                 borderValue=0)
                places += [(x, y, path) for y, x in zip(*np.nonzero(fits))]
            if places:
                break
        else:
            return None
        rng = np.random.default_rng(seed)
        x, y, path = places[rng.integers(len(places))]
        start = ((x + 0.5) / self.scale - 0.5, (y + 0.5) / self.scale - 0.5)
        centres = hole_centres(start, path, frames)
        if kind == "sliding" and rng.integers(2):
            centres = centres[::-1]
        return Hole(kind, held_out, self.width, self.height, axes, centres, share)

    def _footprint_kernel(self, axes: tuple[float, float],
                          path: tuple[float, float]) -> tuple[np.ndarray, tuple[int, int]]:
        """The hole's footprint along `path` at coarse scale, anchored on its first centre."""
        a, b = axes[0] * self.scale, axes[1] * self.scale
        dx, dy = path[0] * self.scale, path[1] * self.scale
        pad = 2
        kernel = np.zeros((int(2 * b + abs(dy)) + 2 * pad + 1, int(2 * a + dx) + 2 * pad + 1), np.uint8)
        anchor = (pad + int(round(a)), pad + int(round(b + max(0.0, -dy))))
        steps = max(8, int(np.hypot(dx, dy) / max(1.0, b / 4)))
        for cx, cy in hole_centres((float(anchor[0]), float(anchor[1])), (dx, dy), steps + 1):
            _draw_ellipse(kernel, (cx, cy), (a, b))
        return kernel, anchor


def _grow(mask: np.ndarray, radius: float) -> np.ndarray:
    size = 2 * int(np.ceil(radius)) + 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return cv2.dilate(mask.astype(np.uint8), disc).astype(bool)


def shot_seed(base: int, shot: str) -> int:
    """A seed per shot that does not depend on which other shots run."""
    return base * 1_000_003 + zlib.crc32(shot.encode())


def place_shot_holes(survey: ShotSurvey, shot: str, frames: int) -> tuple[list[Hole], list[str]]:
    """Main static and sliding holes, then held-out ones elsewhere; notes for kinds with no place."""
    holes: list[Hole] = []
    notes = []
    for held_out, base in ((False, MAIN_SEED), (True, HELD_OUT_SEED)):
        for offset, kind in enumerate(KINDS):
            main = [h for h in holes if not h.held_out] if held_out else []
            hole = survey.place(kind, frames, shot_seed(base, shot) + offset, held_out, avoid=main)
            if hole is None:
                notes.append(f"{shot}: no eligible place for a {'held-out ' if held_out else ''}{kind} hole")
            else:
                holes.append(hole)
    return holes, notes
