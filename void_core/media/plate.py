"""One interface over every kind of plate: video files and EXR/PNG image sequences.

A `Plate` streams *raw* frames (video and PNG: RGB code values; EXR: scene-linear floats as
stored) and converts them on demand:

- `linear()`: what goes into the output EXR outside the mask, in the working colour space
  (exactly the source: code values through a LUT built from OCIO, or the EXR's own bits when
  the EXR is already in the working space);
- `display()`: the float32 [0, 1] pixels the engines see. Display-referred plates give their
  own code values (a bounded encoding that round-trips); scene-linear plates go through the
  ACEScct shaper (`media/shaper.py`), so nothing above 1.0 is clipped;
- `from_display()`: an engine's result back to working linear (OCIO, or the shaper's inverse);
- `view()`: a display-referred picture for people (QC previews), clipped to [0, 1].

Colour (`ColourSpec`, all optional): the input colour space defaults to the transfer's colour
space for code values (video tag, else sRGB) and to scene-linear Rec.709 for EXR; the working
space defaults to the EXR's own space when that is scene-linear, else scene-linear Rec.709.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from void_core.errors import ColourError, MediaError
from void_core.media import colour, ocio, shaper
from void_core.media.colour import Transfer
from void_core.media.ocio import ColourSpec
from void_core.media.sequence import (
    IMAGE_SUFFIXES,
    OIIO_SUFFIXES,
    ImageFormat,
    ImageSequence,
    find_sequence,
    image_format,
    read_exr_rgb,
    read_image_frame,
    read_png_codes,
)
from void_core.media.video import VIDEO_SUFFIXES, VideoInfo, iter_video_codes, probe_video


@dataclass(frozen=True)
class PlateInfo:
    """Geometry, timing and colour of a plate."""

    path: Path
    kind: str  # "video", "exr", "png", "dpx", "tif" or "tiff"
    width: int
    height: int
    frame_count: int
    rate: Fraction | None
    transfer: Transfer
    first_frame: int | None  # the sequence's own first frame number (sequences only)
    bit_depth: int  # of the codes (video: the stream's; a 10-bit DPX: 10) or of the floats
    description: str  # codec / pixel format, for logs and lineage
    floats: bool = False  # raw frames are floats (EXR, float TIFF), else integer code values
    colour_config: str = ocio.DEFAULT_CONFIG
    colorspace: str = ocio.LINEAR_REC709  # the plate's input colour space (OCIO name)
    working: str = ocio.LINEAR_REC709  # the output EXR's colour space (scene-linear)

    @property
    def linear_source(self) -> bool:
        """Raw frames are floats: they reach the engines through the shaper."""
        return self.floats

    @property
    def code_bits(self) -> int:
        """The range of the raw integer codes: 8 (uint8), 16 (uint16 at full scale, as video and
        PNG decode), or a DPX/TIFF's own depth (10 -> 0..1023)."""
        if self.kind in ("dpx", "tif", "tiff"):
            return self.bit_depth
        return 8 if self.bit_depth <= 8 else 16


class Plate:
    """A plate opened for streaming; see module docstring."""

    def __init__(self, info: PlateInfo, video: VideoInfo | None = None,
                 sequence: ImageSequence | None = None, image: ImageFormat | None = None):
        self.info = info
        self._video = video
        self._sequence = sequence
        self._image = image  # DPX/TIFF sequences: what OIIO reads
        self._codes = None  # code values -> working linear (LUT form), when it exists
        self._code_max = np.float32(2**info.code_bits - 1)
        if not info.linear_source:
            self._codes = ocio.code_transform(info.colour_config, info.colorspace, info.working,
                                              info.code_bits)

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Raw frames [start, stop) in order (default all): uint8/uint16 code values, or
        float16/float32 linear for EXR. Sequences read only those files; video seeks to the
        keyframe before `start` when it is far in."""
        stop = self.info.frame_count if stop is None else min(stop, self.info.frame_count)
        if self._video is not None:
            yield from iter_video_codes(self._video, start, max(0, stop - start))
            return
        assert self._sequence is not None
        for path in self._sequence.frames[start:stop]:
            frame = self._read(path)
            if frame.shape[:2] != (self.info.height, self.info.width):
                raise MediaError(path, f"frame is {frame.shape[1]}x{frame.shape[0]}, the sequence "
                                       f"is {self.info.width}x{self.info.height}")
            yield frame

    def _read(self, path: Path) -> np.ndarray:
        if self._image is not None:
            return read_image_frame(path, self._image)
        return read_exr_rgb(path) if self.info.kind == "exr" else read_png_codes(path)

    def _codes_to_unit(self, raw: np.ndarray) -> np.ndarray:
        return raw.astype(np.float32) / self._code_max

    @property
    def converts(self) -> bool:
        """The plate's colour space is not the working space."""
        return self.info.colorspace != self.info.working

    def _convert(self, rgb: np.ndarray) -> np.ndarray:
        return ocio.convert(rgb, self.info.colour_config, self.info.colorspace, self.info.working)

    def linear(self, raw: np.ndarray) -> np.ndarray:
        """What the output EXR holds for an untouched pixel: the source in the working space,
        bit-exact when it already is."""
        if self.info.linear_source:
            return self._convert(raw).astype(self.output_dtype) if self.converts else raw
        if self._codes is not None and self._codes.matrix is None:
            return self._codes.lut_half[raw]
        if self._codes is not None:
            return self._codes(raw).astype(np.float16)
        return self._convert(self._codes_to_unit(raw)).astype(np.float16)

    def display(self, raw: np.ndarray) -> np.ndarray:
        """Float32 [0, 1] pixels for the engines: code values, or shaper codes of linear light."""
        if self.info.linear_source:
            return shaper.encode(self._convert(raw) if self.converts else raw)
        return self._codes_to_unit(raw)

    def from_display(self, display: np.ndarray) -> np.ndarray:
        """An engine's [0, 1] result -> the output EXR's linear encoding (finite, >= 0)."""
        if self.info.linear_source:
            return shaper.decode(display).astype(self.output_dtype)
        return self._convert(display).astype(self.output_dtype)

    def view(self, raw: np.ndarray) -> np.ndarray:
        """A display-referred float32 [0, 1] picture for people: highlights clip here only.
        Display-referred code plates show their own codes."""
        if not self.info.linear_source and self.info.colorspace == self._view_space():
            return self._codes_to_unit(raw)
        return self.view_linear(self.linear(raw))

    def view_linear(self, linear: np.ndarray) -> np.ndarray:
        """Working-space linear pixels (an output EXR) as a display-referred float32 [0, 1]
        picture, in the plate's transfer (sRGB for EXR plates unless --transfer says)."""
        finite = np.nan_to_num(np.asarray(linear, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        space = self._view_space()
        if space is None:  # a config without the transfer's colour space: Rec.709 assumed
            return colour.to_display(finite, self.info.transfer)
        shown = ocio.convert(finite, self.info.colour_config, self.info.working, space)
        return np.clip(shown, 0.0, 1.0)

    def _view_space(self) -> str | None:
        name = colour.TRANSFER_COLORSPACES[self.info.transfer]
        if not ocio.has_colorspace(self.info.colour_config, name):
            return None
        return ocio.colorspace(self.info.colour_config, name)

    @property
    def engine_encoding(self) -> str:
        """What the engines see, for lineage: the shaper, or the plate's own display codes."""
        if self.info.linear_source:
            return f"{shaper.NAME} shaper [0, 1] = linear 0..{shaper.LINEAR_MAX:.2f}"
        return f"code values ({self.info.colorspace})"

    @property
    def chromaticities(self) -> tuple[float, ...]:
        """The working space's primaries and white, for the EXR header."""
        if self.info.working == ocio.LINEAR_REC709:
            return colour.REC709_CHROMATICITIES
        return ocio.chromaticities(self.info.colour_config, self.info.working)

    @property
    def output_dtype(self) -> np.dtype:
        """Half, except float32 sources stay float32 (so untouched pixels stay bit-exact)."""
        if self.info.floats and self.info.bit_depth == 32:
            return np.dtype(np.float32)
        return np.dtype(np.float16)


def open_plate(path: str | Path, *, transfer: Transfer | None = None,
               rate: Fraction | None = None, colour_spec: ColourSpec | None = None) -> Plate:
    """Open a video file, a frame folder or a `name.####.ext` pattern.

    Args:
        path: the plate.
        transfer: override the display transfer (video/PNG: how to linearise; EXR: how QC
            previews show it). Default: the stream's tag, else sRGB.
        rate: frame rate for image sequences (they carry none); ignored for video.
        colour_spec: OCIO config, input and working colour spaces (None: the defaults).

    Raises:
        MediaError: the plate does not open. ColourError: an unknown config or colour space.
    """
    path = Path(path)
    if path.suffix.lower() in VIDEO_SUFFIXES or (path.is_file() and path.suffix.lower() not in IMAGE_SUFFIXES):
        (info, video), sequence, image = _open_video(path, transfer), None, None
    else:
        (info, sequence, image), video = _open_sequence(path, transfer, rate), None
    return Plate(_with_colour(info, colour_spec or ColourSpec()), video=video, sequence=sequence,
                 image=image)


def _with_colour(info: PlateInfo, spec: ColourSpec) -> PlateInfo:
    """Resolve the plate's input and working colour spaces in the active config."""
    config = ocio.config_name(spec)
    ocio.load_config(config)  # a missing or broken config is named as such
    default = ocio.LINEAR_REC709 if info.linear_source else colour.TRANSFER_COLORSPACES[info.transfer]
    if not spec.input_colorspace and not ocio.has_colorspace(config, default):
        config = ocio.DEFAULT_CONFIG  # a facility config without today's names: today's result
    if spec.input_colorspace:
        source = ocio.colorspace(config, spec.input_colorspace, what="input colour space")
    else:
        source = ocio.colorspace(config, default)
    if spec.working_colorspace:
        working = ocio.colorspace(config, spec.working_colorspace, what="working colour space")
    elif info.linear_source and ocio.encoding(config, source) == ocio.SCENE_LINEAR:
        working = source
    elif ocio.has_colorspace(config, ocio.LINEAR_REC709):
        working = ocio.colorspace(config, ocio.LINEAR_REC709)
    else:
        working = ocio.colorspace(config, "scene_linear", what="the scene_linear role")
    if ocio.encoding(config, working) != ocio.SCENE_LINEAR:
        raise ColourError(None, f"working colour space {working!r} is not scene-linear "
                                f"({ocio.encoding(config, working) or 'no encoding'})",
                          "EXR plates are written in linear light: pick e.g. ACEScg or "
                          f"{ocio.LINEAR_REC709!r}")
    return dataclasses.replace(info, colour_config=config, colorspace=source, working=working)


def _open_video(path: Path, transfer: Transfer | None) -> tuple[PlateInfo, VideoInfo]:
    video = probe_video(path, transfer=transfer)
    info = PlateInfo(
        path=path, kind="video", width=video.width, height=video.height,
        frame_count=video.frame_count, rate=video.rate, transfer=video.transfer,
        first_frame=None, bit_depth=video.bit_depth,
        description=f"{video.codec} {video.pix_fmt} {video.bit_depth}-bit {video.matrix}"
                    f" {'full' if video.full_range else 'limited'} range",
    )
    return info, video


def _open_sequence(path: Path, transfer: Transfer | None, rate: Fraction | None
                   ) -> tuple[PlateInfo, ImageSequence, ImageFormat | None]:
    if not path.exists() and not path.parent.is_dir():
        raise MediaError(path, "not found")
    sequence = find_sequence(path)
    kind = sequence.suffix.lstrip(".")
    image = image_format(sequence.frames[0]) if sequence.suffix in OIIO_SUFFIXES else None
    if image is not None:
        first = read_image_frame(sequence.frames[0], image)
        bits, floats, description = image.bits, image.floats, f"{image.description} sequence"
    else:
        first = read_exr_rgb(sequence.frames[0]) if kind == "exr" else read_png_codes(sequence.frames[0])
        bits = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16, np.dtype(np.float16): 16}.get(first.dtype, 32)
        floats, description = kind == "exr", f"{kind} sequence {first.dtype}"
    info = PlateInfo(
        path=Path(sequence.pattern), kind=kind, width=first.shape[1], height=first.shape[0],
        frame_count=len(sequence.frames), rate=rate, transfer=transfer or Transfer.SRGB,
        first_frame=sequence.first_frame, bit_depth=bits, description=description, floats=floats,
    )
    return info, sequence, image
