"""The QC stage: a before | quadmask | after preview MP4, a contact sheet PNG and a small JPEG
strip (for the QC artifact) in OUT/qc/, from one pass over the shot's frames.

A long shot (one whose inpaint runs in parts, `stages.splits`) runs its QC in parts too:

    qc_prepare (whole shot: skip at once when lineage holds the three files intact)
      --> qc_part per part (any worker, any order: frames [start, stop) of `even_parts`,
          a preview segment and the sampled rows in OUT/.void-work/<shot>/qc/)
      --> qc_finish (segments remuxed into the preview, rows stacked; the whole recorded)

Each part is a lineage stage run (`part` = its frames, `0001-0120`) whose identity covers its
own frames' EXRs, so a rerun redoes only the parts whose segment or EXRs changed.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from void_core import naming
from void_core.digests import digest_of, file_digest
from void_core.errors import MediaError
from void_core.inpaint.base import even_parts
from void_core.pipeline.record import (
    part_identity, record_assembled, recorded, reused_stage, stamp,
)
from void_core.pipeline.state import (
    PartReport, RunSettings, ShotParts, ShotState, StageReport, current_place, part_label,
)
from void_core.vocabulary import Stage, StageStatus

QC_VERSION = "3"  # 2: the embedded JPEG strip; 3: every EXR's stamp in the identity
QC_ENGINE = ("qc", QC_VERSION, None)  # what lineage names as the stage's "engine"
QC_PARTS_FOLDER = "qc"  # OUT/.void-work/<shot>/qc/: the parts' segments and rows


def qc(settings: RunSettings, state: ShotState) -> ShotState:
    """The three QC files of the shot from one pass over its frames."""
    from void_core.qc import write_qc

    preview, sheet, strip = _outputs(settings, state)
    identity = digest_of({**_inputs(state), "exr": _exr_stamps(state, 0, state.plan.frame_count)})

    def run() -> list[str]:
        write_qc(state.plate, state.quadmask, state.exr_dir, preview, sheet, strip,
                 rate=state.plan.rate)
        return []

    report = recorded(settings, state, Stage.QC, identity, None, run,
                      artifacts=_artifacts(preview, sheet, strip))
    return state.with_report(report, preview=preview, contact_sheet=sheet, qc_strip=strip)


def qc_prepare(settings: RunSettings, state: ShotState, chunk_frames: int) -> ShotState:
    """A long shot's QC, step 1: its parts (`state.parts`: even parts of at most
    `chunk_frames`, the run's `stages.chunk_frames`), once the inputs are checked to line up;
    or, when lineage holds the three files intact, the stage skipped at once (the state holds
    its report and no parts)."""
    from void_core.qc import open_sources

    started = time.perf_counter()
    inputs = _inputs(state)
    whole = digest_of({**inputs, "exr": _exr_stamps(state, 0, state.plan.frame_count)})
    files = _outputs(settings, state)
    skipped = reused_stage(settings, state, Stage.QC, whole, _artifacts(*files), QC_ENGINE[0])
    if skipped is not None:
        return state.with_report(skipped, preview=files[0], contact_sheet=files[1],
                                 qc_strip=files[2])
    open_sources(state.plate, state.quadmask, state.exr_dir, None, state.plan.rate)
    prepared = StageReport(Stage.QC, StageStatus.SUCCEEDED, time.perf_counter() - started,
                           QC_ENGINE[0], where=current_place().label)
    parts = ShotParts(identity=whole, inputs=inputs, folder=qc_parts_dir(settings, state.name),
                      first_frame=state.plan.first_frame, prepare=prepared, engine=QC_ENGINE,
                      parts=tuple(even_parts(state.plan.frame_count, chunk_frames)))
    return replace(state, parts=parts)


def qc_part(settings: RunSettings, state: ShotState, index: int) -> PartReport:
    """A long shot's QC, one part (any worker, after `qc_prepare`): its preview segment and
    sampled rows, skipped when lineage holds them intact for the same frames."""
    from void_core.qc import part_files, write_qc_part

    parts = state.parts
    part = parts.parts[index]
    label = part_label(part)
    segment, rows = part_files(parts.folder, label)
    identity = part_identity(digest_of(parts.inputs), label, start=part.start, stop=part.stop,
                             exr=_exr_stamps(state, part.start, part.stop))

    def run() -> list[str]:
        write_qc_part(state.plate, state.quadmask, state.exr_dir, parts.folder, part.start,
                      part.stop, label, rate=state.plan.rate)
        return []

    report = recorded(settings, state, Stage.QC, identity, None, run,
                      artifacts=[("preview", segment), ("work", rows)],
                      settings_record={"part": label, "start": part.start, "stop": part.stop},
                      part=label)
    return PartReport(index, label, report)


def qc_finish(settings: RunSettings, state: ShotState, done: list[PartReport]) -> ShotState:
    """A long shot's QC, last step: the parts' segments joined into the preview (remuxed),
    their rows stacked into the sheet and strip, and the whole recorded (a rerun skips it)."""
    from void_core.qc import join_qc_parts

    parts = state.parts
    missing = sorted({part.index for part in parts.parts} - {report.index for report in done})
    if missing:
        raise RuntimeError(f"{state.name}: QC finish without parts {missing}")
    started = time.perf_counter()
    done = sorted(done, key=lambda report: report.index)
    files = _outputs(settings, state)
    join_qc_parts(parts.folder, [report.label for report in done], *files)
    reports = [parts.prepare] + [report.report for report in done]
    seconds = sum(report.seconds for report in reports) + time.perf_counter() - started
    record_assembled(settings, state, Stage.QC, parts.identity, parts.engine,
                     _artifacts(*files), seconds,
                     settings_record={"parts": [report.label for report in done]})
    places = [report.where for report in reports] + [current_place().label]
    where = "; ".join(dict.fromkeys(place for place in places if place))
    report = StageReport(Stage.QC, StageStatus.SUCCEEDED, seconds, QC_ENGINE[0],
                         where=where or None)
    return replace(state.with_report(report, preview=files[0], contact_sheet=files[1],
                                     qc_strip=files[2]), parts=None)


def qc_in_parts(settings: RunSettings, state: ShotState, chunk_frames: int) -> ShotState:
    """prepare -> every part in order -> finish, in this process (`run_shot`)."""
    state = qc_prepare(settings, state, chunk_frames)
    if state.parts is None:
        return state
    done = [qc_part(settings, state, part.index) for part in state.parts.parts]
    return qc_finish(settings, state, done)


def qc_parts_dir(settings: RunSettings, shot: str) -> Path:
    """`OUT/.void-work/<shot>/qc/`: the QC parts' segments and rows."""
    return naming.work_dir(settings.out_root, shot) / QC_PARTS_FOLDER


def _outputs(settings: RunSettings, state: ShotState) -> tuple[Path, Path, Path]:
    """(preview, contact sheet, strip) of the shot in OUT/qc/."""
    return (naming.qc_preview(settings.out_root, state.name),
            naming.qc_contact_sheet(settings.out_root, state.name),
            naming.qc_strip(settings.out_root, state.name))


def _artifacts(preview: Path, sheet: Path, strip: Path) -> list[tuple]:
    return [("preview", preview), ("contact_sheet", sheet), ("preview", strip)]


def _inputs(state: ShotState) -> dict:
    """What every QC file depends on but the EXRs (each part adds its own EXRs' stamps)."""
    return {"stage": "qc", "version": QC_VERSION, "plate": state.plate_digest,
            "mask": file_digest(state.quadmask), "frames": state.frames,
            "exr_dir": str(state.exr_dir)}


def _exr_stamps(state: ShotState, start: int, stop: int) -> str:
    """A digest of the size and time of the EXRs of frames [start, stop): a part of the
    inpaint that wrote them again changes it."""
    stamps = []
    for index in range(start, stop):
        path = naming.exr_frame(state.exr_dir, state.name, state.plan.first_frame + index)
        if not path.is_file():
            raise MediaError(path, "EXR not found", "rerun the shot's inpaint stage")
        stamps.append(stamp(path))
    return digest_of(stamps)
