"""What a masking engine is given and what it returns.

In: `ClickPrompt`s (positive/negative clicks and an optional box on one frame), read from a
`points.json` beside the video (void-farm's format, or VOID's `*_points.json`) or parsed from the
CLI's `--point X,Y[@FRAME]` / `--box X0,Y0,X1,Y1[@FRAME]`, and checked against the plate.
Out: a primary ("black") mask video (0 = object, 255 = background) and a `SegmentResult` with
per-frame stats and notes. Coordinates are source-frame pixels; frames count from 0 in the shot.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from void_core.errors import InputError
from void_core.imaging import bbox
from void_core.progress import ProgressCallback  # noqa: F401  (re-exported: engines import it here)

Point = tuple[float, float]
Box = tuple[float, float, float, float]

_NO_PROMPT_HINT = ("put a points.json beside the video ({\"frame\": 0, \"points\": [[x, y]], "
                   "\"labels\": [1]}), or pass --point X,Y[@FRAME] or --box X0,Y0,X1,Y1[@FRAME], "
                   "or give a quadmask")


@dataclass(frozen=True)
class ClickPrompt:
    """Clicks (label 1 on the object, 0 off it) and/or a box around it, on one frame."""

    frame: int
    points: tuple[Point, ...] = ()
    labels: tuple[int, ...] = ()
    box: Box | None = None

    def __post_init__(self) -> None:
        if len(self.points) != len(self.labels):
            raise ValueError(f"{len(self.points)} points but {len(self.labels)} labels")

    def to_json(self) -> dict:
        """As one entry of `points.json` (what `read_points_json` reads back)."""
        entry: dict = {"frame": self.frame, "points": [list(p) for p in self.points],
                       "labels": list(self.labels)}
        if self.box is not None:
            entry["box"] = list(self.box)
        return entry

    @property
    def positive_points(self) -> tuple[Point, ...]:
        return tuple(p for p, label in zip(self.points, self.labels) if label == 1)

    @property
    def negative_points(self) -> tuple[Point, ...]:
        return tuple(p for p, label in zip(self.points, self.labels) if label == 0)


@dataclass(frozen=True)
class FrameStats:
    """One frame of a primary mask: object pixels and their bounding box (x0, y0, x1, y1),
    exclusive end; None when the object is not in the frame."""

    index: int
    area: int
    bbox: tuple[int, int, int, int] | None

    @classmethod
    def of(cls, index: int, mask: np.ndarray) -> FrameStats:
        area = int(mask.sum())
        return cls(index, area, bbox(mask) if area else None)


@dataclass
class SegmentResult:
    """What a segmenter wrote and how it went."""

    path: Path
    width: int
    height: int
    frames: list[FrameStats] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def frame_count(self) -> int:
        return len(self.frames)

    @property
    def empty_frames(self) -> int:
        return sum(1 for stats in self.frames if stats.area == 0)


# ---- reading points.json ------------------------------------------------------------------

def prompts_from_json(entries: dict | list, source: Path | None = None) -> list[ClickPrompt]:
    """Prompts from void-farm's `points.json` shape, already parsed (one object or a list)."""
    entries = entries if isinstance(entries, list) else [entries]
    return [_farm_prompt(source, entry, index) for index, entry in enumerate(entries)]


def read_points_json(path: str | Path) -> list[ClickPrompt]:
    """Prompts from void-farm's `points.json` (one object or a list of them) or VOID's
    `*_points.json` (`primary_points_by_frame`, or the older flat `primary_points`; all clicks
    positive; of a `videos` list or a bare list of video entries, the first entry).

    Raises:
        InputError: the file is missing, is not JSON, or holds no usable prompt.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(path, "points file not found", _NO_PROMPT_HINT) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(path, f"cannot read the points file ({err})",
                         "it must be JSON like {\"frame\": 0, \"points\": [[x, y]], "
                         "\"labels\": [1]}") from None
    entries = data if isinstance(data, list) else [data]
    if entries and isinstance(entries[0], dict) and "videos" in entries[0]:
        entries = entries[0]["videos"] or []
    first = entries[0] if entries and isinstance(entries[0], dict) else {}
    if "primary_points_by_frame" in first:
        prompts = _void_prompts(path, first["primary_points_by_frame"])
    elif "primary_points" in first:  # VOID's older flat list, on the first frame it names
        frame = first.get("first_appears_frame", 0)
        prompts = _void_prompts(path, {frame: first["primary_points"]})
    else:
        prompts = prompts_from_json(entries, path)
    if not prompts:
        raise InputError(path, "the points file holds no click or box", _NO_PROMPT_HINT)
    return prompts


def _farm_prompt(path: Path, entry: object, index: int) -> ClickPrompt:
    where = f"prompt {index + 1}" if index else "prompt"
    if not isinstance(entry, dict):
        raise InputError(path, f"{where} must be an object with \"frame\", \"points\", "
                               f"\"labels\" (and optional \"box\"), got {entry!r}")
    frame = _frame_number(path, entry.get("frame", 0), where)
    points = tuple(_point(path, value, f"{where}: point {n + 1}")
                   for n, value in enumerate(entry.get("points") or []))
    labels = entry.get("labels")
    if labels is None:
        labels = [1] * len(points)
    if not isinstance(labels, list) or len(labels) != len(points):
        raise InputError(path, f"{where}: \"labels\" must list one 1 or 0 per point "
                               f"({len(points)} points), got {labels!r}")
    for label in labels:
        if label not in (0, 1) or isinstance(label, bool):
            raise InputError(path, f"{where}: labels must be 1 (on the object) or 0 (off it), "
                                   f"got {label!r}")
    box = entry.get("box")
    box = None if box is None else _box(path, box, f"{where}: box")
    if not points and box is None:
        raise InputError(path, f"{where} has neither points nor a box", _NO_PROMPT_HINT)
    return ClickPrompt(frame, points, tuple(int(label) for label in labels), box)


def _void_prompts(path: Path, by_frame: object) -> list[ClickPrompt]:
    if not isinstance(by_frame, dict) or not by_frame:
        raise InputError(path, "primary_points_by_frame must map frame numbers to [[x, y], ...]",
                         _NO_PROMPT_HINT)
    prompts = []
    for key, values in by_frame.items():
        frame = _frame_number(path, key, f"primary_points_by_frame[{key!r}]")
        if not isinstance(values, list) or not values:
            raise InputError(path, f"primary_points_by_frame[{key!r}] must be a list of [x, y]")
        points = tuple(_point(path, value, f"frame {frame}: point {n + 1}")
                       for n, value in enumerate(values))
        prompts.append(ClickPrompt(frame, points, (1,) * len(points)))
    return sorted(prompts, key=lambda prompt: prompt.frame)


def _frame_number(path: Path | None, value: object, where: str) -> int:
    try:
        frame = int(value) if not isinstance(value, (bool, float)) else None
    except (TypeError, ValueError):
        frame = None
    if frame is None or frame < 0:
        raise InputError(path, f"{where}: frame must be a whole number >= 0, got {value!r}")
    return frame


def _numbers(path: Path | None, value: object, count: int, where: str, shape: str) -> tuple:
    if not isinstance(value, (list, tuple)) or len(value) != count:
        raise InputError(path, f"{where} must be {shape}, got {value!r}")
    numbers = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item):
            raise InputError(path, f"{where} must be {shape} (numbers), got {value!r}")
        numbers.append(float(item))
    return tuple(numbers)


def _point(path: Path | None, value: object, where: str) -> Point:
    return _numbers(path, value, 2, where, "[x, y]")


def _box(path: Path | None, value: object, where: str) -> Box:
    x0, y0, x1, y1 = _numbers(path, value, 4, where, "[x0, y0, x1, y1]")
    if x1 <= x0 or y1 <= y0:
        raise InputError(path, f"{where} {list(value)} is empty: x1 must exceed x0 and y1 y0")
    return x0, y0, x1, y1


# ---- CLI options --------------------------------------------------------------------------

def parse_point_option(text: str, *, label: int = 1) -> ClickPrompt:
    """`--point X,Y[@FRAME]` (frame 0 when omitted) -> a one-click prompt."""
    coords, frame = _split_frame(text, "--point", "X,Y[@FRAME]")
    values = _option_numbers(coords, 2, "--point", "X,Y[@FRAME]", text)
    return ClickPrompt(frame, (values,), (label,))


def parse_box_option(text: str) -> ClickPrompt:
    """`--box X0,Y0,X1,Y1[@FRAME]` (frame 0 when omitted) -> a box prompt."""
    coords, frame = _split_frame(text, "--box", "X0,Y0,X1,Y1[@FRAME]")
    x0, y0, x1, y1 = _option_numbers(coords, 4, "--box", "X0,Y0,X1,Y1[@FRAME]", text)
    if x1 <= x0 or y1 <= y0:
        raise InputError(None, f"--box {text!r} is empty: X1 must exceed X0 and Y1 Y0")
    return ClickPrompt(frame, (), (), (x0, y0, x1, y1))


def merge_prompts(prompts: Sequence[ClickPrompt]) -> list[ClickPrompt]:
    """One prompt per frame: clicks of the same frame joined, the last box kept."""
    by_frame: dict[int, ClickPrompt] = {}
    for prompt in prompts:
        old = by_frame.get(prompt.frame)
        if old is None:
            by_frame[prompt.frame] = prompt
            continue
        by_frame[prompt.frame] = ClickPrompt(prompt.frame, old.points + prompt.points,
                                             old.labels + prompt.labels, prompt.box or old.box)
    return [by_frame[frame] for frame in sorted(by_frame)]


def _split_frame(text: str, option: str, shape: str) -> tuple[str, int]:
    coords, at, frame_text = str(text).strip().partition("@")
    if not at:
        return coords, 0
    frame_text = frame_text.strip()
    if not frame_text.isdigit():
        raise InputError(None, f"{option} {text!r}: the frame after '@' must be a whole number "
                               f">= 0 (format {shape})")
    return coords, int(frame_text)


def _option_numbers(coords: str, count: int, option: str, shape: str, text: str) -> tuple:
    parts = [part.strip() for part in coords.split(",")]
    try:
        values = tuple(float(part) for part in parts)
    except ValueError:
        values = ()
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise InputError(None, f"{option} {text!r} is not {shape} (pixels, e.g. "
                               f"{'320,180@12' if count == 2 else '280,140,360,220@12'})")
    return values


# ---- validation ---------------------------------------------------------------------------

def validate_prompts(prompts: Sequence[ClickPrompt], width: int, height: int,
                     frame_count: int, *, source: str | Path | None = None) -> list[ClickPrompt]:
    """Check prompts against the plate; return them merged to one per frame.

    Raises:
        InputError: no prompt, a prompt without a positive click or box, a frame past the
            end, or a click or box outside the frame (the message names which and why).
    """
    if not prompts:
        raise InputError(source, "no click or box says which object to mask", _NO_PROMPT_HINT)
    for prompt in prompts:
        _check_frame(prompt, frame_count, source)
        for number, (point, label) in enumerate(zip(prompt.points, prompt.labels), start=1):
            _check_point(prompt.frame, number, point, label, width, height, source)
        if prompt.box is not None:
            _check_box(prompt.frame, prompt.box, width, height, source)
    merged = merge_prompts(prompts)
    if not any(prompt.positive_points or prompt.box for prompt in merged):
        raise InputError(source, "only negative clicks (label 0) were given: nothing says which "
                                 "object to mask", "add a positive click (label 1) or a box")
    return merged


def _check_frame(prompt: ClickPrompt, frame_count: int, source) -> None:
    if not 0 <= prompt.frame < frame_count:
        raise InputError(source, f"prompt on frame {prompt.frame}, but the shot has "
                                 f"{frame_count} frames (0..{frame_count - 1})",
                         "give a frame number counted from 0 within the shot")


def _check_point(frame: int, number: int, point: Point, label: int, width: int, height: int,
                 source) -> None:
    x, y = point
    if not (0 <= x < width and 0 <= y < height):
        kind = "positive" if label == 1 else "negative"
        raise InputError(source, f"{kind} click {number} ({x:g}, {y:g}) on frame {frame} is "
                                 f"outside the {width}x{height} frame",
                         f"give pixel coordinates with 0 <= x < {width} and 0 <= y < {height}")


def _check_box(frame: int, box: Box, width: int, height: int, source) -> None:
    x0, y0, x1, y1 = box
    if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
        raise InputError(source, f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) on frame {frame} lies "
                                 f"outside the {width}x{height} frame",
                         "give the box in pixels of the source frame")
