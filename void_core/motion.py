"""Camera motion: robust homographies between consecutive frames, chained into a shot track.

Motion is measured on the background only (the edit region of both frames is masked out), on a
downscaled grey copy: corners are tracked with pyramidal Lucas-Kanade from a keyframe (so errors
do not accumulate frame after frame) and the simplest of translation / similarity / homography
that fits is kept. A shot's track maps every frame into the coordinates of frame 0 (the "mosaic"
space): `to_ref[i] @ (x, y, 1)` is where pixel (x, y) of frame i sits in frame 0's coordinates.
A shot whose frames all stay within a quarter pixel of frame 0 is treated as locked off
(exact identities), so a static camera's fill is not resampled.

A long shot is measured in blocks (in parallel, by the classical engine's learning parts):
block [a, c) starts a tracker of its own from frame a-1 (its keyframe, identity) and measures
frames a..c-1 relative to it (`MotionTracker.local_track`); `chain_blocks` joins the blocks into
the shot's track, global[t] = global[a-1] @ local[t], and applies the locked-off check to it.
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
    """Transform mapping `current` pixel coordinates to `previous` ones (analysis scale).

    Fits a translation, a similarity and a homography to forward-backward-checked corner tracks
    and keeps the simplest model that explains the tracks almost as well as the homography:
    fewer degrees of freedom means less drift when transforms are chained.

    Args:
        previous, current: 8-bit grey frames of equal size.
        valid: uint8 mask of background pixels usable in both frames (nonzero = usable).

    Returns None when the background has too little texture to track.
    """
    matches = _track_corners(previous, current, valid)
    if matches is None:
        return None
    source, target = matches
    homography, inliers = cv2.findHomography(source, target, cv2.RANSAC, 1.0)
    if homography is None or inliers is None or inliers.sum() < _MIN_TRACKS:
        return None
    keep = inliers[:, 0] > 0
    source, target = source[keep], target[keep]
    best, best_error = homography, _residual(homography, source, target)
    for candidate in (_fit_translation(source, target), _fit_similarity(source, target)):
        if candidate is not None and _residual(candidate, source, target) <= best_error * 1.1 + 0.02:
            return candidate
    return best


def _track_corners(previous: np.ndarray, current: np.ndarray,
                   valid: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    corners = cv2.goodFeaturesToTrack(previous, maxCorners=800, qualityLevel=0.005,
                                      minDistance=7, mask=valid, blockSize=7)
    if corners is None or len(corners) < _MIN_TRACKS:
        return None
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 40, 0.005)
    tracked, status, _ = cv2.calcOpticalFlowPyrLK(previous, current, corners, None, winSize=(21, 21),
                                                  maxLevel=5, criteria=criteria)
    back, back_status, _ = cv2.calcOpticalFlowPyrLK(current, previous, tracked, None, winSize=(21, 21),
                                                    maxLevel=5, criteria=criteria)
    good = (status[:, 0] == 1) & (back_status[:, 0] == 1)
    good &= np.linalg.norm(back - corners, axis=2)[:, 0] < 0.3  # forward-backward consistency
    if good.sum() < _MIN_TRACKS:
        return None
    return tracked[good].reshape(-1, 2), corners[good].reshape(-1, 2)


def _fit_translation(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    shift = np.median(target - source, axis=0)
    return np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]], [0.0, 0.0, 1.0]])


def _fit_similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    matrix, _ = cv2.estimateAffinePartial2D(source, target, method=cv2.LMEDS)
    return None if matrix is None else np.vstack([matrix, [0.0, 0.0, 1.0]])


def _residual(transform: np.ndarray, source: np.ndarray, target: np.ndarray) -> float:
    mapped = cv2.perspectiveTransform(source[None].astype(np.float64), transform)[0]
    return float(np.sqrt(np.mean(np.sum((mapped - target) ** 2, axis=1))))


def scale_homography(homography: np.ndarray, scale: float) -> np.ndarray:
    """A homography measured at `scale` expressed in full-resolution pixels."""
    s = np.diag([scale, scale, 1.0])
    return np.linalg.inv(s) @ homography @ s


def is_still(homography: np.ndarray, width: int, height: int) -> bool:
    """True when no corner of the frame moves by a quarter pixel or more."""
    corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], np.float64)
    moved = cv2.perspectiveTransform(corners[None], homography)[0]
    return bool(np.abs(moved - corners).max() < _STILL_PX)


def _displacement(transform: np.ndarray, shape: tuple[int, int]) -> float:
    height, width = shape
    centre = np.array([[[width / 2, height / 2]]], np.float64)
    return float(np.linalg.norm(cv2.perspectiveTransform(centre, transform)[0, 0] - centre[0, 0]))


def _explains_no_better(step: np.ndarray, key: np.ndarray, grey: np.ndarray, valid: np.ndarray) -> bool:
    """True when `grey` matches `key` at least as well unmoved as moved by `step`.

    Corner tracks on moving content (water, reflections, foliage) can agree on a motion the
    camera did not make; the photometric error over the whole background cannot be fooled that
    way: on a locked-off shot the still parts line up only without the motion.
    """
    if np.allclose(step, np.eye(3)):
        return False
    size = (grey.shape[1], grey.shape[0])
    moved = cv2.warpPerspective(grey, step, size, flags=cv2.INTER_LINEAR)
    inside = cv2.warpPerspective(np.ones_like(valid), step, size, flags=cv2.INTER_NEAREST) > 0
    usable = (valid > 0) & inside
    if usable.sum() < 0.25 * usable.size:
        return False
    key_f, grey_f, moved_f = (a.astype(np.float32) for a in (key, grey, moved))
    still_error = float(np.mean(np.abs(grey_f - key_f)[usable]))
    moved_error = float(np.mean(np.abs(moved_f - key_f)[usable]))
    return still_error <= moved_error


class MotionTracker:
    """Feeds frames one at a time and builds the shot's `MotionTrack`."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.scale = analysis_scale(width)
        self._key: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # grey, valid, to_ref
        self._previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
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
        if self._key is None:
            to_ref = np.eye(3)
            self._key = (grey, valid, to_ref)
        else:
            to_ref = self._measure(grey, valid)
        self._to_ref.append(to_ref)
        self._previous = (grey, valid, to_ref)

    def _measure(self, grey: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Track against the keyframe (no drift); move the keyframe up when that fails or the
        view has moved by more than a quarter of the frame."""
        key_grey, key_valid, key_to_ref = self._key
        step = estimate_homography(key_grey, grey, valid & key_valid)
        if step is None or _displacement(step, grey.shape) > 0.25 * grey.shape[1]:
            self._key = self._previous
            key_grey, key_valid, key_to_ref = self._key
            step = estimate_homography(key_grey, grey, valid & key_valid)
        if step is None:
            self.untracked_frames += 1
            return self._previous[2]
        if _explains_no_better(step, key_grey, grey, valid & key_valid):
            step = np.eye(3)
        return key_to_ref @ scale_homography(step, self.scale)

    def track(self) -> MotionTrack:
        """The chained track; a shot whose frames all stay within a quarter pixel of frame 0 is
        locked off, and gets exact identities."""
        return locked_off(self._to_ref, self.width, self.height)

    def local_track(self, keyframe_given: bool) -> list[np.ndarray]:
        """The frames' homographies into the first frame's coordinates, as measured (no
        locked-off check); without the first frame when it was only the block's keyframe."""
        return list(self._to_ref[1:] if keyframe_given else self._to_ref)


def locked_off(to_ref: list[np.ndarray], width: int, height: int) -> MotionTrack:
    """The track; exact identities when every frame stays within a quarter pixel of frame 0."""
    if all(is_still(h, width, height) for h in to_ref):
        return MotionTrack(tuple(np.eye(3) for _ in to_ref))
    return MotionTrack(tuple(to_ref))


def chain_blocks(blocks: list[list[np.ndarray]], width: int, height: int) -> MotionTrack:
    """The shot's track from its blocks' local tracks, in order: the first block's relative to
    frame 0, each later one's relative to the frame before the block."""
    to_ref: list[np.ndarray] = []
    for local in blocks:
        if not to_ref:
            to_ref.extend(local)
        else:
            base = to_ref[-1]
            to_ref.extend(base @ homography for homography in local)
    return locked_off(to_ref, width, height)
