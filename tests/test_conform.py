"""The conformed OTIO: each cleaned clip gets an ImageSequenceReference to its EXRs (active key
"void_clean"), the original reference stays, everything else is untouched."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
from opentimelineio.opentime import RationalTime as RT
from opentimelineio.opentime import TimeRange as TR

from void_core.cutlist import read_cutlist
from void_core.cutlist.conform import CLEAN_KEY, METADATA_KEY, CleanPlate, write_conformed_otio
from void_core.errors import MediaError
from void_core.media.exr import read_exr_frame, write_exr_frame

DATA = Path(__file__).parent / "data"
NTSC = Fraction(24000, 1001)


def write_exrs(spec, out_root: Path, width=16, height=8) -> Path:
    """The shot's EXRs as the farm names them: `<shot>.<source frame>.exr`, one per frame."""
    folder = out_root / spec.name
    folder.mkdir(parents=True)
    for offset in range(spec.frame_count):
        frame = spec.source_start_frame + offset
        rgb = np.full((height, width, 3), offset / 100, np.float16)
        write_exr_frame(folder / f"{spec.name}.{frame:04d}.exr", rgb,
                        attributes={"void/source_frame": str(offset)})
    return folder


def clip_at(timeline, track_index: int, clip_index: int) -> otio.schema.Clip:
    return list(timeline.tracks[track_index].find_clips())[clip_index]


def as_path(url: str) -> Path:
    return Path(otio.url_utils.filepath_from_url(url))


def conformed(cut, processed: list[str], out: Path, **kwargs) -> otio.schema.Timeline:
    specs = {spec.name: spec for spec in cut.shots}
    plates = {name: CleanPlate.for_shot(specs[name], write_exrs(specs[name], out))
              for name in processed}
    path = write_conformed_otio(cut, plates, out / "reel.conformed.otio", **kwargs)
    assert path == out / "reel.conformed.otio"
    assert not list(out.glob(".*partial*"))
    return otio.adapters.read_from_file(str(path))


def _clip(name: str, first: int, frames: int, rate: float, url: str) -> otio.schema.Clip:
    available = TR(RT(first, rate), RT(frames, rate))
    return otio.schema.Clip(name=name, source_range=available,
                            media_reference=otio.schema.ExternalReference(url, available))


@pytest.fixture
def otio_cut(tmp_path):
    """Two video tracks at 23.976 with repeated clip names, a gap, and an audio track."""
    rate = float(NTSC)
    v1 = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    v1.append(_clip("plate", 1001, 8, rate, "file:///show/plates/a.mov"))
    v1.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(4, rate))))
    v1.append(_clip("plate", 1101, 8, rate, "file:///show/plates/b.mov"))
    v1.append(_clip("other", 1201, 6, rate, "file:///show/plates/c.mov"))
    v2 = otio.schema.Track(name="V2", kind=otio.schema.TrackKind.Video)
    v2.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(12, rate))))
    v2.append(_clip("plate", 2001, 8, rate, "file:///show/plates/d.mov"))
    audio = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    audio.append(_clip("plate", 1001, 20, rate, "file:///show/plates/a.wav"))
    timeline = otio.schema.Timeline(name="reel", global_start_time=RT(86400 * 24, rate))
    timeline.tracks.extend([v1, v2, audio])
    path = tmp_path / "reel.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return read_cutlist(path)


def test_otio_clean_plates_become_the_active_reference(otio_cut, tmp_path):
    cut = otio_cut
    assert [(s.name, s.track, s.source_start_frame) for s in cut.shots] == [
        ("plate", "V1", 1001), ("plate_2", "V1", 1101), ("other", "V1", 1201),
        ("plate_3", "V2", 2001)]
    timeline = conformed(cut, ["plate_2", "plate_3"], tmp_path / "out", run_id="run-7")
    for track, index, shot, first in ((0, 1, "plate_2", 1101), (1, 0, "plate_3", 2001)):
        clip = clip_at(timeline, track, index)
        assert clip.active_media_reference_key == CLEAN_KEY
        reference = clip.media_reference
        assert isinstance(reference, otio.schema.ImageSequenceReference)
        assert reference.target_url_base.startswith("file:///")
        first_file = as_path(reference.target_url_for_image_number(0))
        assert first_file == (tmp_path / "out" / shot / f"{shot}.{first}.exr").resolve()
        assert first_file.is_file()
        assert read_exr_frame(first_file).header["void/source_frame"] == "0"
        last_file = as_path(reference.target_url_for_image_number(7))
        assert last_file.name == f"{shot}.{first + 7}.exr" and last_file.is_file()
        # EXR numbers are the source frames: the clip's source range *is* the available range.
        assert reference.available_range == clip.source_range == TR(RT(first, float(NTSC)),
                                                                    RT(8, float(NTSC)))
        assert reference.frame_for_time(clip.source_range.start_time) == first
        assert (reference.name_prefix, reference.name_suffix) == (f"{shot}.", ".exr")
        assert (reference.start_frame, reference.frame_step, reference.frame_zero_padding) == \
            (first, 1, 4)
        assert reference.rate == pytest.approx(float(NTSC))
        assert reference.missing_frame_policy == \
            otio.schema.ImageSequenceReference.MissingFramePolicy.error
        assert clip.metadata[METADATA_KEY]["shot"] == shot
        assert clip.metadata[METADATA_KEY]["run_id"] == "run-7"
        assert clip.metadata[METADATA_KEY]["exr"].endswith(f"{shot}/{shot}.####.exr")
    original = clip_at(timeline, 0, 1).media_references()["DEFAULT_MEDIA"]
    assert original.target_url == "file:///show/plates/b.mov"


def test_otio_unprocessed_clips_and_other_tracks_are_untouched(otio_cut, tmp_path):
    timeline = conformed(otio_cut, ["plate_2"], tmp_path / "out")
    source = otio_cut.timeline
    for track, index in ((0, 0), (0, 2), (1, 0), (2, 0)):
        assert clip_at(timeline, track, index).to_json_string() == \
            clip_at(source, track, index).to_json_string()
    assert [type(item).__name__ for item in timeline.tracks[0]] == ["Clip", "Gap", "Clip", "Clip"]
    assert timeline.global_start_time == source.global_start_time
    assert CLEAN_KEY not in clip_at(source, 0, 1).media_references()  # the input is not changed


def test_a_conformed_otio_reads_back_as_the_same_cut(otio_cut, tmp_path):
    """Editors hand the conform back: it must list the same shots, with no metadata complaints."""
    conformed(otio_cut, ["plate", "plate_3"], tmp_path / "out")
    again = read_cutlist(tmp_path / "out" / "reel.conformed.otio")
    assert again.problems == []
    assert [(s.name, s.track, s.source_start_frame, s.frame_count) for s in again.shots] == \
        [(s.name, s.track, s.source_start_frame, s.frame_count) for s in otio_cut.shots]
    assert again.shots[0].media_resolved  # now the clean EXRs
    assert again.shots[0].media_path.parent == (tmp_path / "out" / "plate").resolve()


EDL_TEXT = """TITLE: reel
FCM: NON-DROP FRAME

001  A001     V     C        01:00:00:00 01:00:00:08 01:00:00:00 01:00:00:08
* FROM CLIP NAME:  plate.mov
002  A002     V     C        01:00:10:00 01:00:10:08 01:00:00:08 01:00:00:16
* FROM CLIP NAME:  plate.mov
003  A003     V     C        01:00:20:00 01:00:20:06 01:00:00:16 01:00:00:22
* FROM CLIP NAME:  other.mov
"""


def test_edl_repeated_clip_names_map_by_position(tmp_path):
    edl = tmp_path / "reel.edl"
    edl.write_text(EDL_TEXT)
    cut = read_cutlist(edl, rate=24)
    assert [(s.name, s.source_start_frame) for s in cut.shots] == [
        ("plate", 86400), ("plate_2", 86640), ("other", 86880)]
    timeline = conformed(cut, ["plate_2", "other"], tmp_path / "out")
    clips = list(timeline.find_clips())
    assert clips[0].to_json_string() == list(cut.timeline.find_clips())[0].to_json_string()
    for clip, shot, first, frames in ((clips[1], "plate_2", 86640, 8),
                                      (clips[2], "other", 86880, 6)):
        reference = clip.media_reference
        assert clip.active_media_reference_key == CLEAN_KEY
        first_file = as_path(reference.target_url_for_image_number(0))
        assert first_file.name == f"{shot}.{first}.exr" and first_file.is_file()
        # TC frames (01:00:10:00 = 86640 at 24) are the EXR numbers: the ranges coincide.
        assert clip.source_range.start_time == RT(first, 24)
        assert reference.available_range == clip.source_range == TR(RT(first, 24), RT(frames, 24))
        last = clip.source_range.end_time_inclusive()
        assert reference.frame_for_time(last) == first + frames - 1
        assert "cmx_3600" in clip.metadata  # the adapter's own metadata stays
        assert "DEFAULT_MEDIA" in clip.media_references()


@pytest.mark.parametrize(("name", "rate"), [
    ("edl/avid.edl", None), ("edl/nucoda.edl", None), ("edl/premiere.edl", None),
    ("edl/speed.edl", None), ("edl/ntsc_df.edl", "29.97"), ("edl/ntsc_2398.edl", "23.976"),
    ("edl/fps25.edl", "25"), ("fcp/reel2.xml", None), ("otio/reel3.otio", None)])
def test_every_shot_of_the_sample_cut_lists_finds_its_own_clip(name, rate, tmp_path):
    """Transitions, speed effects, drop frame, nested stacks: one conformed clip per shot,
    whose clean reference maps the shot's source in to its first EXR."""
    cut = read_cutlist(DATA / name, rate=rate)
    assert cut.shots
    plates = {spec.name: CleanPlate(shot=spec.name, exr_dir=tmp_path / spec.name,
                                    name_prefix=f"{spec.name}.",
                                    first_frame=spec.source_start_frame,
                                    frame_count=spec.frame_count, rate=spec.rate, width=16,
                                    height=8) for spec in cut.shots}
    path = write_conformed_otio(cut, plates, tmp_path / "c.otio")
    timeline = otio.adapters.read_from_file(str(path))
    found = {}
    for clip in timeline.find_clips():
        if METADATA_KEY in clip.metadata:
            found.setdefault(clip.metadata[METADATA_KEY]["shot"], []).append(clip)
    assert sorted(found) == sorted(plates)
    specs = {spec.name: spec for spec in cut.shots}
    for shot, clips in found.items():
        assert len(clips) == 1
        reference = clips[0].media_reference
        assert reference.frame_for_time(specs[shot].source_range.start_time) == \
            specs[shot].source_start_frame
        assert (reference.start_frame, reference.number_of_images_in_sequence()) == \
            (specs[shot].source_start_frame, specs[shot].frame_count)


def test_clean_plate_for_shot_reads_the_files(otio_cut, tmp_path):
    spec = otio_cut.shots[3]
    plate = CleanPlate.for_shot(spec, write_exrs(spec, tmp_path, width=20, height=10))
    assert (plate.shot, plate.name_prefix, plate.first_frame, plate.frame_count) == \
        ("plate_3", "plate_3.", 2001, 8)
    assert (plate.width, plate.height, plate.rate, plate.frame_zero_padding) == (20, 10, NTSC, 4)
    assert plate.exr_dir.is_absolute() and plate.last_frame == 2008
    with pytest.raises(MediaError, match="no frames"):
        CleanPlate.for_shot(otio_cut.shots[0], tmp_path / "nothing")


def test_rewriting_replaces_the_file_whole(otio_cut, tmp_path):
    out = tmp_path / "out"
    first = conformed(otio_cut, ["plate"], out)
    assert clip_at(first, 0, 0).active_media_reference_key == CLEAN_KEY
    path = write_conformed_otio(otio_cut, {}, out / "reel.conformed.otio")
    again = otio.adapters.read_from_file(str(path))
    assert clip_at(again, 0, 0).active_media_reference_key == "DEFAULT_MEDIA"
    assert again.metadata[METADATA_KEY]["clean_clips"] == 0


def test_clips_in_a_trimmed_nested_stack_get_the_frames_the_cut_shows(tmp_path):
    """Same-named clips inside a nested stack that hides part of them: each gets the EXRs of
    the part the cut shows, numbered from that part's first source frame."""
    inner = otio.schema.Track(name="inner", kind=otio.schema.TrackKind.Video)
    inner.append(_clip("plate", 100, 6, 24, "file:///p/b.mov"))
    inner.append(_clip("plate", 200, 6, 24, "file:///p/c.mov"))
    inner.append(_clip("plate", 300, 6, 24, "file:///p/hidden.mov"))  # the stack hides it all
    stack = otio.schema.Stack(name="nest", source_range=TR(RT(2, 24), RT(8, 24)))
    stack.append(inner)
    v1 = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    v1.append(_clip("plate", 0, 8, 24, "file:///p/a.mov"))
    v1.append(stack)
    v1.append(_clip("plate", 400, 5, 24, "file:///p/d.mov"))
    timeline = otio.schema.Timeline(name="nested")
    timeline.tracks.append(v1)
    otio.adapters.write_to_file(timeline, str(tmp_path / "nested.otio"))
    cut = read_cutlist(tmp_path / "nested.otio")
    assert [(s.name, s.source_start_frame, s.frame_count) for s in cut.shots] == [
        ("plate", 0, 8), ("plate_2", 102, 4), ("plate_3", 200, 4), ("plate_4", 400, 5)]
    result = conformed(cut, ["plate_2", "plate_3", "plate_4"], tmp_path / "out")
    clips = list(result.find_clips())
    assert clips[0].active_media_reference_key == "DEFAULT_MEDIA"
    assert clips[3].to_json_string() == list(cut.timeline.find_clips())[3].to_json_string()
    for clip, shot, first, frames in ((clips[1], "plate_2", 102, 4), (clips[2], "plate_3", 200, 4),
                                      (clips[4], "plate_4", 400, 5)):
        reference = clip.media_reference
        assert clip.metadata[METADATA_KEY]["shot"] == shot
        assert reference.available_range == TR(RT(first, 24), RT(frames, 24))
        first_file = as_path(reference.target_url_for_image_number(0))
        assert first_file.name == f"{shot}.{first:04d}.exr" and first_file.is_file()
