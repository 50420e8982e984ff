"""Quality metrics per region: PSNR, SSIM, temporal error, mask IoU and coverage.

All on 8-bit-scale display values (peak 255) so numbers compare with published figures. A
region is a boolean mask; metrics over an empty region are NaN (and skipped by the means).
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def _as_float(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image.astype(np.float64)
    return np.asarray(image, np.float64) * 255.0


def mse(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> float:
    diff = (_as_float(a) - _as_float(b)) ** 2
    if region is not None:
        if not region.any():
            return math.nan
        diff = diff[region]
    return float(diff.mean())


def psnr_from_mse(value: float) -> float:
    if math.isnan(value):
        return math.nan
    return math.inf if value == 0 else 10 * math.log10(255.0**2 / value)


def psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> float:
    """PSNR in dB (peak 255) over `region` (all pixels when None)."""
    return psnr_from_mse(mse(a, b, region))


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM (Gaussian window 11, sigma 1.5, on the luma of RGB inputs)."""
    x, y = _luma(_as_float(a)), _luma(_as_float(b))
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blur = lambda img: cv2.GaussianBlur(img, (11, 11), 1.5)  # noqa: E731
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def ssim(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> float:
    values = ssim_map(a, b)
    if region is not None:
        if not region.any():
            return math.nan
        values = values[region]
    return float(values.mean())


def _luma(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim == 2:
        return rgb
    return rgb[..., 0] * 0.2126 + rgb[..., 1] * 0.7152 + rgb[..., 2] * 0.0722


def temporal_error(prev_out: np.ndarray, out: np.ndarray, prev_ref: np.ndarray, ref: np.ndarray,
                   region: np.ndarray) -> float:
    """RMS of the frame-to-frame change of the output minus that of the reference, in region.

    Zero when the output flickers exactly as much as the ground truth does.
    """
    if not region.any():
        return math.nan
    change = (_as_float(out) - _as_float(prev_out)) - (_as_float(ref) - _as_float(prev_ref))
    return float(np.sqrt((change[region] ** 2).mean()))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else math.nan


def coverage(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of `truth` pixels that `found` includes."""
    total = truth.sum()
    return float((found & truth).sum() / total) if total else math.nan


def nanmean(values) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan
