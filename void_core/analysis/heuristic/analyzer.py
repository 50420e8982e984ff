"""The analyzer: the three passes in order, and VOID's analysis built from what they found."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from void_core import quadmask
from void_core.analysis.heuristic.background import Background
from void_core.analysis.heuristic.detect import GuardEstimate, compare, shadow_region
from void_core.analysis.heuristic.push import PushTracker, push_step
from void_core.analysis.heuristic.survey import (FrameCache, Survey, analysis_size, stream,
                                                 survey_shot)
from void_core.analysis.masks import RegionTrack, cell_of, grid_cells
from void_core.analysis.schema import (AffectedObject, Analysis, GridCell, GridLocalization,
                                       GridSize, TrajectoryPoint)
from void_core.engines import WithoutModels
from void_core.imaging import distance_from
from void_core.progress import Progress, ProgressCallback

PASSES = 3
# VOID samples its reference frames at these shares of the shot.
_REFERENCE_SHARES = (0.0, 0.11, 0.22, 0.33, 0.44, 0.56, 0.67, 0.78, 0.89, 1.0)


class HeuristicAnalyzer(WithoutModels):
    """Shadow and contact analysis of a plate; see the package docstring."""

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
        size = analysis_size(plate.info.width, plate.info.height, self.analysis_width)
        progress = Progress(on_progress, PASSES * max(plate.info.frame_count, 1))
        with FrameCache(size) as cache:
            survey = survey_shot(cache.keep(stream(plate, mask_path, size)), size, progress.advance)
            progress.resize(PASSES * survey.frame_count)
            background = self._background(cache, size, survey, progress.advance)
            shadow, push, known_share = self._detect(cache, size, survey, background,
                                                     progress.advance)
        objects = self._shadow_object(shadow, survey) + self._pushed_object(push, size)
        confidence = known_share * (1 - survey.untracked / max(survey.frame_count, 1))
        return Analysis(edit_instruction=instruction, affected_objects=objects,
                        scene_description=_scene_description(objects),
                        confidence=round(float(np.clip(confidence, 0, 1)), 3))

    # passes 2 and 3

    def _background(self, cache: FrameCache, size, survey: Survey, tick) -> Background:
        background = Background(survey.track, size, self.reference_frames)
        far_radius = survey.reach.shadow_extent(self.shadow_reach)
        for frame in cache.frames():
            background.add(frame, distance_from(frame.primary), far_radius, survey.reach.guard)
            tick()
        background.finish()
        return background

    def _detect(self, cache: FrameCache, size, survey: Survey, background: Background,
                tick) -> tuple[RegionTrack, PushTracker, float]:
        reach = survey.reach
        shadow = RegionTrack(*size, survey.frame_count)
        push = PushTracker(reach, background, RegionTrack(*size, survey.frame_count))
        far_radius = reach.shadow_extent(self.shadow_reach)
        guard = GuardEstimate(reach)
        previous_rgb, known_shares = None, []
        for frame in cache.frames():
            distance = distance_from(frame.primary)
            cmp = compare(frame, background, distance > far_radius, self)
            zones = guard.update(distance, cmp.changed)
            found = shadow_region(cmp, zones, reach, self.shadow_reach)
            shadow.set(frame.index, found)
            push.push(push_step(frame.index, cmp, zones, found, previous_rgb, background, reach))
            previous_rgb = cmp.rgb
            visible = ~frame.primary
            known_shares.append(float((cmp.known_far & visible).sum() / max(visible.sum(), 1)))
            tick()
        push.finish()
        return shadow, push, float(np.mean(known_shares)) if known_shares else 0.0

    # building the analysis

    def _shadow_object(self, region: RegionTrack, survey: Survey) -> list[AffectedObject]:
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

    def _pushed_object(self, push: PushTracker, size: tuple[int, int]) -> list[AffectedObject]:
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
