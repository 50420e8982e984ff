"""The `cleanup-cutlist` Prefect flow: every shot of a cut list through its stages, on Ray.

    read cut list --> lineage run + one shot row per clip (and per unusable event)
      --> per shot, chained on Ray:  sh010 · ingest -> masking -> analysis -> inpaint -> qc
          (a long shot of a splitting engine: inpaint prepare -> inpaint 0001-0120, 0121-0240
          ... side by side on any worker -> inpaint finish; its QC likewise: qc prepare ->
          qc 0001-0120 ... -> qc finish)
      --> as shots finish: lineage shot status, progress artifact
      --> OUT/<cutlist>.conformed.otio, OUT/<cutlist>.summary.json (named after the cut-list
      file), table + QC artifacts (flows/qc_report.py: per-shot JPEG strips inline, time and
      place of every stage)

At most `max_shots_in_flight` shots run at once (default: all); a remote analyzer's stage holds
a slot of its Prefect global concurrency limit (flows/limits.py). A failing shot does not stop
the others; the flow ends Failed when any shot failed, with the summary either way. Parameters
are plain strings so a deployment (nightly schedule, event trigger) can fill them in.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import (
    create_markdown_artifact, create_progress_artifact, create_table_artifact,
    update_progress_artifact,
)
from prefect.runtime import flow_run
from prefect.states import Completed, Failed
from prefect_ray.context import remote_options

from flows.limits import ensure_api_limit
from flows.qc_report import qc_markdown, shot_rows
from flows.ray_runner import FarmRayTaskRunner
from tasks.engine_host import HOST_OF, Placement, host_report, place_stages, start_host
from tasks.shot_stages import (
    RAY_MAX_RETRIES, STAGE_TASKS, inpaint_finish_task, inpaint_part_task, inpaint_prepare_task,
    qc_finish_task, qc_part_task, qc_prepare_task,
)
from void_core.pipeline import stages
from void_core import naming
from void_core.errors import VoidFarmError
from void_core.lineage import open_store
from void_core.ownership import Claims
from void_core.pipeline.record import run_record
from void_core.preflight import EngineChoice, preflight
from void_core.vocabulary import STAGE_ORDER, RunKind, RunStatus, StageStatus

SUMMARY_SUFFIX = naming.SUMMARY_SUFFIX
CONFORMED_SUFFIX = naming.CONFORMED_SUFFIX
SECRET_SCHEME = "prefect-secret://"  # a `db` parameter naming a Prefect Secret block
CLAIM_POLL_SECONDS = 1.0  # how often a shot another run holds is tried again
SIGNAL_CHECK_SECONDS = 0.5  # the longest a stop signal waits while shots run on Ray


@dataclass
class ShotOutcome:
    name: str
    status: RunStatus  # succeeded or failed
    frames: int = 0
    seconds: float = 0.0
    out_dir: str | None = None
    preview: str | None = None
    contact_sheet: str | None = None
    strip: str | None = None  # the small JPEG the QC artifact embeds
    failed_stage: str | None = None
    error: str | None = None
    stages: dict[str, str] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    stage_where: dict[str, str] = field(default_factory=dict)  # stage -> host (node, GPU)
    notes: list[str] = field(default_factory=list)


def summary_from(state) -> dict | None:
    """The run summary a finished `cleanup-cutlist` state carries (top-level or subflow)."""
    data = getattr(state, "data", None)
    if not isinstance(data, dict):
        try:
            data = state.result(raise_on_failure=False)
        except Exception:  # a crashed run has no result to give
            return None
    return data if isinstance(data, dict) and "shots" in data else None


def _flow_run_name() -> str:
    return Path(str(flow_run.parameters.get("cutlist", "cutlist"))).stem


@flow(name="cleanup-cutlist", flow_run_name=_flow_run_name, task_runner=FarmRayTaskRunner(),
      log_prints=True)
def cleanup_cutlist(cutlist: str, out: str, media_root: str | None = None,
                    engine: str = "classical", engine_settings: dict | None = None,
                    refiner: str = "flow", masker: str = "classical", analyzer: str = "heuristic",
                    db: str | None = None, force: bool = False, rate: str | None = None,
                    resident: bool | None = None, masker_settings: dict | None = None,
                    analyzer_settings: dict | None = None, colour: dict | None = None,
                    ray_resources: dict | None = None, api_limits: dict | None = None,
                    max_shots_in_flight: int | None = None, qc_url: str | None = None,
                    chunk_frames: int | None = None):
    """Clean every shot of `cutlist`; EXRs, previews and a conformed OTIO go to `out`.
    `ray_resources`, `api_limits`, `qc_url`: the farm config's `[ray.resources]`, `[limits]`,
    `[qc] url`; `max_shots_in_flight`: how many shots may run at once (None: all);
    `chunk_frames`: a splitting engine's shots longer than this run their inpaint in parts
    on any worker (None: the engine's default, 0: never)."""
    logger = get_run_logger()
    db = _database_url(db)
    choice = EngineChoice(engine, engine_settings, refiner, masker, masker_settings, analyzer,
                          analyzer_settings, colour)
    # The same checks as `void-farm run`, for deployments that start the flow directly.
    checked = preflight(cutlist, out, choice, media_root=media_root, rate=rate, db=db)
    cut = checked.cutlist
    # The lineage URL is resolved once here: a worker must not fall back to a database of its own.
    settings = stages.RunSettings(run_id="", cutlist=cut.name, out_root=Path(out).resolve(),
                                  db_url=checked.lineage_url, force=force,
                                  chunk_frames=_checked_chunk(chunk_frames),
                                  **choice.as_parameters())
    store = open_store(settings.lineage_url)
    for gone in store.mark_abandoned():
        logger.warning("lineage run %s was abandoned (its process is gone): marked so", gone)
    run_id = store.start_run(cut.name, kind=RunKind.CUTLIST, prefect_flow_run_id=flow_run.id,
                             settings=_run_record(cut, settings))
    settings = replace(settings, run_id=run_id)
    plans = [replace(plan, shot_id=store.start_shot(
        run_id, plan.name, source_path=plan.media, frame_first=plan.first_frame,
        frame_last=plan.first_frame + plan.frame_count - 1, record_range=plan.record_range,
        rate=plan.rate)) for plan in map(stages.ShotPlan.from_spec, cut.shots)]
    outcomes = [_record_problem(store, run_id, index, problem)
                for index, problem in enumerate(cut.problems)]
    logger.info("%s: %d shot(s), %d unusable event(s); lineage run %s", cut.name, len(plans),
                len(cut.problems), run_id)

    hosts: dict = {}
    # The run's heartbeat (lineage) and its claims on the shots it works on.
    claims = Claims(run_id, on_beat=lambda: store.beat(run_id))
    try:
        placement = place_stages(settings, resident, ray_resources, _cluster_gpus())
        for keeper, joined in placement.also.items():
            logger.info("the cluster has fewer GPUs than resident GPU engines: the %s host also "
                        "runs %s (one GPU, one stage at a time)", keeper, ", ".join(joined))
        _warn_when_gpus_short(placement, logger)
        ensure_api_limit(analyzer, api_limits)
        # These handles keep the host actors (and their loaded models) alive for the run.
        hosts = {stage: start_host(settings, stage, placement.declared[stage],
                                   placement.also.get(stage, ()))
                 for stage in placement.hosts}
        outcomes += _run_chains(store, settings, plans, placement, cut.name, claims,
                                max_shots_in_flight)
        host_stats = {stage: host_report(host) for stage, host in hosts.items()} or None
    except BaseException as err:  # Ctrl-C, a lost driver: say so in lineage, then stop
        _abandon(store, run_id, plans, err)
        raise
    finally:
        hosts.clear()  # the last handles go: the actors exit and free their GPUs
        claims.close()

    otio_path = _write_conformed(cut, settings, outcomes)
    summary = _summary(cut, settings, outcomes, otio_path, host_stats)
    _publish_artifacts(cut.name, outcomes, summary, qc_url)
    failed = [o for o in outcomes if o.status != RunStatus.SUCCEEDED]
    store.finish_run(run_id, RunStatus.FAILED if failed else RunStatus.SUCCEEDED,
                     error=f"{len(failed)} of {len(outcomes)} shot(s) failed" if failed else None)
    store.close()
    if failed:
        return Failed(message=f"{len(failed)} of {len(outcomes)} shot(s) failed", data=summary)
    return Completed(message=f"{len(outcomes)} shot(s) clean", data=summary)


def _checked_chunk(chunk_frames: int | None) -> int | None:
    if chunk_frames is not None and (isinstance(chunk_frames, bool) or chunk_frames < 0):
        from void_core.errors import InputError

        raise InputError(None, f"chunk_frames {chunk_frames!r} is not a number of frames",
                         "give 0 (never split) or a part length such as 120")
    return chunk_frames


def _database_url(db: str | None) -> str | None:
    """The `db` parameter holds no password (Prefect stores parameters in clear): a masked URL
    (the password from the environment or a pgpass file) or `prefect-secret://BLOCK`, a Prefect
    Secret block holding the URL."""
    from void_core.lineage import resolve_parameter_url

    if db and db.startswith(SECRET_SCHEME):
        from prefect.blocks.system import Secret

        try:
            return str(Secret.load(db[len(SECRET_SCHEME):]).get())
        except ValueError as err:
            raise VoidFarmError(f"--db {db}: no such Prefect Secret block ({err}); create it "
                                "with prefect.blocks.system.Secret(value=URL).save(NAME)") from None
    return resolve_parameter_url(db)


def _abandon(store, run_id: str, plans: list, err: BaseException) -> None:
    """Close the run's open rows: a shot still running when the run stops is cancelled."""
    from void_core.lineage.db import LineageError

    from prefect.exceptions import TerminationSignal

    stopped = isinstance(err, KeyboardInterrupt | TerminationSignal)
    status = RunStatus.CANCELLED if stopped else RunStatus.FAILED
    reason = f"run stopped: {type(err).__name__}" + (f": {err}" if str(err) else "")
    store.close_open_stages(run_id, reason)
    for plan in plans:
        try:
            store.finish_shot(plan.shot_id, status, error=reason)
        except (LineageError, ValueError):
            continue  # the shot had already finished
    store.finish_run(run_id, status, error=reason)


def _run_record(cut, settings: stages.RunSettings) -> dict:
    return run_record(settings, cutlist=str(cut.path), format=cut.format)


def _record_problem(store, run_id: str, index: int, problem) -> ShotOutcome:
    """An event the cut list could not turn into a shot: a failed shot row with the reason."""
    name = f"event-{problem.event}" if problem.event is not None else f"problem-{index + 1}"
    shot_id = store.start_shot(run_id, name)
    store.finish_shot(shot_id, RunStatus.FAILED, error=str(problem))
    return ShotOutcome(name=name, status=RunStatus.FAILED, failed_stage="cutlist",
                       error=str(problem))


class _ShotChain:
    """One shot's walk through the stages: the flow submits a stage when the one before it has
    finished, handing on its result (a small ShotState), never a future. A future passed as an
    argument makes the downstream Ray worker fetch it itself, and a fetching worker counts as
    blocked: Ray then starts a fresh worker (seconds of imports) for the next task.

    A long shot of a splitting engine runs its inpaint as `inpaint prepare`, then one task per
    part (each submitted once prepare and the parts in its `after` are done; parts without
    `after` run side by side on any worker), then `inpaint finish`; its QC the same way."""

    def __init__(self, settings: stages.RunSettings, plan: stages.ShotPlan, placement: Placement):
        self.settings, self.plan, self.placement = settings, plan, placement
        self.outcome = ShotOutcome(name=plan.name, status=RunStatus.SUCCEEDED)
        self.index, self.future, self.state = 0, None, None
        self._previous = None
        self.parts: _PartRun | None = None

    @property
    def stage(self) -> str:
        return STAGE_ORDER[self.index]

    def start(self) -> list:
        """Submit the first stage; returns the futures to wait for."""
        return [self._submit_stage()]

    def _submit_stage(self):
        """Submit the current stage (a split inpaint: its prepare step); returns its future."""
        stage = self.stage
        if stage in PART_STEPS and stages.splits(self.settings, self.plan):
            self.parts = _PartRun(self, stage)
            self.future = self.parts.prepare(self._upstream())
            return self.future
        task = STAGE_TASKS[stage].with_options(task_run_name=f"{self.plan.name} · {stage}")
        arguments = (self.settings, self.plan if stage == "ingest" else self.state)
        extra = {"resident": stage in self.placement.forwarded} if stage in HOST_OF else {}
        self.future = self.submit_task(task, self.resources(stage), *arguments,
                                       wait_for=self._upstream(), **extra)
        return self.future

    def submit_task(self, task, resources: dict, *arguments, wait_for: list, **options):
        with remote_options(max_retries=RAY_MAX_RETRIES, retry_exceptions=False, **resources):
            return task.submit(*arguments, wait_for=wait_for, **options)

    def resources(self, stage: str) -> dict:
        return self.placement.task_resources.get(stage, {"num_cpus": 1})

    def _upstream(self) -> list:
        return [self._previous] if self._previous is not None else []

    def advance(self, future) -> list | None:
        """Take a finished task's result; returns the futures submitted next (empty: the shot
        still waits for others), None when the shot is done."""
        if self.parts is not None and future is not self.future:
            return self.parts.part_done(future)
        future.wait()
        final = future.state
        stage = self.stage
        if not final.is_completed():
            return self.fail(stage, _error_text(final))
        self.state = future.result()
        self._previous = future
        if self.parts is not None and self.state.report(stage) is None:
            return self.parts.prepared()  # the parts start; the stage ends with finish
        self.parts = None
        report = self.state.report(stage)
        self.outcome.stages[stage] = report.status
        self.index += 1
        if self.index == len(STAGE_ORDER):
            self._finish_outcome()
            return None
        return [self._submit_stage()]

    def fail(self, stage: str, error: str) -> None:
        self.outcome.status, self.outcome.failed_stage = RunStatus.FAILED, stage
        self.outcome.error = error
        self.outcome.stages[stage] = StageStatus.FAILED
        for later in STAGE_ORDER[self.index + 1:]:
            self.outcome.stages[later] = StageStatus.NOT_RUN
        self._finish_outcome()
        return None

    def _finish_outcome(self) -> None:
        state, outcome = self.state, self.outcome
        if state is None:
            return
        outcome.frames = state.frames
        outcome.seconds = round(sum(r.seconds for r in state.reports), 3)
        outcome.out_dir = str(state.exr_dir) if state.exr_dir else None
        outcome.preview = str(state.preview) if state.preview else None
        outcome.contact_sheet = str(state.contact_sheet) if state.contact_sheet else None
        outcome.strip = str(state.qc_strip) if state.qc_strip else None
        outcome.stage_seconds = {r.stage: round(r.seconds, 3) for r in state.reports}
        outcome.stage_where = {r.stage: r.where for r in state.reports if r.where}
        outcome.notes = [note for report in state.reports for note in report.notes]


# The tasks of a stage that runs in parts: prepare, part, finish.
PART_STEPS = {"inpaint": (inpaint_prepare_task, inpaint_part_task, inpaint_finish_task),
              "qc": (qc_prepare_task, qc_part_task, qc_finish_task)}


class _PartRun:
    """A long shot's inpaint (or QC) on the farm: `sh010 · inpaint prepare` -> `sh010 ·
    inpaint 0001-0120` ... -> `sh010 · inpaint finish`. Only ShotStates and small part reports
    travel; a part that fails (after its Prefect retry) fails the shot once the running parts
    end. Only the inpaint's steps go to a resident engine host."""

    def __init__(self, chain: _ShotChain, stage: str):
        self.chain, self.stage = chain, stage
        self.prepare_task, self.part_task, self.finish_task = PART_STEPS[stage]
        self.prepare_future = None
        self.futures: dict = {}  # part index -> future
        self.running: dict = {}  # future -> part index
        self.done: dict[int, stages.PartReport] = {}
        self.error: str | None = None

    def _name(self, step: str) -> str:
        return f"{self.chain.plan.name} · {self.stage} {step}"

    def _options(self) -> dict:
        if self.stage != "inpaint":
            return {}
        return {"resident": "inpaint" in self.chain.placement.forwarded}

    def prepare(self, upstream: list):
        chain = self.chain
        task = self.prepare_task.with_options(task_run_name=self._name("prepare"))
        self.prepare_future = chain.submit_task(task, chain.resources(self.stage), chain.settings,
                                                chain.state, wait_for=upstream, **self._options())
        return self.prepare_future

    def prepared(self) -> list:
        """Prepare is done (`chain.state.parts` holds the parts): submit those that can start."""
        return self._submit_ready()

    def _submit_ready(self) -> list:
        chain, parts = self.chain, self.chain.state.parts
        submitted = []
        for part in parts.parts:
            if part.index in self.futures or any(i not in self.done for i in part.after):
                continue
            task = self.part_task.with_options(task_run_name=self._name(stages.part_label(part)))
            waits = [self.prepare_future] + [self.futures[i] for i in part.after]
            future = chain.submit_task(task, chain.resources(self.stage), chain.settings,
                                       chain.state, part.index, wait_for=waits, **self._options())
            self.futures[part.index] = future
            self.running[future] = part.index
            submitted.append(future)
        return submitted

    def part_done(self, future) -> list | None:
        index = self.running.pop(future)
        future.wait()
        final = future.state
        if final.is_completed():
            self.done[index] = future.result()
        elif self.error is None:
            label = stages.part_label(self.chain.state.parts.parts[index])
            self.error = f"part {label}: {_error_text(final)}"
        if self.error is not None:
            return [] if self.running else self.chain.fail(self.stage, self.error)
        if len(self.done) < len(self.chain.state.parts.parts):
            return self._submit_ready()
        return [self._finish()]

    def _finish(self):
        chain = self.chain
        task = self.finish_task.with_options(task_run_name=self._name("finish"))
        reports = [self.done[index] for index in sorted(self.done)]
        chain.future = chain.submit_task(task, dict(stages.DEFAULT_TASK_RESOURCES),
                                         chain.settings, chain.state, reports,
                                         wait_for=list(self.futures.values()))
        return chain.future


def _cluster_gpus() -> float:
    import ray

    return ray.cluster_resources().get("GPU", 0)


def _warn_when_gpus_short(placement: Placement, logger) -> None:
    """Each resident GPU host holds its GPUs for the whole run; say so up front when the cluster
    has fewer than they need (the run then waits for an autoscaler to add GPU nodes)."""
    import ray

    wanted = placement.gpus_held()
    needed = sum(wanted.values())
    available = ray.cluster_resources().get("GPU", 0)
    if needed > available:
        held = ", ".join(f"{stage} {gpus:g}" for stage, gpus in wanted.items())
        logger.warning("the resident engines hold %g GPU(s) for the whole run (%s) but the Ray "
                       "cluster has %g now: the run waits until GPU nodes join; on a one-GPU "
                       "machine run one of them on the CPU or not resident (--no-resident)",
                       needed, held, available)


def _run_chains(store, settings: stages.RunSettings, plans: list, placement: Placement,
                cut_name: str, claims: Claims, max_in_flight: int | None = None) -> list[ShotOutcome]:
    """Every shot's stages, at most `max_in_flight` shots at once (None: all); record shots in
    lineage as they finish. A shot another live run holds waits until that run lets it go
    (then lineage has its work)."""
    total = max(len(plans), 1)
    progress = create_progress_artifact(0.0, key=_key(cut_name, "progress"),
                                        description=f"shots of {cut_name} finished")
    chains = [_ShotChain(settings, plan, placement) for plan in plans]
    waiting, running, told = list(chains), {}, set()  # running: Ray ref -> (chain, future)
    in_flight: set = set()  # chains started and not finished
    capacity = max_in_flight or len(chains)
    finished = 0
    while running or waiting:
        for chain in _claimed(claims, settings, waiting, told, capacity - len(in_flight)):
            waiting.remove(chain)
            in_flight.add(chain)
            running.update({future.wrapped_future: (chain, future) for future in chain.start()})
        if not running:
            time.sleep(CLAIM_POLL_SECONDS)
            continue
        ready = _wait_one(list(running), CLAIM_POLL_SECONDS if waiting else None)
        if not ready:
            continue
        chain, future = running.pop(ready[0])
        submitted = chain.advance(future)
        if submitted is not None:
            running.update({future.wrapped_future: (chain, future) for future in submitted})
            continue
        in_flight.discard(chain)
        finished += 1
        outcome = chain.outcome
        claims.release(naming.shot_lock(settings.out_root, chain.plan.name))
        store.finish_shot(chain.plan.shot_id, outcome.status, error=outcome.error)
        update_progress_artifact(progress, 100.0 * finished / total)
        get_run_logger().info("%s: %s%s", outcome.name, outcome.status,
                              f" at {outcome.failed_stage}: {outcome.error}" if outcome.error else "")
    return [chain.outcome for chain in chains]


def _wait_one(refs: list, timeout: float | None) -> list:
    """`ray.wait` for one ref, in short slices. Ray's wait passes only KeyboardInterrupt on from
    a signal handler: any other exception (Prefect's SIGTERM handler raises TerminationSignal)
    stays pending until a ref is ready, then surfaces as a SystemError. Short slices bound that
    delay, and the signal's own exception reaches Prefect (the run stops as on Ctrl-C)."""
    import ray

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            ready, _ = ray.wait(refs, num_returns=1, timeout=SIGNAL_CHECK_SECONDS)
        except SystemError as err:
            raised = err.__cause__
            if isinstance(raised, BaseException) and not isinstance(raised, Exception):
                raise raised from None
            raise
        if ready or (deadline is not None and time.monotonic() >= deadline):
            return ready


def _claimed(claims: Claims, settings: stages.RunSettings, waiting: list, told: set,
             room: int) -> list:
    """Up to `room` waiting chains whose shot this run could claim now (claimed only when they
    start); says once which shots wait for another run."""
    claimed = []
    for chain in waiting:
        if len(claimed) >= room:
            break
        holder = claims.try_claim(naming.shot_lock(settings.out_root, chain.plan.name))
        if holder is None:
            claimed.append(chain)
        elif chain.plan.name not in told:
            told.add(chain.plan.name)
            get_run_logger().warning("%s: held by %s; waiting for it", chain.plan.name,
                                     holder.describe())
    return claimed


def _error_text(state) -> str:
    try:
        error = state.result(raise_on_failure=False)
    except Exception as err:  # the result itself could not be retrieved (lost worker)
        error = err
    if isinstance(error, VoidFarmError):
        return str(error)
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}".splitlines()[0]
    return state.message or state.name


def _write_conformed(cut, settings: stages.RunSettings, outcomes: list[ShotOutcome]) -> Path | None:
    from void_core.cutlist.conform import CleanPlate, write_conformed_otio

    plates = {}
    for outcome in outcomes:
        if outcome.status != RunStatus.SUCCEEDED or not outcome.out_dir:
            continue
        spec = next(s for s in cut.shots if s.name == outcome.name)
        plates[outcome.name] = CleanPlate.for_shot(spec, Path(outcome.out_dir))
    path = naming.conformed_file(settings.out_root, cut.path)
    return write_conformed_otio(cut, plates, path, run_id=settings.run_id)


def _summary(cut, settings: stages.RunSettings, outcomes: list[ShotOutcome],
             otio_path: Path | None, host_stats: dict | None) -> dict:
    summary = {
        "cutlist": str(cut.path), "name": cut.name, "run_id": settings.run_id,
        "out": str(settings.out_root), "lineage": _masked_url(settings.lineage_url),
        "conformed_otio": str(otio_path) if otio_path else None,
        "succeeded": sum(o.status == RunStatus.SUCCEEDED for o in outcomes),
        "failed": sum(o.status != RunStatus.SUCCEEDED for o in outcomes),
        "shots": [o.__dict__ for o in outcomes],
    }
    if host_stats is not None:
        summary["engine_hosts"] = host_stats
    path = naming.summary_file(settings.out_root, cut.path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(summary, indent=2))
    os.replace(temporary, path)
    return summary


def _masked_url(url: str) -> str:
    from void_core.lineage import mask_url

    return mask_url(url)


def _publish_artifacts(cut_name: str, outcomes: list[ShotOutcome], summary: dict,
                       qc_url: str | None = None) -> None:
    create_table_artifact(shot_rows(outcomes), key=_key(cut_name, "shots"),
                          description=f"shots of {cut_name}: frames, seconds and node per stage")
    create_markdown_artifact(qc_markdown(cut_name, outcomes, summary, qc_url=qc_url),
                             key=_key(cut_name, "qc"), description=f"QC of {cut_name}")


def _key(cut_name: str, what: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", cut_name.lower()).strip("-") or "cutlist"
    return f"{slug}-{what}"


__all__ = ["CONFORMED_SUFFIX", "SUMMARY_SUFFIX", "ShotOutcome", "cleanup_cutlist", "summary_from"]
