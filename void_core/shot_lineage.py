"""One shot with lineage: record what ran, and skip work whose identical result already exists.

A shot's *identity* is a digest of everything its pixels depend on: the plate's and the mask's
content digests, the engine and refiner (name, version, settings), compression, transfer, frame
numbering and output location. When the lineage database holds a succeeded run with the same
identity whose EXRs are all still on disk, the shot is skipped (and the skip recorded) unless
`force` is set.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

from void_core.inpaint import create_inpainter
from void_core.lineage import LineageStore
from void_core.media.plate import open_plate
from void_core.refine import create_refiner
from void_core.shot import ProgressCallback, ShotRequest, ShotResult, file_digest, process_shot


@dataclass(frozen=True)
class LineageOutcome:
    result: ShotResult | None  # None when skipped
    skipped: bool
    run_id: str
    identity: str


def shot_identity(request: ShotRequest) -> tuple[str, dict]:
    """(identity digest, the inputs it was made from)."""
    plate = open_plate(request.inputs.plate, transfer=request.transfer, rate=request.rate)
    engine = create_inpainter(request.engine, **request.engine_settings)
    refiner = create_refiner(request.refiner)
    inputs = {
        "plate": file_digest(request.inputs.plate),
        "mask": file_digest(request.inputs.mask),
        "engine": [engine.name, engine.version, engine.settings()],
        "refiner": [refiner.name, refiner.version, refiner.settings()] if refiner else None,
        "prompt": request.inputs.prompt.get("bg", ""),  # text-conditioned engines depend on it
        "compression": request.compression,
        "transfer": plate.info.transfer.value,
        "rate": str(plate.info.rate),
        "start_frame": request.start_frame,
        "output": str((request.out_root / request.name).resolve()),
    }
    blob = json.dumps(inputs, sort_keys=True).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest(), inputs


def run_shot_with_lineage(request: ShotRequest, store: LineageStore, *, force: bool = False,
                          on_progress: ProgressCallback | None = None) -> LineageOutcome:
    identity, inputs = shot_identity(request)
    run_id = store.start_run(request.name, kind="shot", settings={"request": inputs})
    shot_id = store.start_shot(run_id, request.name, source_path=str(request.inputs.plate.resolve()),
                               source_digest=inputs["plate"], rate=inputs["rate"])
    reusable = None if force else store.find_completed_stage(identity)
    if reusable is not None:
        store.record_skip(shot_id, reusable)
        store.finish_shot(shot_id, "succeeded")
        store.finish_run(run_id, "succeeded")
        return LineageOutcome(None, True, run_id, identity)
    stage_id = store.start_stage(shot_id, "inpaint", identity=identity, engine=request.engine,
                                 engine_version=inputs["engine"][1], settings=inputs)
    started = time.perf_counter()
    try:
        result = process_shot(_with_run_id(request, run_id), on_progress)
    except BaseException as err:
        reason = str(err) or type(err).__name__
        store.finish_stage(stage_id, "failed", error=reason, seconds=time.perf_counter() - started)
        store.finish_shot(shot_id, "failed", error=reason)
        store.finish_run(run_id, "cancelled" if isinstance(err, KeyboardInterrupt) else "failed",
                         error=reason)
        raise
    pattern = str(result.out_dir.resolve() / f"{result.name}.####.exr")
    store.record_artifact(stage_id, "exr_sequence", pattern, frame_first=result.first_frame,
                          frame_last=result.last_frame)
    store.finish_stage(stage_id, "succeeded", seconds=result.seconds)
    store.finish_shot(shot_id, "succeeded")
    store.finish_run(run_id, "succeeded")
    return LineageOutcome(result, False, run_id, identity)


def _with_run_id(request: ShotRequest, run_id: str) -> ShotRequest:
    from dataclasses import replace

    return replace(request, run_id=run_id)


__all__ = ["LineageOutcome", "run_shot_with_lineage", "shot_identity"]
