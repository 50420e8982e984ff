"""The classical inpainter: a motion-compensated clean background, then a spatial fallback.

Three streaming passes over the shot:

1. **Motion.** Camera homographies between consecutive frames, measured on the background
   (`void_core.motion`), chained into frame 0's coordinates.
2. **Background.** Every frame's visible background (pixels outside its dilated edit region) is
   warped into frame 0's coordinates and accumulated on a canvas that covers only where some
   frame needs filling. Each canvas pixel keeps the mean of its *first* `observations` sightings:
   averaging denoises the fill, and taking the earliest sightings restores affected regions to
   their pre-interaction state (a pushed object where it rested, ground without the shadow).
3. **Fill.** Each frame's edit box is sampled from the canvas through the frame's homography,
   matched in tone to the frame on the ring just outside the mask (exposure drift, flicker), and
   what no frame ever showed is filled spatially (OpenCV Telea) and reported.

Memory: the canvas (a few float32 planes of the union of edit regions in frame-0 space) plus
one frame at a time; nothing grows with shot length.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from void_core import quadmask
from void_core.composite import Box
from void_core.inpaint.base import Fill, Frame, InpaintStats, ShotFrames
from void_core.motion import MotionTrack, MotionTracker


def _translation(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


@dataclass
class _Canvas:
    """Background accumulators over a rectangle of frame-0 space."""

    x0: int
    y0: int
    total: np.ndarray  # (h, w, 3) float32 sum of the first sightings
    count: np.ndarray  # (h, w) float32 number of sightings summed

    @property
    def shape(self) -> tuple[int, int]:
        return self.count.shape

    def from_frame(self, to_ref: np.ndarray, crop: Box) -> np.ndarray:
        """Map (crop-of-frame pixel coordinates) -> canvas pixel coordinates."""
        return _translation(-self.x0, -self.y0) @ to_ref @ _translation(crop.x0, crop.y0)

    def mean(self) -> np.ndarray:
        return self.total / np.maximum(self.count, 1)[..., None]


class ClassicalInpainter:
    name = "classical"
    version = "0.2.0"

    def __init__(self, observations: int = 16, spatial_radius: int = 5, match_tone: bool = True):
        if observations < 1:
            raise ValueError("observations must be >= 1")
        self.observations = observations
        self.spatial_radius = spatial_radius
        self.match_tone = match_tone
        self.stats = InpaintStats()
        self.track: MotionTrack | None = None
        # Bicubic: the background is resampled twice (frame -> canvas -> frame) on moving shots,
        # and bilinear blurs fine texture (mortar lines, grain) measurably.
        self.interpolation = cv2.INTER_CUBIC

    def settings(self) -> dict:
        return {"observations": self.observations, "spatial_radius": self.spatial_radius,
                "match_tone": self.match_tone}

    def resources(self) -> dict:
        return {"num_cpus": 1}

    def inpaint(self, shot: ShotFrames) -> Iterator[Fill]:
        if all(box.empty for box in shot.boxes):
            for frame in shot.stream():
                yield Fill(frame, shot.boxes[frame.index], None)
            return
        self.track = self._measure_motion(shot)
        canvas = self._accumulate(shot, self.track)
        mean = canvas.mean() if canvas is not None else None
        for frame in shot.stream():
            box = shot.boxes[frame.index]
            if box.empty:
                yield Fill(frame, box, None)
            else:
                display, spatial = self._fill(shot, frame, box, canvas, mean)
                yield Fill(frame, box, display, unstable=spatial)

    # --- pass 1: camera motion ---------------------------------------------------------

    def _measure_motion(self, shot: ShotFrames) -> MotionTrack:
        tracker = MotionTracker(shot.width, shot.height)
        size = tracker.analysis_size()
        grow = int(np.ceil((shot.feather.band + 4) * tracker.scale))
        for frame in shot.stream():
            # Downscale first: the tracker works at analysis size anyway.
            raw = frame.raw.astype(np.float32) if frame.raw.dtype == np.float16 else frame.raw
            small = shot.to_display(cv2.resize(raw, size, interpolation=cv2.INTER_AREA))
            edit = cv2.resize(quadmask.to_edit(frame.quad).astype(np.uint8), size,
                              interpolation=cv2.INTER_AREA) > 0
            background = ~quadmask.dilate(edit, grow) if edit.any() else np.ones_like(edit)
            tracker.add(small, background)
        if tracker.untracked_frames:
            self.stats.notes.append(
                f"camera motion could not be measured on {tracker.untracked_frames} frame(s); "
                "assumed still")
        return tracker.track()

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
        return Box(int(np.floor(min(ys))) - 2, int(np.ceil(max(ys))) + 2,
                   int(np.floor(min(xs))) - 2, int(np.ceil(max(xs))) + 2)

    def _accumulate(self, shot: ShotFrames, track: MotionTrack) -> _Canvas | None:
        extent = self._canvas_extent(shot, track)
        if extent is None:
            return None
        h, w = extent.y1 - extent.y0, extent.x1 - extent.x0
        canvas = _Canvas(extent.x0, extent.y0, np.zeros((h, w, 3), np.float32),
                         np.zeros((h, w), np.float32))
        for frame in shot.stream():
            self._add_sightings(shot, track, frame, canvas)
        return canvas

    def _source_crop(self, shot: ShotFrames, track: MotionTrack, index: int, canvas: _Canvas) -> Box:
        """The part of frame `index` that lands on the canvas (plus the band, for hole tests)."""
        h, w = canvas.shape
        corners = np.array([[[0, 0], [w, 0], [0, h], [w, h]]], np.float64)
        to_frame = np.linalg.inv(track.to_ref[index]) @ _translation(canvas.x0, canvas.y0)
        mapped = cv2.perspectiveTransform(corners, to_frame)[0]
        box = Box(int(np.floor(mapped[:, 1].min())) - 2, int(np.ceil(mapped[:, 1].max())) + 2,
                  int(np.floor(mapped[:, 0].min())) - 2, int(np.ceil(mapped[:, 0].max())) + 2)
        return Box(max(0, box.y0), min(shot.height, box.y1), max(0, box.x0), min(shot.width, box.x1))

    def _add_sightings(self, shot: ShotFrames, track: MotionTrack, frame: Frame,
                       canvas: _Canvas) -> None:
        crop = self._source_crop(shot, track, frame.index, canvas)
        if crop.empty:
            return
        rows, cols = crop.grown(shot.feather.band, shot.height, shot.width).slices
        hole_context = shot.feather.hole(frame.quad[rows, cols])
        inner = (slice(crop.y0 - rows.start, crop.y1 - rows.start),
                 slice(crop.x0 - cols.start, crop.x1 - cols.start))
        visible = ~hole_context[inner]
        pixels = shot.to_display(frame.raw[crop.slices])
        to_canvas = canvas.from_frame(track.to_ref[frame.index], crop)
        h, w = canvas.shape
        if np.allclose(to_canvas[:2, :2], np.eye(2)) and np.allclose(to_canvas[2], [0, 0, 1]) \
                and np.allclose(to_canvas[:2, 2], np.round(to_canvas[:2, 2])):
            seen, warped_valid = self._place(pixels, visible, to_canvas, (h, w))
        else:
            seen = cv2.warpPerspective(pixels, to_canvas, (w, h), flags=self.interpolation)
            warped_valid = cv2.warpPerspective(visible.astype(np.uint8), to_canvas, (w, h),
                                               flags=cv2.INTER_NEAREST) > 0
            # Drop pixels whose bilinear sample touched the frame edge or the hole.
            warped_valid = cv2.erode(warped_valid.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        take = warped_valid & (canvas.count < self.observations)
        canvas.total[take] += seen[take]
        canvas.count[take] += 1

    @staticmethod
    def _place(pixels: np.ndarray, visible: np.ndarray, to_canvas: np.ndarray,
               shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Integer translation: copy without resampling (a locked-off camera stays exact)."""
        h, w = shape
        dx, dy = int(round(to_canvas[0, 2])), int(round(to_canvas[1, 2]))
        seen = np.zeros((h, w, 3), np.float32)
        valid = np.zeros((h, w), bool)
        sy0, sx0 = max(0, -dy), max(0, -dx)
        cy0, cx0 = max(0, dy), max(0, dx)
        ch = min(h - cy0, pixels.shape[0] - sy0)
        cw = min(w - cx0, pixels.shape[1] - sx0)
        if ch > 0 and cw > 0:
            seen[cy0:cy0 + ch, cx0:cx0 + cw] = pixels[sy0:sy0 + ch, sx0:sx0 + cw]
            valid[cy0:cy0 + ch, cx0:cx0 + cw] = visible[sy0:sy0 + ch, sx0:sx0 + cw]
        return seen, valid

    # --- pass 3: fill ----------------------------------------------------------------------

    def _fill(self, shot: ShotFrames, frame: Frame, box: Box, canvas: _Canvas | None,
              mean: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The box's display fill, and which of its pixels were filled spatially."""
        quad = frame.quad[box.slices]
        hole = shot.feather.hole(quad)
        result = shot.to_display(frame.raw[box.slices])
        covered = np.zeros(hole.shape, bool)
        if canvas is not None and mean is not None:
            sampled, covered = self._sample(canvas, mean, frame.index, box)
            covered &= hole
            if self.match_tone:
                sampled = self._match_tone(sampled, result, covered, hole, quad, shot)
            result[covered] = sampled[covered]
        missing = hole & ~covered
        self.stats.hole_pixels += int(hole.sum())
        self.stats.temporal_pixels += int(covered.sum())
        if missing.any():
            result = self._fill_spatially(result, missing)
            self.stats.spatial_pixels += int(missing.sum())
        return result, missing

    def _sample(self, canvas: _Canvas, mean: np.ndarray, index: int,
                box: Box) -> tuple[np.ndarray, np.ndarray]:
        to_canvas = canvas.from_frame(self.track.to_ref[index], box)
        size = (box.x1 - box.x0, box.y1 - box.y0)
        flags = self.interpolation | cv2.WARP_INVERSE_MAP
        sampled = cv2.warpPerspective(mean, to_canvas, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
        count = cv2.warpPerspective(canvas.count, to_canvas, size,
                                    flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
        return sampled, count > 0

    @staticmethod
    def _match_tone(sampled: np.ndarray, frame: np.ndarray, covered: np.ndarray, hole: np.ndarray,
                    quad: np.ndarray, shot: ShotFrames) -> np.ndarray:
        """Shift the fill by the frame's median difference on the feather ring (exposure drift)."""
        ring = covered & (quad == quadmask.KEEP) & (shot.feather.alpha(quad) < 1.0)
        if ring.sum() < 64:
            return sampled
        offset = np.median(frame[ring] - sampled[ring], axis=0)
        return sampled + offset.astype(np.float32)

    def _fill_spatially(self, display: np.ndarray, hole: np.ndarray) -> np.ndarray:
        # Telea works on 8-bit; only the hole takes its values, the rest keeps full precision.
        codes = np.clip(display * 255.0 + 0.5, 0, 255).astype(np.uint8)
        filled = cv2.inpaint(codes, hole.astype(np.uint8), self.spatial_radius, cv2.INPAINT_TELEA)
        out = display.copy()
        out[hole] = filled[hole].astype(np.float32) / 255.0
        return out
