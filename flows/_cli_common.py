"""Shared pieces of the `void-farm` command line: one error sink, one console.

Data goes to stdout; diagnostics, progress and hints go to stderr. A handled `VoidFarmError`
prints one line and exits 1; set VOID_FARM_DEBUG=1 to see its traceback too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.markup import escape

from void_core.errors import OutputError, VoidFarmError

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` as one error line on stderr and return the Exit to raise."""
    stderr.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
    return typer.Exit(code)


@contextlib.contextmanager
def handled_errors() -> Iterator[None]:
    """Turn `VoidFarmError` into one error line and exit code 1; let bugs raise."""
    try:
        yield
    except VoidFarmError as err:
        if os.environ.get("VOID_FARM_DEBUG"):
            raise
        raise fail(str(err)) from None
    except OSError as err:  # storage the user must fix (full, read-only, in the way)
        if os.environ.get("VOID_FARM_DEBUG"):
            raise
        raise fail(str(OutputError.from_os_error(err.filename or ".", err))) from None
    except KeyboardInterrupt:
        stderr.print("interrupted", style="yellow")
        sys.exit(130)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: lineage marked, "interrupted", exit 130."""


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM stops the command the way Ctrl-C does."""
    def interrupt(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
