"""The plate's grain: measured outside the mask, optionally laid back over the fill.

A background estimate is a median of many sightings, so it is cleaner than the plate; in a
grainy plate a clean fill reads as a smooth patch. The grain's standard deviation per channel is
measured on the visible pixels around the hole, robustly (median absolute deviation of a
high-pass that removes the image's own structure), and `regrain` adds Gaussian grain of that
strength (white: the H.264 plates this engine meets have little grain structure left).
"""

from __future__ import annotations

import cv2
import numpy as np

# A high-pass that cancels smooth image structure; on white noise it scales the standard
# deviation by the kernel's L2 norm, which the estimate divides out.
_KERNEL = np.array([[0, -0.25, 0], [-0.25, 1.0, -0.25], [0, -0.25, 0]], np.float32)
_WHITE_GAIN = float(np.sqrt((_KERNEL ** 2).sum()))


def grain_sigma(display: np.ndarray, usable: np.ndarray) -> np.ndarray | None:
    """Per-channel grain standard deviation on `usable` pixels (None: too few to say)."""
    interior = cv2.erode(usable.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    if interior.sum() < 256:
        return None
    high = cv2.filter2D(display.astype(np.float32), -1, _KERNEL, borderType=cv2.BORDER_REFLECT)
    mad = np.median(np.abs(high[interior]), axis=0)
    return (1.4826 * mad / _WHITE_GAIN).astype(np.float32)


def regrain(fill: np.ndarray, where: np.ndarray, sigma: np.ndarray, seed: int) -> np.ndarray:
    """`fill` with Gaussian grain of per-channel `sigma` added on `where`."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(fill.shape).astype(np.float32) * sigma
    out = fill.copy()
    out[where] += noise[where]
    return out
