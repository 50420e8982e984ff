"""Lineage for the pipeline: identity digests, stage runs, skips, and a one-shot run's rows.

A stage's *identity* is a digest of everything its output depends on (input digests, engine
name, version and settings, output location). When lineage holds a succeeded stage run with the
same identity whose files are all still on disk, the stage is skipped and the skip recorded,
unless the run is forced.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from void_core import naming
from void_core.digests import digest_of, file_digest
from void_core.engines import describe, model_checksums
from void_core.errors import VoidFarmError
from void_core.lineage import LineageError, LineageStore, open_store
from void_core.lineage.files import stamp_artifact
from void_core.media.plate import Plate
from void_core.ownership import Claims, Owner
from void_core.pipeline.state import (
    ORCHESTRATOR_TASK_ID, RunSettings, ShotPlan, ShotRequest, ShotState, StageReport, current_place,
)
from void_core.vocabulary import EngineKind, RunStatus, Stage, StageStatus


def shot_identity(request: ShotRequest, plate: Plate, engine, refiner) -> tuple[str, dict]:
    """(identity digest of the EXRs, the inputs it was made from), for the engine and refiner
    instances that will render them."""
    inputs = {
        "plate": file_digest(request.inputs.plate),
        "mask": file_digest(request.inputs.mask),
        "engine": describe(engine),
        "refiner": describe(refiner),
        "prompt": request.inputs.prompt.get("bg", ""),  # text-conditioned engines depend on it
        "compression": request.compression,
        "transfer": plate.info.transfer.value,
        "colour": [plate.info.colour_config, plate.info.colorspace, plate.info.working],
        "rate": str(plate.info.rate),
        "start_frame": request.start_frame,
        "output": str((request.out_root / request.name).resolve()),
    }
    return digest_of(inputs), inputs


def recorded(settings: RunSettings, state: ShotState, stage: Stage, identity: str,
             engine: tuple[EngineKind, object] | None, run: Callable[[], list[str]], *,
             artifacts: list[tuple], settings_record: dict | None = None,
             checksums: dict | None = None, part: str | None = None,
             written: Callable[[], list[tuple]] | None = None) -> StageReport:
    """Run `run` as lineage stage `stage` of the shot, unless an identical result exists.
    `engine`: (kind, instance) of the engine doing the work, None for none. `part`: one part
    of a stage split over workers (None: the whole stage). `written`: more artifacts, known
    only once `run` has written them (recorded too, so a rerun checks them)."""
    instance = engine[1] if engine is not None else None
    name = instance.name if instance is not None else str(stage)
    if engine is not None and checksums is None:
        checksums = model_checksums(*engine)
    place = current_place()
    with open_store(settings.lineage_url) as store:
        shot_id = state.plan.shot_id or _adopt_shot(store, settings, state)
        store.fail_unfinished_stages(shot_id, stage, "attempt lost: its worker stopped before "
                                     "the stage finished (the stage was run again)", part=part)
        reusable = None if settings.force else store.find_completed_stage(identity)
        if reusable is not None and _same_files(reusable, artifacts):
            store.record_skip(shot_id, reusable, worker=_worker(),
                              prefect_task_run_id=ORCHESTRATOR_TASK_ID.get(),
                              place=place.columns())
            return StageReport(stage, StageStatus.SKIPPED, 0.0, name, where=place.label)
        stage_id = store.start_stage(
            shot_id, stage, identity=identity, engine=name,
            engine_version=instance.version if instance is not None else None,
            settings=settings_record or ({"engine": describe(instance)} if instance else None),
            model_checksums=checksums, worker=_worker(),
            prefect_task_run_id=ORCHESTRATOR_TASK_ID.get(), place=place.columns(), part=part)
    started = time.perf_counter()
    try:
        notes = run()
    except BaseException as err:
        with open_store(settings.lineage_url) as store, \
                contextlib.suppress(LineageError):  # the stopping run closed it already
            store.finish_stage(stage_id, StageStatus.FAILED, error=reason(err),
                               seconds=time.perf_counter() - started)
        raise
    seconds = time.perf_counter() - started
    with open_store(settings.lineage_url) as store:
        _record_artifacts(store, stage_id, artifacts + (written() if written else []))
        store.finish_stage(stage_id, StageStatus.SUCCEEDED, seconds=seconds)
    return StageReport(stage, StageStatus.SUCCEEDED, seconds, name, tuple(notes),
                       where=place.label)


def reused_stage(settings: RunSettings, state: ShotState, stage: Stage, identity: str,
                 artifacts: list[tuple], engine_name: str) -> StageReport | None:
    """A skip, recorded, when lineage holds an identical result whose files are intact (the
    whole of a split stage, before any part starts); else None."""
    if settings.force:
        return None
    place = current_place()
    with open_store(settings.lineage_url) as store:
        reusable = store.find_completed_stage(identity)
        if reusable is None or not _same_files(reusable, artifacts):
            return None
        shot_id = state.plan.shot_id or _adopt_shot(store, settings, state)
        store.record_skip(shot_id, reusable, worker=_worker(),
                          prefect_task_run_id=ORCHESTRATOR_TASK_ID.get(), place=place.columns())
    return StageReport(stage, StageStatus.SKIPPED, 0.0, engine_name, where=place.label)


def record_assembled(settings: RunSettings, state: ShotState, stage: Stage, identity: str,
                     engine: tuple[str, str | None, dict | None], artifacts: list[tuple],
                     seconds: float, settings_record: dict | None = None) -> None:
    """The whole of a stage whose parts ran (and were recorded) apart: one succeeded row with
    the whole output, so a rerun can skip the stage at once. `engine`: (name, version, model
    checksums) of the engine that did the parts (its model is not loaded here)."""
    name, version, checksums = engine
    with open_store(settings.lineage_url) as store:
        shot_id = state.plan.shot_id or _adopt_shot(store, settings, state)
        stage_id = store.start_stage(
            shot_id, stage, identity=identity, engine=name, engine_version=version,
            settings=settings_record, model_checksums=checksums, worker=_worker(),
            prefect_task_run_id=ORCHESTRATOR_TASK_ID.get(), place=current_place().columns())
        _record_artifacts(store, stage_id, artifacts)
        store.finish_stage(stage_id, StageStatus.SUCCEEDED, seconds=seconds)


def part_identity(whole: str, part: str, **what) -> str:
    """A part's identity: the whole stage's, the part's name and what else decides its files."""
    return digest_of({"whole": whole, "part": part, **what})


def _record_artifacts(store: LineageStore, stage_id: str, artifacts: list[tuple]) -> None:
    for kind, path, *frames in artifacts:
        first, last = (frames + [None, None])[:2]
        resolved = Path(path).resolve()
        store.record_artifact(stage_id, kind, resolved, frame_first=first,
                              frame_last=last, bytes=_size(path),
                              files=stamp_artifact(resolved, first, last))


@contextmanager
def one_shot_run(settings: RunSettings, plan: ShotPlan, *,
                 on_wait: Callable[[Owner], None] | None = None,
                 ) -> Iterator[tuple[RunSettings, ShotPlan]]:
    """A lineage run of its own around one shot (`void-farm shot`): yields the settings with
    the run's id and the plan with its shot row once the run holds the shot (waiting while
    another live run does; `on_wait` is told); the shot and run end succeeded, failed, or
    cancelled (Ctrl-C) with the error."""
    with open_store(settings.lineage_url) as store:
        store.mark_abandoned()
        run_id = store.start_run(plan.name, kind=settings.kind, settings=run_record(settings))
        shot_id = store.start_shot(run_id, plan.name, source_path=plan.media,
                                   frame_first=plan.first_frame, frame_last=plan.last_frame,
                                   rate=str(plan.rate))
    beats = open_store(settings.lineage_url)
    claims = Claims(run_id, on_beat=lambda: beats.beat(run_id))
    try:
        claims.claim(naming.shot_lock(settings.out_root, plan.name), on_wait=on_wait)
        yield replace(settings, run_id=run_id), replace(plan, shot_id=shot_id)
    except BaseException as err:
        status = RunStatus.CANCELLED if isinstance(err, KeyboardInterrupt) else RunStatus.FAILED
        _finish(settings, run_id, shot_id, status, reason(err))
        raise
    finally:
        claims.close()
        beats.close()
    _finish(settings, run_id, shot_id, RunStatus.SUCCEEDED, None)


def run_record(settings: RunSettings, **extra) -> dict:
    """The run's settings as lineage keeps them."""
    return {**extra, "out": str(settings.out_root), "engine": settings.engine,
            "engine_settings": settings.engine_settings, "refiner": settings.refiner,
            "masker": settings.masker, "masker_settings": settings.masker_settings,
            "analyzer": settings.analyzer, "analyzer_settings": settings.analyzer_settings,
            "force": settings.force, "chunk_frames": settings.chunk_frames}


def _finish(settings: RunSettings, run_id: str, shot_id: str, status: RunStatus,
            error: str | None) -> None:
    with open_store(settings.lineage_url) as store:
        store.finish_shot(shot_id, status, error=error)
        store.finish_run(run_id, status, error=error)


def _same_files(record, artifacts: list[tuple]) -> bool:
    """A reusable stage run must have produced the files this run expects, where it expects."""
    recorded_paths = {a.path_pattern for a in record.artifacts}
    return all(str(Path(path).resolve()) in recorded_paths for _, path, *_ in artifacts)


def _adopt_shot(store: LineageStore, settings: RunSettings, state: ShotState) -> str:
    """Stages called outside a run (tests, the library): record a run and shot of their own."""
    run_id = store.start_run(settings.cutlist, kind=settings.kind)
    return store.start_shot(run_id, state.plan.name, source_path=state.plate,
                            source_digest=state.plate_digest)


def reason(err: BaseException) -> str:
    """The one line lineage keeps about a failure."""
    if isinstance(err, VoidFarmError):
        return str(err)
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def stamp(path: Path) -> str:
    stat = path.stat()
    return f"{path}:{stat.st_size}:{stat.st_mtime_ns}"


def _size(path) -> int | None:
    path = Path(path)
    return path.stat().st_size if path.is_file() else None


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
