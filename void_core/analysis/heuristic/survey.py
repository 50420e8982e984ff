"""Reading the shot at analysis size, and pass 1: the survey (camera motion, the object's size
and speed)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from void_core import quadmask
from void_core.imaging import grow
from void_core.media.masks import frames_with_mask
from void_core.motion import MotionTrack, MotionTracker


@dataclass(frozen=True)
class Reach:
    """Distances (analysis pixels) scaled by the object's size and speed."""

    radius: float  # the object's equivalent radius
    step: float  # its typical per-frame displacement

    @property
    def guard(self) -> int:  # band round the object ignored: mask edges, anti-aliasing
        return 1 + round(0.05 * self.radius)

    @property
    def near(self) -> int:  # a shadow patch must come this close to the object
        return 2 + round(0.35 * self.radius)

    def shadow_extent(self, radii: float) -> int:  # how far a shadow may reach from the object
        return 4 + round(radii * self.radius)

    @property
    def max_guard(self) -> int:  # widest guard band a poor mask edge may need
        return 4 + round(0.3 * self.radius)

    @property
    def contact(self) -> int:  # a change this close beyond the guard counts as touching
        return 3 + round(0.35 * self.radius)

    @property
    def track(self) -> int:  # how far a pushed object may move between frames
        return 3 + round(1.5 * self.step + 0.3 * self.radius)

    @property
    def min_area(self) -> int:  # smallest patch worth reporting
        return max(6, round(0.02 * np.pi * self.radius**2))

    @property
    def grow(self) -> int:  # soft edges (penumbra) below the detection threshold
        return 1 + round(0.12 * self.radius)


@dataclass(frozen=True)
class Frame:
    index: int
    rgb: np.ndarray  # (h, w, 3) float32 display-referred [0, 1], analysis size
    primary: np.ndarray  # (h, w) bool


def analysis_size(width: int, height: int, analysis_width: int) -> tuple[int, int]:
    scale = min(1.0, analysis_width / width)
    return max(1, round(width * scale)), max(1, round(height * scale))


def stream(plate, mask_path: Path, size: tuple[int, int]) -> Iterator[Frame]:
    """The plate and its primary mask, frame by frame, at analysis size."""
    for index, raw, mask in frames_with_mask(plate, mask_path):
        yield Frame(index, _small_display(plate, raw, size), _small_primary(mask, size))


class FrameCache:
    """The analysis-size frames of pass 1, spooled to an anonymous temporary file so the later
    passes re-read them instead of decoding the plate again (memory stays one frame)."""

    def __init__(self, size: tuple[int, int]):
        width, height = size
        self._rgb_bytes = width * height * 3
        self._shape = (height, width)
        self._file = tempfile.TemporaryFile(prefix="void-heuristic-")
        self.count = 0

    def __enter__(self) -> FrameCache:
        return self

    def __exit__(self, *exc) -> None:
        self._file.close()

    def keep(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        """Pass `frames` through, storing each (as 8-bit RGB and packed mask bits)."""
        for frame in frames:
            self._file.write(np.rint(frame.rgb * 255).astype(np.uint8).tobytes())
            self._file.write(np.packbits(frame.primary).tobytes())
            self.count += 1
            yield frame

    def frames(self) -> Iterator[Frame]:
        height, width = self._shape
        mask_bytes = (width * height + 7) // 8
        self._file.seek(0)
        for index in range(self.count):
            rgb = np.frombuffer(self._file.read(self._rgb_bytes), np.uint8)
            bits = np.frombuffer(self._file.read(mask_bytes), np.uint8)
            primary = np.unpackbits(bits, count=width * height).reshape(height, width)
            yield Frame(index, rgb.reshape(height, width, 3).astype(np.float32) / 255,
                         primary.astype(bool))


def _small_display(plate, raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if raw.dtype == np.float16:
        raw = raw.astype(np.float32)
    if (raw.shape[1], raw.shape[0]) != size:
        raw = cv2.resize(raw, size, interpolation=cv2.INTER_AREA)
    return np.clip(plate.display(raw), 0.0, 1.0).astype(np.float32)


def _small_primary(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    primary = quadmask.primary(mask).astype(np.uint8) * 255
    if (primary.shape[1], primary.shape[0]) != size:
        primary = cv2.resize(primary, size, interpolation=cv2.INTER_AREA)
    return primary >= 128


# --- pass 1: survey --------------------------------------------------------------------------

@dataclass(frozen=True)
class Survey:
    track: MotionTrack
    frame_count: int
    reach: Reach
    untracked: int
    visible_frames: int


def survey_shot(frames: Iterator[Frame], size: tuple[int, int], tick) -> Survey:
    tracker = MotionTracker(*size)
    areas, centres = [], []
    for frame in frames:
        off_object = ~grow(frame.primary, 3)
        tracker.add(frame.rgb, off_object)
        ys, xs = np.nonzero(frame.primary)
        areas.append(len(xs))
        centres.append((xs.mean(), ys.mean()) if len(xs) else None)
        tick()
    track = tracker.track()
    visible = np.array([a for a in areas if a > 0], np.float64)
    radius = float(np.sqrt(np.percentile(visible, 90) / np.pi)) if visible.size else 3.0
    return Survey(track, len(areas), Reach(max(radius, 3.0), _typical_step(track, centres)),
                   tracker.untracked_frames, int(visible.size))


def _typical_step(track: MotionTrack, centres: list) -> float:
    """The object's 90th-percentile displacement per frame, in frame-0 coordinates."""
    steps, previous = [], None
    for index, centre in enumerate(centres):
        if centre is None:
            previous = None
            continue
        point = np.array([[centre]], np.float64)
        world = cv2.perspectiveTransform(point, track.to_ref[index])[0, 0]
        if previous is not None:
            steps.append(float(np.linalg.norm(world - previous)))
        previous = world
    return float(np.percentile(steps, 90)) if steps else 0.0
