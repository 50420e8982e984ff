"""One owner per shot: a lock file with the owner's host, PID and a heartbeat.

    OUT/.void-work/<shot>/owner.lock   {"run": ..., "host": ..., "pid": ..., "heartbeat": ...}

A run claims a shot before its first stage and gives it back when the shot ends. A second run
that finds the shot claimed by a live owner waits for it (and then finds its work done in
lineage). A claim whose owner is gone is taken over: on this host the owner's PID is dead, or
on any host its heartbeat is older than `STALE_SECONDS`. One heartbeat thread per run keeps
its claims (and, through `on_beat`, its lineage run row) fresh.

The lock file appears atomically (written aside, then hard-linked into place, which fails when
a lock exists), so a reader never sees half an owner. Taking over a stale lock happens under
an `flock` on a guard file, so two runs cannot both take over the same dead owner.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 60.0


def this_host() -> str:
    return socket.gethostname()


def process_alive(pid: int) -> bool:
    """Whether a process with this PID exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@dataclass(frozen=True)
class Owner:
    """Who holds a shot."""

    run: str
    host: str
    pid: int
    heartbeat: float  # time.time() of the last sign of life

    def is_alive(self, now: float | None = None) -> bool:
        """On this host: its process exists and beats; elsewhere: its heartbeat is fresh."""
        fresh = (now or time.time()) - self.heartbeat < STALE_SECONDS
        if self.host == this_host():
            return fresh and process_alive(self.pid)
        return fresh

    def describe(self) -> str:
        age = max(0.0, time.time() - self.heartbeat)
        return f"run {self.run} ({self.host} pid {self.pid}, heartbeat {age:.0f} s ago)"


def read_owner(path: Path) -> Owner | None:
    """The owner a lock file names; None when there is no lock or it is unreadable."""
    try:
        data = json.loads(Path(path).read_text())
        return Owner(str(data["run"]), str(data["host"]), int(data["pid"]),
                     float(data["heartbeat"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class Claims:
    """The shot locks one run holds, kept alive by one heartbeat thread.

    Args:
        run_id: the lineage run that owns the claims.
        on_beat: also called on every heartbeat (the lineage run's heartbeat); its errors are
            kept in `beat_errors`, never raised in the thread.
    """

    def __init__(self, run_id: str, on_beat: Callable[[], None] | None = None,
                 interval: float = HEARTBEAT_SECONDS):
        self.me = Owner(run_id, this_host(), os.getpid(), time.time())
        self.on_beat, self.interval = on_beat, interval
        self.held: set[Path] = set()
        self.beat_errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat_loop, name="void-farm-heartbeat",
                                        daemon=True)
        self._thread.start()

    def __enter__(self) -> Claims:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def try_claim(self, path: str | Path) -> Owner | None:
        """Claim `path`; None when claimed (now or already), else the live owner holding it."""
        path = Path(path)
        with self._lock:
            if path in self.held:
                return None
        path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            if self._link_new(path):
                with self._lock:
                    self.held.add(path)
                return None
            holder = read_owner(path)
            if holder is not None and self._is_me(holder):
                with self._lock:
                    self.held.add(path)
                return None
            if holder is not None and holder.is_alive():
                return holder
            if holder is None and _age(path) < STALE_SECONDS:
                return Owner("?", "?", 0, time.time())  # being written or unreadable: wait
            self._take_over(path, holder)
        return read_owner(path)

    def claim(self, path: str | Path, *, poll: float = 1.0,
              on_wait: Callable[[Owner], None] | None = None) -> None:
        """Claim `path`, waiting while a live owner holds it (`on_wait` is told once)."""
        told = False
        while (holder := self.try_claim(path)) is not None:
            if not told and on_wait is not None:
                on_wait(holder)
                told = True
            time.sleep(poll)

    def release(self, path: str | Path) -> None:
        """Give `path` back (the file goes only while it still names this run)."""
        path = Path(path)
        with self._lock:
            self.held.discard(path)
        holder = read_owner(path)
        if holder is not None and self._is_me(holder):
            path.unlink(missing_ok=True)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 1)
        for path in list(self.held):
            self.release(path)

    # --- plumbing -----------------------------------------------------------------------------

    def _is_me(self, owner: Owner) -> bool:
        return (owner.run, owner.host, owner.pid) == (self.me.run, self.me.host, self.me.pid)

    def _current(self) -> Owner:
        return Owner(self.me.run, self.me.host, self.me.pid, time.time())

    def _link_new(self, path: Path) -> bool:
        """Put a lock naming this run at `path` unless one is there (atomic)."""
        aside = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
        aside.write_text(json.dumps(asdict(self._current())))
        try:
            os.link(aside, path)
            return True
        except FileExistsError:
            return False
        finally:
            aside.unlink(missing_ok=True)

    def _take_over(self, path: Path, judged: Owner | None) -> None:
        """Remove a stale lock, unless someone replaced it since it was judged stale."""
        with _guard(path):
            if read_owner(path) == judged:
                path.unlink(missing_ok=True)

    def _refresh(self, path: Path) -> None:
        holder = read_owner(path)
        if holder is None or not self._is_me(holder):
            with self._lock:
                self.held.discard(path)  # taken over meanwhile: no longer ours
            return
        aside = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
        aside.write_text(json.dumps(asdict(self._current())))
        os.replace(aside, path)

    def _beat_loop(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                held = list(self.held)
            for path in held:
                with contextlib.suppress(OSError):
                    self._refresh(path)
            if self.on_beat is not None:
                try:
                    self.on_beat()
                except Exception as err:  # a busy database must not kill the heartbeat
                    self.beat_errors.append(f"{type(err).__name__}: {err}")


@contextlib.contextmanager
def _guard(path: Path) -> Iterator[None]:
    with open(path.with_name(f".{path.name}.guard"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return STALE_SECONDS  # gone meanwhile: try again at once


def temporary_tag() -> str:
    """What a temporary file's name carries so that only a dead writer's leftovers are removed:
    `<pid>@<host>`."""
    return f"{os.getpid()}@{this_host()}"


def writer_gone(tag: str, age_seconds: float) -> bool:
    """Whether the writer of a temporary tagged `tag` (`temporary_tag`) is gone: on this host its
    PID is dead; elsewhere (or untagged) the file is older than a day."""
    pid, _, host = tag.partition("@")
    if host == this_host() and pid.isdigit():
        return not process_alive(int(pid))
    return age_seconds > 86_400
