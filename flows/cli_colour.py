"""`void-farm colour ...`: the OpenColorIO side of the command line.

    void-farm colour list [--config FILE] [--json]   the active OCIO config's colour spaces

The active config is `[colour] config` of the settings file, else $OCIO, else OCIO's built-in
ACES studio config; the names printed are what `--colorspace` and `"void"` metadata take.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from flows._cli_common import handled_errors, stdout

colour_app = typer.Typer(
    help="Colour management (OpenColorIO): the names --colorspace takes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@colour_app.callback()
def colour() -> None:
    """Colour management (OpenColorIO): the names --colorspace takes."""


@colour_app.command("list", epilog="Example:\n\n  void-farm colour list | grep -i logc")
def list_command(
    config: Annotated[Path | None, typer.Option(
        help="Settings file, TOML, whose [colour] config to list (default: $VOID_FARM_CONFIG).",
        show_default=False)] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the colour spaces of the active OCIO config: name, family, encoding."""
    from void_core.config import load_engine_config
    from void_core.media import ocio

    with handled_errors():
        spec = ocio.ColourSpec(**load_engine_config(config).colour)
        name = ocio.config_name(spec)
        spaces = ocio.list_colorspaces(name)
    if json_output:
        stdout.print_json(json.dumps({"config": name, "colorspaces": [
            {"name": n, "family": f, "encoding": e} for n, f, e in spaces]}))
        return
    stdout.print(f"# {name}", markup=False)
    width = max(len(n) for n, _, _ in spaces)
    for space_name, family, encoding in spaces:
        stdout.print(f"{space_name:<{width}}  {encoding or '-':<12}  {family}", markup=False)
