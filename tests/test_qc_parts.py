"""QC in one pass and in parts: the three files from one walk over the frames, a long shot's
parts (preview segments joined by remuxing, sampled rows stacked), and their lineage."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import LONG_SHOT_FRAMES, lineage_rows
from test_qc import FRAMES, HEIGHT, RATE, WIDTH, make_shot
from void_core.errors import MediaError
from void_core.media.video import iter_video_codes, probe_video
from void_core.qc import (
    SHEET_LABEL_HEIGHT, join_qc_parts, join_segments, open_sources, part_files, sample_indices,
    write_contact_sheet, write_qc, write_qc_part, write_qc_preview, write_qc_strip,
)
from void_core.qc.frames import _codes, _per_channel_table, _resized

PARTS = [(0, 4, "0001-0004"), (4, 7, "0005-0007"), (7, 10, "0008-0010")]


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    return make_shot(tmp_path_factory.mktemp("shot"))


@pytest.fixture(scope="module")
def one_pass(shot, tmp_path_factory):
    out = tmp_path_factory.mktemp("one")
    return write_qc(*shot, out / "p.mp4", out / "c.png", out / "s.jpg")


def _frames(path: Path) -> list[np.ndarray]:
    return list(iter_video_codes(probe_video(path)))


def _timing(path: Path) -> tuple:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.frames, stream.average_rate, stream.duration * stream.time_base


def test_one_pass_writes_what_the_three_writers_write(shot, one_pass, tmp_path):
    preview, sheet, strip = one_pass
    alone = (write_qc_preview(*shot, tmp_path / "p.mp4"),
             write_contact_sheet(*shot, tmp_path / "c.png"),
             write_qc_strip(*shot, tmp_path / "s.jpg"))
    assert sheet.read_bytes() == alone[1].read_bytes()
    assert strip.read_bytes() == alone[2].read_bytes()
    assert [f.tobytes() for f in _frames(preview)] == [f.tobytes() for f in _frames(alone[0])]
    assert probe_video(preview).frame_count == FRAMES


def test_qc_parts_joined_give_the_one_pass_files(shot, one_pass, tmp_path):
    """The joined preview: same frame count, rate and duration, each frame close to the one
    pass's (separate encodes of the same pictures); sheet and strip bit for bit."""
    folder = tmp_path / "work"
    for start, stop, label in reversed(PARTS):  # any order
        write_qc_part(*shot, folder, start, stop, label)
    files = join_qc_parts(folder, [label for *_, label in PARTS], tmp_path / "qc" / "p.mp4",
                          tmp_path / "qc" / "c.png", tmp_path / "qc" / "s.jpg")
    preview, sheet, strip = one_pass
    assert files[1].read_bytes() == sheet.read_bytes()
    assert files[2].read_bytes() == strip.read_bytes()
    assert _timing(files[0]) == _timing(preview)
    frames, rate, duration = _timing(files[0])
    assert (frames, rate) == (FRAMES, RATE) and abs(duration - FRAMES / RATE) < 1 / RATE
    info = probe_video(files[0])
    assert (info.width, info.height, info.frame_count, info.rate) == (3 * WIDTH, HEIGHT,
                                                                      FRAMES, RATE)
    joined, whole = _frames(files[0]), _frames(preview)
    assert len(joined) == len(whole) == FRAMES
    for index, (a, b) in enumerate(zip(joined, whole)):
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 1.5, index
    # Each frame is its own: frame 5 matches the one pass's frame 5, not its neighbours.
    errors = [np.abs(joined[5].astype(int) - frame.astype(int)).mean() for frame in whole]
    assert int(np.argmin(errors)) == 5
    assert not list((tmp_path / "qc").glob(".*partial*"))


def test_a_part_writes_its_segment_and_only_the_rows_picked_in_its_frames(shot, tmp_path):
    """Of 10 frames the sheet shows 0, 2, 4, 5, 7, 9 and the strip 0, 4, 9: frames 4-6 hold
    two sheet rows and one strip row; frame 1 none (its rows stack as zero rows)."""
    assert sample_indices(FRAMES, 6) == [0, 2, 4, 5, 7, 9]
    assert sample_indices(FRAMES, 3) == [0, 4, 9]
    segment, rows = write_qc_part(*shot, tmp_path, 4, 7, "0005-0007")
    assert (segment, rows) == part_files(tmp_path, "0005-0007")
    assert probe_video(segment).frame_count == 3
    sheet_row = SHEET_LABEL_HEIGHT + 320  # 480-wide thumbs of a 96x64 plate
    strip_row = SHEET_LABEL_HEIGHT + HEIGHT  # the strip is never wider than the plate
    with np.load(rows) as picked:
        assert picked["sheet"].shape == (2 * sheet_row, 3 * 480, 3)
        assert picked["strip"].shape == (strip_row, 3 * WIDTH, 3)
    _, empty = write_qc_part(*shot, tmp_path, 1, 2, "0002-0002")
    with np.load(empty) as picked:
        assert picked["sheet"].shape == (0, 3 * 480, 3)
        assert picked["strip"].shape == (0, 3 * WIDTH, 3)
    with pytest.raises(ValueError, match="not in the shot"):
        write_qc_part(*shot, tmp_path, 8, 12, "0009-0012")


def test_segments_encoded_otherwise_are_refused_when_joined(shot, tmp_path):
    first, _ = write_qc_part(*shot, tmp_path, 0, 5, "0001-0005")
    other = tmp_path / "other.mp4"
    with av.open(str(other), "w") as container:  # another size: other H.264 headers
        stream = container.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 64, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(MediaError, match="cannot be joined"):
        join_segments([first, other], tmp_path / "joined.mp4")
    assert not (tmp_path / "joined.mp4").exists() and not list(tmp_path.glob(".joined*"))
    with pytest.raises(MediaError, match="segment not found"):
        join_segments([first, tmp_path / "gone.mp4"], tmp_path / "joined.mp4")


@pytest.mark.parametrize("size", [(WIDTH, HEIGHT), (48, 32), (20, 14)])
def test_panels_by_lookup_table_equal_the_per_pixel_conversion(shot, size):
    sources = open_sources(*shot, None, None)
    assert sources._code_table is not None and sources._half_table is not None
    for _, raw, quad, exr in sources.frames(0, 3):
        linear = sources.after(exr)
        before, _, after = sources.panels_of(raw, quad, linear, size)
        assert np.array_equal(before, _codes(sources.plate.view(_resized(raw, size))))
        assert np.array_equal(after, _codes(sources.plate.view_linear(_resized(linear, size))))


def test_a_conversion_that_mixes_channels_gets_no_lookup_table():
    mix = np.array([[0.8, 0.2, 0.0], [0.1, 0.9, 0.0], [0.0, 0.0, 1.0]], np.float32)
    values = np.arange(256, dtype=np.uint8)
    assert _per_channel_table(lambda codes: _codes(codes / 255.0 @ mix.T), values) is None
    curve = _per_channel_table(lambda codes: _codes((codes / 255.0) ** 0.5), values)
    assert curve is not None and tuple(curve[64]) == (128, 128, 128)


# --- the QC stage in parts: lineage and reruns ------------------------------------------------

LONG = LONG_SHOT_FRAMES  # parts of 8 -> 0001-0008, 0009-0015, 0016-0022, 0023-0030
QC_PARTS = ["0001-0008", "0009-0015", "0016-0022", "0023-0030"]


def _qc_rows(out: Path) -> list[tuple]:
    return lineage_rows(out, "SELECT stage, part, status FROM stage_run WHERE stage = 'qc' "
                             "ORDER BY started, id")


def _mtimes(folder: Path) -> dict[str, int]:
    return {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}


def test_a_long_shots_qc_runs_in_parts_recorded_each_and_a_rerun_redoes_only_a_deleted_part(
        long_plan, tmp_path):
    from void_core import naming
    from void_core.pipeline import stages
    from void_core.pipeline.qc_steps import qc_parts_dir

    whole = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path / "whole",
                               chunk_frames=0)
    parted = replace(whole, out_root=tmp_path / "parts", chunk_frames=8)
    one = stages.run_shot(whole, long_plan)
    split = stages.run_shot(parted, long_plan)
    assert split.report("qc").status == "succeeded" and split.parts is None
    assert _qc_rows(tmp_path / "whole") == [("qc", None, "succeeded")]
    assert _qc_rows(tmp_path / "parts") == [("qc", part, "succeeded") for part in QC_PARTS] + [
        ("qc", None, "succeeded")]
    assert split.contact_sheet.read_bytes() == one.contact_sheet.read_bytes()
    assert split.qc_strip.read_bytes() == one.qc_strip.read_bytes()
    assert _timing(split.preview) == _timing(one.preview)
    assert split.preview == naming.qc_preview(tmp_path / "parts", "sh010")

    work = qc_parts_dir(parted, "sh010")
    stamps = _mtimes(work)
    (work / "segment-0009-0015.mp4").unlink()
    split.preview.unlink()
    again = stages.run_shot(parted, long_plan)
    assert _qc_rows(tmp_path / "parts")[-5:] == [
        ("qc", "0001-0008", "skipped"), ("qc", "0009-0015", "succeeded"),
        ("qc", "0016-0022", "skipped"), ("qc", "0023-0030", "skipped"), ("qc", None, "succeeded")]
    redone = {name for name, mtime in _mtimes(work).items() if stamps.get(name) != mtime}
    assert redone == {"segment-0009-0015.mp4", "rows-0009-0015.npz"}
    assert again.preview.is_file() and _timing(again.preview) == _timing(one.preview)

    rows = len(_qc_rows(tmp_path / "parts"))
    third = stages.run_shot(parted, long_plan)
    assert third.report("qc").status == "skipped"  # the whole, at once: no part ran
    assert _qc_rows(tmp_path / "parts")[rows:] == [("qc", None, "skipped")]


def test_qc_after_an_inpaint_part_was_redone_redoes_that_qc_part(long_plan, tmp_path):
    """The QC parts' identities cover their own frames' EXRs: EXRs written again (a part of
    the inpaint rerun) make their QC part run again, and only that one."""
    from void_core.pipeline import stages

    settings = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path / "out",
                                  chunk_frames=8)
    stages.run_shot(settings, long_plan)
    for number in range(1016, 1023):  # the third part's frames
        (tmp_path / "out" / "sh010" / f"sh010.{number}.exr").unlink()
    stages.run_shot(settings, long_plan)
    assert _qc_rows(tmp_path / "out")[-5:] == [
        ("qc", "0001-0008", "skipped"), ("qc", "0009-0015", "skipped"),
        ("qc", "0016-0022", "succeeded"), ("qc", "0023-0030", "skipped"),
        ("qc", None, "succeeded")]
