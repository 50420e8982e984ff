"""Cut lists at scale: `void-farm cutlist show` on CMX 3600 EDLs of 1,000 and 10,000 events.

    python benchmarks/cutlist_scale.py [--events 1000 10000] [--media 4] [--repeat 1]

Each EDL cuts one-second events from a few small plates (`--media`, tiny videos written once) in
a media root, the way a long conform or a whole-reel pull list does: every event names its reel
and clip (`* FROM CLIP NAME:`), every tenth has a `VOID:` instruction and every fiftieth a
dissolve. The times are of the whole command in a fresh process (`python -m flows.cli cutlist show`,
imports included, as a table and with `--json`), best of `--repeat`, and of `read_cutlist` alone
in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

RATE = 24
EVENT_FRAMES = RATE  # one second per event


def write_media(folder: Path, count: int, frames: int = 8) -> list[Path]:
    """`count` tiny plates (32x32 lossless video) named PLATE001.mov, PLATE002.mov, ..."""
    import numpy as np

    from void_core.media.encode import write_video

    folder.mkdir(parents=True, exist_ok=True)
    plates = []
    for index in range(1, count + 1):
        grey = np.full((frames, 32, 32, 3), 40 * index % 256, dtype=np.uint8)
        plates.append(write_video(folder / f"PLATE{index:03d}.mov", grey, Fraction(RATE)))
    return plates


def write_long_edl(path: Path, events: int, media: list[Path]) -> Path:
    """An EDL of `events` one-second cuts, back to back, cycling over `media` by reel name."""
    lines = [f"TITLE: LONG REEL {events}", "FCM: NON-DROP FRAME", ""]
    for number in range(1, events + 1):
        plate = media[(number - 1) % len(media)]
        source_in = 3600 * RATE + (number - 1) % 100 * EVENT_FRAMES
        record_in = 3600 * RATE + (number - 1) * EVENT_FRAMES
        edit = "D 012" if number % 50 == 0 else "C"
        if edit != "C":  # a dissolve: the outgoing line, then the incoming one
            lines.append(_event_line(number, plate.stem, "C", source_in, source_in,
                                     record_in, record_in))
        lines.append(_event_line(number, plate.stem, edit, source_in, source_in + EVENT_FRAMES,
                                 record_in, record_in + EVENT_FRAMES))
        lines.append(f"* FROM CLIP NAME: {plate.name}")
        if number % 10 == 0:
            lines.append(f"* VOID: remove the boom mic in event {number}")
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def _event_line(number: int, reel: str, edit: str, src_in: int, src_out: int, rec_in: int,
                rec_out: int) -> str:
    timecodes = " ".join(_tc(frames) for frames in (src_in, src_out, rec_in, rec_out))
    return f"{number:06d}  {reel:<8} V     {edit:<5} {timecodes}"


def _tc(frames: int) -> str:
    seconds, frame = divmod(frames, RATE)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{hour:02d}:{minute:02d}:{second:02d}:{frame:02d}"


def time_cli(edl: Path, media_root: Path, repeat: int, *options: str) -> tuple[float, str]:
    """Best wall time of the whole command over `repeat` runs, and what it printed."""
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "DO_NOT_TRACK": "1",
           "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    best, printed = float("inf"), ""
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "flows.cli", "cutlist", "show", str(edl),
                               "--media-root", str(media_root), *options],
                              capture_output=True, text=True, env=env, cwd=repo, check=True)
        best = min(best, time.perf_counter() - start)
        printed = done.stdout
    return best, printed


def time_reader(edl: Path, media_root: Path) -> float:
    from void_core.cutlist import read_cutlist

    start = time.perf_counter()
    read_cutlist(edl, media_root=media_root)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--media", type=int, default=4, help="number of distinct plates")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the command; best kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="void-farm-cutlist-scale-") as scratch:
        root = Path(scratch)
        media = write_media(root / "media", args.media)
        print(f"machine: {platform.node()} ({os.cpu_count()} CPUs), python "
              f"{platform.python_version()}")
        print("| events | shots | `cutlist show` (s) | `cutlist show --json` (s) "
              "| `read_cutlist` (s) |")
        print("|---:|---:|---:|---:|---:|")
        for count in args.events:
            edl = write_long_edl(root / f"reel_{count}.edl", count, media)
            table_seconds, _ = time_cli(edl, root / "media", args.repeat)
            json_seconds, printed = time_cli(edl, root / "media", args.repeat, "--json")
            shots = len(json.loads(printed)["shots"])
            print(f"| {count:,} | {shots:,} | {table_seconds:.1f} | {json_seconds:.1f} | "
                  f"{time_reader(edl, root / 'media'):.1f} |", flush=True)


if __name__ == "__main__":
    main()
