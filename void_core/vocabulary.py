"""The one vocabulary of stages, statuses and engine kinds.

The enums are `str`-valued: `Stage.INPAINT == "inpaint"`, so lineage rows, JSON summaries and
Prefect task names keep the very strings they always had.
"""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    """The stages a shot goes through, in order."""

    INGEST = "ingest"
    MASKING = "masking"
    ANALYSIS = "analysis"
    INPAINT = "inpaint"
    QC = "qc"


STAGE_ORDER: tuple[Stage, ...] = tuple(Stage)
# Stage names the lineage schema also accepts (its check constraint predates the pipeline:
# refinement and the EXR write run inside the inpaint stage).
LINEAGE_ONLY_STAGES = ("refine", "write")


class EngineKind(StrEnum):
    """What an engine does; also the config file's section names (`[masking.sam2]`)."""

    INPAINT = "inpaint"
    MASKING = "masking"
    ANALYSIS = "analysis"
    REFINE = "refine"


class RunKind(StrEnum):
    SHOT = "shot"
    CUTLIST = "cutlist"


class RunStatus(StrEnum):
    """A run's or a shot's status in lineage."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"  # its process went away without closing it (SIGKILL, power loss)


class StageStatus(StrEnum):
    """A stage's status; the first four are recorded in lineage, the rest only reported."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # an identical result was already on disk
    PROVIDED = "provided"  # the shot brought this stage's output (a quadmask beside the plate)
    NOT_RUN = "not run"  # an earlier stage failed
    ABANDONED = "abandoned"  # its run's process went away mid-stage


LINEAGE_STAGE_STATUSES = (StageStatus.RUNNING, StageStatus.SUCCEEDED, StageStatus.FAILED,
                          StageStatus.SKIPPED, StageStatus.ABANDONED)
