"""Read quadmask files (videos or PNG sequences) as quantised 0/63/127/255 frames.

Mask videos usually store limited-range luma (VOID writes Y = 16/70/125/235); those are expanded
to full range before VOID's quantisation, so both full- and limited-range files decode to the
four levels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from void_core import quadmask
from void_core.errors import MaskError, MediaError
from void_core.media.sequence import find_sequence, read_png_grey
from void_core.media.video import VIDEO_SUFFIXES, iter_video_luma, probe_video
from void_core.naming import MASK_NAMES

# Further names VOID accepts for its quadmask (MASK_NAMES are tried first).
MASK_GLOBS = ("quadmask_*.mp4", "quadmask*.mp4", "*quadmask*.mp4", "quadmask", "quadmask_0")


@dataclass(frozen=True)
class MaskInfo:
    path: Path
    width: int
    height: int
    frame_count: int
    limited_range: bool


class QuadmaskReader:
    """Stream a quadmask's frames, quantised to 0/63/127/255."""

    def __init__(self, path: str | Path):
        path = Path(path)
        self._sequence = None
        self._video = None
        try:
            if path.suffix.lower() in VIDEO_SUFFIXES:
                self._video = probe_video(path)
                name = self._video.pix_fmt
                limited = name.startswith("yuv") and not name.startswith("yuvj") and not self._video.full_range
                self.info = MaskInfo(path, self._video.width, self._video.height,
                                     self._video.frame_count, limited)
            else:
                self._sequence = find_sequence(path)
                first = read_png_grey(self._sequence.frames[0])
                self.info = MaskInfo(path, first.shape[1], first.shape[0],
                                     len(self._sequence.frames), False)
        except MediaError as err:
            raise MaskError(err.path, f"quadmask {err.problem}", err.hint) from None

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Quantised (H, W) uint8 frames [start, stop) (default all); video seeks when far in."""
        stop = self.info.frame_count if stop is None else min(stop, self.info.frame_count)
        if self._video is not None:
            for luma in iter_video_luma(self._video, start, max(0, stop - start)):
                full = quadmask.expand_limited_range(luma) if self.info.limited_range else luma
                yield quadmask.quantise(full)
            return
        for path in self._sequence.frames[start:stop]:
            yield quadmask.quantise(read_png_grey(path))


def find_mask(shot_dir: Path) -> Path | None:
    """The quadmask in a VOID-layout folder: quadmask_0.mp4, trimask_quadmask.mp4, or similar."""
    for name in MASK_NAMES:
        if (shot_dir / name).exists():
            return shot_dir / name
    for pattern in MASK_GLOBS:
        hits = sorted(shot_dir.glob(pattern))
        if hits:
            return hits[0]
    return None


def frames_with_mask(plate, mask_path: str | Path) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(index, raw plate frame, quantised mask frame) in lockstep.

    Raises:
        MaskError: the mask's size differs from the plate's, or one ends before the other.
        MediaError: the plate has no frames.
    """
    from itertools import zip_longest

    mask_path = Path(mask_path)
    reader = QuadmaskReader(mask_path)
    info = plate.info
    if (reader.info.width, reader.info.height) != (info.width, info.height):
        raise MaskError(mask_path, f"mask is {reader.info.width}x{reader.info.height}, the plate "
                                   f"is {info.width}x{info.height}", "give the mask made for this plate")
    index = -1
    for index, (raw, mask) in enumerate(zip_longest(plate.frames(), reader.frames())):
        if raw is None or mask is None:
            which = "mask" if mask is None else "plate"
            raise MaskError(mask_path, f"the {which} ends after {index} frames, the other "
                                       "goes on", "give the mask made for this plate")
        yield index, raw, mask
    if index < 0:
        raise MediaError(info.path, "plate has no frames")
