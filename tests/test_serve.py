"""`void-farm serve`: the watcher's event starts a run through the deployment trigger.

Runs the real command in a subprocess (embedded Prefect API, local Ray) and drops a cut list into
the watched folder, as an editor would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flows.drop_folder import CutListWatcher, pending_cutlists, record_in_ledger
from void_core.synth import SceneSpec, write_scene
from void_core.synth.cutlist import write_synthetic_cutlist

VOID_FARM = Path(sys.executable).with_name("void-farm")


def test_the_watcher_announces_a_cut_list_once_its_size_settles(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "old.edl").write_text("TITLE: old\n")
    announced: list[Path] = []
    watcher = CutListWatcher(drop, announced.append, poll_seconds=0.01)
    assert watcher.poll() == []  # what was there before the watcher started is the nightly's
    (drop / "new.otio").write_text("{")
    (drop / "notes.txt").write_text("not a cut list")
    assert watcher.poll() == []  # seen once: it may still be being written
    assert watcher.poll() == [drop / "new.otio"]
    assert watcher.poll() == []
    (drop / "new.otio").write_text("{ changed }")
    watcher.poll()
    assert watcher.poll() == [drop / "new.otio"]
    assert announced == [drop / "new.otio", drop / "new.otio"]


def test_the_ledger_keeps_cleaned_cut_lists_out_of_the_nightly_run(tmp_path):
    drop, out = tmp_path / "drop", tmp_path / "out"
    drop.mkdir()
    (drop / "a.edl").write_text("TITLE: a\n")
    (drop / "b.edl").write_text("TITLE: b\n")
    pending = pending_cutlists(drop, out)
    assert [p.name for p, _ in pending] == ["a.edl", "b.edl"]
    record_in_ledger(out, *pending[0], run_id="r1")
    assert [p.name for p, _ in pending_cutlists(drop, out)] == ["b.edl"]
    (drop / "a.edl").write_text("TITLE: a, recut\n")
    assert [p.name for p, _ in pending_cutlists(drop, out)] == ["a.edl", "b.edl"]


@pytest.mark.slow
@pytest.mark.xdist_group("ray-prefect")
def test_a_cut_list_landing_in_the_drop_folder_starts_a_run(tmp_path):
    scene = write_scene(SceneSpec(name="sh010", width=96, height=64, frames=8, shadow=True),
                        tmp_path / "media" / "sh010", mask_name="ground_truth_mask.mp4")
    staged = write_synthetic_cutlist([scene], tmp_path / "staged" / "reel7.otio")
    drop, out = tmp_path / "drop", tmp_path / "out"
    drop.mkdir()
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect-home"), DO_NOT_TRACK="1")
    env.pop("PREFECT_API_URL", None)
    serve = subprocess.Popen(
        [str(VOID_FARM), "serve", "--watch", str(drop), "--out", str(out), "--poll-seconds", "0.5",
         "--ray-cpus", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    log: list[str] = []
    threading.Thread(target=lambda: log.extend(iter(serve.stdout.readline, "")), daemon=True).start()
    try:
        _wait_for_line(serve, log, "void-farm-on-landing", timeout=180)
        (drop / "reel7.otio").write_bytes(staged.read_bytes())
        summary_path = out / "reel7.summary.json"
        deadline = time.monotonic() + 240
        while not summary_path.exists() and time.monotonic() < deadline:
            assert serve.poll() is None, "serve exited:\n" + "".join(log)
            time.sleep(0.5)
        assert summary_path.exists(), "no run started:\n" + "".join(log)
        summary = json.loads(summary_path.read_text())
        assert summary["succeeded"] == 1 and summary["failed"] == 0
        assert len(list((out / "sh010").glob("sh010.*.exr"))) == 8
        ledger = json.loads((out / ".void-farm-drop-ledger.json").read_text()) \
            if _wait_for_file(out / ".void-farm-drop-ledger.json", 60) else {}
        assert str((drop / "reel7.otio").resolve()) in ledger
    finally:
        os.killpg(serve.pid, signal.SIGINT)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait()


def _wait_for_line(process: subprocess.Popen, log: list[str], text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if any(text in line for line in list(log)):
            return
        time.sleep(0.2)
    raise AssertionError(f"serve never printed {text!r}:\n" + "".join(log))


def _wait_for_file(path: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    return path.exists()
