"""The `classical` segmenter: the primary object's mask on every frame, from clicks or a box.

Everything is measured at an analysis resolution of at most 960 px wide; those frames are
spilled to a temporary memory-mapped file, so memory does not grow with the shot's length.

1. Camera motion: `MotionTracker` gives every frame's homography into frame 0.
2. Evidence: a pixel belongs to something that moved against the background when fewer than a
   third of the reference frames around it (aligned by the camera motion, colours compared
   with a tolerance for sub-pixel misregistration) agree with it. A low quantile rather than
   a median means ground that was hidden for a while (where another object rested) still
   reads as background. A darkening that keeps the background's hue is a shadow, not the
   object.
3. At each prompted frame, if several references differ from it at the click, the clicked
   thing moves: the object is the changed region at the click, computed from those
   references only; a negative click in that region splits it along the picture's edges
   (watershed), and its side's colours are kept out from then on. Otherwise the object is
   static: GrabCut, seeded by the clicks or box.
4. A moving object is tracked frame by frame, forwards and backwards from the prompted
   frame(s): its picture on the previous frame, moved by the camera, is matched in the next
   frame (only the part inside the frame counts, so it may enter or leave); the matched mask
   predicts where it is. References in which the object is not at the predicted place, and
   those already tracked (their object pixels left out), give the evidence; changed regions
   touching the prediction form the new mask, minus thick parts whose colour belongs to the
   surrounding background rather than to the object's core (e.g. ground revealed where
   another object rested).
5. A static object's mask is carried to every frame by the camera motion and refined by
   GrabCut in a thin band around its edge.
6. Masks are upsampled to the plate size (edges snapped to the full-resolution picture by a
   guided filter) and written losslessly, one per plate frame.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

from void_core.errors import MaskError
from void_core.masking.prompt import (ClickPrompt, FrameStats, ProgressCallback, SegmentResult,
                                      validate_prompts)
from void_core.media.encode import write_mask_video
from void_core.media.plate import Plate
from void_core.motion import ANALYSIS_WIDTH, MotionTrack, MotionTracker

OBJECT, BACKGROUND = 0, 255
_Patch = tuple[np.ndarray, np.ndarray]  # a reference's aligned picture, and where it is usable
INGEST_SHARE, TRACK_SHARE, WRITE_SHARE = 0.4, 0.3, 0.3  # of each frame's share of progress

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

# Following the object from frame to frame.
MIN_SEARCH = 8  # px: the smallest window searched for the object's next position
SEARCH_FRACTION = 0.5  # of its size: how far it may move beyond the last step's motion
FIRST_SEARCH_FRACTION = 1.0  # the same on the first step, when its motion is unknown
MATCH_SIZE = 48  # px: objects are matched at a scale where they are about this big, then refined
MIN_VISIBLE = 0.25  # share of the object's picture that must stay in frame to be matched
EXIT_VISIBLE = 0.5  # less of it left in frame after the last step's motion: not matched
LOST_SHARE = 0.3  # found less than this share of the prediction: lost on this frame
CONTINUATION_SHARE = 0.1  # found share of the prediction needed to extend it where unseen

# Colour: dropping changed regions that look like the surrounding background.
BACKGROUND_COLOUR = 0.6  # P(background | colour) above which a changed pixel may be dropped
COLOUR_RING_OUTER = 6  # px: the ring around a candidate whose colours are the background
COLOUR_MARGIN = 24  # px of context around a seed
DROP_RADIUS = 1  # dropped regions must be at least twice this thick
MIN_KEPT_SHARE = 0.2  # colour keeping less of a candidate than this is not trusted

# Static objects: GrabCut.
GRABCUT_ITERATIONS = 4
GRABCUT_PIXELS = 40_000  # larger windows are segmented on a reduced copy
CLICK_RADIUS = 2  # px around a click taken as certain
CLICK_DISC_PIXELS = 13  # pixels in such a disc
FLOOD_TOLERANCE = 14  # code values: colour region grown from a click to size GrabCut's window
STATIC_GROW_STEPS = 7  # times GrabCut's window may grow

# Output.
GUIDE_EPSILON = 1e-3  # guided filter regularisation (grey levels in [0, 1], squared)
DEFAULT_RATE = Fraction(24)  # for image sequences, which carry no rate


class ClassicalSegmenter:
    """Click/box -> primary mask on every frame, with no model weights (see module docstring)."""

    name = "classical"
    version = "1"

    def __init__(self, *, references: int = REFERENCE_COUNT,
                 reference_window: int = REFERENCE_WINDOW):
        self.references = references
        self.reference_window = reference_window

    def settings(self) -> dict:
        return {"analysis_width": ANALYSIS_WIDTH, "references": self.references,
                "reference_window": self.reference_window}

    def segment(self, plate: Plate, prompts: Sequence[ClickPrompt], out_path: str | Path, *,
                on_progress: ProgressCallback | None = None) -> SegmentResult:
        """Write the primary mask video (0 object, 255 background, lossless, one mask per
        plate frame, at the plate's size) to `out_path`.

        Args:
            plate: the shot.
            prompts: clicks and/or boxes on one or more frames (see `ClickPrompt`).
            out_path: the mask video (.mp4), written atomically.
            on_progress: called with (frames done, frames in total) as work advances.

        Raises:
            InputError: no prompt, or one outside the plate's frames.
            MaskError: the plate has no frames.
            MediaError: the plate cannot be decoded or the mask cannot be written.
        """
        info = plate.info
        prompts = validate_prompts(prompts, info.width, info.height, info.frame_count,
                                   source=info.path)
        started = time.perf_counter()
        progress = _Progress(on_progress, info.frame_count)
        with tempfile.TemporaryDirectory(prefix="void-mask-") as folder:
            store, geometry = self._ingest(plate, Path(folder), progress)
            notes = self._segment_store(store, geometry, prompts, progress)
            result = _write_masks(plate, store, geometry, Path(out_path), progress)
        seconds = time.perf_counter() - started
        notes.append(f"{geometry.frame_count} frames in {seconds:.1f} s "
                     f"({seconds / max(1, geometry.frame_count):.3f} s/frame), analysed at "
                     f"{geometry.analysis_width}x{geometry.analysis_height}")
        result.notes.extend(notes)
        return result

    def _ingest(self, plate: Plate, folder: Path,
                progress: _Progress) -> tuple[_FrameStore, _Geometry]:
        """Step 1: decode once, keep analysis-size frames on disk, measure the camera."""
        info = plate.info
        tracker = MotionTracker(info.width, info.height)
        width, height = tracker.analysis_size()
        store = _FrameStore(folder, info.frame_count, height, width)
        everywhere = np.ones((height, width), bool)
        count = 0
        for raw in plate.frames():
            if count == info.frame_count:
                break
            small = _analysis_rgb(plate, raw, width, height)
            store.frames[count] = small
            tracker.add(small.astype(np.float32) / 255.0, everywhere)
            count += 1
            progress.step(INGEST_SHARE)
        if count == 0:
            raise MaskError(info.path, "the plate has no frames to mask")
        to_ref = _analysis_track(tracker.track(), tracker.scale)
        return store, _Geometry(info.width, info.height, width, height, tracker.scale, to_ref)

    def _segment_store(self, store: _FrameStore, geometry: _Geometry,
                       prompts: Sequence[ClickPrompt], progress: _Progress) -> list[str]:
        """Steps 2-5: every frame's mask at analysis resolution, into the store; notes."""
        anchors = [_Anchor.from_prompt(p, geometry.scale) for p in prompts]
        tracker = _ObjectTracker(store, geometry, self.references, self.reference_window,
                                 progress)
        notes, seeds = [], {}
        for anchor in anchors:
            seed, moving = tracker.seed(anchor)
            seeds[anchor.frame] = (seed, moving)
            how = ("moving object: motion-compensated background subtraction, tracked both ways"
                   if moving else "static object: colour segmentation (GrabCut) carried by the "
                   "camera motion")
            notes.append(f"frame {anchor.frame}: {how}")
            if seed.sum() <= CLICK_DISC_PIXELS * max(1, len(anchor.positive)):
                notes.append(f"frame {anchor.frame}: little more than the clicked pixels was "
                             "found; give a box around the object or more clicks")
        coasted = tracker.run(anchors, seeds)
        if coasted:
            notes.append(f"{coasted} frames kept the predicted mask: no reference frame showed "
                         "the background there")
        return notes


# ---- Shot data: geometry, analysis frames on disk, progress -------------------------------------

@dataclass(frozen=True)
class _Geometry:
    """Plate and analysis sizes, and the camera track expressed at analysis scale."""

    width: int
    height: int
    analysis_width: int
    analysis_height: int
    scale: float
    to_ref: tuple[np.ndarray, ...]

    @property
    def frame_count(self) -> int:
        return len(self.to_ref)

    def between(self, source: int, target: int) -> np.ndarray:
        """Homography from analysis pixels of frame `source` to those of frame `target`."""
        return np.linalg.inv(self.to_ref[target]) @ self.to_ref[source]


class _FrameStore:
    """Analysis-resolution frames (uint8 RGB) and masks (bool) in temporary files."""

    def __init__(self, folder: Path, count: int, height: int, width: int):
        self.frames = np.lib.format.open_memmap(folder / "frames.npy", "w+", np.uint8,
                                                (count, height, width, 3))
        self.masks = np.lib.format.open_memmap(folder / "masks.npy", "w+", np.bool_,
                                               (count, height, width))
        self.known = np.zeros(count, bool)

    def frame(self, index: int) -> np.ndarray:
        return np.asarray(self.frames[index])

    def mask(self, index: int) -> np.ndarray:
        return np.asarray(self.masks[index])


class _Progress:
    """Reports whole frames done; each stage adds its share per frame."""

    def __init__(self, callback: ProgressCallback | None, frames: int):
        self.callback, self.frames, self.done = callback, max(1, frames), 0.0

    def step(self, weight: float) -> None:
        self.done += weight
        if self.callback:
            self.callback(min(self.frames, int(self.done)), self.frames)


def _display_rgb(plate: Plate, raw: np.ndarray) -> np.ndarray:
    """Display-referred 8-bit RGB (8-bit video frames already are)."""
    if raw.dtype == np.uint8 and not plate.info.linear_source:
        return raw
    return (np.clip(plate.display(raw), 0, 1) * 255 + 0.5).astype(np.uint8)


def _analysis_rgb(plate: Plate, raw: np.ndarray, width: int, height: int) -> np.ndarray:
    rgb = _display_rgb(plate, raw)
    if rgb.shape[1] != width or rgb.shape[0] != height:
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    return rgb


def _guide_grey(plate: Plate, raw: np.ndarray) -> np.ndarray:
    """The full-resolution picture (or a crop of it) that guides the masks' upsampling, grey
    float [0, 1]."""
    grey = cv2.cvtColor(np.ascontiguousarray(_display_rgb(plate, raw)), cv2.COLOR_RGB2GRAY)
    return grey.astype(np.float32) / 255.0


def _analysis_track(track: MotionTrack, scale: float) -> tuple[np.ndarray, ...]:
    """Full-resolution homographies expressed in analysis pixels."""
    s = np.diag([scale, scale, 1.0])
    s_inv = np.diag([1 / scale, 1 / scale, 1.0])
    return tuple(s @ h @ s_inv for h in track.to_ref)


# ---- Prompts at analysis scale ------------------------------------------------------------------

@dataclass(frozen=True)
class _Anchor:
    """A prompt in analysis pixels (pixel centres scale about their centres)."""

    frame: int
    positive: tuple[tuple[float, float], ...]
    negative: tuple[tuple[float, float], ...]
    box: tuple[float, float, float, float] | None

    @classmethod
    def from_prompt(cls, prompt: ClickPrompt, scale: float) -> _Anchor:
        def shrink(point):
            return (point[0] + 0.5) * scale - 0.5, (point[1] + 0.5) * scale - 0.5
        box = None if prompt.box is None else tuple(v * scale for v in prompt.box)
        return cls(prompt.frame, tuple(map(shrink, prompt.positive_points)),
                   tuple(map(shrink, prompt.negative_points)), box)

    def seed_points(self) -> tuple[tuple[float, float], ...]:
        """The positive clicks, or the box's centre when there are none."""
        if self.positive:
            return self.positive
        x0, y0, x1, y1 = self.box
        return (((x0 + x1) / 2, (y0 + y1) / 2),)


# ---- Evidence: how each pixel differs from the aligned references -------------------------------

@dataclass(frozen=True)
class _Changes:
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
    def measure(cls, frame: np.ndarray, patches: Sequence[_Patch]) -> _Changes:
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


def _colour_distance(frame: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Euclidean RGB distance (code values)."""
    diff = frame.astype(np.float32) - background.astype(np.float32)
    return np.sqrt(np.einsum("...c,...c->...", diff, diff))


def _shadow_like(frame: np.ndarray, background: np.ndarray) -> np.ndarray:
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
    around = cv2.dilate(candidates.astype(np.uint8), _disc(3)) > 0
    background = np.zeros(frame.shape, np.float32)
    background[around] = _median_colour(patches, around)
    f = frame.astype(np.float32)
    energy = np.einsum("...c,...c->...", background, background) + 1.0
    ratio = np.einsum("...c,...c->...", f, background) / energy
    ratio[~around] = 1.0
    detail = np.abs(ratio - cv2.GaussianBlur(ratio, (0, 0), 1.0))
    texture = cv2.blur(detail, (5, 5))
    return candidates & _shadow_like(f, background) & (texture < SHADOW_TEXTURE)


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

def _foreground(changes: _Changes) -> np.ndarray:
    """Changed, not shadow: strong changes and the weaker ones connected to them."""
    solid = changes.valid & ~changes.shadow
    strong = changes.changed(CHANGE_HIGH) & solid
    strong = cv2.morphologyEx(strong.astype(np.uint8), cv2.MORPH_OPEN, _disc(1)) > 0
    return _hysteresis(strong, changes.changed(CHANGE_LOW) & solid)


def _hysteresis(strong: np.ndarray, weak: np.ndarray) -> np.ndarray:
    if not strong.any():
        return strong
    count, labels = cv2.connectedComponents((weak | strong).astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[np.unique(labels[strong])] = True
    keep[0] = False
    return keep[labels]


def _complete(core: np.ndarray, changes: _Changes) -> np.ndarray:
    """Grow the object's solid core into the changed pixels within its convex outline (the
    shadow test takes the dark side of an object for a shadow when it has the background's
    hue), fill holes, and take the anti-aliased rim."""
    if not core.any():
        return core
    outline = _convex_hull(cv2.morphologyEx(core.astype(np.uint8), cv2.MORPH_OPEN, _disc(1)) > 0)
    mask = core | (changes.changed(CHANGE_LOW) & outline)
    # Narrow bites where the object matches the background closely enough to pass as it.
    radius = int(CLOSE_FRACTION * _mask_size(core))
    if radius:
        mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, _disc(radius)) > 0
    mask = _fill_holes(mask)
    rim = (cv2.dilate(mask.astype(np.uint8), _disc(1)) > 0) & changes.changed(RIM_CHANGE)
    # A dark rim on a similar hue passes the shadow test too; only a shadow of some extent is
    # kept out of the rim.
    shadow = (changes.shadow & changes.changed(RIM_CHANGE)).astype(np.uint8)
    cast = cv2.dilate(cv2.morphologyEx(shadow, cv2.MORPH_OPEN, _disc(2)), _disc(1)) > 0
    return mask | (rim & ~cast)


def _seed_mask(changes: _Changes, anchor: _Anchor) -> np.ndarray | None:
    """The foreground components at the positive clicks (or nearest to them) within the box,
    or the largest one in the box when there are no clicks."""
    fg = _foreground(changes)
    if anchor.box is not None:
        fg &= _box_mask(fg.shape, anchor.box, margin=2)
    count, labels = cv2.connectedComponents(fg.astype(np.uint8), connectivity=8)
    if count <= 1:
        return None
    reach = max(6.0, 0.03 * fg.shape[1])
    chosen = {_label_near(labels, x, y, reach) for x, y in anchor.positive} - {0}
    if not anchor.positive:
        sizes = np.bincount(labels.ravel(), minlength=count)
        sizes[0] = 0
        chosen = {int(np.argmax(sizes))}
    core = np.isin(labels, sorted(chosen))
    return _complete(core, changes) if core.sum() >= MIN_SEED_PIXELS else None


def _split_at_negatives(rgb: np.ndarray, mask: np.ndarray,
                        anchor: _Anchor) -> tuple[np.ndarray, np.ndarray]:
    """(object, avoided): the mask divided between the positive and the negative clicks along
    the picture's edges (watershed), and the pixels on the negative side, whose colours the
    tracking keeps out."""
    markers = np.zeros(mask.shape, np.int32)
    markers[~(cv2.dilate(mask.astype(np.uint8), _disc(2)) > 0)] = 2
    for points, value in ((anchor.negative, 2), (anchor.seed_points(), 1)):
        for x, y in points:
            cv2.circle(markers, (_pixel(x, mask.shape[1]), _pixel(y, mask.shape[0])),
                       CLICK_RADIUS + 1, value, -1)
    cv2.watershed(np.ascontiguousarray(rgb[..., ::-1]), markers)
    negative_discs = (markers == 2) & ~mask
    return mask & (markers == 1), (mask & (markers != 1)) | negative_discs


def _track_mask(changes: _Changes, predicted: np.ndarray, size: float) -> np.ndarray:
    """Foreground components touching the prediction, kept within reach of it, plus the
    predicted body wherever it changed at all (a faint object is held together by its shape
    on the previous frame)."""
    fg = _foreground(changes)
    count, labels = cv2.connectedComponents(fg.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros(fg.shape, bool)
    near = cv2.dilate(predicted.astype(np.uint8), _disc(2)) > 0
    hits = np.bincount(labels[near], minlength=count)
    hits[0] = 0
    gate = _within(predicted, max(3, int(GATE_FRACTION * size)))
    core = (hits > 0)[labels] & gate
    if not core.any():
        return core
    body = cv2.erode(predicted.astype(np.uint8), _disc(1)) > 0
    faint = body & changes.changed(RIM_CHANGE) & ~changes.shadow
    return _complete(core | faint, changes)


# ---- Colour: what looks like the background around the object -----------------------------------

def _colour_split(rgb: np.ndarray, candidate: np.ndarray, core: np.ndarray,
                  avoid: _ColourModel) -> np.ndarray:
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
    ring = (cv2.dilate(inside, _disc(COLOUR_RING_OUTER)) > 0) & ~(cv2.dilate(inside, _disc(1)) > 0)
    if ring.sum() < MIN_SEED_PIXELS:
        return candidate
    bins = _colour_bins(rgb)
    background = _background_probability(bins, _histogram(bins[core]),
                                         avoid.mixed_into(_histogram(bins[ring])))
    looks_background = cv2.GaussianBlur(background, (0, 0), 1.0) > BACKGROUND_COLOUR
    rejected = (looks_background & candidate).astype(np.uint8)
    drop = cv2.morphologyEx(rejected, cv2.MORPH_OPEN, _disc(DROP_RADIUS)) > 0
    kept = _pieces_touching(candidate & ~drop, core)
    if kept.sum() < MIN_KEPT_SHARE * candidate.sum():
        return candidate
    outline = _convex_hull(cv2.morphologyEx(kept.astype(np.uint8), cv2.MORPH_OPEN, _disc(2)) > 0)
    return _fill_holes(kept | (candidate & outline))


class _ColourModel:
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


def _discs_inside(mask: np.ndarray, points) -> np.ndarray:
    """The largest discs centred on the points that fit inside the mask (shrunk a little),
    at least the points' neighbourhoods."""
    depth = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    discs = np.zeros(mask.shape, np.uint8)
    for x, y in points:
        px, py = _pixel(x, mask.shape[1]), _pixel(y, mask.shape[0])
        radius = max(CLICK_RADIUS + 1, int(0.8 * depth[py, px]))
        cv2.circle(discs, (px, py), radius, 1, -1)
    return discs > 0


# ---- Tracking -----------------------------------------------------------------------------------

class _ObjectTracker:
    """Seeds and tracks the object through the store (module docstring, steps 2-5)."""

    def __init__(self, store: _FrameStore, geometry: _Geometry, references: int, window: int,
                 progress: _Progress):
        self.store = store
        self.geometry = geometry
        self.references = references
        self.window = window
        self.progress = progress
        self.avoid = _ColourModel()  # colours the user marked as not the object

    # seeds

    def seed(self, anchor: _Anchor) -> tuple[np.ndarray, bool]:
        """The object on its prompted frame, and whether it moves against the background."""
        refs = self._reference_frames(anchor.frame)
        clear = [r for r in refs if self._differs_at(anchor.frame, r, anchor.seed_points())]
        if len(clear) >= MIN_MOVING_REFERENCES:
            mask = self._seed_from_changes(anchor, clear)
            if mask is not None:
                return mask, True
        return _grabcut_seed(self.store.frame(anchor.frame), anchor), False

    def _seed_from_changes(self, anchor: _Anchor, refs: Sequence[int]) -> np.ndarray | None:
        frame = self.store.frame(anchor.frame)
        roi = (0, 0, frame.shape[1], frame.shape[0])
        patches = [self._reference_patch(ref, anchor.frame, roi) for ref in refs]
        mask = _seed_mask(_Changes.measure(frame, patches), anchor)
        if mask is None:
            return mask
        window = _clip_roi(_expand(_bbox(mask), COLOUR_MARGIN), frame.shape)
        rgb, inside = _crop(frame, window), _crop(mask, window)
        if anchor.negative:
            local = _Anchor(anchor.frame, _shift_points(anchor.positive, window),
                            _shift_points(anchor.negative, window), None)
            inside, avoided = _split_at_negatives(rgb, inside, local)
            self.avoid.add(rgb, avoided)
        core = _discs_inside(inside, _shift_points(anchor.seed_points(), window))
        result = np.zeros(mask.shape, bool)
        _paste(result, _colour_split(rgb, inside, core, self.avoid), window)
        return result

    def _differs_at(self, index: int, ref: int, points) -> bool:
        """Does reference `ref` show something else than frame `index` at most clicks?"""
        frame = self.store.frame(index)
        votes = 0
        for x, y in points:
            x0, y0 = int(round(x)) - 2, int(round(y)) - 2
            roi = _clip_roi((x0, y0, x0 + 5, y0 + 5), frame.shape)
            patch, usable = self._warped(ref, index, roi)
            if usable.mean() < 0.5:
                continue
            sub = _crop(frame, roi)
            distance = np.where(_shadow_like(sub, patch), 0.0, _colour_distance(sub, patch))
            votes += np.median(distance[usable]) > CHANGE_HIGH
        return votes * 2 > len(points)

    # tracking

    def run(self, anchors: Sequence[_Anchor], seeds: dict) -> int:
        """Track from every anchor; frames between two anchors go to the nearer one. Returns
        how many frames kept their prediction for lack of evidence."""
        frames = self.geometry.frame_count
        order = sorted(anchors, key=lambda a: a.frame)
        coasted = 0
        for n, anchor in enumerate(order):
            seed, moving = seeds[anchor.frame]
            self._store_mask(anchor.frame, seed)
            first = 0 if n == 0 else (order[n - 1].frame + anchor.frame) // 2 + 1
            last = frames - 1 if n == len(order) - 1 else (anchor.frame + order[n + 1].frame) // 2
            forwards = range(anchor.frame + 1, last + 1)
            backwards = range(anchor.frame - 1, first - 1, -1)
            if moving:
                coasted += self._track(anchor.frame, seed, forwards)
                coasted += self._track(anchor.frame, seed, backwards)
            else:
                for index in (*forwards, *backwards):
                    self._store_mask(index, self._carry_static(anchor.frame, seed, index))
        return coasted

    def _store_mask(self, index: int, mask: np.ndarray) -> None:
        self.store.masks[index] = mask
        self.store.known[index] = True
        self.progress.step(TRACK_SHARE)

    def _track(self, start: int, seed: np.ndarray, indices: range) -> int:
        """Track from `seed` on frame `start` through `indices`. The last frame where the
        object was found whole is what the next frame is matched against, so one frame where
        it is lost (occluded, or too close to the background's colours) does not end it."""
        anchor, anchor_index = seed, start
        velocity = np.zeros(2)  # the object's own motion per frame, beyond the camera's
        coasted = 0
        for index in indices:
            steps = abs(index - anchor_index)
            camera = self.geometry.between(anchor_index, index)
            shift = self._object_shift(anchor, anchor_index, index, camera, velocity * steps,
                                       first=not velocity.any())
            predicted = _warp_mask(anchor, _translate(camera, shift[0], shift[1]))
            mask, evidence = self._detect(index, predicted)
            coasted += not evidence
            self._store_mask(index, mask)
            if mask.sum() >= LOST_SHARE * predicted.sum():
                anchor, anchor_index, velocity = mask, index, shift / steps
        return coasted

    def _object_shift(self, mask: np.ndarray, source: int, target: int, camera: np.ndarray,
                      guess: np.ndarray, first: bool) -> np.ndarray:
        """How far the object moved from frame `source` to `target` beyond the camera motion
        (pixels of `target`): its picture matched within a window around `guess` (a wider
        one on the `first` step, when its motion is not known yet). Only the part inside the
        frame is compared, so this works while the object enters the frame; once most of it
        would be out, `guess` is kept."""
        moved = _warp_mask(mask, camera)
        if moved.sum() < MIN_SEED_PIXELS or _visible_share(moved, guess) < EXIT_VISIBLE:
            return guess
        box = _bbox(moved)
        picture, usable = self._warped(source, target, box)
        template_mask = _crop(moved, box) & usable
        size = _mask_size(moved)
        reach = FIRST_SEARCH_FRACTION if first else SEARCH_FRACTION
        radius = int(max(MIN_SEARCH, reach * size, 1.5 * np.abs(guess).max()))
        start = np.round(guess).astype(int)
        window = _expand((box[0] + start[0], box[1] + start[1], box[2] + start[0],
                          box[3] + start[1]), radius)
        image, valid = _padded_crop(self.store.frame(target), window)
        scale = min(1.0, MATCH_SIZE / size)
        offset = _match(picture, template_mask, image, valid, scale)
        if offset is None:
            return guess
        if scale < 1.0:  # refine at full resolution around the coarse match
            fine = _expand((window[0] + offset[0], window[1] + offset[1],
                            window[0] + offset[0] + box[2] - box[0],
                            window[1] + offset[1] + box[3] - box[1]), int(np.ceil(2 / scale)))
            image, valid = _padded_crop(self.store.frame(target), fine)
            refined = _match(picture, template_mask, image, valid, 1.0)
            if refined is not None:
                window, offset = fine, refined
        return np.array([window[0] + offset[0] - box[0], window[1] + offset[1] - box[1]], float)

    def _detect(self, index: int, predicted: np.ndarray) -> tuple[np.ndarray, bool]:
        """The object on frame `index` near the prediction; False when the foreground gave no
        evidence and the prediction was kept."""
        frame = self.store.frame(index)
        empty = np.zeros(predicted.shape, bool)
        if not predicted.any():
            return empty, True
        size = _mask_size(predicted)
        roi = _clip_roi(_expand(_bbox(predicted), max(12, int(ROI_FRACTION * size))), frame.shape)
        pred = _crop(predicted, roi)
        patches = self._usable_patches(index, roi, pred)
        if not patches:
            return predicted, False
        changes = _Changes.measure(_crop(frame, roi), patches)
        found = _track_mask(changes, pred, size)
        # Where no reference saw the background there is no evidence: the prediction fills
        # in, but only as a continuation of what was found.
        unseen = pred & ~changes.valid
        if unseen.any() and found.sum() >= CONTINUATION_SHARE * (pred & changes.valid).sum():
            found |= _pieces_touching(unseen, cv2.dilate(found.astype(np.uint8), _disc(1)) > 0)
        body = cv2.erode(pred.astype(np.uint8), _disc(max(2, int(CORE_FRACTION * size)))) > 0
        found = _colour_split(_crop(frame, roi), found, body if body.any() else pred, self.avoid)
        _paste(empty, found, roi)
        return empty, True

    def _usable_patches(self, index: int, roi, pred: np.ndarray) -> list:
        """Aligned reference patches: those whose object is known (its pixels left out), and
        others in which the predicted object's core looks different (it is not there)."""
        core = cv2.erode(pred.astype(np.uint8), _disc(2)) > 0
        if core.sum() < 4:
            core = pred
        frame = _crop(self.store.frame(index), roi)
        patches = []
        for ref in self._reference_frames(index):
            patch, usable = self._reference_patch(ref, index, roi)
            if not self.store.known[ref]:
                mine, theirs = frame[core], patch[core]
                changed = _colour_distance(mine, theirs) > CHANGE_HIGH
                changed &= ~_shadow_like(mine, theirs) & usable[core]
                if changed.mean() <= 0.5:
                    continue
            patches.append((patch, usable))
        return patches

    def _reference_patch(self, ref: int, index: int, roi) -> tuple[np.ndarray, np.ndarray]:
        """Frame `ref` aligned to frame `index` over `roi`, and where it shows background."""
        patch, usable = self._warped(ref, index, roi)
        if self.store.known[ref]:
            usable &= ~self._warped_mask(ref, index, roi)
        return patch, usable

    def _warped(self, ref: int, index: int, roi) -> tuple[np.ndarray, np.ndarray]:
        """Frame `ref` in frame `index`'s coordinates, cropped to `roi`, and where defined."""
        homography = _translate(self.geometry.between(ref, index), -roi[0], -roi[1])
        source = self.store.frame(ref)
        size = (roi[2] - roi[0], roi[3] - roi[1])
        if _is_shift(homography):
            return _shifted(source, homography, size)
        patch = cv2.warpPerspective(source, homography, size, flags=cv2.INTER_LINEAR)
        inside = np.full(source.shape[:2], 255, np.uint8)
        usable = cv2.warpPerspective(inside, homography, size, flags=cv2.INTER_LINEAR) == 255
        return patch, usable

    def _warped_mask(self, ref: int, index: int, roi) -> np.ndarray:
        """Frame `ref`'s object (grown by 2 px) in frame `index`'s coordinates over `roi`."""
        homography = _translate(self.geometry.between(ref, index), -roi[0], -roi[1])
        mask = self.store.mask(ref).view(np.uint8)
        size = (roi[2] - roi[0], roi[3] - roi[1])
        if _is_shift(homography):
            warped = _shifted(mask, homography, size)[0]
        else:
            warped = cv2.warpPerspective(mask, homography, size, flags=cv2.INTER_NEAREST)
        return cv2.dilate(warped, _disc(2)) > 0

    def _reference_frames(self, index: int) -> list[int]:
        """Up to `references` frames spread evenly over the window around `index`."""
        frames = self.geometry.frame_count
        lo, hi = max(0, index - self.window), min(frames - 1, index + self.window)
        candidates = [r for r in range(lo, hi + 1) if r != index]
        if len(candidates) <= self.references:
            return candidates
        picks = np.linspace(0, len(candidates) - 1, self.references).round().astype(int)
        return [candidates[p] for p in sorted(set(picks))]

    # static objects

    def _carry_static(self, anchor: int, seed: np.ndarray, index: int) -> np.ndarray:
        """The static object's mask moved by the camera to frame `index`, refined there."""
        homography = self.geometry.between(anchor, index)
        if np.allclose(homography, np.eye(3)):
            return seed
        return _refine_by_colour(self.store.frame(index), _warp_mask(seed, homography))


# ---- Matching the object's picture between frames -----------------------------------------------

def _match(template: np.ndarray, template_mask: np.ndarray, image: np.ndarray,
           valid: np.ndarray, scale: float) -> tuple[int, int] | None:
    """Top-left offset in `image` where the masked template fits best (mean squared colour
    difference over the template pixels that land on valid image pixels; at least
    MIN_VISIBLE of them must). Computed at `scale`, returned in full-scale pixels."""
    if scale < 1.0:
        template, image = _rescale(template, scale), _rescale(image, scale)
        template_mask = _rescale(template_mask.astype(np.float32), scale) > 0.5
        valid = _rescale(valid.astype(np.float32), scale) > 0.99
    th, tw = template.shape[:2]
    if image.shape[0] < th or image.shape[1] < tw or template_mask.sum() < 4:
        return None
    weight = np.repeat(template_mask.astype(np.float32)[..., None], 3, axis=2)
    t = template.astype(np.float32)
    v = np.repeat(valid.astype(np.float32)[..., None], 3, axis=2)
    i = image.astype(np.float32) * v

    def correlate(img, templ):
        return cv2.matchTemplate(img, templ, cv2.TM_CCORR)

    seen = correlate(v, weight)
    error = correlate(v, weight * t * t) - 2 * correlate(i, weight * t) + correlate(i * i, weight)
    enough = seen >= MIN_VISIBLE * weight.sum()
    if not enough.any():
        return None
    score = np.where(enough, error / np.maximum(seen, 1.0), np.inf)
    y, x = np.unravel_index(np.argmin(score), score.shape)
    return int(round(x / scale)), int(round(y / scale))


def _padded_crop(image: np.ndarray, window) -> tuple[np.ndarray, np.ndarray]:
    """`image` over `window`, which may reach outside it (zeros there), and where it is real."""
    x0, y0, x1, y1 = window
    out = np.zeros((y1 - y0, x1 - x0) + image.shape[2:], image.dtype)
    valid = np.zeros((y1 - y0, x1 - x0), bool)
    inner = _clip_roi(window, image.shape)
    if inner is not None:
        ix0, iy0, ix1, iy1 = inner
        out[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = image[iy0:iy1, ix0:ix1]
        valid[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = True
    return out, valid


def _visible_share(mask: np.ndarray, shift: np.ndarray) -> float:
    """Share of the mask's pixels still inside the frame after moving by `shift`."""
    ys, xs = np.nonzero(mask)
    xs, ys = xs + shift[0], ys + shift[1]
    inside = (xs >= 0) & (xs < mask.shape[1]) & (ys >= 0) & (ys < mask.shape[0])
    return float(inside.mean()) if xs.size else 0.0


def _rescale(image: np.ndarray, scale: float) -> np.ndarray:
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


# ---- Static objects: GrabCut --------------------------------------------------------------------

def _grabcut_seed(frame: np.ndarray, anchor: _Anchor) -> np.ndarray:
    """GrabCut inside the box, or around the clicks in a window that grows (from the extent of
    the colour region at the clicks) until the answer is more than the clicks, stays clear of
    the window's edge and no longer changes."""
    if anchor.box is not None:
        rect = _clip_roi(tuple(int(round(v)) for v in anchor.box), frame.shape)
        return _grabcut_rect(frame, anchor, rect)
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = _flood_extent(frame, anchor.positive)
    half = max(8, int(0.3 * max(x1 - x0, y1 - y0)))
    previous = np.zeros((h, w), bool)
    mask = previous
    for _ in range(STATIC_GROW_STEPS):
        rect = _clip_roi((x0 - half, y0 - half, x1 + half, y1 + half), frame.shape)
        mask = _grabcut_rect(frame, anchor, rect)
        settled = (mask.sum() > 4 * CLICK_DISC_PIXELS * len(anchor.positive)
                   and not _touches_rect(mask, rect) and _overlap(mask, previous) > 0.85)
        if settled or rect == (0, 0, w, h):
            break
        previous, half = mask, int(half * 1.6) + 1
    return mask


def _flood_extent(frame: np.ndarray, points) -> tuple[int, int, int, int]:
    """Bounding box of the similar-coloured regions flooded from the clicks (the clicks
    themselves when a flood runs over most of the frame)."""
    smooth = cv2.GaussianBlur(frame, (5, 5), 1.0)
    h, w = frame.shape[:2]
    box = [w, h, 0, 0]
    for x, y in points:
        px, py = _pixel(x, w), _pixel(y, h)
        flood = np.zeros((h + 2, w + 2), np.uint8)
        flags = 8 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (255 << 8)
        cv2.floodFill(smooth, flood, (px, py), 0, (FLOOD_TOLERANCE,) * 3,
                      (FLOOD_TOLERANCE,) * 3, flags)
        region = flood[1:-1, 1:-1] > 0
        fx0, fy0, fx1, fy1 = _bbox(region) if region.mean() < 0.5 else (px, py, px + 1, py + 1)
        box = [min(box[0], fx0), min(box[1], fy0), max(box[2], fx1), max(box[3], fy1)]
    return tuple(box)


def _grabcut_rect(frame: np.ndarray, anchor: _Anchor, rect) -> np.ndarray:
    """GrabCut with everything outside `rect` as background and the clicks as hard labels,
    run on a window around `rect` so the colour models stay local."""
    x0, y0, x1, y1 = rect
    pad = max(8, (x1 - x0 + y1 - y0) // 4)
    window = _clip_roi((x0 - pad, y0 - pad, x1 + pad, y1 + pad), frame.shape)
    wx0, wy0, wx1, wy1 = window
    labels = np.full((wy1 - wy0, wx1 - wx0), cv2.GC_BGD, np.uint8)
    labels[y0 - wy0:y1 - wy0, x0 - wx0:x1 - wx0] = cv2.GC_PR_FGD
    for points, value in ((anchor.positive, cv2.GC_FGD), (anchor.negative, cv2.GC_BGD)):
        for x, y in points:
            cv2.circle(labels, (int(round(x)) - wx0, int(round(y)) - wy0), CLICK_RADIUS,
                       int(value), -1)
    found = _grabcut_small(_crop(frame, window), labels, GRABCUT_ITERATIONS)
    found = _components_at(found, [(x - wx0, y - wy0) for x, y in anchor.seed_points()])
    mask = np.zeros(frame.shape[:2], bool)
    _paste(mask, _fill_holes(found), window)
    return mask


def _refine_by_colour(frame: np.ndarray, carried: np.ndarray) -> np.ndarray:
    """GrabCut in a thin band around a mask carried from another frame; the carried mask is
    kept when the refinement changes its area by more than a quarter."""
    if not carried.any():
        return carried
    roi = _clip_roi(_expand(_bbox(carried), 12), frame.shape)
    inside = _crop(carried, roi).astype(np.uint8)
    near = cv2.dilate(inside, _disc(3)) > 0
    core = cv2.erode(inside, _disc(3)) > 0
    if not core.any() or near.all():
        return carried
    labels = np.full(inside.shape, cv2.GC_BGD, np.uint8)
    labels[near] = cv2.GC_PR_BGD
    labels[inside > 0] = cv2.GC_PR_FGD
    labels[core] = cv2.GC_FGD
    refined = _grabcut_small(_crop(frame, roi), labels, 2)
    if abs(int(refined.sum()) - int(inside.sum())) > 0.25 * inside.sum():
        return carried
    mask = np.zeros(carried.shape, bool)
    _paste(mask, refined, roi)
    return mask


def _grabcut_small(rgb: np.ndarray, labels: np.ndarray, iterations: int) -> np.ndarray:
    """`_grabcut` on a copy of at most GRABCUT_PIXELS pixels, the answer scaled back."""
    height, width = labels.shape
    scale = min(1.0, float(np.sqrt(GRABCUT_PIXELS / (height * width))))
    if scale >= 1.0:
        return _grabcut(rgb, labels, iterations)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = _grabcut(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA),
                     cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST), iterations)
    return cv2.resize(small.astype(np.uint8), (width, height),
                      interpolation=cv2.INTER_NEAREST) > 0


def _grabcut(rgb: np.ndarray, labels: np.ndarray, iterations: int) -> np.ndarray:
    """GrabCut from `labels` (GC_* values, updated in place); True where it found the object."""
    has_background = (labels == cv2.GC_BGD).any() or (labels == cv2.GC_PR_BGD).any()
    has_object = (labels == cv2.GC_FGD).any() or (labels == cv2.GC_PR_FGD).any()
    if has_background and has_object:
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        models = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.grabCut(bgr, labels, None, *models, iterations, cv2.GC_INIT_WITH_MASK)
    return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)


def _components_at(mask: np.ndarray, points) -> np.ndarray:
    """The components of `mask` at (or near) the points; all of it when none is near."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    keep = {_label_near(labels, x, y, 6.0) for x, y in points} - {0}
    return np.isin(labels, sorted(keep)) if keep else mask


# ---- Output: plate-resolution masks -------------------------------------------------------------

def _write_masks(plate: Plate, store: _FrameStore, geometry: _Geometry, out_path: Path,
                 progress: _Progress) -> SegmentResult:
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
            stats.append(_frame_stats(index, full))
            progress.step(WRITE_SHARE)
            yield np.where(full, OBJECT, BACKGROUND).astype(np.uint8)

    write_mask_video(out_path, masks(), plate.info.rate or DEFAULT_RATE)
    return SegmentResult(out_path, geometry.width, geometry.height, stats, [])


def _upsample(mask: np.ndarray, plate: Plate, raw: np.ndarray, geometry: _Geometry) -> np.ndarray:
    """Analysis-scale mask -> plate size, its edge snapped to the full-resolution picture (the
    plate frame `raw`, turned grey only around the mask) by a guided filter on the border."""
    size = (geometry.width, geometry.height)
    if not mask.any():
        return np.zeros((geometry.height, geometry.width), bool)
    soft = cv2.resize(mask.view(np.uint8) * np.uint8(255), size, interpolation=cv2.INTER_LINEAR)
    roi = _clip_roi(_expand(_bbox(soft > 0), int(4 / geometry.scale) + 4), soft.shape)
    radius = max(2, int(round(1.5 / geometry.scale)))
    near = _crop(soft, roi).astype(np.float32) / 255.0
    full = np.zeros(soft.shape, bool)
    guide = _guide_grey(plate, _crop(raw, roi))
    _paste(full, _guided_filter(guide, near, radius, GUIDE_EPSILON) > 0.5, roi)
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


def _frame_stats(index: int, mask: np.ndarray) -> FrameStats:
    area = int(mask.sum())
    if not area:
        return FrameStats(index, 0, None)
    return FrameStats(index, area, _bbox(mask))


# ---- Mask and geometry helpers ------------------------------------------------------------------

def _within(mask: np.ndarray, radius: float) -> np.ndarray:
    """Pixels at most `radius` from the mask (a dilation whose cost does not grow with it)."""
    outside = (~mask).astype(np.uint8)
    return cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= radius


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    if not mask.any():
        return mask
    padded = np.pad(mask.astype(np.uint8), 1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    holes = flood == 0
    return (padded.astype(bool) | holes)[1:-1, 1:-1]


def _convex_hull(mask: np.ndarray) -> np.ndarray:
    hull = np.zeros(mask.shape, np.uint8)
    points = cv2.findNonZero(mask.astype(np.uint8))
    if points is not None:
        cv2.fillConvexPoly(hull, cv2.convexHull(points), 1)
    return hull > 0


def _pieces_touching(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    count, pieces = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    touching = np.unique(pieces[seeds & mask])
    return np.isin(pieces, touching[touching > 0])


def _label_near(labels: np.ndarray, x: float, y: float, reach: float) -> int:
    h, w = labels.shape
    px, py = int(round(x)), int(round(y))
    if 0 <= px < w and 0 <= py < h and labels[py, px]:
        return int(labels[py, px])
    r = int(np.ceil(reach))
    y0, y1, x0, x1 = max(0, py - r), min(h, py + r + 1), max(0, px - r), min(w, px + r + 1)
    if y1 <= y0 or x1 <= x0:
        return 0
    window = labels[y0:y1, x0:x1]
    ys, xs = np.nonzero(window)
    if ys.size == 0:
        return 0
    d = (ys + y0 - py) ** 2 + (xs + x0 - px) ** 2
    best = np.argmin(d)
    return int(window[ys[best], xs[best]]) if d[best] <= reach * reach else 0


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def _shift_points(points, window) -> tuple[tuple[float, float], ...]:
    return tuple((x - window[0], y - window[1]) for x, y in points)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def _mask_size(mask: np.ndarray) -> float:
    x0, y0, x1, y1 = _bbox(mask)
    return float(max(x1 - x0, y1 - y0))


def _expand(box, margin: int):
    x0, y0, x1, y1 = box
    return x0 - margin, y0 - margin, x1 + margin, y1 + margin


def _clip_roi(box, shape) -> tuple[int, int, int, int] | None:
    h, w = shape[:2]
    x0, y0, x1, y1 = box
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return None
    return int(x0), int(y0), int(x1), int(y1)


def _crop(image: np.ndarray, roi) -> np.ndarray:
    x0, y0, x1, y1 = roi
    return image[y0:y1, x0:x1]


def _paste(target: np.ndarray, patch: np.ndarray, roi) -> None:
    x0, y0, x1, y1 = roi
    target[y0:y1, x0:x1] = patch


def _box_mask(shape, box, margin: int) -> np.ndarray:
    mask = np.zeros(shape[:2], bool)
    roi = _clip_roi(_expand(tuple(int(round(v)) for v in box), margin), shape)
    if roi is not None:
        _paste(mask, True, roi)
    return mask


def _pixel(value: float, limit: int) -> int:
    return int(min(max(round(value), 0), limit - 1))


def _touches_rect(mask: np.ndarray, rect) -> bool:
    x0, y0, x1, y1 = rect
    h, w = mask.shape
    edges = []
    if x0 > 0:
        edges.append(mask[y0:y1, x0])
    if x1 < w:
        edges.append(mask[y0:y1, x1 - 1])
    if y0 > 0:
        edges.append(mask[y0, x0:x1])
    if y1 < h:
        edges.append(mask[y1 - 1, x0:x1])
    return any(edge.any() for edge in edges)


def _translate(homography: np.ndarray, dx: float, dy: float) -> np.ndarray:
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], np.float64) @ homography


def _is_shift(homography: np.ndarray) -> bool:
    """An integer translation: the warp is an exact crop."""
    h = homography / homography[2, 2]
    return (np.allclose(h[:2, :2], np.eye(2)) and np.allclose(h[2, :2], 0)
            and np.allclose(h[:2, 2], np.round(h[:2, 2])))


def _shifted(source: np.ndarray, homography: np.ndarray, size) -> tuple[np.ndarray, np.ndarray]:
    """`source` moved by an integer translation into a `size` frame, and where it is defined."""
    dx, dy = (int(round(v)) for v in homography[:2, 2] / homography[2, 2])
    width, height = size
    return _padded_crop(source, (-dx, -dy, width - dx, height - dy))


def _warp_mask(mask: np.ndarray, homography: np.ndarray) -> np.ndarray:
    if np.allclose(homography, np.eye(3)):
        return mask.copy()
    h, w = mask.shape
    warped = cv2.warpPerspective(mask.astype(np.float32), homography, (w, h),
                                 flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return warped > 0.5
