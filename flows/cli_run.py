"""`void-farm run CUTLIST`: the orchestrated run, from the command line.

Everything that can be checked cheaply is checked before Prefect and Ray start (the cut list
parses, the output folder is usable, the lineage database answers, the engine names exist), so a
typo costs a second, not the half minute of bringing up the Prefect API and a Ray cluster.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flows._cli_common import handled_errors, stderr, stdout

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
        help="Analysis engine (heuristic, gemini: needs GEMINI_API_KEY).")] = "heuristic",
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
    resident: Annotated[bool | None, typer.Option(
        "--resident/--no-resident",
        help="Keep each engine's model loaded in one Ray actor for the whole run (default: "
             "GPU engines only). --no-resident loads per shot, sharing one GPU between stages.",
        show_default=False)] = None,
    force: Annotated[bool, typer.Option(help="Redo every stage even when lineage shows it done.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the run summary as JSON.")] = False,
) -> None:
    """Clean every shot of a cut list: a Prefect flow whose shot stages run on Ray.

    Exit status 0 only when every shot succeeded. Rerunning skips what lineage shows done.
    """
    with handled_errors():
        settings = engine_settings_from(config, engine, masker, analyzer, model_dir, refiner)
        db_url = _preflight(cutlist, out, media_root, rate, db, engine, masker, analyzer, settings)
        summary = execute(cutlist, out, media_root=media_root, engine=engine, masker=masker,
                          analyzer=analyzer, db=db_url, force=force, rate=rate, resident=resident,
                          ray_address=ray_address, ray_cpus=ray_cpus, **settings)
        if json_output:
            stdout.print_json(json.dumps(summary))
        else:
            print_summary(summary)
        if summary["failed"]:
            raise typer.Exit(1)


def engine_settings_from(config: Path | None, engine: str, masker: str, analyzer: str,
                         model_dir: Path | None, refiner: str = "flow") -> dict:
    """The chosen engines' settings: the config file's sections, then --model-dir. A refiner
    that runs inside the engine (void-pass2) becomes an engine setting; `refiner` in the result
    is what the shot pipeline runs on the fills."""
    from void_core.config import load_engine_config
    from void_core.errors import InputError
    from void_core.refine import ENGINE_REFINERS

    loaded = load_engine_config(config)
    engine_settings = loaded.settings("inpaint", engine)
    if model_dir is not None and engine != "void":
        raise InputError(model_dir, "--model-dir is only used by --engine void")
    if model_dir is not None:
        engine_settings["model_dir"] = str(model_dir.resolve())
    if refiner in ENGINE_REFINERS:
        if engine != ENGINE_REFINERS[refiner]:
            raise InputError(None, f"--refiner {refiner} runs inside the {ENGINE_REFINERS[refiner]} "
                             f"engine, not {engine}", f"add --engine {ENGINE_REFINERS[refiner]}")
        engine_settings["pass2"] = loaded.settings("refine", refiner)
        refiner = "none"
    return {"refiner": refiner, "engine_settings": engine_settings,
            "masker_settings": loaded.settings("masking", masker),
            "analyzer_settings": loaded.settings("analysis", analyzer)}


def _preflight(cutlist: Path, out: Path, media_root: Path | None, rate: str | None, db: str | None,
               engine: str, masker: str, analyzer: str, settings: dict) -> str:
    """Validate everything cheap; return the lineage URL the run will use."""
    from void_core.cutlist import exact_rate, read_cutlist
    from void_core.inpaint import create_inpainter
    from void_core.lineage import ENV_VAR, open_store
    from void_core.mask_from_click import create_analyzer
    from void_core.masking import create_segmenter
    from void_core.refine import create_refiner

    read_cutlist(cutlist, media_root=media_root, rate=exact_rate(rate) if rate else None)
    create_inpainter(engine, **settings["engine_settings"])
    create_refiner(settings["refiner"])
    create_segmenter(masker, **settings["masker_settings"])
    create_analyzer(analyzer, **settings["analyzer_settings"])
    out.mkdir(parents=True, exist_ok=True)
    url = db or os.environ.get(ENV_VAR) or f"sqlite:///{(out / 'void-farm-lineage.db').resolve()}"
    open_store(url).close()  # a wrong URL fails here, before any work
    return url


def execute(cutlist: Path, out: Path, *, ray_address: str | None = None,
            ray_cpus: int | None = None, **parameters) -> dict:
    """Run the flow in this process; return its summary (also in OUT/<cutlist>.summary.json)."""
    prepare_prefect_environment()
    from flows.cutlist_flow import cleanup_cutlist
    from flows.ray_runner import FarmRayTaskRunner, connect_ray

    stderr.print("starting Ray and the Prefect API (first start takes a while) ...")
    connect_ray(ray_address, num_cpus=ray_cpus)
    flow = cleanup_cutlist.with_options(
        task_runner=FarmRayTaskRunner(address=ray_address, num_cpus=ray_cpus))
    parameters = {key: (str(value) if isinstance(value, Path) else value)
                  for key, value in parameters.items()}
    state = flow(cutlist=str(cutlist.resolve()), out=str(out.resolve()), return_state=True,
                 **parameters)
    return _summary_of(state, cutlist, out)


def _summary_of(state, cutlist: Path, out: Path) -> dict:
    from flows.cutlist_flow import SUMMARY_SUFFIX
    from void_core.cutlist import read_cutlist
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
    name = read_cutlist(cutlist).name
    summary_file = out / f"{name}{SUMMARY_SUFFIX}"
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
