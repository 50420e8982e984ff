"""The QC files of a shot from one walk over its frames: each frame's plate, quadmask and EXR
are decoded once, then shown as a preview strip (every frame) and as a contact-sheet or strip
row (the sampled frames), each at its own size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from void_core.atomic import write_atomically
from void_core.errors import MediaError
from void_core.media.colour import Transfer
from void_core.media.encode import VideoWriter
from void_core.qc.frames import (
    PREVIEW_CRF, STRIP_MAX_BYTES, STRIP_QUALITIES, Sources, labelled,
    open_sources, preview_panel_size, sample_indices, sheet_row,
)

SHEET_COUNT, SHEET_THUMB_WIDTH = 6, 480  # the contact sheet's rows and panel width
STRIP_COUNT, STRIP_PANEL_WIDTH = 3, 256  # the QC strip's rows and panel width
PREVIEW_MAX_WIDTH = 1920
PREVIEW_PRESET = "veryfast"


@dataclass(frozen=True)
class Rows:
    """The sampled rows of a contact sheet or strip: which frames of the shot, at what size."""

    picks: tuple[int, ...]
    size: tuple[int, int]  # one panel's (width, height)

    @property
    def width(self) -> int:
        return 3 * self.size[0]

    def empty(self) -> np.ndarray:
        """No rows: stacks with rows of this size."""
        return np.zeros((0, self.width, 3), np.uint8)


@dataclass(frozen=True)
class QcLayout:
    """What a shot's QC shows: the preview's panel size, the sheet's and strip's rows."""

    preview: tuple[int, int]
    sheet: Rows
    strip: Rows


def qc_layout(sources: Sources, *, max_width: int = PREVIEW_MAX_WIDTH, count: int = SHEET_COUNT,
              thumb_width: int = SHEET_THUMB_WIDTH, strip_count: int = STRIP_COUNT,
              panel_width: int = STRIP_PANEL_WIDTH) -> QcLayout:
    """Sizes and sampled frames of the shot's preview, contact sheet and strip."""
    if max_width < 6:
        raise ValueError(f"max_width must be at least 6 pixels, got {max_width}")
    if count < 1 or thumb_width < 1 or strip_count < 1 or panel_width < 1:
        raise ValueError(f"row counts and widths must be positive, got {count}, {thumb_width}, "
                         f"{strip_count}, {panel_width}")
    frames, width, height = sources.frame_count, sources.width, sources.height
    strip_width = min(panel_width, width)  # never larger than the plate
    return QcLayout(
        preview=preview_panel_size(width, height, max_width),
        sheet=Rows(tuple(sample_indices(frames, count)), _scaled(width, height, thumb_width)),
        strip=Rows(tuple(sample_indices(frames, strip_count)),
                   _scaled(width, height, strip_width)))


def _scaled(width: int, height: int, panel_width: int) -> tuple[int, int]:
    return panel_width, max(1, round(height * panel_width / width))


def walk(sources: Sources, start: int, stop: int, *, preview: VideoWriter | None,
         preview_size: tuple[int, int] | None, rows: Mapping[str, Rows]) -> dict[str, np.ndarray]:
    """Frames [start, stop) once: each into `preview` (when given) and, when sampled, into its
    rows. Returns each `rows` entry's rows picked in the range, stacked (none: zero rows).
    Without a preview the walk stops after its last picked frame."""
    found: dict[str, list[np.ndarray]] = {name: [] for name in rows}
    wanted = [index for spec in rows.values() for index in spec.picks if start <= index < stop]
    last = stop if preview is not None else max(wanted, default=start - 1) + 1
    for index, (number, raw, quad, exr_path) in enumerate(sources.frames(start, last), start):
        linear = sources.after(exr_path)
        if preview is not None:
            panels = sources.panels_of(raw, quad, linear, preview_size)
            preview.write(np.concatenate(labelled(panels), axis=1))
        for name, spec in rows.items():
            if index in spec.picks:
                found[name].append(sheet_row(number, sources.panels_of(raw, quad, linear,
                                                                       spec.size)))
    return {name: np.concatenate(found[name], axis=0) if found[name] else spec.empty()
            for name, spec in rows.items()}


def preview_writer(path: Path, rate: Fraction) -> VideoWriter:
    """The preview's encoder (a part's segment uses the same, so segments join by remuxing)."""
    return VideoWriter(path, rate, crf=PREVIEW_CRF, preset=PREVIEW_PRESET)


def write_qc(plate_path: Path, quadmask_path: Path, exr_dir: Path, preview: Path, sheet: Path,
             strip: Path, *, transfer: Transfer | str | None = None, rate: Fraction | None = None,
             max_bytes: int = STRIP_MAX_BYTES) -> tuple[Path, Path, Path]:
    """The preview MP4, contact sheet PNG and QC strip JPEG of a shot from one pass over its
    frames (each as `write_qc_preview`, `write_contact_sheet` and `write_qc_strip` with their
    defaults would write it). Raises as `write_qc_preview`."""
    sources = open_sources(plate_path, quadmask_path, exr_dir, transfer, rate)
    layout = qc_layout(sources)
    preview = Path(preview)
    preview.parent.mkdir(parents=True, exist_ok=True)
    with preview_writer(preview, sources.rate) as writer:
        rows = walk(sources, 0, sources.frame_count, preview=writer,
                    preview_size=layout.preview, rows={"sheet": layout.sheet,
                                                       "strip": layout.strip})
    return preview, write_png(Path(sheet), rows["sheet"]), \
        write_bounded_jpeg(Path(strip), rows["strip"], max_bytes)


def write_qc_preview(plate_path: Path, quadmask_path: Path, exr_dir: Path, out_path: Path, *,
                     transfer: Transfer | str | None = None, rate: Fraction | None = None,
                     max_width: int = PREVIEW_MAX_WIDTH) -> Path:
    """Encode the shot as an H.264 MP4 of before | quadmask overlay | after strips.

    Args:
        plate_path: the source plate (video, or image sequence pattern/folder).
        quadmask_path: the shot's quadmask (video or PNG sequence).
        exr_dir: the folder holding the shot's `<name>.<frame>.exr` (one sequence).
        out_path: the MP4; written under a temporary name and renamed when complete.
        transfer: display transfer for both panels (default: the EXRs' `void/transfer`,
            else the plate's tag).
        rate: frame rate of an image-sequence plate (a video's own rate always wins).
        max_width: the strip's maximum width; panels are scaled down to fit, to even sizes
            (yuv420p), so the strip is exactly three panels wide.

    Raises:
        MediaError / MaskError: a missing or unreadable input, or plate, mask and EXRs whose
            frame counts or sizes disagree.
    """
    sources = open_sources(plate_path, quadmask_path, exr_dir, transfer, rate)
    size = qc_layout(sources, max_width=max_width).preview
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with preview_writer(out_path, sources.rate) as writer:
        walk(sources, 0, sources.frame_count, preview=writer, preview_size=size, rows={})
    return out_path


def write_contact_sheet(plate_path: Path, quadmask_path: Path, exr_dir: Path, out_path: Path, *,
                        count: int = SHEET_COUNT, transfer: Transfer | str | None = None,
                        thumb_width: int = SHEET_THUMB_WIDTH) -> Path:
    """One PNG: `count` evenly spaced frames (first and last included), one row each of
    before | overlay | after thumbnails under a bar naming the EXR frame number.

    The sheet is `3 * thumb_width` wide and `rows * (SHEET_LABEL_HEIGHT + thumb_height)` high,
    `rows = min(count, frames)`. Raises as `write_qc_preview`.
    """
    sources = open_sources(plate_path, quadmask_path, exr_dir, transfer, None)
    rows = qc_layout(sources, count=count, thumb_width=thumb_width).sheet
    return write_png(Path(out_path), _rows_alone(sources, rows))


def write_qc_strip(plate_path: Path, quadmask_path: Path, exr_dir: Path, out_path: Path, *,
                   count: int = STRIP_COUNT, panel_width: int = STRIP_PANEL_WIDTH,
                   max_bytes: int = STRIP_MAX_BYTES,
                   transfer: Transfer | str | None = None) -> Path:
    """A JPEG of `count` evenly spaced frames, one before | overlay | after row each (as the
    contact sheet), panels `panel_width` wide (the plate's width if smaller), at most
    `max_bytes`: quality drops first, then the panels shrink.

    Raises as `write_qc_preview`; ValueError when even 64-pixel panels do not fit `max_bytes`.
    """
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be positive, got {max_bytes}")
    sources = open_sources(plate_path, quadmask_path, exr_dir, transfer, None)
    rows = qc_layout(sources, strip_count=count, panel_width=panel_width).strip
    return write_bounded_jpeg(Path(out_path), _rows_alone(sources, rows), max_bytes)


def _rows_alone(sources: Sources, rows: Rows) -> np.ndarray:
    return walk(sources, 0, sources.frame_count, preview=None, preview_size=None,
                rows={"rows": rows})["rows"]


def write_bounded_jpeg(path: Path, rgb: np.ndarray, max_bytes: int) -> Path:
    """`rgb` as a JPEG of at most `max_bytes`: quality drops first, then the picture halves."""
    image = np.ascontiguousarray(rgb[:, :, ::-1])
    while True:
        for quality in STRIP_QUALITIES:
            ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not ok:
                raise MediaError(path, "cannot encode the QC strip as JPEG")
            if encoded.size <= max_bytes:
                return write_atomically(path, encoded.tobytes())
        if image.shape[1] < 3 * 64:
            raise ValueError(f"a QC strip cannot fit {max_bytes} bytes")
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2),
                           interpolation=cv2.INTER_AREA)


def write_png(path: Path, rgb: np.ndarray) -> Path:
    """Encode, then write under a temporary name and rename: never half a PNG at `path`."""
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:
        raise MediaError(path, "cannot encode the contact sheet as PNG")
    return write_atomically(path, encoded.tobytes())


__all__ = ["QcLayout", "Rows", "qc_layout", "walk", "write_qc",
           "write_contact_sheet", "write_qc_preview", "write_qc_strip"]
