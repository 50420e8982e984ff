"""Long shots in parts: frame ranges of a shot, the classical engine's prepare + parts, and the
pipeline rendering parts to the same EXRs as one process."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import LONG_SHOT_FRAMES, lineage_rows
from void_core.composite import Feather
from void_core.media.encode import write_mask_video, write_video
from void_core.media.masks import QuadmaskReader
from void_core.media.plate import open_plate
from void_core.pipeline.render import _scan_mask, _shot_frames

FRAMES = 90  # far enough in that a stream starting at 60 seeks (SEEK_AFTER_FRAMES is 48)


def _ramp(index: int, height: int = 48, width: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([(xx * 3 + index) % 256, (yy * 5 + 2 * index) % 256,
                     np.full_like(xx, index % 256)], axis=-1).astype(np.uint8)


def _mask(index: int, height: int = 48, width: int = 64) -> np.ndarray:
    mask = np.full((height, width), 255, np.uint8)
    mask[10:20, (index % 40):(index % 40) + 12] = 0
    mask[20:24, 5:15] = 127
    return mask


def _shot(plate_path: Path, mask_path: Path):
    plate = open_plate(plate_path, rate=Fraction(24))
    reader = QuadmaskReader(mask_path)
    feather = Feather.for_width(plate.info.width)
    timings = {"decode": 0.0}
    return _shot_frames(plate, reader, _scan_mask(reader, feather), feather, timings)


def _video_shot(tmp_path: Path):
    plate = write_video(tmp_path / "plate.mp4", (_ramp(i) for i in range(FRAMES)), 24,
                        options={"g": "12", "bf": "2"})
    mask = write_mask_video(tmp_path / "mask.mp4", (_mask(i) for i in range(FRAMES)), 24)
    return _shot(plate, mask)


def _sequence_shot(tmp_path: Path):
    plates, masks = tmp_path / "plate", tmp_path / "mask"
    plates.mkdir()
    masks.mkdir()
    for index in range(FRAMES):
        cv2.imwrite(str(plates / f"plate.{1001 + index:04d}.png"), _ramp(index)[..., ::-1])
        cv2.imwrite(str(masks / f"mask.{1001 + index:04d}.png"), _mask(index))
    return _shot(plates, masks)


@pytest.mark.parametrize("make_shot", [_video_shot, _sequence_shot], ids=["video", "sequence"])
@pytest.mark.parametrize("start, stop", [(0, 15), (60, 75), (80, 90), (85, 200)])
def test_a_stream_of_frames_start_to_stop_gives_those_frames_with_their_shot_index(
        tmp_path, make_shot, start, stop):
    shot = make_shot(tmp_path)
    everything = list(shot.stream())
    part = list(shot.stream(start, stop))
    expected = everything[start:stop]
    assert [frame.index for frame in part] == [frame.index for frame in expected] \
        == list(range(start, min(stop, FRAMES)))
    for got, want in zip(part, expected):
        np.testing.assert_array_equal(got.raw, want.raw)
        np.testing.assert_array_equal(got.quad, want.quad)


def test_a_stream_outside_the_shot_is_a_bug_said_plainly(tmp_path):
    shot = _sequence_shot(tmp_path)
    with pytest.raises(ValueError, match="not a range"):
        shot.stream(50, 40)


# --- the classical engine in parts ------------------------------------------------------------


@pytest.fixture(scope="module", params=["pan", "static"])
def scene(tmp_path_factory, request):
    """A panning camera (warped sightings) and a still one (integer shifts, the kept region)."""
    from void_core.synth import SceneSpec, write_scene

    return write_scene(SceneSpec(name=request.param, width=128, height=80, frames=30,
                                 camera=request.param, shadow=True, seed=4),
                       tmp_path_factory.mktemp(request.param))


def _fills(fills) -> list[tuple[int, bytes | None, bytes | None]]:
    return [(fill.frame.index, None if fill.display is None else fill.display.tobytes(),
             None if fill.unstable is None else fill.unstable.tobytes()) for fill in fills]


@pytest.mark.parametrize("motion_block", [120, 8], ids=["one-motion-block", "motion-blocks"])
@pytest.mark.parametrize("settings", [{}, {"regrain": True}], ids=["default", "regrain"])
def test_classical_prepare_then_every_part_gives_the_fills_of_one_inpaint_bit_exact(
        scene, tmp_path, settings, motion_block, monkeypatch):
    from void_core.inpaint.classical import ClassicalInpainter, learning

    monkeypatch.setattr(learning, "MOTION_BLOCK_FRAMES", motion_block)
    shot = _shot(scene.video, scene.mask)
    whole = ClassicalInpainter(**settings)
    expected = _fills(whole.inpaint(shot))
    work = tmp_path / "parts"
    parts = ClassicalInpainter(**settings).prepare(shot, work, chunk_frames=8)
    fills = [part for part in parts if part.writes]
    assert [(p.start, p.stop) for p in fills] == [(0, 8), (8, 15), (15, 22), (22, 30)]
    learners = [part for part in parts if not part.writes]
    motion = [part for part in learners if part.label == "motion"]
    assert len(motion) == -(-30 // motion_block) and all(part.after == () for part in motion)
    assert [part.label for part in learners[len(motion):]] == ["sightings"] * 4 + ["canvas"]
    assert all(part.after == (learners[-1].index,) for part in fills)
    for part in reversed(motion):  # any order, each in an engine of its own (another worker)
        ClassicalInpainter(**settings).learn_part(shot, work, part)
    for part in learners[len(motion):]:
        ClassicalInpainter(**settings).learn_part(shot, work, part)
    got = []
    for part in reversed(fills):
        got = _fills(ClassicalInpainter(**settings).fill_part(shot, work, part)) + got
    assert got == expected
    assert any(display is not None for _, display, _ in got)


def test_classical_parts_of_a_shot_with_nothing_to_remove_pass_every_frame_through(tmp_path):
    from void_core.inpaint.classical import ClassicalInpainter

    plate = write_video(tmp_path / "plate.mp4", (_ramp(i) for i in range(12)), 24)
    mask = write_mask_video(tmp_path / "mask.mp4", (np.full((48, 64), 255, np.uint8)
                                                    for _ in range(12)), 24)
    shot = _shot(plate, mask)
    engine = ClassicalInpainter()
    parts = engine.prepare(shot, tmp_path / "parts", chunk_frames=5)
    fills = [fill for part in parts for fill in engine.fill_part(shot, tmp_path / "parts", part)]
    assert [fill.frame.index for fill in fills] == list(range(12))
    assert all(fill.display is None and fill.box.empty for fill in fills)


@pytest.mark.parametrize("frames, chunk, sizes", [
    (480, 120, [120] * 4), (130, 120, [65, 65]), (120, 120, [120]), (50, 0, [50]),
    (7, 3, [2, 3, 2])])
def test_even_parts_cover_the_shot_in_parts_no_longer_than_the_chunk(frames, chunk, sizes):
    from void_core.inpaint.base import even_parts

    parts = even_parts(frames, chunk)
    assert [part.frame_count for part in parts] == sizes
    assert parts[0].start == 0 and parts[-1].stop == frames
    assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))
    assert [part.index for part in parts] == list(range(len(parts)))


# --- the pipeline: prepare, parts, finish ------------------------------------------------------

LONG = LONG_SHOT_FRAMES
LEARNING = ("motion-0001-0030", "sightings-0001-0008", "sightings-0009-0015",
            "sightings-0016-0022", "sightings-0023-0030", "canvas-0001-0030")


def _through_analysis(settings, plan):
    from void_core.pipeline import stages

    state = stages.ShotState(plan=plan)
    for stage in ("ingest", "masking", "analysis"):
        state = stages.STAGES[stage](settings, state)
    return state


def _exr_bytes(out: Path) -> dict[str, tuple]:
    from void_core.media.exr import read_exr_frame

    frames = {}
    for path in sorted((out / "sh010").glob("*.exr")):
        exr = read_exr_frame(path)
        frames[path.name] = (exr.rgb.tobytes(), {k: v.tobytes() for k, v in exr.masks.items()})
    return frames


def _stage_rows(out: Path) -> list[tuple]:
    return lineage_rows(out, "SELECT stage, part, status FROM stage_run ORDER BY started, id")


@pytest.mark.parametrize("refiner", ["flow", "none"])
def test_a_long_shot_in_parts_writes_the_exrs_of_one_process_bit_exact(long_plan, tmp_path,
                                                                        refiner):
    from void_core.pipeline import stages

    whole = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path / "whole",
                               chunk_frames=0, refiner=refiner)
    parted = replace(whole, out_root=tmp_path / "parts", chunk_frames=8)
    assert not stages.splits(whole, long_plan) and stages.splits(parted, long_plan)
    one = stages.run_shot(replace(whole, stages=whole.stages[:-1]), long_plan)
    split = stages.run_shot(replace(parted, stages=parted.stages[:-1]), long_plan)

    expected = _exr_bytes(tmp_path / "whole")
    assert len(expected) == LONG and _exr_bytes(tmp_path / "parts") == expected
    assert split.result.frames == one.result.frames == LONG
    assert split.result.spatial_share == one.result.spatial_share
    assert split.result.notes == one.result.notes
    assert split.report("inpaint").status == "succeeded" and split.parts is None
    inpaint_rows = [row for row in _stage_rows(tmp_path / "parts") if row[0] == "inpaint"]
    assert inpaint_rows == [("inpaint", "prepare", "succeeded")] + [
                            ("inpaint", label, "succeeded") for label in LEARNING] + [
                            ("inpaint", "0001-0008", "succeeded"),
                            ("inpaint", "0009-0015", "succeeded"),
                            ("inpaint", "0016-0022", "succeeded"),
                            ("inpaint", "0023-0030", "succeeded"),
                            ("inpaint", None, "succeeded")]


def test_a_rerun_after_one_parts_exrs_are_deleted_redoes_only_that_part(long_plan, tmp_path):
    from void_core.pipeline import stages

    settings = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path / "out",
                                  chunk_frames=8)
    state = _through_analysis(settings, long_plan)
    stages.inpaint_in_parts(settings, state)
    before = _exr_bytes(tmp_path / "out")
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out" / "sh010").glob("*.exr")}
    for number in range(1009, 1016):  # the second part's frames
        (tmp_path / "out" / "sh010" / f"sh010.{number}.exr").unlink()

    again = stages.inpaint_in_parts(settings, _through_analysis(settings, long_plan))
    assert _exr_bytes(tmp_path / "out") == before
    rewritten = {p.name for p in (tmp_path / "out" / "sh010").glob("*.exr")
                 if p.stat().st_mtime_ns != stamps.get(p.name)}
    assert rewritten == {f"sh010.{number}.exr" for number in range(1009, 1016)}
    rows = _stage_rows(tmp_path / "out")
    second_run = [row for row in rows[len(rows) - 6 - len(LEARNING):]]
    assert second_run == [("inpaint", "prepare", "skipped")] + [
                          ("inpaint", label, "skipped") for label in LEARNING] + [
                          ("inpaint", "0001-0008", "skipped"),
                          ("inpaint", "0009-0015", "succeeded"),
                          ("inpaint", "0016-0022", "skipped"),
                          ("inpaint", "0023-0030", "skipped"),
                          ("inpaint", None, "succeeded")]
    assert again.report("inpaint").status == "succeeded"

    third = stages.inpaint_in_parts(settings, _through_analysis(settings, long_plan))
    assert third.report("inpaint").status == "skipped"  # the whole sequence, at once
    assert _stage_rows(tmp_path / "out")[-1] == ("inpaint", None, "skipped")

    from typer.testing import CliRunner

    from flows.cli import app

    shown = CliRunner().invoke(app, ["lineage", "sh010", "--db",
                                     f"sqlite:///{tmp_path / 'out' / 'void-farm-lineage.db'}"])
    assert shown.exit_code == 0, shown.output
    for part in ("prepare", *LEARNING, "0001-0008", "0009-0015", "0016-0022", "0023-0030"):
        assert f"inpaint {part} #" in shown.output


def test_a_rerun_after_a_learning_parts_file_is_deleted_redoes_only_that_part(long_plan,
                                                                               tmp_path):
    """A sightings block's file and a later part's EXRs deleted: the sightings part is redone
    (same bytes), the canvas built from it is not (its file is intact), nor any other part."""
    from void_core.pipeline import stages

    settings = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path / "out",
                                  chunk_frames=8)
    stages.inpaint_in_parts(settings, _through_analysis(settings, long_plan))
    before = _exr_bytes(tmp_path / "out")
    learned = tmp_path / "out" / ".void-work" / "sh010" / "parts" / "learned"
    block = learned / "sightings-0009-0015.npz"
    saved = block.read_bytes()
    stamps = {p.name: p.stat().st_mtime_ns for p in learned.iterdir()}
    block.unlink()
    for number in range(1016, 1023):  # the third frames part
        (tmp_path / "out" / "sh010" / f"sh010.{number}.exr").unlink()

    stages.inpaint_in_parts(settings, _through_analysis(settings, long_plan))
    assert _exr_bytes(tmp_path / "out") == before
    assert block.read_bytes() == saved
    assert {p.name for p in learned.iterdir() if p.stat().st_mtime_ns != stamps.get(p.name)} \
        == {block.name}
    rows = _stage_rows(tmp_path / "out")
    redone = {row[1] for row in rows[len(rows) - 6 - len(LEARNING):] if row[2] == "succeeded"}
    assert redone == {"sightings-0009-0015", "0016-0022", None}


def test_a_resident_inpaint_host_runs_the_prepare_and_parts_with_its_one_engine(long_plan,
                                                                                tmp_path):
    from tasks.engine_host import EngineHost
    from void_core.pipeline import stages

    settings = stages.RunSettings(run_id="host", cutlist="reel", out_root=tmp_path / "out",
                                  chunk_frames=10)
    state = _through_analysis(settings, long_plan)
    host = EngineHost("inpaint", settings)
    built = []
    host.engine.prepare = _recording(host.engine.prepare, built, "prepare")
    host.engine.fill_part = _recording(host.engine.fill_part, built, "part")
    host.engine.learn_part = _recording(host.engine.learn_part, built, "learn")
    prepared = host.run_step("inpaint_prepare", settings, state)
    done = [host.run_step("inpaint_part", settings, prepared, part.index)
            for part in prepared.parts.parts]
    finished = stages.inpaint_finish(settings, prepared, done)
    assert built == ["prepare"] + ["learn"] * 5 + ["part"] * 3  # motion, 3 sightings, canvas
    assert finished.report("inpaint").status == "succeeded" and finished.frames == LONG
    assert len(list((tmp_path / "out" / "sh010").glob("*.exr"))) == LONG
    assert host.stats()["shots_served"] == 1
    with pytest.raises(ValueError, match="does not run"):
        EngineHost("masking", settings).run_step("inpaint_prepare", settings, state)


def _recording(method, calls: list, name: str):
    def recorded(*args, **kwargs):
        calls.append(name)
        return method(*args, **kwargs)
    return recorded


@pytest.mark.usefixtures("one_torch_thread")
def test_void_in_parts_through_the_pipeline_writes_the_exrs_of_one_process(tmp_path):
    """The tiny VOID model with windows of 21 model frames: windows and joins (after both
    windows) through prepare / parts / finish give the unsplit stage's EXRs, bit for bit."""
    from void_core.cutlist import read_cutlist
    from void_core.inpaint.void.tiny import make_tiny_model_dir
    from void_core.pipeline import stages
    from void_core.pipeline.render import read_parts
    from void_core.pipeline.state import part_label
    from void_core.synth import SceneSpec, write_scene
    from void_core.synth.cutlist import write_synthetic_cutlist

    scene = write_scene(SceneSpec(name="sh010", width=64, height=64, frames=40, shadow=True,
                                  seed=3), tmp_path / "media" / "sh010")
    plan = stages.ShotPlan.from_spec(read_cutlist(
        write_synthetic_cutlist([scene], tmp_path / "reel.otio")).shots[0])
    model = make_tiny_model_dir(tmp_path / "void-tiny")
    whole = stages.RunSettings(
        run_id="v", cutlist="reel", out_root=tmp_path / "whole", engine="void", refiner="none",
        engine_settings={"model_dir": str(model), "device": "cpu", "max_chunk_frames": 21,
                         "chunk_overlap_frames": 6}, chunk_frames=0,
        stages=tuple(stages.STAGE_ORDER[:-1]))
    parted = replace(whole, out_root=tmp_path / "parts", chunk_frames=10)
    stages.run_shot(whole, plan)
    state = stages.run_shot(parted, plan)

    assert _exr_bytes(tmp_path / "parts") == _exr_bytes(tmp_path / "whole")
    assert state.report("inpaint").status == "succeeded"
    parts = read_parts(tmp_path / "parts" / ".void-work" / "sh010" / "parts")
    joins = [part for part in parts if part.after]
    assert joins and all(part.label == "join" for part in joins)  # waited on two windows
    rows = [row for row in _stage_rows(tmp_path / "parts") if row[0] == "inpaint"]
    assert [row[1] for row in rows] == ["prepare"] + [part_label(p) for p in parts] + [None]

    # Lineage keeps each window's overlap files with its part: one gone, with the frames of the
    # join that reads it, the window is redone before the join.
    work = tmp_path / "parts" / ".void-work" / "sh010" / "parts"
    recorded = _work_artifacts(tmp_path / "parts")
    windows = [part for part in parts if part.label == "window"]
    for window in windows:
        saved = sorted(path.name for path in work.glob(f"window-{window.index:03d}.overlap-*.npy"))
        assert saved and recorded[part_label(window)] == saved
    assert all(not recorded.get(part_label(join)) for join in joins)
    lost = work / f"window-{windows[0].index:03d}.overlap-{windows[1].index:03d}.npy"
    lost.unlink()
    join = next(part for part in joins if part.after == (windows[0].index, windows[1].index))
    for index in range(join.start, join.stop):
        (tmp_path / "parts" / "sh010" / f"sh010.{1001 + index}.exr").unlink()
    before = len(_stage_rows(tmp_path / "parts"))
    stages.run_shot(parted, plan)
    assert lost.is_file()
    again = [row for row in _stage_rows(tmp_path / "parts")[before:] if row[0] == "inpaint"]
    assert {row[1] for row in again if row[2] == "succeeded"} == \
        {part_label(windows[0]), part_label(join), None}
    assert _exr_bytes(tmp_path / "parts") == _exr_bytes(tmp_path / "whole")


def _work_artifacts(out: Path) -> dict[str, list[str]]:
    """Part label -> the names of the work files lineage recorded for it."""
    found: dict[str, list[str]] = {}
    for part, path in lineage_rows(out, "SELECT stage_run.part, artifact.path_pattern FROM "
                                        "artifact JOIN stage_run ON artifact.stage_run_id = "
                                        "stage_run.id WHERE artifact.kind = 'work'"):
        found.setdefault(part, []).append(Path(path).name)
    return {part: sorted(names) for part, names in found.items()}
