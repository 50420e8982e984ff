"""`void-farm run CUTLIST`: the orchestrated run, from the command line.

Everything that can be checked cheaply is checked before Prefect and Ray start
(`void_core.preflight`: the cut list parses, the engines and their settings exist, the Ray
address is well formed, the lineage database answers), so a typo costs a second, not the half
minute of bringing up the Prefect API and a Ray cluster. The flow runs the same checks again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flows._cli_common import handled_errors, stderr, stdout, terminate_as_interrupt
from void_core.lineage.db import parameter_url
from void_core.preflight import choose_engines, preflight

# Prefect reads these at import: set them before anything imports it.
PREFECT_DEFAULTS = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}


def prepare_prefect_environment() -> None:
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)


def run_command(
    cutlist: Annotated[Path, typer.Argument(help="EDL, OTIO (.otio/.otioz/.otiod) or FCP 7 XML.",
                                            show_default=False, metavar="CUTLIST")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output root: OUT/<shot>/<shot>.<frame>.exr, "
                                      "OUT/qc/, OUT/<cutlist>.conformed.otio.")],
    media_root: Annotated[Path | None, typer.Option(
        help="Folder searched for the clips' media (default: beside the cut list).",
        show_default=False)] = None,
    engine: Annotated[str, typer.Option(help="Inpainting engine (classical, void).")] = "classical",
    model_dir: Annotated[Path | None, typer.Option(
        help="Model folder for --engine void (see `void-farm models`).", show_default=False)] = None,
    refiner: Annotated[str, typer.Option(
        help="Refinement (flow, none; void-pass2 with --engine void).")] = "flow",
    masker: Annotated[str, typer.Option(
        help="Masking engine for clicks (classical, sam2: checkpoint from --config).")] = "classical",
    analyzer: Annotated[str, typer.Option(
        help="Analysis engine (heuristic, gemini: needs GEMINI_API_KEY, "
             "local-vlm: model_dir from --config).")] = "heuristic",
    db: Annotated[str | None, typer.Option(
        help="Lineage database URL (default: $VOID_FARM_DB, else OUT/void-farm-lineage.db).",
        show_default=False)] = None,
    ray_address: Annotated[str | None, typer.Option(
        help="Ray cluster to attach to, HOST:PORT or ray://HOST:10001 (default: $RAY_ADDRESS, "
             "else a local Ray on this machine's CPUs).", show_default=False)] = None,
    ray_cpus: Annotated[int | None, typer.Option(
        help="CPUs of the local Ray (default: all).", show_default=False)] = None,
    rate: Annotated[str | None, typer.Option(
        help="Frame rate when the cut list has none (EDL), e.g. 24000/1001.",
        show_default=False)] = None,
    config: Annotated[Path | None, typer.Option(
        help="Engine settings file, TOML: model paths and options per engine (default: "
             "$VOID_FARM_CONFIG).", show_default=False)] = None,
    colorspace: Annotated[str | None, typer.Option(
        help="Every plate's OCIO colour space unless its clip's \"void\" metadata names one "
             "(default: [colour] input_colorspace, else by plate kind; `void-farm colour list`).",
        show_default=False)] = None,
    resident: Annotated[bool | None, typer.Option(
        "--resident/--no-resident",
        help="Keep each engine's model loaded in one Ray actor for the whole run (default: "
             "GPU engines only). --no-resident loads per shot, sharing one GPU between stages.",
        show_default=False)] = None,
    force: Annotated[bool, typer.Option(help="Redo every stage even when lineage shows it done.")] = False,
    max_shots_in_flight: Annotated[int | None, typer.Option(
        min=1, help="Run at most N shots at once, so one reel cannot fill the farm "
                    "(default: all).", show_default=False)] = None,
    qc_url: Annotated[str | None, typer.Option(
        help="Base URL where OUT is served over HTTP: QC links become BASE/qc/... (default: "
             "the config's [qc] url, else file:// links).", show_default=False)] = None,
    chunk_frames: Annotated[int | None, typer.Option(
        min=0, help="Split a shot longer than N frames into parts that run on any worker "
                    "(engines that split shots: classical, 120 by default; void, 197: its "
                    "windows; config [inpaint] chunk_frames; 0: never).", show_default=False)] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the run summary as JSON.")] = False,
) -> None:
    """Clean every shot of a cut list: a Prefect flow whose shot stages run on Ray.

    Exit status 0 only when every shot succeeded. Rerunning skips what lineage shows done.
    """
    with handled_errors():
        choice = choose_engines(config, engine, masker, analyzer, model_dir, refiner, colorspace)
        farm = farm_parameters(config, qc_url=qc_url, max_shots_in_flight=max_shots_in_flight,
                               chunk_frames=chunk_frames)
        checked = preflight(cutlist, out, choice, media_root=media_root, rate=rate, db=db,
                            ray_address=ray_address)
        summary = execute(cutlist, out, media_root=media_root,
                          db=parameter_url(checked.lineage_url),
                          force=force, rate=rate, resident=resident, ray_address=ray_address,
                          ray_cpus=ray_cpus, **choice.as_parameters(), **farm)
        if json_output:
            stdout.print_json(json.dumps(summary))
        else:
            print_summary(summary)
        if summary["failed"]:
            raise typer.Exit(1)


def farm_parameters(config: Path | None, *, qc_url: str | None = None,
                    max_shots_in_flight: int | None = None,
                    chunk_frames: int | None = None) -> dict:
    """The flow's farm parameters: the config's [ray.resources], [limits], [qc] url and
    [inpaint] chunk_frames, the command line winning."""
    from void_core.config import load_engine_config

    farm = load_engine_config(config).farm
    if qc_url is not None and not qc_url.startswith(("http://", "https://")):
        from void_core.errors import InputError

        raise InputError(None, f"--qc-url {qc_url!r} is not an http(s) URL",
                         "give the URL OUT is served at, e.g. https://farm-web/cleanup")
    return {"ray_resources": farm.ray_resources, "api_limits": farm.api_limits,
            "qc_url": qc_url or farm.qc_url, "max_shots_in_flight": max_shots_in_flight,
            "chunk_frames": farm.chunk_frames if chunk_frames is None else chunk_frames}


def execute(cutlist: Path, out: Path, *, ray_address: str | None = None,
            ray_cpus: int | None = None, **parameters) -> dict:
    """Run the flow in this process; return its summary (also in OUT/<cutlist>.summary.json)."""
    prepare_prefect_environment()
    from flows.cutlist_flow import cleanup_cutlist
    from flows.prefect_server import embedded_prefect_server
    from flows.ray_runner import FarmRayTaskRunner, connect_ray

    stderr.print("starting Ray and the Prefect API (first start takes a while) ...")
    parameters = {key: (str(value) if isinstance(value, Path) else value)
                  for key, value in parameters.items()}
    with embedded_prefect_server():
        connect_ray(ray_address, num_cpus=ray_cpus)
        flow = cleanup_cutlist.with_options(
            task_runner=FarmRayTaskRunner(address=ray_address, num_cpus=ray_cpus))
        # After ray.init, which installs a SIGTERM handler of its own (exit 15).
        with terminate_as_interrupt():
            state = flow(cutlist=str(cutlist.resolve()), out=str(out.resolve()),
                         return_state=True, **parameters)
    return _summary_of(state, cutlist, out)


def _summary_of(state, cutlist: Path, out: Path) -> dict:
    from void_core import naming
    from void_core.errors import VoidFarmError

    from flows.cutlist_flow import summary_from

    summary = summary_from(state)
    if summary is not None:
        return summary
    try:
        error = state.result(raise_on_failure=False)
    except Exception:  # the flow crashed before it could report; say why below
        error = None
    if isinstance(error, VoidFarmError):
        raise error
    summary_file = naming.summary_file(out, cutlist)
    raise VoidFarmError(f"the run of {cutlist} ended {state.type.value.lower()}: "
                        f"{state.message or 'no summary'} (see the Prefect logs; "
                        f"no {summary_file} written)")


def print_summary(summary: dict) -> None:
    table = Table(title=f"{summary['name']}: {summary['succeeded']} clean, {summary['failed']} failed")
    for column in ("shot", "status", "frames", "seconds", "output / error"):
        table.add_column(column, justify="right" if column in ("frames", "seconds") else "left")
    for shot in summary["shots"]:
        where = shot["out_dir"] or f"{shot['failed_stage']}: {shot['error']}"
        status = shot["status"] + (" (reused)" if _all_skipped(shot) else "")
        table.add_row(shot["name"], status, str(shot["frames"]), f"{shot['seconds']:.1f}", where)
    stdout.print(table)
    stderr.print(f"conformed timeline: {summary['conformed_otio']}")
    stderr.print(f"lineage: {summary['lineage']} (run {summary['run_id']}; "
                 f"`void-farm lineage SHOT --db URL`)")


def _all_skipped(shot: dict) -> bool:
    statuses = [s for s in shot.get("stages", {}).values() if s != "provided"]
    return bool(statuses) and all(s == "skipped" for s in statuses)
