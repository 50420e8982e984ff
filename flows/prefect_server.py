"""The Prefect API a `void-farm run` talks to when none is configured: started here, shielded.

Prefect's own ephemeral server is a child in the terminal's process group, so Ctrl-C (SIGINT to
the whole group) killed it first and the interrupted run spent minutes failing to report to a
dead API. This one runs in its own session (no terminal signal reaches it) and is told by the
kernel when its parent dies (`PR_SET_PDEATHSIG`), so even a SIGKILLed run leaves no server
behind. It lives as long as the process (one per process, like Prefect's own) and is stopped at exit.

With `PREFECT_API_URL` set, the configured server is used and nothing is started.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

from void_core.errors import VoidFarmError

STARTUP_SECONDS = 90.0
_PR_SET_PDEATHSIG = 1


class PrefectServerError(VoidFarmError):
    pass


_started: dict[str, object] = {}  # this process's server: {"url", "process", "log"}


@contextlib.contextmanager
def embedded_prefect_server() -> Iterator[str]:
    """Yield the API URL to use: `PREFECT_API_URL` when set, else this process's own server
    (started on first use, like Prefect's ephemeral one, and stopped when the process exits)."""
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        yield configured
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = _started.get("url") or _start()
    with temporary_settings(updates={PREFECT_API_URL: url}):
        yield url


def stop_embedded_server() -> None:
    """Stop this process's server, if one was started."""
    process, log = _started.pop("process", None), _started.pop("log", None)
    _started.pop("url", None)
    if process is not None:
        _stop(process)
    if log is not None:
        log.close()


# The server asks for SIGTERM when its parent dies, then becomes uvicorn (the request survives
# exec). Done in a fresh interpreter, not in a preexec_fn: Python code between fork and exec in
# a threaded parent can deadlock on a lock another thread held at the fork (it hung the suite).
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    f"ctypes.CDLL(None, use_errno=True).prctl({_PR_SET_PDEATHSIG}, signal.SIGTERM, 0, 0, 0)\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    os._exit(1)  # the parent died before the request took effect\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])\n"
)


def _start() -> str:
    port = _free_port()
    log = tempfile.TemporaryFile()  # the server's stderr: read only when it fails to start
    process = subprocess.Popen(
        [sys.executable, "-c", _DIE_WITH_PARENT, str(os.getpid()),
         "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on"],
        env={**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
             "PREFECT__SERVER_FINAL": "1"},
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}/api"
    try:
        _wait_until_healthy(process, url, log)
    except BaseException:
        _stop(process)
        log.close()
        raise
    _started.update(url=url, process=process, log=log)
    atexit.register(stop_embedded_server)
    return url


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_healthy(process: subprocess.Popen, url: str, log) -> None:
    import httpx

    limit = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS",
                                 STARTUP_SECONDS))
    deadline = time.monotonic() + limit
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log.seek(0)
                lines = log.read().decode(errors="replace").strip().splitlines()
                raise PrefectServerError(
                    f"the embedded Prefect server exited at start ({process.returncode}): "
                    f"{lines[-1] if lines else 'no message'} (set PREFECT_API_URL to a running "
                    "server, or check that PREFECT_HOME is writable)")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{url}/health").status_code == 200:
                    return
            time.sleep(0.1)
    _stop(process)
    raise PrefectServerError(f"the embedded Prefect server did not answer within {limit:.0f} s "
                             "(a busy machine: set PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS "
                             "higher)")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
