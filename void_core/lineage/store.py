"""The few functions that write and read lineage: `open_store` and `LineageStore`.

Writers call start/finish pairs around each run, shot and stage, and `record_artifact` for every
file or sequence a stage writes. Each call is one short transaction, so many Ray workers can
share one database. Rows are append-only history: finishing completes a running row once; a retry
is a new stage run; a rerun that reuses earlier outputs records a `skipped` stage run pointing at
the stage run it reused.

    store = open_store("sqlite:///lineage.db")
    run_id = store.start_run("reel1.edl", kind="cutlist", settings=config)
    shot_id = store.start_shot(run_id, "sh010", source_path=plate, frame_first=1001,
                               frame_last=1048)
    done = store.find_completed_stage(identity)
    if done:
        store.record_skip(shot_id, done)
    else:
        stage_id = store.start_stage(shot_id, "inpaint", identity=identity, engine="classical",
                                     engine_version="2", settings=options)
        ...
        store.record_artifact(stage_id, "exr_sequence", "/out/sh010/sh010.####.exr",
                              frame_first=1001, frame_last=1048)
        store.finish_stage(stage_id)
    store.trace("/out/sh010/sh010.1003.exr")  # -> [TraceRecord(run, shot, stages, ...)]

Settings and model checksums go through `scrub_settings` (secrets dropped, see `scrub.py`);
error texts have URL passwords masked.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import fields
from dataclasses import replace as dataclass_replace
from fractions import Fraction
from typing import Any

from sqlalchemy import Engine, func, make_url, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload, sessionmaker

import void_core
from void_core.lineage.db import (
    LineageError, check_connection, create_lineage_engine, ensure_schema, mask_url,
    require_sqlite_file, resolve_url, short_reason,
)
from void_core.lineage.files import FileStamp
from void_core.lineage.models import (
    ARTIFACT_KINDS, RUN_KINDS, RUN_STATUSES, STAGES, Artifact, ArtifactFile, Run, Shot,
    StageRun, utc_now,
)
from void_core.lineage.patterns import (
    FrameGuess, guesses_for_file, has_frame_token, sequence_exists,
)
from void_core.lineage.records import (
    ArtifactRecord, RunRecord, ShotRecord, StageRecord, TraceRecord,
)
from void_core.lineage.scrub import mask_secrets_in_text, scrub_settings
from void_core.vocabulary import RunKind, RunStatus, StageStatus

FINISHED_STATUSES = tuple(status for status in RUN_STATUSES if status != RunStatus.RUNNING)
STAGE_END_STATUSES = (StageStatus.SUCCEEDED, StageStatus.FAILED)
MAX_ERROR_CHARS = 20_000
# How many earlier successes of one identity find_completed_stage checks on disk before giving up.
MAX_REUSE_CANDIDATES = 20
# A running run whose heartbeat is older than this is abandoned (its process beats every 5 s).
ABANDON_AFTER_SECONDS = 120.0


def open_store(url: str | None = None, *, create: bool = True,
               read_only: bool = False) -> LineageStore:
    """Connect to the lineage database and check its schema.

    Args:
        url: SQLAlchemy URL (default: `$VOID_FARM_DB`, else `sqlite:///./void-farm-lineage.db`).
        create: create the SQLite file and the schema when the database is empty. With False a
            missing file or schema is an error (for read-only commands).
        read_only: open a SQLite file for reading only (implies create=False).

    Raises:
        LineageError: unreachable database or bad URL (one line, password masked), or a schema
            at a revision other than this void-farm's head.
    """
    url = resolve_url(url)
    engine = create_lineage_engine(url, read_only=read_only)
    create = create and not read_only
    try:
        if not create:
            require_sqlite_file(make_url(url))
        check_connection(engine)
        ensure_schema(engine, create=create)
    except BaseException:
        engine.dispose()
        raise
    return LineageStore(engine, url)


class LineageStore:
    """Writes and reads lineage records; one short transaction per call. Use `open_store`."""

    def __init__(self, engine: Engine, url: str | None = None):
        self.engine = engine
        self._url = url or engine.url  # as given (a read-only SQLite engine's URL differs)
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return mask_url(self._url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> LineageStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LineageStore({self.url!r})"

    # --- writing ------------------------------------------------------------------------------

    def start_run(self, name: str, *, kind: str = RunKind.SHOT,
                  settings: Mapping[str, Any] | None = None,
                  host: str | None = None, software_version: str | None = None,
                  prefect_flow_run_id: str | None = None) -> str:
        """Record a run as started; return its id. `settings` is the resolved run config."""
        _check_choice("run kind", kind, RUN_KINDS)
        now = utc_now()
        row = Run(name=name, kind=kind, status=RunStatus.RUNNING, started=now,
                  settings=scrub_settings(settings), host=host or socket.gethostname(),
                  software_version=software_version or void_core.__version__,
                  prefect_flow_run_id=_optional_str(prefect_flow_run_id), pid=os.getpid(),
                  heartbeat=now)
        return self._insert(row)

    def beat(self, run_id: str) -> None:
        """The run's process is alive (called every few seconds while it runs)."""
        with self._transaction() as session:
            session.execute(update(Run).where(Run.id == run_id, Run.status == RunStatus.RUNNING)
                            .values(heartbeat=utc_now()))

    def mark_abandoned(self, stale_after: float = ABANDON_AFTER_SECONDS) -> list[str]:
        """Close the rows of runs whose process is gone as "abandoned": a running run of this
        host whose PID is dead, or any running run without a heartbeat for `stale_after`
        seconds; its running shots and stages with it. Returns the runs' ids."""
        from void_core.ownership import process_alive

        now, host = utc_now(), socket.gethostname()
        with self._transaction() as session:
            running = session.scalars(select(Run).where(Run.status == RunStatus.RUNNING)).all()
            gone = [run for run in running if not _run_alive(run, now, host, stale_after,
                                                             process_alive)]
            for run in gone:
                reason = _abandon_reason(run, now)
                run.status, run.finished, run.error = RunStatus.ABANDONED, now, reason
                for shot in session.scalars(select(Shot).where(
                        Shot.run_id == run.id, Shot.status == RunStatus.RUNNING)):
                    shot.status, shot.finished, shot.error = RunStatus.ABANDONED, now, reason
                    for stage in session.scalars(select(StageRun).where(
                            StageRun.shot_id == shot.id,
                            StageRun.status == StageStatus.RUNNING)):
                        stage.status, stage.finished, stage.error = \
                            StageStatus.ABANDONED, now, reason
                        stage.seconds = (now - stage.started).total_seconds()
            _close_orphans(session, now)
            return [run.id for run in gone]

    def close_open_stages(self, run_id: str, reason: str) -> int:
        """Fail the run's stage attempts still marked running (the run is stopping and their
        workers go with it); returns how many."""
        now = utc_now()
        with self._transaction() as session:
            rows = session.scalars(select(StageRun).join(Shot).where(
                Shot.run_id == run_id, StageRun.status == StageStatus.RUNNING)).all()
            for row in rows:
                row.status, row.finished, row.error = StageStatus.FAILED, now, _clean_error(reason)
                row.seconds = (now - row.started).total_seconds()
            return len(rows)

    def finish_run(self, run_id: str, status: str = RunStatus.SUCCEEDED, *,
                   error: str | None = None) -> None:
        """Complete a running run as succeeded, failed or cancelled."""
        self._finish(Run, run_id, status, FINISHED_STATUSES, error)

    def start_shot(self, run_id: str, name: str, *, source_path: str | os.PathLike | None = None,
                   source_digest: str | None = None, frame_first: int | None = None,
                   frame_last: int | None = None, record_range: str | None = None,
                   rate: str | Fraction | None = None) -> str:
        """Record a shot of a run as started; return its id. `rate` like "24000/1001"."""
        row = Shot(run_id=run_id, name=name, source_path=_optional_str(source_path),
                   source_digest=source_digest, frame_first=frame_first, frame_last=frame_last,
                   record_range=record_range, rate=_optional_str(rate), status=RunStatus.RUNNING,
                   started=utc_now())
        return self._insert(row)

    def finish_shot(self, shot_id: str, status: str = RunStatus.SUCCEEDED, *,
                    error: str | None = None) -> None:
        """Complete a running shot as succeeded, failed or cancelled."""
        self._finish(Shot, shot_id, status, FINISHED_STATUSES, error)

    def start_stage(self, shot_id: str, stage: str, *, identity: str, engine: str,
                    engine_version: str | None = None, settings: Mapping[str, Any] | None = None,
                    model_checksums: Mapping[str, str] | None = None, worker: str | None = None,
                    prefect_task_run_id: str | None = None, attempt: int | None = None,
                    place: Mapping[str, str | None] | None = None, part: str | None = None) -> str:
        """Record a stage attempt as started; return its id.

        Args:
            identity: digest of the stage's inputs (media digest, mask inputs, engine name,
                version and settings, model checksums); what `find_completed_stage` looks up.
            attempt: 1-based; by default one more than the shot's earlier rows for this stage
                (and part).
            place: where the attempt runs: `node_id`, `hostname`, `gpu_name` (each optional).
            part: the part of a stage split over workers ("prepare", "0001-0120", "finish");
                None for the whole stage.
        """
        _check_choice("stage", stage, STAGES)
        with self._transaction() as session:
            if attempt is None:
                attempt = 1 + _count_attempts(session, shot_id, stage, part)
            row = StageRun(shot_id=shot_id, stage=stage, part=part, identity=identity, engine=engine,
                           engine_version=engine_version, engine_settings=scrub_settings(settings),
                           model_checksums=scrub_settings(model_checksums),
                           status=StageStatus.RUNNING,
                           attempt=attempt, started=utc_now(), worker=worker,
                           prefect_task_run_id=_optional_str(prefect_task_run_id),
                           **_place_columns(place))
            session.add(row)
            session.flush()
            return row.id

    def finish_stage(self, stage_run_id: str, status: str = StageStatus.SUCCEEDED, *,
                     error: str | None = None, seconds: float | None = None) -> None:
        """Complete a running stage as succeeded or failed; `seconds` defaults to wall time."""
        self._finish(StageRun, stage_run_id, status, STAGE_END_STATUSES, error, seconds=seconds)

    def fail_unfinished_stages(self, shot_id: str, stage: str, reason: str,
                               part: str | None = None) -> int:
        """Close a shot's stage attempts (of `part` only: parts run side by side) still marked
        running (their worker died mid-stage) as failed with `reason`; returns how many.
        Called before a retry starts the stage again."""
        with self._transaction() as session:
            rows = session.scalars(select(StageRun).where(
                StageRun.shot_id == shot_id, StageRun.stage == stage, _part_is(part),
                StageRun.status == StageStatus.RUNNING)).all()
            for row in rows:
                row.status, row.finished = StageStatus.FAILED, utc_now()
                row.error = _clean_error(reason)
                row.seconds = (row.finished - row.started).total_seconds()
            return len(rows)

    def record_artifact(self, stage_run_id: str, kind: str, path_pattern: str | os.PathLike, *,
                        frame_first: int | None = None, frame_last: int | None = None,
                        digest: str | None = None, bytes: int | None = None,
                        files: list[FileStamp] = ()) -> str:
        """Record a file (or `####` frame sequence) a stage run wrote; return its id. `files`:
        each file as written (size, mtime, digest), checked before the output is reused."""
        _check_choice("artifact kind", kind, ARTIFACT_KINDS)
        row = Artifact(stage_run_id=stage_run_id, kind=kind, path_pattern=os.fspath(path_pattern),
                       frame_first=frame_first, frame_last=frame_last, digest=digest, bytes=bytes)
        row.files = [ArtifactFile(frame=f.frame, path=f.path, bytes=f.bytes, mtime_ns=f.mtime_ns,
                                  digest=f.digest) for f in files]
        return self._insert(row)

    def record_skip(self, shot_id: str, reused: StageRecord, *, worker: str | None = None,
                    prefect_task_run_id: str | None = None,
                    place: Mapping[str, str | None] | None = None) -> str:
        """Record that a shot's stage (or part) was skipped because `reused` already produced
        its outputs."""
        with self._transaction() as session:
            row = StageRun(shot_id=shot_id, stage=reused.stage, part=reused.part,
                           identity=reused.identity,
                           engine=reused.engine, engine_version=reused.engine_version,
                           engine_settings=reused.engine_settings,
                           model_checksums=reused.model_checksums, status=StageStatus.SKIPPED,
                           attempt=1 + _count_attempts(session, shot_id, reused.stage,
                                                       reused.part),
                           started=utc_now(), seconds=0.0, worker=worker,
                           prefect_task_run_id=_optional_str(prefect_task_run_id),
                           reused_from_id=reused.id, **_place_columns(place))
            row.finished = row.started
            session.add(row)
            session.flush()
            return row.id

    # --- reading ------------------------------------------------------------------------------

    def find_completed_stage(self, identity: str) -> StageRecord | None:
        """The latest succeeded stage run with `identity` whose artifacts are all still on disk.

        That is what a rerun may skip (then call `record_skip`). None when there is none.
        """
        query = (select(StageRun)
                 .where(StageRun.identity == identity, StageRun.status == StageStatus.SUCCEEDED)
                 .order_by(StageRun.finished.desc(), StageRun.id.desc())
                 .limit(MAX_REUSE_CANDIDATES)
                 .options(selectinload(StageRun.artifacts)))
        with self._transaction() as session:
            candidates = [_stage_record(row, row.artifacts) for row in session.scalars(query)]
            stamps = _file_stamps(session, [a.id for c in candidates for a in c.artifacts])
        # Files are checked after the transaction: no lock is held while storage is stat'ed.
        for candidate in candidates:
            if all(sequence_exists(a.path_pattern, a.frame_first, a.frame_last)
                   for a in candidate.artifacts) and not any(
                    stamp.change() for a in candidate.artifacts for stamp in stamps.get(a.id, ())):
                return candidate
        return None

    def changed_files(self, artifact_id: str, frame: int | None = None) -> list[tuple[str, str]]:
        """(path, how it differs) for each recorded file of the artifact (only `frame`'s when
        given) that is not on disk as it was written."""
        with self._transaction() as session:
            stamps = _file_stamps(session, [artifact_id]).get(artifact_id, [])
        return [(stamp.path, change) for stamp in stamps
                if (frame is None or stamp.frame == frame) and (change := stamp.change())]

    def trace(self, shot_name_or_path: str | os.PathLike) -> list[TraceRecord]:
        """What produced this? Newest first.

        A file path (`/out/sh010/sh010.1003.exr`, or relative) is matched against recorded
        artifacts, frame sequences included (the frame must lie in the recorded range); anything
        else is looked up as a shot name or a shot's source path. Empty when nothing matches.
        """
        query = os.fspath(shot_name_or_path)
        with self._transaction() as session:
            traces = _trace_file(session, query) or _trace_shot(session, query)
        return [self._with_change(trace) for trace in traces]

    def _with_change(self, trace: TraceRecord) -> TraceRecord:
        """The trace, saying how its matched file differs from what the run wrote, if it does."""
        if trace.matched is None:
            return trace
        changes = self.changed_files(trace.matched.id, trace.frame)
        return dataclass_replace(trace, changed=changes[0][1]) if changes else trace

    # --- plumbing -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Session]:
        try:
            with self._sessions.begin() as session:
                yield session
        except IntegrityError as err:
            raise LineageError(f"lineage database {self.url} refused the record: "
                               f"{short_reason(err)}") from None
        except SQLAlchemyError as err:
            raise LineageError(f"lineage database {self.url} failed: {short_reason(err)}") from None

    def _insert(self, row: Run | Shot | Artifact) -> str:
        with self._transaction() as session:
            session.add(row)
            session.flush()
            return row.id

    def _finish(self, model: type[Run | Shot | StageRun], row_id: str, status: str,
                allowed: tuple[str, ...], error: str | None, seconds: float | None = None) -> None:
        _check_choice(f"final {model.__tablename__} status", status, allowed)
        with self._transaction() as session:
            row = session.get(model, row_id, with_for_update=True)
            if row is None:
                raise LineageError(f"no {model.__tablename__} {row_id} in {self.url}")
            if row.status != RunStatus.RUNNING:
                raise LineageError(
                    f"{model.__tablename__} {row_id} already finished ({row.status})")
            row.status, row.finished, row.error = status, utc_now(), _clean_error(error)
            if isinstance(row, StageRun):
                row.seconds = seconds if seconds is not None else (
                    row.finished - row.started).total_seconds()


def _run_alive(run: Run, now, host: str, stale_after: float, process_alive) -> bool:
    """A run of this host lives while its process does; any run while it beats."""
    if run.host == host and run.pid is not None:
        return process_alive(run.pid)
    last = run.heartbeat or run.started
    return (now - last).total_seconds() < stale_after


def _close_orphans(session: Session, now) -> None:
    """Shots and stages still "running" under a run that has ended (their worker went away
    before it could say): abandoned."""
    reason = "abandoned: its run ended while this was still marked running"
    shots = session.scalars(select(Shot).join(Run).where(
        Shot.status == RunStatus.RUNNING, Run.status != RunStatus.RUNNING)).all()
    stages = session.scalars(select(StageRun).join(Shot).join(Run).where(
        StageRun.status == StageStatus.RUNNING, Run.status != RunStatus.RUNNING)).all()
    for row in (*shots, *stages):
        row.status, row.finished, row.error = RunStatus.ABANDONED, now, reason
        if isinstance(row, StageRun):
            row.seconds = (now - row.started).total_seconds()


def _abandon_reason(run: Run, now) -> str:
    last = run.heartbeat or run.started
    where = f"{run.host} pid {run.pid}" if run.pid is not None else str(run.host)
    return (f"abandoned: its process ({where}) went away without finishing the run "
            f"(last heartbeat {(now - last).total_seconds():.0f} s before this check)")


def _check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise LineageError(f"unknown {what} {value!r}; choose one of: {', '.join(choices)}")


PLACE_COLUMNS = ("node_id", "hostname", "gpu_name")


def _place_columns(place: Mapping[str, str | None] | None) -> dict[str, str | None]:
    """A stage run's placement columns; unknown keys are a bug in the caller."""
    place = dict(place or {})
    unknown = set(place) - set(PLACE_COLUMNS)
    if unknown:
        raise ValueError(f"unknown placement fields {sorted(unknown)}; use {PLACE_COLUMNS}")
    return {column: _optional_str(place.get(column)) for column in PLACE_COLUMNS}


def _optional_str(value: Any) -> str | None:
    if value is None:
        return None
    return os.fspath(value) if isinstance(value, os.PathLike) else str(value)


def _clean_error(error: str | None) -> str | None:
    return None if error is None else mask_secrets_in_text(str(error))[:MAX_ERROR_CHARS]


def _file_stamps(session: Session, artifact_ids: list[str]) -> dict[str, list[FileStamp]]:
    found: dict[str, list[FileStamp]] = {}
    if not artifact_ids:
        return found
    for row in session.scalars(select(ArtifactFile).where(
            ArtifactFile.artifact_id.in_(artifact_ids))):
        found.setdefault(row.artifact_id, []).append(
            FileStamp(row.frame, row.path, row.bytes, row.mtime_ns, row.digest))
    return found


def _count_attempts(session: Session, shot_id: str, stage: str, part: str | None = None) -> int:
    query = (select(func.count()).select_from(StageRun)
             .where(StageRun.shot_id == shot_id, StageRun.stage == stage, _part_is(part)))
    return session.scalar(query) or 0


def _part_is(part: str | None):
    return StageRun.part.is_(None) if part is None else StageRun.part == part


# --- records ----------------------------------------------------------------------------------


def _copy_fields(record_type: type, row: Any, **given: Any) -> Any:
    values = {f.name: getattr(row, f.name) for f in fields(record_type) if f.name not in given}
    return record_type(**values, **given)


def _stage_record(row: StageRun, artifacts: list[Artifact]) -> StageRecord:
    return _copy_fields(StageRecord, row, engine_settings=dict(row.engine_settings),
                        model_checksums=dict(row.model_checksums),
                        artifacts=tuple(_copy_fields(ArtifactRecord, a) for a in artifacts))


# --- trace ------------------------------------------------------------------------------------


def _trace_file(session: Session, query: str) -> list[TraceRecord]:
    guesses = _guesses(query)
    rows = session.scalars(select(Artifact).where(
        Artifact.path_pattern.in_({guess.pattern for guess in guesses}))).all()
    if not rows and not os.path.isabs(query):
        rows = session.scalars(select(Artifact).where(or_(*(
            Artifact.path_pattern.like("%/" + _escape_like(guess.pattern), escape="\\")
            for guess in guesses)))).all()
    traces = []
    for artifact in rows:
        matches, frame = _frame_match(artifact, guesses)
        if matches:
            shot = artifact.stage_run.shot
            traces.append((artifact.stage_run.started, _shot_trace(session, shot, artifact, frame)))
    traces.sort(key=lambda pair: pair[0], reverse=True)
    return [trace for _, trace in traces]


def _guesses(query: str) -> list[FrameGuess]:
    paths = dict.fromkeys([query, os.path.abspath(query)])
    return [guess for path in paths for guess in guesses_for_file(path)]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _frame_match(artifact: Artifact, guesses: list[FrameGuess]) -> tuple[bool, int | None]:
    """Whether the queried file is `artifact` (a frame in its range), and which frame."""
    pattern = artifact.path_pattern
    for guess in guesses:
        if pattern != guess.pattern and not pattern.endswith("/" + guess.pattern):
            continue
        if not has_frame_token(pattern):
            return True, None
        if _in_range(guess.frame, artifact.frame_first, artifact.frame_last):
            return True, guess.frame
    return False, None


def _in_range(frame: int | None, first: int | None, last: int | None) -> bool:
    if frame is None:
        return False
    return (first is None or frame >= first) and (last is None or frame <= last)


def _trace_shot(session: Session, query: str) -> list[TraceRecord]:
    sources = {query, os.path.abspath(query)}
    shots = session.scalars(
        select(Shot).join(Shot.run)
        .where(or_(Shot.name == query, Shot.source_path.in_(sources)))
        .order_by(Run.started.desc(), Shot.started.desc())).all()
    return [_shot_trace(session, shot) for shot in shots]


def _shot_trace(session: Session, shot: Shot, matched: Artifact | None = None,
                frame: int | None = None) -> TraceRecord:
    stage_rows = session.scalars(
        select(StageRun).where(StageRun.shot_id == shot.id)
        .order_by(StageRun.started, StageRun.id)
        .options(selectinload(StageRun.artifacts))).all()
    reused = _reused_artifacts(session, stage_rows)
    stages = tuple(
        _stage_record(row, reused.get(row.reused_from_id, []) if row.reused_from_id
                      else row.artifacts)
        for row in stage_rows)
    return TraceRecord(
        run=_copy_fields(RunRecord, shot.run, settings=dict(shot.run.settings)),
        shot=_copy_fields(ShotRecord, shot), stages=stages,
        matched=_copy_fields(ArtifactRecord, matched) if matched is not None else None,
        frame=frame)


def _reused_artifacts(session: Session, stage_rows: list[StageRun]) -> dict[str, list[Artifact]]:
    reused_ids = {row.reused_from_id for row in stage_rows if row.reused_from_id}
    if not reused_ids:
        return {}
    by_stage: dict[str, list[Artifact]] = {}
    for artifact in session.scalars(select(Artifact).where(Artifact.stage_run_id.in_(reused_ids))):
        by_stage.setdefault(artifact.stage_run_id, []).append(artifact)
    return by_stage
