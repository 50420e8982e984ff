"""How a fill is scored against the footage that was there, inside the hole, 8-bit scale.

- psnr: PSNR (peak 255) of all hole pixels of all frames pooled (one MSE over R, G, B);
- ssim: SSIM (`void_core.metrics.ssim`, luma, Gaussian window 11) averaged over the hole, then
  over frames;
- temporal: mean over t >= 1, pixels p in hole_t | hole_t-1 and channels c of
  |(out_t - out_t-1) - (truth_t - truth_t-1)|, in code values (0 when the fill changes from
  frame to frame exactly as the footage does);
- ring_psnr: PSNR over the hole's inner ring, the pixels within 5 px (RING_PX) of its edge
  (seams);
- hf_ratio: sum over frames of the squared Laplacian (3x3) of the fill's luma over the hole
  shrunk by 2 px, divided by the same for the truth: 1 matches the footage's detail, below 1
  is smear, above 1 is noise or streaks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from void_core import metrics

RING_PX = 5
_INTERIOR_SHRINK_PX = 2


@dataclass(frozen=True)
class FillScores:
    psnr: float
    ssim: float
    temporal: float
    ring_psnr: float
    hf_ratio: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def score_fill(outputs: list[np.ndarray], truths: list[np.ndarray],
               holes: list[np.ndarray]) -> FillScores:
    """Score uint8 RGB `outputs` against `truths` inside the bool `holes` (one per frame)."""
    squared = ring_squared = 0.0
    count = ring_count = 0
    ssims = []
    hf_out = hf_truth = 0.0
    for out, truth, hole in zip(outputs, truths, holes, strict=True):
        if not hole.any():
            continue
        error = (out.astype(np.float64) - truth) ** 2
        squared += error[hole].sum()
        count += hole.sum() * 3
        ring = hole & ~_shrink(hole, RING_PX)
        ring_squared += error[ring].sum()
        ring_count += ring.sum() * 3
        ssims.append(metrics.ssim(out, truth, hole))
        interior = _shrink(hole, _INTERIOR_SHRINK_PX)
        hf_out += _laplacian_energy(out, interior)
        hf_truth += _laplacian_energy(truth, interior)
    return FillScores(
        psnr=metrics.psnr_from_mse(squared / count) if count else math.nan,
        ssim=metrics.nanmean(ssims),
        temporal=temporal_error(outputs, truths, holes),
        ring_psnr=metrics.psnr_from_mse(ring_squared / ring_count) if ring_count else math.nan,
        hf_ratio=hf_out / hf_truth if hf_truth else math.nan,
    )


def temporal_error(outputs: list[np.ndarray], truths: list[np.ndarray],
                   holes: list[np.ndarray]) -> float:
    """Mean |change of the fill - change of the truth| between consecutive frames, over the
    union of both frames' holes and the three channels (code values)."""
    total, count = 0.0, 0
    for t in range(1, len(outputs)):
        region = holes[t] | holes[t - 1]
        if not region.any():
            continue
        change = (outputs[t].astype(np.int16) - outputs[t - 1]) - (truths[t].astype(np.int16) - truths[t - 1])
        total += np.abs(change[region]).sum()
        count += region.sum() * 3
    return total / count if count else math.nan


def _shrink(mask: np.ndarray, pixels: int) -> np.ndarray:
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return cv2.erode(mask.astype(np.uint8), disc, borderType=cv2.BORDER_CONSTANT,
                     borderValue=0).astype(bool)


def _laplacian_energy(rgb: np.ndarray, region: np.ndarray) -> float:
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float((cv2.Laplacian(luma, cv2.CV_32F, ksize=3)[region].astype(np.float64) ** 2).sum())
