"""`void-farm cutlist show` through typer: exit codes, JSON on stdout, diagnostics on stderr."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from flows.cli_cutlist import cutlist_app

EDL = Path(__file__).parent / "data" / "edl"
runner = CliRunner()


def show(*args: str):
    return runner.invoke(cutlist_app, ["show", *map(str, args)])


def test_json_is_the_only_thing_on_stdout():
    result = show(EDL / "avid.edl", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= {"cutlist", "rate", "shots", "problems"}
    assert data["cutlist"] == str(EDL / "avid.edl") and data["rate"] == "24"
    assert [shot["name"] for shot in data["shots"]] == [
        "sh010_plate_v001", "sh020_plate_v002", "sh030_plate_v001", "sh040_plate_v001",
        "sh050_plate_v001"]
    first = data["shots"][0]
    assert first["event"] == 1 and first["reel"] == "A001C003"
    assert first["record_range"] == {"start": 86400, "duration": 48, "rate": "24",
                                     "start_tc": "01:00:00:00", "end_tc": "01:00:02:00"}
    assert first["instructions"] == ["remove the boom mic"]
    assert first["media_resolved"] is False and first["media_path"] is None
    assert data["problems"] == []


def test_rate_option_snaps_to_exact_ntsc():
    result = show(EDL / "ntsc_2398.edl", "--rate", "23.976", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["rate"] == "24000/1001"
    assert {shot["source_range"]["rate"] for shot in data["shots"]} == {"24000/1001"}


def test_table_lists_shots_and_missing_media(monkeypatch):
    from flows import _cli_common

    monkeypatch.setattr(_cli_common.stdout, "width", 220)  # a TD's terminal, not 80 columns
    result = show(EDL / "avid.edl")
    assert result.exit_code == 0, result.output
    assert "sh010_plate_v001" in result.stdout and "MISSING" in result.stdout
    assert "remove the boom mic" in result.stdout
    assert "01:00:13:00" in result.stdout  # record in of event 7
    assert "5 shot(s), 5 with missing media, 0 problem(s) (try --media-root)" in result.stderr


def test_table_with_media_root_shows_the_resolved_path(tmp_path):
    (tmp_path / "sh010.mov").write_bytes(b"")
    edl = tmp_path / "cut.edl"
    edl.write_text("001  R1  V  C  01:00:00:00 01:00:01:00 01:00:00:00 01:00:01:00\n"
                   "* FROM CLIP NAME: sh010.mov\n")
    result = runner.invoke(cutlist_app, ["show", str(edl), "--media-root", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    shot = json.loads(result.stdout)["shots"][0]
    assert shot["media_resolved"] is True and shot["media_path"] == str(tmp_path / "sh010.mov")


def test_problems_speed_effects_and_warnings_go_to_stderr():
    result = show(EDL / "speed.edl")
    assert result.exit_code == 0
    assert "speed effect: event 1 (sh010_slowmo): M2 50% (12.0 fps)" in result.stderr
    assert "M2 50%" not in result.stdout
    result = show(EDL / "bad_event.edl", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert len(data["problems"]) == 3
    assert "problem: line 4 (event 2): expected 8 fields" in result.stderr


def test_mismatched_timecodes_parse_with_warnings():
    result = show(EDL / "mismatch.edl", "--json")
    assert result.exit_code == 0
    shots = json.loads(result.stdout)["shots"]
    assert shots[1]["warnings"] == [
        "line 4: record in 01:00:01:12 overlaps the previous event; placed at 01:00:02:00"]
    assert "warning: event 2 (sh020): line 4: record in 01:00:01:12 overlaps" in result.stderr


def test_garbage_file_exits_1_with_one_line():
    result = show(EDL / "garbage.edl")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "not a CMX 3600 EDL" in lines[0] and "Traceback" not in result.output


def test_missing_file_and_bad_rate_exit_1(tmp_path):
    result = show(tmp_path / "nope.edl")
    assert result.exit_code == 1 and "nope.edl: file not found" in result.stderr
    result = show(EDL / "avid.edl", "--rate", "fast")
    assert result.exit_code == 1
    assert "frame rate 'fast' is not a number" in result.stderr


def test_drop_frame_edl_at_default_rate_explains_the_fix(tmp_path):
    edl = tmp_path / "df.edl"
    edl.write_text("001  R1  V  C  01:00:00;00 01:00:01;00 01:00:00;00 01:00:01;00\n")
    result = show(edl)
    assert result.exit_code == 1
    assert "pass --rate 29.97 (or 59.94) for a drop-frame EDL" in result.stderr


def test_fcp_xml_through_the_cli():
    result = show(Path(__file__).parent / "data" / "fcp" / "reel2.xml", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["rate"] == "24000/1001" and data["format"] == "fcp_xml"
    assert [shot["instructions"] for shot in data["shots"]] == [
        ["remove the boom mic"], ["remove the crane shadow"]]


def test_a_10000_event_edl_lists_every_shot_as_json_and_as_a_plain_table(tmp_path):
    """Functional, not timed: `benchmarks/cutlist_scale.py` measures it (docs/reliability.md)."""
    from benchmarks.cutlist_scale import write_long_edl, write_media

    plates = write_media(tmp_path / "media", 4)
    edl = write_long_edl(tmp_path / "long.edl", 10_000, plates)
    result = show(edl, "--media-root", tmp_path / "media", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    shots = data["shots"]
    assert data["problems"] == [] and len(shots) == 10_000
    assert [shot["event"] for shot in shots] == list(range(1, 10_001))
    assert len({shot["name"].lower() for shot in shots}) == 10_000
    assert {shot["media_path"] for shot in shots} == {str(plate) for plate in plates}
    assert shots[-1]["record_range"]["end_tc"] == "03:46:40:00"  # 1 h + 10,000 s
    assert sum(bool(shot["instructions"]) for shot in shots) == 1_000
    assert shots[9_999]["instructions"] == ["remove the boom mic in event 10000"]

    table = show(edl, "--media-root", tmp_path / "media")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0] == "LONG REEL 10000  (edl, 24 fps)" and lines[1].split()[:3] == [
        "shot", "event", "source"]
    assert len(lines) == 2 + 10_000
    assert lines[-1].split() == [shots[-1]["name"], "10000", str(plates[3]),
                                 "01:01:39:00-01:01:40:00",
                                 "03:46:39:00-03:46:40:00", "24", "remove", "the", "boom",
                                 "mic", "in", "event", "10000"]
    assert "10000 shot(s), 0 with missing media, 0 problem(s)" in table.stderr
