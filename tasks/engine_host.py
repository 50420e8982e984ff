"""Engines that keep a model resident: one Ray actor per (run, stage) serves shot after shot.

Loading VOID's transformer takes tens of seconds, SAM2's a few, a local VLM's as much as
VOID's; an `EngineHost` creates its engine once, then runs that stage for every shot sent to
it. The actor asks Ray for the engine's resources (`num_gpus` for GPU engines), so on a
cluster it lands on a GPU node. The flow creates the hosts before it submits shots and holds
their handles for the run (the driver owns them, so they live exactly as long as the run); the
stage tasks find them by name.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import ray

from void_core import engines
from void_core.cpus import keep_to
from void_core.pipeline import stages
from void_core.config import RAY_AMOUNTS
from void_core.pipeline.state import ORCHESTRATOR_PLACE, WorkerPlace, gpu_label
from void_core.vocabulary import EngineKind

NAMESPACE = "void-farm"
RESIDENT_STAGES = ("masking", "analysis", "inpaint")
# Which host serves a stage: its own; the analysis stage of an analyzer without a model runs on
# the masking host when its segmenter segments the affected objects (sam2), so that model is
# loaded once and its GPU accounted for. An analyzer that loads a model (local-vlm) has a host
# of its own, which also builds the segmenter it needs.
HOST_OF = {"masking": "masking", "analysis": "masking", "inpaint": "inpaint"}


KIND_OF = {"masking": EngineKind.MASKING, "analysis": EngineKind.ANALYSIS,
           "inpaint": EngineKind.INPAINT}


def ray_task_cpus() -> float | None:
    """The CPUs Ray reserved for the running task or actor; None outside Ray or when it
    reserved none (a GPU host that declares no CPUs is not held to one)."""
    if not ray.is_initialized():
        return None
    return ray.get_runtime_context().get_assigned_resources().get("CPU") or None


def ray_worker_place() -> WorkerPlace | None:
    """This Ray worker's node and the GPUs Ray gave it; None outside Ray."""
    if not ray.is_initialized():
        return None
    context = ray.get_runtime_context()
    gpus = [str(device) for device in context.get_accelerator_ids().get("GPU", [])]
    return WorkerPlace(node_id=context.get_node_id(), gpu_name=gpu_label(gpus))


@contextmanager
def placed(task_run_id: str | None):
    """Around a stage call: lineage records the Prefect task run and where it ran; the
    libraries' threads keep to the CPUs Ray reserved for it (`void_core.cpus`)."""
    keep_to(ray_task_cpus())
    task_token = stages.ORCHESTRATOR_TASK_ID.set(task_run_id)
    place_token = ORCHESTRATOR_PLACE.set(ray_worker_place())
    try:
        yield
    finally:
        ORCHESTRATOR_PLACE.reset(place_token)
        stages.ORCHESTRATOR_TASK_ID.reset(task_token)


def stage_engine(stage: str, run_settings: stages.RunSettings):
    """This process's instance of the engine that does `stage` (built once, then reused)."""
    if stage == "inpaint":
        return engines.shared_engine(EngineKind.INPAINT, run_settings.engine,
                                     run_settings.engine_settings)
    if stage == "masking":
        return engines.shared_engine(EngineKind.MASKING, run_settings.masker,
                                     run_settings.masker_settings)
    if stage == "analysis":
        return engines.shared_engine(EngineKind.ANALYSIS, run_settings.analyzer,
                                     run_settings.analyzer_settings)
    raise ValueError(f"no resident engines for stage {stage!r}")


class EngineHost:
    """Holds one engine instance per stage it hosts (its own, and the stages in `also` when GPU
    hosts share one GPU: see `place_stages`); `run` runs a stage for a shot with its engine.
    An actor runs one call at a time, so engines sharing a host never use the GPU at once."""

    def __init__(self, stage: str, run_settings: stages.RunSettings, also: tuple[str, ...] = ()):
        self.stage = stage
        self.engines = {hosted: stage_engine(hosted, run_settings) for hosted in (stage, *also)}
        self.engine = self.engines[stage]
        self.served = dict.fromkeys(self.engines, 0)

    def run(self, stage: str, run_settings: stages.RunSettings, state: stages.ShotState,
            task_run_id: str | None = None) -> stages.ShotState:
        if stage in self.engines:
            engine = {"engine": self.engines[stage]}
        elif HOST_OF.get(stage) in self.engines:
            engine = {"segmenter": self.engines[HOST_OF[stage]]}
        else:
            raise ValueError(f"the {self.stage} host does not run the {stage} stage")
        with placed(task_run_id):
            result = stages.STAGES[stage](run_settings, state, **engine)
        if stage in self.served:
            self.served[stage] += 1
        return result

    def run_step(self, step: str, run_settings: stages.RunSettings, *args,
                 task_run_id: str | None = None):
        """A step of a long shot's inpaint in parts (prepare, one part) with its inpaint engine."""
        if "inpaint" not in self.engines:
            raise ValueError(f"the {self.stage} host does not run {step}")
        with placed(task_run_id):
            result = stages.INPAINT_STEPS[step](run_settings, *args,
                                                engine=self.engines["inpaint"])
        if step == "inpaint_prepare":
            self.served["inpaint"] += 1
        return result

    def stats(self) -> dict:
        report = self._stats(self.stage)
        shared = {stage: self._stats(stage) for stage in self.engines if stage != self.stage}
        return {**report, "also": shared} if shared else report

    def _stats(self, stage: str) -> dict:
        engine = self.engines[stage]
        return {"engine": engine.name, "shots_served": self.served[stage],
                "model_loads": engines.model_loads(KIND_OF[stage], engine)}


def host_name(run_settings: stages.RunSettings, stage: str) -> str:
    key = stages.digest_of([run_settings.run_id, stage, run_settings.engine,
                            run_settings.engine_settings, run_settings.masker,
                            run_settings.masker_settings])
    return f"{stage}-{key[7:19]}"


def engine_resources(stage: str, run_settings: stages.RunSettings) -> dict:
    """What the stage's engine asks Ray for: `resources()` if it declares them, else one CPU.
    An analyzer with a model that works with an object segmenter asks for both together."""
    own = engines.resources(KIND_OF[stage], stage_engine(stage, run_settings))
    if stage == "analysis" and analyzer_loads_models(run_settings) and \
            segments_objects(run_settings):
        own = together(own, engine_resources("masking", run_settings))
    return own


def together(first: dict, second: dict) -> dict:
    """Resources for two engines sharing one process and device: the larger of each amount."""
    merged = {key: max(first.get(key, 0), second.get(key, 0))
              for key in {*first, *second} if key != "resources"}
    mine, theirs = first.get("resources", {}), second.get("resources", {})
    custom = {name: max(mine.get(name, 0), theirs.get(name, 0)) for name in {*mine, *theirs}}
    return {**merged, "resources": custom} if custom else merged


def analyzer_loads_models(run_settings: stages.RunSettings) -> bool:
    """Whether the run's analyzer loads a model (declared in the engine table)."""
    return engines.entry(EngineKind.ANALYSIS, run_settings.analyzer).loads_models


def segments_objects(run_settings: stages.RunSettings) -> bool:
    """Whether the run's masker also segments the analysis' affected objects."""
    return engines.segments_objects(EngineKind.MASKING, run_settings.masker)


def is_resident(stage: str, run_settings: stages.RunSettings, resident: bool | None,
                declared: dict | None = None) -> bool:
    """GPU engines are resident by default; `resident` forces it either way. `declared`: the
    engine's resources when already known."""
    if stage not in RESIDENT_STAGES:
        return False
    if stage == "analysis" and not analyzer_loads_models(run_settings):
        return False  # heuristic, gemini: no model to keep
    if resident is not None:
        return resident
    declared = declared if declared is not None else engine_resources(stage, run_settings)
    return declared.get("num_gpus", 0) > 0


@dataclass(frozen=True)
class Placement:
    """Where a run's engine stages work and what they ask Ray for; decided once per run."""

    declared: dict[str, dict]  # each resident-capable stage's engine resources
    hosts: tuple[str, ...]  # stages with a resident host actor
    forwarded: frozenset[str]  # stages whose task sends the shot to a host
    task_resources: dict[str, dict]  # what each stage's task asks Ray for
    also: dict[str, tuple[str, ...]] = field(default_factory=dict)  # host -> stages it also hosts

    def gpus_held(self) -> dict[str, float]:
        """GPUs each host holds for the whole run (hosts of CPU engines are left out)."""
        return {stage: self.declared[stage].get("num_gpus", 0) for stage in self.hosts
                if self.declared[stage].get("num_gpus", 0)}


def place_stages(run_settings: stages.RunSettings, resident: bool | None,
                 configured: dict[str, dict] | None = None,
                 cluster_gpus: float | None = None) -> Placement:
    """Decide which stages get a resident host and every stage's Ray resources. The analysis
    stage works with the masker when it segments objects (sam2): then it asks for the masker's
    resources, or goes to the masking host when that is resident. `configured`: the farm's
    `[ray.resources]`, stage -> amounts; a stage named there asks for those custom resources
    instead of its engine's own (num_cpus/num_gpus given there win too). `cluster_gpus`: the
    GPUs the Ray cluster has (None: unknown); when the GPU hosts would hold more, they share
    one (`share_gpu_hosts`)."""
    configured = configured or {}
    declared = {stage: with_configured(engine_resources(stage, run_settings),
                                       configured.get(stage)) for stage in RESIDENT_STAGES}
    hosts = tuple(stage for stage in RESIDENT_STAGES
                  if is_resident(stage, run_settings, resident, declared[stage]))
    with_masker = segments_objects(run_settings)
    borrows_masker = with_masker and not analyzer_loads_models(run_settings)
    own = {stage: with_configured(dict(stages.DEFAULT_TASK_RESOURCES), configured.get(stage))
           for stage in stages.STAGE_ORDER}
    own.update(declared)
    if borrows_masker:
        own["analysis"] = with_configured(declared["masking"], configured.get("analysis"))
    forwarded = frozenset(stage for stage, host in HOST_OF.items()
                          if stage in hosts or (host in hosts and borrows_masker))
    task_resources = {stage: forwarding_resources(own[stage]) if stage in forwarded
                      else own[stage] for stage in stages.STAGE_ORDER}
    placement = Placement(declared, hosts, forwarded, task_resources)
    if cluster_gpus is not None and sum(placement.gpus_held().values()) > cluster_gpus:
        placement = share_gpu_hosts(placement)
    return placement


def share_gpu_hosts(placement: Placement) -> Placement:
    """Every GPU host's engines in one host (the last one's: inpaint, when it is on the GPU),
    holding the larger of each amount. Each GPU host holds its GPU for the whole run, so on a
    cluster with fewer GPUs than hosts (one GPU node: SAM2 and VOID) the second host would wait
    for a GPU the first never frees, and every shot with it."""
    gpu_hosts = [stage for stage in placement.hosts if placement.declared[stage].get("num_gpus")]
    if len(gpu_hosts) < 2:
        return placement
    keeper, joined = gpu_hosts[-1], tuple(gpu_hosts[:-1])
    merged = placement.declared[keeper]
    for stage in joined:
        merged = together(merged, placement.declared[stage])
    declared = {**placement.declared, keeper: merged}
    hosts = tuple(stage for stage in placement.hosts if stage not in joined)
    return replace(placement, declared=declared, hosts=hosts, also={keeper: joined})


def with_configured(declared: dict, amounts: dict | None) -> dict:
    """`declared` Ray options with a `[ray.resources]` entry applied: its num_cpus/num_gpus
    replace the declared ones, its other names replace the declared custom resources."""
    if amounts is None:
        return dict(declared)
    merged = {key: value for key, value in declared.items() if key != "resources"}
    merged.update({key: value for key, value in amounts.items() if key in RAY_AMOUNTS})
    custom = {key: value for key, value in amounts.items() if key not in RAY_AMOUNTS}
    if custom:
        merged["resources"] = custom
    return merged


def start_host(run_settings: stages.RunSettings, stage: str, declared: dict,
               also: tuple[str, ...] = ()):
    """Create the run's host actor for `stage` (its engines declaring `declared`; `also`: the
    other stages it hosts); call from the flow's driver and keep the handle."""
    actor = ray.remote(EngineHost).options(
        name=host_name(run_settings, stage), namespace=NAMESPACE, get_if_exists=True,
        max_restarts=1, max_task_retries=1, **host_resources(declared))
    return actor.remote(stage, run_settings, also)


def host_resources(declared: dict) -> dict:
    """What the host actor holds for the whole run. A GPU engine's host holds its GPU (and CPUs);
    a CPU engine's host holds no CPU, since the stage task that forwards each shot to it holds the
    CPU while the host works (see `forwarding_resources`). Otherwise two CPU hosts on a 2-CPU
    machine would hold every CPU and no stage task could start."""
    allowed = ("num_cpus", "num_gpus", "memory", "resources", "accelerator_type")
    held = {key: value for key, value in declared.items() if key in allowed}
    # Said out loud: an actor that names a resource but no CPUs holds one CPU for its life.
    held["num_cpus"] = held.get("num_cpus", 0) if held.get("num_gpus") else 0
    return held


def forwarding_resources(declared: dict) -> dict:
    """What a stage task asks for when it only forwards the shot to its host: a sliver of CPU
    when the host holds a GPU, else the engine's declared CPUs (the work is done on its behalf)."""
    if declared.get("num_gpus"):
        return {"num_cpus": 0.1}
    return {"num_cpus": declared.get("num_cpus", 1)}


def host_report(host) -> dict:
    """What the host did over the run (shots served, model loads), for the run's summary."""
    return ray.get(host.stats.remote())


def find_host(run_settings: stages.RunSettings, stage: str):
    return ray.get_actor(host_name(run_settings, stage), namespace=NAMESPACE)


def serving_host(run_settings: stages.RunSettings, stage: str):
    """The host that runs `stage`'s forwarded shots: its own, else the one `HOST_OF` names,
    else the host that took the GPU hosts' engines in (`share_gpu_hosts`)."""
    candidates = dict.fromkeys([stage, HOST_OF[stage], *reversed(RESIDENT_STAGES)])
    for candidate in candidates:
        try:
            return find_host(run_settings, candidate)
        except ValueError:  # no host of that name in this run
            continue
    raise ValueError(f"no engine host serves the {stage} stage of run {run_settings.run_id}")
