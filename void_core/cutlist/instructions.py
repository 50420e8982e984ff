"""The removal-instruction grammar of cut lists.

Plain words: a marker name/comment, EDL `* LOC:` text or `* COMMENT:` that starts with the keyword
`VOID:` (any case, optional spaces) carries the instruction: `VOID: remove the boom mic`.

Structured: a dict under `"void"` in marker or clip metadata with the keys of `points.json`
(`frame`, `points`, `labels`, `box`) plus `remove` (the instruction), `bg` (the scene after
removal) and `shot` (the shot name). Each field is validated on its own: a bad field is reported
and dropped, the rest is kept.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

VOID_KEY = "void"
KNOWN_KEYS = ("remove", "bg", "shot", "frame", "points", "labels", "box", "colorspace")

_KEYWORD = re.compile(r"^\s*void\s*:\s*(?P<text>.*?)\s*$", re.IGNORECASE | re.DOTALL)


def void_text(text: str | None) -> str | None:
    """The instruction after a leading `VOID:` keyword ("" when nothing follows), else None."""
    if not text:
        return None
    match = _KEYWORD.match(text)
    return match.group("text") if match else None


@dataclass
class StructuredVoid:
    """The valid parts of one `"void"` metadata dict, and what was wrong with the rest."""

    remove: str | None = None
    bg: str | None = None
    shot: str | None = None
    frame: int | None = None
    points: list[list[float]] | None = None
    labels: list[int] | None = None
    box: list[float] | None = None
    colorspace: str | None = None  # the clip's input colour space (an OCIO name)
    errors: list[str] = field(default_factory=list)

    @property
    def has_prompt(self) -> bool:
        return self.points is not None or self.box is not None

    def prompt(self, default_frame: int) -> dict[str, Any]:
        """The `points.json`-shaped prompt; labels default to 1 (positive) per point."""
        points = self.points or []
        labels = self.labels if self.labels is not None else [1] * len(points)
        prompt: dict[str, Any] = {
            "frame": self.frame if self.frame is not None else default_frame,
            "points": points,
            "labels": labels,
        }
        if self.box is not None:
            prompt["box"] = self.box
        return prompt


def parse_structured(data: Any, frame_count: int | None) -> StructuredVoid:
    """Validate a `"void"` metadata value; `frame_count` bounds `frame` when known."""
    data = to_plain(data)
    result = StructuredVoid()
    if not isinstance(data, Mapping):
        result.errors.append(f"'void' metadata must be a dict, got {_describe(data)}")
        return result
    unknown = sorted(str(key) for key in data if key not in KNOWN_KEYS)
    if unknown:
        result.errors.append(f"unknown key(s) {', '.join(unknown)} in 'void' metadata "
                             f"(known: {', '.join(KNOWN_KEYS)})")
    for key in ("remove", "bg", "shot", "colorspace"):
        if key in data:
            setattr(result, key, _checked(result, key, data[key], _text))
    if "frame" in data:
        result.frame = _checked(result, "frame", data["frame"], lambda v: _frame(v, frame_count))
    if "points" in data:
        result.points = _checked(result, "points", data["points"], _points)
    if "labels" in data:
        result.labels = _checked(result, "labels", data["labels"],
                                 lambda v: _labels(v, result.points))
    if "box" in data:
        result.box = _checked(result, "box", data["box"], _box)
    return result


def to_plain(value: Any) -> Any:
    """OTIO's AnyDictionary/AnyVector as plain dicts and lists (they are not `list`s)."""
    if isinstance(value, Mapping):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [to_plain(item) for item in value]
    return value


def _checked(result: StructuredVoid, key: str, value: Any, check) -> Any:
    try:
        return check(value)
    except ValueError as err:
        result.errors.append(f"void.{key} {err}")
        return None


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, got {_describe(value)}")
    return value.strip()


def _frame(value: Any, frame_count: int | None) -> int:
    if not _is_int(value) or value < 0:
        raise ValueError(f"must be a frame number >= 0 counted within the shot, "
                         f"got {_describe(value)}")
    if frame_count is not None and value >= frame_count:
        raise ValueError(f"is {value} but the shot has {frame_count} frames (0-{frame_count - 1})")
    return int(value)


def _points(value: Any) -> list[list[float]]:
    pairs_ok = isinstance(value, list) and value and all(
        isinstance(p, list | tuple) and len(p) == 2 and all(_is_coordinate(c) for c in p)
        for p in value)
    if not pairs_ok:
        raise ValueError(f"must be a non-empty list of [x, y] pixel pairs (>= 0), "
                         f"got {_describe(value)}")
    return [[_number(x), _number(y)] for x, y in value]


def _labels(value: Any, points: list[list[float]] | None) -> list[int]:
    if points is None:
        raise ValueError("given without valid 'points'")
    if not isinstance(value, list) or not all(_is_int(v) and v in (0, 1) for v in value):
        raise ValueError(f"must be a list of 1 (keep) / 0 (exclude), got {_describe(value)}")
    if len(value) != len(points):
        raise ValueError(f"has {len(value)} entries but there are {len(points)} points")
    return [int(v) for v in value]


def _box(value: Any) -> list[float]:
    if not (isinstance(value, list | tuple) and len(value) == 4
            and all(_is_coordinate(c) for c in value)):
        raise ValueError(f"must be [x0, y0, x1, y1] in pixels, got {_describe(value)}")
    x0, y0, x1, y1 = (_number(c) for c in value)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"must have x0 < x1 and y0 < y1, got {list(value)}")
    return [x0, y0, x1, y1]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_coordinate(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and value >= 0)


def _number(value: float) -> float | int:
    """Keep integral pixel positions as ints so JSON reads `[120, 64]`."""
    return int(value) if float(value).is_integer() else float(value)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
