"""The shot stages without an orchestrator: identities, skips, failures, what lineage records."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import sqlalchemy as sa

from void_core.pipeline import stages
from void_core.cutlist import read_cutlist
from void_core.errors import InputError, MaskError
from void_core.synth import SceneSpec, write_scene
from void_core.synth.cutlist import write_synthetic_cutlist

W, H, N = 96, 64, 8
UP_TO_INPAINT = ("ingest", "masking", "analysis", "inpaint")


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("stage-media")
    return [write_scene(SceneSpec(name=f"sh{10 * (i + 1):03d}", width=W, height=H, frames=N,
                                  shadow=True, seed=i), root / f"sh{10 * (i + 1):03d}",
                        mask_name="ground_truth_mask.mp4") for i in range(2)]


def plans_for(scenes, tmp_path: Path, name: str = "reel") -> list[stages.ShotPlan]:
    cut = read_cutlist(write_synthetic_cutlist(scenes, tmp_path / f"{name}.otio"))
    return [stages.ShotPlan.from_spec(spec) for spec in cut.shots]


def through(settings: stages.RunSettings, plan: stages.ShotPlan, upto=UP_TO_INPAINT):
    state = stages.ShotState(plan=plan)
    for stage in upto:
        state = stages.STAGES[stage](settings, state)
    return state


def statuses(state: stages.ShotState) -> dict[str, str]:
    return {report.stage: report.status for report in state.reports}


def lineage_rows(out: Path):
    engine = sa.create_engine(f"sqlite:///{out / 'void-farm-lineage.db'}")
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT stage, status, engine, error FROM stage_run ORDER BY started")).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def test_a_shot_goes_from_click_to_plates_and_lineage_records_each_stage(media, tmp_path):
    plan = plans_for(media[:1], tmp_path)[0]
    settings = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path / "out")
    state = through(settings, plan)

    assert statuses(state) == dict.fromkeys(UP_TO_INPAINT, "succeeded")
    assert plan.first_frame == 1001
    exrs = sorted((tmp_path / "out" / "sh010").glob("*.exr"))
    assert [p.name for p in exrs] == [f"sh010.{1001 + i}.exr" for i in range(N)]
    work = tmp_path / "out" / ".void-work" / "sh010"
    assert json.loads((work / "points.json").read_text())["points"] == [list(media[0].click)]
    assert state.quadmask == work / "quadmask_0.mp4" and state.black_mask.exists()
    assert [(s, st) for s, st, *_ in lineage_rows(tmp_path / "out")] == [
        ("masking", "succeeded"), ("analysis", "succeeded"), ("inpaint", "succeeded")]


def test_a_rerun_skips_every_stage_and_rewrites_nothing(media, tmp_path):
    plan = plans_for(media[:1], tmp_path)[0]
    settings = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path / "out")
    through(settings, plan)
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*") if p.is_file()
              and "lineage" not in p.name}

    again = through(settings, plan)

    assert statuses(again) == {"ingest": "succeeded", "masking": "skipped",
                               "analysis": "skipped", "inpaint": "skipped"}
    assert {p: p.stat().st_mtime_ns for p in stamps if p.suffix == ".exr"} == \
        {p: s for p, s in stamps.items() if p.suffix == ".exr"}
    assert [s for s, st, *_ in lineage_rows(tmp_path / "out") if st == "skipped"] == \
        ["masking", "analysis", "inpaint"]
    forced = through(replace(settings, force=True), plan)
    assert statuses(forced)["inpaint"] == "succeeded"


def test_new_media_for_one_shot_reruns_only_that_shot(media, tmp_path):
    copies = []
    for scene in media:
        target = tmp_path / "media" / scene.out_dir.name
        shutil.copytree(scene.out_dir, target)
        copies.append(replace(scene, out_dir=target, video=target / "input_video.mp4"))
    settings = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path / "out")
    for plan in plans_for(copies, tmp_path):
        through(settings, plan)
    # The editor replaces sh020's plate with a new version (here: another scene's render).
    replacement = write_scene(SceneSpec(name="sh020", width=W, height=H, frames=N, shadow=True,
                                        seed=42), tmp_path / "v2", mask_name="ground_truth_mask.mp4")
    shutil.copyfile(replacement.video, copies[1].video)

    first, second = (through(settings, plan) for plan in plans_for(copies, tmp_path))

    assert statuses(first)["inpaint"] == "skipped"
    assert statuses(second) == {"ingest": "succeeded", "masking": "succeeded",
                                "analysis": "succeeded", "inpaint": "succeeded"}


def test_missing_media_fails_at_ingest_with_the_reason(media, tmp_path):
    plan = replace(plans_for(media[:1], tmp_path)[0], media=None,
                   media_problem="looked for sh010_plate.mov under /nowhere")
    settings = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path / "out")
    with pytest.raises(InputError, match="media not found.*sh010_plate.mov"):
        stages.ingest(settings, stages.ShotState(plan=plan))


def cut_from(plan: stages.ShotPlan, skip: int, count: int) -> stages.ShotPlan:
    """The plan of a clip that is `count` frames of its media from index `skip`, its click
    moved with it, as a cut list whose reference gives the media's available range says."""
    prompt = dict(plan.prompt, frame=plan.prompt["frame"] - skip)
    return replace(plan, first_frame=plan.first_frame + skip, frame_count=count,
                   media_start=plan.first_frame, prompt=prompt)


def test_a_clip_cut_from_longer_media_is_staged_frame_exact_and_reused(media, tmp_path):
    from void_core.media.plate import open_plate

    whole = plans_for(media[:1], tmp_path)[0]
    skip = min(2, whole.prompt["frame"])
    plan = cut_from(whole, skip, N - 3)
    settings = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path / "out")

    state = stages.ingest(settings, stages.ShotState(plan=plan))

    assert state.plate.name == "plate.mkv" and state.plate.parent.parent.name == plan.name
    assert state.report("ingest").notes == (
        f"clip is frames {skip}..{skip + N - 4} of the media's {N}: staged as plate.mkv",)
    source = list(open_plate(media[0].video).frames())[skip:skip + N - 3]
    staged = list(open_plate(state.plate).frames())
    assert len(staged) == N - 3
    for expected, got in zip(source, staged):
        np.testing.assert_array_equal(got, expected)  # lossless: the same decoded codes
    stamp = state.plate.stat().st_mtime_ns
    again = stages.ingest(settings, stages.ShotState(plan=plan))
    assert again.plate.stat().st_mtime_ns == stamp and again.plate_digest == state.plate_digest


def test_a_clip_cut_from_longer_media_runs_to_plates_numbered_from_its_source_in(media,
                                                                                tmp_path):
    whole = plans_for(media[:1], tmp_path)[0]
    skip = 1 if whole.prompt["frame"] >= 1 else 0
    plan = cut_from(whole, skip, N - 2)
    settings = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path / "out")

    through(settings, plan)

    exrs = sorted((tmp_path / "out" / plan.name).glob("*.exr"))
    assert len(exrs) == N - 2
    assert exrs[0].name == f"{plan.name}.{plan.first_frame:04d}.exr"


@pytest.mark.parametrize("change, message", [
    (dict(first_frame_shift=N - 2), "needs source frames"),
    (dict(first_frame_shift=-1), "needs source frames"),
    (dict(media_start=None), "says nowhere where it starts"),
    (dict(frame_count=N + 1), f"uses {N + 1} frames but the media holds only {N}"),
])
def test_a_clip_the_media_cannot_supply_is_refused_with_the_reason(media, tmp_path, change,
                                                                   message):
    whole = plans_for(media[:1], tmp_path)[0]
    plan = cut_from(whole, 0, N - 3)
    shift = change.pop("first_frame_shift", 0)
    plan = replace(plan, first_frame=plan.first_frame + shift, **change)
    settings = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path / "out")
    with pytest.raises(InputError, match=message):
        stages.ingest(settings, stages.ShotState(plan=plan))


def test_a_shot_without_click_or_mask_says_what_to_give(media, tmp_path):
    folder = tmp_path / "bare"
    folder.mkdir()
    shutil.copyfile(media[0].video, folder / "input_video.mp4")
    plan = replace(plans_for(media[:1], tmp_path)[0], media=folder / "input_video.mp4", prompt=None)
    settings = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path / "out")
    with pytest.raises(MaskError, match='"void": {"frame"'):
        stages.ingest(settings, stages.ShotState(plan=plan))


def test_a_void_folder_with_its_own_quadmask_skips_masking_and_analysis(media, tmp_path):
    folder = tmp_path / "voidlayout"
    shutil.copytree(media[0].out_dir, folder)
    shutil.copyfile(folder / "ground_truth_mask.mp4", folder / "quadmask_0.mp4")
    plan = replace(plans_for(media[:1], tmp_path)[0], media=folder / "input_video.mp4", prompt=None)
    settings = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path / "out")
    state = through(settings, plan)
    assert statuses(state) == {"ingest": "succeeded", "masking": "provided",
                               "analysis": "provided", "inpaint": "succeeded"}
    assert state.quadmask == folder / "quadmask_0.mp4"


def test_a_failing_stage_is_recorded_failed_with_its_error(media, tmp_path):
    plan = plans_for(media[:1], tmp_path)[0]
    plan = replace(plan, prompt={"frame": 2, "points": [[W + 40, 5]], "labels": [1]})
    settings = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path / "out")
    state = stages.ingest(settings, stages.ShotState(plan=plan))
    with pytest.raises(InputError, match="outside"):
        stages.masking(settings, state)
    (stage, status, engine, error), = lineage_rows(tmp_path / "out")
    assert (stage, status, engine) == ("masking", "failed", "classical")
    assert "outside" in error


def test_an_edl_clip_is_found_in_its_camera_original_by_the_files_timecode(tmp_path):
    from test_clip_range import write_video

    from void_core.media.plate import open_plate

    camera = write_video(tmp_path / "A001C003.mov", "prores_ks", "yuv422p10le",
                         timecode="01:00:10:00")
    edl = tmp_path / "reel.edl"
    edl.write_text("TITLE: REEL\nFCM: NON-DROP FRAME\n\n"
                   "001  A001C003 V     C        01:00:10:02 01:00:10:07 01:00:00:00 01:00:00:05\n"
                   f"* FROM CLIP NAME: {camera.name}\n"
                   "* LOC: 01:00:00:01 RED VOID: remove the cup\n")
    cut = read_cutlist(edl, media_root=tmp_path)
    plan = replace(stages.ShotPlan.from_spec(cut.shots[0]),
                   prompt={"frame": 0, "points": [[10, 10]], "labels": [1]})
    settings = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path / "out")

    state = stages.ingest(settings, stages.ShotState(plan=plan))

    assert state.report("ingest").notes == (
        "clip is frames 2..6 of the media's 9: staged as plate.mkv",)
    expected = list(open_plate(camera).frames())[2:7]
    assert len(expected) == 5
    for want, got in zip(expected, open_plate(state.plate).frames()):
        np.testing.assert_array_equal(got, want)


def write_exr_pull(folder: Path, first: int, count: int, timecode: tuple[int, int, int, int]):
    """An EXR pull with handles, every frame stamped with its own timecode (as pulls are)."""
    import OpenEXR

    folder.mkdir(parents=True)
    hours, minutes, seconds, frame = timecode
    for offset in range(count):
        code = OpenEXR.TimeCode()
        total = ((hours * 60 + minutes) * 60 + seconds) * 24 + frame + offset
        code.hours, code.minutes = total // 86400, total // 1440 % 60
        code.seconds, code.frame = total // 24 % 60, total % 24
        pixels = np.full((H, W, 3), 0.01 * offset, np.float16)
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage,
                  "timeCode": code}
        with OpenEXR.File(header, {"RGB": pixels}) as exr:
            exr.write(str(folder / f"A001.{first + offset}.exr"))
    return folder


def test_an_edl_clip_is_found_in_a_pull_with_handles_by_the_frames_timecode(tmp_path):
    from fractions import Fraction

    from void_core.media.plate import open_plate

    pull = write_exr_pull(tmp_path / "pull", 1001, 12, (1, 0, 10, 0))
    plan = stages.ShotPlan(name="sh010", event=1, media=pull, media_problem=None,
                           first_frame=(3600 + 10) * 24 + 4, frame_count=5, rate=Fraction(24),
                           prompt={"frame": 0, "points": [[10, 10]], "labels": [1]})
    settings = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path / "out")

    state = stages.ingest(settings, stages.ShotState(plan=plan))

    staged = open_plate(state.plate, rate=Fraction(24))
    assert (staged.info.first_frame, staged.info.frame_count) == (1005, 5)
    assert state.report("ingest").notes == (
        "clip is frames 4..8 of the media's 12: staged as frames",)


def test_a_pull_without_timecode_numbered_otherwise_is_refused_with_both_ranges(tmp_path):
    from fractions import Fraction

    pull = tmp_path / "pull"
    pull.mkdir()
    for number in range(1001, 1013):
        (pull / f"A001.{number}.png").write_bytes(
            cv2.imencode(".png", np.zeros((H, W, 3), np.uint8))[1].tobytes())
    plan = stages.ShotPlan(name="sh010", event=1, media=pull, media_problem=None,
                           first_frame=86404, frame_count=5, rate=Fraction(24),
                           prompt={"frame": 0, "points": [[10, 10]], "labels": [1]})
    settings = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path / "out")
    with pytest.raises(InputError, match="needs source frames 86404-86408, the media holds "
                                         "1001-1012"):
        stages.ingest(settings, stages.ShotState(plan=plan))
