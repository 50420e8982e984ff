"""Reap what a SIGKILLed run leaves behind: `python flows/orphan_reaper.py DRIVER_PID`.

The kernel takes a local Ray's GCS and raylet down with a killed driver (Ray asks for
`PR_SET_PDEATHSIG`), but the raylet's dashboard and runtime-env agents, seeing their raylet die
"unexpectedly", first try to report it to the GCS that is gone and wait out a fixed 60 s
timeout before exiting (Ray 2.60, `process_watcher.report_raylet_error_logs`). So a killed run
would leave processes for a minute. This watcher, started beside a local Ray, remembers the
driver's descendants while the driver lives; once the driver is gone it kills those still
running and exits. A PID is only killed when its start time is the one remembered, so a reused
PID is never hit. Standard library only: it starts in a few milliseconds.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

POLL_SECONDS = 1.0


def _processes() -> dict[int, tuple[int, str]]:
    """PID -> (parent PID, start time) of every living (not zombie) process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, parent, start = fields[0], int(fields[1]), fields[19]
        if state != "Z":
            found[int(entry.name)] = (parent, start)
    return found


def _descendants(root: int, processes: dict[int, tuple[int, str]]) -> dict[int, str]:
    """PID -> start time of `root`'s descendants."""
    tree, grew = {root}, True
    while grew:
        found = {pid for pid, (parent, _) in processes.items() if parent in tree} - tree
        tree |= found
        grew = bool(found)
    return {pid: processes[pid][1] for pid in tree - {root}}


def watch(driver: int, poll: float = POLL_SECONDS) -> list[int]:
    """Wait for `driver` to end, then kill its remembered descendants; returns those killed."""
    driver_start = _processes().get(driver, (0, None))[1]
    remembered: dict[int, str] = {}
    while True:
        processes = _processes()
        if processes.get(driver, (0, None))[1] != driver_start or driver_start is None:
            break
        remembered.update(_descendants(driver, processes))
        remembered.pop(os.getpid(), None)
        time.sleep(poll)
    killed = []
    for pid, start in remembered.items():
        if processes.get(pid, (0, None))[1] == start:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except OSError:
                continue
    return killed


_started_for: set[int] = set()


def start_for_this_process() -> None:
    """Start the watcher for the calling process, once: isolated from the environment (the
    standard library is all it needs), in a session of its own (a terminal's Ctrl-C must not
    reach it), its output discarded."""
    import subprocess

    if os.getpid() in _started_for or not Path("/proc/self/stat").exists():  # Linux only
        return
    _started_for.add(os.getpid())
    subprocess.Popen([sys.executable, "-I", "-S", __file__, str(os.getpid())],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)


if __name__ == "__main__":
    watch(int(sys.argv[1]))
