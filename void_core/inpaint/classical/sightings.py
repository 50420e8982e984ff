"""Every frame's sightings of the background, kept per canvas pixel in bounded memory.

A canvas pixel can be seen by hundreds of frames; the robust estimate needs a fair sample of
them, not the first few. Each pixel keeps at most `slots` sightings, in time order, thinned by
frame index: a pixel keeps its visible sightings of the frames t with t % S == 0, S the smallest
power of two for which at most `slots` remain (S per pixel). Streaming, a frame with t % S != 0
is skipped; when a full pixel is offered a frame it keeps, S doubles and only the sightings with
t % S == 0 stay (compacted, time order kept), until the new one fits or is no longer kept. The
kept sightings stay spread evenly over the whole shot whatever its length.

Because the rule is a function of the frame indices alone, frames processed in blocks, each block
with its own buffer, and merged (`merge`: S the smallest power of two >= every block's S for
which the blocks' kept sightings with t % S == 0 fit) give the same sightings, bit for bit, as
one buffer fed every frame: the classical engine learns a long shot in parallel blocks.

Memory: `slots` float16 RGB values and a uint16 frame index (t mod 65536; S divides 65536)
per canvas pixel.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

_ROWS_PER_CHUNK = 64
# Measured on a 1000x1000 canvas: plane writes cost ~20 ms per slot number in use, a scatter of
# every offered pixel ~45 ms whatever the numbers.
_PLANE_WRITES = 2
_TIME_MODULUS = 1 << 16  # frame indices are kept mod this (uint16); every S divides it
SLOT_BYTES = 3 * 2 + 2  # a slot per pixel: float16 RGB and its uint16 frame index


@dataclass(frozen=True)
class BlockSightings:
    """One block's buffer as saved: each pixel's used slots only, slot by slot (slot 0 of every
    pixel that keeps one, in raster order, then slot 1 ...)."""

    values: np.ndarray  # (n, 3) float16
    times: np.ndarray  # (n,) uint16: frame index mod 65536
    kept: np.ndarray  # (h, w) int32
    spacing: np.ndarray  # (h, w) int32: S

    def slots(self) -> Iterator[tuple[np.ndarray, np.ndarray, slice]]:
        """Per slot number: the pixels (ys, xs) that use it and their entries' positions."""
        start = 0
        for slot in range(int(self.kept.max(initial=0))):
            ys, xs = np.nonzero(self.kept > slot)
            yield ys, xs, slice(start, start + len(ys))
            start += len(ys)

    def dense_times(self) -> np.ndarray:
        """(used, h, w) frame indices (0 beyond a pixel's kept slots)."""
        used = int(self.kept.max(initial=0))
        times = np.zeros((used,) + self.kept.shape, np.uint16)
        times[np.arange(used)[:, None, None] < self.kept[None]] = self.times
        return times


class SightingBuffer:
    def __init__(self, shape: tuple[int, int], slots: int):
        if slots < 2 or slots % 2:
            raise ValueError("slots must be an even number >= 2")
        h, w = shape
        self.slots = slots
        self.values = np.zeros((slots, h, w, 3), np.float16)
        self.times = np.zeros((slots, h, w), np.uint16)
        self.kept = np.zeros((h, w), np.int32)  # slots in use
        self.spacing = np.ones((h, w), np.int32)  # S: the pixel keeps frames t % S == 0
        self._thinned = False  # some pixel has S > 1

    @property
    def shape(self) -> tuple[int, int]:
        return self.kept.shape

    def add(self, pixels: np.ndarray, valid: np.ndarray, t: int) -> None:
        """Offer frame `t`'s sightings: (h, w, 3) display values, where `valid`."""
        offered = valid & (t % self.spacing == 0) if self._thinned else valid
        full = offered & (self.kept == self.slots)
        if full.any():
            self._thin(full, t)
            offered = offered & (t % self.spacing == 0)
        slots = self.kept[offered]
        in_use = np.flatnonzero(np.bincount(slots, minlength=self.slots))
        stamp = t % _TIME_MODULUS
        if len(in_use) <= _PLANE_WRITES:
            # Pixels seen alike share their slot (a still hole): one plane write per slot number.
            for slot in in_use:
                here = offered & (self.kept == slot)
                np.copyto(self.values[slot], pixels, casting="same_kind", where=here[..., None])
                self.times[slot][here] = stamp
        else:  # a moving hole spreads the counts: one scatter beats a plane pass per count
            ys, xs = np.nonzero(offered)
            self.values[slots, ys, xs] = pixels[ys, xs]
            self.times[slots, ys, xs] = stamp
        self.kept += offered

    def _thin(self, full: np.ndarray, t: int) -> None:
        """Double S of the `full` pixels (keeping their sightings with t' % S == 0) until frame
        `t` fits or is no longer kept: work in proportion to those pixels, not the canvas."""
        ys, xs = np.nonzero(full)
        while len(ys):
            spacing = self.spacing[ys, xs] * 2
            self._compact(ys, xs, spacing)
            still = (self.kept[ys, xs] == self.slots) & (t % spacing == 0)
            ys, xs = ys[still], xs[still]
        self._thinned = True

    def _compact(self, ys: np.ndarray, xs: np.ndarray, spacing: np.ndarray) -> None:
        """Pixels (ys, xs) keep only their sightings with t % spacing == 0, moved to the front
        in time order (in place: slot by slot, an entry only moves to a lower slot)."""
        kept, count = self.kept[ys, xs], np.zeros(len(ys), np.int32)
        for slot in range(int(kept.max(initial=0))):
            take = (slot < kept) & (self.times[slot, ys, xs] % spacing == 0)
            if not take.any():
                continue
            y, x, to = ys[take], xs[take], count[take]
            self.values[to, y, x] = self.values[slot, y, x]
            self.times[to, y, x] = self.times[slot, y, x]
            count += take
        self.kept[ys, xs], self.spacing[ys, xs] = count, spacing

    def merge(self, block: BlockSightings) -> None:
        """Append a later block's sightings: S the smallest power of two >= both for which the
        sightings with t % S == 0 of both fit in `slots` (the same as one buffer fed both).
        Work in proportion to the block's sightings and the pixels whose S grows."""
        spacing = np.maximum(self.spacing, block.spacing)
        ys, xs = np.nonzero(self.kept + block.kept > self.slots)  # only these may not fit
        if len(ys):
            ours = self.times[:, ys, xs], self.kept[ys, xs]
            theirs = block.dense_times()[:, ys, xs], block.kept[ys, xs]
            wider = spacing[ys, xs]
            while True:
                over = _count(*ours, wider) + _count(*theirs, wider) > self.slots
                if not over.any():
                    break
                wider = np.where(over, wider * 2, wider)
            spacing[ys, xs] = wider
        ys, xs = np.nonzero(spacing > self.spacing)
        self._compact(ys, xs, spacing[ys, xs])
        for ys, xs, entries in block.slots():
            times = block.times[entries]
            take = times % spacing[ys, xs] == 0
            y, x, to = ys[take], xs[take], self.kept[ys[take], xs[take]]
            self.values[to, y, x] = block.values[entries][take]
            self.times[to, y, x] = times[take]
            self.kept[y, x] += 1
        self.spacing = spacing
        self._thinned = bool((spacing > 1).any())

    def block(self) -> BlockSightings:
        """The buffer as a block to save or merge: each pixel's used slots only."""
        used = int(self.kept.max(initial=0))
        mask = np.arange(used)[:, None, None] < self.kept[None]
        return BlockSightings(self.values[:used][mask], self.times[:used][mask], self.kept,
                              self.spacing)

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


def _count(times: np.ndarray, kept: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Per pixel column: how many used slots hold a frame t with t % spacing == 0."""
    order = np.arange(len(times))[:, None]
    return ((order < kept[None]) & (times % spacing[None] == 0)).sum(axis=0)


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
