"""`void-farm cutlist ...`: look at what a cut list holds before running anything on it.

    void-farm cutlist show reel1.edl --media-root /show/plates --rate 23.976
    void-farm cutlist show cut.otio --json

The table (or `--json`) goes to stdout; problems, warnings and notes go to stderr. Exit 0 when the
cut list parsed, even with missing media; 1 with one error line when it cannot be read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from flows._cli_common import handled_errors, stderr, stdout

RICH_TABLE_LIMIT = 1000  # shots; a longer cut list is listed as plain aligned text

cutlist_app = typer.Typer(
    help="Read editors' cut lists (CMX 3600 EDL, OTIO, FCP 7 XML) into shots.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@cutlist_app.callback()
def cutlist() -> None:
    """Read editors' cut lists (CMX 3600 EDL, OTIO, FCP 7 XML) into shots."""


@cutlist_app.command(
    epilog="Examples:\n\n"
    "  void-farm cutlist show reel1.edl --media-root /show/plates --rate 23.976\n\n"
    "  void-farm cutlist show cut.otio --json",
)
def show(
    cutlist: Annotated[Path, typer.Argument(
        help="Cut list: .edl, .otio, .otioz, .otiod or .xml (Final Cut Pro 7).",
        show_default=False, metavar="CUTLIST")],
    media_root: Annotated[Path | None, typer.Option(
        "--media-root", help="Folder searched for media the cut list does not locate.",
        show_default=False)] = None,
    rate: Annotated[str | None, typer.Option(
        help="EDL frame rate (default 24), e.g. 25, 23.976 or 24000/1001.",
        show_default=False)] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the shots as JSON.")] = False,
) -> None:
    """List the shots of a cut list: media, source and record ranges, removal instructions."""
    from void_core.cutlist import read_cutlist

    with handled_errors():
        cut = read_cutlist(cutlist, media_root=media_root, rate=rate)
    if json_output:
        # Plain print: rich would re-wrap or colour it; stdout must be exactly one JSON document.
        typer.echo(json.dumps(cut.to_json(), indent=2))
    elif len(cut.shots) > RICH_TABLE_LIMIT:
        typer.echo(_plain_table(cut))
    else:
        stdout.print(_shot_table(cut))
    _report(cut, searched_root=media_root is not None)


def _shot_table(cut) -> Table:
    from void_core.cutlist.model import tc_span

    table = Table(title=f"{escape(cut.name)}  ({cut.format}, {cut.rate} fps)",
                  title_justify="left")
    longest = max((len(shot.name) for shot in cut.shots), default=4)
    table.add_column("shot", overflow="fold", min_width=min(longest, 24))
    table.add_column("event", justify="right")
    table.add_column("source media", overflow="fold", ratio=3)
    for column in ("source", "record", "rate"):
        table.add_column(column, no_wrap=True)
    table.add_column("instructions", ratio=2)
    for shot in cut.shots:
        media = str(shot.media_path) if shot.media_resolved else f"MISSING: {shot.media_hint}"
        table.add_row(
            escape(shot.name), str(shot.event),
            escape(media) if shot.media_resolved else f"[red]{escape(media)}[/]",
            _in_out(tc_span(shot.source_range, shot.drop_frame)),
            _in_out(tc_span(shot.record_range, shot.drop_frame)),
            str(shot.rate), escape("; ".join(shot.instructions)) or "-",
        )
    return table


def _plain_table(cut) -> str:
    """One line per shot in aligned columns: rich lays a table out at about 1 ms per row, so a
    10,000-event EDL would take over ten seconds; this takes a fraction of one, and greps."""
    from void_core.cutlist.model import tc_span

    rows = [["shot", "event", "source media", "source", "record", "rate", "instructions"]]
    for shot in cut.shots:
        rows.append([
            shot.name, str(shot.event),
            str(shot.media_path) if shot.media_resolved else f"MISSING: {shot.media_hint}",
            tc_span(shot.source_range, shot.drop_frame),
            tc_span(shot.record_range, shot.drop_frame),
            str(shot.rate), "; ".join(shot.instructions) or "-",
        ])
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    lines = [f"{cut.name}  ({cut.format}, {cut.rate} fps)"]
    lines += ["  ".join([*(cell.ljust(width) for cell, width in zip(row, widths)), row[-1]])
              for row in rows]
    return "\n".join(lines)


def _in_out(span: str) -> str:
    """In above out, so two timecodes fit a narrow terminal."""
    return span.replace("-", "\n", 1)


def _report(cut, searched_root: bool) -> None:
    """Everything a user should look at, after the table, on stderr."""
    for shot in cut.shots:
        if shot.speed_effect:
            stderr.print(f"speed effect: {escape(shot.label)}: {escape(shot.speed_description)}")
        for warning in shot.warnings:
            stderr.print(f"warning: {escape(shot.label)}: {escape(warning)}")
    for note in cut.notes:
        stderr.print(f"note: {escape(note)}")
    for problem in cut.problems:
        stderr.print(f"[yellow]problem:[/] {escape(str(problem))}")
    missing = sum(not shot.media_resolved for shot in cut.shots)
    summary = f"{len(cut.shots)} shot(s), {missing} with missing media, " \
              f"{len(cut.problems)} problem(s)"
    stderr.print(summary + (" (try --media-root)" if missing and not searched_root else ""))
