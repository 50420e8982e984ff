"""Lineage store on SQLite and PostgreSQL: migrations, round trips, trace, reuse, many writers,
connection errors, secrets.

PostgreSQL tests use `$VOID_FARM_TEST_PG` (default
postgresql+psycopg://postgres@127.0.0.1:5432/test) with a fresh schema per test (via
`search_path` in the URL), so parallel workers never collide.
They skip, with the reason, only when that server cannot be reached.
"""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from conftest import PG_URL
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from void_core.errors import VoidFarmError
from void_core.lineage import (
    LineageError, as_json, downgrade, head_revision, mask_url, open_store, resolve_url,
    scrub_settings, upgrade,
)
from void_core.lineage.db import VERSION_TABLE, create_lineage_engine
from void_core.lineage.models import Base
from void_core.lineage.patterns import frame_path, guesses_for_file, sequence_exists
from void_core.lineage.scrub import is_secret_key

LINEAGE_TABLES = {"run", "shot", "stage_run", "artifact", "artifact_file", VERSION_TABLE}




@pytest.fixture
def store(db_url):
    with open_store(db_url) as opened:
        yield opened


PLACE = {"node_id": "3f2a9c1d" * 7, "hostname": "render02", "gpu_name": "NVIDIA A100-SXM4-80GB"}


def record_shot(store, name="sh010", *, run_name="reel1", out="/out", first=1001, last=1010,
                identity="id-inpaint", files=False):
    """One finished run: a shot with a masking stage and an inpaint stage writing a sequence."""
    run_id = store.start_run(run_name, kind="cutlist", settings={"engine": "classical"})
    shot_id = store.start_shot(run_id, name, source_path=f"/plates/{name}.mov", source_digest="d0",
                               frame_first=first, frame_last=last,
                               record_range="01:00:00:00-01:00:00:10", rate="24000/1001")
    mask_id = store.start_stage(shot_id, "masking", identity=f"mask-{name}", engine="sam2",
                                engine_version="1.1.0", model_checksums={"sam2.pt": "sha256:aa"})
    store.finish_stage(mask_id)
    stage_id = store.start_stage(shot_id, "inpaint", identity=identity, engine="classical",
                                 engine_version="2", settings={"radius": 3, "window": [16, 4]},
                                 worker="node-1", place=PLACE)
    pattern = f"{out}/{name}/{name}.####.exr"
    store.record_artifact(stage_id, "exr_sequence", pattern, frame_first=first, frame_last=last,
                          digest="sha256:bb", bytes=1234)
    if files:
        for frame in range(first, last + 1):
            Path(frame_path(pattern, frame)).parent.mkdir(parents=True, exist_ok=True)
            Path(frame_path(pattern, frame)).write_bytes(b"exr")
    store.finish_stage(stage_id)
    store.finish_shot(shot_id)
    store.finish_run(run_id)
    return run_id, shot_id, stage_id


def tables(url) -> set[str]:
    engine = create_lineage_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) & LINEAGE_TABLES
    finally:
        engine.dispose()


# --- schema and migrations -------------------------------------------------------------------


def test_an_empty_database_is_created_at_head(db_url):
    with open_store(db_url):
        pass
    assert tables(db_url) == LINEAGE_TABLES
    assert head_revision() == "0005"


def test_the_qc_stage_migration_keeps_rows_and_allows_qc(db_url):
    with open_store(db_url) as store:
        record_shot(store)
    engine = create_lineage_engine(db_url)
    try:
        assert downgrade(engine, "0001") == "0001"
        with engine.connect() as connection:
            counts = [connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()
                      for table in ("run", "shot", "stage_run", "artifact")]
        assert all(counts), f"rows must survive the downgrade to 0001: {counts}"
        assert upgrade(engine) == head_revision()
    finally:
        engine.dispose()
    with open_store(db_url) as store:
        run_id = store.start_run("cut", kind="cutlist")
        shot_id = store.start_shot(run_id, "sh020")
        stage_id = store.start_stage(shot_id, "qc", identity="sha256:qc", engine="qc")
        store.finish_stage(stage_id)
        assert store.find_completed_stage("sha256:qc") is not None
        assert len(store.trace("sh010")) == 1


def test_upgrade_downgrade_upgrade_on_a_populated_database(db_url):
    with open_store(db_url) as store:
        record_shot(store)
        assert store.trace("sh010")
    engine = create_lineage_engine(db_url)
    try:
        assert downgrade(engine, "base") is None
        assert tables(db_url) == {VERSION_TABLE}
        assert upgrade(engine) == head_revision()
    finally:
        engine.dispose()
    with open_store(db_url) as store:
        assert store.trace("sh010") == []
        record_shot(store)
        assert len(store.trace("sh010")) == 1


def test_models_and_migrations_agree(db_url):
    with open_store(db_url) as store, store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "version_table": VERSION_TABLE, "compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_a_newer_schema_is_refused(db_url):
    with open_store(db_url) as store, store.engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE {VERSION_TABLE} SET version_num = '9999_future'")
    with pytest.raises(LineageError, match="9999_future, which this void-farm does not know"):
        open_store(db_url)
    engine = create_lineage_engine(db_url)
    try:
        with pytest.raises(LineageError, match="9999_future"):
            upgrade(engine)
    finally:
        engine.dispose()


def test_concurrent_first_opens_create_the_schema_once(db_url):
    errors = []

    def open_and_write(index):
        try:
            with open_store(db_url) as store:
                store.start_run(f"run{index}")
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=open_and_write, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


# --- write / read ----------------------------------------------------------------------------


def test_round_trip_by_shot_name(store):
    run_id, shot_id, stage_id = record_shot(store)
    [trace] = store.trace("sh010")
    assert (trace.run.id, trace.run.status, trace.run.kind) == (run_id, "succeeded", "cutlist")
    assert trace.run.settings == {"engine": "classical"} and trace.run.software_version
    assert trace.shot.id == shot_id and trace.shot.rate == "24000/1001"
    assert (trace.shot.frame_first, trace.shot.frame_last) == (1001, 1010)
    assert [stage.stage for stage in trace.stages] == ["masking", "inpaint"]
    masking, inpaint = trace.stages
    assert masking.model_checksums == {"sam2.pt": "sha256:aa"}
    assert masking.engine_label == "sam2@1.1.0"
    assert inpaint.id == stage_id and inpaint.engine_settings == {"radius": 3, "window": [16, 4]}
    assert inpaint.status == "succeeded" and inpaint.attempt == 1 and inpaint.worker == "node-1"
    assert (inpaint.node_id, inpaint.hostname, inpaint.gpu_name) == tuple(PLACE.values())
    assert (masking.node_id, masking.hostname, masking.gpu_name) == (None, None, None)
    assert inpaint.seconds is not None and inpaint.seconds >= 0
    assert inpaint.started.tzinfo is not None and inpaint.started.utcoffset().total_seconds() == 0
    assert inpaint.finished >= inpaint.started
    [artifact] = inpaint.artifacts
    assert (artifact.path_pattern, artifact.bytes, artifact.digest) == (
        "/out/sh010/sh010.####.exr", 1234, "sha256:bb")
    assert trace.matched is None and trace.frame is None
    assert as_json(trace)["stages"][1]["started"].endswith("+00:00")


def test_trace_by_shot_source_path(store):
    record_shot(store)
    assert [t.shot.name for t in store.trace("/plates/sh010.mov")] == ["sh010"]


def test_trace_by_exr_path_inside_and_outside_the_frame_range(store):
    _, shot_id, _ = record_shot(store)
    [trace] = store.trace("/out/sh010/sh010.1003.exr")
    assert trace.shot.id == shot_id and trace.frame == 1003
    assert trace.matched.path_pattern == "/out/sh010/sh010.####.exr"
    assert len(trace.stages) == 2
    assert store.trace("/out/sh010/sh010.1010.exr")[0].frame == 1010
    assert store.trace("/out/sh010/sh010.1011.exr") == []
    assert store.trace("/out/sh010/sh010.1000.exr") == []
    assert store.trace("/elsewhere/sh010/sh010.1003.exr") == []


def test_trace_by_relative_name_printf_patterns_and_single_files(store):
    run_id = store.start_run("r")
    shot_id = store.start_shot(run_id, "sh020")
    stage_id = store.start_stage(shot_id, "write", identity="w", engine="exr")
    store.record_artifact(stage_id, "mask", "/out/sh020/mask.%04d.png", frame_first=1, frame_last=8)
    store.record_artifact(stage_id, "otio", "/out/reel1_conformed.otio")
    store.finish_stage(stage_id)
    assert store.trace("/out/sh020/mask.0008.png")[0].frame == 8
    assert store.trace("sh020/mask.0002.png")[0].matched.kind == "mask"
    [single] = store.trace("/out/reel1_conformed.otio")
    assert single.frame is None and single.matched.kind == "otio"


def test_trace_lists_newest_run_first(store):
    first_run, _, _ = record_shot(store, run_name="monday")
    second_run, _, _ = record_shot(store, run_name="tuesday")
    assert [t.run.id for t in store.trace("sh010")] == [second_run, first_run]
    assert [t.run.id for t in store.trace("/out/sh010/sh010.1001.exr")] == [second_run, first_run]


def test_a_retry_is_a_new_row_with_the_next_attempt_number(store):
    run_id = store.start_run("r")
    shot_id = store.start_shot(run_id, "sh030")
    failed = store.start_stage(shot_id, "inpaint", identity="x", engine="void")
    store.finish_stage(failed, "failed", error="CUDA out of memory")
    retried = store.start_stage(shot_id, "inpaint", identity="x", engine="void")
    store.finish_stage(retried)
    [trace] = store.trace("sh030")
    assert [(s.id, s.attempt, s.status) for s in trace.stages] == [
        (failed, 1, "failed"), (retried, 2, "succeeded")]
    assert trace.stages[0].error == "CUDA out of memory"


def test_rows_are_finished_once_and_values_are_checked(store):
    run_id = store.start_run("r")
    shot_id = store.start_shot(run_id, "sh040")
    stage_id = store.start_stage(shot_id, "refine", identity="r", engine="flow")
    store.finish_stage(stage_id, seconds=12.5)
    assert store.trace("sh040")[0].stages[0].seconds == 12.5
    with pytest.raises(LineageError, match="already finished"):
        store.finish_stage(stage_id, "failed")
    with pytest.raises(LineageError, match="unknown stage 'paint'"):
        store.start_stage(shot_id, "paint", identity="p", engine="x")
    with pytest.raises(LineageError, match="final run status"):
        store.finish_run(run_id, "running")
    with pytest.raises(LineageError, match="no shot"):
        store.finish_shot("no-such-id")
    with pytest.raises(LineageError, match="refused the record"):
        store.start_stage("no-such-shot", "ingest", identity="i", engine="x")


# --- idempotent reruns -----------------------------------------------------------------------


def test_find_completed_stage_and_record_skip(store, tmp_path):
    out = str(tmp_path / "out")
    assert store.find_completed_stage("id-inpaint") is None
    record_shot(store, out=out, run_name="monday", files=True)
    _, _, new_stage = record_shot(store, out=out, run_name="tuesday", files=True)
    found = store.find_completed_stage("id-inpaint")
    assert found.id == new_stage and found.artifacts[0].frame_last == 1010

    rerun = store.start_run("wednesday")
    shot_id = store.start_shot(rerun, "sh010")
    skip_id = store.record_skip(shot_id, found, worker="node-2")
    [latest, *_] = store.trace("sh010")
    [skipped] = latest.stages
    assert (skipped.id, skipped.status, skipped.reused_from_id) == (skip_id, "skipped", new_stage)
    assert skipped.engine_label == found.engine_label
    assert skipped.engine_settings == found.engine_settings
    assert skipped.seconds == 0 and [a.path_pattern for a in skipped.artifacts] == [
        found.artifacts[0].path_pattern]


def test_a_stage_whose_files_were_deleted_is_not_reusable(store, tmp_path):
    out = str(tmp_path / "out")
    _, _, old_stage = record_shot(store, out=out, run_name="monday", files=True)
    _, _, new_stage = record_shot(store, out=out + "2", run_name="tuesday", files=True)
    (tmp_path / "out2" / "sh010" / "sh010.1005.exr").unlink()
    assert store.find_completed_stage("id-inpaint").id == old_stage
    (tmp_path / "out" / "sh010" / "sh010.1001.exr").unlink()
    assert store.find_completed_stage("id-inpaint") is None


def test_failed_and_running_stages_are_not_reusable(store):
    run_id = store.start_run("r")
    shot_id = store.start_shot(run_id, "sh050")
    failed = store.start_stage(shot_id, "analysis", identity="same", engine="heuristic")
    store.finish_stage(failed, "failed")
    store.start_stage(shot_id, "analysis", identity="same", engine="heuristic")
    assert store.find_completed_stage("same") is None


# --- secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["api_key", "GEMINI_API_KEY", "apiKey", "token", "auth_token",
                                 "password", "db_password", "client_secret", "credentials",
                                 "private_key", "Authorization"])
def test_secret_keys(key):
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["max_tokens", "keyframes", "keyframe_interval", "engine",
                                 "seed", "radius", "model"])
def test_ordinary_keys(key):
    assert not is_secret_key(key)


def test_secrets_never_reach_the_database(store, db_url):
    settings = {
        "gemini": {"api_key": "AIzaSyA-not-a-real-key-0123456789abcdef", "model": "gemini-3",
                   "max_tokens": 512},
        "engines": [{"name": "void", "hf_token": "hf_abc"}],
        "db": "postgresql+psycopg://farm:hunter2@db01/lineage",
        "note": "key AIzaSyA-not-a-real-key-0123456789abcdef in text",
        "password": "hunter2",
    }
    run_id = store.start_run("r", settings=settings)
    shot_id = store.start_shot(run_id, "sh060")
    stage_id = store.start_stage(shot_id, "analysis", identity="a", engine="gemini",
                                 settings=settings)
    store.finish_stage(stage_id, "failed", error="401 from https://user:hunter2@api.example/v1")
    [trace] = store.trace("sh060")
    expected = {
        "gemini": {"model": "gemini-3", "max_tokens": 512},
        "engines": [{"name": "void"}],
        "db": "postgresql+psycopg://farm:***@db01/lineage",
        "note": "key *** in text",
    }
    assert trace.run.settings == expected and trace.stages[0].engine_settings == expected
    assert "hunter2" not in trace.stages[0].error
    engine = create_lineage_engine(db_url)
    try:
        with engine.begin() as connection:
            dump = str(connection.exec_driver_sql("SELECT * FROM run").all())
            dump += str(connection.exec_driver_sql("SELECT * FROM stage_run").all())
    finally:
        engine.dispose()
    assert "hunter2" not in dump and "AIza" not in dump and "hf_abc" not in dump


def test_scrub_settings_makes_values_json_safe():
    from fractions import Fraction

    assert scrub_settings({"rate": Fraction(24000, 1001), "out": Path("/o"), "size": (4, 2),
                           "nan": float("nan"), "tags": {"b", "a"}}) == {
        "rate": "24000/1001", "out": "/o", "size": [4, 2], "nan": "nan", "tags": ["a", "b"]}
    assert scrub_settings(None) == {}


# --- many writers ----------------------------------------------------------------------------

WRITERS, STAGES_PER_WRITER = 8, 50


def _write_stages(args: tuple[str, str, int]) -> int:
    url, shot_id, writer = args
    with open_store(url) as store:
        for index in range(STAGES_PER_WRITER):
            stage_id = store.start_stage(shot_id, "inpaint", identity=f"w{writer}-{index}",
                                         engine="classical", worker=f"writer-{writer}")
            store.finish_stage(stage_id)
    return STAGES_PER_WRITER


def test_eight_writer_processes_share_one_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'farm.db'}"
    with open_store(url) as store:
        shot_id = store.start_shot(store.start_run("busy"), "sh070")
    # fork: children inherit no open connection (the store above is closed).
    with multiprocessing.get_context("fork").Pool(WRITERS) as pool:
        written = pool.map(_write_stages, [(url, shot_id, w) for w in range(WRITERS)])
    assert sum(written) == WRITERS * STAGES_PER_WRITER
    with open_store(url) as store:
        [trace] = store.trace("sh070")
    assert len(trace.stages) == WRITERS * STAGES_PER_WRITER
    assert all(stage.status == "succeeded" for stage in trace.stages)
    # attempt numbers are read-then-written; BEGIN IMMEDIATE serialises them without gaps.
    attempts = sorted(stage.attempt for stage in trace.stages)
    assert attempts == list(range(1, WRITERS * STAGES_PER_WRITER + 1))


# --- URLs and connection errors --------------------------------------------------------------


def test_an_unreachable_postgres_gives_one_line_with_the_password_masked():
    url = "postgresql+psycopg://void:s3cret@127.0.0.1:1/farm"
    with pytest.raises(LineageError) as caught:
        open_store(url)
    message = str(caught.value)
    assert message == ("cannot connect to lineage database "
                       "postgresql+psycopg://void:***@127.0.0.1:1/farm: connection refused "
                       "(check --db / VOID_FARM_DB)")
    assert isinstance(caught.value, VoidFarmError)


@pytest.mark.parametrize("url, reason", [
    ("not a url://", "not a database URL"),
    ("postgres://u:pw@host/db", "unsupported database kind 'postgres'"),
    ("mysql://u:pw@host/db", "unsupported database kind 'mysql'"),
])
def test_wrong_urls_are_one_clear_line(url, reason):
    with pytest.raises(LineageError, match=reason) as caught:
        open_store(url)
    assert "pw" not in str(caught.value) and "\n" not in str(caught.value)


def test_a_missing_postgres_database_is_named(pg_admin):
    url = PG_URL.rsplit("/", 1)[0] + "/void_no_such_database"
    with pytest.raises(LineageError, match='database "void_no_such_database" does not exist'):
        open_store(url)


def test_a_sqlite_file_in_a_missing_folder(tmp_path):
    with pytest.raises(LineageError, match="unable to open database file"):
        open_store(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")


def test_read_only_opening_does_not_create_a_database(tmp_path):
    path = tmp_path / "absent.db"
    with pytest.raises(LineageError, match=f"no lineage database at {path}"):
        open_store(f"sqlite:///{path}", create=False)
    assert not path.exists()


def test_url_resolution(monkeypatch):
    monkeypatch.delenv("VOID_FARM_DB", raising=False)
    assert resolve_url() == "sqlite:///./void-farm-lineage.db"
    assert resolve_url("runs/lineage.db") == "sqlite:///runs/lineage.db"
    monkeypatch.setenv("VOID_FARM_DB", "postgresql+psycopg://farm@db01/lineage")
    assert resolve_url() == "postgresql+psycopg://farm@db01/lineage"
    assert resolve_url("sqlite:///x.db") == "sqlite:///x.db"
    assert mask_url("postgresql+psycopg://farm:pw@db01:5433/lineage") == \
        "postgresql+psycopg://farm:***@db01:5433/lineage"


# --- frame patterns --------------------------------------------------------------------------


def test_frame_patterns(tmp_path):
    assert frame_path("/o/sh010.####.exr", 7) == "/o/sh010.0007.exr"
    assert frame_path("/o/sh010.%04d.exr", 1001) == "/o/sh010.1001.exr"
    assert frame_path("/o/sh010.####.exr", 12345) == "/o/sh010.12345.exr"
    patterns = {guess.pattern: guess.frame for guess in guesses_for_file("/o/sh010.1003.exr")}
    assert patterns["/o/sh010.####.exr"] == 1003 and patterns["/o/sh010.%04d.exr"] == 1003
    assert patterns["/o/sh###.1003.exr"] == 10 and patterns["/o/sh010.1003.exr"] is None
    assert {g.pattern for g in guesses_for_file("/o/a.12345.exr")} >= {"/o/a.####.exr"}
    sequence = str(tmp_path / "s.##.exr")
    assert not sequence_exists(sequence, None, None)
    (tmp_path / "s.01.exr").write_bytes(b"")
    assert sequence_exists(sequence, None, None) and sequence_exists(sequence, 1, 1)
    assert not sequence_exists(sequence, 1, 2)


def test_a_stage_attempt_left_running_by_a_dead_worker_is_closed_as_failed(db_url):
    with open_store(db_url) as store:
        run_id = store.start_run("reel", kind="cutlist")
        shot_id = store.start_shot(run_id, "sh010")
        lost = store.start_stage(shot_id, "inpaint", identity="sha256:x", engine="classical")
        other = store.start_stage(shot_id, "qc", identity="sha256:y", engine="qc")
        assert store.fail_unfinished_stages(shot_id, "inpaint", "worker lost") == 1
        retry = store.start_stage(shot_id, "inpaint", identity="sha256:x", engine="classical")
        store.finish_stage(retry)
        with pytest.raises(LineageError, match="already finished"):
            store.finish_stage(lost)
        store.finish_stage(other)  # other stages were left alone
        assert store.find_completed_stage("sha256:x").id == retry


def test_the_vocabulary_enums_are_stored_as_their_strings(store):
    """The pipeline passes `Stage`/`StageStatus`/`RunStatus` members; rows hold the same strings
    a plain-string caller writes (on PostgreSQL too, where the driver adapts values by type)."""
    from void_core.vocabulary import RunKind, RunStatus, Stage, StageStatus

    run_id = store.start_run("reel1", kind=RunKind.CUTLIST)
    shot_id = store.start_shot(run_id, "sh010")
    stage_id = store.start_stage(shot_id, Stage.INPAINT, identity="enum-id", engine="classical")
    store.finish_stage(stage_id, StageStatus.SUCCEEDED)
    store.finish_shot(shot_id, RunStatus.SUCCEEDED)
    store.finish_run(run_id, RunStatus.SUCCEEDED)
    found = store.find_completed_stage("enum-id")
    assert (found.stage, found.status) == ("inpaint", "succeeded")
    assert type(found.stage) is str and type(found.status) is str
    [trace] = store.trace("sh010")
    assert (trace.run.kind, trace.run.status, trace.shot.status) == ("cutlist", "succeeded", "succeeded")


def test_a_skip_records_where_it_was_decided_and_unknown_placement_fields_are_refused(store):
    _, shot_id, _ = record_shot(store, files=True)
    found = store.find_completed_stage("id-inpaint")
    skip_id = store.record_skip(shot_id, found, place={"node_id": "n2", "hostname": "render03"})
    [trace] = store.trace("sh010")
    skipped = next(stage for stage in trace.stages if stage.id == skip_id)
    assert (skipped.node_id, skipped.hostname, skipped.gpu_name) == ("n2", "render03", None)
    with pytest.raises(ValueError, match="unknown placement fields"):
        store.start_stage(shot_id, "qc", identity="q", engine="qc", place={"gpu": "A100"})


def test_the_placement_migration_keeps_rows_and_drops_its_columns_on_downgrade(db_url):
    with open_store(db_url) as store:
        record_shot(store)
    engine = create_lineage_engine(db_url)
    try:
        assert downgrade(engine, "0003") == "0003"
        columns = {c["name"] for c in sa.inspect(engine).get_columns("stage_run")}
        assert not columns & {"node_id", "hostname", "gpu_name"}
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM stage_run").scalar() == 2
        assert upgrade(engine) == "0005"
    finally:
        engine.dispose()
    with open_store(db_url) as store:
        [trace] = store.trace("sh010")
        assert trace.stages[1].hostname is None  # the downgrade dropped it; rows survived


def test_parts_of_a_stage_count_their_attempts_and_close_their_lost_attempts_apart(db_url):
    with open_store(db_url) as store:
        run_id = store.start_run("reel", kind="cutlist")
        shot_id = store.start_shot(run_id, "sh010")
        first = store.start_stage(shot_id, "inpaint", identity="sha256:a", engine="classical",
                                  part="0001-0120")
        second = store.start_stage(shot_id, "inpaint", identity="sha256:b", engine="classical",
                                   part="0121-0240")
        # A retry of the first part closes the first part's lost attempt, not the second part.
        assert store.fail_unfinished_stages(shot_id, "inpaint", "worker lost",
                                            part="0001-0120") == 1
        retry = store.start_stage(shot_id, "inpaint", identity="sha256:a", engine="classical",
                                  part="0001-0120")
        store.finish_stage(retry)
        store.finish_stage(second)
        with pytest.raises(LineageError, match="already finished"):
            store.finish_stage(first)
        reused = store.find_completed_stage("sha256:a")
        assert (reused.id, reused.part) == (retry, "0001-0120")
        skip = store.record_skip(shot_id, reused)
        [trace] = store.trace("sh010")
    attempts = {row.id: (row.part, row.attempt, row.status) for row in trace.stages}
    assert attempts[retry] == ("0001-0120", 2, "succeeded")
    assert attempts[second] == ("0121-0240", 1, "succeeded")
    assert attempts[skip] == ("0001-0120", 3, "skipped")


def test_the_part_migration_keeps_rows_and_drops_its_column_on_downgrade(db_url):
    with open_store(db_url) as store:
        record_shot(store)
    engine = create_lineage_engine(db_url)
    try:
        assert downgrade(engine, "0004") == "0004"
        columns = {c["name"] for c in sa.inspect(engine).get_columns("stage_run")}
        assert "part" not in columns
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM stage_run").scalar() == 2
        assert upgrade(engine) == "0005"
    finally:
        engine.dispose()
    with open_store(db_url) as store:
        [trace] = store.trace("sh010")
        assert [stage.part for stage in trace.stages] == [None, None]
