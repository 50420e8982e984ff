"""Engines that keep a model resident: one Ray actor per (engine, settings) serves shot after shot.

Loading VOID's transformer takes tens of seconds; an `EngineHost` loads its engine once, then
runs the inpaint stage of every shot sent to it. The actor asks Ray for the engine's resources
(`num_gpus` for GPU engines), so on a cluster it lands on a GPU node. The flow creates the hosts
before it submits shots (the flow's driver owns them, so they live exactly as long as the run) and
the inpaint tasks find them by name.
"""

from __future__ import annotations

import ray

from void_core import stages
from void_core.inpaint import create_inpainter

NAMESPACE = "void-farm"


class EngineHost:
    """Holds one inpainting engine instance; `inpaint` runs a shot's inpaint stage with it."""

    def __init__(self, engine: str, settings: dict):
        self.engine = create_inpainter(engine, **settings)
        self.shots_served = 0

    def inpaint(self, run_settings: stages.RunSettings, state: stages.ShotState,
                task_run_id: str | None = None) -> stages.ShotState:
        token = stages.ORCHESTRATOR_TASK_ID.set(task_run_id)
        try:
            result = stages.inpaint(run_settings, state, engine=self.engine)
        finally:
            stages.ORCHESTRATOR_TASK_ID.reset(token)
        self.shots_served += 1
        return result

    def stats(self) -> dict:
        return {"engine": self.engine.name, "shots_served": self.shots_served,
                "model_loads": getattr(self.engine, "load_count", 1)}


def host_name(run_settings: stages.RunSettings) -> str:
    key = stages.digest_of([run_settings.run_id, run_settings.engine, run_settings.engine_settings])
    return f"engine-{run_settings.engine}-{key[7:19]}"


def engine_resources(engine_name: str, settings: dict) -> dict:
    """What the engine asks Ray for: `resources()` if it declares them, else one CPU."""
    engine = create_inpainter(engine_name, **settings)
    declared = getattr(engine, "resources", None)
    return dict(declared()) if callable(declared) else {"num_cpus": 1}


def is_resident(engine_name: str, settings: dict, resident: bool | None) -> bool:
    """GPU engines are resident by default; `resident` forces it either way."""
    if resident is not None:
        return resident
    return engine_resources(engine_name, settings).get("num_gpus", 0) > 0


def start_host(run_settings: stages.RunSettings):
    """Create (or find) the run's host actor; call from the flow's driver."""
    resources = engine_resources(run_settings.engine, run_settings.engine_settings)
    actor = ray.remote(EngineHost).options(
        name=host_name(run_settings), namespace=NAMESPACE, get_if_exists=True,
        max_restarts=1, max_task_retries=1, **_actor_resources(resources))
    return actor.remote(run_settings.engine, run_settings.engine_settings)


def host_report(host) -> dict:
    """What the host did over the run (shots served, model loads), for the run's summary."""
    return ray.get(host.stats.remote())


def find_host(run_settings: stages.RunSettings):
    return ray.get_actor(host_name(run_settings), namespace=NAMESPACE)


def _actor_resources(resources: dict) -> dict:
    allowed = ("num_cpus", "num_gpus", "memory", "resources", "accelerator_type")
    return {key: value for key, value in resources.items() if key in allowed}
