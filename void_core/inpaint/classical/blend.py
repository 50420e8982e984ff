"""Seamless joins: a gradient-domain (membrane) correction at the hole boundary.

Pasting a fill keeps its gradients; what must match is its value where it meets the frame. The
difference `frame - fill` is measured on the ring of visible pixels around the hole (smoothed,
so sensor noise does not print into the fill), and carried into the hole as the harmonic
function with those boundary values: the solution of Laplace's equation, which is what Poisson
image editing adds to the source. No step at the boundary, no change to the fill's texture, and
a correction that fades smoothly towards the hole's centre (unlike a constant tone shift, which
leaves a rim where it is wrong).

The membrane is smooth, so it is solved on a grid of at most `_SOLVE_SIZE` pixels and upsampled.
"""

from __future__ import annotations

import cv2
import numpy as np

_SOLVE_SIZE = 160
_ITERATIONS = 150
_CROSS = np.array([[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]], np.float32)


def membrane(difference: np.ndarray, known: np.ndarray, unknown: np.ndarray,
             smoothing: float = 2.0) -> np.ndarray:
    """Correction field (h, w, C) float32: smoothed `difference` on `known`, harmonic on `unknown`.

    Args:
        difference: (h, w, C) values, meaningful where `known`.
        known: bool pixels whose difference is measured (the ring around the hole).
        unknown: bool pixels to interpolate (the hole).
        smoothing: Gaussian sigma (px) the measured difference is averaged over along the ring.
    """
    h, w = known.shape
    out = np.zeros(difference.shape, np.float32)
    if not known.any() or not unknown.any():
        return out
    scale = min(1.0, _SOLVE_SIZE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    weight = known.astype(np.float32)
    values = np.where(known[..., None], difference, 0).astype(np.float32)
    sigma = max(smoothing * scale, 0.5)
    small_weight = _blur(cv2.resize(weight, size, interpolation=cv2.INTER_AREA), sigma)
    small_values = _blur(cv2.resize(values, size, interpolation=cv2.INTER_AREA), sigma)
    if small_values.ndim == 2:
        small_values = small_values[..., None]
    anchored = small_weight > 0.05
    measured = small_values / np.maximum(small_weight, 1e-6)[..., None]
    solution = _solve_laplace(measured, anchored)
    full = cv2.resize(solution, (w, h), interpolation=cv2.INTER_LINEAR)
    if full.ndim == 2:
        full = full[..., None]
    # On the ring itself use the full-resolution smoothed measurement: exact where it is known.
    ring = _blur(values, smoothing) / np.maximum(_blur(weight, smoothing), 1e-6)[..., None]
    out[:] = full
    out[known] = ring[known]
    return out


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    out = cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    if image.ndim == 3 and out.ndim == 2:
        out = out[..., None]
    return out


def _solve_laplace(values: np.ndarray, anchored: np.ndarray) -> np.ndarray:
    """Harmonic interpolation of `values` (fixed where `anchored`) over the rest of the grid."""
    field = push_pull(values, anchored)
    free = ~anchored
    for _ in range(_ITERATIONS):
        average = cv2.filter2D(field, -1, _CROSS, borderType=cv2.BORDER_REPLICATE)
        if average.ndim == 2:
            average = average[..., None]
        field[free] = average[free]
    return field


def push_pull(values: np.ndarray, anchored: np.ndarray) -> np.ndarray:
    """A smooth first guess: fill unanchored pixels from ever coarser averages of anchored ones."""
    weight = anchored.astype(np.float32)
    weighted = values * weight[..., None]
    if min(weight.shape) <= 2 or weight.sum() == 0:
        mean = weighted.sum(axis=(0, 1)) / max(weight.sum(), 1.0)
        return np.where(anchored[..., None], values, mean).astype(np.float32)
    size = ((weight.shape[1] + 1) // 2, (weight.shape[0] + 1) // 2)
    coarse_weight = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
    coarse_weighted = cv2.resize(weighted, size, interpolation=cv2.INTER_AREA)
    if coarse_weighted.ndim == 2:
        coarse_weighted = coarse_weighted[..., None]
    coarse_anchor = coarse_weight > 0
    coarse_values = coarse_weighted / np.maximum(coarse_weight, 1e-6)[..., None]
    coarse = push_pull(coarse_values, coarse_anchor)
    up = cv2.resize(coarse, (weight.shape[1], weight.shape[0]), interpolation=cv2.INTER_LINEAR)
    if up.ndim == 2:
        up = up[..., None]
    return np.where(anchored[..., None], values, up).astype(np.float32)
