"""A long shot through the real flow on a real local Ray: its inpaint and its QC in parts,
each part a Prefect task and a lineage row, and a rerun that redoes only what was deleted.
Slow (about a minute): `make test-all` and CI run it, `make test` does not."""

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


@pytest.mark.slow
def test_a_long_shot_runs_in_parts_on_ray_and_a_rerun_redoes_only_the_missing_part(
        ray_local, tmp_path):
    """A 24-frame shot in parts of 8: prepare, three part tasks, finish, each in lineage with
    its own Prefect task run, for the inpaint and then the QC; the EXRs equal one process's;
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
                                  ("0017-0024", "succeeded")]  # side by side: any order
    assert len({task for _, _, _, task, _ in inpaint}) == 5  # one Prefect task each
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
                                   ("0017-0024", "skipped")]
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
