"""One region of every frame, kept from the motion pass for the background pass.

The background pass reads each frame only around the canvas. On a still or slowly moving
camera that is a fixed region around the edit boxes, known before the pass starts, so the
motion pass (which decodes every frame anyway) keeps a copy of it: the shot is then decoded
twice, not three times (at 4K a decode costs about 0.2 CPU-s a frame). The copies are raw plate
pixels and quadmask values, so the background built from them is bit-identical to one built
from a fresh decode.

The copies go to an unlinked temporary file (`$TMPDIR`), not to memory: the operating system
keeps them in its page cache while it has room, a shot of any length costs no resident memory,
and nothing is left behind by a crash. When the file would not fit its byte budget or the free
space, a write fails, or the camera moves the canvas outside the region, the background pass
decodes the shot as before.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import numpy as np

from void_core.composite import Box
from void_core.inpaint.base import Frame


class RegionCache:
    """Raw pixels and quadmask values of `region` for every frame, in frame order."""

    def __init__(self, region: Box, frame_count: int, budget: int):
        self.region = region
        self.frame_count = frame_count
        self.budget = budget
        self.affordable = not region.empty
        self.kept = 0
        self._file = None
        self._layout: tuple[tuple[np.dtype, tuple], tuple[np.dtype, tuple]] | None = None

    def keep(self, frame: Frame) -> None:
        if not self.affordable:
            return
        if frame.index != self.kept:
            raise RuntimeError(f"region cache got frame {frame.index}, expected {self.kept}")
        rows, cols = self.region.slices
        raw, quad = frame.raw[rows, cols], frame.quad[rows, cols]
        if self._file is None and not self._open(raw, quad):
            return
        try:
            self._file.write(np.ascontiguousarray(raw).data.cast("B"))
            self._file.write(np.ascontiguousarray(quad).data.cast("B"))
        except OSError:  # a full temporary disk: decode again instead
            self.release()
            return
        self.kept += 1

    def _open(self, raw: np.ndarray, quad: np.ndarray) -> bool:
        size = (raw.nbytes + quad.nbytes) * self.frame_count
        folder = tempfile.gettempdir()
        if size > self.budget or size > shutil.disk_usage(folder).free // 2:
            self.affordable = False
            return False
        self._file = tempfile.TemporaryFile(prefix="void-farm-region-", dir=folder)
        self._layout = ((raw.dtype, raw.shape), (quad.dtype, quad.shape))
        return True

    def covers(self, box: Box) -> bool:
        """Whether every frame was kept and `box` lies inside the region."""
        if not self.affordable or self.kept != self.frame_count:
            return False
        r = self.region
        return box.empty or (r.y0 <= box.y0 and box.y1 <= r.y1 and r.x0 <= box.x0 and box.x1 <= r.x1)

    def frames(self) -> Iterator[Frame]:
        """The kept crops as Frames (their pixel (0, 0) is the region's corner)."""
        (raw_type, raw_shape), (quad_type, quad_shape) = self._layout
        self._file.flush()
        self._file.seek(0)
        for index in range(self.kept):
            raw = _read(self._file, raw_type, raw_shape)
            quad = _read(self._file, quad_type, quad_shape)
            yield Frame(index, raw, quad)

    def release(self) -> None:
        self.affordable = False
        if self._file is not None:
            self._file.close()
            self._file = None


def _read(file, dtype: np.dtype, shape: tuple) -> np.ndarray:
    array = np.empty(shape, dtype)
    if file.readinto(array.data.cast("B")) != array.nbytes:
        raise RuntimeError("region cache file ended early")
    return array
