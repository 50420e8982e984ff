"""The classical inpainter, first version: temporal fill from nearby frames, spatial fallback.

For every pixel to fill, take the same pixel from the nearest frame (alternating backwards and
forwards in time, up to `reach` frames away) where it is not part of that frame's hole; this
gives the exact background for a static camera and restores affected regions to the state they
had before or after the interaction. Pixels no nearby frame shows are filled spatially (OpenCV
Telea). Memory is bounded: at most 2 * reach + 1 frames are held.

This is the plain version the foundation needs; camera-motion compensation, pre-interaction
selection and seam blending come with the full classical engine.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import cv2
import numpy as np

from void_core.composite import Box
from void_core.inpaint.base import Fill, Frame, InpaintStats, ShotFrames


class ClassicalInpainter:
    name = "classical"
    version = "0.1.0"

    def __init__(self, reach: int = 8, spatial_radius: int = 5):
        if reach < 0:
            raise ValueError("reach must be >= 0")
        self.reach = reach
        self.spatial_radius = spatial_radius
        self.stats = InpaintStats()

    def settings(self) -> dict:
        return {"reach": self.reach, "spatial_radius": self.spatial_radius}

    def inpaint(self, shot: ShotFrames) -> Iterator[Fill]:
        window: deque[Frame] = deque()
        pending = 0  # position in `window` of the next frame to answer
        for frame in shot.stream():
            window.append(frame)
            if len(window) - 1 - pending >= self.reach:
                yield from self._answer(shot, window, pending)
                pending += 1
                if pending > self.reach:
                    window.popleft()
                    pending -= 1
        while pending < len(window):
            yield from self._answer(shot, window, pending)
            pending += 1

    def _answer(self, shot: ShotFrames, window: deque[Frame], at: int) -> Iterator[Fill]:
        frame = window[at]
        box = shot.boxes[frame.index]
        yield Fill(frame, box, None if box.empty else self._fill(shot, window, at, box))

    def _fill(self, shot: ShotFrames, window: deque[Frame], at: int, box: Box) -> np.ndarray:
        rows, cols = box.slices
        target = window[at]
        result = shot.to_display(target.raw[rows, cols])
        remaining = shot.feather.hole(target.quad[rows, cols])
        self.stats.hole_pixels += int(remaining.sum())
        for offset in self._offsets(at, len(window)):
            if not remaining.any():
                break
            donor = window[at + offset]
            take = remaining & ~shot.feather.hole(donor.quad[rows, cols])
            if take.any():
                result[take] = shot.to_display(donor.raw[rows, cols][take])
                remaining &= ~take
                self.stats.temporal_pixels += int(take.sum())
        if remaining.any():
            result = self._fill_spatially(result, remaining)
            self.stats.spatial_pixels += int(remaining.sum())
        return result

    @staticmethod
    def _offsets(at: int, length: int) -> Iterator[int]:
        for distance in range(1, length):
            for offset in (-distance, distance):
                if 0 <= at + offset < length:
                    yield offset

    def _fill_spatially(self, display: np.ndarray, hole: np.ndarray) -> np.ndarray:
        # Telea works on 8-bit; only the hole takes its values, the rest keeps full precision.
        codes = np.clip(display * 255.0 + 0.5, 0, 255).astype(np.uint8)
        filled = cv2.inpaint(codes, hole.astype(np.uint8), self.spatial_radius, cv2.INPAINT_TELEA)
        out = display.copy()
        out[hole] = filled[hole].astype(np.float32) / 255.0
        return out
