"""Cut lists dropped into a folder: the nightly flow and the watcher that reacts at once.

- `cleanup-drop-folder` (the nightly deployment): every cut list in the folder that has not yet
  been cleaned successfully *in its current content* runs through `cleanup-cutlist`. What has been
  done is a ledger in OUT (`.void-farm-drop-ledger.json`: path -> content digest, lineage run),
  written only after a run succeeded, so a failed or interrupted night is retried the next.
- `CutListWatcher`: polls the folder and emits a `void-farm.cutlist.landed` Prefect event for a
  new or changed cut list once its size has stopped changing (an editor's export or an rsync may
  still be writing it); a deployment trigger on that event starts `cleanup-cutlist` for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

EVENT = "void-farm.cutlist.landed"
RESOURCE_PREFIX = "void-farm.cutlist."
CUTLIST_SUFFIXES = (".edl", ".otio", ".otioz", ".otiod", ".xml")
LEDGER = ".void-farm-drop-ledger.json"


def cutlists_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in CUTLIST_SUFFIXES and not p.name.startswith("."))


def content_digest(path: Path) -> str:
    if path.is_dir():  # .otiod bundles
        digest = hashlib.sha256()
        for item in sorted(path.rglob("*")):
            if item.is_file():
                digest.update(item.relative_to(path).as_posix().encode() + item.read_bytes())
        return "sha256:" + digest.hexdigest()
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def read_ledger(out: Path) -> dict:
    path = out / LEDGER
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}  # a damaged ledger only means cut lists are cleaned again (reruns are skips)


def record_in_ledger(out: Path, cutlist: Path, digest: str, run_id: str | None) -> None:
    ledger = read_ledger(out)
    ledger[str(cutlist.resolve())] = {"digest": digest, "run_id": run_id,
                                      "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out.mkdir(parents=True, exist_ok=True)
    temporary = out / f".{LEDGER}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(ledger, indent=2))
    os.replace(temporary, out / LEDGER)


def pending_cutlists(folder: Path, out: Path) -> list[tuple[Path, str]]:
    """Cut lists whose current content has not been cleaned successfully yet."""
    ledger = read_ledger(out)
    pending = []
    for path in cutlists_in(folder):
        digest = content_digest(path)
        if ledger.get(str(path.resolve()), {}).get("digest") != digest:
            pending.append((path, digest))
    return pending


@flow(name="cleanup-drop-folder", log_prints=True)
def cleanup_drop_folder(folder: str, out: str, media_root: str | None = None,
                        engine: str = "classical", engine_settings: dict | None = None,
                        db: str | None = None, options: dict | None = None) -> dict:
    """Clean every cut list that landed in `folder` since it was last cleaned successfully.
    `options`: more `cleanup-cutlist` parameters (ray_resources, api_limits, qc_url,
    max_shots_in_flight, masker, analyzer and their settings, colour)."""
    from flows.cutlist_flow import cleanup_cutlist, summary_from

    logger = get_run_logger()
    out_root = Path(out)
    done, failed = [], []
    for path, digest in pending_cutlists(Path(folder), out_root):
        logger.info("cleaning %s", path.name)
        state = cleanup_cutlist(cutlist=str(path), out=out, media_root=media_root,
                                engine=engine, engine_settings=engine_settings, db=db,
                                return_state=True, **(options or {}))
        summary = summary_from(state)
        if state.is_completed() and summary is not None:
            record_in_ledger(out_root, path, digest, summary.get("run_id"))
            done.append(path.name)
        else:
            failed.append(path.name)
    if failed:
        raise RuntimeError(f"{len(failed)} cut list(s) did not finish cleanly: {', '.join(failed)} "
                           "(they are retried on the next run)")
    return {"cleaned": done}


def _landed_run_name() -> str:
    """A triggered run is named after its cut-list file (`reel1.edl`), not `golden-phoenix`."""
    return Path(str(flow_run.parameters.get("cutlist", "cutlist"))).name


@flow(name="cleanup-landed-cutlist", flow_run_name=_landed_run_name, log_prints=True)
def cleanup_landed_cutlist(cutlist: str, out: str, media_root: str | None = None,
                           engine: str = "classical", engine_settings: dict | None = None,
                           db: str | None = None, options: dict | None = None) -> dict:
    """What the landing trigger runs: one cut list, recorded in the ledger when it succeeds.
    `options` as `cleanup_drop_folder`'s."""
    from flows.cutlist_flow import cleanup_cutlist, summary_from

    path = Path(cutlist)
    digest = content_digest(path)
    state = cleanup_cutlist(cutlist=cutlist, out=out, media_root=media_root,
                            engine=engine, engine_settings=engine_settings, db=db,
                            return_state=True, **(options or {}))
    summary = summary_from(state)
    if not (state.is_completed() and summary is not None):
        raise RuntimeError(f"{path.name}: {state.message}")
    record_in_ledger(Path(out), path, digest, summary.get("run_id"))
    return summary


class CutListWatcher:
    """Emit `EVENT` for cut lists that appear or change in `folder` (after their size settles)."""

    def __init__(self, folder: Path, emit: Callable[[Path], None], *, poll_seconds: float = 5.0,
                 include_existing: bool = False):
        self.folder, self.emit, self.poll_seconds = folder, emit, poll_seconds
        self._seen: dict[Path, tuple[int, int]] = {} if include_existing else self._stamps()
        self._pending: dict[Path, tuple[int, int]] = {}
        self._stop = threading.Event()

    def _stamps(self) -> dict[Path, tuple[int, int]]:
        stamps = {}
        for path in cutlists_in(self.folder):
            try:
                stat = path.stat()
            except OSError:
                continue
            stamps[path] = (stat.st_size, stat.st_mtime_ns)
        return stamps

    def poll(self) -> list[Path]:
        """One look at the folder; returns the cut lists it announced."""
        announced = []
        for path, stamp in self._stamps().items():
            if self._seen.get(path) == stamp:
                continue
            if self._pending.get(path) == stamp:  # unchanged for a whole poll: complete
                self.emit(path)
                self._seen[path] = stamp
                self._pending.pop(path)
                announced.append(path)
            else:
                self._pending[path] = stamp
        return announced

    def run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.poll()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="void-farm-watcher", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()


def emit_landed(path: Path) -> None:
    from prefect.events import emit_event

    resolved = path.resolve()
    emit_event(EVENT, resource={"prefect.resource.id": f"{RESOURCE_PREFIX}{resolved}",
                                "prefect.resource.name": resolved.name},
               payload={"path": str(resolved)})
