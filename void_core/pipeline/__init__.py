"""The one way a shot runs, whichever command starts it.

    state   run settings, the shot plan, the shot's state, stage reports (plain, picklable data)
    stages  ingest -> masking -> analysis -> inpaint -> qc, each `(settings, state) -> state`
    record  identity digests, lineage stage runs and skips, a one-shot run's rows
    render  the frame loop (decode -> fill -> refine -> composite) and the EXR writer
    folder  a VOID-layout shot folder as a one-shot plan (`void-farm shot`)

`void-farm shot` runs a one-shot plan through `stages.run_shot` in-process; `void-farm run` runs
every shot of a cut list through the same stage functions as Prefect tasks on Ray.
"""

from void_core.pipeline.folder import folder_plan, resolve_shot_folder
from void_core.pipeline.record import one_shot_run, shot_identity
from void_core.pipeline.render import (
    check_shot_name, process_shot, result_record, summary_line,
)
from void_core.pipeline.stages import STAGES, check_plan, run_shot
from void_core.pipeline.state import (
    ORCHESTRATOR_TASK_ID, RunSettings, ShotInputs, ShotPlan, ShotRequest, ShotResult, ShotState,
    StageReport,
)

__all__ = [
    "ORCHESTRATOR_TASK_ID", "STAGES", "RunSettings", "ShotInputs", "ShotPlan", "ShotRequest",
    "ShotResult", "ShotState", "StageReport", "check_plan", "check_shot_name",
    "folder_plan", "one_shot_run", "process_shot", "resolve_shot_folder", "result_record",
    "run_shot", "shot_identity", "summary_line",
]
