"""Where and when VOID looks at a shot: the crop, the frame-rate mapping and the chunks.

VOID works at one fixed size (384x672), one frame rate (12 fps: its training data) and at most
197 frames per call. A plate is none of these, so the engine plans three mappings before it
runs the model, all pure arithmetic kept here so they can be tested without a model:

* **Crop** (`crop_for_model`): the union of the shot's edit boxes, grown by some context,
  widened to the model's aspect ratio, at least the model's size (a small object on a 4K plate
  is not upsampled past 1:1), shifted and clamped into the plate. One crop for the whole shot,
  so the model sees a steady frame. Where the aspect cannot be kept (an edit region wider than
  the plate allows) the crop keeps the region and the resize stretches, as VOID itself does.
* **Frame rate** (`map_frames`): nearest-frame resampling both ways. Model frame j shows the
  plate frame nearest to time j / model_fps; plate frame i takes the fill of the model frame
  nearest to time i / plate_fps. The model frames span the whole shot (first and last plate
  frames are sampled exactly), so every plate frame gets a fill.
* **Chunks** (`plan_chunks`, `chunk_weights`): shots longer than one VOID call are cut into
  equal, overlapping chunks of at most `max_frames` model frames, each a VOID-valid length
  (4k+1, k odd) where possible so no frames are wasted on padding. Outputs are blended linearly
  across each overlap; the weights of all chunks covering a frame sum to one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from void_core.composite import Box
from void_core.errors import InputError


# --- crop ------------------------------------------------------------------------------------


def crop_for_model(region: Box, plate_height: int, plate_width: int, model_height: int,
                   model_width: int, *, context: float = 0.25) -> Box:
    """The plate rectangle VOID sees for a shot whose edits all lie inside `region`.

    `context` is the margin added on every side, as a fraction of the region's longer side.
    The result always contains `region` and lies inside the plate.
    """
    if region.empty:
        raise ValueError("cannot crop around an empty region")
    aspect = model_width / model_height
    region_h, region_w = region.y1 - region.y0, region.x1 - region.x0
    margin = context * max(region_h, region_w)
    height, width = region_h + 2 * margin, region_w + 2 * margin
    if width / height < aspect:
        width = height * aspect
    else:
        height = width / aspect
    upscale = max(1.0, model_height / height)  # never ask the model to look closer than 1:1
    height, width = height * upscale, width * upscale
    fit = min(1.0, plate_height / height, plate_width / width)
    height, width = max(height * fit, region_h), max(width * fit, region_w)
    rows = _place_span(region.y0, region.y1, height, plate_height)
    cols = _place_span(region.x0, region.x1, width, plate_width)
    return Box(rows[0], rows[1], cols[0], cols[1])


def _place_span(start: int, stop: int, length: float, limit: int) -> tuple[int, int]:
    """A span of about `length` centred on [start, stop), shifted into [0, limit)."""
    size = min(limit, max(stop - start, round(length)))
    first = round((start + stop) / 2 - size / 2)
    first = min(max(first, 0), limit - size)
    return min(first, start), max(first + size, stop)


# --- frame rate ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameMap:
    """`sources[j]`: the plate frame model frame j shows; `targets[i]`: the model frame whose
    output fills plate frame i. Both monotone non-decreasing."""

    sources: np.ndarray
    targets: np.ndarray

    @property
    def model_frames(self) -> int:
        return len(self.sources)


def map_frames(plate_frames: int, plate_fps: Fraction | None,
               model_fps: Fraction | None) -> FrameMap:
    """Nearest-frame mapping between a plate and the model's frame rate (identity when either
    rate is unknown or they are equal)."""
    if plate_frames < 1:
        raise ValueError("a shot needs at least one frame")
    if plate_fps is None or model_fps is None or Fraction(plate_fps) == Fraction(model_fps):
        identity = np.arange(plate_frames, dtype=np.int64)
        return FrameMap(identity, identity.copy())
    ratio = Fraction(plate_fps) / Fraction(model_fps)  # plate frames per model frame
    model_frames = math.ceil((plate_frames - 1) / ratio) + 1
    sources = np.array([min(plate_frames - 1, _round_half_up(j * ratio))
                        for j in range(model_frames)], dtype=np.int64)
    targets = np.array([min(model_frames - 1, _round_half_up(i / ratio))
                        for i in range(plate_frames)], dtype=np.int64)
    return FrameMap(sources, targets)


def _round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


# --- chunks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """Model frames [start, stop) sent to VOID in one call."""

    start: int
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start


def is_void_length(frames: int) -> bool:
    """VOID's valid clip lengths: 4k+1 with k odd (so every latent window is even)."""
    return frames >= 5 and (frames - 1) % 8 == 4


def plan_chunks(frames: int, max_frames: int = 197, overlap: int = 16) -> list[Chunk]:
    """Equal chunks of at most `max_frames` covering [0, frames), consecutive ones overlapping by
    at least `overlap` frames, never three on one frame."""
    if frames < 1:
        raise ValueError("nothing to chunk")
    if not (0 < overlap and 3 * overlap <= max_frames):
        # Up to a third, equal chunks never put three on one frame (and rounding has slack).
        raise ValueError(f"chunk overlap {overlap} must be positive and at most a third of "
                         f"{max_frames} frames")
    if frames <= max_frames:
        return [Chunk(0, frames)]
    count = math.ceil((frames - overlap) / (max_frames - overlap))
    shortest = math.ceil((frames + (count - 1) * overlap) / count)
    for length in (_next_void_length(shortest, max_frames), shortest):
        chunks = _spread(frames, count, length)
        if _no_triple_overlap(chunks):
            return chunks
    raise AssertionError(f"no chunk plan for {frames} frames, max {max_frames}, overlap {overlap}")


def _next_void_length(frames: int, limit: int) -> int:
    length = frames
    while not is_void_length(length) and length < limit:
        length += 1
    return min(length, limit)


def _spread(frames: int, count: int, length: int) -> list[Chunk]:
    step = Fraction(frames - length, count - 1)
    starts = [_round_half_up(k * step) for k in range(count)]
    return [Chunk(start, start + length) for start in starts]


def _no_triple_overlap(chunks: list[Chunk]) -> bool:
    return all(later.start >= earlier.stop for earlier, later in zip(chunks, chunks[2:]))


@dataclass(frozen=True)
class ChunkPlan:
    """Where and when the model looks at a shot: the crop, the frame map and the chunks."""

    crop: Box
    frames: FrameMap
    chunks: list[Chunk]


def chunk_weights(chunks: list[Chunk]) -> list[np.ndarray]:
    """Per chunk, the float64 weight of each frame: 1, with linear ramps across each overlap
    (falling at a chunk's tail, rising at the next one's head) that sum to one per frame."""
    weights = [np.ones(chunk.length, np.float64) for chunk in chunks]
    for index in range(len(chunks) - 1):
        current, following = chunks[index], chunks[index + 1]
        overlap = current.stop - following.start
        if overlap <= 0:
            raise ValueError(f"chunks {current} and {following} do not overlap")
        rising = np.arange(1, overlap + 1, dtype=np.float64) / (overlap + 1)
        weights[index][current.length - overlap:] *= 1.0 - rising
        weights[index + 1][:overlap] *= rising
    return weights


def parse_rate(value, what: str) -> Fraction | None:
    """A frame rate given as 12, "24000/1001" or a Fraction; None stays None."""
    if value is None:
        return None
    try:
        rate = Fraction(value) if isinstance(value, (int, Fraction)) else Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        raise InputError(None, f"{what} {value!r} is not a frame rate",
                         "e.g. 12, 24000/1001") from None
    if rate <= 0:
        raise InputError(None, f"{what} {value!r} must be positive")
    return rate


def rate_text(rate: Fraction | None) -> str | None:
    if rate is None:
        return None
    return str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"
