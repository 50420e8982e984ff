"""The `void-farm` command line.

    void-farm shot SHOT_DIR --out OUT        one shot (VOID folder layout) -> EXR plates, in-process
    void-farm run CUTLIST --out OUT          every shot of a cut list: the Prefect flow on Ray
    void-farm serve --watch DIR --out OUT    the nightly and drop-folder deployments, and the watcher
    void-farm cutlist show CUTLIST           the shots an EDL/OTIO/FCP XML cut list holds
    void-farm lineage SHOT_OR_FILE           what produced this shot or file (runs, stages, models)
    void-farm db upgrade                     create or migrate the lineage database schema
    void-farm models check|make-tiny         VOID model folders: check one, or make a tiny test one
    void-farm demo --out DIR                 generate synthetic shots and run the whole flow on them

`shot` and `run` run the same stages (`void_core.pipeline`).

Data goes to stdout, progress and diagnostics to stderr. Exit 0 on success, 1 on a handled
error (one line: the file, what is wrong, what to do), 2 on a usage error.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from flows._cli_common import handled_errors, stderr, stdout, terminate_as_interrupt
from void_core import engines, naming
from void_core.masking.prompt import read_points_json
from void_core.preflight import choose_engines, prepare_output_folder
from void_core.media.colour import Transfer
from void_core.vocabulary import EngineKind, RunKind, Stage, StageStatus

app = typer.Typer(
    name="void-farm",
    help="Delete an object from film shots together with what it caused; write clean EXR plates.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

from flows.cli_cutlist import cutlist_app  # noqa: E402
from flows.cli_lineage import db_app, lineage_command  # noqa: E402

app.add_typer(cutlist_app, name="cutlist")
from flows.cli_models import models_app  # noqa: E402
from flows.cli_colour import colour_app  # noqa: E402

app.add_typer(models_app, name="models")
app.add_typer(colour_app, name="colour")
app.add_typer(db_app, name="db")
app.command("lineage")(lineage_command)

from flows.cli_run import run_command  # noqa: E402
from flows.cli_serve import serve_command  # noqa: E402

app.command("run", epilog="Examples:\n\n"
            "  void-farm run cut/reel1.edl --media-root /show/plates --out /show/cleanup\n\n"
            "  void-farm run reel1.otio --out out --ray-address head-node:6379 "
            "--db postgresql+psycopg://farm@db/lineage")(run_command)
app.command("serve", epilog="Example:\n\n"
            "  void-farm serve --watch /show/editorial/drop --out /show/cleanup "
            "--cron \"0 2 * * *\"")(serve_command)


def _parse_rate(value: str | None) -> Fraction | None:
    """--rate as an exact Fraction (23.976 snaps to 24000/1001)."""
    from void_core.cutlist import exact_rate

    return None if value is None else exact_rate(value)


def _progress_callback(progress: Progress | None, task_id):
    if progress is None:
        return None

    def update(done: int, total: int) -> None:
        progress.update(task_id, completed=done, total=total)

    return update


def _progress() -> Progress | None:
    if not sys.stderr.isatty():
        return None
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), console=stderr, transient=True,
    )


@app.command(
    epilog="Examples:\n\n"
    "  void-farm shot shots/sh010 --out /show/cleanup\n\n"
    "  void-farm shot shots/sh010 --out out --name sh010_cleanup --start-frame 1009",
)
def shot(
    shot_dir: Annotated[Path, typer.Argument(
        help="Shot folder in VOID's layout: input_video.mp4, quadmask_0.mp4 (or "
             "trimask_quadmask.mp4), optional prompt.json.", show_default=False,
        metavar="SHOT_DIR")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output root; frames go to OUT/<name>/.")],
    engine: Annotated[str, typer.Option(help=f"Inpainting engine ({', '.join(engines.names(EngineKind.INPAINT))}).")] = "classical",
    model_dir: Annotated[Path | None, typer.Option(
        help="Model folder for --engine void (see `void-farm models`).", show_default=False)] = None,
    start_frame: Annotated[int | None, typer.Option(
        help="Frame number of the first output frame (default: 1001, or an image sequence's own "
             "first frame).", show_default=False)] = None,
    name: Annotated[str | None, typer.Option(
        help="Shot name for the output folder and files (default: the folder's name).",
        show_default=False)] = None,
    transfer: Annotated[Transfer | None, typer.Option(
        help="Display transfer of the plate (default: the video's tag, else srgb).",
        show_default=False)] = None,
    colorspace: Annotated[str | None, typer.Option(
        help="The plate's OCIO colour space, e.g. ACEScg or 'ARRI LogC3 (EI800)' (default: "
             "[colour] input_colorspace, else the transfer's for video, scene-linear Rec.709 for "
             "EXR; `void-farm colour list` shows the names).", show_default=False)] = None,
    rate: Annotated[str | None, typer.Option(
        help="Frame rate for image-sequence plates, e.g. 24000/1001.", show_default=False)] = None,
    compression: Annotated[str, typer.Option(help="EXR compression: zip, zips, piz, none, dwaa.")] = "zip",
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    db: Annotated[str | None, typer.Option(
        help="Lineage database URL (sqlite:///file.db or postgresql+psycopg://...) (default: "
             "$VOID_FARM_DB, else OUT/void-farm-lineage.db).", show_default=False)] = None,
    no_lineage: Annotated[bool, typer.Option("--no-lineage", help="Do not record lineage.")] = False,
    force: Annotated[bool, typer.Option(
        help="Redo the shot even if lineage shows identical plates already exist.")] = False,
    point: Annotated[list[str] | None, typer.Option(
        help="Click on the object, X,Y[@FRAME] in plate pixels (repeatable); makes the quadmask "
             "from the click instead of reading one.", show_default=False)] = None,
    box: Annotated[list[str] | None, typer.Option(
        help="Box around the object, X0,Y0,X1,Y1[@FRAME] (repeatable).", show_default=False)] = None,
    masker: Annotated[str, typer.Option(help="Masking engine for clicks (classical, sam2).")] = "classical",
    analyzer: Annotated[str, typer.Option(
        help="Analysis engine for what the object affected (heuristic, gemini, "
             "local-vlm: model_dir from --config).")] = "heuristic",
    refiner: Annotated[str, typer.Option(
        help="Refinement (flow, none; void-pass2 with --engine void).")] = "flow",
    config: Annotated[Path | None, typer.Option(
        help="Engine settings file, TOML (default: $VOID_FARM_CONFIG).", show_default=False)] = None,
    chunk_frames: Annotated[int | None, typer.Option(
        min=0, help="Inpaint a shot longer than N frames in parts, one after another, each "
                    "kept as it finishes: a rerun after a crash redoes only the missing parts "
                    "(default: config [inpaint] chunk_frames, else the engine's: classical "
                    "120, void 197; 0: never).", show_default=False)] = None,
) -> None:
    """Remove the masked object from one shot and write EXR plates at plate resolution.

    Writes OUT/<name>/<name>.<frame>.exr for every input frame: R, G, B half (scene-linear, in
    the working colour space: an EXR plate's own, else Rec.709), mask.primary and mask.affected,
    lineage attributes in the header. Pixels outside the dilated mask equal the linearised
    source exactly.
    """
    from void_core.masking import parse_box_option, parse_point_option
    from void_core.pipeline import check_plan, folder_plan, resolve_shot_folder

    with handled_errors():
        inputs = resolve_shot_folder(shot_dir, mask_required=False)
        clicks = [parse_point_option(p) for p in point or []] + [parse_box_option(b) for b in box or []]
        plan = folder_plan(inputs, name or shot_dir.resolve().name, clicks=clicks or None,
                           start_frame=start_frame, rate=_parse_rate(rate), transfer=transfer)
        chosen = choose_engines(config, engine, masker, analyzer, model_dir, refiner, colorspace)
        with tempfile.TemporaryDirectory(prefix="void-farm-") as scratch:
            # Without lineage the stages record into a throwaway database: nothing is kept and
            # nothing reused.
            db = f"sqlite:///{Path(scratch) / naming.LINEAGE_DB}" if no_lineage else db
            settings = _shot_settings(out, db, force or no_lineage, transfer,
                                      _check_compression(compression), chosen,
                                      _chunk_frames(config, chunk_frames))
            check_plan(settings, plan)  # bad input fails here, before anything is created
            prepare_output_folder(out)
            if plan.quadmask is None:
                count = len(clicks) or len(read_points_json(plan.points))
                stderr.print(f"{plan.name}: making the quadmask from {count} prompt(s) "
                             f"({masker} + {analyzer}) ...")
            state = _run_one_shot(settings, plan)
        _report_shot(state, out, json_output)


SHOT_STAGES = (Stage.INGEST, Stage.MASKING, Stage.ANALYSIS, Stage.INPAINT)  # no QC previews


def _shot_settings(out: Path, db: str | None, force: bool, transfer, compression: str,
                   chosen, chunk_frames: int | None = None):
    """A one-shot run's settings."""
    from void_core.pipeline import RunSettings

    return RunSettings(run_id="", cutlist="", out_root=out, db_url=db, compression=compression,
                       force=force, transfer=transfer, kind=RunKind.SHOT, stages=SHOT_STAGES,
                       chunk_frames=chunk_frames, **chosen.as_parameters())


def _chunk_frames(config: Path | None, given: int | None) -> int | None:
    """--chunk-frames, else the config's [inpaint] chunk_frames (None: the engine's default)."""
    from void_core.config import load_engine_config

    return given if given is not None else load_engine_config(config).farm.chunk_frames


def _run_one_shot(settings, plan):
    from void_core.pipeline import one_shot_run, run_shot

    progress = _progress()
    callback = None
    settings.out_root.mkdir(parents=True, exist_ok=True)
    try:
        if progress is not None:
            progress.start()
            callback = _progress_callback(progress, progress.add_task(plan.name, total=None))
        def waiting(owner) -> None:
            stderr.print(f"{plan.name}: held by {owner.describe()}; waiting for it")

        with terminate_as_interrupt(), \
                one_shot_run(settings, plan, on_wait=waiting) as (run_settings, run_plan):
            return run_shot(run_settings, run_plan, on_progress=callback)
    finally:
        if progress is not None:
            progress.stop()


def _report_shot(state, out: Path, json_output: bool) -> None:
    from void_core.pipeline import result_record, summary_line

    if state.analysis is not None:
        stderr.print(f"{state.name}: quadmask {state.quadmask} (analysis {state.analysis})")
    if state.report(Stage.INPAINT).status == StageStatus.SKIPPED:
        stderr.print(f"{state.name}: identical plates already in {out / state.name} "
                     "(recorded in lineage); nothing to do (use --force to redo)")
        if json_output:
            stdout.print_json(json.dumps({"name": state.name, "skipped": True}))
        return
    if json_output:
        stdout.print_json(json.dumps(result_record(state.result)))
    else:
        stdout.print(summary_line(state.result), markup=False)


def _check_compression(value: str) -> str:
    from void_core.errors import InputError
    from void_core.media.exr import COMPRESSIONS

    if value not in COMPRESSIONS:
        raise InputError(None, f"unknown EXR compression {value!r}",
                         f"choose one of: {', '.join(COMPRESSIONS)}")
    return value


@app.command(epilog="Example:\n\n  void-farm demo --out demo_out")
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the scenes and the results go.")] = Path("demo_out"),
    shots: Annotated[int, typer.Option(help="Number of synthetic shots (1-6).", min=1, max=6)] = 4,
    width: Annotated[int, typer.Option(help="Scene width.")] = 640,
    height: Annotated[int, typer.Option(help="Scene height.")] = 360,
    frames: Annotated[int, typer.Option(help="Scene length in frames.")] = 24,
    ray_cpus: Annotated[int | None, typer.Option(
        help="CPUs of the local Ray (default: all).", show_default=False)] = None,
) -> None:
    """Generate synthetic shots and an OTIO cut list, and run the whole farm flow on them.

    The shots (a moving object with its shadow, a push, a panning camera ...) come with an OTIO
    cut list whose markers carry the instruction and a click on the object; the flow masks,
    analyses, cleans and checks each shot on a local Ray, recording lineage.
    """
    from flows.cli_run import execute, print_summary
    from void_core.synth import standard_scenes, write_scene
    from void_core.synth.cutlist import write_synthetic_cutlist

    with handled_errors():
        specs = standard_scenes(width, height, frames)[:shots]
        stderr.print(f"generating {len(specs)} synthetic shot(s) in {out / 'media'} ...")
        names = [f"sh{10 * (index + 1):03d}" for index in range(len(specs))]
        scenes = [write_scene(spec, out / "media" / name, mask_name="ground_truth_mask.mp4")
                  for name, spec in zip(names, specs)]
        cutlist = write_synthetic_cutlist(scenes, out / "demo_reel.otio", name="demo_reel",
                                          clip_names=names)
        stderr.print(f"cut list: {cutlist} ({', '.join(f'{n} = {s.name}' for n, s in zip(names, specs))})")
        summary = execute(cutlist, out / "cleanup", ray_cpus=ray_cpus)
        print_summary(summary)
        cleanup = out / "cleanup"
        stderr.print(f"EXR plates:   {cleanup}/<shot>/<shot>.<frame>.exr  (layers mask.primary, mask.affected)")
        stderr.print(f"QC previews:  {cleanup / 'qc'}  (<shot>_preview.mp4, <shot>_contact.png)")
        stderr.print(f"conformed:    {summary['conformed_otio']}")
        stderr.print(f"lineage:      void-farm lineage sh010 --db sqlite:///{cleanup / 'void-farm-lineage.db'}")
        stderr.print(f"ground truth: {out / 'media'}/<shot>/target/ and ground_truth_mask.mp4")
        stderr.print("Prefect UI:   run `prefect server start` in another terminal, then "
                     "PREFECT_API_URL=http://127.0.0.1:4200/api void-farm demo")
        if summary["failed"]:
            raise typer.Exit(1)


def main() -> None:
    """Console-script entry point."""
    level = logging.DEBUG if os.environ.get("VOID_FARM_DEBUG") else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    app()


if __name__ == "__main__":
    main()
