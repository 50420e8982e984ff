"""The segmenter itself: ingest, seeds, tracking and output in order (see the package docstring)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from void_core.engines import WithoutModels
from void_core.errors import MaskError
from void_core.masking.classical.evidence import REFERENCE_COUNT, REFERENCE_WINDOW
from void_core.masking.classical.frames import (CLICK_DISC_PIXELS, INGEST_SHARE, Anchor,
                                                FrameStore, Geometry, analysis_rgb,
                                                analysis_track)
from void_core.masking.classical.output import write_masks
from void_core.masking.classical.tracker import ObjectTracker
from void_core.masking.prompt import (ClickPrompt, ProgressCallback, SegmentResult,
                                      validate_prompts)
from void_core.media.plate import Plate
from void_core.motion import ANALYSIS_WIDTH, MotionTracker
from void_core.progress import Progress

class ClassicalSegmenter(WithoutModels):
    """Click/box -> primary mask on every frame, with no model weights (see the package docstring)."""

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
        progress = Progress(on_progress, info.frame_count)
        with tempfile.TemporaryDirectory(prefix="void-mask-") as folder:
            store, geometry = self._ingest(plate, Path(folder), progress)
            notes = self._segment_store(store, geometry, prompts, progress)
            result = write_masks(plate, store, geometry, Path(out_path), progress)
        seconds = time.perf_counter() - started
        notes.append(f"{geometry.frame_count} frames in {seconds:.1f} s "
                     f"({seconds / max(1, geometry.frame_count):.3f} s/frame), analysed at "
                     f"{geometry.analysis_width}x{geometry.analysis_height}")
        result.notes.extend(notes)
        return result

    def _ingest(self, plate: Plate, folder: Path,
                progress: Progress) -> tuple[FrameStore, Geometry]:
        """Step 1: decode once, keep analysis-size frames on disk, measure the camera."""
        info = plate.info
        tracker = MotionTracker(info.width, info.height)
        width, height = tracker.analysis_size()
        store = FrameStore(folder, info.frame_count, height, width)
        everywhere = np.ones((height, width), bool)
        count = 0
        for raw in plate.frames():
            if count == info.frame_count:
                break
            small = analysis_rgb(plate, raw, width, height)
            store.frames[count] = small
            tracker.add(small.astype(np.float32) / 255.0, everywhere)
            count += 1
            progress.advance(INGEST_SHARE)
        if count == 0:
            raise MaskError(info.path, "the plate has no frames to mask")
        to_ref = analysis_track(tracker.track(), tracker.scale)
        return store, Geometry(info.width, info.height, width, height, tracker.scale, to_ref)

    def _segment_store(self, store: FrameStore, geometry: Geometry,
                       prompts: Sequence[ClickPrompt], progress: Progress) -> list[str]:
        """Steps 2-5: every frame's mask at analysis resolution, into the store; notes."""
        anchors = [Anchor.from_prompt(p, geometry.scale) for p in prompts]
        tracker = ObjectTracker(store, geometry, self.references, self.reference_window,
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

