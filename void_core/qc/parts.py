"""QC of a long shot in parts: each part writes its frames' preview segment (an H.264 MP4 of
the preview's settings) and the contact-sheet and strip rows sampled in its range; the finish
joins the segments into the preview by remuxing their packets (no re-encode) and stacks the
rows. The part files live in the shot's work folder (`OUT/.void-work/<shot>/qc/`).
"""

from __future__ import annotations

import io
import os
import uuid
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from void_core.atomic import write_atomically
from void_core.errors import MediaError
from void_core.media.colour import Transfer
from void_core.qc.frames import STRIP_MAX_BYTES, open_sources
from void_core.qc.write import preview_writer, qc_layout, walk, write_bounded_jpeg, write_png

ROW_NAMES = ("sheet", "strip")


def part_files(folder: Path, label: str) -> tuple[Path, Path]:
    """(preview segment, sampled rows) of part `label` (`0001-0120`) in `folder`."""
    return Path(folder) / f"segment-{label}.mp4", Path(folder) / f"rows-{label}.npz"


def write_qc_part(plate_path: Path, quadmask_path: Path, exr_dir: Path, folder: Path,
                  start: int, stop: int, label: str, *, transfer: Transfer | str | None = None,
                  rate: Fraction | None = None) -> tuple[Path, Path]:
    """Frames [start, stop) of the shot's QC: their preview segment and the sheet and strip
    rows whose frames fall in the range, as `part_files(folder, label)`. Raises as
    `write_qc_preview`."""
    sources = open_sources(plate_path, quadmask_path, exr_dir, transfer, rate)
    if not 0 <= start < stop <= sources.frame_count:
        raise ValueError(f"QC part {label}: frames [{start}, {stop}) are not in the shot's "
                         f"{sources.frame_count}")
    layout = qc_layout(sources)
    segment, rows_path = part_files(folder, label)
    segment.parent.mkdir(parents=True, exist_ok=True)
    with preview_writer(segment, sources.rate) as writer:
        rows = walk(sources, start, stop, preview=writer, preview_size=layout.preview,
                    rows={"sheet": layout.sheet, "strip": layout.strip})
    buffer = io.BytesIO()
    np.savez(buffer, **rows)
    write_atomically(rows_path, buffer.getvalue())
    return segment, rows_path


def join_qc_parts(folder: Path, labels: list[str], preview: Path, sheet: Path, strip: Path, *,
                  max_bytes: int = STRIP_MAX_BYTES) -> tuple[Path, Path, Path]:
    """The shot's preview, contact sheet and strip from its parts' files (`labels` in frame
    order), each written atomically, as one pass (`write_qc`) would write them."""
    files = [part_files(folder, label) for label in labels]
    rows = [_read_rows(path) for _, path in files]
    stacked = {name: np.concatenate([part[name] for part in rows], axis=0) for name in ROW_NAMES}
    Path(preview).parent.mkdir(parents=True, exist_ok=True)
    return (join_segments([segment for segment, _ in files], Path(preview)),
            write_png(Path(sheet), stacked["sheet"]),
            write_bounded_jpeg(Path(strip), stacked["strip"], max_bytes))


def _read_rows(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise MediaError(path, "QC part rows not found", "rerun the shot's QC")
    with np.load(path) as rows:
        return {name: rows[name] for name in ROW_NAMES}


def join_segments(segments: list[Path], out_path: Path) -> Path:
    """One MP4 of `segments` one after the other, their packets copied (no re-encode) with
    timestamps moved past the frames before them. Written under a temporary name, renamed
    when complete.

    Raises:
        MediaError: a segment missing, or encoded with other settings than the first (their
            H.264 headers differ, so the joined stream would not decode).
    """
    temporary = out_path.with_name(f".{out_path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}"
                                   f".partial{out_path.suffix}")
    try:
        _remux(segments, temporary)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, out_path)
    return out_path


def _remux(segments: list[Path], out_path: Path) -> None:
    for path in segments:
        if not path.is_file():
            raise MediaError(path, "QC preview segment not found", "rerun the shot's QC")
    with av.open(str(segments[0])) as first, av.open(str(out_path), "w", format="mp4") as out:
        template = first.streams.video[0]
        headers = bytes(template.codec_context.extradata or b"")
        stream = out.add_stream_from_template(template)
        start = Fraction(0)  # seconds of the segments before this one
        for path in segments:
            with av.open(str(path)) as segment:
                source = segment.streams.video[0]
                if bytes(source.codec_context.extradata or b"") != headers:
                    raise MediaError(path, "was encoded with other settings than "
                                           f"{segments[0].name} (its H.264 headers differ): "
                                           "segments cannot be joined",
                                     "rerun the shot's QC so every part is encoded alike")
                start += _copy_packets(segment, source, stream, out, start)


def _copy_packets(segment, source, stream, out, start: Fraction) -> Fraction:
    """Mux every packet of `source` at `start` seconds on; returns the segment's length."""
    shift = start / source.time_base
    if shift.denominator != 1:
        raise MediaError(Path(segment.name), f"starts at {float(start):.6f} s, not a whole "
                                             "tick of its time base: cannot join")
    end = 0
    for packet in segment.demux(source):
        if packet.dts is None:  # the demuxer's empty packet at the end
            continue
        end = max(end, packet.pts + packet.duration)
        packet.pts += int(shift)
        packet.dts += int(shift)
        packet.stream = stream
        out.mux(packet)
    return end * source.time_base


__all__ = ["join_qc_parts", "join_segments", "part_files", "write_qc_part"]
