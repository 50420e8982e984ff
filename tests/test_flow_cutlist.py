"""The orchestrated run: the real Prefect flow (ephemeral API) on a real local Ray, end to end.

These tests share one Ray instance and one Prefect API per test process (starting them costs
~15 s); `xdist_group` keeps them in one worker. Those that run the flow on Ray take about a
minute each and are marked `slow`: `make test-all` and CI run them, `make test` does not.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import opentimelineio as otio
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from void_core.synth import SceneSpec, write_scene
from void_core.synth.cutlist import write_synthetic_cutlist

pytestmark = pytest.mark.xdist_group("ray-prefect")

WIDTH, HEIGHT, FRAMES = 128, 80, 10
GEMINI_KEY = "flow-test-key"


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray for the module. Its workers inherit the environment at start, as on a farm:
    the Gemini key the model-engine test's fake server expects is set before Ray starts."""
    import ray

    from flows.cli_run import prepare_prefect_environment
    from flows.ray_runner import connect_ray

    prepare_prefect_environment()
    saved = {name: os.environ.pop(name, None) for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    os.environ["GEMINI_API_KEY"] = GEMINI_KEY
    try:
        connect_ray(num_cpus=2)
        yield
    finally:
        ray.shutdown()
        for name, value in saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    return [write_scene(SceneSpec(name=f"sh{10 * (i + 1):03d}", width=WIDTH, height=HEIGHT,
                                  frames=FRAMES, shadow=True, seed=i),
                        root / f"sh{10 * (i + 1):03d}", mask_name="ground_truth_mask.mp4")
            for i in range(3)]


def run(cutlist: Path, out: Path, **options) -> dict:
    from flows.cli_run import execute

    return execute(cutlist, out, **options)


def exr_files(out: Path) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in sorted(out.glob("sh*/*.exr"))}


def stage_rows(out: Path) -> list[tuple[str, str, str]]:
    engine = sa.create_engine(f"sqlite:///{out / 'void-farm-lineage.db'}")
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT shot.name, stage_run.stage, stage_run.status FROM stage_run "
            "JOIN shot ON shot.id = stage_run.shot_id ORDER BY stage_run.started")).all()
    engine.dispose()
    return [tuple(row) for row in rows]


@pytest.mark.slow
def test_a_cut_list_runs_end_to_end_and_a_rerun_rewrites_nothing(ray_local, scenes, tmp_path):
    cutlist = write_synthetic_cutlist(scenes, tmp_path / "reel1.otio")
    out = tmp_path / "out"
    summary = run(cutlist, out)

    assert (summary["succeeded"], summary["failed"]) == (3, 0), summary
    exrs = exr_files(out)
    assert len(exrs) == 3 * FRAMES
    for shot in summary["shots"]:
        assert shot["stages"] == {"ingest": "succeeded", "masking": "succeeded",
                                  "analysis": "succeeded", "inpaint": "succeeded",
                                  "qc": "succeeded"}
        assert Path(shot["preview"]).stat().st_size > 0
        assert Path(shot["contact_sheet"]).stat().st_size > 0
    conformed = otio.adapters.read_from_file(summary["conformed_otio"])
    clips = list(conformed.find_clips())
    assert [c.name for c in clips] == ["sh010", "sh020", "sh030"]
    for clip in clips:
        assert isinstance(clip.media_reference, otio.schema.ImageSequenceReference)
        first = clip.media_reference.target_url_for_image_number(0)
        assert Path(first.removeprefix("file://")).exists(), first
    assert {(name, stage) for name, stage, status in stage_rows(out) if status == "succeeded"} \
        == {(s, stage) for s in ("sh010", "sh020", "sh030")
            for stage in ("ingest", "masking", "analysis", "inpaint", "qc")} - \
        {(s, "ingest") for s in ("sh010", "sh020", "sh030")}  # ingest checks, it records nothing

    again = run(cutlist, out)
    assert again["succeeded"] == 3
    assert exr_files(out) == exrs, "a rerun must not rewrite any EXR"
    for shot in again["shots"]:
        assert {stage: status for stage, status in shot["stages"].items() if stage != "ingest"} \
            == {"masking": "skipped", "analysis": "skipped", "inpaint": "skipped", "qc": "skipped"}
    skipped = [row for row in stage_rows(out) if row[2] == "skipped"]
    assert len(skipped) == 3 * 4


def lineage_shape(out: Path) -> list[tuple]:
    """Per stage run, in order: (shot, stage, status, engine, artifact kinds and file names)."""
    engine = sa.create_engine(f"sqlite:///{out / 'void-farm-lineage.db'}")
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT shot.name, stage_run.stage, stage_run.status, stage_run.engine, "
            "stage_run.engine_version, stage_run.id FROM stage_run "
            "JOIN shot ON shot.id = stage_run.shot_id ORDER BY stage_run.started")).all()
        shape = []
        for name, stage, status, engine_name, version, stage_id in rows:
            files = connection.execute(sa.text(
                "SELECT kind, path_pattern, frame_first, frame_last FROM artifact "
                "WHERE stage_run_id = :id ORDER BY kind"), {"id": stage_id}).all()
            shape.append((name, stage, status, engine_name, version,
                          tuple((kind, Path(path).name, first, last)
                                for kind, path, first, last in files)))
    engine.dispose()
    return shape


@pytest.mark.slow
def test_shot_and_run_are_one_pipeline(ray_local, scenes, tmp_path):
    """`void-farm shot` on a shot folder and `void-farm run` on a cut list holding that shot
    write the same pixels and the same lineage (run adds its QC stage)."""
    from flows.cli import app
    from void_core.media.exr import read_exr_frame

    scene = scenes[0]
    cutlist = write_synthetic_cutlist([scene], tmp_path / "one.otio")
    marker = otio.adapters.read_from_file(str(cutlist)).find_clips()[0].markers[0]
    clicked = marker.metadata["void"]
    folder = tmp_path / "sh010"
    folder.mkdir()
    (folder / "input_video.mp4").symlink_to(scene.video)
    (folder / "prompt.json").write_text(json.dumps({"bg": str(clicked["bg"])}))
    (folder / "points.json").write_text(json.dumps(
        {"frame": int(clicked["frame"]), "points": [[float(v) for v in point]
                                                    for point in clicked["points"]],
         "labels": [int(label) for label in clicked["labels"]]}))

    ran = CliRunner().invoke(app, ["run", str(cutlist), "--out", str(tmp_path / "run")])
    assert ran.exit_code == 0, ran.output
    shot = CliRunner().invoke(app, ["shot", str(folder), "--out", str(tmp_path / "shot")])
    assert shot.exit_code == 0, shot.output

    by_run = sorted((tmp_path / "run" / "sh010").glob("*.exr"))
    by_shot = sorted((tmp_path / "shot" / "sh010").glob("*.exr"))
    assert [p.name for p in by_run] == [p.name for p in by_shot] and len(by_run) == FRAMES
    for a, b in zip(by_run, by_shot):
        ours, theirs = read_exr_frame(a), read_exr_frame(b)
        assert ours.rgb.tobytes() == theirs.rgb.tobytes(), a.name
        assert {k: v.tobytes() for k, v in ours.masks.items()} == \
            {k: v.tobytes() for k, v in theirs.masks.items()}
        assert ours.header["void/prompt_bg"] == theirs.header["void/prompt_bg"] == clicked["bg"]
    run_shape = lineage_shape(tmp_path / "run")
    assert [row[1] for row in run_shape] == ["masking", "analysis", "inpaint", "qc"]
    assert lineage_shape(tmp_path / "shot") == run_shape[:-1]


@pytest.mark.slow
def test_a_failing_shot_does_not_stop_the_others(ray_local, scenes, tmp_path):
    from flows.cli import app

    missing = tmp_path / "gone" / "input_video.mp4"
    cutlist = write_synthetic_cutlist(scenes, tmp_path / "reel2.otio")
    timeline = otio.adapters.read_from_file(str(cutlist))
    clips = list(timeline.find_clips())
    clips[0].media_reference.target_url = missing.as_uri()  # media that is not there
    clips[2].markers[0].metadata["void"]["points"] = [[WIDTH + 50, 10]]  # a click off the frame
    otio.adapters.write_to_file(timeline, str(cutlist))
    out = tmp_path / "out"

    result = CliRunner().invoke(app, ["run", str(cutlist), "--out", str(out), "--json"])

    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    by_name = {shot["name"]: shot for shot in summary["shots"]}
    assert by_name["sh020"]["status"] == "succeeded"
    assert len(list((out / "sh020").glob("*.exr"))) == FRAMES
    assert by_name["sh010"]["failed_stage"] == "ingest"
    assert "media not found" in by_name["sh010"]["error"]
    assert by_name["sh030"]["failed_stage"] == "masking"
    assert "outside" in by_name["sh030"]["error"]
    engine = sa.create_engine(f"sqlite:///{out / 'void-farm-lineage.db'}")
    with engine.connect() as connection:
        shots = dict(connection.execute(sa.text("SELECT name, status FROM shot")).all())
        errors = dict(connection.execute(sa.text("SELECT name, error FROM shot")).all())
        run_status = connection.execute(sa.text("SELECT status FROM run")).scalar_one()
    engine.dispose()
    assert shots == {"sh010": "failed", "sh020": "succeeded", "sh030": "failed"}
    assert "media not found" in errors["sh010"] and "outside" in errors["sh030"]
    assert run_status == "failed"


def _ray_workers_running(task_name: str) -> list[int]:
    """PIDs of Ray workers running `task_name`: Ray titles a busy worker `ray::<task name>`."""
    busy = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            title = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.strip() == f"ray::{task_name}":
            busy.append(int(cmdline.parent.name))
    return busy


@pytest.mark.slow
def test_a_worker_killed_mid_shot_is_retried_and_the_shot_completes(ray_local, scenes, tmp_path):
    long_scene = write_scene(SceneSpec(name="sh090", width=WIDTH, height=HEIGHT, frames=48,
                                       shadow=True, seed=9),
                             tmp_path / "media" / "sh090", mask_name="ground_truth_mask.mp4")
    cutlist = write_synthetic_cutlist([long_scene], tmp_path / "reel3.otio")
    out = tmp_path / "out"
    killed: list[int] = []

    def kill_the_inpaint_worker() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            if list((out / "sh090").glob("sh090.*.exr")):  # the inpaint stage is writing
                for pid in _ray_workers_running("inpaint"):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_the_inpaint_worker, daemon=True)
    killer.start()
    summary = run(cutlist, out)
    killer.join(timeout=5)

    assert killed, "the test never saw the inpaint stage running"
    assert summary["succeeded"] == 1, summary
    assert len(list((out / "sh090").glob("sh090.*.exr"))) == 48
    assert not list((out / "sh090").glob(".*")), "no temporary or partial EXR may remain"
    inpaint_rows = [row for row in stage_rows(out) if row[1] == "inpaint"]
    assert [status for _, _, status in inpaint_rows] == ["failed", "succeeded"], \
        "the killed attempt is closed as failed, the retry succeeds"


@pytest.mark.slow
def test_a_resident_engine_serves_every_shot_from_one_actor(ray_local, scenes, tmp_path):
    cutlist = write_synthetic_cutlist(scenes, tmp_path / "reel4.otio")
    summary = run(cutlist, tmp_path / "out", resident=True)

    assert summary["succeeded"] == 3
    assert summary["engine_hosts"] == {
        "masking": {"engine": "classical", "shots_served": 3, "model_loads": 1},
        "inpaint": {"engine": "classical", "shots_served": 3, "model_loads": 1}}


def test_a_wrong_database_url_fails_before_any_work(tmp_path, scenes):
    from flows.cli import app

    cutlist = write_synthetic_cutlist(scenes, tmp_path / "reel5.otio")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(cutlist), "--out", str(out),
                                      "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none"])
    assert result.exit_code == 1
    assert "127.0.0.1:1" in result.output and "Traceback" not in result.output
    assert not list(out.glob("sh*"))


def test_farm_options_are_checked_before_any_work(tmp_path, scenes):
    from flows.cli import app

    cutlist = write_synthetic_cutlist(scenes, tmp_path / "reel7.otio")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(cutlist), "--out", str(out),
                                      "--qc-url", "/mnt/web/cleanup"])
    assert result.exit_code == 1 and "is not an http(s) URL" in result.output
    result = CliRunner().invoke(app, ["run", str(cutlist), "--out", str(out),
                                      "--max-shots-in-flight", "0"])
    assert result.exit_code == 2 and "max-shots-in-flight" in result.output
    config = tmp_path / "farm.toml"
    config.write_text("[ray.resources]\ninpaint = { void_gpu = -1 }\n")
    result = CliRunner().invoke(app, ["run", str(cutlist), "--out", str(out),
                                      "--config", str(config)])
    assert result.exit_code == 1 and "not a table of amounts" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_an_unreachable_ray_address_is_an_error_not_a_local_cluster(tmp_path, scenes):
    from flows.cli import app

    cutlist = write_synthetic_cutlist(scenes, tmp_path / "reel6.otio")
    result = CliRunner().invoke(app, ["run", str(cutlist), "--out", str(tmp_path / "out"),
                                      "--ray-address", "127.0.0.1:1"])
    assert result.exit_code == 1
    assert "127.0.0.1:1" in result.output and "does not answer" in result.output
    assert not list((tmp_path / "out").glob("sh*"))


@pytest.mark.slow
def test_the_demo_runs_the_whole_flow_and_says_where_everything_is(ray_local, tmp_path):
    from flows.cli import app

    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--shots", "2",
                                      "--width", "96", "--height", "64", "--frames", "8"])
    assert result.exit_code == 0, result.output
    cleanup = tmp_path / "demo" / "cleanup"
    assert len(list(cleanup.glob("sh0[12]0/*.exr"))) == 16
    assert (cleanup / "demo_reel.conformed.otio").exists()
    assert (cleanup / "qc" / "sh010_preview.mp4").exists()
    for where in ("EXR plates", "QC previews", "conformed", "lineage", "Prefect UI"):
        assert where in result.output


@pytest.mark.slow
def test_three_shots_through_one_void_actor_load_the_model_once(ray_local, scenes, tmp_path):
    from void_core.inpaint.void.tiny import make_tiny_model_dir

    model = make_tiny_model_dir(tmp_path / "void-tiny")
    cutlist = write_synthetic_cutlist(scenes, tmp_path / "reel8.otio")
    summary = run(cutlist, tmp_path / "out", engine="void", resident=True,
                  engine_settings={"model_dir": str(model), "device": "cpu"})

    assert summary["succeeded"] == 3, summary
    assert summary["engine_hosts"]["inpaint"] == {"engine": "void", "shots_served": 3,
                                                  "model_loads": 1}
    assert len(list((tmp_path / "out").glob("sh0[123]0/*.exr"))) == 3 * FRAMES


@pytest.mark.slow
def test_an_unparseable_edl_event_is_a_failed_shot_with_its_reason(ray_local, tmp_path):
    from fractions import Fraction

    scene = write_scene(SceneSpec(name="sh010", width=96, height=64, frames=8, shadow=True,
                                  fps=Fraction(24)), tmp_path / "sh010",
                        mask_name="ground_truth_mask.mp4")
    edl = tmp_path / "reel9.edl"
    edl.write_text("TITLE: REEL9\nFCM: NON-DROP FRAME\n\n"
                   "001  A001 V     C        00:00:00:00 00:00:00:08 01:00:00:00 01:00:00:08\n"
                   f"* FROM CLIP: {scene.video}\n"
                   "* LOC: 01:00:00:05 RED VOID: remove the ball\n"
                   "002  A002 V     C        00:00:0X:00 00:00:01:08 01:00:00:08 01:00:01:16\n"
                   "* FROM CLIP: /nowhere/b.mov\n")
    out = tmp_path / "out"
    summary = run(edl, out, rate="24")

    by_name = {shot["name"]: shot for shot in summary["shots"]}
    assert by_name["input_video"]["status"] == "succeeded"  # clicks from points.json beside it
    assert by_name["event-2"]["status"] == "failed"
    assert "'00:00:0X:00' is not a timecode" in by_name["event-2"]["error"]
    engine = sa.create_engine(f"sqlite:///{out / 'void-farm-lineage.db'}")
    with engine.connect() as connection:
        error = connection.execute(sa.text(
            "SELECT error FROM shot WHERE name = 'event-2' AND status = 'failed'")).scalar_one()
    engine.dispose()
    assert "line 7 (event 2)" in error


@pytest.mark.slow
def test_the_model_engines_run_resident_from_a_config_file(ray_local, scenes, tmp_path):
    """sam2 masking, gemini analysis (a local fake of the REST API), the void engine: every
    model from the settings file, SAM2 and VOID each loaded once for the three shots."""
    from fake_gemini import FakeGemini
    from omegaconf import OmegaConf
    from test_sam2 import save_checkpoint, tiny_config

    from flows.cli import app
    from void_core.inpaint.void.tiny import make_tiny_model_dir
    from void_core.naming import AFFECTED_MASKS

    sam2_config = tiny_config()
    OmegaConf.save(sam2_config, tmp_path / "sam2-tiny.yaml")
    sam2_checkpoint = save_checkpoint(sam2_config, tmp_path / "sam2-tiny.pt")
    void_model = make_tiny_model_dir(tmp_path / "void-tiny")
    answer = {"edit_instruction": "remove the moving object", "integral_belongings": [],
              "affected_objects": [
                  {"noun": "shadow", "category": "visual_artifact", "why": "cast by it",
                   "will_move": False, "first_appears_frame": 0, "movement_description": "",
                   "grid_localizations": [{"frame": 2, "grid_regions": [{"row": 5, "col": 4}]}],
                   "trajectory_path": []}],
              "scene_description": "An empty floor under a wall.", "confidence": 0.9}
    cutlist = write_synthetic_cutlist(scenes, tmp_path / "reel10.otio")
    out = tmp_path / "out"
    with FakeGemini(answer, api_key=GEMINI_KEY) as gemini:
        config = tmp_path / "void-farm.toml"
        config.write_text(f"""
[inpaint.void]
model_dir = "{void_model}"
device = "cpu"

[masking.sam2]
config = "{tmp_path / 'sam2-tiny.yaml'}"
checkpoint = "{sam2_checkpoint}"
device = "cpu"

[analysis.gemini]
base_url = "{gemini.base_url}"
retry_base_delay = 0.01
timeout = 30.0
""")
        result = CliRunner().invoke(app, [
            "run", str(cutlist), "--out", str(out), "--engine", "void", "--masker", "sam2",
            "--analyzer", "gemini", "--config", str(config), "--resident", "--json"])
        analyses = [r for r in gemini.requests if r.path.endswith(":generateContent")]

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["succeeded"] == 3
    assert summary["engine_hosts"] == {
        "masking": {"engine": "sam2", "shots_served": 3, "model_loads": 1},
        "inpaint": {"engine": "void", "shots_served": 3, "model_loads": 1}}
    assert len(analyses) == 3
    assert len(list(out.glob("sh0[123]0/*.exr"))) == 3 * FRAMES
    for shot in summary["shots"]:
        assert "sam2 segmented 1 affected object(s): shadow" in shot["notes"], shot
        assert len(list((out / ".void-work" / shot["name"] / AFFECTED_MASKS).glob("*.mp4"))) == 1
    engine = sa.create_engine(f"sqlite:///{out / 'void-farm-lineage.db'}")
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT stage, engine, model_checksums FROM stage_run WHERE status = 'succeeded'"
        )).all()
    engine.dispose()
    engines = {stage: name for stage, name, _ in rows}
    assert (engines["masking"], engines["analysis"], engines["inpaint"]) == ("sam2", "gemini", "void")
    checksums = {stage: json.loads(c) if isinstance(c, str) else c for stage, _, c in rows}
    assert "sam2-tiny.pt" in checksums["masking"] and "sam2-tiny.pt" in checksums["analysis"]
    assert checksums["inpaint"]
    assert GEMINI_KEY.encode() not in (out / "void-farm-lineage.db").read_bytes()


@pytest.mark.slow
def test_a_clip_cut_from_longer_media_runs_and_conforms_to_its_source_range(ray_local, scenes,
                                                                           tmp_path):
    from opentimelineio.opentime import RationalTime, TimeRange

    cutlist = write_synthetic_cutlist(scenes[:1], tmp_path / "reel11.otio")
    timeline = otio.adapters.read_from_file(str(cutlist))
    clip = next(iter(timeline.find_clips()))
    click, count = scenes[0].click_frame, FRAMES - 3
    skip = min(2, click)
    rate = clip.source_range.start_time.rate
    start = clip.source_range.start_time.value + skip
    clip.source_range = TimeRange(RationalTime(start, rate), RationalTime(count, rate))
    del clip.markers[0].metadata["void"]["frame"]  # the marker's own position places the click
    otio.adapters.write_to_file(timeline, str(cutlist))
    out = tmp_path / "out"

    summary = run(cutlist, out)

    assert summary["succeeded"] == 1, summary
    assert any(note.startswith(f"clip is frames {skip}..{skip + count - 1} of the media's "
                               f"{FRAMES}") for note in summary["shots"][0]["notes"])
    names = [path.name for path in sorted((out / "sh010").glob("*.exr"))]
    assert names == [f"sh010.{int(start) + i:04d}.exr" for i in range(count)]
    conformed = otio.adapters.read_from_file(str(out / "reel11.conformed.otio"))
    clean = next(iter(conformed.find_clips())).media_references()["void_clean"]
    assert clean.available_range.start_time.value == start
    assert clean.available_range.duration.value == count


@pytest.mark.slow
def test_a_clips_colour_space_and_the_runs_working_space_reach_the_workers(ray_local, scenes,
                                                                           tmp_path):
    """The cut list's "void" metadata names the clip's colour space, the run's [colour] the
    working space: the EXRs written on Ray workers are labelled with both."""
    from void_core.media.exr import read_exr_frame

    cutlist = write_synthetic_cutlist(scenes[:1], tmp_path / "colour.otio")
    timeline = otio.adapters.read_from_file(str(cutlist))
    clip = next(iter(timeline.find_clips()))
    clip.metadata["void"] = {**dict(clip.metadata.get("void", {})),
                             "colorspace": "Gamma 2.2 Encoded Rec.709"}
    otio.adapters.write_to_file(timeline, str(cutlist))
    out = tmp_path / "out"
    summary = run(cutlist, out, colour={"working_colorspace": "ACEScg"})
    assert summary["succeeded"] == 1, summary
    header = read_exr_frame(sorted(out.glob("sh010/*.exr"))[0]).header
    assert header["colorspace"] == "ACEScg"
    assert header["void/input_colorspace"] == "Gamma 2.2 Encoded Rec.709"
    assert header["chromaticities"][:2] == pytest.approx((0.713, 0.293), abs=1e-4)


def latest_artifact(key: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC, limit=1)
    return artifact


@pytest.mark.slow
def test_one_shot_in_flight_with_qc_inline_and_placement_in_lineage(ray_local, scenes, tmp_path):
    import socket

    from void_core.qc import STRIP_MAX_BYTES

    cutlist = write_synthetic_cutlist(scenes, tmp_path / "reel-qc.otio")
    out = tmp_path / "out"
    summary = run(cutlist, out, max_shots_in_flight=1, qc_url="https://farm-web/cleanup",
                  ray_resources={"qc": {"num_cpus": 0.5}})
    assert (summary["succeeded"], summary["failed"]) == (3, 0), summary

    engine = sa.create_engine(f"sqlite:///{out / 'void-farm-lineage.db'}")
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT shot.name, stage_run.started, stage_run.finished, stage_run.node_id, "
            "stage_run.hostname FROM stage_run JOIN shot ON shot.id = stage_run.shot_id")).all()
    engine.dispose()
    spans = {}
    for name, started, finished, node_id, hostname in rows:
        assert hostname == socket.gethostname() and len(node_id or "") > 16
        first, last = spans.get(name, (started, finished))
        spans[name] = (min(first, started), max(last, finished))
    ordered = sorted(spans.values())
    assert all(earlier[1] <= later[0] for earlier, later in zip(ordered, ordered[1:])), \
        "with one shot in flight, a shot's stages start after the previous shot finished"

    for shot in summary["shots"]:
        assert shot["stage_where"]["inpaint"].startswith(socket.gethostname() + " (node ")
        assert Path(shot["strip"]).stat().st_size <= STRIP_MAX_BYTES
    qc = latest_artifact("reel-qc-qc").data
    assert qc.count("](data:image/jpeg;base64,") == 3
    assert "(https://farm-web/cleanup/qc/sh010_preview.mp4)" in qc
    table = latest_artifact("reel-qc-shots").data
    assert "inpaint" in table and socket.gethostname() in table


def part_rows(out: Path) -> list[tuple]:
    """(stage, part, status, prefect task run id) of every stage run, in start order."""
    engine = sa.create_engine(f"sqlite:///{out / 'void-farm-lineage.db'}")
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT stage, part, status, prefect_task_run_id, hostname FROM stage_run "
            "ORDER BY started, id")).all()
    engine.dispose()
    return [tuple(row) for row in rows]


# The classical engine's learning parts of a 24-frame shot in parts of 8, sorted.
LEARNING_PARTS = ["canvas-0001-0024", "motion-0001-0024", "sightings-0001-0008",
                  "sightings-0009-0016", "sightings-0017-0024"]


@pytest.mark.slow
def test_a_long_shot_runs_in_parts_on_ray_and_a_rerun_redoes_only_the_missing_part(
        ray_local, tmp_path):
    """A 24-frame shot in parts of 8: prepare, five learning and three frames part tasks,
    finish, each in lineage with its own Prefect task run; the EXRs equal one process's;
    deleting one part's EXRs and running again redoes that part alone."""
    from void_core.media.exr import read_exr_frame

    scene = write_scene(SceneSpec(name="sh010", width=WIDTH, height=HEIGHT, frames=24,
                                  shadow=True, seed=5), tmp_path / "media" / "sh010",
                        mask_name="ground_truth_mask.mp4")
    cutlist = write_synthetic_cutlist([scene], tmp_path / "long.otio")
    out = tmp_path / "out"
    summary = run(cutlist, out, chunk_frames=8)
    assert (summary["succeeded"], summary["failed"]) == (1, 0), summary
    assert summary["shots"][0]["stages"]["inpaint"] == "succeeded"
    inpaint = [row for row in part_rows(out) if row[0] == "inpaint"]
    rows = [(part, status) for _, part, status, *_ in inpaint]
    assert rows[0] == ("prepare", "succeeded") and rows[-1] == (None, "succeeded")
    assert sorted(rows[1:-1]) == [("0001-0008", "succeeded"), ("0009-0016", "succeeded"),
                                  ("0017-0024", "succeeded")] + [
        (label, "succeeded") for label in LEARNING_PARTS]  # side by side: any order
    assert len({task for _, _, _, task, _ in inpaint}) == 10  # one Prefect task each
    assert all(host for *_, host in inpaint)

    assert run(cutlist, tmp_path / "whole", chunk_frames=0)["succeeded"] == 1
    assert "part" not in {row[1] for row in part_rows(tmp_path / "whole")}
    parted = sorted((out / "sh010").glob("*.exr"))
    assert len(parted) == 24
    for path in parted:
        assert read_exr_frame(path).rgb.tobytes() == \
            read_exr_frame(tmp_path / "whole" / "sh010" / path.name).rgb.tobytes(), path.name

    stamps = exr_files(out)
    for number in range(1009, 1017):
        (out / "sh010" / f"sh010.{number}.exr").unlink()
    again = run(cutlist, out, chunk_frames=8)
    assert again["succeeded"] == 1
    rewritten = {path.name for path, mtime in exr_files(out).items() if stamps.get(path) != mtime}
    assert rewritten == {f"sh010.{number}.exr" for number in range(1009, 1017)}
    rerun = [(part, status) for stage, part, status, *_ in part_rows(out)[-11:]
             if stage == "inpaint"]
    assert rerun[0] == ("prepare", "skipped") and rerun[-1] == (None, "succeeded")
    assert sorted(rerun[1:-1]) == [("0001-0008", "skipped"), ("0009-0016", "succeeded"),
                                   ("0017-0024", "skipped")] + [
        (label, "skipped") for label in LEARNING_PARTS]
