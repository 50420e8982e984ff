"""The shot stages without an orchestrator: identities, skips, failures, what lineage records."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from void_core import stages
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


def test_a_clip_that_is_only_part_of_its_media_is_refused(media, tmp_path):
    plan = replace(plans_for(media[:1], tmp_path)[0], frame_count=N - 2)
    settings = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path / "out")
    with pytest.raises(InputError, match=f"uses {N - 2} frames of the cut but the media has {N}"):
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
