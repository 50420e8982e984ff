"""Every frame's sightings of the background, kept per canvas pixel in bounded memory.

A canvas pixel can be seen by hundreds of frames; the robust estimate needs a fair sample of
them, not the first few. Each pixel keeps at most `slots` sightings in time order: when its
slots are full, every other one is dropped and the pixel from then on keeps only every second
(fourth, ...) sighting. The kept sightings stay spread evenly over the whole shot whatever its
length, and memory is `slots` float16 RGB values per canvas pixel.
"""

from __future__ import annotations

import numpy as np

_ROWS_PER_CHUNK = 64
# Measured on a 1000x1000 canvas: plane writes cost ~20 ms per slot number in use, a scatter of
# every offered pixel ~45 ms whatever the numbers.
_PLANE_WRITES = 2


class SightingBuffer:
    def __init__(self, shape: tuple[int, int], slots: int):
        if slots < 2 or slots % 2:
            raise ValueError("slots must be an even number >= 2")
        h, w = shape
        self.slots = slots
        self.values = np.zeros((slots, h, w, 3), np.float16)
        self.kept = np.zeros((h, w), np.int32)  # slots in use
        self.seen = np.zeros((h, w), np.int32)  # sightings offered, kept or not
        self.stride = np.ones((h, w), np.int32)
        self._thinned = False  # some pixel keeps only every second (fourth...) sighting

    @property
    def shape(self) -> tuple[int, int]:
        return self.kept.shape

    def add(self, pixels: np.ndarray, valid: np.ndarray) -> None:
        """Offer one frame's sightings: (h, w, 3) display values, where `valid`."""
        if self._thinned:
            offered = valid & (self.seen % self.stride == 0)
        else:
            offered = valid
        self.seen += valid
        full = offered & (self.kept == self.slots)
        if full.any():
            self._halve(full)
        slots = self.kept[offered]
        in_use = np.flatnonzero(np.bincount(slots, minlength=self.slots))
        if len(in_use) <= _PLANE_WRITES:
            # Pixels seen alike share their slot (a still hole): one plane write per slot number.
            for slot in in_use:
                here = offered & (self.kept == slot)
                np.copyto(self.values[slot], pixels, casting="same_kind", where=here[..., None])
        else:  # a moving hole spreads the counts: one scatter beats a plane pass per count
            ys, xs = np.nonzero(offered)
            self.values[slots, ys, xs] = pixels[ys, xs]
        self.kept += offered

    def _halve(self, pixels: np.ndarray) -> None:
        """Drop every other kept sighting of the full `pixels`; keep every second from now on."""
        where = pixels[..., None]
        for slot in range(self.slots // 2):
            np.copyto(self.values[slot], self.values[2 * slot], where=where)
        self.kept[pixels] = self.slots // 2
        self.stride[pixels] *= 2
        self._thinned = True

    def estimate(self, change: float, affected: np.ndarray) -> np.ndarray:
        """The per-pixel robust background, (h, w, 3) float32 (zeros where never seen).

        The median of all kept sightings; but on `affected` pixels (some frame marks them as
        changed by the removed object) whose earliest third of sightings differs from the latest
        third by more than `change` (a pushed object left, a shadow fell), the median of the
        earliest third: the scene before the removed object touched it.
        """
        h, w = self.shape
        out = np.zeros((h, w, 3), np.float32)
        for y0 in range(0, h, _ROWS_PER_CHUNK):
            rows = slice(y0, min(h, y0 + _ROWS_PER_CHUNK))
            out[rows] = _estimate_chunk(self.values[:, rows].astype(np.float32), self.kept[rows],
                                        change, affected[rows])
        return out


def _estimate_chunk(values: np.ndarray, kept: np.ndarray, change: float,
                    affected: np.ndarray) -> np.ndarray:
    slots = values.shape[0]
    order = np.arange(slots)[:, None, None]
    everything = _masked_median(values, order < kept)
    if not affected.any():
        return everything
    # Early and late states matter only on affected pixels: take those out as one row.
    values, kept = values[:, affected][:, None], kept[affected][None]
    third = np.maximum(1, (kept + 2) // 3)
    early = _masked_median(values, order < third)
    late = _masked_median(values, (order >= kept - third) & (order < kept))
    changed = np.abs(early - late).max(axis=-1) > change
    everything[affected] = np.where(changed[..., None], early, everything[affected][None])[0]
    return everything


def _masked_median(values: np.ndarray, use: np.ndarray) -> np.ndarray:
    """Median over axis 0 of the entries where `use` (lower median for even counts averaged)."""
    count = use.sum(axis=0)
    ordered = np.sort(np.where(use[..., None], values, np.inf), axis=0)
    low = np.clip((count - 1) // 2, 0, None)[None, ..., None]
    high = np.clip(count // 2, 0, values.shape[0] - 1)[None, ..., None]
    low = np.broadcast_to(low, (1,) + values.shape[1:])
    high = np.broadcast_to(high, (1,) + values.shape[1:])
    median = 0.5 * (np.take_along_axis(ordered, low, 0)[0] + np.take_along_axis(ordered, high, 0)[0])
    return np.where((count > 0)[..., None], median, 0.0).astype(np.float32)
