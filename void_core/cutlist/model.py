"""What a cut list becomes: `ShotSpec`s inside a `CutList`, plus the exact-rate and timecode
helpers they share.

Times stay OTIO `RationalTime`/`TimeRange`; rates are `Fraction`s so NTSC rates stay exact
(24000/1001, never 23.976). `to_json()` turns both into plain JSON values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio
from opentimelineio.opentime import RationalTime, TimeRange

from void_core.errors import InputError

# Integer rates whose NTSC variant (n * 1000/1001) is in use; only 30 and 60 count drop-frame.
_NTSC_BASES = (24, 30, 48, 60, 96, 120)
_DROP_FRAME_RATES = (Fraction(30000, 1001), Fraction(60000, 1001))
_NTSC_TOLERANCE = 0.01  # 23.98 and 23.976 both mean 24000/1001


def exact_rate(value: int | float | str | Fraction) -> Fraction:
    """A frame rate as an exact `Fraction`; decimal NTSC spellings snap to n*1000/1001.

    Accepts 24, "25", "24000/1001", "23.976", "23.98", "29.97", 59.94 or the float OTIO stores
    (23.976023976023978).

    Raises:
        InputError: the value is not a positive number.
    """
    try:
        rate = Fraction(value.strip() if isinstance(value, str) else value)
    except (ValueError, TypeError, ZeroDivisionError):
        raise InputError(None, f"frame rate {value!r} is not a number",
                         "use e.g. 24, 25, 23.976 or 24000/1001") from None
    if rate <= 0:
        raise InputError(None, f"frame rate {value!r} must be positive")
    if rate.denominator == 1:
        return rate
    for base in _NTSC_BASES:
        ntsc = Fraction(base * 1000, 1001)
        if abs(float(rate - ntsc)) < _NTSC_TOLERANCE:
            return ntsc
    return rate.limit_denominator(1001)


def is_drop_frame_rate(rate: Fraction) -> bool:
    """True for the rates that have a drop-frame timecode (29.97 and 59.94)."""
    return rate in _DROP_FRAME_RATES


def rate_text(rate: Fraction) -> str:
    """"24", "25" or "24000/1001": how a rate is written in JSON and tables."""
    return str(rate)


def frames_at(time: RationalTime, rate: Fraction) -> int:
    """`time` as a whole frame count at `rate` (rounded, not truncated)."""
    return round(time.value_rescaled_to(float(rate)))


def timecode(time: RationalTime, rate: Fraction, drop_frame: bool = False) -> str | None:
    """SMPTE timecode of `time`, or None when the rate or a negative time has none."""
    try:
        return RationalTime(frames_at(time, rate), float(rate)).to_timecode(
            float(rate), drop_frame and is_drop_frame_rate(rate))
    except (ValueError, TypeError):
        return None


def range_json(time_range: TimeRange, drop_frame: bool = False) -> dict[str, Any]:
    """`{"start", "duration", "rate", "start_tc", "end_tc"}`; frames at the range's own rate,
    `end_tc` exclusive as in an EDL."""
    rate = exact_rate(time_range.start_time.rate)
    end = time_range.end_time_exclusive()
    return {
        "start": frames_at(time_range.start_time, rate),
        "duration": frames_at(time_range.duration, rate),
        "rate": rate_text(rate),
        "start_tc": timecode(time_range.start_time, rate, drop_frame),
        "end_tc": timecode(end, rate, drop_frame),
    }


def tc_span(time_range: TimeRange, drop_frame: bool = False) -> str:
    """"01:00:00:00-01:00:02:00" (out exclusive), or frame numbers when no timecode exists."""
    rate = exact_rate(time_range.start_time.rate)
    start = timecode(time_range.start_time, rate, drop_frame)
    end = timecode(time_range.end_time_exclusive(), rate, drop_frame)
    if start is None or end is None:
        first = frames_at(time_range.start_time, rate)
        return f"{first}-{first + frames_at(time_range.duration, rate)}"
    return f"{start}-{end}"


@dataclass(frozen=True)
class ShotSpec:
    """One clip of a video track, ready to become a cleanup job.

    `source_range` is in the media's time (TC-based for EDLs); `record_range` is where the clip
    sits in the cut (starting at the record TC for EDLs, at the timeline's global start for OTIO).
    `source_start_frame` names the output EXRs: the image number for image sequences, else the
    source-in frame count. `event` is the EDL event number, else the 1-based clip index on its
    track. `prompt` holds validated clicks `{"frame", "points", "labels"[, "box"]}`.
    """

    name: str
    event: int
    track: str
    clip_name: str
    reel: str | None
    media_path: Path | None
    media_resolved: bool
    media_hint: str
    source_range: TimeRange
    record_range: TimeRange
    rate: Fraction
    source_start_frame: int
    instructions: tuple[str, ...] = ()
    prompt: dict[str, Any] | None = None
    bg: str | None = None
    speed_effect: bool = False
    speed_description: str | None = None
    warnings: tuple[str, ...] = ()
    drop_frame: bool = False
    # Where the media starts in the source range's time (an OTIO reference's available_range),
    # so a clip cut from longer media can be found in it; None when the cut list does not say.
    media_start_frame: int | None = None
    colorspace: str | None = None  # "void" metadata `colorspace`: the clip's OCIO input space

    @property
    def frame_count(self) -> int:
        """Number of source frames the shot covers."""
        return frames_at(self.source_range.duration, self.rate)

    @property
    def label(self) -> str:
        """How messages name the shot: "event 3 (sh010)"."""
        return f"event {self.event} ({self.name})"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "event": self.event,
            "track": self.track,
            "clip_name": self.clip_name,
            "reel": self.reel,
            "media_path": str(self.media_path) if self.media_path is not None else None,
            "media_resolved": self.media_resolved,
            "media_hint": self.media_hint,
            "source_range": range_json(self.source_range, self.drop_frame),
            "record_range": range_json(self.record_range, self.drop_frame),
            "rate": rate_text(self.rate),
            "source_start_frame": self.source_start_frame,
            "media_start_frame": self.media_start_frame,
            "frame_count": self.frame_count,
            "instructions": list(self.instructions),
            "prompt": self.prompt,
            "bg": self.bg,
            "colorspace": self.colorspace,
            "speed_effect": self.speed_effect,
            "speed_description": self.speed_description,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class CutListProblem:
    """Something wrong with one event (or the file), kept as data: the flow names the failed
    shot row from `event`, and `str()` is the line shown to the user."""

    reason: str
    event: int | None = None
    line: int | None = None
    clip: str | None = None  # how the event is labelled: its clip name or reel

    def __str__(self) -> str:
        if self.clip is not None:
            at = f"event {self.event} ({self.clip})" + (f": line {self.line}" if self.line else "")
        elif self.line is not None:
            at = f"line {self.line}" + (f" (event {self.event})" if self.event is not None else "")
        else:
            at = f"event {self.event}" if self.event is not None else ""
        return f"{at}: {self.reason}" if at else self.reason


@dataclass
class CutList:
    """A parsed cut list: its shots in cut order and what was wrong with individual clips."""

    name: str
    path: Path
    rate: Fraction
    shots: list[ShotSpec]
    problems: list[CutListProblem]
    timeline: otio.schema.Timeline
    format: str = "otio"  # "edl", "otio" or "fcp_xml"
    drop_frame: bool = False
    notes: list[str] = field(default_factory=list)  # file-level remarks (rate, header lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "cutlist": str(self.path),
            "name": self.name,
            "format": self.format,
            "rate": rate_text(self.rate),
            "drop_frame": self.drop_frame,
            "shots": [shot.to_json() for shot in self.shots],
            "problems": [str(problem) for problem in self.problems],
            "notes": list(self.notes),
        }
