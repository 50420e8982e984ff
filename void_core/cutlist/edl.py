"""CMX 3600 EDLs: a line-aware scan in front of OTIO's `cmx_3600` adapter.

The adapter builds the timeline but forgets event numbers and line numbers, stops at the first
bad line, eats the first word of a `* LOC:` text as a colour, drops locators with drop-frame or
single-spaced timecodes and cannot start a track with a dissolve. So the scan reads the file
first: it keeps each event's number, comments and `VOID:` instructions, skips events it cannot
use (each one becomes a problem naming its line), normalises timecodes and whitespace, and hands
the adapter a clean EDL whose events it can map back to the clips the adapter made.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
from opentimelineio.opentime import RationalTime, TimeRange
from otio_cmx3600_adapter.cmx_3600 import channel_map

from void_core.cutlist.instructions import void_text
from void_core.cutlist.model import CutListProblem, is_drop_frame_rate, timecode
from void_core.errors import CutListError

_TIMECODE = re.compile(r"^(\d{1,2})[:;.](\d\d)[:;.](\d\d)([:;.,])(\d\d)$")
_FRAMES = re.compile(r"^\d+$")
_WIPE = re.compile(r"^W\d{3}$")
_LOC = re.compile(
    r"^\*?\s*LOC\s*:?\s*(?P<tc>\d{1,2}[:;.]\d\d[:;.]\d\d[:;.,]\d\d)\s*(?P<rest>.*)$", re.IGNORECASE)
_COMMENT_BODY = re.compile(r"^\*?\s*(?:COMMENTS?\s*:\s*)?(?P<body>.*)$", re.IGNORECASE)
_SOURCE_FILE = re.compile(r"^\*\s*SOURCE\s+FILE\s*:\s*(?P<path>.+?)\s*$", re.IGNORECASE)
# Comment keywords as the adapter matches them: optional '*', the keyword, optional ':'.
_SPEED = re.compile(r"^\*?\s*M2:?", re.IGNORECASE)
_CDL = re.compile(r"^\*?\s*(?P<key>ASC_SOP|ASC_SAT):?\s*(?P<body>.*)$")
_FREEZE = re.compile(r"^\*?\s*\*?\s*FREEZE\s+FRAME\b", re.IGNORECASE)  # Avid: "* * FREEZE FRAME"
_MARKER_COLOURS = {"RED", "PINK", "ORANGE", "YELLOW", "GREEN", "CYAN", "BLUE", "PURPLE",
                   "MAGENTA", "BLACK", "WHITE"}
_EXAMPLE_EVENT = "001  REEL  V  C  01:00:00:00 01:00:01:00 01:00:00:00 01:00:01:00"


@dataclass
class EdlEvent:
    """One EDL event as written, with what the scan learned about it."""

    number: int
    line_no: int
    reel: str
    channel: str
    edit: str  # "C", "D" or "Wnnn"
    transition_frames: str | None
    source_in: str
    source_out: str
    record_in: str
    record_out: str
    comments: list[tuple[int, str]] = field(default_factory=list)  # as handed to the adapter
    instructions: list[str] = field(default_factory=list)
    source_files: list[str] = field(default_factory=list)
    speed: float | None = None  # M2 speed in frames per second
    freeze: bool = False
    warnings: list[str] = field(default_factory=list)
    problems: list[CutListProblem] = field(default_factory=list)
    needs_outgoing: bool = False  # a transition line found without its outgoing (A-side) line

    @property
    def is_zero_length(self) -> bool:
        return self.record_in == self.record_out

    @property
    def tracks(self) -> list[str]:
        return channel_map.get(self.channel, [self.channel])

    @property
    def has_transition(self) -> bool:
        return self.edit != "C"


@dataclass
class EdlRead:
    """The adapter's timeline plus the scanned event behind each of its clips."""

    timeline: otio.schema.Timeline
    events_by_clip: dict[int, EdlEvent]  # id(clip) -> event
    problems: list[CutListProblem]
    notes: list[str]
    drop_frame: bool

    def event_for(self, clip: otio.schema.Clip) -> EdlEvent | None:
        return self.events_by_clip.get(id(clip))


def read_edl(path: Path, rate: Fraction) -> EdlRead:
    """Scan `path`, read it through the cmx_3600 adapter, map clips back to events.

    Raises:
        CutListError: the file has no usable event, or the adapter fails on something the scan
            cannot attribute to an event.
    """
    scan = _Scan(path, rate)
    scan.run(_decode(path))
    timeline, relaxed = _read_with_adapter(scan)
    if relaxed:
        scan.notes.append("record timecodes did not line up; read with "
                          "ignore_timecode_mismatch (see the affected shots' warnings)")
    events_by_clip = _map_clips_to_events(timeline, scan.events)
    if events_by_clip is None:
        scan.problems.append(CutListProblem("could not match the adapter's clips to EDL "
                                            "events; shots are numbered by position"))
        events_by_clip = {}
    _flag_timecode_mismatches(scan.events, rate)
    _flag_moved_records(timeline, events_by_clip, rate, scan.drop_frame)
    return EdlRead(timeline, events_by_clip, scan.problems, scan.notes, scan.drop_frame)


def describe_speed(event: EdlEvent, rate: Fraction) -> str | None:
    """"M2 50% (12.0 fps)", "M2 reverse 100% (-24.0 fps)", "freeze frame", or None."""
    if event.freeze or event.speed == 0:
        return "freeze frame" + (" (M2 0 fps)" if event.speed == 0 else "")
    if event.speed is None:
        return None
    percent = abs(event.speed) / float(rate) * 100
    direction = "reverse " if event.speed < 0 else ""
    return f"M2 {direction}{percent:.4g}% ({event.speed:.1f} fps)"


def source_range_as_written(event: EdlEvent, rate: Fraction) -> TimeRange:
    """The source TC in/out of the event line (the adapter stretches it for speed effects)."""
    start = _time(event.source_in, rate)
    duration = _time(event.source_out, rate) - start
    if duration.value < 1:  # freeze frames are often written with source out == source in
        duration = RationalTime(1, float(rate))
    return TimeRange(start, duration)


# --- reading the file ----------------------------------------------------------------------


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CutListError(path, f"cannot read the file: {err.strerror or err}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # Avid on Windows writes cp1252/latin-1 names


class _Scan:
    """Walk the EDL lines once: header, events (with their transition line and comments)."""

    def __init__(self, path: Path, rate: Fraction):
        self.path, self.rate = path, rate
        self.title = ""
        self.events: list[EdlEvent] = []
        self.problems: list[CutListProblem] = []
        self.notes: list[str] = []
        self.drop_frame = False
        self._fcm_drop = False
        self._first_junk: tuple[int, str] | None = None

    def run(self, text: str) -> None:
        lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1)
                 if line.strip()]
        groups = self._group(lines)
        self._decide_drop_frame(groups)
        for group in groups:
            self.events.extend(self._events(group))
        if not self.events:
            raise self._no_events_error()
        self._pair_orphan_transitions()
        self._cut_leading_transitions()

    def _group(self, lines: list[tuple[int, str]]) -> list[list[tuple[int, str]]]:
        """Split into groups: the lines of one event number and the comments that follow."""
        groups: list[list[tuple[int, str]]] = []
        for number, line in lines:
            upper = line.upper()
            if upper.startswith("TITLE:") and not groups:
                self.title = line[6:].strip()
            elif upper.startswith("FCM"):
                self._fcm_drop = self._fcm_drop or ("DROP" in upper and "NON" not in upper)
            elif upper.startswith("SPLIT"):
                continue  # split-edit delays change nothing in the picture we clean
            elif line[0].isdigit():
                if groups and _event_number(groups[-1][0][1]) == _event_number(line):
                    groups[-1].append((number, line))
                else:
                    groups.append([(number, line)])
            elif groups:
                groups[-1].append((number, line))
            elif not line.startswith("*") and self._first_junk is None:
                self._first_junk = (number, line)
        return groups

    def _decide_drop_frame(self, groups: list[list[tuple[int, str]]]) -> None:
        semicolon = next(((n, line) for group in groups for n, line in group
                          if line[0].isdigit() and len(line.split()) in (8, 9)
                          and any(";" in tc for tc in line.split()[-4:])), None)
        if is_drop_frame_rate(self.rate):
            self.drop_frame = semicolon is not None or self._fcm_drop
        elif semicolon is not None and self.rate.denominator == 1001:
            self.notes.append(f"drop-frame separators (';') read as non-drop: {self.rate} fps "
                              "has no drop-frame timecode")
        elif semicolon is not None:
            number, line = semicolon
            raise CutListError(self.path, f"line {number}: drop-frame timecode (';') but the rate "
                               f"is {self.rate} fps: {line!r}",
                               "pass --rate 29.97 (or 59.94) for a drop-frame EDL")
        elif self._fcm_drop:
            self.notes.append(f"FCM: DROP FRAME ignored: only 29.97 and 59.94 fps have drop-frame "
                              f"timecode and the rate is {self.rate} (pass --rate 29.97 if the "
                              "EDL is 29.97 drop-frame)")

    def _events(self, group: list[tuple[int, str]]) -> list[EdlEvent]:
        """The events of one number: a cut, a transition (outgoing line + incoming line), or
        several cuts sharing a number (split edits, linked audio); they share the comments."""
        event_lines = [(n, line) for n, line in group if line[0].isdigit()]
        comments = [(n, line) for n, line in group if not line[0].isdigit()]
        events: list[EdlEvent] = []
        index = 0
        while index < len(event_lines):
            number, line = event_lines[index]
            follower = event_lines[index + 1][1] if index + 1 < len(event_lines) else ""
            paired = len(follower.split()) == 9 and len(line.split()) != 9
            if paired:  # the outgoing line only marks where the transition starts
                index += 1
                number, line = event_lines[index]
            index += 1
            try:
                event = self._parse_event_line(number, line)
            except ValueError as err:
                self.problems.append(CutListProblem(f"{err}; event skipped",
                                                    _event_number(line), number))
                continue
            event.needs_outgoing = event.has_transition and not paired
            for comment_no, comment in comments:
                self._comment(event, comment_no, comment)
            events.append(event)
        return events

    def _parse_event_line(self, line_no: int, line: str) -> EdlEvent:
        fields = line.split()
        if len(fields) == 8:
            number, reel, channel, edit, *tcs = fields
            transition = None
            if edit.upper() != "C":
                raise ValueError(f"edit type {edit!r} needs a duration (e.g. 'D 012'), "
                                 "or use C for a cut")
        elif len(fields) == 9:
            number, reel, channel, edit, transition, *tcs = fields
            if not (edit.upper() == "D" or _WIPE.match(edit.upper())):
                raise ValueError(f"edit type {edit!r} is not supported (only cuts C, dissolves D "
                                 "and wipes Wnnn)")
            if not re.fullmatch(r"\d+(\.\d+)?", transition):
                raise ValueError(f"transition duration {transition!r} is not a frame count")
        else:
            raise ValueError(f"expected 8 fields (or 9 with a transition), found {len(fields)}: "
                             f"{line!r}")
        src_in, src_out, rec_in, rec_out = (self._timecode(tc) for tc in tcs)
        if _time(src_out, self.rate) < _time(src_in, self.rate):
            raise ValueError(f"source out {src_out} is before source in {src_in}")
        if _time(rec_out, self.rate) < _time(rec_in, self.rate):
            raise ValueError(f"record out {rec_out} is before record in {rec_in}")
        return EdlEvent(number=int(number), line_no=line_no, reel=reel, channel=channel.upper(),
                        edit=edit.upper(), transition_frames=transition, source_in=src_in,
                        source_out=src_out, record_in=rec_in, record_out=rec_out)

    def _timecode(self, text: str) -> str:
        """A timecode normalised for the adapter (':' or ';' per drop-frame), checked at rate."""
        if _FRAMES.match(text):
            return timecode(RationalTime(int(text), float(self.rate)), self.rate,
                            self.drop_frame) or text
        match = _TIMECODE.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not a timecode (HH:MM:SS:FF)")
        hours, minutes, seconds, _, frames = match.groups()
        separator = ";" if self.drop_frame else ":"
        normalised = f"{int(hours):02d}:{minutes}:{seconds}{separator}{frames}"
        if int(frames) >= -(-self.rate.numerator // self.rate.denominator):
            raise ValueError(f"timecode {text} has frame {int(frames)}, too many for "
                             f"{float(self.rate):g} fps (is the EDL at a higher rate? pass "
                             f"--rate, e.g. --rate {_rate_hint(int(frames))})")
        try:
            otio.opentime.from_timecode(normalised, float(self.rate))
        except ValueError as err:
            raise ValueError(f"timecode {text}: {err}") from None
        return normalised

    def _comment(self, event: EdlEvent, number: int, line: str) -> None:
        if _SPEED.match(line):
            self._speed_line(event, number, line)
            return
        cdl = _CDL.match(line)
        if cdl is not None:
            self._cdl_line(event, number, cdl)
            return
        if _FREEZE.match(line):
            event.freeze = True
        loc = _LOC.match(line)
        if loc is not None:
            self._locator(event, number, loc)
            return
        source_file = _SOURCE_FILE.match(line)
        if source_file is not None:
            event.source_files.append(source_file.group("path"))
        elif line.startswith("*"):
            self._instruction(event, number, _COMMENT_BODY.match(line).group("body"))
        event.comments.append((number, line))

    def _speed_line(self, event: EdlEvent, number: int, line: str) -> None:
        parts = _SPEED.sub("", line).split()
        try:
            event.speed = float(parts[-2])
            if not math.isfinite(event.speed):
                raise ValueError(parts[-2])
        except (ValueError, IndexError):
            event.speed = None
            event.warnings.append(f"line {number}: M2 line {line!r} has no readable speed; "
                                  "speed effect ignored")
            return
        # The adapter only matches 'M2 reel speed HH:MM:SS:FF' with ':' separators.
        event.comments.append((number, f"M2   {event.reel}  {event.speed:.1f}  "
                                       f"{event.source_in.replace(';', ':')}"))

    def _cdl_line(self, event: EdlEvent, number: int, match: re.Match) -> None:
        """Colour decisions are not ours, but a malformed one makes the adapter drop the file:
        keep well-formed values in the adapter's spelling, report the rest."""
        numbers = re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)", match.group("body"))
        try:
            values = [float(n) for n in numbers]
        except ValueError:
            values = []
        if match.group("key") == "ASC_SAT" and len(values) == 1:
            event.comments.append((number, f"* ASC_SAT {values[0]}"))
        elif match.group("key") == "ASC_SOP" and len(values) == 9:
            triples = ["(" + " ".join(f"{v}" for v in values[i:i + 3]) + ")" for i in (0, 3, 6)]
            event.comments.append((number, f"* ASC_SOP {''.join(triples)}"))
        else:
            event.warnings.append(f"line {number}: unreadable {match.group('key')} "
                                  f"{match.group('body')!r} ignored")

    def _locator(self, event: EdlEvent, number: int, match: re.Match) -> None:
        words = match.group("rest").split(None, 1)
        colour = words[0].upper() if words and words[0].upper() in _MARKER_COLOURS else None
        text = (words[1] if len(words) > 1 else "") if colour else match.group("rest")
        self._instruction(event, number, text)
        try:
            tc = self._timecode(match.group("tc"))
        except ValueError as err:
            event.warnings.append(f"line {number}: locator not placed on the timeline ({err})")
            return
        # Always write a colour: the adapter takes the first word after the timecode as one.
        event.comments.append((number, f"* LOC: {tc} {colour or 'RED'}  {text}".rstrip()))

    def _instruction(self, event: EdlEvent, number: int, text: str) -> None:
        instruction = void_text(text)
        if instruction is None:
            return
        if instruction:
            event.instructions.append(instruction)
        else:
            event.problems.append(CutListProblem("'VOID:' with no instruction after it",
                                                 line=number))

    def _pair_orphan_transitions(self) -> None:
        """Some NLEs write a dissolve's zero-length outgoing line under the previous event's
        number; pair it back. A transition with no outgoing line at all is read as a cut."""
        kept: list[EdlEvent] = []
        for event in self.events:
            if event.needs_outgoing:
                previous = kept[-1] if kept else None
                if previous is not None and previous.is_zero_length \
                        and previous.tracks == event.tracks:
                    kept.pop()
                else:
                    event.warnings.append(f"line {event.line_no}: {event.edit} "
                                          f"{event.transition_frames} without an outgoing line "
                                          "read as a cut")
                    event.edit, event.transition_frames = "C", None
                event.needs_outgoing = False
            kept.append(event)
        self.events = kept

    def _cut_leading_transitions(self) -> None:
        """A dissolve or wipe into the first event of a track becomes a cut (OTIO cannot start a
        track with a transition; the outgoing side is usually black)."""
        seen: set[str] = set()
        for event in self.events:
            if event.has_transition and not seen.intersection(event.tracks):
                event.warnings.append(f"line {event.line_no}: {event.edit} "
                                      f"{event.transition_frames} at the start of the track "
                                      "read as a cut")
                event.edit, event.transition_frames = "C", None
            seen.update(event.tracks)

    def _no_events_error(self) -> CutListError:
        if self.problems:
            first = str(self.problems[0]).removesuffix("; event skipped")
            return CutListError(self.path, f"no usable event: {first}")
        detail = f"; line {self._first_junk[0]} reads {self._first_junk[1][:60]!r}" \
            if self._first_junk else ""
        return CutListError(self.path, f"not a CMX 3600 EDL: no event lines{detail}",
                            f"expected lines like '{_EXAMPLE_EVENT}'")


def _event_number(line: str) -> int:
    return int(re.match(r"\d+", line).group(0))


def _rate_hint(frame: int) -> str:
    for rate in (25, 30, 50, 60):
        if frame < rate:
            return str(rate) if rate in (25, 50) else f"{rate} or {rate * 1000 / 1001:.2f}"
    return "60"


def _time(tc: str, rate: Fraction) -> RationalTime:
    return otio.opentime.from_timecode(tc, float(rate))


# --- the adapter ---------------------------------------------------------------------------


def _emit(title: str, events: list[EdlEvent]) -> str:
    """A clean EDL for the adapter: events renumbered 1..n so none can merge with another."""
    lines = [f"TITLE: {title}"] if title else []
    for index, event in enumerate(events, 1):
        head = f"{index:03d}  {event.reel}  {event.channel}"
        src_rec = f"{event.source_in} {event.source_out} {event.record_in} {event.record_out}"
        if event.has_transition:
            # The adapter reads only the incoming line's fields; the outgoing one must be a cut.
            lines.append(f"{head}  C  {src_rec}")
            lines.append(f"{head}  {event.edit} {event.transition_frames}  {src_rec}")
        else:
            lines.append(f"{head}  C  {src_rec}")
        lines.extend(line for _, line in event.comments)
    return "\n".join(lines) + "\n"


def _read_with_adapter(scan: _Scan) -> tuple[otio.schema.Timeline, bool]:
    """Strict first; on a timecode conflict retry relaxed; drop what else the adapter rejects."""
    relaxed = False
    for _ in range(len(scan.events) + 2):
        if not scan.events:
            break
        try:
            timeline = otio.adapters.read_from_string(
                _emit(scan.title, scan.events), adapter_name="cmx_3600", rate=float(scan.rate),
                ignore_timecode_mismatch=relaxed)
            return timeline, relaxed
        except Exception as err:  # the adapter raises anything from EDLParseError to IndexError
            message = str(err) or type(err).__name__
            if not relaxed and _is_timecode_conflict(message):
                relaxed = True
                continue
            if not _drop_culprit(scan, message):
                raise CutListError(scan.path, f"the EDL reader failed: {message}") from None
    raise CutListError(scan.path, f"no usable event: {scan.problems[-1] if scan.problems else ''}")


def _is_timecode_conflict(message: str) -> bool:
    return "don't match" in message or "Overlapping record" in message


def _drop_culprit(scan: _Scan, message: str) -> bool:
    """Find the comment line or event the adapter's message quotes; drop it. False if none."""
    quoted = message.split(": ", 1)[-1].strip()
    for event in scan.events:
        for number, line in event.comments:
            core = line.lstrip("* ").strip()
            if (len(core) >= 8 and core in message) or (len(quoted) >= 6 and quoted in core):
                event.comments.remove((number, line))
                scan.problems.append(CutListProblem(f"{message}; line ignored", event.number,
                                                    number))
                return True
    for event in scan.events:
        timecodes = (event.source_in, event.source_out, event.record_in, event.record_out)
        if any(tc in message for tc in timecodes):
            scan.events.remove(event)
            scan.problems.append(CutListProblem(f"{message}; event skipped", event.number,
                                                event.line_no))
            return True
    return False


# --- mapping clips back to events ----------------------------------------------------------


def _map_clips_to_events(timeline: otio.schema.Timeline,
                         events: list[EdlEvent]) -> dict[int, EdlEvent] | None:
    mapping: dict[int, EdlEvent] = {}
    for track in timeline.tracks:
        clips = [item for item in track if isinstance(item, otio.schema.Clip)]
        on_track = [event for event in events if track.name in event.tracks]
        if len(clips) != len(on_track):
            return None
        mapping.update((id(clip), event) for clip, event in zip(clips, on_track, strict=True))
    return mapping


def _flag_timecode_mismatches(events: list[EdlEvent], rate: Fraction) -> None:
    for event in events:
        if event.speed is not None or event.freeze:
            continue
        source = (_time(event.source_out, rate) - _time(event.source_in, rate)).value
        record = (_time(event.record_out, rate) - _time(event.record_in, rate)).value
        if round(source) != round(record):
            event.warnings.append(f"line {event.line_no}: source is {round(source)} frames but "
                                  f"record is {round(record)} (timecode mismatch); the source "
                                  "duration is used")


def _flag_moved_records(timeline: otio.schema.Timeline, events_by_clip: dict[int, EdlEvent],
                        rate: Fraction, drop_frame: bool) -> None:
    for track in timeline.tracks:
        in_track = track.range_of_all_children()  # one pass: per clip it is quadratic
        for clip in track.find_clips(shallow_search=True):
            event = events_by_clip.get(id(clip))
            if event is None:
                continue
            placed = track.transformed_time(in_track[clip].start_time, timeline.tracks)
            written = _time(event.record_in, rate)
            if round(placed.value_rescaled_to(written)) != round(written.value):
                event.warnings.append(
                    f"line {event.line_no}: record in {event.record_in} overlaps the previous "
                    f"event; placed at {timecode(placed, rate, drop_frame)}")
