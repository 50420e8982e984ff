"""From an analysis to VOID's masks: grey (affected) mask per frame, then the quadmask video.

VOID's stage 3 draws each affected object's per-frame region, gridifies it (any affected pixel in
a cell of the 8-cells-on-the-short-side grid makes the whole cell 127) and stage 4 combines that
grey mask with the primary "black" mask (`quadmask.combine`), clearing affected grey on frame 0.
`write_quadmask` does the same, streaming, and writes `vlm_analysis.json` beside the quadmask.

Regions come from the engine's measurements when it attached them (`RegionTrack`, stored at the
engine's analysis size as bounding box + packed bits, so a shot's regions stay small). An
analysis without them (e.g. from a VLM such as the `gemini` engine) is drawn from its grid fields
instead, which VOID's released stage 3 ignores (it re-segments each noun with SAM3 near the
subject's frame-0 position). The rule, per affected object and frame, nothing before the
object's `first_appears_frame`:

- **where it is seen**: the cells of its `grid_localizations` entry nearest in time (ties go to
  the earlier frame), so a static shadow or reflection holds its cells between reference frames;
- **where it moves** (`will_move` only): a box of `object_size_grids` cells (1 x 1 without a size;
  VOID's size already carries one cell of padding) centred on the `trajectory_path` position
  interpolated linearly between keyframes (held before the first keyframe and after the last),
  plus the same box at the first keyframe, where it rested and must be painted back, and at
  `original_position_grid`, where it should have stayed;
- the union of these, gridified as VOID's stage 3 does.

**Segmented objects.** VOID's stage 3 gives every affected object (every noun, whatever its
category or `will_move`) to a segmenter on every frame and draws what it returns, not grid
cells; then it gridifies (any segmented pixel in a cell makes the whole cell 127, no dilation,
no other morphology) and stage 4 combines as above. When the masking engine can segment
objects (`sam2`, prompted by each object's grid localisations: `object_masks.py`), its mask
video for an object is passed in `write_quadmask(object_masks=...)` and replaces where the grid
localisations say the object is seen. Where this differs from VOID, and why:

- VOID ANDs each noun's segmentation with the subject's frame-0 mask dilated by 50 px, because
  a text prompt finds every instance of the noun anywhere in the frame. Boxes around the
  analysis' own localisations already pick the instance meant, and the filter would cut a
  pushed object off as soon as it travels, so there is none here.
- A `will_move` object keeps its trajectory boxes (VOID ignores trajectories): the segmentation
  follows the object where it is, the boxes also cover where it rested and must be painted
  back.
- An engine's own measured region is kept and the segmentation added to it (VOID has no such
  measurement; a pixel measurement of the shot is not thrown away).
- Nothing before `first_appears_frame`, as for every other region here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from void_core import quadmask
from void_core.analysis.schema import AffectedObject, Analysis
from void_core.errors import MaskError, MediaError
from void_core.media.encode import write_mask_video
from void_core.media.masks import QuadmaskReader
from void_core.media.video import VIDEO_SUFFIXES, probe_video
from void_core.naming import ANALYSIS_JSON

DEFAULT_FPS = Fraction(12)  # VOID's own output rate, for mask sequences that carry none


class RegionTrack:
    """One object's boolean region on every frame, at the analysis size, stored compactly."""

    def __init__(self, width: int, height: int, frame_count: int):
        self.width, self.height, self.frame_count = width, height, frame_count
        self._frames: dict[int, tuple[tuple[int, int, int, int], np.ndarray]] = {}

    def set(self, index: int, mask: np.ndarray) -> None:
        """Store frame `index`'s region (an (height, width) bool array); empty clears it."""
        if mask.shape != (self.height, self.width):
            raise ValueError(f"region is {mask.shape[::-1]}, the track is "
                             f"{(self.width, self.height)}")
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if rows.size == 0:
            self._frames.pop(index, None)
            return
        box = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
        self._frames[index] = (box, np.packbits(mask[box[0]:box[1], box[2]:box[3]]))

    def get(self, index: int) -> np.ndarray:
        """Frame `index`'s region at the analysis size (all False when none was stored)."""
        out = np.zeros((self.height, self.width), bool)
        if index in self._frames:
            (y0, y1, x0, x1), packed = self._frames[index]
            count = (y1 - y0) * (x1 - x0)
            out[y0:y1, x0:x1] = np.unpackbits(packed, count=count).reshape(y1 - y0, x1 - x0)
        return out

    def at_size(self, index: int, width: int, height: int) -> np.ndarray:
        """Frame `index`'s region scaled to (width, height)."""
        if index not in self._frames:
            return np.zeros((height, width), bool)
        region = self.get(index)
        if (width, height) == (self.width, self.height):
            return region
        scaled = cv2.resize(region.astype(np.uint8) * 255, (width, height),
                            interpolation=cv2.INTER_LINEAR)
        return scaled >= 128

    def frames(self) -> list[int]:
        """Indices of the frames with a non-empty region, in order."""
        return sorted(self._frames)

    def area(self, index: int) -> int:
        return int(self.get(index).sum()) if index in self._frames else 0


# --- VOID's grid -----------------------------------------------------------------------------

def cell_edges(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel edges (rows, cols) of VOID's grid cells, as `quadmask.gridify` draws them."""
    rows, cols = quadmask.grid_shape(width, height)
    return (np.linspace(0, height, rows + 1).astype(int),
            np.linspace(0, width, cols + 1).astype(int))


def grid_cells(mask: np.ndarray) -> list[tuple[int, int]]:
    """(row, col) of every grid cell holding at least one True pixel of `mask`."""
    ys, xs = cell_edges(mask.shape[1], mask.shape[0])
    hits = [(r, c) for r in range(len(ys) - 1) for c in range(len(xs) - 1)
            if mask[ys[r]:ys[r + 1], xs[c]:xs[c + 1]].any()]
    return hits


def cell_of(x: float, y: float, width: int, height: int) -> tuple[int, int]:
    """The (row, col) grid cell holding pixel (x, y)."""
    ys, xs = cell_edges(width, height)
    row = int(np.clip(np.searchsorted(ys, y, side="right") - 1, 0, len(ys) - 2))
    col = int(np.clip(np.searchsorted(xs, x, side="right") - 1, 0, len(xs) - 2))
    return row, col


def _paint_cells(out: np.ndarray, cells, ys: np.ndarray, xs: np.ndarray) -> None:
    for row, col in cells:
        if 0 <= row < len(ys) - 1 and 0 <= col < len(xs) - 1:
            out[ys[row]:ys[row + 1], xs[col]:xs[col + 1]] = True


# --- regions from the analysis's grid fields -------------------------------------------------

def _localised_region(obj: AffectedObject, index: int, width: int, height: int) -> np.ndarray:
    out = np.zeros((height, width), bool)
    if index < obj.first_appears_frame or not obj.grid_localizations:
        return out
    nearest = min(obj.grid_localizations, key=lambda loc: (abs(loc.frame - index), loc.frame))
    ys, xs = cell_edges(width, height)
    _paint_cells(out, [(cell.row, cell.col) for cell in nearest.grid_regions], ys, xs)
    return out


def _trajectory_region(obj: AffectedObject, index: int, width: int, height: int) -> np.ndarray:
    out = np.zeros((height, width), bool)
    if not obj.will_move or index < obj.first_appears_frame:
        return out
    centres: list[tuple[float, float]] = []
    path = sorted(obj.trajectory_path, key=lambda point: point.frame)
    if path:
        frames = [point.frame for point in path]
        row = float(np.interp(index, frames, [point.grid_row for point in path]))
        col = float(np.interp(index, frames, [point.grid_col for point in path]))
        centres += [(path[0].grid_row, path[0].grid_col), (row, col)]
    if obj.original_position_grid is not None:
        centres.append((obj.original_position_grid.row, obj.original_position_grid.col))
    size = obj.object_size_grids
    rows, cols = (size.rows, size.cols) if size else (1, 1)
    ys, xs = cell_edges(width, height)
    for centre_row, centre_col in centres:
        top = int(np.floor(centre_row - (rows - 1) / 2 + 0.5))
        left = int(np.floor(centre_col - (cols - 1) / 2 + 0.5))
        cells = [(r, c) for r in range(top, top + rows) for c in range(left, left + cols)]
        _paint_cells(out, cells, ys, xs)
    return out


def object_region(obj: AffectedObject, index: int, width: int, height: int,
                  seen: np.ndarray | None = None) -> np.ndarray:
    """Where `obj` is on frame `index` at (width, height): its measured region when the engine
    attached one, else what its grid fields say.

    Args:
        seen: the object's segmentation on this frame ((height, width) bool), when a masking
            engine segmented it: it replaces the grid localisations' cells (see the module
            docstring for what it is combined with).
    """
    if seen is not None:
        return _segmented_region(obj, seen, index, width, height)
    if obj.region is not None:
        return obj.region.at_size(index, width, height)
    return (_localised_region(obj, index, width, height)
            | _trajectory_region(obj, index, width, height))


def _segmented_region(obj: AffectedObject, seen: np.ndarray, index: int, width: int,
                      height: int) -> np.ndarray:
    if seen.shape != (height, width):
        raise ValueError(f"segmentation is {seen.shape[::-1]}, the frame is {(width, height)}")
    region = seen.copy() if index >= obj.first_appears_frame else np.zeros_like(seen)
    if obj.region is not None:
        return region | obj.region.at_size(index, width, height)
    return region | _trajectory_region(obj, index, width, height)


def grey_frame(analysis: Analysis, index: int, width: int, height: int, *,
               gridify: bool = True, seen: Mapping[int, np.ndarray] | None = None) -> np.ndarray:
    """VOID's grey mask for frame `index`: 127 where anything is affected, 255 elsewhere.

    `seen`: {affected-object index: its segmentation on this frame} for the objects a masking
    engine segmented; the others are drawn from their measured regions or grid fields.
    """
    seen = seen or {}
    affected = np.zeros((height, width), bool)
    for number, obj in enumerate(analysis.affected_objects):
        affected |= object_region(obj, index, width, height, seen.get(number))
    grey = np.where(affected, quadmask.AFFECTED, quadmask.KEEP).astype(np.uint8)
    if gridify and affected.any():
        grey = quadmask.gridify(grey)
    return grey


# --- the quadmask video ----------------------------------------------------------------------

def write_quadmask(analysis: Analysis, primary_mask_path: str | Path, out_path: str | Path, *,
                   gridify: bool = True, fps: Fraction | int | None = None,
                   object_masks: Mapping[int, str | Path] | None = None) -> Path:
    """Combine the analysis's affected regions with the primary mask into `quadmask_0.mp4`.

    Per frame: grey mask (gridified on VOID's grid unless `gridify=False`), VOID's stage-4
    combine with the primary mask (its 0 pixels; anything else is "not the object"), and on
    frame 0 no affected grey. Lossless, streamed; `vlm_analysis.json` is written beside it.

    Args:
        fps: the quadmask's frame rate; default the primary mask video's own (12 for sequences).
        object_masks: {affected-object index: its mask video (0 object, 255 rest, the primary
            mask's size and length)} for objects a masking engine segmented
            (`object_masks.segment_affected_objects`); they replace those objects' grid cells.

    Raises:
        MaskError: the primary mask or an object mask cannot be read, an object mask's size or
            frame count differs from the primary mask's, or the primary mask's frame count
            differs from the analysis's regions.
        MediaError: the quadmask cannot be written.
        ValueError: an object mask for an affected object the analysis does not have.
    """
    primary_mask_path, out_path = Path(primary_mask_path), Path(out_path)
    reader = QuadmaskReader(primary_mask_path)
    segmented = _open_object_masks(analysis, object_masks or {}, reader)
    rate = fps if fps is not None else _mask_rate(primary_mask_path)
    written = write_mask_video(out_path, _quad_frames(analysis, reader, gridify, segmented),
                               rate)
    json_path = out_path.with_name(ANALYSIS_JSON)
    tmp = json_path.with_name(f".{json_path.name}.{os.getpid()}.partial")
    tmp.write_text(analysis.model_dump_json(indent=2) + "\n")
    tmp.replace(json_path)
    return written


def _open_object_masks(analysis: Analysis, object_masks: Mapping[int, str | Path],
                       primary: QuadmaskReader) -> dict[int, QuadmaskReader]:
    count = len(analysis.affected_objects)
    readers = {}
    for number, path in object_masks.items():
        if not 0 <= number < count:
            raise ValueError(f"object mask for affected object {number}, the analysis has "
                             f"{count}")
        reader = QuadmaskReader(path)
        size, wanted = ((reader.info.width, reader.info.height),
                        (primary.info.width, primary.info.height))
        if size != wanted:
            raise MaskError(reader.info.path, f"object mask is {size[0]}x{size[1]}, the primary "
                                              f"mask is {wanted[0]}x{wanted[1]}",
                            "segment the affected objects on the plate the mask was made for")
        readers[number] = reader
    return readers


def _quad_frames(analysis: Analysis, reader: QuadmaskReader, gridify: bool,
                 segmented: Mapping[int, QuadmaskReader]):
    width, height = reader.info.width, reader.info.height
    expected = {obj.region.frame_count for obj in analysis.affected_objects
                if obj.region is not None}
    count = 0
    for index, (mask, seen) in enumerate(_with_segmentations(reader, segmented)):
        black = np.where(quadmask.primary(mask), quadmask.PRIMARY, quadmask.KEEP).astype(np.uint8)
        quad = quadmask.combine(black, grey_frame(analysis, index, width, height,
                                                  gridify=gridify, seen=seen))
        yield quadmask.clear_affected_on_first_frame(quad) if index == 0 else quad
        count += 1
    if expected and expected != {count}:
        raise MaskError(reader.info.path, f"primary mask has {count} frames, the analysis "
                                          f"covers {sorted(expected)[0]}",
                        "analyse the same plate and mask you combine")


def _with_segmentations(reader: QuadmaskReader, segmented: Mapping[int, QuadmaskReader],
                        ) -> Iterator[tuple[np.ndarray, dict[int, np.ndarray]]]:
    """(primary mask frame, {object index: its segmentation}) in lockstep; an object mask
    that ends before or after the primary mask is refused."""
    streams = {number: other.frames() for number, other in segmented.items()}
    count = 0
    for mask in reader.frames():
        seen = {}
        for number, stream in streams.items():
            frame = next(stream, None)
            if frame is None:
                raise _length_mismatch(segmented[number], f"ends after {count} frames")
            seen[number] = quadmask.primary(frame)
        yield mask, seen
        count += 1
    for number, stream in streams.items():
        if next(stream, None) is not None:
            raise _length_mismatch(segmented[number], f"goes on past the primary mask's "
                                                      f"{count} frames")


def _length_mismatch(reader: QuadmaskReader, problem: str) -> MaskError:
    return MaskError(reader.info.path, f"object mask {problem}",
                     "segment the affected objects on the plate the mask was made for")


def _mask_rate(path: Path) -> Fraction:
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        return DEFAULT_FPS
    try:
        return probe_video(path).rate
    except MediaError as err:
        raise MaskError(path, f"primary mask {err.problem}", err.hint) from None
