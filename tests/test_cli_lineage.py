"""`void-farm db upgrade` and `void-farm lineage` through typer's CliRunner: output, JSON, exit
codes, one-line errors."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from flows.cli_lineage import db_app, lineage_command
from void_core.lineage import head_revision, open_store
from void_core.lineage.db import VERSION_TABLE

runner = CliRunner()
CHECKSUM = "sha256:" + "ab" * 32


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    """The two commands registered the way the main CLI registers them."""
    cli = typer.Typer()
    cli.add_typer(db_app, name="db")
    cli.command("lineage")(lineage_command)
    return cli


@pytest.fixture
def db_url(tmp_path, monkeypatch):
    monkeypatch.delenv("VOID_FARM_DB", raising=False)
    return f"sqlite:///{tmp_path / 'lineage.db'}"


@pytest.fixture
def populated(db_url):
    with open_store(db_url) as store:
        run_id = store.start_run("reel1.edl", kind="cutlist", settings={"out": "/out"})
        shot_id = store.start_shot(run_id, "sh010", source_path="/plates/sh010.mov",
                                   frame_first=1001, frame_last=1010, rate="24000/1001")
        stage_id = store.start_stage(shot_id, "inpaint", identity="i1", engine="classical",
                                     engine_version="2",
                                     settings={"radius": 3, "note": "[bold]x[/]"},
                                     model_checksums={"void_pass1.safetensors": CHECKSUM},
                                     place={"node_id": "3f2a9c1d5e7b" + "0" * 44,
                                            "hostname": "render02", "gpu_name": "NVIDIA L40S"})
        store.record_artifact(stage_id, "exr_sequence", "/out/sh010/sh010.####.exr",
                              frame_first=1001, frame_last=1010)
        store.finish_stage(stage_id)
        store.finish_shot(shot_id)
        store.finish_run(run_id)
    return db_url


def test_db_upgrade_creates_then_reports_head(app, db_url):
    first = runner.invoke(app, ["db", "upgrade", "--db", db_url])
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == head_revision()
    assert f"upgraded from empty to {head_revision()} (head)" in first.stderr
    again = runner.invoke(app, ["db", "upgrade", "--db", db_url])
    assert again.exit_code == 0 and f"already at {head_revision()}" in again.stderr


def test_db_upgrade_reads_void_farm_db(app, tmp_path, monkeypatch):
    path = tmp_path / "from_env.db"
    monkeypatch.setenv("VOID_FARM_DB", f"sqlite:///{path}")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert path.is_file()


def test_db_upgrade_refuses_a_newer_schema(app, populated):
    with open_store(populated) as store, store.engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE {VERSION_TABLE} SET version_num = '9999'")
    result = runner.invoke(app, ["db", "upgrade", "--db", populated])
    assert result.exit_code == 1
    assert "revision 9999, which this void-farm does not know" in result.stderr


def test_lineage_json_by_shot_name(app, populated):
    result = runner.invoke(app, ["lineage", "sh010", "--db", populated, "--json"])
    assert result.exit_code == 0, result.output
    [trace] = json.loads(result.stdout)
    assert trace["run"]["name"] == "reel1.edl" and trace["shot"]["rate"] == "24000/1001"
    [stage] = trace["stages"]
    assert (stage["engine"], stage["engine_version"]) == ("classical", "2")
    assert stage["status"] == "succeeded"
    assert (stage["hostname"], stage["gpu_name"]) == ("render02", "NVIDIA L40S")
    assert stage["engine_settings"] == {"radius": 3, "note": "[bold]x[/]"}
    assert stage["artifacts"][0]["path_pattern"] == "/out/sh010/sh010.####.exr"
    assert trace["matched"] is None


def test_lineage_json_by_exr_path(app, populated):
    result = runner.invoke(app, ["lineage", "/out/sh010/sh010.1003.exr", "--db", populated,
                                 "--json"])
    assert result.exit_code == 0, result.output
    [trace] = json.loads(result.stdout)
    assert trace["frame"] == 1003 and trace["matched"]["kind"] == "exr_sequence"


def test_lineage_human_output(app, populated):
    result = runner.invoke(app, ["lineage", "/out/sh010/sh010.1003.exr", "--db", populated])
    assert result.exit_code == 0, result.output
    text = result.stdout
    for expected in ("run reel1.edl (cutlist) succeeded", "shot sh010", "frame 1003 of",
                     "inpaint #1", "classical@2", "radius=3", 'note="[bold]x[/]"',
                     "ran on: host render02  node 3f2a9c1d5e7b  gpu NVIDIA L40S",
                     "void_pass1.safetensors=sha256:abababababab",
                     "/out/sh010/sh010.####.exr [1001-1010]"):
        assert expected in text, expected


@pytest.mark.parametrize("query", ["sh999", "/out/sh010/sh010.1011.exr"])
def test_lineage_without_a_match_is_one_error_line(app, populated, query):
    result = runner.invoke(app, ["lineage", query, "--db", populated])
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: no lineage for '{query}' in sqlite:///")


def test_lineage_does_not_create_a_missing_database(app, tmp_path):
    path = tmp_path / "absent.db"
    result = runner.invoke(app, ["lineage", "sh010", "--db", str(path)])
    assert result.exit_code == 1
    assert f"no lineage database at {path}" in result.stderr
    assert not path.exists()


def test_an_unreachable_database_masks_the_password(app):
    url = "postgresql+psycopg://farm:s3cret@127.0.0.1:1/lineage"
    for args in (["db", "upgrade", "--db", url], ["lineage", "sh010", "--db", url]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1
        assert result.stderr.strip() == (
            "error: cannot connect to lineage database postgresql+psycopg://farm:***@127.0.0.1:1/"
            "lineage: connection refused (check --db / VOID_FARM_DB)")


def test_lineage_of_an_output_file_finds_the_runs_database_beside_it(app, tmp_path, monkeypatch):
    """No --db and no $VOID_FARM_DB: OUT/sh010/sh010.1001.exr is traced in OUT/void-farm-lineage.db,
    from any working directory."""
    monkeypatch.delenv("VOID_FARM_DB", raising=False)
    out = tmp_path / "out"
    frame = out / "sh010" / "sh010.1001.exr"
    frame.parent.mkdir(parents=True)
    frame.write_bytes(b"exr")
    with open_store(f"sqlite:///{out / 'void-farm-lineage.db'}") as store:
        run_id = store.start_run("sh010", kind="shot")
        shot_id = store.start_shot(run_id, "sh010")
        stage_id = store.start_stage(shot_id, "inpaint", identity="i1", engine="classical")
        store.record_artifact(stage_id, "exr_sequence", str(out / "sh010" / "sh010.####.exr"),
                              frame_first=1001, frame_last=1001)
        store.finish_stage(stage_id)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = runner.invoke(app, ["lineage", str(frame), "--json"])
    assert result.exit_code == 0, result.output
    [trace] = json.loads(result.stdout)
    assert trace["shot"]["name"] == "sh010"
    assert not (elsewhere / "void-farm-lineage.db").exists()
