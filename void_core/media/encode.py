"""Write videos with PyAV, one frame at a time: pictures (H.264 and friends) and quadmasks.

Pictures are tagged BT.709 (primaries, transfer, matrix) in limited range, so every reader
converts them back to RGB the same way. Quadmasks are stored the way VOID stores them: lossless
H.264 (`qp=0`, 4:4:4) holding limited-range luma, Y = 16 + v * 219 / 255 (0/63/127/255 ->
16/70/125/235) with neutral chroma; any RGB/grey conversion that expands the range returns the
exact mask values.

Writers stream (memory does not grow with the frame count) and are atomic: frames go to a
temporary file beside the destination, which is renamed into place only once the file is
complete, so a reader never sees half a video.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from av.video.reformatter import Interpolation

from void_core import quadmask
from void_core.cpus import thread_count
from void_core.errors import MediaError

# FFmpeg codes for BT.709 primaries / transfer / matrix, and limited ("tv", MPEG) range.
_BT709 = 1
_LIMITED_RANGE = 1

# Box-filtered chroma with exact rounding: swscale's default path darkens by about 1 code value.
_RGB_TO_YUV = Interpolation.AREA | Interpolation.ACCURATE_RND

# Codecs that understand x264-style constant-quality settings.
_CRF_CODECS = ("libx264", "libx265")

# value v (0..255) -> limited-range luma 16 + v * 219 / 255, rounded half up.
_MASK_TO_LUMA = np.floor(16 + np.arange(256) * 219 / 255 + 0.5).astype(np.uint8)


def mask_to_luma(mask: np.ndarray) -> np.ndarray:
    """Full-range values -> the limited-range luma VOID stores (0/63/127/255 -> 16/70/125/235)."""
    return quadmask.lookup(mask, _MASK_TO_LUMA)


def luma_to_mask(luma: np.ndarray) -> np.ndarray:
    """Limited-range luma -> full-range values, (Y - 16) * 255 / 219 rounded and clipped."""
    return quadmask.expand_limited_range(luma)


class _StreamWriter:
    """Shared machinery: temp file, stream set-up, frame-size checks, flush and rename."""

    def __init__(self, path: str | Path, fps: Fraction | int, codec: str, pix_fmt: str,
                 options: dict[str, str]):
        self.path = Path(path)
        self.fps = _as_rate(self.path, fps)
        self.codec = codec
        self.pix_fmt = pix_fmt
        self.frames_written = 0
        self._options = options
        self._tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}"
                                        f".partial{self.path.suffix}")
        self._container: av.container.OutputContainer | None = None
        self._stream = None
        self._size: tuple[int, int] | None = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _open(self, width: int, height: int) -> None:
        _check_size(self.path, width, height, self.pix_fmt)
        if not self.path.parent.is_dir():
            raise MediaError(self.path.parent, "output folder does not exist", "create it first")
        fmt = "mp4" if self.path.suffix.lower() in (".mp4", ".m4v") else None
        try:
            self._container = av.open(str(self._tmp), mode="w", format=fmt)
            stream = self._container.add_stream(self.codec, rate=self.fps, options=self._options)
        except (av.FFmpegError, ValueError) as err:
            self.abort()
            where = self.path.suffix or "this file"
            raise MediaError(self.path, f"cannot encode {self.codec!r} into {where} ({err})",
                             "check the codec name, its options, and that the container "
                             "accepts it (e.g. ffv1 needs .mkv)") from None
        stream.width, stream.height = width, height
        stream.pix_fmt = self.pix_fmt
        ctx = stream.codec_context
        ctx.thread_count = thread_count()
        ctx.color_primaries = ctx.color_trc = ctx.colorspace = _BT709
        ctx.color_range = _LIMITED_RANGE
        self._stream = stream
        self._size = (height, width)

    def _check_frame(self, shape: tuple[int, ...], expected_ndim: int) -> None:
        if len(shape) != expected_ndim or (expected_ndim == 3 and shape[2] != 3):
            kind = "H x W x 3 RGB" if expected_ndim == 3 else "H x W"
            self.abort()
            raise MediaError(self.path, f"frame {self.frames_written} has shape {shape}, "
                                        f"expected {kind} uint8")
        if self._size is None:
            self._open(shape[1], shape[0])
        elif shape[:2] != self._size:
            self.abort()
            raise MediaError(self.path, f"frame {self.frames_written} is {shape[1]}x{shape[0]}, "
                                        f"the first was {self._size[1]}x{self._size[0]}",
                             "all frames of a video must have one size")

    def _encode(self, frame: av.VideoFrame) -> None:
        frame.pts = self.frames_written
        frame.time_base = 1 / self.fps
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except av.FFmpegError as err:
            self.abort()
            raise MediaError(self.path, f"{self.codec} refused frame {self.frames_written} ({err})",
                             "check the size, pixel format and options this codec supports"
                             ) from None
        self.frames_written += 1

    def close(self) -> Path:
        """Flush the encoder and move the finished file into place."""
        if self._container is None:
            self.abort()
            raise MediaError(self.path, "no frames to write", "give at least one frame")
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
        except BaseException:
            self.abort()
            raise
        self._container = None
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file; the destination is left as it was."""
        if self._container is not None:
            try:
                self._container.close()
            except av.FFmpegError:
                pass
            self._container = None
        self._tmp.unlink(missing_ok=True)


class VideoWriter(_StreamWriter):
    """Stream RGB frames (H x W x 3 uint8) into a BT.709, limited-range video.

    Use as a context manager: the file appears at `path` when the block ends without error.
    """

    def __init__(self, path: str | Path, fps: Fraction | int, *, codec: str = "libx264",
                 crf: int = 10, pix_fmt: str = "yuv420p", preset: str | None = None,
                 options: Mapping[str, str] | None = None):
        settings = {"crf": str(crf)} if codec in _CRF_CODECS else {}
        if preset and codec in _CRF_CODECS:
            settings["preset"] = preset
        settings.update({key: str(value) for key, value in (options or {}).items()})
        super().__init__(path, fps, codec, pix_fmt, settings)

    def write(self, rgb: np.ndarray) -> None:
        self._check_frame(rgb.shape, 3)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb, np.uint8), format="rgb24")
        frame = frame.reformat(format=self.pix_fmt, dst_colorspace="itu709",
                               dst_color_range="MPEG", interpolation=_RGB_TO_YUV)
        self._encode(frame)


class MaskVideoWriter(_StreamWriter):
    """Stream masks (H x W uint8) losslessly as limited-range luma, the way VOID stores them."""

    def __init__(self, path: str | Path, fps: Fraction | int):
        super().__init__(path, fps, "libx264", "yuv444p", {"qp": "0", "preset": "ultrafast"})

    def write(self, mask: np.ndarray) -> None:
        self._check_frame(mask.shape, 2)
        luma = mask_to_luma(np.asarray(mask, np.uint8))
        chroma = np.full_like(luma, 128)
        frame = av.VideoFrame.from_ndarray(np.stack([luma, chroma, chroma]), format="yuv444p")
        frame.color_range = _LIMITED_RANGE
        self._encode(frame)


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: Fraction | int, *,
                codec: str = "libx264", crf: int = 10, pix_fmt: str = "yuv420p",
                preset: str | None = None, options: Mapping[str, str] | None = None) -> Path:
    """Encode RGB frames (H x W x 3 uint8) to `path`, tagged BT.709 limited range.

    Args:
        path: destination; written under a temporary name and renamed when complete.
        frames: any iterable, consumed one frame at a time.
        fps: exact frame rate (e.g. `Fraction(24000, 1001)`).
        codec: FFmpeg encoder name (libx264, ffv1, prores_ks, dnxhd, ...).
        crf: constant-quality setting for libx264/libx265 (lower is better; ignored otherwise).
        pix_fmt: encoded pixel format; 4:2:0 needs even width and height.
        preset: x264/x265 speed preset (None: the encoder's default).
        options: further encoder options, e.g. `{"profile": "dnxhr_hq"}` for dnxhd.

    Raises:
        MediaError: odd size for a subsampled format, frames of different sizes or shapes,
            no frames, an unknown codec, or a missing output folder.
    """
    with VideoWriter(path, fps, codec=codec, crf=crf, pix_fmt=pix_fmt, preset=preset,
                     options=options) as writer:
        for rgb in frames:
            writer.write(rgb)
    return Path(path)


def write_mask_video(path: str | Path, masks: Iterable[np.ndarray], fps: Fraction | int) -> Path:
    """Encode masks (H x W uint8, usually 0/63/127/255) losslessly as VOID does.

    libx264 `qp=0`, yuv444p, limited range: value v is stored as Y = 16 + v * 219 / 255
    (rounded), chroma 128. Decoding with range expansion returns the values exactly.

    Raises:
        MediaError: as for `write_video`.
    """
    with MaskVideoWriter(path, fps) as writer:
        for mask in masks:
            writer.write(mask)
    return Path(path)


def _as_rate(path: Path, fps: Fraction | int) -> Fraction:
    try:
        rate = Fraction(fps)
    except (TypeError, ValueError):
        raise MediaError(path, f"frame rate {fps!r} is not a number",
                         "give a Fraction such as Fraction(24000, 1001)") from None
    if rate <= 0:
        raise MediaError(path, f"frame rate must be positive, got {fps}")
    return rate


def _check_size(path: Path, width: int, height: int, pix_fmt: str) -> None:
    try:
        fmt = av.VideoFormat(pix_fmt)
    except (ValueError, av.FFmpegError):
        raise MediaError(path, f"unknown pixel format {pix_fmt!r}") from None
    odd_width = width % 2 and fmt.chroma_width(2) == 1
    odd_height = height % 2 and fmt.chroma_height(2) == 1
    if odd_width or odd_height:
        raise MediaError(path, f"{width}x{height} cannot be stored as {pix_fmt}: its chroma is "
                               "subsampled, so width and height must be even",
                         "crop or pad the frames to an even size, or use yuv444p")
