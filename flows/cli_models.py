"""`void-farm models ...`: make and check the model folders the `void` engine and the
`local-vlm` analyzer read.

    void-farm models make-tiny DIR          a tiny random-weight VOID model (tests, plumbing)
    void-farm models make-tiny-vlm DIR      a tiny random-weight VLM (Qwen3-VL or Qwen2.5-VL)
    void-farm models check DIR [--json]     is DIR a usable VOID or VLM folder? (no GPU needed;
                                            a config.json naming a VLM family makes it a VLM)

`check` exits 0 when the folder is usable, 1 with one line per problem (file, what is wrong)
otherwise; `--json` prints the whole report on stdout either way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from flows._cli_common import fail, handled_errors, stderr, stdout

models_app = typer.Typer(
    help="Make and check model folders for the void engine and the local-vlm analyzer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@models_app.callback()
def models() -> None:
    """Make and check model folders for the void engine and the local-vlm analyzer."""


@models_app.command("make-tiny", epilog="Example:\n\n  void-farm models make-tiny models/void-tiny")
def make_tiny(
    directory: Annotated[Path, typer.Argument(help="Folder to write the model into.",
                                              show_default=False, metavar="DIR")],
    seed: Annotated[int, typer.Option(help="Seed of the random weights.")] = 0,
    text: Annotated[str, typer.Option(
        help="Text side: t5 (a tiny T5 + tokenizer), embeddings (prompt_embeds.safetensors) "
             "or both.")] = "t5",
) -> None:
    """Write a tiny random-weight VOID model in the real layout (seconds, deterministic).

    Its pictures are noise: it exists to run the whole farm, tests and CI without VOID's weights.
    """
    from void_core.errors import InputError

    with handled_errors():
        if directory.exists() and not directory.is_dir():
            raise InputError(directory, "exists and is not a folder")
        if text not in ("t5", "embeddings", "both"):
            raise InputError(None, f"unknown --text {text!r}", "choose t5, embeddings or both")
        from void_core.inpaint.void.tiny import make_tiny_model_dir

        root = make_tiny_model_dir(directory, seed=seed, text=text)
    stdout.print(f"tiny VOID model written to {root}", markup=False)


@models_app.command("make-tiny-vlm",
                    epilog="Example:\n\n  void-farm models make-tiny-vlm models/vlm-tiny")
def make_tiny_vlm(
    directory: Annotated[Path, typer.Argument(help="Folder to write the model into.",
                                              show_default=False, metavar="DIR")],
    family: Annotated[str, typer.Option(help="qwen3-vl or qwen2.5-vl.")] = "qwen3-vl",
    seed: Annotated[int, typer.Option(help="Seed of the random weights.")] = 0,
) -> None:
    """Write a tiny random-weight VLM in the layout transformers saves (seconds, deterministic).

    Its answers are noise made valid by constrained decoding: it runs the local-vlm analyzer,
    tests and CI without real weights.
    """
    from void_core.errors import InputError

    with handled_errors():
        from void_core.analysis.local_vlm.families import FAMILIES

        if directory.exists() and not directory.is_dir():
            raise InputError(directory, "exists and is not a folder")
        if family not in FAMILIES:
            raise InputError(None, f"unknown --family {family!r}",
                             f"choose {' or '.join(FAMILIES)}")
        from void_core.analysis.local_vlm.tiny import make_tiny_vlm_dir

        root = make_tiny_vlm_dir(directory, family=family, seed=seed)
    stdout.print(f"tiny {family} model written to {root}", markup=False)


@models_app.command(epilog="Examples:\n\n  void-farm models check /models/void\n\n"
                    "  void-farm models check /models/void --json")
def check(
    directory: Annotated[Path, typer.Argument(help="The model folder.", show_default=False,
                                              metavar="DIR")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    checksums: Annotated[bool, typer.Option(
        help="List the sha256 of every model file (hashes large files once, then cached).")] = True,
) -> None:
    """Check a VOID or VLM model folder without a GPU: files, configs, tensor shapes, checksums."""
    from void_core.analysis.local_vlm.check import check_vlm_dir, is_vlm_dir

    if is_vlm_dir(directory):
        report = check_vlm_dir(directory, checksums=checksums)
        show = _print_vlm_report
    else:
        from void_core.inpaint.void.check import check_model_dir

        report = check_model_dir(directory, checksums=checksums)
        show = _print_report
    if json_output:
        typer.echo(json.dumps(report.to_json(), indent=2, default=str))
    else:
        show(report)
    if not report.ok:
        for problem in report.problems[:-1]:
            stderr.print(f"[bold red]error:[/] {escape(problem)}")
        raise fail(report.problems[-1])


def _print_vlm_report(report) -> None:
    for warning in report.warnings:
        stderr.print(f"[yellow]warning:[/] {escape(warning)}")
    if not report.ok:
        return
    dtypes = ", ".join(f"{count} {dtype}" for dtype, count in sorted(report.dtypes.items()))
    stdout.print(f"{report.path}: usable {report.family} VLM folder: {report.parameters:,} "
                 f"parameters ({dtypes}), {report.bf16_gb:.2f} GB in bfloat16", markup=False)
    stdout.print(f"  files: {', '.join(report.files)}", markup=False)
    for path, digest in report.checksums.items():
        stdout.print(f"  {digest}  {path}", markup=False)


def _print_report(report) -> None:
    for warning in report.warnings:
        stderr.print(f"[yellow]warning:[/] {escape(warning)}")
    if not report.ok:
        return
    stdout.print(f"{report.path}: usable VOID model folder (text: {report.text})", markup=False)
    for name, component in report.components.items():
        dtypes = ", ".join(f"{count} {dtype}" for dtype, count in sorted(component.dtypes.items()))
        detail = f"{component.parameters:,} parameters ({dtypes})" if component.tensors else ""
        stdout.print(f"  {name:<14} {', '.join(component.files)}  {detail}".rstrip(), markup=False)
    for path, digest in report.checksums.items():
        stdout.print(f"  {digest}  {path}", markup=False)
