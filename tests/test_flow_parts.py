"""A long shot's parts in the flow: through the real flow on a real local Ray (its inpaint and
its QC in parts, each part a Prefect task and a lineage row, a rerun that redoes only what was
deleted; slow, about a minute: `make test-all` and CI run it, `make test` does not), and the
flow's part runner alone (a failed QC part fails the shot with its label)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from test_flow_cutlist import HEIGHT, WIDTH, exr_files, ray_local, run  # noqa: F401 (fixture)
from void_core.synth import SceneSpec, write_scene
from void_core.synth.cutlist import write_synthetic_cutlist

pytestmark = pytest.mark.xdist_group("ray-prefect")


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
    finish, each in lineage with its own Prefect task run, then the QC's parts; the EXRs equal one process's;
    deleting one part's EXRs and running again redoes that part alone, and its QC part."""
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
    _assert_qc_in_parts(out, summary)

    assert run(cutlist, tmp_path / "whole", chunk_frames=0)["succeeded"] == 1
    assert "part" not in {row[1] for row in part_rows(tmp_path / "whole")}
    parted = sorted((out / "sh010").glob("*.exr"))
    assert len(parted) == 24
    for path in parted:
        assert read_exr_frame(path).rgb.tobytes() == \
            read_exr_frame(tmp_path / "whole" / "sh010" / path.name).rgb.tobytes(), path.name
    whole_qc = tmp_path / "whole" / "qc"
    for name in ("sh010_contact.png", "sh010_strip.jpg"):  # same EXRs: the same pictures
        assert (out / "qc" / name).read_bytes() == (whole_qc / name).read_bytes(), name

    stamps = exr_files(out)
    for number in range(1009, 1017):
        (out / "sh010" / f"sh010.{number}.exr").unlink()
    first_run = len(part_rows(out))
    again = run(cutlist, out, chunk_frames=8)
    assert again["succeeded"] == 1
    rewritten = {path.name for path, mtime in exr_files(out).items() if stamps.get(path) != mtime}
    assert rewritten == {f"sh010.{number}.exr" for number in range(1009, 1017)}
    rerun = [(part, status) for stage, part, status, *_ in part_rows(out)[first_run:]
             if stage == "inpaint"]
    assert rerun[0] == ("prepare", "skipped") and rerun[-1] == (None, "succeeded")
    assert sorted(rerun[1:-1]) == [("0001-0008", "skipped"), ("0009-0016", "succeeded"),
                                   ("0017-0024", "skipped")] + [
        (label, "skipped") for label in LEARNING_PARTS]
    qc_rerun = [(part, status) for stage, part, status, *_ in part_rows(out)[first_run:]
                if stage == "qc"]
    assert qc_rerun[-1] == (None, "succeeded")
    assert sorted(qc_rerun[:-1]) == [("0001-0008", "skipped"), ("0009-0016", "succeeded"),
                                     ("0017-0024", "skipped")]


def _assert_qc_in_parts(out: Path, summary: dict) -> None:
    """The QC ran as `sh010 · qc 0001-0008` ... and `sh010 · qc finish` tasks, one lineage
    row each, and the shot's three QC files are there."""
    from uuid import UUID

    from prefect.client.orchestration import get_client

    qc = [row for row in part_rows(out) if row[0] == "qc"]
    assert sorted((part, status) for _, part, status, *_ in qc[:-1]) == [
        ("0001-0008", "succeeded"), ("0009-0016", "succeeded"), ("0017-0024", "succeeded")]
    assert qc[-1][1:3] == (None, "succeeded")
    with get_client(sync_client=True) as client:
        names = {row[1]: client.read_task_run(UUID(row[3])).name for row in qc}
    assert names == {"0001-0008": "sh010 · qc 0001-0008", "0009-0016": "sh010 · qc 0009-0016",
                     "0017-0024": "sh010 · qc 0017-0024", None: "sh010 · qc finish"}
    shot = summary["shots"][0]
    assert shot["stages"]["qc"] == "succeeded"
    assert all(Path(shot[key]).is_file() for key in ("preview", "contact_sheet", "strip"))
    assert not list((out / "qc").glob(".*"))  # nothing half-written left


class _Finished:
    """A task future that has already finished: with `result`, or failed with `error`."""

    def __init__(self, result=None, error: BaseException | None = None):
        self._result, self._error = result, error
        self.state = self

    def wait(self) -> None:
        return None

    def is_completed(self) -> bool:
        return self._error is None

    def result(self, raise_on_failure: bool = True):
        return self._error if self._error is not None else self._result


def test_a_failed_qc_part_fails_the_shot_with_its_label_once_the_running_parts_end(tmp_path):
    """The flow's part runner, QC parts, without Ray: prepare, three parts side by side; the
    second fails, the shot fails at qc naming that part, after the third ends; no finish."""
    from fractions import Fraction

    from flows.cutlist_flow import _ShotChain
    from tasks.engine_host import Placement
    from void_core.errors import MediaError
    from void_core.inpaint.base import even_parts
    from void_core.pipeline import stages
    from void_core.vocabulary import STAGE_ORDER

    settings = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path, chunk_frames=8)
    plan = stages.ShotPlan(name="sh010", event=1, media=None, media_problem=None,
                           first_frame=1001, frame_count=24, rate=Fraction(24))
    chain = _ShotChain(settings, plan, Placement(declared={}, hosts=(), forwarded=frozenset(),
                                                 task_resources={}))
    chain.index = STAGE_ORDER.index("qc")
    prepared = stages.ShotState(plan=plan, parts=stages.ShotParts(
        identity="qc", inputs={}, folder=tmp_path, first_frame=1001,
        parts=tuple(even_parts(24, 8)), prepare=None, engine=("qc", "3", None)))
    outcomes = {"sh010 · qc prepare": _Finished(prepared),
                "sh010 · qc 0001-0008": _Finished(stages.PartReport(0, "0001-0008", None)),
                "sh010 · qc 0009-0016": _Finished(error=MediaError(tmp_path, "segment broke")),
                "sh010 · qc 0017-0024": _Finished(stages.PartReport(2, "0017-0024", None))}
    submitted = []

    def submit(task, resources, *arguments, wait_for, **options):
        submitted.append(task.task_run_name)
        return outcomes[task.task_run_name]

    chain.submit_task = submit
    [prepare] = chain.start()
    parts = chain.advance(prepare)
    assert submitted == list(outcomes) and len(parts) == 3  # side by side
    assert chain.advance(parts[0]) == []
    assert chain.advance(parts[1]) == []  # failed: waits for the running part
    assert chain.advance(parts[2]) is None  # the shot is done: failed
    outcome = chain.outcome
    assert (outcome.status, outcome.failed_stage, outcome.stages["qc"]) == ("failed", "qc",
                                                                            "failed")
    assert outcome.error.startswith("part 0009-0016: ") and "segment broke" in outcome.error
    assert "sh010 · qc finish" not in submitted
