"""The classical inpainter: a robust clean background in the camera's reference space, completed
once where no frame saw it, mapped to each frame's exposure and joined in the gradient domain.

Three streaming passes over the shot:

1. **Motion.** Camera homographies between consecutive frames, measured on the background
   (`void_core.motion`), chained into frame 0's coordinates.
2. **Background.** Every frame's visible background (pixels more than `_GUARD` px outside its
   edit region) is warped into frame 0's coordinates and offered to a canvas that covers where some frame needs
   filling, plus a margin of context. Each canvas pixel keeps an even sample of all its
   sightings (`SightingBuffer`); the background is their median, or, where a pixel changed
   state during the shot, the median of its early sightings (an affected region is restored to
   how it was before the removed object touched it; the rest of a pixel's history is
   outvoted, so water and passing light do not smear in). What no frame showed is completed
   once, on the canvas: a harmonic membrane from the seen background, plus `texture` of the
   multi-scale PatchMatch completion (`patchfill`; 0 by default, see `_complete`).
3. **Fill.** Each frame's edit box is sampled from the completed canvas through its homography,
   mapped to the frame's exposure and white balance (gain and offset per channel fitted on the
   seen background in a ring three composite bands wide around the edit box). Where the
   hole's background was never seen, the completion is re-solved from this frame's own
   pixels around the mask (a membrane, `blend`), so it meets the frame without a step and
   follows a moving surface. Optionally the plate's grain
   is laid back (`grain`).

A static hole on a locked-off camera gets the same canvas pixels in every frame: only the
exposure fit and the join can vary, and they vary with the frame itself. Fills are marked
stable (`Fill.unstable` all False): nothing is invented per frame for a refiner to calm.

Memory: the canvas (at most `slots` float16 sightings per pixel of the union of edit regions in
frame-0 space, fewer for very large regions) plus one frame at a time.

Long shots in parts (`prepare`, `learn_part`, `fill_part`): passes 1 and 2 run as parallel
learning parts (camera motion per block, sightings per block, then the canvas), pass 3 as fill
parts; one process and parts give the same fills bit for bit (`learning`).

Decodes: the shot is streamed twice, not three times, when the camera keeps the canvas inside a
fixed region: the motion pass copies that region of every frame into a temporary file and the
background pass reads it from there (`regions.py`; bit-identical, about 0.2 CPU-s a 4K frame
saved).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from void_core import quadmask
from void_core.composite import Box
from void_core.engines import WithoutModels
from void_core.inpaint.base import Fill, Frame, InpaintStats, ShotFrames, ShotPart
from void_core.inpaint.classical import learning
from void_core.inpaint.classical.blend import membrane
from void_core.inpaint.classical.exposure import Exposure, fit_exposure
from void_core.inpaint.classical.grain import grain_sigma, regrain
from void_core.inpaint.classical.patchfill import fill_patches
from void_core.inpaint.classical.regions import RegionCache
from void_core.inpaint.classical.sightings import SLOT_BYTES, SightingBuffer
from void_core.motion import MotionTrack

_SIGHTING_BYTES = 192 << 20  # sightings buffer budget; fewer slots per pixel on huge canvases
_MIN_SLOTS = 6
_CHANGE = 0.08  # display units: early and late sightings this far apart = the pixel changed state
_GRAIN_SAMPLES = 8  # frames the grain is measured on (it does not change within a shot)
# px beyond the mask whose plate values are not trusted (edge halo). Measured on the real-footage
# holes: every pixel of guard costs 0.2-0.5 dB on water and unseen holes (the nearest evidence
# is the best), and one px keeps anti-aliased object edges out of the background.
_GUARD = 1
_JOIN_SMOOTHING = 2.0  # px: sensor noise along the ring must not print into the join
_EXPOSURE_CONTEXT_BANDS = 3  # exposure is fitted on a ring this many composite bands wide
_EXPOSURE_SAMPLES = 20_000  # pixels a fit needs at most (subsampled on a grid beyond that)
# Bytes of raw crops the motion pass may keep (in a temporary file) for the background pass.
_REGION_CACHE_BYTES = 8 << 30
_REGION_SLACK = 8  # px of camera drift the kept region allows beyond a still camera's canvas


def _translation(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


@dataclass
class _Canvas:
    """The completed background over a rectangle of frame-0 space."""

    x0: int
    y0: int
    background: np.ndarray  # (h, w, 3) float32 display values
    seen: np.ndarray  # (h, w) bool: some frame showed this pixel (else completed spatially)

    @property
    def shape(self) -> tuple[int, int]:
        return self.seen.shape

    def from_frame(self, to_ref: np.ndarray, crop: Box) -> np.ndarray:
        """Map (crop-of-frame pixel coordinates) -> canvas pixel coordinates."""
        return _translation(-self.x0, -self.y0) @ to_ref @ _translation(crop.x0, crop.y0)


class ClassicalInpainter(WithoutModels):
    name = "classical"
    version = "0.5.0"  # 0.5: sightings thinned by frame index, motion in 120-frame blocks

    def __init__(self, observations: int = 32, spatial_radius: int = 5, match_tone: bool = True,
                 regrain: bool = False, patch_size: int = 7, texture: float = 0.0):
        if observations < 1:
            raise ValueError("observations must be >= 1")
        if patch_size < 3 or patch_size % 2 == 0:
            raise ValueError("patch_size must be an odd number >= 3")
        if not 0.0 <= texture <= 1.0:
            raise ValueError("texture must be in [0, 1]")
        self.observations = observations
        self.spatial_radius = spatial_radius
        self.match_tone = match_tone
        self.regrain = regrain
        self.patch_size = patch_size
        self.texture = texture
        self.stats = InpaintStats()
        self.track: MotionTrack | None = None
        self.grain: np.ndarray | None = None
        # Bicubic: the background is resampled twice (frame -> canvas -> frame) on moving shots,
        # and bilinear blurs fine texture (mortar lines, grain) measurably.
        self.interpolation = cv2.INTER_CUBIC

    def settings(self) -> dict:
        return {"observations": self.observations, "spatial_radius": self.spatial_radius,
                "match_tone": self.match_tone, "regrain": self.regrain,
                "patch_size": self.patch_size, "texture": self.texture}

    def inpaint(self, shot: ShotFrames) -> Iterator[Fill]:
        canvas = self._learn(shot)
        yield from self._fill_frames(shot, shot.stream(), canvas)

    # --- long shots in parts: passes 1-2 as learning parts, pass 3 per part ----------------

    def prepare(self, shot: ShotFrames, work: Path, chunk_frames: int) -> list[ShotPart]:
        """Cheap (no pass): the learning parts, then the fill parts, even ranges of at most
        `chunk_frames` frames that wait for the canvas (`learning`)."""
        work.mkdir(parents=True, exist_ok=True)
        return learning.plan_parts(shot, work, chunk_frames)

    def learn_part(self, shot: ShotFrames, work: Path, part: ShotPart) -> list[Path]:
        """A part that writes no frames (motion, sightings or canvas): its work files, each
        written atomically; returns their paths."""
        if part.label == learning.MOTION:
            return [learning.learn_motion(shot, work, part)]
        if part.label == learning.SIGHTINGS:
            return [self._learn_sightings(shot, work, part)]
        if part.label == learning.CANVAS:
            return [self._learn_canvas(shot, work)]
        raise ValueError(f"classical has no learning part {part.label!r}")

    def fill_part(self, shot: ShotFrames, work: Path, part: ShotPart) -> Iterator[Fill]:
        """Pass 3 over frames [part.start, part.stop), from the canvas part's file."""
        if learning.nothing_to_remove(shot):
            self.track, self.grain, canvas = None, None, None
        else:
            self.track, self.grain, canvas = _load_learned(learning.learned_file(work))
        yield from self._fill_frames(shot, shot.stream(part.start, part.stop), canvas)

    def _learn(self, shot: ShotFrames) -> _Canvas | None:
        """Passes 1 and 2 (nothing when no frame has anything to remove)."""
        self.track, self.grain = None, None
        if learning.nothing_to_remove(shot):
            return None
        cache = self._region_cache(shot)
        self.track = self._measure_motion(shot, cache)
        return self._background(shot, self.track, cache)

    def _learn_sightings(self, shot: ShotFrames, work: Path, part: ShotPart) -> Path:
        """Frames [start, stop)'s sightings in a buffer of their own, their affected pixels and
        grain samples, on the canvas of the whole shot's track."""
        track, _ = learning.load_track(shot, work)
        extent = self._canvas_extent(shot, track)
        sightings = SightingBuffer(_extent_shape(extent), self._slots(extent))
        affected = np.zeros(sightings.shape, bool)
        grain = []
        for frame in shot.stream(part.start, part.stop):
            sigma = self._add_sightings(shot, track, frame, extent, sightings, affected)
            if sigma is not None:
                grain.append(sigma)
        path = learning.part_file(work, learning.SIGHTINGS, part.start, part.stop)
        learning.save_sightings(path, sightings, affected, grain)
        return path

    def _learn_canvas(self, shot: ShotFrames, work: Path) -> Path:
        """The sightings blocks merged in order (one in memory at a time), the background
        estimated and completed: the file every fill part reads."""
        self.track, untracked = learning.load_track(shot, work)
        if untracked:
            self.stats.notes.append(learning.untracked_note(untracked))
        extent = self._canvas_extent(shot, self.track)
        sightings = SightingBuffer(_extent_shape(extent), self._slots(extent))
        affected = np.zeros(sightings.shape, bool)
        grain = []
        for path in learning.sightings_files(work):
            block, block_affected, block_grain = learning.load_sightings(path)
            sightings.merge(block)
            affected |= block_affected
            grain += block_grain
            del block
        canvas = self._canvas(shot, extent, sightings, affected, grain)
        path = learning.learned_file(work)
        _save_learned(path, self.track, self.grain, canvas)
        return path

    def _fill_frames(self, shot: ShotFrames, frames: Iterator[Frame],
                     canvas: _Canvas | None) -> Iterator[Fill]:
        for frame in frames:
            box = shot.boxes[frame.index]
            if box.empty:
                yield Fill(frame, box, None)
            else:
                display, spatial = self._fill(shot, frame, box, canvas)
                yield Fill(frame, box, display, unstable=np.zeros_like(spatial))

    # --- pass 1: camera motion ---------------------------------------------------------

    def _measure_motion(self, shot: ShotFrames, keep: RegionCache | None = None) -> MotionTrack:
        """The camera track, in the motion parts' blocks; each frame's `keep` region is copied
        on the way (see `regions`)."""

        def frames() -> Iterator[Frame]:
            for frame in shot.stream():
                if keep is not None:
                    keep.keep(frame)
                yield frame

        track, untracked = learning.track_in_blocks(shot, frames())
        if untracked:
            self.stats.notes.append(learning.untracked_note(untracked))
        return track

    def _region_cache(self, shot: ShotFrames) -> RegionCache:
        """Where a still camera's background pass reads, grown by `_REGION_SLACK`, if affordable."""
        boxes = [box for box in shot.boxes if not box.empty]
        region = boxes[0]
        for box in boxes[1:]:
            region = region.union(box)
        margin = _canvas_margin(region.y1 - region.y0, region.x1 - region.x0)
        region = region.grown(margin + 2 + _GUARD + _REGION_SLACK, shot.height, shot.width)
        return RegionCache(region, shot.frame_count, _REGION_CACHE_BYTES)

    # --- pass 2: background canvas -------------------------------------------------------

    def _canvas_extent(self, shot: ShotFrames, track: MotionTrack) -> Box | None:
        xs, ys = [], []
        for index, box in enumerate(shot.boxes):
            if box.empty:
                continue
            corners = np.array([[[box.x0, box.y0], [box.x1, box.y0],
                                 [box.x0, box.y1], [box.x1, box.y1]]], np.float64)
            mapped = cv2.perspectiveTransform(corners, track.to_ref[index])[0]
            xs.extend(mapped[:, 0])
            ys.extend(mapped[:, 1])
        if not xs:
            return None
        margin = _canvas_margin(max(ys) - min(ys), max(xs) - min(xs))
        return Box(int(np.floor(min(ys))) - margin, int(np.ceil(max(ys))) + margin,
                   int(np.floor(min(xs))) - margin, int(np.ceil(max(xs))) + margin)

    def _slots(self, extent: Box) -> int:
        area = (extent.y1 - extent.y0) * (extent.x1 - extent.x0)
        affordable = _SIGHTING_BYTES // max(1, area * SLOT_BYTES)
        slots = int(np.clip(affordable, _MIN_SLOTS, max(self.observations, _MIN_SLOTS)))
        return slots - slots % 2

    def _background(self, shot: ShotFrames, track: MotionTrack,
                    cache: RegionCache | None = None) -> _Canvas | None:
        extent = self._canvas_extent(shot, track)
        if extent is None:
            return None
        sightings = SightingBuffer(_extent_shape(extent), self._slots(extent))
        affected = np.zeros(sightings.shape, bool)
        grain = []
        frames, origin = self._background_frames(shot, track, extent, cache)
        for frame in frames:
            sigma = self._add_sightings(shot, track, frame, extent, sightings, affected, origin)
            if sigma is not None:
                grain.append(sigma)
        if cache is not None:
            cache.release()
        return self._canvas(shot, extent, sightings, affected, grain)

    def _canvas(self, shot: ShotFrames, extent: Box, sightings: SightingBuffer,
                affected: np.ndarray, grain: list[np.ndarray]) -> _Canvas:
        """The background from every frame's sightings, completed where no frame saw it."""
        self.grain = np.median(grain, axis=0) if grain else None
        seen = sightings.kept > 0
        affected = quadmask.dilate(affected, shot.feather.band) if affected.any() else affected
        background = sightings.estimate(_CHANGE, affected)
        if seen.any() and not seen.all():
            background = self._complete(background, seen)
        return _Canvas(extent.x0, extent.y0, background, seen)

    def _background_frames(self, shot: ShotFrames, track: MotionTrack, extent: Box,
                           cache: RegionCache | None) -> tuple[Iterator[Frame], tuple[int, int]]:
        """The frames the background pass reads, and where their pixel (0, 0) lies in the plate:
        the motion pass's kept crops when they hold every frame's source, else a fresh decode."""
        if cache is not None and cache.affordable:
            needed = (self._source_crop(shot, track, index, extent).grown(
                _GUARD, shot.height, shot.width) for index in range(shot.frame_count))
            if all(cache.covers(box) for box in needed):
                return cache.frames(), (cache.region.y0, cache.region.x0)
            cache.release()
        return shot.stream(), (0, 0)

    def _complete(self, background: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """What no frame showed: the harmonic (membrane) interpolation of the seen background,
        plus `texture` of the exemplar fill's departure from it.

        Measured on the real-footage holes: an unseen region's texture is rarely predictable, and
        a copied texture in the wrong phase costs 1-3 dB against the smooth fill (twice the
        texture's variance instead of once); the harmonic fill has no streaks or rims, and per
        frame the join re-solves it from that frame's ring (dynamic backgrounds)."""
        smooth = membrane(background, seen, ~seen, smoothing=1.0)
        completed = np.where(seen[..., None], background, smooth)
        if self.texture > 0:
            patches = fill_patches(background, seen, patch=self.patch_size)
            completed += self.texture * (patches - completed)
        return completed.astype(np.float32)

    def _source_crop(self, shot: ShotFrames, track: MotionTrack, index: int, extent: Box) -> Box:
        """The part of frame `index` that lands on the canvas."""
        h, w = extent.y1 - extent.y0, extent.x1 - extent.x0
        corners = np.array([[[0, 0], [w, 0], [0, h], [w, h]]], np.float64)
        to_frame = np.linalg.inv(track.to_ref[index]) @ _translation(extent.x0, extent.y0)
        mapped = cv2.perspectiveTransform(corners, to_frame)[0]
        box = Box(int(np.floor(mapped[:, 1].min())) - 2, int(np.ceil(mapped[:, 1].max())) + 2,
                  int(np.floor(mapped[:, 0].min())) - 2, int(np.ceil(mapped[:, 0].max())) + 2)
        return Box(max(0, box.y0), min(shot.height, box.y1), max(0, box.x0), min(shot.width, box.x1))

    def _add_sightings(self, shot: ShotFrames, track: MotionTrack, frame: Frame, extent: Box,
                       sightings: SightingBuffer, affected: np.ndarray,
                       origin: tuple[int, int] = (0, 0)) -> np.ndarray | None:
        """Offer the frame's visible background to the canvas, mark where the frame has an
        affected region (`affected`, in place), and return the frame's grain estimate.
        `origin`: where the frame's pixel (0, 0) lies in the plate (a kept region's corner)."""
        crop = self._source_crop(shot, track, frame.index, extent)
        if crop.empty:
            return None
        context = crop.grown(_GUARD, shot.height, shot.width)
        hole_context = quadmask.dilate(frame.quad[_local(context, origin)] != quadmask.KEEP, _GUARD)
        inner = (slice(crop.y0 - context.y0, crop.y1 - context.y0),
                 slice(crop.x0 - context.x0, crop.x1 - context.x0))
        visible = ~hole_context[inner]
        touched = quadmask.affected(frame.quad[_local(crop, origin)])
        pixels = shot.to_display(frame.raw[_local(crop, origin)])
        to_canvas = _translation(-extent.x0, -extent.y0) @ track.to_ref[frame.index] \
            @ _translation(crop.x0, crop.y0)
        h, w = sightings.shape
        if _is_integer_shift(to_canvas):
            seen, warped_valid = _place(pixels, visible, to_canvas, (h, w))
            affected |= _place(None, touched, to_canvas, (h, w))[1]
        else:
            seen = cv2.warpPerspective(pixels, to_canvas, (w, h), flags=self.interpolation)
            warped_valid = cv2.warpPerspective(visible.astype(np.uint8), to_canvas, (w, h),
                                               flags=cv2.INTER_NEAREST) > 0
            # Drop pixels whose bicubic sample touched the frame edge or the hole.
            warped_valid = cv2.erode(warped_valid.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            affected |= cv2.warpPerspective(touched.astype(np.uint8), to_canvas, (w, h),
                                            flags=cv2.INTER_NEAREST) > 0
        sightings.add(seen, warped_valid, frame.index)
        if not self.regrain or frame.index % max(1, shot.frame_count // _GRAIN_SAMPLES):
            return None
        return grain_sigma(pixels, visible)

    # --- pass 3: fill ----------------------------------------------------------------------

    def _fill(self, shot: ShotFrames, frame: Frame, box: Box,
              canvas: _Canvas | None) -> tuple[np.ndarray, np.ndarray]:
        """The box's display fill, and which of its pixels were completed spatially."""
        quad = frame.quad[box.slices]
        alpha = shot.feather.alpha(quad)
        hole = alpha > 0
        plate = shot.to_display(frame.raw[box.slices])
        if canvas is None:
            sampled, defined, seen = plate, np.zeros(hole.shape, bool), np.zeros(hole.shape, bool)
        else:
            sampled, defined, seen = self._sample(canvas, frame.index, box)
        keep = quad == quadmask.KEEP
        if self.match_tone and canvas is not None:
            sampled = self._exposure(shot, frame, box, canvas).apply(sampled)
            sampled = self._join(sampled, plate, alpha, keep, defined, seen)
        result = plate.copy()
        take = hole & defined
        result[take] = sampled[take]
        missing = hole & ~defined
        if missing.any():
            result = self._fill_spatially(result, missing)
        if self.regrain and self.grain is not None:
            result = regrain(result, hole, self.grain, seed=frame.index)
        spatial = hole & ~(defined & seen)
        removed = ~keep  # the share is of what was removed, not of the composite band
        self.stats.hole_pixels += int(removed.sum())
        self.stats.temporal_pixels += int((removed & defined & seen).sum())
        self.stats.spatial_pixels += int((removed & spatial).sum())
        return result, spatial

    def _exposure(self, shot: ShotFrames, frame: Frame, box: Box, canvas: _Canvas) -> Exposure:
        """The frame's exposure relative to the canvas, fitted on the seen background in a ring
        around the edit box (`_EXPOSURE_CONTEXT_BANDS` bands wide, beyond the composite band).

        A ring this wide measures the frame's exposure and white balance, not the local play of
        light on water: fitted on the box's corners alone, the fit chased ripples and cost 1 dB
        on the BigBen holes."""
        context = box.grown(_EXPOSURE_CONTEXT_BANDS * shot.feather.band, shot.height, shot.width)
        height, width = context.y1 - context.y0, context.x1 - context.x0
        step = max(1, int(np.sqrt(height * width / _EXPOSURE_SAMPLES)))
        beyond_band = ~shot.feather.hole(frame.quad[context.slices])[::step, ::step]
        estimate, seen = self._sample_grid(canvas, frame.index, context, step)
        use = beyond_band & seen
        if not use.any():
            return Exposure.identity()
        plate = shot.to_display(frame.raw[context.slices][::step, ::step])
        return fit_exposure(estimate[use], plate[use])

    def _sample_grid(self, canvas: _Canvas, index: int, box: Box, step: int) -> tuple[np.ndarray, np.ndarray]:
        """The canvas at every `step`-th pixel of frame `index`'s box (nearest): values, seen."""
        to_canvas = canvas.from_frame(self.track.to_ref[index], box) @ np.diag([step, step, 1.0])
        size = (-(-(box.x1 - box.x0) // step), -(-(box.y1 - box.y0) // step))
        nearest = cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
        values = cv2.warpPerspective(canvas.background, to_canvas, size, flags=nearest)
        seen = cv2.warpPerspective(canvas.seen.astype(np.uint8), to_canvas, size, flags=nearest) > 0
        return values, seen

    def _sample(self, canvas: _Canvas, index: int, box: Box) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The canvas seen from frame `index`'s box: values, where defined, where seen."""
        to_canvas = canvas.from_frame(self.track.to_ref[index], box)
        size = (box.x1 - box.x0, box.y1 - box.y0)
        h, w = canvas.shape
        if _is_integer_shift(to_canvas):
            dx, dy = int(round(to_canvas[0, 2])), int(round(to_canvas[1, 2]))
            back, shape = _translation(-dx, -dy), (size[1], size[0])
            values, defined = _place(canvas.background, np.ones((h, w), bool), back, shape)
            _, seen = _place(canvas.background, canvas.seen, back, shape)
            return values, defined, seen
        flags = self.interpolation | cv2.WARP_INVERSE_MAP
        values = cv2.warpPerspective(canvas.background, to_canvas, size, flags=flags,
                                     borderMode=cv2.BORDER_REPLICATE)
        ones = np.ones((h, w), np.uint8)
        nearest = cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
        defined = cv2.warpPerspective(ones, to_canvas, size, flags=nearest) > 0
        seen = cv2.warpPerspective(canvas.seen.astype(np.uint8), to_canvas, size, flags=nearest) > 0
        return values, defined, seen

    @staticmethod
    def _join(sampled: np.ndarray, plate: np.ndarray, alpha: np.ndarray, keep: np.ndarray,
              defined: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """Re-solve the completed (unseen) part from this frame's pixels, without a step.

        The membrane is anchored on the plate's visible pixels from `_GUARD` px beyond the mask
        (the smoothed difference between plate and fill) and on the hole's seen pixels (no
        correction: a median of real sightings is a better guess of the interior than a ring of
        moving water), and carried harmonically over the unseen ones. Anchoring at the mask,
        not at the composite band's edge, is worth 1.5-2.5 dB on unseen holes: the band's
        pixels are the nearest evidence there is.
        """
        hole = alpha > 0
        guard = quadmask.dilate(~keep, _GUARD)
        unseen = guard & defined & ~seen
        if not unseen.any():
            return sampled
        measured = keep & ~guard & defined
        if measured.sum() < 16:
            return sampled
        difference = np.where(measured[..., None], plate - sampled, 0.0).astype(np.float32)
        anchors = measured | (guard & seen & defined)
        correction = membrane(difference, anchors, unseen, smoothing=_JOIN_SMOOTHING)
        corrected = hole & defined & ~seen
        out = sampled.copy()
        out[corrected] += correction[corrected]
        return out

    def _fill_spatially(self, display: np.ndarray, hole: np.ndarray) -> np.ndarray:
        # Only where the canvas does not reach (no frame context at all): Telea, 8-bit.
        codes = np.clip(display * 255.0 + 0.5, 0, 255).astype(np.uint8)
        filled = cv2.inpaint(codes, hole.astype(np.uint8), self.spatial_radius, cv2.INPAINT_TELEA)
        out = display.copy()
        out[hole] = filled[hole].astype(np.float32) / 255.0
        return out


def _canvas_margin(height: float, width: float) -> int:
    """Context around the edit regions on the canvas: sources for the completion and the join."""
    return int(np.clip(0.25 * max(height, width), 16, 256))


def _extent_shape(extent: Box) -> tuple[int, int]:
    return extent.y1 - extent.y0, extent.x1 - extent.x0


def _local(box: Box, origin: tuple[int, int]) -> tuple[slice, slice]:
    """`box` (plate coordinates) as slices of an array whose pixel (0, 0) is at `origin`."""
    oy, ox = origin
    return slice(box.y0 - oy, box.y1 - oy), slice(box.x0 - ox, box.x1 - ox)


def _is_integer_shift(transform: np.ndarray) -> bool:
    return bool(np.allclose(transform[:2, :2], np.eye(2)) and np.allclose(transform[2], [0, 0, 1])
                and np.allclose(transform[:2, 2], np.round(transform[:2, 2])))


def _place(pixels: np.ndarray | None, visible: np.ndarray, shift: np.ndarray,
           shape: tuple[int, int]) -> tuple[np.ndarray | None, np.ndarray]:
    """Integer translation: copy without resampling (a locked-off camera stays exact).
    `pixels` None: place `visible` alone."""
    h, w = shape
    dx, dy = int(round(shift[0, 2])), int(round(shift[1, 2]))
    if dx <= 0 and dy <= 0 and visible.shape[0] + dy >= h and visible.shape[1] + dx >= w:
        inside = slice(-dy, h - dy), slice(-dx, w - dx)  # no copy needed
        return (None if pixels is None else pixels[inside]), visible[inside]
    seen = None if pixels is None else np.zeros((h, w, 3), np.float32)
    valid = np.zeros((h, w), bool)
    sy0, sx0 = max(0, -dy), max(0, -dx)
    cy0, cx0 = max(0, dy), max(0, dx)
    ch = min(h - cy0, visible.shape[0] - sy0)
    cw = min(w - cx0, visible.shape[1] - sx0)
    if ch > 0 and cw > 0:
        if seen is not None:
            seen[cy0:cy0 + ch, cx0:cx0 + cw] = pixels[sy0:sy0 + ch, sx0:sx0 + cw]
        valid[cy0:cy0 + ch, cx0:cx0 + cw] = visible[sy0:sy0 + ch, sx0:sx0 + cw]
    return seen, valid


def _save_learned(path: Path, track: MotionTrack | None, grain: np.ndarray | None,
                  canvas: _Canvas | None) -> None:
    """Track, grain and canvas as one .npz, written atomically (a part never reads half)."""
    arrays = {"to_ref": np.array([] if track is None else track.to_ref, np.float64),
              "has_track": np.array(track is not None),
              "grain": np.array([] if grain is None else grain),
              "has_grain": np.array(grain is not None),
              "has_canvas": np.array(canvas is not None)}
    if canvas is not None:
        arrays.update(origin=np.array([canvas.x0, canvas.y0]), background=canvas.background,
                      seen=canvas.seen)
    learning.save_arrays(path, **arrays)


def _load_learned(path: Path) -> tuple[MotionTrack | None, np.ndarray | None, _Canvas | None]:
    with np.load(path) as data:
        track = MotionTrack(tuple(data["to_ref"])) if data["has_track"] else None
        grain = data["grain"] if data["has_grain"] else None
        canvas = None
        if data["has_canvas"]:
            x0, y0 = (int(value) for value in data["origin"])
            canvas = _Canvas(x0, y0, data["background"], data["seen"])
    return track, grain, canvas
