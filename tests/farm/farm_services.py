"""Real services for the farm tier, on loopback only, each stopped by the id it was started with.

Every process started here carries `TAG_VARIABLE=<this session's tag>` in its environment, and
so do their children (Ray's raylet, GCS and workers, Prefect's server workers, the flow-run
subprocesses of `void-farm serve`). Stopping a service ends its process group; the final sweep
ends any process left with this session's tag (a daemon that escaped its group), by pid. Nothing
is ever stopped by name: other Ray or Prefect processes on the machine are not ours.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

TAG_VARIABLE = "VOID_FARM_TIER_TAG"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def new_tag() -> str:
    return f"farm-{uuid.uuid4().hex[:12]}"


@dataclass
class Service:
    """A started command in its own session (process group), its output in `log`."""

    name: str
    process: subprocess.Popen
    log: Path
    stopped: bool = field(default=False)

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to the group (SIGINT first for a CLI that cleans up on Ctrl-C), then SIGKILL."""
        if self.stopped:
            return
        self.stopped = True
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait)
                # the leader is gone; its group may still hold children: end them too
                if sig != signal.SIGKILL:
                    _signal_group(self.process.pid, signal.SIGTERM)
                break
            except subprocess.TimeoutExpired:
                continue


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def start(name: str, command: list[str], env: dict, logs: Path, cwd: Path | None = None) -> Service:
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=output,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    return Service(name, process, log)


def tagged_processes(tag: str) -> list[int]:
    """Pids of live processes whose environment carries this session's tag."""
    marker = f"{TAG_VARIABLE}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def sweep(tag: str, grace: float = 10.0) -> list[int]:
    """End every process still carrying `tag` (SIGTERM, then SIGKILL); returns those found."""
    leftovers = tagged_processes(tag)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in tagged_processes(tag):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while tagged_processes(tag) and time.monotonic() < deadline:
            time.sleep(0.2)
    return leftovers


def wait_until(check, timeout: float, what: str, service: Service | None = None,
               every: float = 0.5):
    """Poll `check()` until it returns something truthy; fail naming `what` (and the log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if service is not None and not service.alive():
            raise AssertionError(f"{service.name} exited ({service.process.returncode}) while "
                                 f"waiting for {what}:\n{service.tail()}")
        time.sleep(every)
    tail = f":\n{service.tail()}" if service is not None else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{tail}")
