"""A cut-list shot as a chain of stages, each recorded in lineage and skipped when already done.

    ingest --> masking --> analysis --> inpaint (fill + refine + EXR write) --> qc

Every stage is a plain function `stage(settings, state) -> state`: it reads paths from the
`ShotState`, writes its files into the shot's work folder (or the EXR folder), records a
stage run with the digest of its inputs (its *identity*) and returns a new state holding the
paths and digests it produced. Orchestrators (the Prefect flow on Ray, or a plain loop) pass
states between stages, never frames. When lineage holds a succeeded stage run with the same
identity whose files are all still on disk, the stage is skipped and the skip recorded.

Refinement and the EXR write happen inside the inpaint stage: the frames stream from decode
through fill and refinement to the writer, so splitting them would mean writing every frame
twice. A shot stops at its first failing stage; the orchestrator records the shot as failed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from void_core.errors import InputError, MaskError, VoidFarmError
from void_core.lineage import LineageStore, open_store
from void_core.media.clip_range import sequence_start_frame, stage_clip, video_start_frame
from void_core.media.masks import find_mask
from void_core.media.plate import open_plate
from void_core.shot import (
    ShotInputs, ShotRequest, check_shot, check_shot_name, file_digest, process_shot,
)

QC_VERSION = "1"
# Set by an orchestrator around a stage call, so stage runs point at their Prefect task run.
ORCHESTRATOR_TASK_ID: ContextVar[str | None] = ContextVar("void_farm_task_run_id", default=None)
STAGE_ORDER = ("ingest", "masking", "analysis", "inpaint", "qc")


@dataclass(frozen=True)
class RunSettings:
    """What every shot of a run shares; small and picklable (it travels to every worker)."""

    run_id: str
    cutlist: str
    out_root: Path
    db_url: str | None = None  # None: $VOID_FARM_DB, else OUT/void-farm-lineage.db
    engine: str = "classical"
    engine_settings: dict = field(default_factory=dict)
    refiner: str = "flow"
    masker: str = "classical"
    masker_settings: dict = field(default_factory=dict)
    analyzer: str = "heuristic"
    analyzer_settings: dict = field(default_factory=dict)
    compression: str = "zip"
    force: bool = False

    @property
    def work_root(self) -> Path:
        return self.out_root / ".void-work"

    @property
    def lineage_url(self) -> str:
        from void_core.lineage import ENV_VAR

        return (self.db_url or os.environ.get(ENV_VAR)
                or f"sqlite:///{(self.out_root / 'void-farm-lineage.db').resolve()}")


@dataclass(frozen=True)
class ShotPlan:
    """One shot of a cut list, reduced to plain data."""

    name: str
    event: int
    media: Path | None
    media_problem: str | None
    first_frame: int
    frame_count: int
    rate: Fraction
    prompt: dict | None = None
    instruction: str = ""
    bg: str | None = None
    record_range: str | None = None
    media_start: int | None = None  # the media's first frame in `first_frame`'s count, if known
    shot_id: str | None = None  # the lineage row, set when the run starts the shot

    @classmethod
    def from_spec(cls, spec) -> ShotPlan:
        """From a `void_core.cutlist.ShotSpec`."""
        record = spec.to_json()["record_range"]
        return cls(name=spec.name, event=spec.event,
                   media=spec.media_path if spec.media_resolved else None,
                   media_problem=None if spec.media_resolved else spec.media_hint,
                   first_frame=spec.source_start_frame, frame_count=spec.frame_count,
                   rate=spec.rate, prompt=spec.prompt, instruction="; ".join(spec.instructions),
                   bg=spec.bg, record_range=f"{record['start_tc']}-{record['end_tc']}",
                   media_start=spec.media_start_frame)


@dataclass(frozen=True)
class StageReport:
    stage: str
    status: str  # "succeeded", "skipped" (identical result already on disk), "provided"
    seconds: float
    engine: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShotState:
    """Where a shot is: its plan and the files its stages produced so far."""

    plan: ShotPlan
    plate: Path | None = None
    plate_digest: str | None = None
    points: Path | None = None
    black_mask: Path | None = None
    analysis: Path | None = None
    quadmask: Path | None = None
    exr_dir: Path | None = None
    frames: int = 0
    preview: Path | None = None
    contact_sheet: Path | None = None
    reports: tuple[StageReport, ...] = ()

    @property
    def name(self) -> str:
        return self.plan.name

    def report(self, stage: str) -> StageReport | None:
        return next((r for r in self.reports if r.stage == stage), None)

    def with_report(self, report: StageReport, **changes) -> ShotState:
        return replace(self, reports=self.reports + (report,), **changes)

    def to_json(self) -> dict[str, Any]:
        def plain(value):
            return str(value) if isinstance(value, (Path, Fraction)) else value
        data = {k: plain(v) for k, v in asdict(self).items() if k not in ("plan", "reports")}
        data["reports"] = [asdict(r) for r in self.reports]
        return data


def digest_of(payload: Any) -> str:
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def work_dir(settings: RunSettings, plan: ShotPlan) -> Path:
    return settings.work_root / plan.name


# --- ingest ---------------------------------------------------------------------------------


def ingest(settings: RunSettings, state: ShotState) -> ShotState:
    """Check the shot's media and prompt; stage the work folder (prompt.json, points.json)."""
    plan = state.plan
    started = time.perf_counter()
    check_shot_name(plan.name)
    if plan.media is None:
        raise InputError(None, f"{plan.name}: media not found ({plan.media_problem})",
                         "give --media-root where the clip's media lives, or fix the reference")
    folder = work_dir(settings, plan)
    folder.mkdir(parents=True, exist_ok=True)
    info = open_plate(plan.media, rate=plan.rate).info
    first = _clip_offset(plan, info)
    whole = first == 0 and info.frame_count == plan.frame_count
    plate = plan.media if whole else stage_clip(plan.media, info.kind, first, plan.frame_count,
                                                folder / "source")
    (folder / "prompt.json").write_text(json.dumps({"bg": plan.bg or ""}))
    points = _stage_points(plan, folder)
    provided = _provided_quadmask(plan.media) if whole else None
    if provided is None and points is None:
        raise MaskError(plan.media, f"shot {plan.name} has no quadmask and no click",
                        'give the cut-list marker "void": {"frame": F, "points": [[x, y]]}, or '
                        "put points.json or quadmask_0.mp4 beside the media")
    notes = () if whole else (f"clip is frames {first}..{first + plan.frame_count - 1} of the "
                              f"media's {info.frame_count}: staged as {plate.name}",)
    report = StageReport("ingest", "succeeded", time.perf_counter() - started, notes=notes)
    return state.with_report(report, plate=plate, plate_digest=file_digest(plate),
                             points=points, quadmask=provided)


def _media_start(plan: ShotPlan, info) -> int | None:
    """The media's first frame in the count of `plan.first_frame`: a sequence's first image
    number when the clip is numbered by image (OTIO image sequences), else the frames' start
    timecode (EDLs count source timecode); a video's `available_range` start, else its start
    timecode. None when nothing says."""
    if info.first_frame is not None:
        last_image = info.first_frame + info.frame_count - 1
        if info.first_frame <= plan.first_frame <= last_image:
            return info.first_frame
        timecode = sequence_start_frame(plan.media, plan.rate)
        return timecode if timecode is not None else info.first_frame
    if plan.media_start is not None:
        return plan.media_start
    return video_start_frame(plan.media, plan.rate) if info.kind == "video" else None


def _clip_offset(plan: ShotPlan, info) -> int:
    """Index in the media of the clip's first frame. A clip as long as its media is the whole
    media (cut lists and pulls often number frames differently); from longer media the clip is
    found by the media's start (`_media_start`)."""
    if info.frame_count == plan.frame_count:
        return 0
    if info.frame_count < plan.frame_count:
        raise InputError(plan.media, f"shot {plan.name} uses {plan.frame_count} frames but the "
                         f"media holds only {info.frame_count}",
                         "point the clip at media that covers its source range")
    start = _media_start(plan, info)
    last = plan.first_frame + plan.frame_count - 1
    if start is None:
        raise InputError(plan.media, f"shot {plan.name} uses {plan.frame_count} of the media's "
                         f"{info.frame_count} frames, but the media says nowhere where it starts "
                         "(no start timecode)", "give the OTIO media reference an "
                         "available_range, or pull the shot as its own file or sequence")
    offset = plan.first_frame - start
    if offset < 0 or offset + plan.frame_count > info.frame_count:
        raise InputError(plan.media, f"shot {plan.name} needs source frames {plan.first_frame}"
                         f"-{last}, the media holds {start}-{start + info.frame_count - 1}",
                         "check the clip's source in/out against the media")
    return offset


def _stage_points(plan: ShotPlan, folder: Path) -> Path | None:
    target = folder / "points.json"
    if plan.prompt:
        target.write_text(json.dumps(plan.prompt))
        return target
    beside = plan.media.parent / "points.json" if plan.media.is_file() else None
    if beside is not None and beside.is_file():
        shutil.copyfile(beside, target)
        return target
    return None


def _provided_quadmask(media: Path) -> Path | None:
    """A VOID-layout folder (input_video.mp4 + quadmask_0.mp4) brings its own mask."""
    return find_mask(media.parent) if media.is_file() else None


# --- masking and analysis -------------------------------------------------------------------


def masking(settings: RunSettings, state: ShotState, *, engine=None) -> ShotState:
    """Segment the clicked object through the shot: black_mask.mp4 (0 object, 255 rest).
    `engine`: a resident segmenter instance to reuse (a model loaded once per worker)."""
    if state.quadmask is not None:
        return state.with_report(StageReport("masking", "provided", 0.0))
    from void_core.masking import create_segmenter, read_points_json, validate_prompts

    engine = engine or create_segmenter(settings.masker, **settings.masker_settings)
    prompts = read_points_json(state.points)
    identity = digest_of({"stage": "masking", "plate": state.plate_digest,
                          "prompts": json.loads(state.points.read_text()),
                          "engine": _describe(engine)})
    out = work_dir(settings, state.plan) / "black_mask.mp4"

    def run() -> list[str]:
        plate = open_plate(state.plate, rate=state.plan.rate)
        checked = validate_prompts(prompts, plate.info.width, plate.info.height,
                                   plate.info.frame_count, source=state.points)
        return list(engine.segment(plate, checked, out).notes)

    report = _recorded(settings, state, "masking", identity, engine, run,
                       artifacts=[("mask", out)])
    return state.with_report(report, black_mask=out)


def analysis(settings: RunSettings, state: ShotState, *, segmenter=None) -> ShotState:
    """What the object affected, combined with its mask into quadmask_0.mp4 (VOID's rules).
    A masking engine that segments objects (sam2) also segments the affected objects the
    analysis localised (VOID's stage 3); `segmenter`: a resident masking engine to reuse."""
    if state.quadmask is not None and state.black_mask is None:
        return state.with_report(StageReport("analysis", "provided", 0.0))
    from void_core.analysis import write_quadmask
    from void_core.analysis.object_masks import can_segment_objects, segment_affected_objects
    from void_core.mask_from_click import AFFECTED_MASKS, create_analyzer
    from void_core.masking import create_segmenter

    engine = create_analyzer(settings.analyzer, **settings.analyzer_settings)
    masker = segmenter or create_segmenter(settings.masker, **settings.masker_settings)
    masker = masker if can_segment_objects(masker) else None
    folder = work_dir(settings, state.plan)
    out, analysis_json = folder / "quadmask_0.mp4", folder / "vlm_analysis.json"
    instruction = state.plan.instruction
    described = {"engine": _describe(engine)}
    if masker is not None:
        described["segmenter"] = _describe(masker)
    identity = digest_of({"stage": "analysis", "plate": state.plate_digest,
                          "mask": file_digest(state.black_mask), "instruction": instruction,
                          **described})

    def run() -> list[str]:
        result = engine.analyze(open_plate(state.plate, rate=state.plan.rate), state.black_mask,
                                instruction)
        object_masks = {} if masker is None else segment_affected_objects(
            masker, open_plate(state.plate, rate=state.plan.rate), result,
            folder / AFFECTED_MASKS)
        write_quadmask(result, state.black_mask, out, gridify=True, object_masks=object_masks)
        if not analysis_json.exists():
            analysis_json.write_text(result.model_dump_json(indent=2))
        _describe_scene_after_removal(folder / "prompt.json", result)
        nouns = [result.affected_objects[number].noun for number in object_masks]
        return [f"{masker.name} segmented {len(nouns)} affected object(s): "
                f"{', '.join(nouns)}"] if nouns else []

    report = _recorded(settings, state, "analysis", identity, engine, run,
                       artifacts=[("mask", out), ("json", analysis_json)],
                       settings_record=described,
                       checksums=_model_checksums(masker) if masker is not None else None)
    return state.with_report(report, quadmask=out, analysis=analysis_json)


def _describe_scene_after_removal(prompt_path: Path, result) -> None:
    """No `bg` from the cut list: the analysis' scene description becomes the engine's prompt."""
    prompt = json.loads(prompt_path.read_text()) if prompt_path.exists() else {}
    description = getattr(result, "scene_description", "") or ""
    if not prompt.get("bg") and description:
        prompt_path.write_text(json.dumps({**prompt, "bg": description}))


# --- inpaint and qc -------------------------------------------------------------------------


def shot_request(settings: RunSettings, state: ShotState) -> ShotRequest:
    folder = work_dir(settings, state.plan)
    prompt = json.loads((folder / "prompt.json").read_text()) if (folder / "prompt.json").exists() else {}
    inputs = ShotInputs(plate=state.plate, mask=state.quadmask, prompt=prompt, points=state.points)
    return ShotRequest(inputs=inputs, out_root=settings.out_root, name=state.plan.name,
                       start_frame=state.plan.first_frame, engine=settings.engine,
                       engine_settings=dict(settings.engine_settings), refiner=settings.refiner,
                       compression=settings.compression, rate=state.plan.rate,
                       run_id=settings.run_id)


def inpaint(settings: RunSettings, state: ShotState, *, engine=None,
            on_progress: Callable[[int, int], None] | None = None) -> ShotState:
    """Fill, refine and write the EXR plates (`engine`: a resident instance to reuse)."""
    from void_core.inpaint import create_inpainter
    from void_core.shot_lineage import shot_identity

    request = shot_request(settings, state)
    check_shot(request)
    identity, inputs = shot_identity(request)
    instance = engine or create_inpainter(request.engine, **request.engine_settings)
    result_holder: dict = {}

    def run() -> list[str]:
        result = process_shot(request, on_progress, engine=instance)
        result_holder["result"] = result
        return list(result.notes)

    out_dir = settings.out_root / state.plan.name
    pattern = out_dir / f"{state.plan.name}.####.exr"
    last = state.plan.first_frame + state.plan.frame_count - 1
    report = _recorded(settings, state, "inpaint", identity, instance, run,
                       artifacts=[("exr_sequence", pattern, state.plan.first_frame, last)],
                       settings_record=inputs)
    frames = result_holder["result"].frames if "result" in result_holder else state.plan.frame_count
    return state.with_report(report, exr_dir=out_dir, frames=frames)


def qc(settings: RunSettings, state: ShotState) -> ShotState:
    """A before | quadmask | after preview MP4 and a contact sheet PNG beside the EXRs."""
    from void_core.qc import write_contact_sheet, write_qc_preview

    folder = settings.out_root / "qc"
    preview = folder / f"{state.plan.name}_preview.mp4"
    sheet = folder / f"{state.plan.name}_contact.png"
    exr_first = state.exr_dir / f"{state.plan.name}.{state.plan.first_frame:04d}.exr"
    identity = digest_of({"stage": "qc", "version": QC_VERSION, "plate": state.plate_digest,
                          "mask": file_digest(state.quadmask), "exr": _stamp(exr_first),
                          "frames": state.frames})

    def run() -> list[str]:
        folder.mkdir(parents=True, exist_ok=True)
        write_qc_preview(state.plate, state.quadmask, state.exr_dir, preview, rate=state.plan.rate)
        write_contact_sheet(state.plate, state.quadmask, state.exr_dir, sheet)
        return []

    report = _recorded(settings, state, "qc", identity, None, run,
                       artifacts=[("preview", preview), ("contact_sheet", sheet)])
    return state.with_report(report, preview=preview, contact_sheet=sheet)


STAGES: dict[str, Callable[[RunSettings, ShotState], ShotState]] = {
    "ingest": ingest, "masking": masking, "analysis": analysis, "inpaint": inpaint, "qc": qc,
}


def run_shot(settings: RunSettings, plan: ShotPlan) -> ShotState:
    """All stages of one shot in this process: the plain loop the flow is measured against."""
    state = ShotState(plan=plan)
    for stage in STAGE_ORDER:
        state = STAGES[stage](settings, state)
    return state


# --- lineage plumbing -----------------------------------------------------------------------


def _describe(engine) -> list:
    return [engine.name, getattr(engine, "version", None), engine.settings()]


def _model_checksums(engine) -> dict | None:
    checksums = getattr(engine, "model_checksums", None)
    return checksums() if callable(checksums) else None


def _stamp(path: Path) -> str:
    stat = path.stat()
    return f"{path}:{stat.st_size}:{stat.st_mtime_ns}"


def _recorded(settings: RunSettings, state: ShotState, stage: str, identity: str, engine,
              run: Callable[[], list[str]], *, artifacts: list[tuple],
              settings_record: dict | None = None, checksums: dict | None = None) -> StageReport:
    """Run `run` as lineage stage `stage` of the shot, unless an identical result exists."""
    name = engine.name if engine is not None else stage
    with open_store(settings.lineage_url) as store:
        shot_id = state.plan.shot_id or _adopt_shot(store, settings, state)
        store.fail_unfinished_stages(shot_id, stage, "attempt lost: its worker stopped before "
                                     "the stage finished (the stage was run again)")
        reusable = None if settings.force else store.find_completed_stage(identity)
        if reusable is not None and _same_files(reusable, artifacts):
            store.record_skip(shot_id, reusable, worker=_worker(),
                              prefect_task_run_id=ORCHESTRATOR_TASK_ID.get())
            return StageReport(stage, "skipped", 0.0, name)
        stage_id = store.start_stage(
            shot_id, stage, identity=identity, engine=name,
            engine_version=getattr(engine, "version", None),
            settings=settings_record or ({"engine": _describe(engine)} if engine else None),
            model_checksums=checksums if checksums is not None else (
                _model_checksums(engine) if engine is not None else None),
            worker=_worker(),
            prefect_task_run_id=ORCHESTRATOR_TASK_ID.get())
    started = time.perf_counter()
    try:
        notes = run()
    except BaseException as err:
        with open_store(settings.lineage_url) as store:
            store.finish_stage(stage_id, "failed", error=_reason(err),
                               seconds=time.perf_counter() - started)
        raise
    seconds = time.perf_counter() - started
    with open_store(settings.lineage_url) as store:
        for kind, path, *frames in artifacts:
            first, last = (frames + [None, None])[:2]
            store.record_artifact(stage_id, kind, Path(path).resolve(), frame_first=first,
                                  frame_last=last, bytes=_size(path))
        store.finish_stage(stage_id, "succeeded", seconds=seconds)
    return StageReport(stage, "succeeded", seconds, name, tuple(notes))


def _same_files(record, artifacts: list[tuple]) -> bool:
    """A reusable stage run must have produced the files this run expects, where it expects."""
    recorded = {a.path_pattern for a in record.artifacts}
    return all(str(Path(path).resolve()) in recorded for _, path, *_ in artifacts)


def _adopt_shot(store: LineageStore, settings: RunSettings, state: ShotState) -> str:
    """Stages called outside a run (tests, the library): record a run and shot of their own."""
    run_id = store.start_run(settings.cutlist, kind="cutlist")
    return store.start_shot(run_id, state.plan.name, source_path=state.plate,
                            source_digest=state.plate_digest)


def _reason(err: BaseException) -> str:
    if isinstance(err, VoidFarmError):
        return str(err)
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def _size(path) -> int | None:
    path = Path(path)
    return path.stat().st_size if path.is_file() else None


def _worker() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


__all__ = [
    "ORCHESTRATOR_TASK_ID", "QC_VERSION", "STAGES", "STAGE_ORDER", "RunSettings", "ShotPlan", "ShotState", "StageReport",
    "analysis", "digest_of", "ingest", "inpaint", "masking", "qc", "run_shot", "shot_request",
]
