"""`read_cutlist`: one entry point for EDL, OTIO (.otio/.otioz/.otiod) and FCP 7 XML.

Every clip on a video track becomes a `ShotSpec` (gaps, transitions, audio and generator clips
such as EDL black do not); clips inside nested stacks are taken too, trimmed to what the stack
shows. A clip that cannot be used is reported in `CutList.problems` and the others go on; only a
file that cannot be read at all raises `CutListError`.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio
from opentimelineio.opentime import TimeRange

from void_core.cutlist.edl import EdlEvent, EdlRead, describe_speed, read_edl, \
    source_range_as_written
from void_core.cutlist.instructions import VOID_KEY, StructuredVoid, parse_structured, void_text
from void_core.cutlist.model import CutList, CutListProblem, ShotSpec, exact_rate, frames_at
from void_core.cutlist.resolve import MediaResolver
from void_core.errors import CutListError, InputError
from void_core.naming import VIDEO_SUFFIXES, safe_component

DEFAULT_EDL_RATE = Fraction(24)
FORMATS = {".edl": "edl", ".otio": "otio_json", ".otioz": "otioz", ".otiod": "otiod",
           ".xml": "fcp_xml"}
_FRAME_PART = re.compile(r"[._]?(\[\d+-\d+\]|#+|%0?\d*d|@+)$")
_IMAGE_SUFFIXES = (".exr", ".dpx", ".tif", ".tiff", ".png", ".jpg", ".jpeg")


def read_cutlist(path: str | Path, *, media_root: str | Path | None = None,
                 rate: int | float | str | Fraction | None = None) -> CutList:
    """Read a cut list into shots.

    Args:
        path: `.edl` (CMX 3600), `.otio`, `.otioz`, `.otiod` or `.xml` (Final Cut Pro 7 XML).
        media_root: folder searched (recursively) for media the cut list does not locate.
        rate: frame rate of an EDL (default 24); NTSC decimals snap to n*1000/1001. Ignored for
            the other formats, which carry their rates.

    Raises:
        CutListError: missing file, unknown extension, or a file that does not parse.
        InputError: a bad `rate` or a media root that is not a folder.
    """
    path = Path(path)
    adapter = _adapter_for(path)
    root = _checked_media_root(media_root)
    edl_rate = exact_rate(rate) if rate is not None else DEFAULT_EDL_RATE
    notes: list[str] = []
    edl: EdlRead | None = None
    if adapter == "edl":
        edl = read_edl(path, edl_rate)
        timeline, problems, notes = edl.timeline, list(edl.problems), list(edl.notes)
    else:
        timeline, problems = _read_otio(path, adapter, notes), []
        if rate is not None:
            notes.append(f"rate {rate} ignored: {path.suffix} files carry their own rates")
    base_dir = path if path.is_dir() else path.parent
    resolver = MediaResolver(base_dir.resolve(), root, _bundle_members(path, adapter))
    builder = _ShotBuilder(timeline, edl, resolver)
    drafts = builder.drafts()
    shots = _named_shots(drafts)
    if not shots:
        notes.append("no clips on video tracks")
    return CutList(
        name=timeline.name or path.stem, path=path, shots=shots,
        rate=edl_rate if edl else _timeline_rate(timeline),
        problems=problems + builder.problems, timeline=timeline,
        format="edl" if edl else ("fcp_xml" if adapter == "fcp_xml" else "otio"),
        drop_frame=edl.drop_frame if edl else False, notes=notes + builder.notes,
    )


# --- files ---------------------------------------------------------------------------------


def _adapter_for(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        if not path.exists():
            raise CutListError(path, "file not found")
        known = ", ".join(FORMATS)
        extra = " (Final Cut Pro X: export FCP 7 XML or an EDL)" if suffix == ".fcpxml" else ""
        raise CutListError(path, f"unknown cut list type {suffix or '(no extension)'!r}{extra}",
                           f"use one of {known}")
    if not path.exists():
        raise CutListError(path, "file not found")
    if path.is_dir() and suffix != ".otiod":
        raise CutListError(path, "is a folder, not a cut list")
    return FORMATS[suffix]


def _checked_media_root(media_root: str | Path | None) -> Path | None:
    if media_root is None:
        return None
    root = Path(media_root)
    if not root.is_dir():
        raise InputError(root, "media root is not a folder",
                         "give the folder that holds the plates")
    return root.resolve()


def _read_otio(path: Path, adapter: str, notes: list[str]) -> otio.schema.Timeline:
    kind = "Final Cut Pro 7 XML" if adapter == "fcp_xml" else f"{path.suffix} file"
    try:
        result = otio.adapters.read_from_file(str(path), adapter_name=adapter)
    except Exception as err:  # adapters raise anything from ValueError to KeyError
        text = str(err).strip().strip("\"'").splitlines()
        detail = text[0] if text else type(err).__name__
        hint = "export 'Final Cut Pro 7 XML' (xmeml)" if adapter == "fcp_xml" else None
        raise CutListError(path, f"cannot read this {kind}: {detail}", hint) from None
    if isinstance(result, otio.schema.Timeline):
        return result
    timelines = [item for item in result if isinstance(item, otio.schema.Timeline)] \
        if isinstance(result, otio.schema.SerializableCollection) else []
    if not timelines:
        raise CutListError(path, f"holds a {type(result).__name__}, not a timeline")
    if len(timelines) > 1:
        notes.append(f"{len(timelines)} sequences in the file; reading the first, "
                     f"{timelines[0].name!r}")
    return timelines[0]


def _bundle_members(path: Path, adapter: str) -> frozenset[str]:
    if adapter != "otioz":
        return frozenset()
    try:
        with zipfile.ZipFile(path) as bundle:
            return frozenset(bundle.namelist())
    except (OSError, zipfile.BadZipFile):
        return frozenset()


def _timeline_rate(timeline: otio.schema.Timeline) -> Fraction:
    for clip in timeline.find_clips():
        try:
            return exact_rate(clip.trimmed_range().start_time.rate)
        except Exception:  # a clip without any range; try the next
            continue
    if timeline.global_start_time is not None:
        return exact_rate(timeline.global_start_time.rate)
    return DEFAULT_EDL_RATE


# --- shots ---------------------------------------------------------------------------------


@dataclass
class _Draft:
    """A shot before naming: the ShotSpec fields plus the names it may be called by."""

    fields: dict[str, Any]
    names: list[str] = field(default_factory=list)


@dataclass
class _Timing:
    source: TimeRange
    record: TimeRange
    in_track: TimeRange  # the clip's range in its top-level track
    rate: Fraction  # of the source
    warnings: list[str]


@dataclass
class _Findings:
    """What markers, metadata and comments say about one clip."""

    instructions: list[str] = field(default_factory=list)
    prompt: dict[str, Any] | None = None
    bg: str | None = None
    shot: str | None = None
    colorspace: str | None = None


class _ShotBuilder:
    """Walks the video tracks and drafts one shot per clip; collects problems and notes."""

    def __init__(self, timeline: otio.schema.Timeline, edl: EdlRead | None,
                 resolver: MediaResolver):
        self.timeline, self.edl, self.resolver = timeline, edl, resolver
        self.global_start = timeline.global_start_time
        self.problems: list[CutListProblem] = []
        self.notes: list[str] = []
        self._child_ranges: dict[int, dict[Any, TimeRange]] = {}

    def drafts(self) -> list[_Draft]:
        drafts: list[_Draft] = []
        video_number = 0
        for track in self.timeline.tracks:
            if track.kind != otio.schema.TrackKind.Video:
                continue
            video_number += 1
            track_name = track.name or f"V{video_number}"
            if not track.enabled:
                self.notes.append(f"track {track_name} is disabled; its clips are not listed")
                continue
            for index, clip in enumerate(track.find_clips(), 1):
                draft = self._guarded_draft(clip, track, track_name, index)
                if draft is not None:
                    drafts.append(draft)
        return drafts

    def _guarded_draft(self, clip, track, track_name: str, index: int) -> _Draft | None:
        event = self.edl.event_for(clip) if self.edl else None
        number = event.number if event else index
        if not clip.enabled or isinstance(clip.media_reference, otio.schema.GeneratorReference):
            return None  # disabled clips and black/bars are not footage
        try:
            return self._draft(clip, track, track_name, number, event)
        except Exception as err:  # one odd clip must not stop the others
            self.problems.append(CutListProblem(f"cannot be read: {err}", number,
                                                clip=f"clip {clip.name!r} on {track_name}"))
            return None

    def _draft(self, clip: otio.schema.Clip, track: otio.schema.Track, track_name: str,
               number: int, event: EdlEvent | None) -> _Draft | None:
        timing = self._timing(clip, track, number, event)
        if timing is None:
            return None
        clip_name, reel = _clip_name(clip, event), _reel(clip, event)
        label = CutListProblem("", number, clip=clip_name or reel or "unnamed clip")
        findings = self._findings(clip, track, timing, event, label)
        media = self.resolver.resolve(clip.media_reference, event.source_files if event else [],
                                      [_strip_frame_part(clip_name), reel])
        speed = (describe_speed(event, timing.rate) if event else None) or _effect_speed(clip)
        fields = dict(
            event=number, track=track_name, clip_name=clip_name, reel=reel,
            media_path=media.path, media_resolved=media.resolved, media_hint=media.hint,
            source_range=timing.source, record_range=timing.record, rate=timing.rate,
            source_start_frame=_source_start_frame(clip, timing.source, timing.rate),
            media_start_frame=_media_start_frame(clip, timing.rate),
            instructions=tuple(dict.fromkeys(findings.instructions)), prompt=findings.prompt,
            bg=findings.bg, colorspace=findings.colorspace,
            speed_effect=speed is not None, speed_description=speed,
            warnings=tuple(timing.warnings + list(media.warnings)),
            drop_frame=self.edl.drop_frame if self.edl else False,
        )
        names = [findings.shot, _strip_media_suffix(clip_name), reel, f"event{number:03d}"]
        return _Draft(fields, [n for n in names if n])

    def _timing(self, clip: otio.schema.Clip, track: otio.schema.Track, number: int,
                event: EdlEvent | None) -> _Timing | None:
        """Source and record ranges, or None for a clip the cut does not show."""
        full = self._range_in(clip, track)
        in_track = full if clip.parent() is track else _visible_in_track(clip, track, full)
        if in_track is None:
            self.notes.append(f"event {number} (clip {clip.name!r}): trimmed out of its nested "
                              "stack; not listed")
            return None
        if in_track.duration.value <= 0:
            return None  # zero-length events only mark where an EDL transition starts
        warnings = list(event.warnings) if event else []
        if clip.parent() is not track:
            warnings.append(f"inside nested stack {_outer_stack_name(clip, track)!r}")
        source = _source_range(clip, full, in_track)
        rate = exact_rate(source.start_time.rate)
        if event is not None and (event.speed is not None or event.freeze):
            source = source_range_as_written(event, rate)
        warnings += _transition_handles(clip, track, rate)
        return _Timing(source, self._record_range(track, in_track), in_track, rate, warnings)

    def _range_in(self, clip: otio.schema.Clip, track: otio.schema.Track) -> TimeRange:
        """The clip's whole trimmed range in its top-level track. OTIO finds a child's range by
        summing the children before it, so each track's ranges are computed once, not per clip
        (quadratic in the clip count otherwise)."""
        if clip.parent() is not track:
            return clip.transformed_time_range(clip.trimmed_range(), track)
        if id(track) not in self._child_ranges:
            self._child_ranges[id(track)] = track.range_of_all_children()
        return self._child_ranges[id(track)][clip]

    def _record_range(self, track: otio.schema.Track, in_track: TimeRange) -> TimeRange:
        """Where the clip sits in the cut: timeline time plus the global start (record TC)."""
        record = track.transformed_time_range(in_track, self.timeline.tracks)
        if self.global_start is not None:
            start = record.start_time + self.global_start.rescaled_to(record.start_time)
            record = TimeRange(start, record.duration)
        return record

    # --- instructions ------------------------------------------------------------------------

    def _findings(self, clip: otio.schema.Clip, track: otio.schema.Track, timing: _Timing,
                  event: EdlEvent | None, label: CutListProblem) -> _Findings:
        findings = _Findings()
        frames = frames_at(timing.source.duration, timing.rate)
        if VOID_KEY in clip.metadata:
            self._structured(findings, clip.metadata[VOID_KEY], frames, 0, label, "clip metadata")
        if event is not None:  # EDL locators come from the file itself, not the adapter's markers
            findings.instructions += event.instructions
            self.problems += [replace(label, reason=problem.reason, line=problem.line)
                              for problem in event.problems]
        else:
            for marker in sorted(_listed(clip.markers), key=_marker_start):
                offset = marker.marked_range.start_time - timing.source.start_time
                self._marker(findings, marker, frames_at(offset, timing.rate), frames, label)
        in_stack = track.transformed_time_range(timing.in_track, self.timeline.tracks)
        for container, clip_range in ((track, timing.in_track), (self.timeline.tracks, in_stack)):
            for marker in _listed(container.markers):
                if _marker_hits(marker.marked_range, clip_range):
                    offset = marker.marked_range.start_time - clip_range.start_time
                    self._marker(findings, marker, frames_at(offset, timing.rate), frames, label)
        return findings

    def _marker(self, findings: _Findings, marker: otio.schema.Marker, offset: int,
                frames: int, label: CutListProblem) -> None:
        """`offset`: the marker's frame within the shot, the default for a prompt's frame."""
        for text in _marker_texts(marker):
            instruction = void_text(text)
            if instruction is None:
                continue
            if instruction:
                findings.instructions.append(instruction)
            else:
                self.problems.append(replace(
                    label, reason=f"marker {marker.name!r}: 'VOID:' with no instruction after it"))
            break
        if VOID_KEY in marker.metadata:
            default_frame = offset if 0 <= offset < frames else 0
            self._structured(findings, marker.metadata[VOID_KEY], frames, default_frame, label,
                             f"marker {marker.name!r}")

    def _structured(self, findings: _Findings, data: Any, frames: int, default_frame: int,
                    label: CutListProblem, where: str) -> None:
        parsed: StructuredVoid = parse_structured(data, frames)
        self.problems += [replace(label, reason=f"{where}: {error}") for error in parsed.errors]
        if parsed.remove:
            findings.instructions.append(parsed.remove)
        findings.bg = self._first(findings.bg, parsed.bg, "bg", label, where)
        findings.shot = self._first(findings.shot, parsed.shot, "shot", label, where)
        findings.colorspace = self._first(findings.colorspace, parsed.colorspace, "colorspace",
                                          label, where)
        if parsed.has_prompt:
            prompt = parsed.prompt(default_frame)
            findings.prompt = self._first(findings.prompt, prompt, "prompt (points/box)", label,
                                          where)

    def _first(self, current, new, what: str, label: CutListProblem, where: str):
        if current is None or new is None or current == new:
            return current if current is not None else new
        self.problems.append(replace(label, reason=f"{where}: a second {what} is ignored; the "
                                     "first one wins"))
        return current


# --- time ----------------------------------------------------------------------------------


def _visible_in_track(clip: otio.schema.Clip, track: otio.schema.Track,
                     visible: TimeRange) -> TimeRange | None:
    """`visible`, the nested clip's range in its top-level track, cut to what enclosing nested
    stacks show."""
    parent = clip.parent()
    while parent is not None and parent is not track:
        window = parent.transformed_time_range(parent.trimmed_range(), track)
        visible = _intersection(visible, window)
        if visible is None:
            return None
        parent = parent.parent()
    return visible


def _source_range(clip: otio.schema.Clip, full: TimeRange, in_track: TimeRange) -> TimeRange:
    """The clip's source range, trimmed like `in_track` when a nested stack hides part of it
    (`full`: the clip's whole range in the track)."""
    source = clip.trimmed_range()
    if full == in_track:
        return source
    head = (in_track.start_time - full.start_time).rescaled_to(source.start_time)
    return TimeRange(source.start_time + head, in_track.duration.rescaled_to(source.start_time))


def _listed(items) -> list:
    """The items of an OTIO vector (markers, effects) by index: iterating one ends in an
    exception that costs ~25 us, which a 10,000-clip cut list pays tens of thousands of times."""
    return [items[index] for index in range(len(items))]


def _intersection(a: TimeRange, b: TimeRange) -> TimeRange | None:
    start = max(a.start_time, b.start_time)
    end = min(a.end_time_exclusive(), b.end_time_exclusive())
    return TimeRange(start, end - start) if end > start else None


def _marker_start(marker: otio.schema.Marker) -> float:
    return marker.marked_range.start_time.to_seconds()


def _marker_hits(marked: TimeRange, clip_range: TimeRange) -> bool:
    """A point marker inside the clip, or a ranged marker overlapping it."""
    if marked.duration.value <= 0:
        return clip_range.start_time <= marked.start_time < clip_range.end_time_exclusive()
    return _intersection(marked, clip_range) is not None


def _transition_handles(clip: otio.schema.Clip, track: otio.schema.Track,
                        rate: Fraction) -> list[str]:
    """Source frames a dissolve shows beyond the cut: they need cleaning too."""
    if clip.parent() is not track:
        return []
    cut, visible = clip.trimmed_range(), clip.visible_range()
    head = frames_at(cut.start_time - visible.start_time, rate)
    tail = frames_at(visible.end_time_exclusive() - cut.end_time_exclusive(), rate)
    notes = []
    if head > 0:
        notes.append(f"in a transition: {head} more source frames before the cut in")
    if tail > 0:
        notes.append(f"in a transition: {tail} more source frames after the cut out")
    return notes


def _source_start_frame(clip: otio.schema.Clip, source: TimeRange, rate: Fraction) -> int:
    """Image number for image sequences, else the source-in frame count (TC frames)."""
    reference = clip.media_reference
    if isinstance(reference, otio.schema.ImageSequenceReference):
        try:
            return int(reference.frame_for_time(source.start_time))
        except (ValueError, IndexError):
            return reference.start_frame + frames_at(source.start_time, rate)
    return frames_at(source.start_time, rate)


def _media_start_frame(clip: otio.schema.Clip, rate: Fraction) -> int | None:
    """A video reference's available_range start, in the source range's frames (image
    sequences number their own frames; EDLs never say)."""
    reference = clip.media_reference
    if isinstance(reference, otio.schema.ImageSequenceReference):
        return None
    available = getattr(reference, "available_range", None)
    return frames_at(available.start_time, rate) if available is not None else None


def _effect_speed(clip: otio.schema.Clip) -> str | None:
    for effect in _listed(clip.effects):
        if isinstance(effect, otio.schema.FreezeFrame):
            return "freeze frame"
        if isinstance(effect, otio.schema.LinearTimeWarp):
            scalar = effect.time_scalar
            if scalar == 0:
                return "freeze frame"
            direction = "reverse " if scalar < 0 else ""
            return f"speed {direction}{abs(scalar) * 100:.4g}%"
        if isinstance(effect, otio.schema.TimeEffect):
            return f"time effect {effect.effect_name or effect.name or type(effect).__name__}"
    return None


# --- names ---------------------------------------------------------------------------------


def _clip_name(clip: otio.schema.Clip, event: EdlEvent | None) -> str:
    if event is None:
        return clip.name or ""
    if clip.name.isdigit():  # the adapter names an unnamed clip by its (renumbered) event
        return ""
    if (event.freeze or event.speed == 0) and clip.name.endswith(" FF"):
        return clip.name[:-3]  # Avid marks freeze-frame clip names with " FF"
    return clip.name


def _reel(clip: otio.schema.Clip, event: EdlEvent | None) -> str | None:
    reel = event.reel if event is not None else \
        clip.metadata.get("cmx_3600", {}).get("reel") if "cmx_3600" in clip.metadata else None
    return reel if reel and reel.upper() not in ("AX", "BL", "BLACK", "BARS") else None


def _outer_stack_name(clip: otio.schema.Clip, track: otio.schema.Track) -> str:
    item = clip
    while item.parent() is not None and item.parent() is not track:
        item = item.parent()
    return item.name or type(item).__name__


def _marker_texts(marker: otio.schema.Marker) -> list[str]:
    texts = [marker.name, marker.comment]
    fcp = marker.metadata.get("fcp_xml") if "fcp_xml" in marker.metadata else None
    if fcp is not None and "comment" in fcp and isinstance(fcp["comment"], str):
        texts.append(fcp["comment"])
    return [text for text in texts if text]


def _strip_media_suffix(name: str) -> str:
    """"sh010_plate_v001.mov" -> "sh010_plate_v001"; also drops a frame-range or padding part
    of image-sequence names ("sh010.[1001-1048]", "sh010.####.exr", "sh010.%04d.exr")."""
    suffix = Path(name).suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        name = name[: -len(suffix)]
    elif suffix in _IMAGE_SUFFIXES:
        name = re.sub(r"[._]\d+$", "", name[: -len(suffix)])  # sh010.1001.exr -> sh010
    return _FRAME_PART.sub("", name)


def _strip_frame_part(name: str) -> str:
    return name if Path(name).suffix.lower() in VIDEO_SUFFIXES else _strip_media_suffix(name)


def safe_name(text: str) -> str:
    """A file-system-safe shot name: letters, digits, '_' and '-' only, at most 64 chars."""
    return safe_component(text)


def _named_shots(drafts: list[_Draft]) -> list[ShotSpec]:
    """First usable name of each draft, made unique (case-insensitively) in cut order."""
    taken: set[str] = set()
    last_count: dict[str, int] = {}  # per base: every lower suffix is taken already
    shots = []
    for draft in drafts:
        base = next((safe for name in draft.names if (safe := safe_name(name))), "shot")
        count = last_count.get(base.lower(), 1)
        name = base if count == 1 else f"{base}_{count}"
        while name.lower() in taken:
            count += 1
            name = f"{base}_{count}"
        last_count[base.lower()] = count
        taken.add(name.lower())
        shots.append(ShotSpec(name=name, **draft.fields))
    return shots
