"""The shot stages as Prefect tasks: thin wrappers over `void_core.pipeline.stages`.

Retries have one owner per kind of failure:
- Ray owns lost workers (a killed process, an OOM kill, a node gone): the flow submits every
  stage with Ray `max_retries` and `retry_exceptions=False`, so Ray re-executes the task on
  another worker and application exceptions are never retried twice.
- Prefect owns application errors: one retry after a short delay for unexpected exceptions
  (storage hiccups, a flaky network mount) and for errors marked `retryable` (a remote model out
  of quota); none for other `VoidFarmError`s, which describe bad input (missing media, a mask of
  the wrong size) that a retry would only repeat.
Stages are idempotent (identity digests, atomic EXR writes), so a retried stage either redoes
its work or finds it done.

An analysis stage whose analyzer calls a remote service with a quota (gemini) holds a slot of
that service's Prefect global concurrency limit (`gemini-api`) while it works, across every run
on the Prefect server; the flow creates the limit before the first shot.
"""

from __future__ import annotations

from contextlib import contextmanager

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext

from void_core import engines
from void_core.pipeline import stages
from void_core.errors import VoidFarmError
from void_core.vocabulary import EngineKind

APP_RETRIES = 1
APP_RETRY_DELAY_SECONDS = 2.0
RAY_MAX_RETRIES = 2


def retry_unless_bad_input(task, task_run, state) -> bool:
    """Prefect retry condition: retry unexpected errors, never a user-facing input error."""
    try:
        state.result()
    except VoidFarmError as err:
        return bool(getattr(err, "retryable", False))  # e.g. a remote model out of quota
    except BaseException:
        return True
    return False


def _stage_options(name: str) -> dict:
    return dict(name=name, retries=APP_RETRIES, retry_delay_seconds=APP_RETRY_DELAY_SECONDS,
                retry_condition_fn=retry_unless_bad_input, cache_policy=NO_CACHE,
                persist_result=False)


def _run(stage: str, settings: stages.RunSettings, state: stages.ShotState) -> stages.ShotState:
    from tasks.engine_host import placed

    with placed(_task_run_id()):
        return stages.STAGES[stage](settings, state)


def _task_run_id() -> str | None:
    context = TaskRunContext.get()
    return str(context.task_run.id) if context and context.task_run else None


@task(**_stage_options("ingest"))
def ingest_task(settings: stages.RunSettings, plan: stages.ShotPlan) -> stages.ShotState:
    return _run("ingest", settings, stages.ShotState(plan=plan))


@task(**_stage_options("masking"))
def masking_task(settings: stages.RunSettings, state: stages.ShotState,
                 resident: bool = False) -> stages.ShotState:
    """The object's mask; with `resident`, sent to the run's masking host (SAM2 loaded once)."""
    return _on_host("masking", settings, state) if resident else _run("masking", settings, state)


@task(**_stage_options("analysis"))
def analysis_task(settings: stages.RunSettings, state: stages.ShotState,
                  resident: bool = False) -> stages.ShotState:
    """What the object affected; with `resident`, on the run's analysis host (a local VLM
    loaded once), or on the masking host, whose segmenter (sam2) also segments the affected
    objects. Holds an API slot while a remote analyzer works."""
    with api_slot(settings):
        if resident:
            return _on_host("analysis", settings, state)
        return _run("analysis", settings, state)


@contextmanager
def api_slot(settings: stages.RunSettings):
    """A slot of the analyzer's global concurrency limit (none for a local analyzer); waits
    while every slot is taken. The limit must exist (`ensure_api_limits`)."""
    limit = engines.external_api(EngineKind.ANALYSIS, settings.analyzer)
    if limit is None:
        yield
        return
    from prefect.concurrency.sync import concurrency

    # A lease that fails to renew must not kill a long call that already holds the slot.
    with concurrency(limit, occupy=1, strict=True, raise_on_lease_renewal_failure=False):
        yield


@task(**_stage_options("inpaint"))
def inpaint_task(settings: stages.RunSettings, state: stages.ShotState,
                 resident: bool = False) -> stages.ShotState:
    """The fill; with `resident`, sent to the run's engine host actor (model loaded once)."""
    return _on_host("inpaint", settings, state) if resident else _run("inpaint", settings, state)


def _on_host(stage: str, settings: stages.RunSettings, state: stages.ShotState) -> stages.ShotState:
    import ray

    from tasks.engine_host import serving_host

    host = serving_host(settings, stage)
    return ray.get(host.run.remote(stage, settings, state, _task_run_id()))


# A long shot's inpaint in parts (a splitting engine, a shot longer than its chunk): prepare
# once, then one task per part on any worker, then finish. A part that fails is retried alone.


@task(**_stage_options("inpaint prepare"))
def inpaint_prepare_task(settings: stages.RunSettings, state: stages.ShotState,
                         resident: bool = False) -> stages.ShotState:
    """The whole-shot step before the parts; with `resident`, on the run's inpaint host."""
    return _step("inpaint_prepare", resident, settings, state)


@task(**_stage_options("inpaint part"))
def inpaint_part_task(settings: stages.RunSettings, state: stages.ShotState, index: int,
                      resident: bool = False) -> stages.PartReport:
    """Part `index` of the shot's inpaint; with `resident`, on the run's inpaint host."""
    return _step("inpaint_part", resident, settings, state, index)


@task(**_stage_options("inpaint finish"))
def inpaint_finish_task(settings: stages.RunSettings, state: stages.ShotState,
                        done: list[stages.PartReport]) -> stages.ShotState:
    """Every part's stats merged, the whole sequence recorded (no engine loaded)."""
    return _step("inpaint_finish", False, settings, state, done)


def _step(step: str, resident: bool, settings: stages.RunSettings, *args):
    from tasks.engine_host import placed

    if resident:
        import ray

        from tasks.engine_host import serving_host

        host = serving_host(settings, "inpaint")
        return ray.get(host.run_step.remote(step, settings, *args, task_run_id=_task_run_id()))
    with placed(_task_run_id()):
        return {**stages.INPAINT_STEPS, **stages.QC_STEPS}[step](settings, *args)


@task(**_stage_options("qc"))
def qc_task(settings: stages.RunSettings, state: stages.ShotState) -> stages.ShotState:
    return _run("qc", settings, state)


# A long shot's QC in parts (its inpaint was split): prepare (or skip the whole at once), one
# task per part (a preview segment and its sampled rows), then finish (the segments joined).


@task(**_stage_options("qc prepare"))
def qc_prepare_task(settings: stages.RunSettings, state: stages.ShotState) -> stages.ShotState:
    """The QC's parts, or the stage skipped when lineage holds its files intact."""
    return _step("qc_prepare", False, settings, state)


@task(**_stage_options("qc part"))
def qc_part_task(settings: stages.RunSettings, state: stages.ShotState,
                 index: int) -> stages.PartReport:
    """Part `index` of the shot's QC: its preview segment and sampled rows."""
    return _step("qc_part", False, settings, state, index)


@task(**_stage_options("qc finish"))
def qc_finish_task(settings: stages.RunSettings, state: stages.ShotState,
                   done: list[stages.PartReport]) -> stages.ShotState:
    """The segments joined into the preview, the rows into the sheet and strip."""
    return _step("qc_finish", False, settings, state, done)


STAGE_TASKS = {"ingest": ingest_task, "masking": masking_task, "analysis": analysis_task,
               "inpaint": inpaint_task, "qc": qc_task}
