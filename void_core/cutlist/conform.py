"""The conformed timeline: the editor's cut with every cleaned clip pointing at its clean plates.

`write_conformed_otio` copies the cut list's timeline and gives each processed clip a second
media reference, an `ImageSequenceReference` to its EXRs under the key "void_clean", made the
active one; the clip's original reference stays under its own key, so an editor, Nuke Studio or
Resolve conforms the clean plates and the original is one switch away. Clips that were not
processed are left exactly as they were.

Clip <-> shot: clip names repeat (two takes of "plate", one per track), so a clip is matched to
its `ShotSpec` by position: the reader walks the video tracks and their clips in one fixed order
and drafts the shots in that order, so walking the copy the same way and taking the next shot
on the same track whose record range lies within the clip's (and whose source start lies within
the clip's source range) pairs every shot with the clip it came from.

Time: the EXRs are numbered from the shot's `source_start_frame`, the clip's source-in frame, so
the clean reference's `available_range` is the clip's source range: a clip whose source time
counts frames (1001 ..., or TC frames 86400 ...) gets an `available_range` in the EXR frame
numbers, and `frame_for_time(clip source in)` is the first EXR.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import OpenEXR
import opentimelineio as otio
from opentimelineio import url_utils
from opentimelineio.opentime import RationalTime, TimeRange

from void_core.cutlist.model import CutList, ShotSpec, frames_at
from void_core.errors import MediaError
from void_core.media.sequence import find_sequence

CLEAN_KEY = "void_clean"  # the media-reference key of the clean plates
METADATA_KEY = "void_farm"  # clip metadata: {"shot", "exr", "first_frame", "last_frame", "run_id"}
FRAME_ZERO_PADDING = 4


@dataclass(frozen=True)
class CleanPlate:
    """A shot's clean EXR sequence: `<exr_dir>/<name_prefix><frame:04d>.exr`."""

    shot: str
    exr_dir: Path
    name_prefix: str
    first_frame: int
    frame_count: int
    rate: Fraction
    width: int
    height: int
    frame_zero_padding: int = FRAME_ZERO_PADDING

    @property
    def last_frame(self) -> int:
        return self.first_frame + self.frame_count - 1

    @property
    def pattern(self) -> Path:
        """`sh010.####.exr` style, for people and lineage."""
        return self.exr_dir / f"{self.name_prefix}{'#' * self.frame_zero_padding}.exr"

    @classmethod
    def for_shot(cls, spec: ShotSpec, exr_dir: Path) -> CleanPlate:
        """The plate a shot wrote into `exr_dir`, as found on disk (`<shot>.<frame>.exr`).

        Raises:
            MediaError: no EXRs of the shot there, a gap in their numbers, or an unreadable one.
        """
        exr_dir = Path(exr_dir)
        sequence = find_sequence(exr_dir / f"{spec.name}.{'#' * FRAME_ZERO_PADDING}.exr")
        width, height = _exr_size(sequence.frames[0])
        return cls(shot=spec.name, exr_dir=exr_dir.resolve(), name_prefix=f"{spec.name}.",
                   first_frame=sequence.first_frame, frame_count=len(sequence.frames),
                   rate=spec.rate, width=width, height=height)


def write_conformed_otio(cutlist: CutList, plates: Mapping[str, CleanPlate], out_path: Path, *,
                         run_id: str | None = None) -> Path:
    """Write `out_path` (OTIO JSON): the cut list's timeline with the clean plates conformed.

    Args:
        cutlist: as `read_cutlist` returned it (EDL, OTIO or FCP XML).
        plates: shot name (`ShotSpec.name`) -> its clean plate; shots missing here (failed,
            not processed) keep their clips untouched.
        out_path: destination; written under a temporary name and renamed.
        run_id: the lineage run, recorded in each conformed clip's metadata.
    """
    timeline = cutlist.timeline.deepcopy()
    conformed = 0
    for clip, spec in match_clips(timeline, cutlist.shots):
        plate = plates.get(spec.name)
        if plate is not None:
            _conform_clip(clip, spec, plate, run_id)
            conformed += 1
    timeline.metadata[METADATA_KEY] = {"cutlist": str(cutlist.path), "run_id": run_id,
                                       "clean_clips": conformed, "media_key": CLEAN_KEY}
    return _write_atomically(timeline, Path(out_path))


def match_clips(timeline: otio.schema.Timeline,
                shots: list[ShotSpec]) -> Iterator[tuple[otio.schema.Clip, ShotSpec]]:
    """Pair each shot with the clip of `timeline` it was read from (see module docstring)."""
    pending = list(shots)
    for track_name, track, clip in _video_clips(timeline):
        # In the reader's order the match is the first pending shot; searching on keeps one
        # odd shot from blocking the rest.
        spec = next((s for s in pending if s.track == track_name
                     and _is_from(s, clip, track, timeline)), None)
        if spec is not None:
            pending.remove(spec)
            yield clip, spec


def clean_reference(spec: ShotSpec, plate: CleanPlate) -> otio.schema.ImageSequenceReference:
    """The `ImageSequenceReference` to a shot's EXRs, timed in the clip's source time."""
    rate = float(plate.rate)
    # The source time of EXR `first_frame`: the clip's source in, moved by however far the
    # files' numbering starts from the shot's (0 unless they were renumbered).
    source_in = frames_at(spec.source_range.start_time, plate.rate)
    start = source_in + plate.first_frame - spec.source_start_frame
    return otio.schema.ImageSequenceReference(
        # A file:// URL, as OTIO's schema defines target_url_base and as its own url_utils
        # writes it (absolute, not percent-encoded): OTIO-based readers (Resolve, RV, OTIO's
        # media linkers) convert it back with url_utils.filepath_from_url, and importers that
        # only strip "file://" (Nuke Studio/Hiero scripts) still get a valid path. The
        # trailing slash makes plain concatenation with name_prefix correct too.
        target_url_base=url_utils.url_from_filepath(str(plate.exr_dir)).rstrip("/") + "/",
        name_prefix=plate.name_prefix, name_suffix=".exr",
        start_frame=plate.first_frame, frame_step=1, rate=rate,
        frame_zero_padding=plate.frame_zero_padding,
        missing_frame_policy=otio.schema.ImageSequenceReference.MissingFramePolicy.error,
        available_range=TimeRange(RationalTime(start, rate), RationalTime(plate.frame_count, rate)),
        metadata={METADATA_KEY: {"width": plate.width, "height": plate.height}},
    )


def _conform_clip(clip: otio.schema.Clip, spec: ShotSpec, plate: CleanPlate,
                  run_id: str | None) -> None:
    references = dict(clip.media_references())  # the original stays under its own key
    references[CLEAN_KEY] = clean_reference(spec, plate)
    clip.set_media_references(references, CLEAN_KEY)
    # Not under "void": that key holds the editor's instructions and the reader rejects
    # unknown keys there, so a conformed timeline read back as a cut list would fail.
    clip.metadata[METADATA_KEY] = {"shot": plate.shot, "exr": str(plate.pattern),
                                   "first_frame": plate.first_frame,
                                   "last_frame": plate.last_frame, "run_id": run_id}


def _video_clips(timeline: otio.schema.Timeline) -> Iterator[tuple[str, otio.schema.Track,
                                                                     otio.schema.Clip]]:
    """(track name, track, clip) in the reader's order, for the clips it can make shots of."""
    video_number = 0
    for track in timeline.tracks:
        if getattr(track, "kind", None) != otio.schema.TrackKind.Video:
            continue
        video_number += 1
        if not track.enabled:
            continue
        track_name = track.name or f"V{video_number}"
        for clip in track.find_clips():
            generated = isinstance(clip.media_reference, otio.schema.GeneratorReference)
            if clip.enabled and not generated:  # black and bars are no shots
                yield track_name, track, clip


def _is_from(spec: ShotSpec, clip: otio.schema.Clip, track: otio.schema.Track,
             timeline: otio.schema.Timeline) -> bool:
    """The shot's record range lies within the clip's, and its source in within the clip's
    source range (speed-changed shots keep their source as the EDL wrote it: record only)."""
    try:
        in_track = clip.transformed_time_range(clip.trimmed_range(), track)
        record = track.transformed_time_range(in_track, timeline.tracks)
        source = clip.trimmed_range()
    except Exception:  # a clip without a usable range was no shot
        return False
    if timeline.global_start_time is not None:
        record = TimeRange(record.start_time + timeline.global_start_time.rescaled_to(
            record.start_time), record.duration)
    if not _within(spec.record_range, record):
        return False
    if spec.speed_effect:
        return True
    start = spec.source_range.start_time
    half_frame = 0.5 / float(spec.rate)
    return (source.start_time.to_seconds() - half_frame <= start.to_seconds()
            < source.end_time_exclusive().to_seconds() + half_frame)


def _within(inner: TimeRange, outer: TimeRange) -> bool:
    """`inner` inside `outer`, to within half a frame at the ranges' rate."""
    tolerance = 0.5 / outer.start_time.rate
    return (outer.start_time.to_seconds() - tolerance <= inner.start_time.to_seconds()
            and inner.end_time_exclusive().to_seconds()
            <= outer.end_time_exclusive().to_seconds() + tolerance)


def _exr_size(path: Path) -> tuple[int, int]:
    try:
        with OpenEXR.File(str(path), header_only=True) as exr:
            low, high = exr.header()["dataWindow"]
    except Exception as err:  # the bindings raise plain Exception on corrupt files
        raise MediaError(path, f"cannot read EXR header ({err})") from None
    return int(high[0] - low[0] + 1), int(high[1] - low[1] + 1)


def _write_atomically(timeline: otio.schema.Timeline, path: Path) -> Path:
    text = otio.adapters.write_to_string(timeline, "otio_json")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


__all__ = ["CLEAN_KEY", "METADATA_KEY", "CleanPlate", "clean_reference", "match_clips",
           "write_conformed_otio"]
