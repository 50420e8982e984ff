"""Evidence: how each pixel differs from the aligned references, and the object's mask from it
(steps 2 and 3 of the package docstring)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from void_core.imaging import (box_mask, components_touching, convex_hull, disc, fill_holes,
                               label_near, mask_size, pixel, within)
from void_core.masking.classical.frames import CLICK_RADIUS, Anchor

_Patch = tuple[np.ndarray, np.ndarray]  # a reference's aligned picture, and where it is usable

# Evidence. Colour tolerances (Euclidean RGB distance, code values) within which a reference
# agrees with a pixel: changes above CHANGE_HIGH make an object, weaker ones down to
# CHANGE_LOW join when connected, RIM_CHANGE takes the anti-aliased rim.
CHANGE_HIGH, CHANGE_LOW, RIM_CHANGE = 24.0, 12.0, 6.0
TOLERANCES = (RIM_CHANGE, CHANGE_LOW, CHANGE_HIGH)
AGREEMENT = 0.3  # a pixel is background when this share of the references agrees with it
REFERENCE_COUNT = 12  # references per frame, spread over...
REFERENCE_WINDOW = 48  # ...this many frames either side
MIN_MOVING_REFERENCES = 2  # references that must differ at the click for a moving object

# Shadows: a darkening to between these ratios of the background, off its colour by at most
# TOLERANCE + SLOPE * brightness, with a smooth ratio (fine detail below SHADOW_TEXTURE).
SHADOW_RATIO = (0.2, 0.99)
SHADOW_TOLERANCE, SHADOW_TOLERANCE_SLOPE = 9.0, 0.05
SHADOW_TEXTURE = 0.03

# Shape, as fractions of the object's size (its bounding box's longer side).
CLOSE_FRACTION = 0.08  # bites narrower than twice this are closed
CORE_FRACTION = 0.1  # the prediction shrunk by this is surely the object
GATE_FRACTION = 0.25  # how far from the prediction the object may reach
ROI_FRACTION = 0.6  # margin of the window examined around the prediction
MIN_SEED_PIXELS = 9

# Colour: dropping changed regions that look like the surrounding background.
BACKGROUND_COLOUR = 0.6  # P(background | colour) above which a changed pixel may be dropped
COLOUR_RING_OUTER = 6  # px: the ring around a candidate whose colours are the background
COLOUR_MARGIN = 24  # px of context around a seed
DROP_RADIUS = 1  # dropped regions must be at least twice this thick
MIN_KEPT_SHARE = 0.2  # colour keeping less of a candidate than this is not trusted


@dataclass(frozen=True)
class Changes:
    """Per-pixel evidence over a region of one frame.

    A pixel has changed (at a colour tolerance) when fewer than AGREEMENT of the aligned
    references that saw it agree with it within that tolerance; a low share rather than a
    median means ground that looked different for a while (where something rested) still
    reads as background. `shadow`: among changed pixels, those whose difference from the
    references' median is a darkening that keeps the background's hue. `valid`: at least one
    reference saw the background there.
    """

    agreeing: dict[float, np.ndarray]
    needed: np.ndarray
    shadow: np.ndarray
    valid: np.ndarray

    @classmethod
    def measure(cls, frame: np.ndarray, patches: Sequence[_Patch]) -> Changes:
        """Compare `frame` (uint8 RGB) with its references: (picture, usable) pairs."""
        shape = frame.shape[:2]
        agreeing = {t: np.zeros(shape, np.uint16) for t in TOLERANCES}
        seen = np.zeros(shape, np.uint16)
        for patch, usable in patches:
            excess = _outside_local_range(frame, patch)
            seen += usable
            for tolerance, count in agreeing.items():
                count += usable & (excess <= tolerance * tolerance)
        needed = np.floor(AGREEMENT * (seen.astype(np.float32) - 1)).astype(np.uint16) + 1
        valid = seen > 0
        changes = cls(agreeing, needed, np.zeros(shape, bool), valid)
        candidates = changes.changed(min(TOLERANCES))
        if candidates.any():
            changes.shadow[:] = _cast_shadow(frame, patches, candidates)
        return changes

    def changed(self, tolerance: float) -> np.ndarray:
        return self.valid & (self.agreeing[tolerance] < self.needed)


def colour_distance(frame: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Euclidean RGB distance (code values)."""
    diff = frame.astype(np.float32) - background.astype(np.float32)
    return np.sqrt(np.einsum("...c,...c->...", diff, diff))


def shadow_like(frame: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Where the frame is the background darkened without a change of colour."""
    f = frame.astype(np.float32)
    b = background.astype(np.float32)
    energy = np.einsum("...c,...c->...", b, b) + 1.0
    ratio = np.einsum("...c,...c->...", f, b) / energy
    residual = f - ratio[..., None] * b
    off_line = np.sqrt(np.einsum("...c,...c->...", residual, residual))
    tolerance = SHADOW_TOLERANCE + SHADOW_TOLERANCE_SLOPE * np.sqrt(energy)
    return (ratio > SHADOW_RATIO[0]) & (ratio < SHADOW_RATIO[1]) & (off_line < tolerance)


def _cast_shadow(frame: np.ndarray, patches: Sequence[_Patch],
                 candidates: np.ndarray) -> np.ndarray:
    """Candidates that are the background darkened without a change of hue, smoothly: the
    darkening ratio has no fine texture, as under a cast shadow (soft edges are smooth
    ramps), unlike where an object's dark side happens to share the background's hue."""
    around = cv2.dilate(candidates.astype(np.uint8), disc(3)) > 0
    background = np.zeros(frame.shape, np.float32)
    background[around] = _median_colour(patches, around)
    f = frame.astype(np.float32)
    energy = np.einsum("...c,...c->...", background, background) + 1.0
    ratio = np.einsum("...c,...c->...", f, background) / energy
    ratio[~around] = 1.0
    detail = np.abs(ratio - cv2.GaussianBlur(ratio, (0, 0), 1.0))
    texture = cv2.blur(detail, (5, 5))
    return candidates & shadow_like(f, background) & (texture < SHADOW_TEXTURE)


def _outside_local_range(frame: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Squared distance (float32, code values) by which each colour lies outside the
    per-channel range of the background's 3x3 neighbourhood: this absorbs sub-pixel
    misregistration and resampling blur at sharp edges."""
    kernel = np.ones((3, 3), np.uint8)
    above = cv2.subtract(frame, cv2.dilate(background, kernel))  # saturates at 0
    below = cv2.subtract(cv2.erode(background, kernel), frame)
    excess = cv2.add(above, below)
    squared = cv2.multiply(excess, excess, dtype=cv2.CV_32F)
    return cv2.transform(squared, np.ones((1, 3), np.float32))


def _median_colour(patches: Sequence[_Patch], where: np.ndarray) -> np.ndarray:
    """Per-channel median over the references that saw each selected pixel, (n, 3)."""
    values = np.stack([patch[where] for patch, _ in patches]).astype(np.int16)
    usable = np.stack([mask[where] for _, mask in patches])
    values[~usable] = 1 << 10  # sorts after every real value
    values.sort(axis=0)
    middle = (np.maximum(usable.sum(axis=0), 1) - 1) // 2
    median = np.take_along_axis(values, middle[None, :, None], axis=0)[0]
    return np.where(median > 255, 0, median).astype(np.float32)



# ---- From evidence to the object's mask ---------------------------------------------------------

def _foreground(changes: Changes) -> np.ndarray:
    """Changed, not shadow: strong changes and the weaker ones connected to them."""
    solid = changes.valid & ~changes.shadow
    strong = changes.changed(CHANGE_HIGH) & solid
    strong = cv2.morphologyEx(strong.astype(np.uint8), cv2.MORPH_OPEN, disc(1)) > 0
    return _hysteresis(strong, changes.changed(CHANGE_LOW) & solid)


def _hysteresis(strong: np.ndarray, weak: np.ndarray) -> np.ndarray:
    if not strong.any():
        return strong
    count, labels = cv2.connectedComponents((weak | strong).astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[np.unique(labels[strong])] = True
    keep[0] = False
    return keep[labels]


def _complete(core: np.ndarray, changes: Changes) -> np.ndarray:
    """Grow the object's solid core into the changed pixels within its convex outline (the
    shadow test takes the dark side of an object for a shadow when it has the background's
    hue), fill holes, and take the anti-aliased rim."""
    if not core.any():
        return core
    outline = convex_hull(cv2.morphologyEx(core.astype(np.uint8), cv2.MORPH_OPEN, disc(1)) > 0)
    mask = core | (changes.changed(CHANGE_LOW) & outline)
    # Narrow bites where the object matches the background closely enough to pass as it.
    radius = int(CLOSE_FRACTION * mask_size(core))
    if radius:
        mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, disc(radius)) > 0
    mask = fill_holes(mask)
    rim = (cv2.dilate(mask.astype(np.uint8), disc(1)) > 0) & changes.changed(RIM_CHANGE)
    # A dark rim on a similar hue passes the shadow test too; only a shadow of some extent is
    # kept out of the rim.
    shadow = (changes.shadow & changes.changed(RIM_CHANGE)).astype(np.uint8)
    cast = cv2.dilate(cv2.morphologyEx(shadow, cv2.MORPH_OPEN, disc(2)), disc(1)) > 0
    return mask | (rim & ~cast)


def seed_mask(changes: Changes, anchor: Anchor) -> np.ndarray | None:
    """The foreground components at the positive clicks (or nearest to them) within the box,
    or the largest one in the box when there are no clicks."""
    fg = _foreground(changes)
    if anchor.box is not None:
        fg &= box_mask(fg.shape, anchor.box, margin=2)
    count, labels = cv2.connectedComponents(fg.astype(np.uint8), connectivity=8)
    if count <= 1:
        return None
    reach = max(6.0, 0.03 * fg.shape[1])
    chosen = {label_near(labels, x, y, reach) for x, y in anchor.positive} - {0}
    if not anchor.positive:
        sizes = np.bincount(labels.ravel(), minlength=count)
        sizes[0] = 0
        chosen = {int(np.argmax(sizes))}
    core = np.isin(labels, sorted(chosen))
    return _complete(core, changes) if core.sum() >= MIN_SEED_PIXELS else None


def split_at_negatives(rgb: np.ndarray, mask: np.ndarray,
                        anchor: Anchor) -> tuple[np.ndarray, np.ndarray]:
    """(object, avoided): the mask divided between the positive and the negative clicks along
    the picture's edges (watershed), and the pixels on the negative side, whose colours the
    tracking keeps out."""
    markers = np.zeros(mask.shape, np.int32)
    markers[~(cv2.dilate(mask.astype(np.uint8), disc(2)) > 0)] = 2
    for points, value in ((anchor.negative, 2), (anchor.seed_points(), 1)):
        for x, y in points:
            cv2.circle(markers, (pixel(x, mask.shape[1]), pixel(y, mask.shape[0])),
                       CLICK_RADIUS + 1, value, -1)
    cv2.watershed(np.ascontiguousarray(rgb[..., ::-1]), markers)
    negative_discs = (markers == 2) & ~mask
    return mask & (markers == 1), (mask & (markers != 1)) | negative_discs


def track_mask(changes: Changes, predicted: np.ndarray, size: float) -> np.ndarray:
    """Foreground components touching the prediction, kept within reach of it, plus the
    predicted body wherever it changed at all (a faint object is held together by its shape
    on the previous frame)."""
    fg = _foreground(changes)
    count, labels = cv2.connectedComponents(fg.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros(fg.shape, bool)
    near = cv2.dilate(predicted.astype(np.uint8), disc(2)) > 0
    hits = np.bincount(labels[near], minlength=count)
    hits[0] = 0
    gate = within(predicted, max(3, int(GATE_FRACTION * size)))
    core = (hits > 0)[labels] & gate
    if not core.any():
        return core
    body = cv2.erode(predicted.astype(np.uint8), disc(1)) > 0
    faint = body & changes.changed(RIM_CHANGE) & ~changes.shadow
    return _complete(core | faint, changes)



# ---- Colour: what looks like the background around the object -----------------------------------

def colour_split(rgb: np.ndarray, candidate: np.ndarray, core: np.ndarray,
                  avoid: ColourModel) -> np.ndarray:
    """Drop the parts of a candidate that look like the background right around it, although
    they changed (e.g. ground revealed where another object rested), and whatever they cut
    off from `core` (pixels surely on the object), such as another moving object.

    Colour histograms of the core and of a ring around the candidate decide; only thick
    regions are dropped, and not those inside the outline of what is kept (colour cannot
    tell an object's dark side from a dark background). Colours the user marked as not the
    object (`avoid`) count as background; colours seen in no histogram are kept. The
    candidate comes back unchanged when colour would keep less than MIN_KEPT_SHARE of it."""
    core = core & candidate
    if candidate.sum() < MIN_SEED_PIXELS or core.sum() < MIN_SEED_PIXELS:
        return candidate
    inside = candidate.astype(np.uint8)
    ring = (cv2.dilate(inside, disc(COLOUR_RING_OUTER)) > 0) & ~(cv2.dilate(inside, disc(1)) > 0)
    if ring.sum() < MIN_SEED_PIXELS:
        return candidate
    bins = _colour_bins(rgb)
    background = _background_probability(bins, _histogram(bins[core]),
                                         avoid.mixed_into(_histogram(bins[ring])))
    looks_background = cv2.GaussianBlur(background, (0, 0), 1.0) > BACKGROUND_COLOUR
    rejected = (looks_background & candidate).astype(np.uint8)
    drop = cv2.morphologyEx(rejected, cv2.MORPH_OPEN, disc(DROP_RADIUS)) > 0
    kept = components_touching(candidate & ~drop, core)
    if kept.sum() < MIN_KEPT_SHARE * candidate.sum():
        return candidate
    outline = convex_hull(cv2.morphologyEx(kept.astype(np.uint8), cv2.MORPH_OPEN, disc(2)) > 0)
    return fill_holes(kept | (candidate & outline))


class ColourModel:
    """Colours gathered from marked pixels (a histogram), empty until something is added."""

    def __init__(self):
        self.histogram: np.ndarray | None = None

    def add(self, rgb: np.ndarray, where: np.ndarray) -> None:
        if where.sum() < MIN_SEED_PIXELS:
            return
        new = _histogram(_colour_bins(rgb)[where])
        self.histogram = new if self.histogram is None else (self.histogram + new) / 2

    def mixed_into(self, histogram: np.ndarray) -> np.ndarray:
        if self.histogram is None:
            return histogram
        return (histogram + self.histogram) / 2


def _colour_bins(rgb: np.ndarray) -> np.ndarray:
    q = (rgb >> 4).astype(np.int32)  # 16 levels per channel
    return (q[..., 0] << 8) | (q[..., 1] << 4) | q[..., 2]


def _histogram(bins: np.ndarray) -> np.ndarray:
    """Smoothed, normalised 16x16x16 colour histogram of `_colour_bins` values."""
    counts = np.bincount(bins, minlength=4096).reshape(16, 16, 16).astype(np.float32)
    counts = ndimage.gaussian_filter(counts, 0.7, mode="constant")
    return counts / max(float(counts.sum()), 1.0)


def _background_probability(bins: np.ndarray, objects: np.ndarray,
                            background: np.ndarray) -> np.ndarray:
    """Per pixel P(background | colour) from the two histograms; 0.5 for colours neither has."""
    probability = ((background + 1e-7) / (objects + background + 2e-7)).ravel()
    return probability[bins].astype(np.float32)


def discs_inside(mask: np.ndarray, points) -> np.ndarray:
    """The largest discs centred on the points that fit inside the mask (shrunk a little),
    at least the points' neighbourhoods."""
    depth = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    discs = np.zeros(mask.shape, np.uint8)
    for x, y in points:
        px, py = pixel(x, mask.shape[1]), pixel(y, mask.shape[0])
        radius = max(CLICK_RADIUS + 1, int(0.8 * depth[py, px]))
        cv2.circle(discs, (px, py), radius, 1, -1)
    return discs > 0

