"""The `heuristic` analysis engine: what the object caused, found without a VLM, on CPU.

Given the plate and the primary object's mask on every frame, it finds the two effects VOID's
VLM is asked about most and reports them in VOID's analysis shape (`schema.Analysis`), with the
per-frame pixel regions attached to each affected object:

- **cast shadow** (`visual_artifact`, "shadow"): pixels that are a darker, colour-preserving
  version of the background (luma ratio below `shadow_ratio`, chromaticity within
  `chroma_tolerance`) in a connected patch that comes close to the object;
- **pushed object** (`physical`, `will_move`): changes outside the object that start next to it
  (contact) on consecutive frames, followed from frame to frame as they move away; the contact
  frame is `first_appears_frame`, the vacated rest position and the later positions are both
  part of the region.

Both compare each frame with a background model, so the analysis runs in three streaming passes
over the shot at analysis size (at most `analysis_width` pixels wide):

1. **Survey.** Camera motion into frame-0 coordinates (`MotionTracker`, measured off the
   object), the object's size and speed; the analysis-size frames are spooled to a temporary
   file, so the plate is decoded once.
2. **Background.** Every background pixel's *first* `reference_frames` sightings taken while
   the object was far from it (beyond anything it could shade: `shadow_reach` object radii)
   are stacked in frame-0 coordinates; their median is the pre-interaction background: no
   object, no shadow, and a pushed object still at rest. Pixels the object never left fall back
   to their sighting farthest from it.
3. **Detect.** Each frame is compared with the background warped into it: exposure drift
   matched, the threshold from the measured noise, and on a moving camera a pixel must differ
   from its whole 3x3 background neighbourhood (sub-pixel misregistration). A band round the
   mask is left out; it widens by itself when the mask misses the object's edge (a ring of
   change all round the object). Contacts are confirmed on the next two frames, so this pass
   holds three frames.

Memory is bounded by the analysis size: one frame at a time, the background stack, a
three-frame window, and the regions found (bounding box + packed bits per frame). Disk: the
spooled frames (analysis width x height x 3.1 bytes per frame, deleted at the end).
"""

from __future__ import annotations

import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from void_core import quadmask
from void_core.analysis.masks import RegionTrack, cell_of, grid_cells
from void_core.analysis.schema import (AffectedObject, Analysis, GridCell, GridLocalization,
                                       GridSize, TrajectoryPoint)
from void_core.media.masks import frames_with_mask
from void_core.motion import MotionTrack, MotionTracker

ProgressCallback = Callable[[int, int], None]  # (steps done, steps in total)

PASSES = 3
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
# VOID samples its reference frames at these shares of the shot.
_REFERENCE_SHARES = (0.0, 0.11, 0.22, 0.33, 0.44, 0.56, 0.67, 0.78, 0.89, 1.0)
_STACK_BUDGET = 256 * 2**20  # bytes for the background stack; fewer sightings beyond it
_MEDIAN_ROWS = 64
_CANVAS_LIMIT = 3  # frames' widths/heights the canvas may reach beyond frame 0 on each side


# --- object-relative distances ----------------------------------------------------------------

@dataclass(frozen=True)
class _Reach:
    """Distances (analysis pixels) scaled by the object's size and speed."""

    radius: float  # the object's equivalent radius
    step: float  # its typical per-frame displacement

    @property
    def guard(self) -> int:  # band round the object ignored: mask edges, anti-aliasing
        return 1 + round(0.05 * self.radius)

    @property
    def near(self) -> int:  # a shadow patch must come this close to the object
        return 2 + round(0.35 * self.radius)

    def shadow_extent(self, radii: float) -> int:  # how far a shadow may reach from the object
        return 4 + round(radii * self.radius)

    @property
    def max_guard(self) -> int:  # widest guard band a poor mask edge may need
        return 4 + round(0.3 * self.radius)

    @property
    def contact(self) -> int:  # a change this close beyond the guard counts as touching
        return 3 + round(0.35 * self.radius)

    @property
    def track(self) -> int:  # how far a pushed object may move between frames
        return 3 + round(1.5 * self.step + 0.3 * self.radius)

    @property
    def min_area(self) -> int:  # smallest patch worth reporting
        return max(6, round(0.02 * np.pi * self.radius**2))

    @property
    def grow(self) -> int:  # soft edges (penumbra) below the detection threshold
        return 1 + round(0.12 * self.radius)


def _disc(radius: int) -> np.ndarray:
    size = 2 * max(radius, 0) + 1
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def _distance_from(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance (px) of every pixel to the nearest True pixel (inf when none)."""
    if not mask.any():
        return np.full(mask.shape, np.inf, np.float32)
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def _grow(mask: np.ndarray, radius: int) -> np.ndarray:
    """`mask` grown by a disc of `radius` px (a distance transform beyond small radii: its cost
    does not depend on the radius)."""
    if radius <= 0 or not mask.any():
        return mask.copy()
    if radius <= 3:
        return cv2.dilate(mask.astype(np.uint8), _disc(radius)).astype(bool)
    return _distance_from(mask) <= radius


def _components_touching(candidates: np.ndarray, zone: np.ndarray, min_area: int) -> np.ndarray:
    """The connected components of `candidates` (at least `min_area` px) that overlap `zone`."""
    if not (candidates & zone).any():
        return np.zeros_like(candidates)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidates.astype(np.uint8), 8)
    hit = np.zeros(count, bool)
    hit[np.unique(labels[candidates & zone])] = True
    hit[0] = False
    hit &= stats[:, cv2.CC_STAT_AREA] >= min_area
    return hit[labels]


def _drop_small(mask: np.ndarray, min_area: int) -> np.ndarray:
    if not mask.any():
        return mask
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    return keep[labels]


# --- reading the shot ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Frame:
    index: int
    rgb: np.ndarray  # (h, w, 3) float32 display-referred [0, 1], analysis size
    primary: np.ndarray  # (h, w) bool


def _analysis_size(width: int, height: int, analysis_width: int) -> tuple[int, int]:
    scale = min(1.0, analysis_width / width)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _stream(plate, mask_path: Path, size: tuple[int, int]) -> Iterator[_Frame]:
    """The plate and its primary mask, frame by frame, at analysis size."""
    for index, raw, mask in frames_with_mask(plate, mask_path):
        yield _Frame(index, _small_display(plate, raw, size), _small_primary(mask, size))


class _FrameCache:
    """The analysis-size frames of pass 1, spooled to an anonymous temporary file so the later
    passes re-read them instead of decoding the plate again (memory stays one frame)."""

    def __init__(self, size: tuple[int, int]):
        width, height = size
        self._rgb_bytes = width * height * 3
        self._shape = (height, width)
        self._file = tempfile.TemporaryFile(prefix="void-heuristic-")
        self.count = 0

    def __enter__(self) -> _FrameCache:
        return self

    def __exit__(self, *exc) -> None:
        self._file.close()

    def keep(self, frames: Iterator[_Frame]) -> Iterator[_Frame]:
        """Pass `frames` through, storing each (as 8-bit RGB and packed mask bits)."""
        for frame in frames:
            self._file.write(np.rint(frame.rgb * 255).astype(np.uint8).tobytes())
            self._file.write(np.packbits(frame.primary).tobytes())
            self.count += 1
            yield frame

    def frames(self) -> Iterator[_Frame]:
        height, width = self._shape
        mask_bytes = (width * height + 7) // 8
        self._file.seek(0)
        for index in range(self.count):
            rgb = np.frombuffer(self._file.read(self._rgb_bytes), np.uint8)
            bits = np.frombuffer(self._file.read(mask_bytes), np.uint8)
            primary = np.unpackbits(bits, count=width * height).reshape(height, width)
            yield _Frame(index, rgb.reshape(height, width, 3).astype(np.float32) / 255,
                         primary.astype(bool))


def _small_display(plate, raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if raw.dtype == np.float16:
        raw = raw.astype(np.float32)
    if (raw.shape[1], raw.shape[0]) != size:
        raw = cv2.resize(raw, size, interpolation=cv2.INTER_AREA)
    return np.clip(plate.display(raw), 0.0, 1.0).astype(np.float32)


def _small_primary(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    primary = quadmask.primary(mask).astype(np.uint8) * 255
    if (primary.shape[1], primary.shape[0]) != size:
        primary = cv2.resize(primary, size, interpolation=cv2.INTER_AREA)
    return primary >= 128


# --- pass 1: survey --------------------------------------------------------------------------

@dataclass(frozen=True)
class _Survey:
    track: MotionTrack
    frame_count: int
    reach: _Reach
    untracked: int
    visible_frames: int


def _survey(frames: Iterator[_Frame], size: tuple[int, int], tick) -> _Survey:
    tracker = MotionTracker(*size)
    areas, centres = [], []
    for frame in frames:
        off_object = ~_grow(frame.primary, 3)
        tracker.add(frame.rgb, off_object)
        ys, xs = np.nonzero(frame.primary)
        areas.append(len(xs))
        centres.append((xs.mean(), ys.mean()) if len(xs) else None)
        tick()
    track = tracker.track()
    visible = np.array([a for a in areas if a > 0], np.float64)
    radius = float(np.sqrt(np.percentile(visible, 90) / np.pi)) if visible.size else 3.0
    return _Survey(track, len(areas), _Reach(max(radius, 3.0), _typical_step(track, centres)),
                   tracker.untracked_frames, int(visible.size))


def _typical_step(track: MotionTrack, centres: list) -> float:
    """The object's 90th-percentile displacement per frame, in frame-0 coordinates."""
    steps, previous = [], None
    for index, centre in enumerate(centres):
        if centre is None:
            previous = None
            continue
        point = np.array([[centre]], np.float64)
        world = cv2.perspectiveTransform(point, track.to_ref[index])[0, 0]
        if previous is not None:
            steps.append(float(np.linalg.norm(world - previous)))
        previous = world
    return float(np.percentile(steps, 90)) if steps else 0.0


# --- pass 2: the background in frame-0 coordinates -------------------------------------------

def _translation(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


class _Background:
    """First sightings of each background pixel, far from the object, in frame-0 coordinates.

    Pixels the object was never far from fall back to their sighting farthest from it.
    """

    def __init__(self, track: MotionTrack, size: tuple[int, int], depth: int):
        width, height = size
        corners = np.array([[[0, 0], [width, 0], [0, height], [width, height]]], np.float64)
        mapped = np.concatenate([cv2.perspectiveTransform(corners, h)[0] for h in track.to_ref])
        # A runaway track must not make a huge canvas: beyond the limit there is no background.
        low = -_CANVAS_LIMIT * np.array([width, height])
        high = (_CANVAS_LIMIT + 1) * np.array([width, height])
        x0, y0 = np.clip(np.floor(mapped.min(axis=0)), low, high).astype(int)
        x1, y1 = np.clip(np.ceil(mapped.max(axis=0)), low, high).astype(int)
        self.size = (int(x1 - x0), int(y1 - y0))
        self._to_canvas = [_translation(-x0, -y0) @ h for h in track.to_ref]
        self._frame_size = size
        self.moving_camera = not track.static
        plane = (self.size[1], self.size[0])
        self.depth = int(max(3, min(depth, _STACK_BUDGET // max(1, plane[0] * plane[1] * 3))))
        self._stack = np.zeros((self.depth, *plane, 3), np.uint8)
        self._count = np.zeros(plane, np.uint8)
        self._farthest = np.zeros((*plane, 3), np.uint8)
        self._farthest_distance = np.full(plane, -1.0, np.float32)
        self.image: np.ndarray | None = None
        self.known: np.ndarray | None = None
        self.from_far: np.ndarray | None = None

    def to_canvas(self, index: int) -> np.ndarray:
        return self._to_canvas[index]

    def add(self, frame: _Frame, distance: np.ndarray, far: float, guard: float) -> None:
        """Add a frame's background: pixels beyond `guard` px of the object (farther than
        `far` px for the main stack), given each pixel's `distance` to the object."""
        transform = self._to_canvas[frame.index]
        codes = np.rint(frame.rgb * 255).astype(np.uint8)
        warped = cv2.warpPerspective(codes, transform, self.size, flags=cv2.INTER_LINEAR)
        # The frame's outermost pixels are dropped: bilinear samples there mix in the border.
        reach = np.minimum(distance, 65000.0).astype(np.float32)
        reach[[0, -1], :] = -1
        reach[:, [0, -1]] = -1
        reach = cv2.warpPerspective(reach, transform, self.size, flags=cv2.INTER_NEAREST,
                                    borderValue=-1)
        farther = (reach > guard) & (reach > self._farthest_distance)
        self._farthest[farther] = warped[farther]
        self._farthest_distance[farther] = reach[farther]
        ys, xs = np.nonzero((reach > far) & (self._count < self.depth))
        self._stack[self._count[ys, xs], ys, xs] = warped[ys, xs]
        self._count[ys, xs] += 1

    def finish(self) -> None:
        """The per-pixel median of the far sightings (else the farthest one), float32 [0,1]."""
        self.from_far = self._count > 0
        self.known = self.from_far | (self._farthest_distance >= 0)
        self.image = self._farthest.astype(np.float32) / 255
        for top in range(0, self._count.shape[0], _MEDIAN_ROWS):  # strips bound the peak
            rows = slice(top, top + _MEDIAN_ROWS)
            median = _median_of_first(self._stack[:, rows], self._count[rows])
            self.image[rows] = np.where(self.from_far[rows, :, None], median, self.image[rows])
        self._stack = self._farthest = None

    def in_frame(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The background as frame `index` sees it: image, known, known-from-far-sightings."""
        transform = self._to_canvas[index]
        flags_lin = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        flags_near = cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
        image = cv2.warpPerspective(self.image, transform, self._frame_size, flags=flags_lin)
        state = self.known.astype(np.uint8) + self.from_far
        state = cv2.warpPerspective(state, transform, self._frame_size, flags=flags_near,
                                    borderValue=0)
        return image, state >= 1, state >= 2


def _median_of_first(stack: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Per pixel, the median of the first `count` of the `stack` layers, as float32 [0, 1]."""
    depth = stack.shape[0]
    values = stack.astype(np.uint16)
    values[np.arange(depth)[:, None, None] >= count[None]] = np.iinfo(np.uint16).max
    values.sort(axis=0)  # unused layers sort to the end
    count = count.astype(np.int64)[None, ..., None]
    shape = (1, *values.shape[1:])
    low = np.broadcast_to(np.clip((count - 1) // 2, 0, depth - 1), shape)
    high = np.broadcast_to(np.clip(count // 2, 0, depth - 1), shape)
    total = (np.take_along_axis(values, low, 0)[0].astype(np.float32)
             + np.take_along_axis(values, high, 0)[0])
    return total / (2 * 255)


# --- pass 3: per-frame comparison -------------------------------------------------------------

@dataclass(frozen=True)
class _Comparison:
    """One frame against the background (everything at analysis size)."""

    rgb: np.ndarray  # the frame, smoothed and exposure-matched
    changed: np.ndarray  # differs from the background beyond noise (off the object)
    brighter: np.ndarray  # some channel rose beyond noise: no shadow does that
    shadow_core: np.ndarray  # darker, colour-preserving, ratio below the shadow ratio
    shadow_soft: np.ndarray  # darker, colour-preserving, any ratio below ~1 (penumbra)
    threshold: float  # change threshold (luma; 1.25x on the max channel)
    known_far: np.ndarray


def _luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.transform(rgb, _LUMA[None])


# numpy reduces over a 3-long last axis slowly; plane by plane is several times faster.
def _channel_max(rgb: np.ndarray) -> np.ndarray:
    return np.maximum(np.maximum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])


def _channel_sum(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] + rgb[..., 1] + rgb[..., 2]


def _smooth(rgb: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(rgb, (0, 0), 1.0)


def _misregistration_range(image: np.ndarray, moving: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel min and max over the 3x3 neighbourhood when the camera moves: a pixel only
    differs from the background if it differs from every sample a sub-pixel error could pick."""
    if not moving:
        return image, image
    kernel = np.ones((3, 3), np.uint8)
    return cv2.erode(image, kernel), cv2.dilate(image, kernel)


def _outside(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """How far `values` lie outside [low, high] (0 inside)."""
    return np.maximum(np.maximum(values - high, low - values), 0)


def _compare(frame: _Frame, background: _Background, far: np.ndarray,
             settings: HeuristicAnalyzer) -> _Comparison:
    image, known, known_far = background.in_frame(frame.index)
    base, rgb = _smooth(image), _smooth(frame.rgb)
    base_luma, luma = _luma(base), _luma(rgb)
    sample = known_far & far & (base_luma > 0.05)
    if sample.sum() > 200:
        gain = float(np.clip(np.median(luma[sample] / base_luma[sample]), 0.5, 2.0))
        rgb, luma = rgb / gain, luma / gain
        noise = 1.4826 * float(np.median(np.abs(luma[sample] - base_luma[sample])))
    else:
        noise = 2.0 / 255
    threshold = max(settings.min_change, settings.noise_factor * noise)
    usable = known & ~frame.primary
    low, high = _misregistration_range(base, background.moving_camera)
    changed = usable & (_channel_max(_outside(rgb, low, high)) > 1.25 * threshold)
    brighter = changed & (_channel_max(rgb - high) > 1.25 * threshold)
    low_luma, _ = _misregistration_range(base_luma, background.moving_camera)
    darker = usable & (low_luma - luma > threshold)
    ratio = (luma + 0.01) / (base_luma + 0.01)
    level = _channel_sum(base)
    chroma_shift = _channel_max(cv2.absdiff(rgb / (_channel_sum(rgb)[..., None] + 0.03),
                                            base / (level[..., None] + 0.03)))
    tolerance = settings.chroma_tolerance + 3 * noise / np.maximum(level / 3, 0.05)
    # Clipped highlights hide their true colour, so a shadow over them may shift it.
    tolerance = np.where(_channel_max(base) > 0.96, 0.25, tolerance)
    soft = darker & (chroma_shift < tolerance) & (ratio < 0.98) & (ratio > 0.1)
    core = soft & (ratio < settings.shadow_ratio)
    return _Comparison(rgb, changed, brighter, core, soft, threshold, known_far)


@dataclass(frozen=True)
class _Zones:
    """Distances from the object on one frame, and the band round it left out of the search."""

    distance: np.ndarray  # px to the nearest object pixel (inf when the object is not in view)
    guard: int  # band width: the mask's edge error plus smoothing

    def within(self, radius: float) -> np.ndarray:
        return self.distance <= radius

    @property
    def band(self) -> np.ndarray:
        return (self.distance > 0) & (self.distance <= self.guard)

    @property
    def visible(self) -> bool:
        return bool(np.isfinite(self.distance).any())


class _GuardEstimate:
    """How wide a band round the mask to leave out: at least `reach.guard`, widened when the
    mask misses the object's edge.

    Such a mask leaves a ring of changed pixels all the way round the object, so each frame's
    estimate is the first ring (1 px wide, outwards) that is mostly unchanged. A shadow or a
    touching object can cover most of the ring on some frames, so the band used is the median
    of the estimates so far: mask quality is a property of the shot, not of a frame.
    """

    def __init__(self, reach: _Reach):
        self.reach = reach
        self._estimates: list[int] = []

    def update(self, distance: np.ndarray, changed: np.ndarray) -> _Zones:
        if np.isfinite(distance).any():
            self._estimates.append(self._first_clear_ring(distance, changed))
        guard = int(np.median(self._estimates)) if self._estimates else self.reach.guard
        return _Zones(distance, max(self.reach.guard, guard))

    def _first_clear_ring(self, distance: np.ndarray, changed: np.ndarray) -> int:
        for ring in range(1, self.reach.max_guard + 1):
            pixels = (distance > ring - 1) & (distance <= ring)
            if not pixels.any() or changed[pixels].mean() < 0.5:
                return ring
        return self.reach.max_guard


def _shadow_region(cmp: _Comparison, zones: _Zones, reach: _Reach,
                   shadow_reach: float) -> np.ndarray:
    """Colour-preserving darkening connected to a core that comes near the object."""
    if not zones.visible:
        return np.zeros(cmp.changed.shape, bool)
    soft = cv2.morphologyEx(cmp.shadow_soft.astype(np.uint8), cv2.MORPH_CLOSE,
                            _disc(1)).astype(bool)
    soft &= ~zones.within(zones.guard) & zones.within(reach.shadow_extent(shadow_reach))
    near = zones.within(zones.guard + reach.near)
    cores = _components_touching(cmp.shadow_core & soft, near, reach.min_area)
    region = _components_touching(soft, cores, reach.min_area)
    if not region.any():
        return region
    region |= zones.band & _grow(region, zones.guard + 1)  # bridge the band we did not look at
    return _grow(region, reach.grow)


# --- pushed objects ---------------------------------------------------------------------------

@dataclass
class _Step:
    """One frame's evidence, waiting in the contact window."""

    index: int
    zones: _Zones
    changes: np.ndarray  # changed, not the object's shadow, cleaned
    solid: np.ndarray  # changes that brighten some channel
    seeds: np.ndarray  # non-shadow changes touching the object
    moving: np.ndarray  # changed since the previous frame


@dataclass
class _PushTracker:
    """Finds the contact (seeds on a frame and one of the next two) and follows what moves."""

    reach: _Reach
    background: _Background
    region: RegionTrack
    contact: int | None = None
    separated: bool = False  # some of it ended up away from the object (not just its fringe)
    centres: dict[int, tuple[float, float]] = field(default_factory=dict)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    _window: deque = field(default_factory=lambda: deque(maxlen=3))
    _previous: tuple[int, np.ndarray] | None = None

    def push(self, step: _Step) -> None:
        self._window.append(step)
        if len(self._window) == 3:
            self._decide(self._window[0], list(self._window)[1:])

    def finish(self) -> None:
        steps = list(self._window)
        for position in range(1 if len(steps) == 3 else 0, len(steps)):
            self._decide(steps[position], steps[position + 1:])

    def _decide(self, step: _Step, later: list[_Step]) -> None:
        if self.contact is None:
            if not (step.seeds.any() and self._confirmed(step, later)):
                return
            self.contact = step.index
            found = step.seeds
        else:
            follow = _grow(self._carried(step.index), self.reach.track)
            found = step.seeds | _components_touching(step.changes, follow, self.reach.min_area)
        if not found.any():
            return  # e.g. hidden behind the object for a frame: follow on from the last sighting
        self._previous = (step.index, found)
        bridged = found | (step.zones.band & _grow(found, step.zones.guard + 1))
        self.region.set(step.index, _grow(bridged, self.reach.grow))
        self._locate(step, found)
        self._check_separation(step, found)

    def _confirmed(self, step: _Step, later: list[_Step]) -> bool:
        """The contact goes on: one of the next two frames has seeds, or changes where the
        seeds could have moved to."""
        if not later:
            return False
        reach = _grow(step.seeds, self.reach.track)
        return any(s.seeds.any() or (s.solid & reach).sum() >= self.reach.min_area // 2
                   for s in later)

    def _check_separation(self, step: _Step, found: np.ndarray) -> None:
        # A reflection or a badly masked edge travels with the object; a pushed object, or the
        # place it rested, is left behind by it.
        if not self.separated:
            gap = step.zones.guard + self.reach.contact + 0.5 * self.reach.radius
            away = found & ~step.zones.within(gap)
            self.separated = int(away.sum()) >= self.reach.min_area

    def _carried(self, index: int) -> np.ndarray:
        """The previous frame's region, moved with the camera into frame `index`."""
        previous_index, previous = self._previous
        between = (np.linalg.inv(self.background.to_canvas(index))
                   @ self.background.to_canvas(previous_index))
        if np.allclose(between, np.eye(3)):
            return previous
        size = (previous.shape[1], previous.shape[0])
        return cv2.warpPerspective(previous.astype(np.uint8), between, size,
                                   flags=cv2.INTER_NEAREST).astype(bool)

    def _locate(self, step: _Step, found: np.ndarray) -> None:
        moving = found & step.moving
        if moving.sum() < self.reach.min_area:
            return
        ys, xs = np.nonzero(moving)
        self.centres[step.index] = (float(xs.mean()), float(ys.mean()))
        self.sizes.append((int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1))


def _step(index: int, cmp: _Comparison, zones: _Zones, shadow: np.ndarray,
          previous_rgb: np.ndarray | None, background: _Background, reach: _Reach) -> _Step:
    """One frame's push evidence: changes off the object and its shadow, those touching it
    (seeds), and what changed since the previous frame."""
    outside = ~zones.within(zones.guard)
    changed = cv2.morphologyEx((cmp.changed & outside).astype(np.uint8), cv2.MORPH_OPEN,
                               _disc(1)).astype(bool)
    changes = _drop_small(changed & ~shadow, reach.min_area)
    # A shadow (even one misread as a colour change) only darkens; a moved object uncovers or
    # covers something brighter in some channel. Such pixels count even inside the shadow's
    # region: the object may shade what it pushes.
    solid = _drop_small(changed & cmp.brighter, reach.min_area // 2)
    seeds = _components_touching(solid, zones.within(zones.guard + reach.contact), 1)
    if seeds.any():
        seeds |= _components_touching(changes, seeds, 1)
    moving = np.zeros_like(changes)
    if previous_rgb is not None:
        between = (np.linalg.inv(background.to_canvas(index))
                   @ background.to_canvas(index - 1))
        size = (previous_rgb.shape[1], previous_rgb.shape[0])
        before = cv2.warpPerspective(previous_rgb, between, size, flags=cv2.INTER_LINEAR)
        low, high = _misregistration_range(before, background.moving_camera)
        moving = (_channel_max(_outside(cmp.rgb, low, high)) > 1.25 * cmp.threshold) & outside
    return _Step(index, zones, changes, solid, seeds, moving)


# --- the engine -------------------------------------------------------------------------------

class HeuristicAnalyzer:
    """Shadow and contact analysis of a plate; see the module docstring."""

    name = "heuristic"
    version = "0.1.0"

    def __init__(self, *, analysis_width: int = 640, reference_frames: int = 9,
                 shadow_ratio: float = 0.9, chroma_tolerance: float = 0.035,
                 shadow_reach: float = 2.5, noise_factor: float = 4.0,
                 min_change: float = 4.0 / 255, min_shadow_frames: int = 2):
        if analysis_width < 32:
            raise ValueError("analysis_width must be at least 32 pixels")
        if not 0 < shadow_ratio < 1:
            raise ValueError("shadow_ratio must be between 0 and 1")
        self.analysis_width = analysis_width
        self.reference_frames = reference_frames
        self.shadow_ratio = shadow_ratio
        self.chroma_tolerance = chroma_tolerance
        self.shadow_reach = shadow_reach
        self.noise_factor = noise_factor
        self.min_change = min_change
        self.min_shadow_frames = min_shadow_frames

    def settings(self) -> dict:
        return {"analysis_width": self.analysis_width,
                "reference_frames": self.reference_frames, "shadow_ratio": self.shadow_ratio,
                "chroma_tolerance": self.chroma_tolerance, "shadow_reach": self.shadow_reach,
                "noise_factor": self.noise_factor, "min_change": self.min_change,
                "min_shadow_frames": self.min_shadow_frames}

    def analyze(self, plate, primary_mask_path: str | Path, instruction: str = "", *,
                on_progress: ProgressCallback | None = None) -> Analysis:
        """Find the primary object's shadow and the objects it sets in motion.

        Args:
            plate: an opened `Plate`.
            primary_mask_path: the object's mask per frame (0 object, 255 not), same size and
                length as the plate.
            instruction: the edit instruction, echoed in the analysis.
            on_progress: called with (steps done, steps in total) as frames are analysed.

        Returns:
            VOID's analysis; each affected object carries its per-frame region (`.region`).
            `confidence` is the share of the background seen far from the object (where the
            model is trustworthy), less the share of frames whose camera motion was lost.

        Raises:
            MaskError: the mask does not match the plate.
            MediaError: the plate cannot be decoded.
        """
        mask_path = Path(primary_mask_path)
        size = _analysis_size(plate.info.width, plate.info.height, self.analysis_width)
        progress = _Progress(on_progress, PASSES * max(plate.info.frame_count, 1))
        with _FrameCache(size) as cache:
            survey = _survey(cache.keep(_stream(plate, mask_path, size)), size, progress.tick)
            progress.resize(PASSES * survey.frame_count)
            background = self._background(cache, size, survey, progress.tick)
            shadow, push, known_share = self._detect(cache, size, survey, background,
                                                     progress.tick)
        objects = self._shadow_object(shadow, survey) + self._pushed_object(push, size)
        confidence = known_share * (1 - survey.untracked / max(survey.frame_count, 1))
        return Analysis(edit_instruction=instruction, affected_objects=objects,
                        scene_description=_scene_description(objects),
                        confidence=round(float(np.clip(confidence, 0, 1)), 3))

    # passes 2 and 3

    def _background(self, cache: _FrameCache, size, survey: _Survey, tick) -> _Background:
        background = _Background(survey.track, size, self.reference_frames)
        far_radius = survey.reach.shadow_extent(self.shadow_reach)
        for frame in cache.frames():
            background.add(frame, _distance_from(frame.primary), far_radius, survey.reach.guard)
            tick()
        background.finish()
        return background

    def _detect(self, cache: _FrameCache, size, survey: _Survey, background: _Background,
                tick) -> tuple[RegionTrack, _PushTracker, float]:
        reach = survey.reach
        shadow = RegionTrack(*size, survey.frame_count)
        push = _PushTracker(reach, background, RegionTrack(*size, survey.frame_count))
        far_radius = reach.shadow_extent(self.shadow_reach)
        guard = _GuardEstimate(reach)
        previous_rgb, known_shares = None, []
        for frame in cache.frames():
            distance = _distance_from(frame.primary)
            cmp = _compare(frame, background, distance > far_radius, self)
            zones = guard.update(distance, cmp.changed)
            found = _shadow_region(cmp, zones, reach, self.shadow_reach)
            shadow.set(frame.index, found)
            push.push(_step(frame.index, cmp, zones, found, previous_rgb, background, reach))
            previous_rgb = cmp.rgb
            visible = ~frame.primary
            known_shares.append(float((cmp.known_far & visible).sum() / max(visible.sum(), 1)))
            tick()
        push.finish()
        return shadow, push, float(np.mean(known_shares)) if known_shares else 0.0

    # building the analysis

    def _shadow_object(self, region: RegionTrack, survey: _Survey) -> list[AffectedObject]:
        frames = region.frames()
        needed = min(self.min_shadow_frames, max(1, survey.visible_frames))
        if len(frames) < needed:
            return []
        localizations = []
        for index in _reference_frames(region.frame_count):
            cells = grid_cells(region.get(index))
            if cells:
                localizations.append(GridLocalization(
                    frame=index, grid_regions=[GridCell(row=r, col=c) for r, c in cells]))
        shadow = AffectedObject(
            noun="shadow", category="visual_artifact",
            why="A darker, same-colour patch of the background attached to the object and "
                "moving with it: its cast shadow.",
            will_move=False, first_appears_frame=frames[0],
            movement_description="Follows the object; disappears with it.",
            grid_localizations=localizations)
        return [shadow.with_region(region)]

    def _pushed_object(self, push: _PushTracker, size: tuple[int, int]) -> list[AffectedObject]:
        if push.contact is None or not push.separated or not push.region.frames():
            return []
        width, height = size
        path = _trajectory(push.centres, width, height)
        rows, cols = _size_in_cells(push.sizes, width, height)
        start = path[0] if path else None
        moved = (f"Set in motion on frame {push.contact} when the object reaches it"
                 + (f"; moves from grid cell ({start.grid_row}, {start.grid_col}) to "
                    f"({path[-1].grid_row}, {path[-1].grid_col})." if path else "."))
        pushed = AffectedObject(
            noun="pushed object", category="physical",
            why="Something at rest next to the object starts moving when the object touches "
                "it; without the object it would have stayed put.",
            will_move=True, first_appears_frame=push.contact, movement_description=moved,
            original_position_grid=(GridCell(row=start.grid_row, col=start.grid_col)
                                    if start else None),
            object_size_grids=GridSize(rows=rows, cols=cols) if push.sizes else None,
            trajectory_path=path)
        return [pushed.with_region(push.region)]


# --- small helpers ------------------------------------------------------------------------------

class _Progress:
    def __init__(self, callback: ProgressCallback | None, total: int):
        self.callback, self.total, self.done = callback, total, 0

    def resize(self, total: int) -> None:
        self.total = max(total, self.done)

    def tick(self) -> None:
        self.done += 1
        if self.callback is not None:
            self.callback(self.done, max(self.total, self.done))


def _reference_frames(frame_count: int) -> list[int]:
    """VOID's ten grid-sample frames (0, 11, 22, ... 100 % of the shot)."""
    last = max(frame_count - 1, 0)
    return sorted({round(share * last) for share in _REFERENCE_SHARES})


def _trajectory(centres: dict[int, tuple[float, float]], width: int,
                height: int) -> list[TrajectoryPoint]:
    """Up to five keyframes of the moving object's centre, evenly spread over its motion."""
    frames = sorted(centres)
    if not frames:
        return []
    picks = sorted({frames[round(i)] for i in np.linspace(0, len(frames) - 1, min(5, len(frames)))})
    points = []
    for index in picks:
        row, col = cell_of(*centres[index], width, height)
        points.append(TrajectoryPoint(frame=index, grid_row=row, grid_col=col))
    return points


def _size_in_cells(sizes: list[tuple[int, int]], width: int, height: int) -> tuple[int, int]:
    """The moving object's median extent in grid cells, plus VOID's one-cell padding."""
    if not sizes:
        return 1, 1
    rows, cols = quadmask.grid_shape(width, height)
    w, h = np.median(np.array(sizes, np.float64), axis=0)
    return int(np.ceil(h / height * rows)) + 1, int(np.ceil(w / width * cols)) + 1


def _scene_description(objects: list[AffectedObject]) -> str:
    effects = [obj.noun for obj in objects]
    if not effects:
        return "The same shot without the removed object."
    return ("The same shot without the removed object or its effects "
            f"({', '.join(effects)}): the background as it was before the object arrived.")
