"""Camera motion: robust homographies between consecutive frames, chained into a shot track.

Motion is measured on the background only (the edit region of both frames is masked out), on a
downscaled grey copy: corners are tracked with pyramidal Lucas-Kanade and a homography is fitted
with RANSAC. A shot's track maps every frame into the coordinates of frame 0 (the "mosaic"
space): `to_ref[i] @ (x, y, 1)` is where pixel (x, y) of frame i sits in frame 0's coordinates.
A shot whose frames all stay within a quarter pixel of frame 0 is treated as locked off
(exact identities), so a static camera's fill is not resampled.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

ANALYSIS_WIDTH = 960
_MIN_TRACKS = 12
_STILL_PX = 0.25


@dataclass(frozen=True)
class MotionTrack:
    """Per-frame homographies into frame 0's coordinates (full-resolution pixels)."""

    to_ref: tuple[np.ndarray, ...]

    @property
    def static(self) -> bool:
        return all(np.allclose(h, np.eye(3)) for h in self.to_ref)

    def between(self, source: int, target: int) -> np.ndarray:
        """Homography taking pixel coordinates of frame `source` to frame `target`."""
        return np.linalg.inv(self.to_ref[target]) @ self.to_ref[source]


def analysis_scale(width: int) -> float:
    return min(1.0, ANALYSIS_WIDTH / width)


def to_analysis_grey(display: np.ndarray, scale: float) -> np.ndarray:
    """Display-referred RGB float [0,1] -> small 8-bit grey for tracking."""
    grey = cv2.cvtColor((np.clip(display, 0, 1) * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return grey


def estimate_homography(previous: np.ndarray, current: np.ndarray, valid: np.ndarray) -> np.ndarray | None:
    """Homography mapping `current` pixel coordinates to `previous` ones (analysis scale).

    Args:
        previous, current: 8-bit grey frames of equal size.
        valid: uint8 mask of background pixels usable in both frames (nonzero = usable).

    Returns None when the background has too little texture to track.
    """
    corners = cv2.goodFeaturesToTrack(previous, maxCorners=600, qualityLevel=0.005,
                                      minDistance=8, mask=valid, blockSize=7)
    if corners is None or len(corners) < _MIN_TRACKS:
        return None
    tracked, status, _ = cv2.calcOpticalFlowPyrLK(previous, current, corners, None,
                                                  winSize=(21, 21), maxLevel=4)
    back, back_status, _ = cv2.calcOpticalFlowPyrLK(current, previous, tracked, None,
                                                    winSize=(21, 21), maxLevel=4)
    good = (status[:, 0] == 1) & (back_status[:, 0] == 1)
    good &= np.linalg.norm(back - corners, axis=2)[:, 0] < 0.5  # forward-backward consistency
    if good.sum() < _MIN_TRACKS:
        return None
    homography, inliers = cv2.findHomography(tracked[good], corners[good], cv2.RANSAC, 1.0)
    if homography is None or inliers is None or inliers.sum() < _MIN_TRACKS:
        return None
    return homography


def scale_homography(homography: np.ndarray, scale: float) -> np.ndarray:
    """A homography measured at `scale` expressed in full-resolution pixels."""
    s = np.diag([scale, scale, 1.0])
    return np.linalg.inv(s) @ homography @ s


def is_still(homography: np.ndarray, width: int, height: int) -> bool:
    """True when no corner of the frame moves by a quarter pixel or more."""
    corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], np.float64)
    moved = cv2.perspectiveTransform(corners[None], homography)[0]
    return bool(np.abs(moved - corners).max() < _STILL_PX)


class MotionTracker:
    """Feeds frames one at a time and builds the shot's `MotionTrack`."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.scale = analysis_scale(width)
        self._previous: np.ndarray | None = None
        self._previous_valid: np.ndarray | None = None
        self._to_ref: list[np.ndarray] = []
        self.untracked_frames = 0

    def analysis_size(self) -> tuple[int, int]:
        """(width, height) frames are analysed at."""
        return round(self.width * self.scale), round(self.height * self.scale)

    def add(self, display: np.ndarray, background: np.ndarray) -> None:
        """Add the next frame: display RGB [0,1] and a bool mask of its usable background,
        either at full resolution or already at `analysis_size()`."""
        size = self.analysis_size()
        if display.shape[1] == size[0] and display.shape[0] == size[1]:
            grey = to_analysis_grey(display, 1.0)
        else:
            grey = to_analysis_grey(display, self.scale)
        valid = background.astype(np.uint8)
        if valid.shape != grey.shape:
            valid = cv2.resize(valid, (grey.shape[1], grey.shape[0]), interpolation=cv2.INTER_NEAREST)
        if self._previous is None:
            self._to_ref.append(np.eye(3))
        else:
            step = estimate_homography(self._previous, grey, valid & self._previous_valid)
            if step is None:
                self.untracked_frames += 1
                step = np.eye(3)
            self._to_ref.append(self._to_ref[-1] @ scale_homography(step, self.scale))
        self._previous, self._previous_valid = grey, valid

    def track(self) -> MotionTrack:
        """The chained track; a shot whose frames all stay within a quarter pixel of frame 0 is
        locked off, and gets exact identities."""
        if all(is_still(h, self.width, self.height) for h in self._to_ref):
            return MotionTrack(tuple(np.eye(3) for _ in self._to_ref))
        return MotionTrack(tuple(self._to_ref))
