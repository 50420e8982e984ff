"""One region of every frame, kept from the motion pass for the background pass.

The background pass reads each frame only around the canvas. On a still or slowly moving
camera that is a fixed region around the edit boxes, known before the pass starts, so the
motion pass (which decodes every frame anyway) keeps a copy of it: the shot is then decoded
twice, not three times (at 4K a decode costs about 0.27 CPU-s a frame). The copies are raw
plate pixels and quadmask values, so the background built from them is bit-identical to one
built from a fresh decode. When the kept region is too large for its byte budget, or the
camera moves the canvas outside it, the background pass decodes as before.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from void_core.composite import Box
from void_core.inpaint.base import Frame


class RegionCache:
    """Raw pixels and quadmask values of `region` for every frame, in frame order, kept only
    while all of them fit in `budget` bytes (judged on the first frame: the shot's frames share
    one pixel type)."""

    def __init__(self, region: Box, frame_count: int, budget: int):
        self.region = region
        self.frame_count = frame_count
        self.budget = budget
        self.affordable = not region.empty
        self._raw: list[np.ndarray] = []
        self._quad: list[np.ndarray] = []

    def keep(self, frame: Frame) -> None:
        if not self.affordable:
            return
        if frame.index != len(self._raw):
            raise RuntimeError(f"region cache got frame {frame.index}, expected {len(self._raw)}")
        rows, cols = self.region.slices
        raw, quad = frame.raw[rows, cols], frame.quad[rows, cols]
        if not self._raw and (raw.nbytes + quad.nbytes) * self.frame_count > self.budget:
            self.affordable = False
            return
        self._raw.append(raw.copy())
        self._quad.append(quad.copy())

    def covers(self, box: Box) -> bool:
        """Whether every frame was kept and `box` lies inside the region."""
        if not self.affordable or len(self._raw) != self.frame_count:
            return False
        r = self.region
        return box.empty or (r.y0 <= box.y0 and box.y1 <= r.y1 and r.x0 <= box.x0 and box.x1 <= r.x1)

    def frames(self) -> Iterator[Frame]:
        """The kept crops as Frames (their pixel (0, 0) is the region's corner)."""
        for index, (raw, quad) in enumerate(zip(self._raw, self._quad, strict=True)):
            yield Frame(index, raw, quad)

    def release(self) -> None:
        self.affordable = False
        self._raw.clear()
        self._quad.clear()
