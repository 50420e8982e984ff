"""The inpainting protocol: a shot's frames in, each frame's fill of its edit box out.

The shot runner hands an engine a `ShotFrames`: it can stream the shot's frames (raw pixels and
quadmask) as many times as the engine needs (one pass to learn the background, one to fill),
knows each frame's *edit box* (the non-255 pixels grown by the composite band, where the fill
must be defined), and converts raw pixels to display-referred [0, 1] RGB. The engine yields one
`Fill` per frame, in frame order, while holding a bounded number of frames in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from void_core.composite import Box, Feather


@dataclass(frozen=True)
class Frame:
    """One decoded frame: raw pixels (code values or linear floats) and its quadmask."""

    index: int
    raw: np.ndarray
    quad: np.ndarray


@dataclass(frozen=True)
class Fill:
    """An engine's answer for one frame: the display-referred fill of `box`, (h, w, 3) float32.

    Frames with nothing to remove get `box` EMPTY and `display` None. `unstable` marks the
    pixels whose fill was invented per frame (e.g. spatially) and may shimmer; refiners work on
    those (None: treat every hole pixel as unstable).
    """

    frame: Frame
    box: Box
    display: np.ndarray | None
    unstable: np.ndarray | None = None


@dataclass
class InpaintStats:
    """What an engine did, for the summary and lineage."""

    hole_pixels: int = 0
    temporal_pixels: int = 0
    spatial_pixels: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def spatial_share(self) -> float:
        return self.spatial_pixels / self.hole_pixels if self.hole_pixels else 0.0


@dataclass(frozen=True)
class ShotFrames:
    """Access to a shot for an engine.

    Attributes:
        width, height, frame_count: plate geometry.
        boxes: per-frame edit box (EMPTY where the frame has nothing to remove).
        feather: the composite band; `feather.hole(quad_crop)` are the pixels to fill.
        stream: returns a fresh iterator over all frames, in order; `stream(start, stop)`
            over frames [start, stop) only (a chunk of a long shot; decoding may seek).
        to_display: raw pixels -> display-referred float32 [0, 1].
        rate: the plate's frame rate (None: unknown); engines trained at another rate map to it.
        prompt: the scene after removal (prompt.json's `bg`), for engines that take text.
    """

    width: int
    height: int
    frame_count: int
    boxes: tuple[Box, ...]
    feather: Feather
    stream: Callable[..., Iterator[Frame]]
    to_display: Callable[[np.ndarray], np.ndarray]
    rate: Fraction | None = None
    prompt: str = ""


# --- long shots in parts ---------------------------------------------------------------------


@dataclass(frozen=True)
class ShotPart:
    """One piece of a shot's inpaint work that any worker can do: the fills of plate frames
    [start, stop), in order; or, when it `writes` no frames, something the engine learns from
    those frames for later parts (its files only, e.g. the classical engine's camera motion).

    `after` lists the parts whose files this one reads (e.g. a join of two model windows waits
    for both windows); parts with no `after` run in parallel. `label` is the engine's word for
    the part ("frames", "window", "join", "motion", "sightings", "canvas"), shown in task
    names and lineage. The writing parts cover the shot once; learning parts lie inside it.
    """

    index: int
    start: int
    stop: int
    after: tuple[int, ...] = ()
    label: str = "frames"
    writes: bool = True  # False: a learning part (the engine's `learn_part`), no EXRs

    @property
    def frame_count(self) -> int:
        return self.stop - self.start


def whole_shot(frame_count: int) -> list[ShotPart]:
    """The one part of an engine that cannot split a shot."""
    return [ShotPart(0, 0, frame_count)]


def even_parts(frame_count: int, chunk_frames: int) -> list[ShotPart]:
    """Independent parts of at most `chunk_frames` frames, as even as possible (480 frames in
    120s: four of 120; 130: two of 65). `chunk_frames` 0 or less: the whole shot."""
    if chunk_frames <= 0 or frame_count <= chunk_frames:
        return whole_shot(frame_count)
    count = -(-frame_count // chunk_frames)
    bounds = [round(index * frame_count / count) for index in range(count + 1)]
    return [ShotPart(index, start, stop) for index, (start, stop)
            in enumerate(zip(bounds, bounds[1:]))]
