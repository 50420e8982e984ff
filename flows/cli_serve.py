"""`void-farm serve`: the nightly schedule and the drop-folder trigger, served by this process.

Serves two Prefect deployments and runs a folder watcher beside them:
- `<name>-nightly` (cron, default 02:00): `cleanup-drop-folder` over the watched folder;
- `<name>-on-landing`: `cleanup-landed-cutlist`, started by a deployment trigger on the
  `void-farm.cutlist.landed` event that the watcher emits when a cut list lands.
Schedules need a real Prefect server (`prefect server start`, PREFECT_API_URL); without one the
embedded API still runs the triggered deployment but nothing fires on the clock (see docs/deploy.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from flows._cli_common import handled_errors, stderr


def serve_command(
    watch: Annotated[Path, typer.Option(help="Drop folder editors put cut lists in.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output root for every run.")],
    media_root: Annotated[Path | None, typer.Option(
        help="Folder searched for media (default: beside each cut list).", show_default=False)] = None,
    cron: Annotated[str, typer.Option(help='Nightly schedule, cron syntax ("0 2 * * *").')] = "0 2 * * *",
    engine: Annotated[str, typer.Option(help="Inpainting engine (classical, void).")] = "classical",
    masker: Annotated[str, typer.Option(help="Click segmenter (classical, sam2).")] = "classical",
    analyzer: Annotated[str, typer.Option(
        help="What-it-caused analyzer (heuristic, gemini, local-vlm).")] = "heuristic",
    model_dir: Annotated[Path | None, typer.Option(
        help="Model folder for --engine void.", show_default=False)] = None,
    db: Annotated[str | None, typer.Option(
        help="Lineage database URL (default: $VOID_FARM_DB, else OUT/void-farm-lineage.db).",
        show_default=False)] = None,
    ray_address: Annotated[str | None, typer.Option(
        help="Ray cluster to attach to (default: $RAY_ADDRESS, else a local Ray).",
        show_default=False)] = None,
    ray_cpus: Annotated[int | None, typer.Option(help="CPUs of the local Ray (default: all).",
                                                 show_default=False)] = None,
    poll_seconds: Annotated[float, typer.Option(help="How often the watcher looks (seconds).")] = 5.0,
    name: Annotated[str, typer.Option(help="Deployment name prefix.")] = "void-farm",
    config: Annotated[Path | None, typer.Option(
        help="Settings file, TOML: engine settings, [ray.resources], [limits], [qc] url "
             "(default: $VOID_FARM_CONFIG).", show_default=False)] = None,
    max_shots_in_flight: Annotated[int | None, typer.Option(
        min=1, help="Each run runs at most N shots at once (default: all).",
        show_default=False)] = None,
    qc_url: Annotated[str | None, typer.Option(
        help="Base URL where OUT is served over HTTP (QC links).", show_default=False)] = None,
    chunk_frames: Annotated[int | None, typer.Option(
        min=0, help="Split a shot longer than N frames into parts that run on any worker "
                    "(engines that split shots: classical, 120 by default; void, 197: its "
                    "windows; config [inpaint] chunk_frames; 0: never).", show_default=False)] = None,
) -> None:
    """Serve the nightly cleanup and start a run whenever a cut list lands in the drop folder."""
    from flows.cli_run import farm_parameters, prepare_prefect_environment
    from void_core.errors import InputError
    from void_core.lineage import open_store, parameter_url
    from void_core.preflight import check_ray_address, choose_engines, lineage_url

    with handled_errors():
        if not watch.is_dir():
            raise InputError(watch, "drop folder not found", "create it or point --watch at it")
        out.mkdir(parents=True, exist_ok=True)
        url = lineage_url(out, db)
        open_store(url).close()
        check_ray_address(ray_address)
        choice = choose_engines(config, engine, masker, analyzer, model_dir)
        options = farm_parameters(config, qc_url=qc_url, max_shots_in_flight=max_shots_in_flight,
                                  chunk_frames=chunk_frames)
        options.update(engine_options(choice))
        prepare_prefect_environment()
        os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "2")
        _share_ray(ray_address, ray_cpus)
        # Deployment parameters are stored in clear: the password stays in this process's
        # environment, which the flow-run subprocesses inherit.
        parameters = {"out": str(out.resolve()), "engine": engine, "db": parameter_url(url),
                      "media_root": str(media_root.resolve()) if media_root else None,
                      "engine_settings": choice.engine_settings or {}, "options": options}
        _serve(watch.resolve(), cron, poll_seconds, name, parameters)


def engine_options(choice) -> dict:
    """The masker, analyzer and colour a served run uses, as `cleanup-cutlist` parameters (the
    inpainting engine has parameters of its own in the deployments)."""
    chosen = choice.as_parameters()
    return {key: chosen[key] for key in ("masker", "masker_settings", "analyzer",
                                         "analyzer_settings", "colour")}


def _share_ray(address: str | None, cpus: int | None) -> None:
    """Flow runs are subprocesses: start (or attach to) Ray here and let them attach to it."""
    import ray

    from flows.ray_runner import connect_ray

    connect_ray(address, num_cpus=cpus)
    os.environ["RAY_ADDRESS"] = address or ray.get_runtime_context().gcs_address


def _serve(watch: Path, cron: str, poll_seconds: float, name: str, parameters: dict) -> None:
    from prefect import serve
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    from flows.drop_folder import (
        EVENT, RESOURCE_PREFIX, CutListWatcher, cleanup_drop_folder, cleanup_landed_cutlist,
        emit_landed,
    )

    nightly = cleanup_drop_folder.to_deployment(
        name=f"{name}-nightly", cron=cron, parameters={"folder": str(watch), **parameters})
    trigger = DeploymentEventTrigger(
        expect={EVENT}, match={"prefect.resource.id": f"{RESOURCE_PREFIX}*"},
        parameters={"cutlist": "{{ event.payload.path }}", **parameters})
    on_landing = cleanup_landed_cutlist.to_deployment(
        name=f"{name}-on-landing", triggers=[trigger], parameters=parameters)
    watcher = CutListWatcher(watch, emit_landed, poll_seconds=poll_seconds)
    watcher.start()
    stderr.print(f"watching {watch} (every {poll_seconds:g} s); nightly run: {cron}; "
                 f"results in {parameters['out']}. Ctrl-C stops.")
    try:
        serve(nightly, on_landing)
    finally:
        watcher.stop()
