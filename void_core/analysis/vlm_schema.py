"""The JSON schema the `gemini` analyzer asks Gemini to answer in, and its reply made into an
`Analysis` that fits the shot.

The reply models mirror VOID's stage-2 output (`schema.Analysis`: integral belongings, affected
objects with category, `will_move`, first frame, grid localisations, size and trajectory, scene
description, confidence), but as a *response schema*: every field Gemini must think about is
required (lists may be empty, optional facts are nullable), each carries a description, and
counts and ranges are bounded (`maxItems`, `minimum`) so that constrained decoding keeps the
model inside VOID's limits. `Analysis` itself keeps defaults for every field, which suits files
written by hand but would let a model skip the question.

A reply that parses is still a model's guess, so `fit_to_shot` makes it consistent with the
shot before masks are drawn from it: frame numbers are clamped into the shot, grid cells outside
the grid are dropped (a cell the model invented cannot be drawn), trajectory keyframes are put
in time order, and the echoed instruction is replaced by the one actually given.
"""

from __future__ import annotations

import copy
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from void_core.analysis.schema import (MAX_AFFECTED, MAX_BELONGINGS, MAX_MOVEMENT, MAX_WHY,
                                       AffectedObject, Analysis,
                                       GridCell, GridLocalization, TrajectoryPoint)

__all__ = ["ReplyAnalysis", "fit_to_shot"]


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ReplyCell(_Reply):
    """One grid cell."""

    row: int = Field(ge=0, description="Grid row, 0 at the top.")
    col: int = Field(ge=0, description="Grid column, 0 at the left.")


class ReplyLocalization(_Reply):
    """The cells something covers on one frame."""

    frame: int = Field(ge=0, description="Frame number in the shot (from 0).")
    grid_regions: list[ReplyCell] = Field(
        description="Every grid cell it touches on that frame.")


class ReplySize(_Reply):
    """An extent in grid cells."""

    rows: int = Field(ge=1, description="Height in grid cells, plus one cell of padding.")
    cols: int = Field(ge=1, description="Width in grid cells, plus one cell of padding.")


class ReplyTrajectoryPoint(_Reply):
    """Where a moving object's centre is on one keyframe."""

    frame: int = Field(ge=0, description="Frame number in the shot (from 0).")
    grid_row: int = Field(ge=0, description="Grid row of the object's centre.")
    grid_col: int = Field(ge=0, description="Grid column of the object's centre.")


class ReplyBelonging(_Reply):
    """Something removed together with the object."""

    noun: str = Field(description="Short name, e.g. 'bicycle'.")
    why: str = Field(description="One sentence: why it goes with the object.")


class ReplyAffectedObject(_Reply):
    """Something the removed object caused."""

    noun: str = Field(description="Short name, e.g. 'shadow', 'ball'.")
    category: Literal["physical", "visual_artifact"] = Field(
        description="'visual_artifact' for shadows, reflections, wakes, ripples, splashes, "
                    "footprints; 'physical' for objects it supports or acts on.")
    why: str = Field(description="One sentence: how the removed object causes it.")
    will_move: bool = Field(
        description="Physical objects only: true when it moves (or would move) only because "
                    "of the removed object. Always false for visual artifacts.")
    first_appears_frame: int = Field(
        ge=0, description="First frame where the effect is visible or the object is affected.")
    movement_description: str = Field(
        description="How it moves in the shot, or an empty string.")
    currently_moving: bool | None = Field(
        default=None, description="It already moves when the shot starts.")
    should_have_stayed: bool | None = Field(
        default=None, description="Without the removed object it would have stayed still.")
    original_position_grid: ReplyCell | None = Field(
        default=None, description="Where it rests (or would rest) without the removed object.")
    grid_localizations: list[ReplyLocalization] = Field(
        description="On each sampled frame where it is visible, the cells it covers.")
    object_size_grids: ReplySize | None = Field(
        default=None, description="When will_move: its size in cells plus one cell of padding.")
    trajectory_path: list[ReplyTrajectoryPoint] = Field(
        description="When will_move: 3 to 5 keyframes of its centre, the first at rest; "
                    "otherwise empty.")


class ReplyAnalysis(_Reply):
    """What removing the object involves (VOID's `vlm_analysis.json`)."""

    edit_instruction: str = Field(description="The removal instruction, repeated.")
    integral_belongings: list[ReplyBelonging] = Field(
        max_length=MAX_BELONGINGS,
        description="0 to 3 things removed together with the object.")
    affected_objects: list[ReplyAffectedObject] = Field(
        max_length=MAX_AFFECTED, description="0 to 5 things the object caused.")
    scene_description: str = Field(
        description="1 to 2 sentences: the shot as it looks without the object and its "
                    "effects.")
    confidence: float = Field(ge=0.0, le=1.0, description="0 to 1.")


def fit_to_shot(reply: ReplyAnalysis, *, instruction: str, frame_count: int, rows: int,
                cols: int) -> Analysis:
    """`reply` as an `Analysis` consistent with a shot of `frame_count` frames on a
    `rows` x `cols` grid (see the module docstring)."""
    analysis = Analysis.model_validate(reply.model_dump())
    last = max(frame_count - 1, 0)
    objects = [_fit_object(obj, last, rows, cols) for obj in analysis.affected_objects]
    return analysis.model_copy(update={"edit_instruction": instruction,
                                       "affected_objects": objects})


def _fit_object(obj: AffectedObject, last: int, rows: int, cols: int) -> AffectedObject:
    def frame(value: int) -> int:
        return min(max(value, 0), last)

    def inside(row: int, col: int) -> bool:
        return row < rows and col < cols

    localizations = [
        GridLocalization(frame=frame(loc.frame),
                         grid_regions=[cell for cell in loc.grid_regions
                                       if inside(cell.row, cell.col)])
        for loc in obj.grid_localizations]
    path = sorted((TrajectoryPoint(frame=frame(p.frame), grid_row=p.grid_row, grid_col=p.grid_col)
                   for p in obj.trajectory_path if inside(p.grid_row, p.grid_col)),
                  key=lambda point: point.frame)
    original = obj.original_position_grid
    if original is not None and not inside(original.row, original.col):
        original = None
    return obj.model_copy(update={
        "first_appears_frame": frame(obj.first_appears_frame),
        "grid_localizations": [loc for loc in localizations if loc.grid_regions],
        "trajectory_path": path,
        "original_position_grid": GridCell(row=original.row, col=original.col)
        if original else None,
    })


# --- the schema a local model is decoded against ----------------------------------------------

NOUN_CHARS = 40
SCENE_CHARS = 500
CELLS_PER_FRAME = 24  # grid cells listed per localisation (VOID's artifacts span a few)
TRAJECTORY_POINTS = 5


def decoding_schema(*, rows: int, cols: int, frame_count: int, sample_count: int,
                    instruction: str) -> dict:
    """`ReplyAnalysis`'s JSON schema narrowed to one shot, for constrained decoding.

    Every bound that keeps an answer drawable and finite is written into the schema, so that a
    token-level grammar enforces it: grid rows and columns inside the grid, frame numbers
    inside the shot, text no longer than VOID keeps (`schema.MAX_WHY`, `MAX_MOVEMENT`), at most
    one localisation per sample frame, no unknown keys, and the instruction echoed verbatim
    (`fit_to_shot` replaces it anyway; a constant costs the model no choices). Without such
    bounds a weak model could write one string until the token budget ends.
    """
    schema = copy.deepcopy(ReplyAnalysis.model_json_schema())
    defs = schema["$defs"]
    last_frame = max(frame_count - 1, 0)
    for definition in [schema, *defs.values()]:
        definition["additionalProperties"] = False
        for field in definition["properties"].values():
            field.pop("title", None)
            field.pop("description", None)
    _bound(defs["ReplyCell"], row=rows - 1, col=cols - 1)
    _bound(defs["ReplyTrajectoryPoint"], frame=last_frame, grid_row=rows - 1, grid_col=cols - 1)
    _bound(defs["ReplyLocalization"], frame=last_frame)
    _bound(defs["ReplySize"], rows=rows, cols=cols)
    _bound(defs["ReplyAffectedObject"], first_appears_frame=last_frame)
    _limit(defs["ReplyLocalization"], grid_regions=CELLS_PER_FRAME)
    _limit(defs["ReplyAffectedObject"], grid_localizations=max(sample_count, 1),
           trajectory_path=TRAJECTORY_POINTS)
    for name in ("ReplyBelonging", "ReplyAffectedObject"):
        _text(defs[name], noun=(1, NOUN_CHARS), why=(0, MAX_WHY))
    _text(defs["ReplyAffectedObject"], movement_description=(0, MAX_MOVEMENT))
    _text(schema, scene_description=(0, SCENE_CHARS))
    schema["properties"]["edit_instruction"] = {"const": instruction}
    return schema


def _bound(definition: dict, **maxima: int) -> None:
    for name, maximum in maxima.items():
        definition["properties"][name]["maximum"] = max(maximum, 0)


def _limit(definition: dict, **max_items: int) -> None:
    for name, count in max_items.items():
        definition["properties"][name]["maxItems"] = count


def _text(definition: dict, **lengths: tuple[int, int]) -> None:
    for name, (shortest, longest) in lengths.items():
        definition["properties"][name].update(minLength=shortest, maxLength=longest)
