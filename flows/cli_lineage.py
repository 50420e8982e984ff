"""`void-farm db upgrade` and `void-farm lineage SHOT_OR_FILE`: the lineage database from a shell.

    void-farm db upgrade [--db URL]                  create/migrate the schema, print the revision
    void-farm lineage SHOT_OR_FILE [--db URL] [--json]   what produced this shot or file?

The main CLI registers them with `app.add_typer(db_app, name="db")` and
`app.command("lineage")(lineage_command)`. `--db` defaults to $VOID_FARM_DB, else (for an
output file) the run's OUT/void-farm-lineage.db, else sqlite:///./void-farm-lineage.db. The lineage library is imported inside the commands, so
`void-farm --help` stays fast.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.text import Text
from rich.tree import Tree

from flows._cli_common import handled_errors, stderr, stdout

DbOption = Annotated[str | None, typer.Option(
    "--db", metavar="URL", show_default=False,
    help="Lineage database: sqlite:///PATH (or a bare path) or "
         "postgresql+psycopg://USER@HOST/DB. Default: $VOID_FARM_DB, else the run's "
         "OUT/void-farm-lineage.db for a file in OUT/<shot>/, else "
         "sqlite:///./void-farm-lineage.db.")]

db_app = typer.Typer(
    name="db",
    help="The lineage database: create or migrate its schema.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@db_app.command(
    "upgrade",
    epilog="Examples:\n\n"
    "  void-farm db upgrade\n\n"
    "  void-farm db upgrade --db postgresql+psycopg://farm@db01/lineage",
)
def upgrade_command(db: DbOption = None) -> None:
    """Create the lineage schema, or migrate it to this void-farm's newest revision.

    Prints the revision the database is at afterwards. Safe to run again.
    """
    from void_core.lineage.db import (
        check_connection, create_lineage_engine, database_revision, mask_url, resolve_url, upgrade,
    )

    with handled_errors():
        url = resolve_url(db)
        engine = create_lineage_engine(url)
        try:
            check_connection(engine)
            before = database_revision(engine)
            after = upgrade(engine)
        finally:
            engine.dispose()
        change = "already at" if before == after else f"upgraded from {before or 'empty'} to"
        stderr.print(f"lineage database {mask_url(url)}: {change} {after} (head)", markup=False)
        stdout.print(after, markup=False)


def lineage_command(
    shot_or_file: Annotated[str, typer.Argument(
        metavar="SHOT_OR_FILE", show_default=False,
        help="A shot name (sh010), a plate's source path, or an output file "
             "(/out/sh010/sh010.1003.exr).")],
    db: DbOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the trace as JSON.")] = False,
) -> None:
    """What produced this? Runs, shot, stages with engine@version, where each ran (host, Ray
    node, GPU), settings, model checksums, timings and outputs, newest first.

    Examples:

      void-farm lineage sh010

      void-farm lineage /show/cleanup/sh010/sh010.1003.exr --json
    """
    from void_core.lineage import LineageError, as_json, open_store
    from void_core.lineage.db import resolve_url

    with handled_errors():
        with _open_for_reading(resolve_url(db, beside=shot_or_file)) as store:
            traces = store.trace(shot_or_file)
            if not traces:
                raise LineageError(
                    f"no lineage for {shot_or_file!r} in {store.url} (give a shot name, a plate "
                    "path, or an output file like /out/sh010/sh010.1001.exr)")
        if json_output:
            stdout.print_json(json.dumps(as_json(traces)))
        else:
            for trace in traces:
                stdout.print(render_trace(trace), soft_wrap=False)


def _open_for_reading(url: str):
    """The store, with runs whose process is gone marked abandoned first when the database
    takes writes; a database that does not (read-only file or mount) is only read."""
    from void_core.lineage import LineageError, open_store

    try:
        store = open_store(url, create=False)
    except LineageError:
        return open_store(url, read_only=True)
    try:
        store.mark_abandoned()
    except LineageError:
        store.close()
        return open_store(url, read_only=True)
    return store


def render_trace(trace) -> Tree:
    """A rich tree: the run, its shot (and the matched file), one branch per stage run."""
    run = trace.run
    tree = Tree(Text.assemble(
        ("run ", "bold"), (run.name, "bold"), f" ({run.kind}) ", _status(run.status),
        f"  {_when(run.started)}  host {run.host or '?'}  void-farm {run.software_version or '?'}",
        ("  id " + run.id, "dim")))
    if run.error:
        tree.add(Text(f"error: {run.error}", style="red"))
    shot_branch = tree.add(Group(_shot_line(trace.shot), *_matched_line(trace)))
    for stage in trace.stages:
        shot_branch.add(_stage_lines(stage))
    return tree


def _shot_line(shot) -> Text:
    frames = "frames ?"
    if shot.frame_first is not None:
        frames = f"frames {shot.frame_first}-{shot.frame_last}"
    line = Text.assemble(("shot ", "bold"), (shot.name, "bold"), "  ", _status(shot.status),
                         f"  {frames}")
    if shot.rate:
        line.append(f" @ {shot.rate}")
    if shot.source_path:
        line.append(f"  source {shot.source_path}")
    if shot.error:
        line.append(f"  error: {shot.error}", style="red")
    return line


def _matched_line(trace) -> list[Text]:
    if trace.matched is None:
        return []
    frame = f"frame {trace.frame} of " if trace.frame is not None else ""
    lines = [Text(f"file: {frame}{trace.matched.path_pattern} ({trace.matched.kind})",
                  style="cyan")]
    if trace.changed:
        lines.append(Text(f"changed since written: {trace.changed} (this file is not what the "
                          "run below wrote)", style="bold red"))
    return lines


def _stage_lines(stage) -> Group:
    seconds = f"  {stage.seconds:.1f} s" if stage.seconds is not None else ""
    name = f"{stage.stage} {stage.part}" if stage.part else stage.stage
    head = Text.assemble((f"{name} #{stage.attempt}", "bold"), "  ",
                         (stage.engine_label, "magenta"), "  ", _status(stage.status, stage.error),
                         seconds, f"  on {stage.worker}" if stage.worker else "")
    details = [("ran on", _placement(stage)), ("settings", _compact(stage.engine_settings)),
               ("models", _checksums(stage.model_checksums)), ("outputs", _outputs(stage))]
    return Group(head, *(Text.assemble((f"  {label}: ", "dim"), value)
                         for label, value in details if value))


def _placement(stage) -> str:
    """`host render02  node 3f2a9c1d5e7b  gpu NVIDIA A100-SXM4-80GB`: where the attempt ran."""
    parts = [("host", stage.hostname), ("node", (stage.node_id or "")[:12] or None),
             ("gpu", stage.gpu_name)]
    return "  ".join(f"{label} {value}" for label, value in parts if value)


def _outputs(stage) -> str:
    lines = [_artifact_line(artifact) for artifact in stage.artifacts]
    if stage.reused_from_id:
        lines.append(f"(reused from stage run {stage.reused_from_id})")
    return ", ".join(lines)


def _artifact_line(artifact) -> str:
    if artifact.frame_first is None:
        return artifact.path_pattern
    return f"{artifact.path_pattern} [{artifact.frame_first}-{artifact.frame_last}]"


def _compact(settings: dict[str, Any]) -> str:
    return " ".join(f"{key}={json.dumps(value, separators=(',', ':'))}"
                    for key, value in settings.items())


def _checksums(checksums: dict[str, Any]) -> str:
    return " ".join(f"{name}={_short_digest(str(value))}" for name, value in checksums.items())


def _short_digest(digest: str) -> str:
    algorithm, _, hex_digits = digest.rpartition(":")
    return f"{algorithm}:{hex_digits[:12]}" if algorithm else hex_digits[:12]


def _status(status: str, error: str | None = None) -> Text:
    style = {"succeeded": "green", "failed": "red", "running": "yellow"}.get(status, "dim")
    text = Text(status, style=style)
    if error:
        text.append(f": {error}", style="red")
    return text


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")
