"""A clip's frames out of longer media.

Editors cut shots out of camera originals and long pulls: a clip's source range is often a few
seconds inside a file of minutes, or a stretch of a longer image sequence. The shot stages work
on a plate that is exactly the clip, so ingest stages one:

- an image sequence becomes a folder of symbolic links to the clip's frames (names kept,
  nothing copied);
- a video becomes `plate.mkv`: the clip's frames decoded to RGB codes exactly as the plate
  reader decodes them, stored losslessly (FFV1, planar RGB at the source's depth) with the
  source's transfer tag, so the staged plate reads back as the same codes.

The stage is reused while the source file and the range are unchanged (a sidecar JSON records
both), so a rerun neither re-encodes nor changes the plate's digest.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from fractions import Fraction
from pathlib import Path

import av

from void_core.errors import MediaError
from void_core.media.colour import TRC_BY_TRANSFER as _TRC_BY_TRANSFER
from void_core.media.sequence import find_sequence
from void_core.media.video import VideoInfo, iter_video_codes, probe_video

SIDECAR = "clip_range.json"
LOSSLESS_CODEC = "ffv1"
_TIMECODE = re.compile(r"^\d{1,2}:\d{2}:\d{2}[:;.]\d{2,3}$")


def stage_clip(media: Path, kind: str, first: int, count: int, folder: Path) -> Path:
    """The clip's `count` frames from frame index `first` (0-based) of `media`, staged in
    `folder`; returns the plate path (a sequence folder or `plate.mkv`).

    Raises:
        MediaError: the media cannot be read, holds fewer frames than the range, or its pixel
            format has no lossless encoding here.
    """
    media = Path(media)
    source = _source_identity(media, kind, first, count)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / ("frames" if kind != "video" else "plate.mkv")
    sidecar = folder / SIDECAR
    if target.exists() and sidecar.is_file() and _read_json(sidecar) == source:
        return target
    sidecar.unlink(missing_ok=True)
    if kind == "video":
        _encode_range(media, first, count, target)
    else:
        _link_frames(media, first, count, target)
    sidecar.write_text(json.dumps(source))
    return target


def video_start_frame(path: Path, rate: Fraction) -> int | None:
    """The video's start timecode as a frame count at `rate` (as an EDL's source timecodes
    count), from the container's or a stream's `timecode` tag; None when it has none."""
    from opentimelineio.opentime import from_timecode

    try:
        with av.open(str(path)) as container:
            tags = [container.metadata, *(stream.metadata for stream in container.streams)]
    except (av.FFmpegError, OSError):
        return None
    for tag in tags:
        value = (tag.get("timecode") or "").strip()
        if _TIMECODE.match(value):
            return round(from_timecode(value.replace(".", ":"), float(rate)).value)
    return None


def sequence_start_frame(media: Path, rate: Fraction) -> int | None:
    """An EXR sequence's start timecode (its first frame's `timeCode` attribute) as a frame
    count at `rate`; None for other sequences or frames without one."""
    import OpenEXR
    from opentimelineio.opentime import from_timecode

    try:
        first = find_sequence(media).frames[0]
    except MediaError:
        return None
    if first.suffix.lower() != ".exr":
        return None
    try:
        with OpenEXR.File(str(first)) as exr:
            code = exr.header().get("timeCode")
    except Exception:  # the bindings raise plain Exception on unreadable files
        return None
    if code is None:
        return None
    separator = ";" if code.dropFrame else ":"
    text = f"{code.hours:02d}:{code.minutes:02d}:{code.seconds:02d}{separator}{code.frame:02d}"
    return round(from_timecode(text, float(rate)).value)


def _source_identity(media: Path, kind: str, first: int, count: int) -> dict:
    stat = media.stat() if media.exists() else None
    return {"media": str(media.resolve()), "kind": kind, "first": first, "count": count,
            "size": stat.st_size if stat else None, "mtime_ns": stat.st_mtime_ns if stat else None}


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _link_frames(media: Path, first: int, count: int, target: Path) -> None:
    frames = find_sequence(media).frames
    if first + count > len(frames):
        raise MediaError(media, f"holds {len(frames)} frames, the clip needs frames "
                                f"{first}..{first + count - 1}")
    staging = target.with_name(f".{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for frame in frames[first:first + count]:
        (staging / frame.name).symlink_to(frame.resolve())
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def _encode_range(media: Path, first: int, count: int, target: Path) -> None:
    info = probe_video(media)
    if first + count > info.frame_count:
        raise MediaError(media, f"holds {info.frame_count} frames, the clip needs frames "
                                f"{first}..{first + count - 1}")
    partial = target.with_name(f".{target.stem}.partial{target.suffix}")
    try:
        _write_rgb_lossless(info, iter_video_codes(info, first, count), partial)
    except (av.FFmpegError, MediaError):
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)


def _write_rgb_lossless(info: VideoInfo, frames, out_path: Path) -> None:
    """RGB codes -> FFV1 planar RGB. Stored as RGB, not the source's YUV: converting the
    source's YUV here, exactly as the plate reader does, and storing the result makes the staged
    plate decode to the same codes (YUV copied as YUV would be read back with another chroma
    siting, which PyAV cannot carry over). The transfer tag is kept for linearisation."""
    deep = info.bit_depth > 8
    with av.open(str(out_path), "w", format="matroska") as out:
        stream = out.add_stream(LOSSLESS_CODEC, rate=info.rate)
        stream.width, stream.height = info.width, info.height
        stream.pix_fmt = "gbrp16le" if deep else "bgr0"  # FFV1 takes 8-bit RGB as bgr0
        trc = _TRC_BY_TRANSFER.get(info.transfer)
        if trc is not None:
            stream.codec_context.color_trc = trc
        for index, codes in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(codes, format="rgb48le" if deep else "rgb24")
            frame.pts = index
            for packet in stream.encode(frame.reformat(format=stream.pix_fmt)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
