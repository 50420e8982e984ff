"""Put an engine's fill back into the plate without touching anything else.

The edit region is every non-255 quadmask pixel. The composite reaches `band` pixels beyond it
(DESIGN.md: at most max(15 px, 1 % of the plate width)): fully the fill up to `band - feather`
pixels out, then a linear feather to zero. Where the weight is zero the output is the source
plate's own value, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from void_core import quadmask


@dataclass(frozen=True)
class Box:
    """A pixel rectangle [y0, y1) x [x0, x1)."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def empty(self) -> bool:
        return self.y1 <= self.y0 or self.x1 <= self.x0

    def union(self, other: Box) -> Box:
        if self.empty:
            return other
        if other.empty:
            return self
        return Box(min(self.y0, other.y0), max(self.y1, other.y1),
                   min(self.x0, other.x0), max(self.x1, other.x1))

    def grown(self, margin: int, height: int, width: int) -> Box:
        if self.empty:
            return self
        return Box(max(0, self.y0 - margin), min(height, self.y1 + margin),
                   max(0, self.x0 - margin), min(width, self.x1 + margin))


EMPTY = Box(0, 0, 0, 0)


def edit_box(quad: np.ndarray) -> Box:
    """Bounding box of the non-255 pixels of one frame (EMPTY when there are none)."""
    rows = np.flatnonzero((quad != quadmask.KEEP).any(axis=1))
    if rows.size == 0:
        return EMPTY
    cols = np.flatnonzero((quad[rows[0]: rows[-1] + 1] != quadmask.KEEP).any(axis=0))
    return Box(int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)


@dataclass(frozen=True)
class Feather:
    """How far the composite reaches beyond the mask, and how soft its edge is."""

    band: int
    feather: int

    @classmethod
    def for_width(cls, plate_width: int) -> Feather:
        band = quadmask.band_width(plate_width)
        return cls(band=band, feather=max(1, band // 2))

    def alpha(self, quad: np.ndarray) -> np.ndarray:
        """Composite weight per pixel, float32 in [0, 1]; exactly 0 beyond `band`."""
        keep = (quad == quadmask.KEEP).astype(np.uint8)
        if keep.all():
            return np.zeros(quad.shape, np.float32)
        distance = cv2.distanceTransform(keep, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        weight = (self.band - distance) / np.float32(self.feather)
        alpha = np.clip(weight, 0.0, 1.0).astype(np.float32)
        alpha[distance >= self.band] = 0.0
        return alpha

    def hole(self, quad: np.ndarray) -> np.ndarray:
        """Pixels an engine must fill: everywhere the composite weight is above zero."""
        return self.alpha(quad) > 0


def paste(source: np.ndarray, fill: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Blend `fill` over `source` with `alpha`; where alpha == 0 keep `source` bits exactly.

    All three cover the same pixels (a crop or a whole frame); the result has source's dtype.
    The blend is linear light. A NaN or Inf source pixel inside the composite (alpha > 0) takes
    the fill alone, so it never bleeds into the blend; outside it stays as it is.
    """
    a = alpha[..., None]
    under = source.astype(np.float32)
    broken = ~np.isfinite(under)
    if broken.any():
        a = np.where(broken & (a > 0), np.float32(1.0), a)
        under[broken] = 0.0
    blended = (a * fill.astype(np.float32) + (1.0 - a) * under).astype(source.dtype)
    return np.where(a > 0, blended, source)
