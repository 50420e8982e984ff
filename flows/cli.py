"""The `void-farm` command line.

    void-farm shot SHOT_DIR --out OUT        one shot (VOID folder layout) -> EXR plates
    void-farm cutlist show CUTLIST           the shots an EDL/OTIO/FCP XML cut list holds
    void-farm demo --out DIR                 generate a synthetic shot and clean it

Data goes to stdout, progress and diagnostics to stderr. Exit 0 on success, 1 on a handled
error (one line: the file, what is wrong, what to do), 2 on a usage error.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from fractions import Fraction
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from flows._cli_common import handled_errors, stderr, stdout
from flows.cli_run import engine_settings_from
from void_core.inpaint import ENGINES
from void_core.media.colour import Transfer

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

app.add_typer(models_app, name="models")
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
    engine: Annotated[str, typer.Option(help=f"Inpainting engine ({', '.join(ENGINES)}).")] = "classical",
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
        help="Analysis engine for what the object affected (heuristic, gemini).")] = "heuristic",
    refiner: Annotated[str, typer.Option(
        help="Refinement (flow, none; void-pass2 with --engine void).")] = "flow",
    config: Annotated[Path | None, typer.Option(
        help="Engine settings file, TOML (default: $VOID_FARM_CONFIG).", show_default=False)] = None,
) -> None:
    """Remove the masked object from one shot and write EXR plates at plate resolution.

    Writes OUT/<name>/<name>.<frame>.exr for every input frame: R, G, B half (scene-linear
    Rec.709), mask.primary and mask.affected, lineage attributes in the header. Pixels outside
    the dilated mask equal the linearised source exactly.
    """
    from void_core.shot import (
        ShotRequest, check_shot, process_shot, resolve_shot_folder, result_record, summary_line,
    )
    from void_core.shot_lineage import run_shot_with_lineage

    with handled_errors():
        inputs = resolve_shot_folder(shot_dir, mask_required=False)
        shot_name = name or shot_dir.resolve().name
        settings = engine_settings_from(config, engine, masker, analyzer, model_dir, refiner)
        inputs = _mask_from_clicks(inputs, point or [], box or [], out, shot_name, masker, analyzer,
                                   settings)
        request = ShotRequest(
            inputs=inputs, out_root=out, name=shot_name,
            start_frame=start_frame, engine=engine, compression=_check_compression(compression),
            transfer=transfer, rate=_parse_rate(rate),
            engine_settings=settings["engine_settings"], refiner=settings["refiner"],
        )
        check_shot(request)  # bad input fails here, before anything (even the database) is created
        store = None if no_lineage else _open_lineage(db, out)
        progress = _progress()
        callback = None
        try:
            if progress is not None:
                progress.start()
                callback = _progress_callback(progress, progress.add_task(request.name, total=None))
            if store is None:
                result, skipped = process_shot(request, callback), False
            else:
                outcome = run_shot_with_lineage(request, store, force=force, on_progress=callback)
                result, skipped = outcome.result, outcome.skipped
        finally:
            if progress is not None:
                progress.stop()
            if store is not None:
                store.close()
        if skipped:
            stderr.print(f"{request.name}: identical plates already in {out / request.name} "
                         "(recorded in lineage); nothing to do (use --force to redo)")
            if json_output:
                stdout.print_json(json.dumps({"name": request.name, "skipped": True}))
            return
        if json_output:
            stdout.print_json(json.dumps(result_record(result)))
        else:
            stdout.print(summary_line(result), markup=False)


def _mask_from_clicks(inputs, points: list[str], boxes: list[str], out: Path, name: str,
                      masker: str, analyzer: str, settings: dict):
    """Use the folder's quadmask, or make one from --point/--box or points.json."""
    from dataclasses import replace

    from void_core.errors import MaskError
    from void_core.mask_from_click import make_quadmask
    from void_core.masking import parse_box_option, parse_point_option, read_points_json
    from void_core.shot import check_shot_name

    prompts = [parse_point_option(p) for p in points] + [parse_box_option(b) for b in boxes]
    if inputs.mask is not None and not prompts:
        return inputs
    source = None
    if not prompts and inputs.points is not None:
        prompts, source = read_points_json(inputs.points), inputs.points
    if not prompts:
        raise MaskError(inputs.plate.parent, "no quadmask and no click to make one",
                        "put a points.json beside the video, or give --point X,Y[@FRAME] or "
                        "--box X0,Y0,X1,Y1[@FRAME]")
    work = out / ".void-work" / check_shot_name(name)
    stderr.print(f"{name}: making the quadmask from {len(prompts)} prompt(s) ({masker} + {analyzer}) ...")
    product = make_quadmask(inputs.plate, prompts, work, instruction=inputs.prompt.get("bg", ""),
                            segmenter=masker, analyzer=analyzer, source=source,
                            segmenter_settings=settings["masker_settings"],
                            analyzer_settings=settings["analyzer_settings"])
    stderr.print(f"{name}: quadmask {product.quadmask} (analysis {product.analysis})")
    return replace(inputs, mask=product.quadmask)


def _open_lineage(db: str | None, out: Path):
    from void_core.lineage import ENV_VAR, open_store

    url = db or os.environ.get(ENV_VAR)
    if url is None:
        out.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{(out / 'void-farm-lineage.db').resolve()}"
    return open_store(url)


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
