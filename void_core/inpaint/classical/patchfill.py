"""Exemplar-based completion: multi-scale PatchMatch with patch voting (Wexler et al. 2007,
Newson et al. 2014, in 2-D).

The hole is filled with texture copied from the known pixels, never smeared in from its edge:
every hole pixel ends up as a weighted vote of the source patches its neighbourhood matches.
Coarse to fine: at the coarsest level the hole is a few patches wide and a smooth first guess is
enough; each finer level starts from the coarser result and its nearest-neighbour field. Only
patches lying wholly on known pixels are sources, so masked or foreground colours never enter.

Large holes are completed at a working scale (`work_size` pixels across the hole), then detail
is restored at full resolution by adding, to the upsampled fill, the high frequencies of the
full-resolution pixels the nearest-neighbour field points at.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from void_core.inpaint.classical.blend import push_pull

_RANDOM_ROUNDS = 5


@dataclass
class _Level:
    image: np.ndarray  # (h, w, 3) float32
    known: np.ndarray  # (h, w) bool


def fill_patches(image: np.ndarray, known: np.ndarray, patch: int = 7, work_size: int = 128,
                 seed: int = 0) -> np.ndarray:
    """`image` with every pixel outside `known` completed from the known ones.

    Returns `image` unchanged when nothing is missing; a smooth fill when too little is known to
    take whole patches from.
    """
    hole = ~known
    if not hole.any():
        return image.copy()
    radius = patch // 2
    ys, xs = np.nonzero(hole)
    extent = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
    scale = min(1.0, work_size / extent)
    work = _downscale(_Level(image.astype(np.float32), known), scale)
    if _sources(work.known, radius).sum() < 4 * patch * patch:
        return smooth_fill(image, known)
    rng = np.random.default_rng(seed)
    filled, targets, offsets = _complete(work, radius, rng)
    if scale == 1.0:
        return np.where(known[..., None], image, filled).astype(np.float32)
    return _restore_detail(image, known, filled, targets, offsets, scale)


def smooth_fill(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill the unknown pixels by repeated averaging of known ones (coarse to fine)."""
    return push_pull(image.astype(np.float32), known)


def _downscale(level: _Level, scale: float) -> _Level:
    if scale >= 1.0:
        return level
    h, w = level.known.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return _resize_level(level, size)


def _resize_level(level: _Level, size: tuple[int, int]) -> _Level:
    weight = level.known.astype(np.float32)
    coverage = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
    values = cv2.resize(level.image * weight[..., None], size, interpolation=cv2.INTER_AREA)
    known = coverage > 0.999
    image = values / np.maximum(coverage, 1e-6)[..., None]
    image[~known] = 0
    return _Level(image.astype(np.float32), known)


def _pyramid(level: _Level, radius: int) -> list[_Level]:
    levels = [level]
    while True:
        current = levels[-1]
        h, w = current.known.shape
        ys, xs = np.nonzero(~current.known)
        extent = max(np.ptp(ys) + 1, np.ptp(xs) + 1) if ys.size else 0
        if extent <= 4 * radius or min(h, w) < 8 * radius:
            break
        coarser = _resize_level(current, ((w + 1) // 2, (h + 1) // 2))
        if _sources(coarser.known, radius).sum() < 16:
            break
        levels.append(coarser)
    return levels[::-1]


def _complete(work: _Level, radius: int, rng: np.random.Generator):
    """The filled working image, its target centres (n, 2) and their offsets to sources."""
    levels = _pyramid(work, radius)
    image = smooth_fill(levels[0].image, levels[0].known)
    targets = offsets = None
    for depth, level in enumerate(levels):
        if depth:
            up = cv2.resize(image, (level.known.shape[1], level.known.shape[0]),
                            interpolation=cv2.INTER_LINEAR)
            image = np.where(level.known[..., None], level.image, up)
        field = _Field(image, level.known, radius, rng)
        if targets is not None:
            field.seed_from(targets * 2, offsets * 2)
        iterations = 6 if depth == 0 else 3
        for _ in range(iterations):
            field.search()
            image = field.vote()
            field.image = image
        targets, offsets = field.targets, field.offsets
    return image, targets, offsets


def _sources(known: np.ndarray, radius: int) -> np.ndarray:
    """Centres of patches lying wholly on known pixels and inside the image."""
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    inside = cv2.erode(known.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    return inside


class _Field:
    """A nearest-neighbour field from every patch touching the hole to a source patch."""

    def __init__(self, image: np.ndarray, known: np.ndarray, radius: int, rng: np.random.Generator):
        self.image, self.known, self.radius, self.rng = image, known, radius, rng
        h, w = known.shape
        kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
        touching = cv2.dilate((~known).astype(np.uint8), kernel) > 0
        touching[:radius], touching[h - radius:], touching[:, :radius], touching[:, w - radius:] = \
            False, False, False, False
        self.targets = np.argwhere(touching)
        self.index = np.full((h, w), -1, np.int64)
        self.index[self.targets[:, 0], self.targets[:, 1]] = np.arange(len(self.targets))
        self.valid = _sources(known, radius)
        self.source_list = np.argwhere(self.valid)
        window = np.arange(-radius, radius + 1)
        dy, dx = np.meshgrid(window, window, indexing="ij")
        self.window = (dy.ravel(), dx.ravel())
        picks = rng.integers(0, len(self.source_list), len(self.targets))
        self.offsets = self.source_list[picks] - self.targets
        self.cost = self._distance(self.offsets)

    def seed_from(self, coarse_targets: np.ndarray, coarse_offsets: np.ndarray) -> None:
        """Start from a coarser level's field (coordinates already doubled)."""
        h, w = self.known.shape
        lookup = np.full((h + 2, w + 2, 2), 0, np.int64)
        has = np.zeros((h + 2, w + 2), bool)
        ty = np.clip(coarse_targets[:, 0], 0, h + 1)
        tx = np.clip(coarse_targets[:, 1], 0, w + 1)
        lookup[ty, tx], has[ty, tx] = coarse_offsets, True
        parent = (self.targets // 2) * 2
        candidate = lookup[parent[:, 0], parent[:, 1]]
        usable = has[parent[:, 0], parent[:, 1]]
        self._try(np.where(usable[:, None], candidate, self.offsets))

    def search(self) -> None:
        for step in (1, -1):
            for axis in (0, 1):
                self._propagate(step, axis)
        h, w = self.known.shape
        reach = max(h, w) / 2
        for _ in range(_RANDOM_ROUNDS):
            radius = max(1, int(reach))
            jitter = self.rng.integers(-radius, radius + 1, self.offsets.shape)
            self._try(self.offsets + jitter)
            reach /= 2
            if reach < 1:
                break

    def _propagate(self, step: int, axis: int) -> None:
        neighbour = self.targets.copy()
        neighbour[:, axis] -= step
        h, w = self.known.shape
        inside = (neighbour[:, 0] >= 0) & (neighbour[:, 0] < h) & (neighbour[:, 1] >= 0) & (neighbour[:, 1] < w)
        who = np.full(len(self.targets), -1)
        who[inside] = self.index[neighbour[inside, 0], neighbour[inside, 1]]
        has = who >= 0
        candidate = self.offsets.copy()
        candidate[has] = self.offsets[who[has]]
        self._try(candidate)

    def _try(self, candidate: np.ndarray) -> None:
        source = self.targets + candidate
        h, w = self.known.shape
        ok = (source[:, 0] >= 0) & (source[:, 0] < h) & (source[:, 1] >= 0) & (source[:, 1] < w)
        ok[ok] = self.valid[source[ok, 0], source[ok, 1]]
        if not ok.any():
            return
        cost = np.full(len(self.targets), np.inf, np.float32)
        cost[ok] = self._distance(candidate[ok], np.flatnonzero(ok))
        better = cost < self.cost
        self.offsets[better] = candidate[better]
        self.cost[better] = cost[better]

    def _distance(self, offsets: np.ndarray, which: np.ndarray | None = None) -> np.ndarray:
        targets = self.targets if which is None else self.targets[which]
        dy, dx = self.window
        ty = targets[:, 0:1] + dy
        tx = targets[:, 1:2] + dx
        sy, sx = ty + offsets[:, 0:1], tx + offsets[:, 1:2]
        difference = self.image[ty, tx] - self.image[sy, sx]
        return np.einsum("npc,npc->n", difference, difference).astype(np.float32)

    def vote(self) -> np.ndarray:
        """Each unknown pixel: the weighted mean of what the patches covering it copy there."""
        hole = np.argwhere(~self.known)
        sigma2 = float(np.percentile(self.cost, 75)) + 1e-6
        weights = np.exp(-self.cost / (2 * sigma2))
        total = np.zeros((len(hole), 3), np.float64)
        norm = np.zeros(len(hole), np.float64)
        h, w = self.known.shape
        dy, dx = self.window
        for oy, ox in zip(dy, dx, strict=True):
            qy, qx = hole[:, 0] - oy, hole[:, 1] - ox
            inside = (qy >= 0) & (qy < h) & (qx >= 0) & (qx < w)
            who = np.full(len(hole), -1)
            who[inside] = self.index[qy[inside], qx[inside]]
            has = who >= 0
            source = hole[has] + self.offsets[who[has]]
            total[has] += weights[who[has], None] * self.image[source[:, 0], source[:, 1]]
            norm[has] += weights[who[has]]
        image = self.image.copy()
        covered = norm > 0
        image[hole[covered, 0], hole[covered, 1]] = (total[covered] / norm[covered, None]).astype(np.float32)
        return image


def _restore_detail(image: np.ndarray, known: np.ndarray, filled: np.ndarray, targets: np.ndarray,
                    offsets: np.ndarray, scale: float) -> np.ndarray:
    """Upsample the working-scale fill and add the full-resolution detail its sources carry."""
    h, w = known.shape
    base = cv2.resize(filled, (w, h), interpolation=cv2.INTER_CUBIC)
    small = cv2.resize(image, (filled.shape[1], filled.shape[0]), interpolation=cv2.INTER_AREA)
    detail = image - cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    lookup = np.zeros(filled.shape[:2] + (2,), np.float64)
    has = np.zeros(filled.shape[:2], bool)
    lookup[targets[:, 0], targets[:, 1]], has[targets[:, 0], targets[:, 1]] = offsets / scale, True
    hole = np.argwhere(~known)
    work = np.minimum((hole * scale).astype(np.int64), np.array(filled.shape[:2]) - 1)
    usable = has[work[:, 0], work[:, 1]]
    source = np.rint(hole + lookup[work[:, 0], work[:, 1]]).astype(np.int64)
    source[:, 0] = np.clip(source[:, 0], 0, h - 1)
    source[:, 1] = np.clip(source[:, 1], 0, w - 1)
    usable &= known[source[:, 0], source[:, 1]]
    out = np.where(known[..., None], image, base).astype(np.float32)
    picked = hole[usable]
    out[picked[:, 0], picked[:, 1]] += detail[source[usable, 0], source[usable, 1]]
    return out
