"""What travels through the pipeline: run settings, the shot plan, the shot's state, reports.

All of it is small plain data (paths, digests, names), picklable, so an orchestrator can send
it to another process or machine between stages; pixels never travel.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from void_core import naming
from void_core.inpaint.base import ShotPart
from void_core.media.colour import Transfer
from void_core.media.ocio import ColourSpec
from void_core.progress import ProgressCallback  # noqa: F401  (re-exported for the stages)
from void_core.vocabulary import RunKind, Stage, StageStatus

# Set by an orchestrator around a stage call, so stage runs point at their Prefect task run.
ORCHESTRATOR_TASK_ID: ContextVar[str | None] = ContextVar("void_farm_task_run_id", default=None)


@dataclass(frozen=True)
class WorkerPlace:
    """Where a stage runs: the orchestrator's node id (Ray's), the host, the GPU it was given."""

    node_id: str | None = None
    hostname: str | None = None
    gpu_name: str | None = None

    def columns(self) -> dict[str, str | None]:
        return {"node_id": self.node_id, "hostname": self.hostname, "gpu_name": self.gpu_name}

    @property
    def label(self) -> str:
        """`render02 (node 3f2a9c1d, NVIDIA A100)`: how reports and the QC table show it."""
        extras = [f"node {self.node_id[:8]}"] if self.node_id else []
        extras += [self.gpu_name] if self.gpu_name else []
        host = self.hostname or "?"
        return f"{host} ({', '.join(extras)})" if extras else host


# Set by an orchestrator around a stage call (node id and GPU come from its scheduler);
# None: this process, no node id, the GPU as torch sees it.
ORCHESTRATOR_PLACE: ContextVar[WorkerPlace | None] = ContextVar("void_farm_place", default=None)


def current_place() -> WorkerPlace:
    """Where this stage runs, with this machine's host name."""
    given = ORCHESTRATOR_PLACE.get() or WorkerPlace(gpu_name=gpu_label(None))
    return replace(given, hostname=given.hostname or socket.gethostname())


def gpu_label(device_ids: list[str] | None) -> str | None:
    """The GPU(s) a stage was given: their names when torch (already imported) sees CUDA, else
    the scheduler's device ids; None for no GPU. `device_ids` None: whatever torch sees."""
    torch = sys.modules.get("torch")  # never import torch just to ask
    if torch is not None and torch.cuda.is_available():
        count = torch.cuda.device_count()
        indices = range(count) if device_ids is None else range(min(len(device_ids), count))
        names = [torch.cuda.get_device_name(index) for index in indices]
        if names:
            return ", ".join(names)
    if device_ids:
        return "GPU " + ",".join(str(device) for device in device_ids)
    return None
DEFAULT_START_FRAME = 1001


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
    transfer: Transfer | None = None  # None: the plate's own tag, else sRGB
    colour: dict = field(default_factory=dict)  # ColourSpec fields: config, input/working space
    kind: RunKind = RunKind.CUTLIST
    stages: tuple[Stage, ...] = tuple(Stage)  # `void-farm shot` leaves QC out
    # Long shots of a splitting engine in parts of this many frames (None: the engine's
    # default; 0: never split).
    chunk_frames: int | None = None

    def colour_for(self, plan: ShotPlan) -> ColourSpec:
        """The shot's colour: the run's, with the cut list's colour space for this clip."""
        return ColourSpec(**self.colour).with_input(plan.colorspace)

    @property
    def work_root(self) -> Path:
        return self.out_root / naming.WORK_FOLDER

    @property
    def lineage_url(self) -> str:
        from void_core.lineage import ENV_VAR

        return self.db_url or os.environ.get(ENV_VAR) or naming.default_lineage_url(self.out_root)


@dataclass(frozen=True)
class ShotPlan:
    """One shot to clean, as plain data: from a cut list (`from_spec`) or a shot folder."""

    name: str
    event: int
    media: Path | None
    media_problem: str | None
    first_frame: int
    frame_count: int
    rate: Fraction
    prompt: dict | list | None = None  # clicks, as points.json holds them
    instruction: str = ""
    bg: str | None = None
    record_range: str | None = None
    media_start: int | None = None  # the media's first frame in `first_frame`'s count, if known
    shot_id: str | None = None  # the lineage row, set when the run starts the shot
    quadmask: Path | None = None  # a quadmask the caller found; None: look beside the media
    points: Path | None = None  # a clicks file the caller found (VOID's *_points.json ...)
    clicks_win: bool = False  # clicks replace a quadmask found beside the media
    colorspace: str | None = None  # the clip's input colour space from the cut list, if any

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
                   media_start=spec.media_start_frame,
                   colorspace=spec.colorspace)

    @property
    def last_frame(self) -> int:
        return self.first_frame + self.frame_count - 1


@dataclass(frozen=True)
class ShotResult:
    """What the frame loop did: how many frames, how fast, what the engine said."""

    name: str
    out_dir: Path
    frames: int
    first_frame: int
    width: int
    height: int
    engine: str
    seconds: float
    timings: dict[str, float]
    spatial_share: float
    notes: list[str]

    @property
    def last_frame(self) -> int:
        return self.first_frame + self.frames - 1

    @property
    def seconds_per_frame(self) -> float:
        return self.seconds / self.frames if self.frames else 0.0


@dataclass(frozen=True)
class StageReport:
    stage: Stage
    status: StageStatus  # succeeded, skipped (identical result on disk), provided
    seconds: float
    engine: str | None = None
    notes: tuple[str, ...] = ()
    where: str | None = None  # WorkerPlace.label of the process that ran (or skipped) it


@dataclass(frozen=True)
class ShotParts:
    """A long shot's inpaint work after its prepare step: the parts to run, where their files
    live, and what the whole EXR sequence's lineage needs (its identity and inputs)."""

    identity: str  # the whole sequence's identity digest (as an unsplit inpaint stage's)
    inputs: dict  # what that identity was made from (lineage's settings record)
    folder: Path  # OUT/.void-work/<shot>/parts/: prepare's files and the parts' stats
    first_frame: int  # the first EXR's frame number
    parts: tuple[ShotPart, ...]
    prepare: StageReport
    engine: tuple[str, str | None, dict | None]  # name, version, model checksums


def part_label(part: ShotPart) -> str:
    """`0001-0120`: a writing part's frames counted from 1 in the shot (task names, lineage,
    file names); a learning part's with its label before them: `motion-0001-0120`."""
    frames = f"{part.start + 1:04d}-{part.stop:04d}"
    return frames if part.writes else f"{part.label}-{frames}"


@dataclass(frozen=True)
class PartReport:
    """What one part did (its stage report); its stats are a file in `ShotParts.folder`."""

    index: int
    label: str
    report: StageReport


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
    qc_strip: Path | None = None
    reports: tuple[StageReport, ...] = ()
    result: ShotResult | None = None  # the frame loop's, when this process ran it
    parts: ShotParts | None = None  # a long shot's inpaint between its prepare and finish

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
        data = {k: plain(v) for k, v in asdict(self).items()
                if k not in ("plan", "reports", "result", "parts")}
        data["reports"] = [asdict(r) for r in self.reports]
        return data


@dataclass(frozen=True)
class ShotInputs:
    """The files of one shot. `mask` is None when the folder has clicks but no quadmask yet."""

    plate: Path
    mask: Path | None
    prompt: dict
    points: Path | None = None


@dataclass(frozen=True)
class ShotRequest:
    """Everything the frame loop needs; frozen so it can be recorded as is."""

    inputs: ShotInputs
    out_root: Path
    name: str
    start_frame: int | None = None
    engine: str = "classical"
    engine_settings: dict = field(default_factory=dict)
    refiner: str = "flow"
    compression: str = "zip"
    transfer: Transfer | None = None
    rate: Fraction | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    colour: ColourSpec = ColourSpec()


def work_dir(settings: RunSettings, plan: ShotPlan) -> Path:
    return naming.work_dir(settings.out_root, plan.name)
