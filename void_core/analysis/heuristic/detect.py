"""Pass 3: each frame against the background, and the object's cast shadow in it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from void_core.analysis.heuristic.background import Background
from void_core.analysis.heuristic.survey import Frame, Reach
from void_core.imaging import components_touching, disc, grow

_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


class Thresholds(Protocol):
    """The analyzer's settings that the comparison reads."""

    min_change: float
    noise_factor: float
    chroma_tolerance: float
    shadow_ratio: float


@dataclass(frozen=True)
class Comparison:
    """One frame against the background (everything at analysis size)."""

    rgb: np.ndarray  # the frame, smoothed and exposure-matched
    changed: np.ndarray  # differs from the background beyond noise (off the object)
    brighter: np.ndarray  # some channel rose beyond noise: no shadow does that
    shadow_core: np.ndarray  # darker, colour-preserving, ratio below the shadow ratio
    shadow_soft: np.ndarray  # darker, colour-preserving, any ratio below ~1 (penumbra)
    threshold: float  # change threshold (luma; 1.25x on the max channel)
    known_far: np.ndarray


def _luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.transform(rgb, _LUMA[None])


# numpy reduces over a 3-long last axis slowly; plane by plane is several times faster.
def channel_max(rgb: np.ndarray) -> np.ndarray:
    return np.maximum(np.maximum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])


def _channel_sum(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] + rgb[..., 1] + rgb[..., 2]


def _smooth(rgb: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(rgb, (0, 0), 1.0)


def misregistration_range(image: np.ndarray, moving: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel min and max over the 3x3 neighbourhood when the camera moves: a pixel only
    differs from the background if it differs from every sample a sub-pixel error could pick."""
    if not moving:
        return image, image
    kernel = np.ones((3, 3), np.uint8)
    return cv2.erode(image, kernel), cv2.dilate(image, kernel)


def distance_outside(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """How far `values` lie outside [low, high] (0 inside)."""
    return np.maximum(np.maximum(values - high, low - values), 0)


def compare(frame: Frame, background: Background, far: np.ndarray,
             settings: Thresholds) -> Comparison:
    image, known, known_far = background.in_frame(frame.index)
    base, rgb = _smooth(image), _smooth(frame.rgb)
    base_luma, luma = _luma(base), _luma(rgb)
    sample = known_far & far & (base_luma > 0.05)
    if sample.sum() > 200:
        gain = float(np.clip(np.median(luma[sample] / base_luma[sample]), 0.5, 2.0))
        rgb, luma = rgb / gain, luma / gain
        noise = 1.4826 * float(np.median(np.abs(luma[sample] - base_luma[sample])))
    else:
        noise = 2.0 / 255
    threshold = max(settings.min_change, settings.noise_factor * noise)
    usable = known & ~frame.primary
    low, high = misregistration_range(base, background.moving_camera)
    changed = usable & (channel_max(distance_outside(rgb, low, high)) > 1.25 * threshold)
    brighter = changed & (channel_max(rgb - high) > 1.25 * threshold)
    low_luma, _ = misregistration_range(base_luma, background.moving_camera)
    darker = usable & (low_luma - luma > threshold)
    ratio = (luma + 0.01) / (base_luma + 0.01)
    level = _channel_sum(base)
    chroma_shift = channel_max(cv2.absdiff(rgb / (_channel_sum(rgb)[..., None] + 0.03),
                                            base / (level[..., None] + 0.03)))
    tolerance = settings.chroma_tolerance + 3 * noise / np.maximum(level / 3, 0.05)
    # Clipped highlights hide their true colour, so a shadow over them may shift it.
    tolerance = np.where(channel_max(base) > 0.96, 0.25, tolerance)
    soft = darker & (chroma_shift < tolerance) & (ratio < 0.98) & (ratio > 0.1)
    core = soft & (ratio < settings.shadow_ratio)
    return Comparison(rgb, changed, brighter, core, soft, threshold, known_far)


@dataclass(frozen=True)
class Zones:
    """Distances from the object on one frame, and the band round it left out of the search."""

    distance: np.ndarray  # px to the nearest object pixel (inf when the object is not in view)
    guard: int  # band width: the mask's edge error plus smoothing

    def within(self, radius: float) -> np.ndarray:
        return self.distance <= radius

    @property
    def band(self) -> np.ndarray:
        return (self.distance > 0) & (self.distance <= self.guard)

    @property
    def visible(self) -> bool:
        return bool(np.isfinite(self.distance).any())


class GuardEstimate:
    """How wide a band round the mask to leave out: at least `reach.guard`, widened when the
    mask misses the object's edge.

    Such a mask leaves a ring of changed pixels all the way round the object, so each frame's
    estimate is the first ring (1 px wide, outwards) that is mostly unchanged. A shadow or a
    touching object can cover most of the ring on some frames, so the band used is the median
    of the estimates so far: mask quality is a property of the shot, not of a frame.
    """

    def __init__(self, reach: Reach):
        self.reach = reach
        self._estimates: list[int] = []

    def update(self, distance: np.ndarray, changed: np.ndarray) -> Zones:
        if np.isfinite(distance).any():
            self._estimates.append(self._first_clear_ring(distance, changed))
        guard = int(np.median(self._estimates)) if self._estimates else self.reach.guard
        return Zones(distance, max(self.reach.guard, guard))

    def _first_clear_ring(self, distance: np.ndarray, changed: np.ndarray) -> int:
        for ring in range(1, self.reach.max_guard + 1):
            pixels = (distance > ring - 1) & (distance <= ring)
            if not pixels.any() or changed[pixels].mean() < 0.5:
                return ring
        return self.reach.max_guard


def shadow_region(cmp: Comparison, zones: Zones, reach: Reach,
                   shadow_reach: float) -> np.ndarray:
    """Colour-preserving darkening connected to a core that comes near the object."""
    if not zones.visible:
        return np.zeros(cmp.changed.shape, bool)
    soft = cv2.morphologyEx(cmp.shadow_soft.astype(np.uint8), cv2.MORPH_CLOSE,
                            disc(1)).astype(bool)
    soft &= ~zones.within(zones.guard) & zones.within(reach.shadow_extent(shadow_reach))
    near = zones.within(zones.guard + reach.near)
    cores = components_touching(cmp.shadow_core & soft, near, reach.min_area)
    region = components_touching(soft, cores, reach.min_area)
    if not region.any():
        return region
    region |= zones.band & grow(region, zones.guard + 1)  # bridge the band we did not look at
    return grow(region, reach.grow)
