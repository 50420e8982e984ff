"""Cut lists -> ShotSpecs: EDL styles from real NLEs, OTIO markers and metadata, FCP 7 XML,
media resolution, and the errors a user sees for files that cannot be read."""

from __future__ import annotations

import shutil
import zipfile
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
from opentimelineio.opentime import RationalTime as RT
from opentimelineio.opentime import TimeRange as TR

from void_core.cutlist import exact_rate, read_cutlist, safe_name, void_text
from void_core.cutlist.instructions import parse_structured
from void_core.errors import CutListError, InputError

DATA = Path(__file__).parent / "data"
EDL = DATA / "edl"


def by_name(cut):
    return {shot.name: shot for shot in cut.shots}


def tc(time_range, key="start_tc"):
    from void_core.cutlist.model import range_json

    return range_json(time_range)[key]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- EDL: what lands where -----------------------------------------------------------------


def test_avid_edl_lists_one_shot_per_video_event():
    cut = read_cutlist(EDL / "avid.edl")
    assert cut.name == "REEL1 VOID CLEANUP" and cut.format == "edl"
    assert cut.rate == Fraction(24) and cut.problems == [] and cut.notes == []
    assert [(s.name, s.event, s.track) for s in cut.shots] == [
        ("sh010_plate_v001", 1, "V"), ("sh020_plate_v002", 2, "V"),
        ("sh030_plate_v001", 4, "V"), ("sh040_plate_v001", 5, "V"),
        ("sh050_plate_v001", 7, "V"),
    ]
    first = cut.shots[0]
    assert first.clip_name == "sh010_plate_v001.mov" and first.reel == "A001C003"
    assert tc(first.source_range) == "14:02:10:00" and tc(first.source_range, "end_tc") == "14:02:12:00"
    assert tc(first.record_range) == "01:00:00:00" and tc(first.record_range, "end_tc") == "01:00:02:00"
    assert first.source_start_frame == (14 * 3600 + 2 * 60 + 10) * 24
    assert first.frame_count == 48 and first.rate == Fraction(24)


def test_audio_events_are_not_shots_but_their_tracks_exist():
    cut = read_cutlist(EDL / "avid.edl")
    assert {track.name for track in cut.timeline.tracks} == {"V", "A1", "A2"}
    assert 3 not in [s.event for s in cut.shots] and 6 not in [s.event for s in cut.shots]
    # the AA/V event is one shot, not three
    assert [s.event for s in cut.shots].count(2) == 1


def test_record_gap_keeps_the_record_timecode():
    shot = by_name(read_cutlist(EDL / "avid.edl"))["sh050_plate_v001"]
    assert tc(shot.record_range) == "01:00:13:00" and tc(shot.record_range, "end_tc") == "01:00:14:12"
    assert shot.frame_count == 36


def test_locators_and_comments_carry_void_instructions():
    shots = by_name(read_cutlist(EDL / "avid.edl"))
    assert shots["sh010_plate_v001"].instructions == ("remove the boom mic",)  # GREEN LOC is not VOID:
    assert shots["sh020_plate_v002"].instructions == ("delete the crew member on the left",)
    assert shots["sh030_plate_v001"].instructions == ("paint out the light stand",)  # "void :"
    assert shots["sh040_plate_v001"].instructions == ("remove the logo on the cup",)
    assert shots["sh050_plate_v001"].instructions == ()


def test_dissolve_incoming_clip_is_a_shot_and_outgoing_clip_notes_its_handles():
    shots = by_name(read_cutlist(EDL / "avid.edl"))
    incoming = shots["sh040_plate_v001"]
    assert incoming.event == 5 and incoming.reel == "A003C002"
    assert tc(incoming.record_range) == "01:00:08:00" and incoming.frame_count == 72
    assert shots["sh030_plate_v001"].warnings == (
        "in a transition: 12 more source frames after the cut out",)


def test_loc_text_is_read_from_the_file_not_the_adapter(tmp_path):
    # The adapter eats the first word as a colour and drops single-spaced or DF locators.
    path = write(tmp_path / "loc.edl", "\n".join([
        "001  R1  V  C  01:00:00:00 01:00:02:00 01:00:00:00 01:00:02:00",
        "* LOC: 01:00:00:05 VOID: remove the cable",
        "* LOC: 01:00:00:06 MAGENTA   Void:take out the bird",
        "* LOC: 01:00:00:07 BLUE just a note",
        "* VOID: erase the reflection",
        "* COMMENT:   void :  remove the sign  ",
    ]) + "\n")
    shot = read_cutlist(path).shots[0]
    assert shot.instructions == ("remove the cable", "take out the bird", "erase the reflection",
                                 "remove the sign")


def test_premiere_style_source_file_found_under_media_root(tmp_path):
    root = tmp_path / "media"
    (root / "Day 1").mkdir(parents=True)
    (root / "Day 1" / "Shot 010 (take 2).mov").write_bytes(b"")
    (root / "conform").mkdir()
    (root / "conform" / "sh020.mov").write_bytes(b"")
    cut = read_cutlist(EDL / "premiere.edl", media_root=root)
    assert [s.name for s in cut.shots] == ["Shot_010_take_2", "sh020"]
    first, second = cut.shots
    assert first.reel is None  # AX means "no reel"
    assert first.media_resolved and first.media_path == root / "Day 1" / "Shot 010 (take 2).mov"
    # a Windows path in SOURCE FILE is matched by its file name
    assert second.media_path == root / "conform" / "sh020.mov"
    assert second.instructions == ("remove the microphone shadow",)


def test_nucoda_from_file_image_sequence_relative_to_the_edl(tmp_path):
    shutil.copy(EDL / "nucoda.edl", tmp_path / "cut.edl")
    (tmp_path / "plates").mkdir()
    (tmp_path / "plates" / "sh010_plate_v001.1001.exr").write_bytes(b"")
    cut = read_cutlist(tmp_path / "cut.edl")
    sequence, movie = cut.shots
    assert sequence.name == "sh010_plate_v001"
    assert sequence.media_path == tmp_path / "plates" / "sh010_plate_v001.####.exr"
    assert sequence.source_start_frame == 1001  # the image number, not the timecode frame
    assert tc(sequence.record_range) == "10:00:00:00"
    assert sequence.instructions == ("remove the tracking markers",)
    assert not movie.media_resolved and movie.media_path is None
    assert "/show/plates/sh020_plate_v003.mov" in movie.media_hint


def test_speed_effects_are_flagged_and_keep_their_source_range():
    shots = by_name(read_cutlist(EDL / "speed.edl"))
    slow = shots["sh010_slowmo"]
    assert slow.speed_effect and slow.speed_description == "M2 50% (12.0 fps)"
    assert slow.frame_count == 24 and slow.record_range.duration.value == 48
    hold = shots["sh020_hold"]
    assert hold.speed_effect and hold.speed_description == "freeze frame (M2 0 fps)"
    assert not shots["sh030"].speed_effect and shots["sh030"].speed_description is None


def test_timecode_mismatch_is_read_relaxed_with_warnings_on_the_shots():
    cut = read_cutlist(EDL / "mismatch.edl")
    assert any("ignore_timecode_mismatch" in note for note in cut.notes)
    shots = by_name(cut)
    assert shots["sh010"].warnings == (
        "line 2: source is 48 frames but record is 36 (timecode mismatch); "
        "the source duration is used",)
    assert shots["sh020"].warnings == (
        "line 4: record in 01:00:01:12 overlaps the previous event; placed at 01:00:02:00",)
    assert tc(shots["sh020"].record_range) == "01:00:02:00"
    assert shots["sh030"].warnings == ()


def test_25_fps_edl():
    cut = read_cutlist(EDL / "fps25.edl", rate=25)
    assert cut.rate == Fraction(25)
    shot = by_name(cut)["sh020"]
    assert shot.source_start_frame == (10 * 3600 + 5 * 60) * 25 + 24
    assert shot.to_json()["rate"] == "25"


def test_25_fps_edl_read_at_24_names_the_line_and_suggests_the_rate():
    cut = read_cutlist(EDL / "fps25.edl")
    assert [s.name for s in cut.shots] == ["sh010"]
    assert len(cut.problems) == 1
    assert str(cut.problems[0]).startswith("line 5 (event 2): timecode 10:05:00:24 has frame 24")
    assert (cut.problems[0].event, cut.problems[0].line) == (2, 5)  # structured, not parsed back
    assert "--rate 25" in cut.problems[0].reason


@pytest.mark.parametrize("rate", ["23.976", "23.98", "24000/1001", 23.976, Fraction(24000, 1001)])
def test_ntsc_rate_is_kept_exact(rate):
    cut = read_cutlist(EDL / "ntsc_2398.edl", rate=rate)
    assert cut.rate == Fraction(24000, 1001)
    first, second = cut.shots
    assert first.rate == Fraction(24000, 1001)
    assert first.source_start_frame == 7 * 3600 * 24
    assert first.to_json()["source_range"] == {
        "start": 604800, "duration": 48, "rate": "24000/1001",
        "start_tc": "07:00:00:00", "end_tc": "07:00:02:00"}
    assert tc(second.source_range) == "07:10:00:23"


def test_semicolons_at_23976_are_read_as_non_drop():
    cut = read_cutlist(EDL / "ntsc_2398_semicolons.edl", rate="23.976")
    assert not cut.drop_frame
    assert cut.notes == ["drop-frame separators (';') read as non-drop: 24000/1001 fps has no "
                         "drop-frame timecode"]
    assert tc(cut.shots[0].source_range) == "07:00:00:00" and cut.shots[0].frame_count == 48


@pytest.mark.parametrize("fixture", ["ntsc_df.edl", "ntsc_df_colons.edl"])
def test_2997_drop_frame(fixture):
    cut = read_cutlist(EDL / fixture, rate="29.97")
    assert cut.rate == Fraction(30000, 1001) and cut.drop_frame
    shot = cut.shots[0]
    # 00:00:59;28 -> 00:01:00;04 skips ;00 and ;01: four frames, not six
    assert shot.source_start_frame == 59 * 30 + 28 and shot.frame_count == 4
    assert shot.to_json()["source_range"]["start_tc"] == "00:00:59;28"
    assert shot.to_json()["record_range"]["start_tc"] == "01:00:59;28"


def test_drop_frame_locator_still_gives_its_instruction():
    shot = read_cutlist(EDL / "ntsc_df.edl", rate="29.97").shots[0]
    assert shot.instructions == ("remove the bug in the corner",)


def test_drop_frame_timecode_at_an_integer_rate_is_a_clear_error(tmp_path):
    path = write(tmp_path / "df.edl",
                 "001  R1  V  C  01:00:00;00 01:00:01;00 01:00:00;00 01:00:01;00\n")
    with pytest.raises(CutListError) as err:
        read_cutlist(path)
    message = str(err.value)
    assert message.startswith(f"{path}: line 1: drop-frame timecode")
    assert "--rate 29.97" in message and "\n" not in message


def test_bad_event_lines_are_skipped_and_named():
    cut = read_cutlist(EDL / "bad_event.edl")
    assert [s.name for s in cut.shots] == ["sh010", "sh040"]
    assert [str(p) for p in cut.problems] == [
        "line 4 (event 2): expected 8 fields (or 9 with a transition), found 7: "
        "'002  R2       V     C        01:00:00:00 01:00:01:00 01:00:01:00'; event skipped",
        "line 6 (event 3): expected 8 fields (or 9 with a transition), found 10: "
        "'003  R3       V     K B 000  01:00:00:00 01:00:01:00 01:00:01:00 01:00:02:00'; "
        "event skipped",
        "event 4 (sh040.mov): line 9: 'VOID:' with no instruction after it",
    ]


def test_crlf_blank_lines_and_tabs_read_like_the_original(tmp_path):
    original = read_cutlist(EDL / "avid.edl")
    text = (EDL / "avid.edl").read_text()
    messy = "\ufeff" + "\r\n\r\n".join("  " + line.replace("  ", "\t") + "  "
                                        for line in text.splitlines())
    (tmp_path / "messy.edl").write_bytes(messy.encode("utf-8"))
    copy = read_cutlist(tmp_path / "messy.edl")
    assert copy.name == original.name

    def essentials(cut):
        return [(s.name, s.event, tc(s.source_range), tc(s.record_range), s.frame_count,
                 s.instructions, s.warnings) for s in cut.shots]

    assert essentials(copy) == essentials(original)


def test_latin1_edl_is_decoded(tmp_path):
    text = ("TITLE: caf\xe9 scene\n001  R1  V  C  01:00:00:00 01:00:01:00 01:00:00:00 01:00:01:00\n"
            "* FROM CLIP NAME: plaque_caf\xe9.mov\n")
    (tmp_path / "latin1.edl").write_bytes(text.encode("latin-1"))
    cut = read_cutlist(tmp_path / "latin1.edl")
    assert cut.name == "caf\xe9 scene"
    assert cut.shots[0].clip_name == "plaque_caf\xe9.mov" and cut.shots[0].name == "plaque_caf"


def test_dissolve_from_black_at_the_start_is_read_as_a_cut(tmp_path):
    path = write(tmp_path / "fade.edl", "\n".join([
        "TITLE: fade in",
        "001  BL    V  C      00:00:00:00 00:00:00:00 01:00:00:00 01:00:00:00",
        "001  A001  V  D 024  05:00:00:00 05:00:03:00 01:00:00:00 01:00:03:00",
        "* FROM CLIP NAME: sh010.mov",
        "002  BL    V  C      00:00:00:00 00:00:01:00 01:00:03:00 01:00:04:00",
    ]) + "\n")
    cut = read_cutlist(path)
    assert [s.name for s in cut.shots] == ["sh010"]  # black is not footage
    assert cut.shots[0].warnings == ("line 3: D 024 at the start of the track read as a cut",)
    assert cut.shots[0].frame_count == 72


def test_dissolve_outgoing_line_under_the_previous_event_number(tmp_path):
    # Some NLEs write the zero-length outgoing line with the previous event's number.
    path = write(tmp_path / "d.edl", "\n".join([
        "001  TST V  C      01:00:04:05 01:00:04:14 01:00:00:00 01:00:00:09",
        "* FROM CLIP NAME:  plate_a",
        "001  TST V  C      01:00:04:14 01:00:04:14 01:00:00:09 01:00:00:09",
        "002  TST V  D 010  01:00:08:08 01:00:08:18 01:00:00:09 01:00:00:19",
        "* FROM CLIP NAME:  plate_a",
        "* TO CLIP NAME:  plate_b",
    ]) + "\n")
    cut = read_cutlist(path)
    assert [(s.name, s.event, s.frame_count) for s in cut.shots] == [("plate_a", 1, 9),
                                                                       ("plate_b", 2, 10)]
    assert cut.shots[0].warnings == ("in a transition: 10 more source frames after the cut out",)
    assert cut.shots[1].warnings == ()


def test_avid_freeze_frame_spelling_and_ff_suffix(tmp_path):
    path = write(tmp_path / "ff.edl", "\n".join([
        "001  Z682_156 V  C  01:00:10:21 01:00:10:22 01:08:30:00 01:08:30:17",
        "M2   Z682_156       000.0                01:00:10:21",
        "* FROM CLIP NAME:  Z682_156 (LAY3) FF",
        "* * FREEZE FRAME",
        "002  Z682_157 V  C  01:00:10:20 01:00:10:21 01:08:30:17 01:08:30:18",
        "* FROM CLIP NAME:  Z682_157 FF",
        "* * FREEZE FRAME",
    ]) + "\n")
    first, second = read_cutlist(path).shots
    assert (first.clip_name, first.name, first.frame_count) == ("Z682_156 (LAY3)", "Z682_156_LAY3", 1)
    assert first.record_range.duration.value == 17
    assert first.speed_description == "freeze frame (M2 0 fps)"
    assert (second.clip_name, second.speed_description) == ("Z682_157", "freeze frame")


def test_malformed_cdl_and_starred_m2_lines_do_not_stop_the_file(tmp_path):
    path = write(tmp_path / "cdl.edl", "\n".join([
        "001  R1  V  C  01:00:00:00 01:00:01:00 01:00:00:00 01:00:02:00",
        "* M2 R1 012.0 01:00:00:00",
        "* ASC_SOP (1.1  1.0 1.0)(0 0 0)(1 1 1)",
        "002  R2  V  C  01:00:00:00 01:00:01:00 01:00:02:00 01:00:03:00",
        "* ASC_SAT abc",
        "* ASC_SOP (1 2 3)(bad)",
    ]) + "\n")
    cut = read_cutlist(path)
    first, second = cut.shots
    assert first.speed_description == "M2 50% (12.0 fps)"
    assert list(cut.timeline.tracks[0][0].metadata["cdl"]["asc_sop"]["slope"]) == [1.1, 1.0, 1.0]
    assert second.warnings == ("line 5: unreadable ASC_SAT 'abc' ignored",
                               "line 6: unreadable ASC_SOP '(1 2 3)(bad)' ignored")


def test_events_sharing_a_number_and_frame_count_timecodes(tmp_path):
    path = write(tmp_path / "linked.edl", "\n".join([
        "001  R1  V  C  86400 86424 86400 86424",
        "001  R1  A  C  86400 86424 86400 86424",
        "* FROM CLIP NAME: sh010.mov",
    ]) + "\n")
    cut = read_cutlist(path)
    assert [(s.name, s.event) for s in cut.shots] == [("sh010", 1)]
    assert tc(cut.shots[0].source_range) == "01:00:00:00" and cut.shots[0].frame_count == 24


def test_header_comment_lines_are_ignored(tmp_path):
    path = write(tmp_path / "h.edl", "* exported by some tool\nTITLE: x\n"
                 "001  R1  V  C  01:00:00:00 01:00:01:00 01:00:00:00 01:00:01:00\n")
    cut = read_cutlist(path)
    assert cut.name == "x" and [s.name for s in cut.shots] == ["R1"]


# --- EDL: files that cannot be read --------------------------------------------------------


def test_garbage_file_gives_one_clean_line():
    with pytest.raises(CutListError) as err:
        read_cutlist(EDL / "garbage.edl")
    message = str(err.value)
    assert message.startswith(f"{EDL / 'garbage.edl'}: not a CMX 3600 EDL: no event lines; "
                              "line 1 reads 'This is not an edit decision list.'")
    assert "\n" not in message


@pytest.mark.parametrize("content", [b"", b"\x00\x01\xff\xfe binary\n\x89PNG"])
def test_empty_or_binary_edl_is_a_clean_error(tmp_path, content):
    (tmp_path / "x.edl").write_bytes(content)
    with pytest.raises(CutListError, match="not a CMX 3600 EDL"):
        read_cutlist(tmp_path / "x.edl")


def test_all_events_bad_names_the_first_line(tmp_path):
    path = write(tmp_path / "bad.edl", "1,2,3\n4,5,6\n")
    with pytest.raises(CutListError) as err:
        read_cutlist(path)
    assert str(err.value) == (f"{path}: no usable event: line 1 (event 1): expected 8 fields "
                              "(or 9 with a transition), found 1: '1,2,3'")


def test_missing_file_unknown_extension_and_folder(tmp_path):
    with pytest.raises(CutListError, match="file not found"):
        read_cutlist(tmp_path / "nope.edl")
    write(tmp_path / "cut.txt", "x")
    with pytest.raises(CutListError, match=r"unknown cut list type '.txt' \(use one of .edl"):
        read_cutlist(tmp_path / "cut.txt")
    (tmp_path / "folder.edl").mkdir()
    with pytest.raises(CutListError, match="is a folder, not a cut list"):
        read_cutlist(tmp_path / "folder.edl")


def test_media_root_must_be_a_folder(tmp_path):
    with pytest.raises(InputError, match="media root is not a folder"):
        read_cutlist(EDL / "avid.edl", media_root=tmp_path / "missing")


# --- rates, names, instruction grammar -----------------------------------------------------


@pytest.mark.parametrize(("given", "exact"), [
    (24, Fraction(24)), ("25", Fraction(25)), ("23.976", Fraction(24000, 1001)),
    ("29.97", Fraction(30000, 1001)), (59.94, Fraction(60000, 1001)),
    (23.976023976023978, Fraction(24000, 1001)), ("12.5", Fraction(25, 2)),
])
def test_exact_rate(given, exact):
    assert exact_rate(given) == exact


@pytest.mark.parametrize("bad", ["fast", "0", "-24", "1/0"])
def test_bad_rate_is_an_input_error(bad):
    with pytest.raises(InputError, match="frame rate"):
        exact_rate(bad)


@pytest.mark.parametrize(("text", "instruction"), [
    ("VOID: remove the boom mic", "remove the boom mic"),
    ("void :remove it", "remove it"),
    ("  Void:   paint out the rig  ", "paint out the rig"),
    ("VOID:", ""),
    ("VOIDED: nothing", None),
    ("remove the boom", None),
    (None, None),
])
def test_void_keyword(text, instruction):
    assert void_text(text) == instruction


@pytest.mark.parametrize(("name", "safe"), [
    ("sh010 plate/v002", "sh010_plate_v002"), ("../../etc", "etc"), ("Shot 010 (take 2)", "Shot_010_take_2"),
    ("ça va", "a_va"), ("x" * 80, "x" * 64),
])
def test_safe_name(name, safe):
    assert safe_name(name) == safe


def test_structured_void_metadata_valid():
    parsed = parse_structured({"remove": "the boom mic", "bg": "an empty street", "frame": 12,
                               "points": [[640, 360], [700.5, 380]], "box": [600, 300, 760, 420],
                               "shot": "sh010"}, frame_count=48)
    assert parsed.errors == []
    assert parsed.prompt(default_frame=0) == {
        "frame": 12, "points": [[640, 360], [700.5, 380]], "labels": [1, 1],
        "box": [600, 300, 760, 420]}
    assert (parsed.remove, parsed.bg, parsed.shot) == ("the boom mic", "an empty street", "sh010")


@pytest.mark.parametrize(("data", "error"), [
    ([1, 2], "'void' metadata must be a dict, got [1, 2]"),
    ({"remove": 3}, "void.remove must be a non-empty string, got 3"),
    ({"frame": True}, "void.frame must be a frame number >= 0 counted within the shot, got True"),
    ({"frame": 48}, "void.frame is 48 but the shot has 48 frames (0-47)"),
    ({"points": [[1, 2, 3]]}, "void.points must be a non-empty list of [x, y] pixel pairs"),
    ({"points": [[1, float("nan")]]}, "void.points must be a non-empty list"),
    ({"points": [[1, 2]], "labels": [1, 0]}, "void.labels has 2 entries but there are 1 points"),
    ({"labels": [1]}, "void.labels given without valid 'points'"),
    ({"points": [[1, 2]], "labels": [2]}, "void.labels must be a list of 1 (keep) / 0 (exclude)"),
    ({"box": [0, 0, 10]}, "void.box must be [x0, y0, x1, y1] in pixels"),
    ({"remov": "typo"}, "unknown key(s) remov in 'void' metadata"),
])
def test_structured_void_metadata_errors(data, error):
    parsed = parse_structured(data, frame_count=48)
    assert len(parsed.errors) == 1 and parsed.errors[0].startswith(error)


# --- OTIO ----------------------------------------------------------------------------------


def test_otio_fixture_markers_metadata_and_problems():
    cut = read_cutlist(DATA / "otio" / "reel3.otio")
    assert cut.format == "otio" and cut.rate == Fraction(25)
    assert [s.name for s in cut.shots] == ["sh110_plate_v001", "sh120", "sh130_hold"]
    plate, crew, hold = cut.shots
    assert plate.instructions == ("remove the boom mic",)
    # the marker sits 10 frames into the clip, so the clicks are on frame 10 of the shot
    assert plate.prompt == {"frame": 10, "points": [[412, 96], [430, 120]], "labels": [1, 1]}
    assert plate.bg == "an empty sky"
    assert tc(plate.record_range) == "01:00:00:00"
    assert crew.instructions == ("the crew member",) and crew.prompt is None  # bad box dropped
    assert crew.source_start_frame == 1009 and tc(crew.record_range) == "01:00:02:00"
    assert hold.speed_effect and hold.speed_description == "freeze frame"
    assert [str(p) for p in cut.problems] == [
        "event 2 (sh120 plate/v002): clip metadata: void.box must have x0 < x1 and y0 < y1, "
        "got [10, 20, 5, 40]",
        "event 3 (sh130_hold): marker 'VOID:': 'VOID:' with no instruction after it",
    ]


def _timeline(rate=24) -> otio.schema.Timeline:
    """V1: sh010 | gap | sh010 (again) | dissolve | SH010 (time-warped) | nested stack
    (sh040, sh050) | black; V2 disabled; A1 audio. Track and timeline markers."""
    timeline = otio.schema.Timeline(name="built", global_start_time=RT(86400, rate))
    video = otio.schema.Track(name="V1")
    timeline.tracks.append(video)
    first = otio.schema.Clip(name="sh010", source_range=TR(RT(1000, rate), RT(24, rate)))
    first.markers.append(otio.schema.Marker(
        name="clicks", marked_range=TR(RT(1006, rate), RT(0, rate)),
        metadata={"void": {"remove": "the lamp post", "points": [[10, 20]], "labels": [1]}}))
    first.markers.append(otio.schema.Marker(
        name="more clicks", marked_range=TR(RT(1008, rate), RT(0, rate)),
        metadata={"void": {"points": [[30, 40]]}}))
    video.append(first)
    video.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(12, rate))))
    video.append(otio.schema.Clip(name="sh010", source_range=TR(RT(0, rate), RT(24, rate))))
    video.append(otio.schema.Transition(in_offset=RT(4, rate), out_offset=RT(4, rate)))
    warped = otio.schema.Clip(name="SH010", source_range=TR(RT(0, rate), RT(24, rate)))
    warped.effects.append(otio.schema.LinearTimeWarp(time_scalar=-2.0))
    video.append(warped)
    nest = otio.schema.Stack(name="precomp", source_range=TR(RT(5, rate), RT(20, rate)))
    inner = otio.schema.Track(name="inner")
    inner.append(otio.schema.Clip(name="sh040", source_range=TR(RT(200, rate), RT(10, rate))))
    inner.append(otio.schema.Clip(name="sh050", source_range=TR(RT(300, rate), RT(20, rate))))
    nest.append(inner)
    video.append(nest)
    black = otio.schema.Clip(name="black", source_range=TR(RT(0, rate), RT(5, rate)),
                             media_reference=otio.schema.GeneratorReference(generator_kind="black"))
    video.append(black)
    video.markers.append(otio.schema.Marker(name="VOID: remove the wire",
                                            marked_range=TR(RT(40, rate), RT(0, rate))))
    timeline.tracks.markers.append(otio.schema.Marker(
        name="sup note", comment="void: and its shadow", marked_range=TR(RT(64, rate), RT(0, rate))))
    disabled = otio.schema.Track(name="V2")
    disabled.enabled = False
    disabled.append(otio.schema.Clip(name="ref", source_range=TR(RT(0, rate), RT(5, rate))))
    timeline.tracks.append(disabled)
    audio = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    audio.append(otio.schema.Clip(name="dialogue", source_range=TR(RT(0, rate), RT(60, rate))))
    timeline.tracks.append(audio)
    return timeline


def test_otio_built_timeline(tmp_path):
    otio.adapters.write_to_file(_timeline(), str(tmp_path / "cut.otio"))
    cut = read_cutlist(tmp_path / "cut.otio")
    assert [(s.name, s.event) for s in cut.shots] == [
        ("sh010", 1), ("sh010_2", 2), ("SH010_3", 3), ("sh040", 4), ("sh050", 5)]
    shots = by_name(cut)
    first = shots["sh010"]
    assert first.instructions == ("the lamp post",)
    assert first.prompt == {"frame": 6, "points": [[10, 20]], "labels": [1]}
    assert "event 1 (sh010): marker 'more clicks': a second prompt (points/box) is ignored; " \
           "the first one wins" in [str(p) for p in cut.problems]
    # the track marker at 40 falls in the second clip (36..60); the timeline marker at 64 in the third
    assert shots["sh010_2"].instructions == ("remove the wire",)
    assert shots["sh010_2"].warnings == ("in a transition: 4 more source frames after the cut out",)
    warped = shots["SH010_3"]
    assert warped.instructions == ("and its shadow",)
    assert warped.speed_effect and warped.speed_description == "speed reverse 200%"
    assert tc(warped.record_range) == "01:00:02:12"
    # the stack shows its frames 5..25: 5 frames of sh040, 15 of sh050
    assert shots["sh040"].frame_count == 5 and shots["sh040"].source_start_frame == 205
    assert shots["sh050"].frame_count == 15 and shots["sh050"].source_start_frame == 300
    assert shots["sh040"].warnings == ("inside nested stack 'precomp'",)
    assert "track V2 is disabled; its clips are not listed" in cut.notes


def test_rate_argument_is_ignored_for_otio_with_a_note(tmp_path):
    otio.adapters.write_to_file(_timeline(rate=25), str(tmp_path / "cut.otio"))
    cut = read_cutlist(tmp_path / "cut.otio", rate="23.976")
    assert cut.rate == Fraction(25) and cut.shots[0].rate == Fraction(25)
    assert "rate 23.976 ignored: .otio files carry their own rates" in cut.notes


def test_bad_void_metadata_type_is_a_problem_not_a_crash(tmp_path):
    timeline = otio.schema.Timeline(name="t")
    track = otio.schema.Track(name="V1")
    timeline.tracks.append(track)
    track.append(otio.schema.Clip(name="a", source_range=TR(RT(0, 24), RT(10, 24)),
                                  metadata={"void": "remove the car"}))
    otio.adapters.write_to_file(timeline, str(tmp_path / "t.otio"))
    cut = read_cutlist(tmp_path / "t.otio")
    assert [s.name for s in cut.shots] == ["a"] and cut.shots[0].instructions == ()
    assert [str(p) for p in cut.problems] == ["event 1 (a): clip metadata: 'void' metadata must be a dict, "
                            "got 'remove the car'"]


def test_otioz_bundle_media_is_found_once_unpacked(tmp_path):
    media = tmp_path / "src" / "sh010_plate.mov"
    media.parent.mkdir()
    media.write_bytes(b"not really a movie")
    timeline = otio.schema.Timeline(name="bundle")
    track = otio.schema.Track(name="V1")
    timeline.tracks.append(track)
    track.append(otio.schema.Clip(
        name="sh010", source_range=TR(RT(0, 24), RT(10, 24)),
        media_reference=otio.schema.ExternalReference(target_url=media.as_uri())))
    bundle = tmp_path / "out" / "cut.otioz"
    bundle.parent.mkdir()
    otio.adapters.write_to_file(timeline, str(bundle))
    shot = read_cutlist(bundle).shots[0]
    assert not shot.media_resolved
    assert shot.media_hint.startswith("media/sh010_plate.mov")
    assert "the .otioz bundle holds it" in shot.media_hint
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(bundle.parent)
    shot = read_cutlist(bundle).shots[0]
    assert shot.media_resolved and shot.media_path == bundle.parent / "media" / "sh010_plate.mov"


@pytest.mark.parametrize(("name", "content", "message"), [
    ("bad.otio", "{not json", "cannot read this .otio file: JSON parse error"),
    ("clip.otio", '{"OTIO_SCHEMA": "Clip.2", "name": "x"}', "cannot read this .otio file"),
    ("bad.otioz", "not a zip", "cannot read this .otioz file"),
    ("bad.xml", "<foo/>", "cannot read this Final Cut Pro 7 XML: No top-level sequences found"),
    ("text.xml", "plain text", "cannot read this Final Cut Pro 7 XML"),
])
def test_unreadable_otio_and_xml_are_clean_errors(tmp_path, name, content, message):
    path = write(tmp_path / name, content)
    with pytest.raises(CutListError) as err:
        read_cutlist(path)
    assert str(err.value).startswith(f"{path}: {message}") and "\n" not in str(err.value)


def test_otio_holding_a_track_is_not_a_timeline(tmp_path):
    otio.adapters.write_to_file(otio.schema.Track(name="V1"), str(tmp_path / "t.otio"))
    with pytest.raises(CutListError, match="holds a Track, not a timeline"):
        read_cutlist(tmp_path / "t.otio")


# --- FCP 7 XML -----------------------------------------------------------------------------


def test_fcp_xml_clips_markers_and_rate(tmp_path):
    root = tmp_path / "media"
    (root / "day 2").mkdir(parents=True)
    (root / "day 2" / "sh060 plate v001.mov").write_bytes(b"")
    cut = read_cutlist(DATA / "fcp" / "reel2.xml", media_root=root)
    assert cut.format == "fcp_xml" and cut.name == "VOID reel 2"
    assert cut.rate == Fraction(24000, 1001)
    assert [(s.name, s.event, s.track) for s in cut.shots] == [
        ("sh060_plate_v001", 1, "V1"), ("sh070_plate_v001", 2, "V1")]
    plate, other = cut.shots
    assert plate.instructions == ("remove the boom mic",)  # clip marker comment
    assert other.instructions == ("remove the crane shadow",)  # sequence marker at frame 80
    assert plate.to_json()["source_range"] == {
        "start": 10, "duration": 48, "rate": "24000/1001",
        "start_tc": "00:00:00:10", "end_tc": "00:00:02:10"}
    assert tc(plate.record_range) == "01:00:00:00" and tc(other.record_range) == "01:00:03:00"
    # file://localhost/media/day%202/... is not on this machine; found by name under the root
    assert plate.media_path == root / "day 2" / "sh060 plate v001.mov"
    assert not other.media_resolved and "file:///media/sh070_plate_v001.mov" in other.media_hint


def test_fcp_xml_written_by_the_adapter_round_trips(tmp_path):
    timeline = otio.schema.Timeline(name="rt", global_start_time=RT(90000, 25))
    track = otio.schema.Track(name="V1")
    timeline.tracks.append(track)
    clip = otio.schema.Clip(
        name="sh200", source_range=TR(RT(50, 25), RT(30, 25)),
        media_reference=otio.schema.ExternalReference(
            target_url=(tmp_path / "sh200.mov").as_uri(),
            available_range=TR(RT(0, 25), RT(100, 25))))
    clip.markers.append(otio.schema.Marker(name="VOID: remove the drone",
                                           marked_range=TR(RT(55, 25), RT(0, 25))))
    track.append(clip)
    (tmp_path / "sh200.mov").write_bytes(b"")
    otio.adapters.write_to_file(timeline, str(tmp_path / "rt.xml"), adapter_name="fcp_xml")
    shot = read_cutlist(tmp_path / "rt.xml").shots[0]
    assert (shot.name, shot.instructions, shot.rate) == ("sh200", ("remove the drone",), 25)
    assert shot.media_path == tmp_path / "sh200.mov"
    assert tc(shot.record_range) == "01:00:00:00" and shot.source_start_frame == 50


def test_clips_sharing_a_name_are_numbered_in_cut_order(tmp_path):
    names = ["sh010", "sh010", "sh010_2", "SH010", "sh010", "sh010_3"]
    lines = [f"{n:03d}  R1  V  C  01:00:{n:02d}:00 01:00:{n + 1:02d}:00 01:00:{n:02d}:00 "
             f"01:00:{n + 1:02d}:00\n* FROM CLIP NAME: {name}\n" for n, name in enumerate(names, 1)]
    cut = read_cutlist(write(tmp_path / "cut.edl", "".join(lines)))
    assert [shot.name for shot in cut.shots] == [
        "sh010", "sh010_2", "sh010_2_2", "SH010_3", "sh010_4", "sh010_3_2"]


# --- media resolution ----------------------------------------------------------------------


def _one_clip_edl(folder: Path, clip_name: str, reel: str = "R1", extra: str = "") -> Path:
    return write(folder / "cut.edl",
                 f"001  {reel}  V  C  01:00:00:00 01:00:01:00 01:00:00:00 01:00:01:00\n"
                 f"* FROM CLIP NAME: {clip_name}\n{extra}")


def test_media_by_clip_name_prefers_exact_case_and_warns_when_ambiguous(tmp_path):
    root = tmp_path / "root"
    for relative in ("a/SH010.mov", "b/c/sh010.mov", "d/sh010.mov"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(b"")
    shot = read_cutlist(_one_clip_edl(tmp_path, "sh010"), media_root=root).shots[0]
    assert shot.media_path == root / "d" / "sh010.mov"  # exact case, then shallowest
    assert shot.media_hint == "found by name sh010"
    assert shot.warnings == (f"2 files match sh010.mov under {root}; using {root / 'd' / 'sh010.mov'}",)


def test_media_by_reel_name_case_insensitive(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "a001c003.MXF").write_bytes(b"")
    shot = read_cutlist(_one_clip_edl(tmp_path, "unknown_clip", reel="A001C003"),
                        media_root=root).shots[0]
    assert shot.media_path == root / "a001c003.MXF"


def test_media_in_void_layout_folder(tmp_path):
    root = tmp_path / "root"
    (root / "shots" / "sh030").mkdir(parents=True)
    (root / "shots" / "sh030" / "input_video.mp4").write_bytes(b"")
    shot = read_cutlist(_one_clip_edl(tmp_path, "sh030"), media_root=root).shots[0]
    assert shot.media_path == root / "shots" / "sh030" / "input_video.mp4"


def test_media_beside_the_cut_list_without_a_root(tmp_path):
    (tmp_path / "sh040.mp4").write_bytes(b"")
    shot = read_cutlist(_one_clip_edl(tmp_path, "sh040")).shots[0]
    assert shot.media_resolved and shot.media_path == tmp_path / "sh040.mp4"


def test_from_clip_file_url_with_escaped_spaces(tmp_path):
    media = tmp_path / "my plates" / "sh050 v1.mov"
    media.parent.mkdir()
    media.write_bytes(b"")
    path = write(tmp_path / "cut.edl",
                 "001  R1  V  C  01:00:00:00 01:00:01:00 01:00:00:00 01:00:01:00\n"
                 f"* FROM CLIP: {media.as_uri()}\n")
    shot = read_cutlist(path).shots[0]
    assert shot.media_path == media and shot.media_hint == f"found at {media.as_uri()}"


def test_missing_media_hint_lists_what_was_looked_for(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    shot = read_cutlist(_one_clip_edl(tmp_path, "sh060.mov", reel="A009"), media_root=root).shots[0]
    assert not shot.media_resolved and shot.media_path is None
    assert shot.media_hint == (f"sh060.mov or A009 as .mov/.mp4/.mxf/.mkv or "
                               f"<name>/input_video.mp4, under {root}")
