"""VOID's stage-2 analysis JSON (`vlm_analysis.json`) as pydantic v2 models.

The shape is what VOID's `parse_vlm_response` keeps from Gemini: the edit instruction, up to 3
integral belongings, up to 5 affected objects (a `visual_artifact` such as a shadow, or a
`physical` object, with grid localisations and, for objects that move, a size and trajectory on
VOID's grid), a description of the scene after removal, and a confidence. Every analysis engine
(the Gemini one and the CPU `heuristic`) produces an `Analysis`; the grey-mask writer consumes it.

Validation is strict about types, ranges and the category; free text is truncated to VOID's
limits rather than rejected (a VLM's long sentence should not fail a shot) and unknown keys are
ignored (VOID's samples carry extra ones). Pixel regions an engine measured travel with each
`AffectedObject` as a private attribute: they are not part of the JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, ValidationError,
                      field_validator)

from void_core.errors import InputError

__all__ = ["AffectedObject", "Analysis", "GridCell", "GridLocalization", "GridSize",
           "IntegralBelonging", "TrajectoryPoint", "read_analysis"]

MAX_BELONGINGS = 3
MAX_AFFECTED = 5
MAX_WHY = 200
MAX_MOVEMENT = 300

Category = Literal["physical", "visual_artifact"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


def _truncate(limit: int):
    def check(value: Any) -> Any:
        return value[:limit] if isinstance(value, str) else value
    return check


class GridCell(_Model):
    """One cell of VOID's grid (row 0 at the top, column 0 at the left)."""

    row: int = Field(ge=0)
    col: int = Field(ge=0)


class GridLocalization(_Model):
    """The cells an artifact occupies on one reference frame."""

    frame: int = Field(ge=0)
    grid_regions: list[GridCell] = Field(default_factory=list)


class GridSize(_Model):
    """An object's extent in grid cells (VOID pads it by one cell)."""

    rows: int = Field(ge=1)
    cols: int = Field(ge=1)


class TrajectoryPoint(_Model):
    """Where a moving object's centre is on one keyframe."""

    frame: int = Field(ge=0)
    grid_row: int = Field(ge=0)
    grid_col: int = Field(ge=0)


class IntegralBelonging(_Model):
    """Something removed together with the subject (a bike, a hat)."""

    noun: str = Field(min_length=1)
    why: str = ""

    _cap_why = field_validator("why", mode="before")(_truncate(MAX_WHY))


class AffectedObject(_Model):
    """Something the subject caused: a visual artifact, or a physical object it acts on."""

    noun: str = Field(min_length=1)
    category: Category
    why: str = ""
    will_move: bool = False
    first_appears_frame: int = Field(default=0, ge=0)
    movement_description: str = ""
    currently_moving: bool | None = None
    should_have_stayed: bool | None = None
    original_position_grid: GridCell | None = None
    grid_localizations: list[GridLocalization] = Field(default_factory=list)
    object_size_grids: GridSize | None = None
    trajectory_path: list[TrajectoryPoint] = Field(default_factory=list)

    # Per-frame pixel regions measured by an engine (`masks.RegionTrack`); not serialised.
    _region: Any = PrivateAttr(default=None)

    _cap_why = field_validator("why", mode="before")(_truncate(MAX_WHY))
    _cap_movement = field_validator("movement_description", mode="before")(
        _truncate(MAX_MOVEMENT))

    @field_validator("noun")
    @classmethod
    def _lower_noun(cls, value: str) -> str:
        return value.lower()

    @property
    def region(self):
        """The measured per-frame region (`masks.RegionTrack`), or None (e.g. from a VLM)."""
        return self._region

    def with_region(self, region) -> AffectedObject:
        self._region = region
        return self


class Analysis(_Model):
    """What the subject's removal involves: VOID's `vlm_analysis.json`."""

    edit_instruction: str = ""
    integral_belongings: list[IntegralBelonging] = Field(default_factory=list,
                                                         max_length=MAX_BELONGINGS)
    affected_objects: list[AffectedObject] = Field(default_factory=list, max_length=MAX_AFFECTED)
    scene_description: str = ""
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)


def read_analysis(path: str | Path) -> Analysis:
    """Load a `vlm_analysis.json`.

    Raises:
        InputError: the file is missing, not JSON, or not shaped like VOID's analysis.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise InputError(path, f"cannot read the analysis ({err.strerror or err})") from None
    try:
        return Analysis.model_validate_json(text)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "top level"
        raise InputError(path, f"not a VOID analysis: {where}: {first['msg']}",
                         "see vlm_analysis.json in VOID's stage 2 for the expected keys"
                         ) from None
