"""Step 6: masks upsampled to the plate's size, edges snapped to its picture, written losslessly."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from void_core.imaging import bbox, clip_roi, crop, expand, paste
from void_core.masking.classical.frames import WRITE_SHARE, FrameStore, Geometry, guide_grey
from void_core.masking.prompt import FrameStats, SegmentResult
from void_core.media.encode import write_mask_video
from void_core.media.plate import Plate
from void_core.progress import Progress

OBJECT, BACKGROUND = 0, 255
# Output.
GUIDE_EPSILON = 1e-3  # guided filter regularisation (grey levels in [0, 1], squared)
DEFAULT_RATE = Fraction(24)  # for image sequences, which carry no rate


def write_masks(plate: Plate, store: FrameStore, geometry: Geometry, out_path: Path,
                 progress: Progress) -> SegmentResult:
    """Step 6: every mask at the plate's size into a lossless mask video, with its stats.
    Below full analysis resolution the plate is decoded again to guide the upsampling."""
    stats: list[FrameStats] = []

    def masks() -> Iterator[np.ndarray]:
        frames = plate.frames() if geometry.scale < 1 else iter(())
        for index in range(geometry.frame_count):
            small = store.mask(index)
            if geometry.scale < 1:
                full = _upsample(small, plate, next(frames), geometry)
            else:
                full = small
            stats.append(FrameStats.of(index, full))
            progress.advance(WRITE_SHARE)
            yield np.where(full, OBJECT, BACKGROUND).astype(np.uint8)

    write_mask_video(out_path, masks(), plate.info.rate or DEFAULT_RATE)
    return SegmentResult(out_path, geometry.width, geometry.height, stats, [])


def _upsample(mask: np.ndarray, plate: Plate, raw: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Analysis-scale mask -> plate size, its edge snapped to the full-resolution picture (the
    plate frame `raw`, turned grey only around the mask) by a guided filter on the border."""
    size = (geometry.width, geometry.height)
    if not mask.any():
        return np.zeros((geometry.height, geometry.width), bool)
    soft = cv2.resize(mask.view(np.uint8) * np.uint8(255), size, interpolation=cv2.INTER_LINEAR)
    roi = clip_roi(expand(bbox(soft > 0), int(4 / geometry.scale) + 4), soft.shape)
    radius = max(2, int(round(1.5 / geometry.scale)))
    near = crop(soft, roi).astype(np.float32) / 255.0
    full = np.zeros(soft.shape, bool)
    guide = guide_grey(plate, crop(raw, roi))
    paste(full, _guided_filter(guide, near, radius, GUIDE_EPSILON) > 0.5, roi)
    return full


def _guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    size = (2 * radius + 1, 2 * radius + 1)
    mean = lambda image: cv2.boxFilter(image, -1, size, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    mean_i, mean_p = mean(guide), mean(source)
    var_i = mean(guide * guide) - mean_i * mean_i
    cov_ip = mean(guide * source) - mean_i * mean_p
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return mean(a) * guide + mean(b)
