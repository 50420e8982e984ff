"""A shot as a chain of stages, each recorded in lineage and skipped when already done.

    ingest --> masking --> analysis --> inpaint (fill + refine + EXR write) --> qc

Every stage is a plain function `stage(settings, state) -> state`: it reads paths from the
`ShotState`, writes its files into the shot's work folder (or the EXR folder), records a
stage run with the digest of its inputs (its *identity*) and returns a new state holding the
paths and digests it produced. Orchestrators (the Prefect flow on Ray, `void-farm shot`, or the
plain loop `run_shot`) pass states between stages, never frames.

Refinement and the EXR write happen inside the inpaint stage: the frames stream from decode
through fill and refinement to the writer, so splitting them would mean writing every frame
twice. A long shot of an engine that splits shots runs its inpaint as `inpaint_prepare` ->
`inpaint_part` per part (any process, any order its parts' `after` allows) -> `inpaint_finish`,
and its QC as `qc_prepare` -> `qc_part` per part -> `qc_finish` (`qc_steps.py`). A shot stops
at its first failing stage; the orchestrator records the shot as failed.
Engines come from `void_core.engines`, one instance per process and settings unless the
caller hands in a resident one.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from void_core import naming
from void_core.digests import digest_of, file_digest
from void_core.engines import describe, entry, model_checksums, segments_objects, shared_engine
from void_core.errors import InputError, MaskError
from void_core.masking.prompt import read_points_json, validate_prompts
from void_core.media.clip_range import sequence_start_frame, stage_clip, video_start_frame
from void_core.media.masks import QuadmaskReader, find_mask
from void_core.media.plate import open_plate
from void_core.pipeline import qc_steps
from void_core.pipeline.qc_steps import QC_VERSION, qc, qc_finish, qc_part
from void_core.pipeline.record import (
    part_identity, record_assembled, recorded, reused_stage, shot_identity,
)
from void_core.pipeline.render import (
    check_shot_name, finish_parts, inpainter_for, open_checked, part_files, prepare_parts,
    process_shot, read_parts, refiner_for, render_part, validate_mask,
)
from void_core.pipeline.state import (
    ORCHESTRATOR_TASK_ID, PartReport, ProgressCallback, RunSettings, ShotInputs, ShotParts,
    ShotPlan, ShotRequest, ShotState, StageReport, current_place, part_label, work_dir,
)
from void_core.vocabulary import STAGE_ORDER, EngineKind, Stage, StageStatus

PREPARE = "prepare"  # the lineage part of a long shot's inpaint that prepares its parts
DEFAULT_TASK_RESOURCES = {"num_cpus": 1}  # a stage without an engine of its own


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
    info = open_plate(plan.media, rate=plan.rate, colour_spec=settings.colour_for(plan)).info
    first = _clip_offset(plan, info)
    whole = first == 0 and info.frame_count == plan.frame_count
    plate = plan.media if whole else stage_clip(plan.media, info.kind, first, plan.frame_count,
                                                folder / naming.STAGED_CLIP)
    (folder / naming.PROMPT_JSON).write_text(json.dumps({"bg": plan.bg or ""}))
    points = _stage_points(plan, folder)
    provided = _provided_quadmask(plan) if whole else None
    if provided is None and points is None:
        raise MaskError(plan.media, f"shot {plan.name} has no quadmask and no click",
                        'give the cut-list marker "void": {"frame": F, "points": [[x, y]]}, or '
                        "put points.json or quadmask_0.mp4 beside the media")
    notes = () if whole else (f"clip is frames {first}..{first + plan.frame_count - 1} of the "
                              f"media's {info.frame_count}: staged as {plate.name}",)
    report = StageReport(Stage.INGEST, StageStatus.SUCCEEDED, time.perf_counter() - started,
                         notes=notes, where=current_place().label)
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
    target = folder / naming.POINTS_JSON
    if plan.prompt:
        target.write_text(json.dumps(plan.prompt))
        return target
    beside = plan.media.parent / naming.POINTS_JSON if plan.media.is_file() else None
    source = plan.points or beside
    if source is not None and source.is_file():
        shutil.copyfile(source, target)
        return target
    return None


def _provided_quadmask(plan: ShotPlan) -> Path | None:
    """The caller's quadmask, else a VOID-layout folder's (input_video.mp4 + quadmask_0.mp4)
    beside the media, unless the shot's clicks replace it."""
    if plan.quadmask is not None or plan.clicks_win:
        return plan.quadmask
    return find_mask(plan.media.parent) if plan.media.is_file() else None


# --- masking and analysis -------------------------------------------------------------------


def masking(settings: RunSettings, state: ShotState, *, engine=None) -> ShotState:
    """Segment the clicked object through the shot: black_mask.mp4 (0 object, 255 rest).
    `engine`: a resident segmenter instance to reuse (a model loaded once per worker)."""
    if state.quadmask is not None:
        return state.with_report(StageReport(Stage.MASKING, StageStatus.PROVIDED, 0.0))
    engine = engine or shared_engine(EngineKind.MASKING, settings.masker, settings.masker_settings)
    prompts = read_points_json(state.points)
    identity = digest_of({"stage": "masking", "plate": state.plate_digest,
                          "prompts": json.loads(state.points.read_text()),
                          "engine": describe(engine)})
    out = work_dir(settings, state.plan) / naming.BLACK_MASK

    def run() -> list[str]:
        plate = open_plate(state.plate, rate=state.plan.rate)
        checked = validate_prompts(prompts, plate.info.width, plate.info.height,
                                   plate.info.frame_count, source=state.points)
        return list(engine.segment(plate, checked, out).notes)

    report = recorded(settings, state, Stage.MASKING, identity, (EngineKind.MASKING, engine), run,
                      artifacts=[("mask", out)])
    return state.with_report(report, black_mask=out)


def analysis(settings: RunSettings, state: ShotState, *, engine=None,
             segmenter=None) -> ShotState:
    """What the object affected, combined with its mask into quadmask_0.mp4 (VOID's rules).
    A masking engine that segments objects (sam2) also segments the affected objects the
    analysis localised (VOID's stage 3). `engine` / `segmenter`: a resident analyzer / masking
    engine to reuse. An analysis that found nothing is said so in the stage's notes."""
    if state.quadmask is not None and state.black_mask is None:
        return state.with_report(StageReport(Stage.ANALYSIS, StageStatus.PROVIDED, 0.0))
    from void_core.analysis import write_quadmask
    from void_core.analysis.object_masks import segment_affected_objects

    engine = engine or shared_engine(EngineKind.ANALYSIS, settings.analyzer,
                                     settings.analyzer_settings)
    masker = None
    if segments_objects(EngineKind.MASKING, settings.masker):
        masker = segmenter or shared_engine(EngineKind.MASKING, settings.masker,
                                            settings.masker_settings)
    folder = work_dir(settings, state.plan)
    out, analysis_json = folder / naming.QUADMASK, folder / naming.ANALYSIS_JSON
    instruction = state.plan.instruction
    described = {"engine": describe(engine)}
    if masker is not None:
        described["segmenter"] = describe(masker)
    identity = digest_of({"stage": "analysis", "plate": state.plate_digest,
                          "mask": file_digest(state.black_mask), "instruction": instruction,
                          **described})

    def run() -> list[str]:
        result = engine.analyze(open_plate(state.plate, rate=state.plan.rate), state.black_mask,
                                instruction)
        object_masks = {} if masker is None else segment_affected_objects(
            masker, open_plate(state.plate, rate=state.plan.rate), result,
            folder / naming.AFFECTED_MASKS)
        write_quadmask(result, state.black_mask, out, gridify=True, object_masks=object_masks)
        if not analysis_json.exists():
            analysis_json.write_text(result.model_dump_json(indent=2))
        _describe_scene_after_removal(folder / naming.PROMPT_JSON, result)
        nouns = [result.affected_objects[number].noun for number in object_masks]
        return _empty_analysis_notes(engine.name, result) + (
            [f"{masker.name} segmented {len(nouns)} affected object(s): {', '.join(nouns)}"]
            if nouns else [])

    checksums = _stage_checksums([(EngineKind.ANALYSIS, engine), (EngineKind.MASKING, masker)])
    report = recorded(settings, state, Stage.ANALYSIS, identity, (EngineKind.ANALYSIS, engine),
                      run, artifacts=[("mask", out), ("json", analysis_json)],
                      settings_record=described, checksums=checksums)
    return state.with_report(report, quadmask=out, analysis=analysis_json)


def _empty_analysis_notes(name: str, result) -> list[str]:
    """What an analysis that found nothing says (reported, never filled in)."""
    notes = []
    if not result.affected_objects and not result.integral_belongings:
        notes.append(f"{name} found nothing the object affected: the quadmask holds the "
                     "object alone")
    if not result.scene_description:
        notes.append(f"{name} gave no scene description: no bg prompt from the analysis")
    return notes


def _stage_checksums(engines: list[tuple[EngineKind, object]]) -> dict[str, str] | None:
    """The model checksums of the engines a stage used; each file under its engine's name when
    more than one engine reads weights."""
    found = [(instance.name, sums) for kind, instance in engines if instance is not None
             for sums in [model_checksums(kind, instance)] if sums]
    if len(found) <= 1:
        return found[0][1] if found else None
    return {f"{name}/{path}": digest for name, sums in found for path, digest in sums.items()}


def _describe_scene_after_removal(prompt_path: Path, result) -> None:
    """No `bg` from the cut list: the analysis' scene description becomes the engine's prompt."""
    prompt = json.loads(prompt_path.read_text()) if prompt_path.exists() else {}
    description = result.scene_description or ""
    if not prompt.get("bg") and description:
        prompt_path.write_text(json.dumps({**prompt, "bg": description}))


# --- inpaint and qc -------------------------------------------------------------------------


def shot_request(settings: RunSettings, state: ShotState) -> ShotRequest:
    prompt_path = work_dir(settings, state.plan) / naming.PROMPT_JSON
    prompt = json.loads(prompt_path.read_text()) if prompt_path.exists() else {}
    inputs = ShotInputs(plate=state.plate, mask=state.quadmask, prompt=prompt, points=state.points)
    return ShotRequest(inputs=inputs, out_root=settings.out_root, name=state.plan.name,
                       start_frame=state.plan.first_frame, engine=settings.engine,
                       engine_settings=dict(settings.engine_settings), refiner=settings.refiner,
                       compression=settings.compression, transfer=settings.transfer,
                       rate=state.plan.rate, run_id=settings.run_id,
                       colour=settings.colour_for(state.plan))


def inpaint(settings: RunSettings, state: ShotState, *, engine=None,
            on_progress: ProgressCallback | None = None) -> ShotState:
    """Fill, refine and write the EXR plates (`engine`: a resident instance to reuse)."""
    request = shot_request(settings, state)
    check_shot_name(request.name)
    plate = open_plate(request.inputs.plate, transfer=request.transfer, rate=request.rate,
                       colour_spec=request.colour)
    validate_mask(plate, QuadmaskReader(request.inputs.mask))
    instance = engine or inpainter_for(request)
    identity, inputs = shot_identity(request, plate, instance, refiner_for(request))
    result_holder: dict = {}

    def run() -> list[str]:
        result = process_shot(request, on_progress, engine=instance)
        result_holder["result"] = result
        return list(result.notes)

    out_dir = naming.exr_dir(settings.out_root, state.plan.name)
    pattern = naming.exr_pattern(settings.out_root, state.plan.name)
    report = recorded(settings, state, Stage.INPAINT, identity, (EngineKind.INPAINT, instance),
                      run, artifacts=[("exr_sequence", pattern, state.plan.first_frame,
                                       state.plan.last_frame)],
                      settings_record=inputs)
    result = result_holder.get("result")
    frames = result.frames if result is not None else state.plan.frame_count
    return state.with_report(report, exr_dir=out_dir, frames=frames, result=result)


# --- inpaint in parts: a long shot of a splitting engine --------------------------------------


def chunk_frames(settings: RunSettings) -> int:
    """Frames per part of a long shot: the run's `chunk_frames`, else the engine's default;
    0 (never split) for an engine that does not split shots."""
    declared = entry(EngineKind.INPAINT, settings.engine)
    if not declared.splits_shots:
        return 0
    return declared.chunk_frames if settings.chunk_frames is None else settings.chunk_frames


def splits(settings: RunSettings, plan: ShotPlan) -> bool:
    """Whether the shot's inpaint runs as prepare -> parts -> finish."""
    chunk = chunk_frames(settings)
    return chunk > 0 and plan.frame_count > chunk


def inpaint_prepare(settings: RunSettings, state: ShotState, *, engine=None) -> ShotState:
    """A long shot's inpaint, step 1 (whole shot, once): the edit boxes and the engine's
    `prepare` as files in OUT/.void-work/<shot>/parts/; the state then holds the parts
    (`state.parts`). When lineage holds the whole EXR sequence intact, the inpaint stage is
    skipped here: the state holds its report and no parts."""
    request = shot_request(settings, state)
    plate, _ = open_checked(request)
    instance = engine or inpainter_for(request)
    identity, inputs = shot_identity(request, plate, instance, refiner_for(request))
    whole = _exr_sequence(settings, state)
    skipped = reused_stage(settings, state, Stage.INPAINT, identity, [whole], instance.name)
    if skipped is not None:
        return state.with_report(skipped, exr_dir=naming.exr_dir(settings.out_root, state.name),
                                 frames=state.plan.frame_count)
    folder = naming.parts_dir(settings.out_root, state.name)
    chunk = chunk_frames(settings)

    def run() -> list[str]:
        prepare_parts(request, folder, chunk, engine=instance)
        return []

    report = recorded(settings, state, Stage.INPAINT,
                      part_identity(identity, PREPARE, chunk_frames=chunk),
                      (EngineKind.INPAINT, instance), run,
                      artifacts=[("json", folder / naming.PARTS_PLAN)],
                      settings_record={**inputs, "chunk_frames": chunk}, part=PREPARE,
                      written=lambda: [("work", path) for path in _prepared_files(folder)])
    parts = ShotParts(identity=identity, inputs=inputs, folder=folder,
                      first_frame=state.plan.first_frame, parts=tuple(read_parts(folder)),
                      prepare=report, engine=(instance.name, instance.version,
                                              model_checksums(EngineKind.INPAINT, instance)))
    return replace(state, parts=parts)


def inpaint_part(settings: RunSettings, state: ShotState, index: int, *, engine=None,
                 on_progress: ProgressCallback | None = None) -> PartReport:
    """A long shot's inpaint, one part (any worker, after `inpaint_prepare` and the parts in
    its `after`): its frames' EXRs, or a learning part's work files; skipped when lineage
    holds them intact."""
    parts = state.parts
    part = parts.parts[index]
    label = part_label(part)
    request = shot_request(settings, state)
    instance = engine or inpainter_for(request)
    identity = part_identity(parts.identity, label, start=part.start, stop=part.stop,
                             after=list(part.after), kind=part.label)
    first = parts.first_frame + part.start
    frames = [("exr_sequence", naming.exr_pattern(settings.out_root, state.name), first,
               first + part.frame_count - 1)] if part.writes else []

    def run() -> list[str]:
        return render_part(request, parts.folder, part, on_progress, engine=instance)

    def written() -> list[tuple]:  # files later parts read, so a rerun checks them too
        return [("work", path) for path in part_files(parts.folder, part)]

    report = recorded(settings, state, Stage.INPAINT, identity, (EngineKind.INPAINT, instance),
                      run, artifacts=frames + [("json", parts.folder / naming.part_stats(label))],
                      settings_record={**parts.inputs, "part": asdict(part)}, part=label,
                      written=written)
    return PartReport(index, label, report)


def inpaint_finish(settings: RunSettings, state: ShotState,
                   done: list[PartReport]) -> ShotState:
    """A long shot's inpaint, last step: every part's stats merged into the shot's result,
    and the whole EXR sequence recorded as the inpaint stage (so a rerun skips it at once)."""
    parts = state.parts
    missing = sorted({part.index for part in parts.parts} - {report.index for report in done})
    if missing:
        raise RuntimeError(f"{state.name}: inpaint finish without parts {missing}")
    request = shot_request(settings, state)
    result = finish_parts(request, parts.folder, list(parts.parts), parts.engine[0])
    done = sorted(done, key=lambda report: report.index)
    reports = [parts.prepare] + [report.report for report in done]
    seconds = sum(report.seconds for report in reports)
    record_assembled(settings, state, Stage.INPAINT, parts.identity, parts.engine,
                     [_exr_sequence(settings, state)], seconds,
                     settings_record={**parts.inputs, "parts": [r.label for r in done]})
    rendered = any(r.status == StageStatus.SUCCEEDED for r in reports[1:])
    where = "; ".join(dict.fromkeys(report.where for report in reports if report.where))
    report = StageReport(Stage.INPAINT, StageStatus.SUCCEEDED if rendered else StageStatus.SKIPPED,
                         seconds, parts.engine[0], tuple(result.notes), where=where or None)
    return replace(state.with_report(report, exr_dir=result.out_dir, frames=result.frames,
                                     result=result), parts=None)


def inpaint_in_parts(settings: RunSettings, state: ShotState, *, engine=None,
                     on_progress: ProgressCallback | None = None) -> ShotState:
    """prepare -> every part in order -> finish, in this process (`void-farm shot`)."""
    state = inpaint_prepare(settings, state, engine=engine)
    if state.parts is None:
        return state
    done, total, before = [], state.plan.frame_count, 0
    for part in state.parts.parts:
        def progress(count: int, _part_total: int, offset: int = before) -> None:
            if on_progress:
                on_progress(offset + count, total)
        done.append(inpaint_part(settings, state, part.index, engine=engine, on_progress=progress))
        before += part.frame_count if part.writes else 0
    return inpaint_finish(settings, state, done)


def _exr_sequence(settings: RunSettings, state: ShotState) -> tuple:
    return ("exr_sequence", naming.exr_pattern(settings.out_root, state.name),
            state.plan.first_frame, state.plan.last_frame)


def _prepared_files(folder: Path) -> list[Path]:
    """The engine's files from `prepare` (not the plan, the parts' stats or temporaries)."""
    return sorted(path for path in folder.iterdir() if path.is_file()
                  and path.name != naming.PARTS_PLAN
                  and not path.name.startswith((".", "part-")))


def qc_prepare(settings: RunSettings, state: ShotState) -> ShotState:
    """A long shot's QC, step 1 (`qc_steps.qc_prepare`): parts of the run's chunk."""
    return qc_steps.qc_prepare(settings, state, chunk_frames(settings))


def check_plan(settings: RunSettings, plan: ShotPlan) -> None:
    """Validate a whole-media plan without writing anything: the name, the plate, a given
    quadmask against it, clicks inside its frames, and the engines the shot will need.

    Raises:
        InputError / MediaError / MaskError / EngineNotFoundError: what the stages would.
    """
    check_shot_name(plan.name)
    plate = open_plate(plan.media, transfer=settings.transfer, rate=plan.rate,
                       colour_spec=settings.colour_for(plan))
    if plan.quadmask is not None:
        validate_mask(plate, QuadmaskReader(plan.quadmask))
    else:
        info = plate.info
        if plan.prompt:
            from void_core.masking.prompt import prompts_from_json

            validate_prompts(prompts_from_json(plan.prompt), info.width, info.height,
                             info.frame_count)
        shared_engine(EngineKind.MASKING, settings.masker, settings.masker_settings)
        shared_engine(EngineKind.ANALYSIS, settings.analyzer, settings.analyzer_settings)
    shared_engine(EngineKind.INPAINT, settings.engine, settings.engine_settings)
    shared_engine(EngineKind.REFINE, settings.refiner, {})


STAGES: dict[Stage, Callable[[RunSettings, ShotState], ShotState]] = {
    Stage.INGEST: ingest, Stage.MASKING: masking, Stage.ANALYSIS: analysis,
    Stage.INPAINT: inpaint, Stage.QC: qc,
}


# A long shot's inpaint steps by name (the flow's tasks and the engine host call them).
INPAINT_STEPS: dict[str, Callable] = {"inpaint_prepare": inpaint_prepare,
                                      "inpaint_part": inpaint_part,
                                      "inpaint_finish": inpaint_finish}
# Its QC steps (`qc_steps`: no engine, any worker).
QC_STEPS: dict[str, Callable] = {"qc_prepare": qc_prepare, "qc_part": qc_part,
                                 "qc_finish": qc_finish}


def run_shot(settings: RunSettings, plan: ShotPlan, *,
             on_progress: ProgressCallback | None = None) -> ShotState:
    """The run's stages of one shot in this process: `void-farm shot`, and the plain loop the
    flow is measured against."""
    state = ShotState(plan=plan)
    for stage in settings.stages:
        if stage is Stage.INPAINT and splits(settings, plan):
            state = inpaint_in_parts(settings, state, on_progress=on_progress)
        elif stage is Stage.INPAINT:
            state = inpaint(settings, state, on_progress=on_progress)
        elif stage is Stage.QC and splits(settings, plan):
            state = qc_steps.qc_in_parts(settings, state, chunk_frames(settings))
        else:
            state = STAGES[stage](settings, state)
    return state


__all__ = [
    "INPAINT_STEPS", "ORCHESTRATOR_TASK_ID", "QC_STEPS", "QC_VERSION", "STAGES", "STAGE_ORDER",
    "PartReport", "RunSettings", "ShotParts", "ShotPlan", "ShotState", "StageReport", "analysis", "check_plan", "chunk_frames",
    "digest_of", "ingest", "inpaint", "inpaint_finish", "inpaint_in_parts", "inpaint_part",
    "inpaint_prepare", "masking", "qc", "qc_finish", "qc_part", "qc_prepare",
    "run_shot", "shot_request", "splits",
]
