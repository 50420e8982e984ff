"""Decode video files with PyAV, one frame at a time.

`probe_video` reads the container header (and counts packets when the container does not say
how many frames it holds); `iter_video_codes` yields RGB code values per frame: uint8 for 8-bit
sources, uint16 for deeper ones (10-bit ProRes/DNxHR/H.264 keep their precision). The YUV->RGB
matrix and range follow the stream's tags, falling back to the usual guesses (BT.709 at HD and
above, BT.601 below; limited range) when untagged.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Interpolation

from void_core.cpus import thread_count
from void_core.errors import MediaError
from void_core.media.colour import Transfer, transfer_from_trc
from void_core.naming import VIDEO_SUFFIXES  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)


# FFmpeg AVColorSpace codes -> swscale matrices.
_MATRIX_BY_CODE = {1: "itu709", 5: "itu601", 6: "smpte170m", 7: "smpte240m", 9: "bt2020", 10: "bt2020"}
_JPEG_RANGE = 2  # AVCOL_RANGE_JPEG (full range)
# Accurate rounding and full chroma interpolation: swscale's fast path decodes ~1 code value dark.
_YUV_TO_RGB = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


@dataclass(frozen=True)
class VideoInfo:
    """What a video stream holds, as needed to decode it and to name its frames."""

    path: Path
    width: int
    height: int
    frame_count: int
    rate: Fraction
    codec: str
    pix_fmt: str
    bit_depth: int
    matrix: str
    full_range: bool
    transfer: Transfer


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise MediaError(path, "file not found")
    if path.is_dir():
        raise MediaError(path, "is a folder, expected a video file")
    try:
        return av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise MediaError(path, f"cannot open as video ({_short(err)})") from None


def _short(err: Exception) -> str:
    return str(err).split("\n")[0].rstrip(": '\"")


def _bit_depth(stream: av.video.stream.VideoStream) -> int:
    fmt = stream.codec_context.format
    if fmt is None:
        return 8
    return max((c.bits for c in fmt.components), default=8)


def _count_frames(container: av.container.InputContainer, stream) -> int:
    """Count video packets without decoding (for containers that do not store a frame count)."""
    count = 0
    for packet in container.demux(stream):
        if packet.size and packet.pts is not None:
            count += 1
    return count


def probe_video(path: str | Path, *, transfer: Transfer | None = None) -> VideoInfo:
    """Read a video's geometry, frame count, exact rate and colour tags.

    Args:
        path: the video file.
        transfer: override the transfer function the stream is tagged with.

    Raises:
        MediaError: missing file, not a video, no video stream, or no frames.
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        stat = None
    if stat is None or path.is_dir():
        return _probe(path, transfer)  # _open says what is wrong
    # Cached by (path, size, mtime): opening a 4K stream costs ~0.3 s (FFmpeg decodes its
    # first frame to learn the format) and one shot probes its plate several times.
    info = _probe_cached(path.resolve(), transfer, (stat.st_size, stat.st_mtime_ns))
    return info if info.path == path else dataclasses.replace(info, path=path)


@functools.lru_cache(maxsize=64)
def _probe_cached(path: Path, transfer: Transfer | None, _stamp: tuple[int, int]) -> VideoInfo:
    return _probe(path, transfer)


def _probe(path: Path, transfer: Transfer | None) -> VideoInfo:
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(path, "has no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise MediaError(path, "video stream has no frame rate")
        frames = stream.frames or _count_frames(container, stream)
        if frames <= 0 or not ctx.width or not ctx.height:
            raise MediaError(path, "video stream has no frames")
        matrix = _MATRIX_BY_CODE.get(ctx.colorspace, "itu709" if ctx.height >= 720 else "itu601")
        return VideoInfo(
            path=path,
            width=ctx.width,
            height=ctx.height,
            frame_count=int(frames),
            rate=Fraction(rate.numerator, rate.denominator),
            codec=ctx.name,
            pix_fmt=ctx.pix_fmt or "unknown",
            bit_depth=_bit_depth(stream),
            matrix=matrix,
            full_range=ctx.color_range == _JPEG_RANGE or (ctx.pix_fmt or "").startswith("yuvj"),
            transfer=transfer or transfer_from_trc(ctx.color_trc),
        )


def _decoded_frames(info: VideoInfo) -> Iterator[av.VideoFrame]:
    with _open(info.path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = thread_count()
        try:
            yield from container.decode(stream)
        except av.FFmpegError as err:
            raise MediaError(info.path, f"decoding failed ({_short(err)})") from None


def _to_rgb(frame: av.VideoFrame, info: VideoInfo, fmt: str) -> np.ndarray:
    if frame.format.name.startswith(("rgb", "bgr", "gbr")):
        return frame.to_ndarray(format=fmt)
    converted = frame.reformat(
        format=fmt,
        src_colorspace=info.matrix,
        src_color_range="JPEG" if info.full_range else "MPEG",
        dst_color_range="JPEG",
        interpolation=_YUV_TO_RGB,
    )
    return converted.to_ndarray()


# Start further in than this and decoding seeks to a keyframe before the first frame instead
# of decoding everything before it (a clip near the end of a long camera original).
SEEK_AFTER_FRAMES = 48


def iter_video_codes(info: VideoInfo, first: int = 0,
                     count: int | None = None) -> Iterator[np.ndarray]:
    """Yield frames `first`.. (`count` of them, default all) as RGB code values, (H, W, 3)
    uint8 (8-bit) or uint16 (deeper). Frames before `first` are decoded, not converted; far
    in, decoding starts at the keyframe before `first` (frames are told apart by timestamp).

    Raises:
        MediaError: the stream fails to decode, or holds fewer frames than probed.
    """
    fmt = "rgb24" if info.bit_depth <= 8 else "rgb48le"
    for frame in _frames_in_range(info, first, count):
        yield _to_rgb(frame, info, fmt)


def _frames_in_range(info: VideoInfo, first: int, count: int | None) -> Iterator[av.VideoFrame]:
    """The decoded frames `first`.. (`count` of them, default all), checked to be consecutive."""
    end = info.frame_count if count is None else min(info.frame_count, first + count)
    expected = first
    for index, frame in _indexed_frames(info, first):
        if index >= end:
            break
        if index < first:
            continue
        if index != expected:  # only after seeking: timestamps that skip or repeat a frame
            raise MediaError(info.path, f"frame timestamps are irregular near frame {expected} "
                                        "(variable frame rate?)",
                             "transcode to a constant-frame-rate intermediate")
        yield frame
        expected += 1
    if expected < end:
        raise MediaError(info.path, f"decoded frames up to {expected}, the container said "
                                    f"{info.frame_count}")


def _indexed_frames(info: VideoInfo, first: int) -> Iterator[tuple[int, av.VideoFrame]]:
    """(index, frame) for the whole stream, or, far in, from the keyframe at or before `first`
    with indices from timestamps. When the stream cannot place a seek exactly (no timestamps,
    landing past `first`), it decodes from the start instead."""
    if first >= SEEK_AFTER_FRAMES:
        with _open(info.path) as container:
            stream = container.streams.video[0]
            landed = _seek_before(container, stream, first, info.rate)
            if landed is not None:
                yield from _placed(stream, landed, info)
                return
    yield from enumerate(_decoded_frames(info))


def _seek_before(container, stream, first: int, rate: Fraction):
    """Seek to the keyframe at or before frame `first`; returns (its index, its frame, the
    decoder) or None when timestamps cannot place it (then decode from the start)."""
    if stream.time_base is None or stream.start_time is None:
        return None
    stream.thread_type = "AUTO"
    stream.thread_count = thread_count()
    origin = stream.start_time
    try:
        container.seek(origin + int(Fraction(first) / rate / Fraction(stream.time_base)),
                       stream=stream, backward=True, any_frame=False)
        frames = container.decode(stream)
        head = next(frames, None)
    except av.FFmpegError:
        return None
    index = None if head is None else _index_of(head, stream, rate)
    return (index, head, frames) if index is not None and index <= first else None


def _placed(stream, landed, info: VideoInfo) -> Iterator[tuple[int, av.VideoFrame]]:
    index, head, frames = landed
    yield index, head
    try:
        for frame in frames:
            index = _index_of(frame, stream, info.rate)
            if index is None:
                raise MediaError(info.path, "a frame without a timestamp after seeking")
            yield index, frame
    except av.FFmpegError as err:
        raise MediaError(info.path, f"decoding failed ({_short(err)})") from None


def _index_of(frame: av.VideoFrame, stream, rate: Fraction) -> int | None:
    if frame.pts is None:
        return None
    return round((frame.pts - stream.start_time) * Fraction(stream.time_base) * rate)


def iter_video_luma(info: VideoInfo, first: int = 0,
                    count: int | None = None) -> Iterator[np.ndarray]:
    """Yield frames `first`.. (`count` of them, default all) as raw 8-bit luma planes (H, W)
    uint8, no range conversion; far in, decoding starts at the keyframe before `first`.

    Used for masks: grey content lives entirely in Y, so reading Y and expanding the range
    ourselves is exact, whatever matrix the file is tagged with.
    """
    for frame in _frames_in_range(info, first, count):
        yield _luma(frame, info)


def _luma(frame: av.VideoFrame, info: VideoInfo) -> np.ndarray:
    name = frame.format.name
    if name.startswith(("yuv", "yuvj", "gray", "nv12")) and info.bit_depth <= 8:
        plane = frame.planes[0]
        luma = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)
        return luma[:, : frame.width].copy()
    return frame.to_ndarray(format="gray")
