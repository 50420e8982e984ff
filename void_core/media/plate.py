"""One interface over every kind of plate: video files and EXR/PNG image sequences.

A `Plate` streams *raw* frames (video and PNG: RGB code values; EXR: scene-linear floats as
stored) and converts them on demand:

- `linear()`: what goes into the output EXR outside the mask (exactly the source:
  LUT-linearised code values, or the EXR's own bits);
- `display()`: the float32 [0, 1] pixels the engines see. Display-referred plates give their
  own code values (a bounded encoding that round-trips); scene-linear plates go through the
  ACEScct shaper (`media/shaper.py`), so nothing above 1.0 is clipped;
- `from_display()`: an engine's result back to linear (the transfer's inverse, or the shaper's);
- `view()`: a display-referred picture for people (QC previews), clipped to [0, 1].
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from void_core.errors import MediaError
from void_core.media import colour, shaper
from void_core.media.colour import Transfer
from void_core.media.sequence import (
    IMAGE_SUFFIXES,
    ImageSequence,
    find_sequence,
    read_exr_rgb,
    read_png_codes,
)
from void_core.media.video import VIDEO_SUFFIXES, VideoInfo, iter_video_codes, probe_video


@dataclass(frozen=True)
class PlateInfo:
    """Geometry, timing and colour of a plate."""

    path: Path
    kind: str  # "video", "exr" or "png"
    width: int
    height: int
    frame_count: int
    rate: Fraction | None
    transfer: Transfer
    first_frame: int | None  # the sequence's own first frame number (sequences only)
    bit_depth: int
    description: str  # codec / pixel format, for logs and lineage

    @property
    def linear_source(self) -> bool:
        return self.kind == "exr"


class Plate:
    """A plate opened for streaming; see module docstring."""

    def __init__(self, info: PlateInfo, video: VideoInfo | None = None,
                 sequence: ImageSequence | None = None):
        self.info = info
        self._video = video
        self._sequence = sequence

    def frames(self) -> Iterator[np.ndarray]:
        """Raw frames in order: uint8/uint16 code values, or float16/float32 linear for EXR."""
        if self._video is not None:
            yield from iter_video_codes(self._video)
            return
        assert self._sequence is not None
        read = read_exr_rgb if self.info.kind == "exr" else read_png_codes
        for path in self._sequence.frames:
            frame = read(path)
            if frame.shape[:2] != (self.info.height, self.info.width):
                raise MediaError(path, f"frame is {frame.shape[1]}x{frame.shape[0]}, the sequence "
                                       f"is {self.info.width}x{self.info.height}")
            yield frame

    def linear(self, raw: np.ndarray) -> np.ndarray:
        """What the output EXR holds for an untouched pixel: the source, linear, bit-exact."""
        if self.info.linear_source:
            return raw
        return colour.codes_to_linear_half(raw, self.info.transfer)

    def display(self, raw: np.ndarray) -> np.ndarray:
        """Float32 [0, 1] pixels for the engines: code values, or shaper codes of linear light."""
        if self.info.linear_source:
            return shaper.encode(raw)
        return colour.codes_to_display(raw)

    def from_display(self, display: np.ndarray) -> np.ndarray:
        """An engine's [0, 1] result -> the output EXR's linear encoding (finite, >= 0)."""
        if self.info.linear_source:
            return shaper.decode(display).astype(self.output_dtype)
        linear = colour.to_linear(display, self.info.transfer)
        return linear.astype(self.output_dtype)

    def view(self, raw: np.ndarray) -> np.ndarray:
        """A display-referred float32 [0, 1] picture for people: highlights clip here only."""
        if self.info.linear_source:
            finite = np.nan_to_num(np.asarray(raw, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
            return colour.to_display(finite, self.info.transfer)
        return colour.codes_to_display(raw)

    @property
    def engine_encoding(self) -> str:
        """What the engines see, for lineage: the shaper, or the plate's own display codes."""
        if self.info.linear_source:
            return f"{shaper.NAME} shaper [0, 1] = linear 0..{shaper.LINEAR_MAX:.2f}"
        return f"display code values ({self.info.transfer.value})"

    @property
    def output_dtype(self) -> np.dtype:
        """Half, except float32 EXR sources stay float32 (so untouched pixels stay bit-exact)."""
        if self.info.kind == "exr" and self.info.bit_depth == 32:
            return np.dtype(np.float32)
        return np.dtype(np.float16)


def open_plate(path: str | Path, *, transfer: Transfer | None = None,
               rate: Fraction | None = None) -> Plate:
    """Open a video file, a frame folder or a `name.####.ext` pattern.

    Args:
        path: the plate.
        transfer: override the display transfer (video/PNG: how to linearise; EXR: how QC
            previews show it). Default: the stream's tag, else sRGB.
        rate: frame rate for image sequences (they carry none); ignored for video.
    """
    path = Path(path)
    if path.suffix.lower() in VIDEO_SUFFIXES or (path.is_file() and path.suffix.lower() not in IMAGE_SUFFIXES):
        return _open_video(path, transfer)
    return _open_sequence(path, transfer, rate)


def _open_video(path: Path, transfer: Transfer | None) -> Plate:
    video = probe_video(path, transfer=transfer)
    info = PlateInfo(
        path=path, kind="video", width=video.width, height=video.height,
        frame_count=video.frame_count, rate=video.rate, transfer=video.transfer,
        first_frame=None, bit_depth=video.bit_depth,
        description=f"{video.codec} {video.pix_fmt} {video.bit_depth}-bit {video.matrix}"
                    f" {'full' if video.full_range else 'limited'} range",
    )
    return Plate(info, video=video)


def _open_sequence(path: Path, transfer: Transfer | None, rate: Fraction | None) -> Plate:
    if not path.exists() and not path.parent.is_dir():
        raise MediaError(path, "not found")
    sequence = find_sequence(path)
    kind = sequence.suffix.lstrip(".")
    first = read_exr_rgb(sequence.frames[0]) if kind == "exr" else read_png_codes(sequence.frames[0])
    bits = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16, np.dtype(np.float16): 16}.get(first.dtype, 32)
    info = PlateInfo(
        path=Path(sequence.pattern), kind=kind, width=first.shape[1], height=first.shape[0],
        frame_count=len(sequence.frames), rate=rate, transfer=transfer or Transfer.SRGB,
        first_frame=sequence.first_frame, bit_depth=bits,
        description=f"{kind} sequence {first.dtype}",
    )
    return Plate(info, sequence=sequence)
