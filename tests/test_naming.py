"""File names in one place, and the sanitiser outside names go through."""

from __future__ import annotations

import pytest

from void_core import naming
from void_core.cutlist import resolve
from void_core.media import video


@pytest.mark.parametrize("outside", [
    "../../etc/passwd", "a/b\\c", "..", ".", "sh\x00010\x1b[31m", "/abs/path", "C:\\show\\sh010",
    "reel 1 (final) v2", "x" * 500, "\u00e9t\u00e9 sc\u00e8ne", "",
])
def test_safe_component_is_one_bounded_component(outside):
    safe = naming.safe_component(outside, "shot")
    assert safe and len(safe) <= naming.MAX_COMPONENT
    assert "/" not in safe and "\\" not in safe and ".." not in safe and safe not in (".", "..")
    assert all(ch.isprintable() and ord(ch) < 128 for ch in safe)
    assert naming.safe_component(outside, "shot") == safe  # stable


def test_safe_component_keeps_usual_names():
    assert naming.safe_component("sh010_plate-v001") == "sh010_plate-v001"
    assert naming.safe_component("Reel 1 / final") == "Reel_1_final"
    assert naming.safe_component("///", "cutlist") == "cutlist"


def test_one_list_of_video_suffixes():
    assert video.VIDEO_SUFFIXES is naming.VIDEO_SUFFIXES
    assert resolve.VIDEO_SUFFIXES is naming.VIDEO_SUFFIXES
    assert ".webm" in naming.VIDEO_SUFFIXES


def test_plate_names_start_with_voids_own(tmp_path):
    assert naming.plate_names()[0] == "input_video.mp4"
    assert "input_video.webm" in naming.plate_names()


def test_output_names(tmp_path):
    assert naming.exr_pattern(tmp_path, "sh010") == tmp_path / "sh010" / "sh010.####.exr"
    assert naming.exr_frame(tmp_path / "sh010", "sh010", 7) == tmp_path / "sh010" / "sh010.0007.exr"
    assert naming.qc_preview(tmp_path, "sh010") == tmp_path / "qc" / "sh010_preview.mp4"
    assert naming.summary_file(tmp_path, "../reel") == tmp_path / "reel.summary.json"
    assert naming.default_lineage_url(tmp_path).endswith("/void-farm-lineage.db")


def test_lineage_db_beside_an_output_file(tmp_path):
    frame = tmp_path / "sh010" / "sh010.1001.exr"
    frame.parent.mkdir()
    frame.write_bytes(b"")
    assert naming.lineage_db_beside(frame) is None
    (tmp_path / naming.LINEAGE_DB).write_bytes(b"")
    assert naming.lineage_db_beside(frame) == tmp_path / naming.LINEAGE_DB
    assert naming.lineage_db_beside(tmp_path) == tmp_path / naming.LINEAGE_DB
