"""The shot at analysis scale: geometry, frames and masks on disk, prompts.

Frames are measured at an analysis resolution of at most `motion.ANALYSIS_WIDTH` pixels wide
and spilled to temporary memory-mapped files, so memory does not grow with the shot's length.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from void_core.masking.prompt import ClickPrompt
from void_core.media.plate import Plate
from void_core.motion import MotionTrack

INGEST_SHARE, TRACK_SHARE, WRITE_SHARE = 0.4, 0.3, 0.3  # of each frame's share of progress
CLICK_RADIUS = 2  # px around a click taken as certain
CLICK_DISC_PIXELS = 13  # pixels in such a disc


@dataclass(frozen=True)
class Geometry:
    """Plate and analysis sizes, and the camera track expressed at analysis scale."""

    width: int
    height: int
    analysis_width: int
    analysis_height: int
    scale: float
    to_ref: tuple[np.ndarray, ...]

    @property
    def frame_count(self) -> int:
        return len(self.to_ref)

    def between(self, source: int, target: int) -> np.ndarray:
        """Homography from analysis pixels of frame `source` to those of frame `target`."""
        return np.linalg.inv(self.to_ref[target]) @ self.to_ref[source]


class FrameStore:
    """Analysis-resolution frames (uint8 RGB) and masks (bool) in temporary files."""

    def __init__(self, folder: Path, count: int, height: int, width: int):
        self.frames = np.lib.format.open_memmap(folder / "frames.npy", "w+", np.uint8,
                                                (count, height, width, 3))
        self.masks = np.lib.format.open_memmap(folder / "masks.npy", "w+", np.bool_,
                                               (count, height, width))
        self.known = np.zeros(count, bool)

    def frame(self, index: int) -> np.ndarray:
        return np.asarray(self.frames[index])

    def mask(self, index: int) -> np.ndarray:
        return np.asarray(self.masks[index])



def display_rgb(plate: Plate, raw: np.ndarray) -> np.ndarray:
    """Display-referred 8-bit RGB (8-bit video frames already are)."""
    if raw.dtype == np.uint8 and not plate.info.linear_source:
        return raw
    return (np.clip(plate.display(raw), 0, 1) * 255 + 0.5).astype(np.uint8)


def analysis_rgb(plate: Plate, raw: np.ndarray, width: int, height: int) -> np.ndarray:
    rgb = display_rgb(plate, raw)
    if rgb.shape[1] != width or rgb.shape[0] != height:
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    return rgb


def guide_grey(plate: Plate, raw: np.ndarray) -> np.ndarray:
    """The full-resolution picture (or a crop of it) that guides the masks' upsampling, grey
    float [0, 1]."""
    grey = cv2.cvtColor(np.ascontiguousarray(display_rgb(plate, raw)), cv2.COLOR_RGB2GRAY)
    return grey.astype(np.float32) / 255.0


def analysis_track(track: MotionTrack, scale: float) -> tuple[np.ndarray, ...]:
    """Full-resolution homographies expressed in analysis pixels."""
    s = np.diag([scale, scale, 1.0])
    s_inv = np.diag([1 / scale, 1 / scale, 1.0])
    return tuple(s @ h @ s_inv for h in track.to_ref)



@dataclass(frozen=True)
class Anchor:
    """A prompt in analysis pixels (pixel centres scale about their centres)."""

    frame: int
    positive: tuple[tuple[float, float], ...]
    negative: tuple[tuple[float, float], ...]
    box: tuple[float, float, float, float] | None

    @classmethod
    def from_prompt(cls, prompt: ClickPrompt, scale: float) -> Anchor:
        def shrink(point):
            return (point[0] + 0.5) * scale - 0.5, (point[1] + 0.5) * scale - 0.5
        box = None if prompt.box is None else tuple(v * scale for v in prompt.box)
        return cls(prompt.frame, tuple(map(shrink, prompt.positive_points)),
                   tuple(map(shrink, prompt.negative_points)), box)

    def seed_points(self) -> tuple[tuple[float, float], ...]:
        """The positive clicks, or the box's centre when there are none."""
        if self.positive:
            return self.positive
        x0, y0, x1, y1 = self.box
        return (((x0 + x1) / 2, (y0 + y1) / 2),)

