"""Pass 2: the pre-interaction background, in frame-0 coordinates."""

from __future__ import annotations

import cv2
import numpy as np

from void_core.analysis.heuristic.survey import Frame
from void_core.imaging import translation
from void_core.motion import MotionTrack

_STACK_BUDGET = 256 * 2**20  # bytes for the background stack; fewer sightings beyond it
_MEDIAN_ROWS = 64
_CANVAS_LIMIT = 3  # frames' widths/heights the canvas may reach beyond frame 0 on each side


class Background:
    """First sightings of each background pixel, far from the object, in frame-0 coordinates.

    Pixels the object was never far from fall back to their sighting farthest from it.
    """

    def __init__(self, track: MotionTrack, size: tuple[int, int], depth: int):
        width, height = size
        corners = np.array([[[0, 0], [width, 0], [0, height], [width, height]]], np.float64)
        mapped = np.concatenate([cv2.perspectiveTransform(corners, h)[0] for h in track.to_ref])
        # A runaway track must not make a huge canvas: beyond the limit there is no background.
        low = -_CANVAS_LIMIT * np.array([width, height])
        high = (_CANVAS_LIMIT + 1) * np.array([width, height])
        x0, y0 = np.clip(np.floor(mapped.min(axis=0)), low, high).astype(int)
        x1, y1 = np.clip(np.ceil(mapped.max(axis=0)), low, high).astype(int)
        self.size = (int(x1 - x0), int(y1 - y0))
        self._to_canvas = [translation(-x0, -y0) @ h for h in track.to_ref]
        self._frame_size = size
        self.moving_camera = not track.static
        plane = (self.size[1], self.size[0])
        self.depth = int(max(3, min(depth, _STACK_BUDGET // max(1, plane[0] * plane[1] * 3))))
        self._stack = np.zeros((self.depth, *plane, 3), np.uint8)
        self._count = np.zeros(plane, np.uint8)
        self._farthest = np.zeros((*plane, 3), np.uint8)
        self._farthest_distance = np.full(plane, -1.0, np.float32)
        self.image: np.ndarray | None = None
        self.known: np.ndarray | None = None
        self.from_far: np.ndarray | None = None

    def to_canvas(self, index: int) -> np.ndarray:
        return self._to_canvas[index]

    def add(self, frame: Frame, distance: np.ndarray, far: float, guard: float) -> None:
        """Add a frame's background: pixels beyond `guard` px of the object (farther than
        `far` px for the main stack), given each pixel's `distance` to the object."""
        transform = self._to_canvas[frame.index]
        codes = np.rint(frame.rgb * 255).astype(np.uint8)
        warped = cv2.warpPerspective(codes, transform, self.size, flags=cv2.INTER_LINEAR)
        # The frame's outermost pixels are dropped: bilinear samples there mix in the border.
        reach = np.minimum(distance, 65000.0).astype(np.float32)
        reach[[0, -1], :] = -1
        reach[:, [0, -1]] = -1
        reach = cv2.warpPerspective(reach, transform, self.size, flags=cv2.INTER_NEAREST,
                                    borderValue=-1)
        farther = (reach > guard) & (reach > self._farthest_distance)
        self._farthest[farther] = warped[farther]
        self._farthest_distance[farther] = reach[farther]
        ys, xs = np.nonzero((reach > far) & (self._count < self.depth))
        self._stack[self._count[ys, xs], ys, xs] = warped[ys, xs]
        self._count[ys, xs] += 1

    def finish(self) -> None:
        """The per-pixel median of the far sightings (else the farthest one), float32 [0,1]."""
        self.from_far = self._count > 0
        self.known = self.from_far | (self._farthest_distance >= 0)
        self.image = self._farthest.astype(np.float32) / 255
        for top in range(0, self._count.shape[0], _MEDIAN_ROWS):  # strips bound the peak
            rows = slice(top, top + _MEDIAN_ROWS)
            median = _median_of_first(self._stack[:, rows], self._count[rows])
            self.image[rows] = np.where(self.from_far[rows, :, None], median, self.image[rows])
        self._stack = self._farthest = None

    def in_frame(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The background as frame `index` sees it: image, known, known-from-far-sightings."""
        transform = self._to_canvas[index]
        flags_lin = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        flags_near = cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
        image = cv2.warpPerspective(self.image, transform, self._frame_size, flags=flags_lin)
        state = self.known.astype(np.uint8) + self.from_far
        state = cv2.warpPerspective(state, transform, self._frame_size, flags=flags_near,
                                    borderValue=0)
        return image, state >= 1, state >= 2


def _median_of_first(stack: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Per pixel, the median of the first `count` of the `stack` layers, as float32 [0, 1]."""
    depth = stack.shape[0]
    values = stack.astype(np.uint16)
    values[np.arange(depth)[:, None, None] >= count[None]] = np.iinfo(np.uint16).max
    values.sort(axis=0)  # unused layers sort to the end
    count = count.astype(np.int64)[None, ..., None]
    shape = (1, *values.shape[1:])
    low = np.broadcast_to(np.clip((count - 1) // 2, 0, depth - 1), shape)
    high = np.broadcast_to(np.clip(count // 2, 0, depth - 1), shape)
    total = (np.take_along_axis(values, low, 0)[0].astype(np.float32)
             + np.take_along_axis(values, high, 0)[0])
    return total / (2 * 255)
