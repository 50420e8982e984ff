"""Camera motion for the benchmark's own use (hole placement and the aligned-median baseline).

Estimated with OpenCV here, on purpose: the benchmark must place the same holes and compute
the same baselines whatever `void_core` (and its motion estimation) is being measured. Only
the result's container, `void_core.motion.MotionTrack`, is shared.

Each frame is matched to a keyframe (frame 0 while it can be) with corners tracked by pyramidal
Lucas-Kanade and a RANSAC similarity (shift, roll, zoom: what a handheld camera does; matching
the keyframe rather than the previous frame keeps errors from adding up), giving `to_ref[i]`,
frame i's coordinates to frame 0's. When the keyframe cannot be matched the previous frame
becomes the keyframe; a frame that matches neither keeps the previous frame's transform. A shot whose
frames all stay within a quarter pixel of frame 0 is locked off: identities, so a still
camera's sightings are not resampled.
"""

from __future__ import annotations

import cv2
import numpy as np

from void_core.motion import MotionTrack

_MIN_MATCHES = 16
_RANSAC_PX = 1.0
_STILL_PX = 0.25


class CameraTracker:
    """Feed grey frames (and where they show background) one by one, then take `track()`."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale  # the fed frames are this fraction of the shot's resolution
        self._key: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # grey, usable, to_ref
        self._previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._to_ref: list[np.ndarray] = []
        self._size: tuple[int, int] | None = None

    def add(self, grey: np.ndarray, background: np.ndarray) -> None:
        usable = background.astype(np.uint8)
        if self._key is None:
            self._size = grey.shape[::-1]
            self._key = (grey, usable, np.eye(3))
            self._to_ref.append(np.eye(3))
        else:
            self._to_ref.append(self._measure(grey, usable))
        self._previous = (grey, usable, self._to_ref[-1])

    def _measure(self, grey: np.ndarray, usable: np.ndarray) -> np.ndarray:
        key_grey, key_usable, key_to_ref = self._key
        step = _similarity(key_grey, key_usable, grey, usable)
        if step is None:
            self._key = self._previous
            key_grey, key_usable, key_to_ref = self._key
            step = _similarity(key_grey, key_usable, grey, usable)
        return self._previous[2] if step is None else key_to_ref @ step

    def track(self) -> MotionTrack:
        """Full-resolution homographies into frame 0's coordinates."""
        if all(_largest_shift(h, self._size) < _STILL_PX * self.scale for h in self._to_ref):
            return MotionTrack(tuple(np.eye(3) for _ in self._to_ref))
        s = np.diag([self.scale, self.scale, 1.0])
        return MotionTrack(tuple(np.linalg.inv(s) @ h @ s for h in self._to_ref))


def _largest_shift(homography: np.ndarray, size: tuple[int, int]) -> float:
    """How far the transform moves the frame's corners, at most (pixels)."""
    width, height = size
    corners = np.array([[[0, 0], [width, 0], [0, height], [width, height]]], np.float64)
    return float(np.abs(cv2.perspectiveTransform(corners, homography) - corners).max())


def _similarity(key: np.ndarray, key_usable: np.ndarray, current: np.ndarray,
                usable: np.ndarray) -> np.ndarray | None:
    """Transform from `current`'s coordinates to `key`'s, or None without enough texture."""
    corners = cv2.goodFeaturesToTrack(key, maxCorners=600, qualityLevel=0.01, minDistance=6,
                                      mask=key_usable & usable)
    if corners is None or len(corners) < _MIN_MATCHES:
        return None
    moved, status, _ = cv2.calcOpticalFlowPyrLK(key, current, corners, None,
                                                winSize=(21, 21), maxLevel=4)
    found = status[:, 0] == 1
    if found.sum() < _MIN_MATCHES:
        return None
    matrix, inliers = cv2.estimateAffinePartial2D(moved[found], corners[found], method=cv2.RANSAC,
                                                  ransacReprojThreshold=_RANSAC_PX)
    if matrix is None or inliers.sum() < _MIN_MATCHES:
        return None
    return np.vstack([matrix, [0.0, 0.0, 1.0]])
