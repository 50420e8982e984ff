"""Speed and memory of `void-farm shot` against its floor (decode + EXR write alone).

Run: `make bench` or `.venv/bin/python benchmarks/shot_speed.py [--frames 24] [--sizes 1920x1080,3840x2160]`.

For each size it generates a synthetic scene (an object of about 2 % of the frame with a cast
shadow, 12 fps), then times, each in its own process so peak RSS is per run:
  shot     the whole `void-farm shot` with the scene's quadmask (decode, fill, composite, write)
  click    the whole `void-farm shot` from the one click in points.json (masking, analysis,
           quadmask, fill, refinement, EXR write)
  floor    the same command on the same plate with an all-keep mask (decode + linearise + write)
  decode   decoding + linearising alone
  write    EXR writing alone (the same frame, ZIP, RGB half + two mask channels, 2 threads)
and prints one table. Ratios are measured in the same run, on the same machine.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} {platform.release()}"


def run_measured(args: list[str]) -> tuple[float, float, str]:
    """Run a child process; return (wall seconds, peak RSS in GiB, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read()
    err = proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(args)}\n{err}")
    return wall, usage.ru_maxrss / 2**20, out


def child_decode(plate_path: str) -> None:
    from void_core.media.plate import open_plate

    plate = open_plate(plate_path)
    for raw in plate.frames():
        plate.linear(raw)


def child_write(plate_path: str, frames: int, out_dir: str) -> None:
    from void_core.media.exr import write_exr_frame
    from void_core.media.plate import open_plate

    plate = open_plate(plate_path)
    rgb = plate.linear(next(plate.frames()))
    mask = np.zeros(rgb.shape[:2], np.float16)
    masks = {"mask.primary": mask, "mask.affected": mask}
    with cf.ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda i: write_exr_frame(Path(out_dir) / f"w.{i:04d}.exr", rgb, masks),
                      range(frames)))


def make_scene(folder: Path, width: int, height: int, frames: int) -> None:
    from void_core.synth import SceneSpec, write_scene

    spec = SceneSpec(name=folder.name, width=width, height=height, frames=frames,
                     fps=Fraction(12), object_size="small", shadow=True)
    write_scene(spec, folder)


def make_keep_mask(scene: Path, floor: Path) -> None:
    from void_core.media.encode import write_mask_video
    from void_core.media.video import probe_video

    floor.mkdir()
    info = probe_video(scene / "input_video.mp4")
    os.symlink(scene / "input_video.mp4", floor / "input_video.mp4")
    keep = np.full((info.height, info.width), 255, np.uint8)
    write_mask_video(floor / "quadmask_0.mp4", (keep for _ in range(info.frame_count)), info.rate)


def bench_size(width: int, height: int, frames: int, work: Path) -> dict:
    scene, floor = work / f"scene_{width}", work / f"floor_{width}"
    make_scene(scene, width, height, frames)
    make_keep_mask(scene, floor)
    py = sys.executable
    cli = [py, "-m", "flows.cli"]
    shot_s, shot_rss, out = run_measured(cli + ["shot", str(scene), "--out", str(work / "o"), "--json"])
    timings = json.loads(out)["timings"]
    floor_s, floor_rss, _ = run_measured(cli + ["shot", str(floor), "--out", str(work / "f")])
    click = work / f"click_{width}"
    click.mkdir()
    for name in ("input_video.mp4", "points.json", "prompt.json"):
        os.symlink(scene / name, click / name)
    click_s, click_rss, _ = run_measured(cli + ["shot", str(click), "--out", str(work / "c")])
    plate = str(scene / "input_video.mp4")
    decode_s, _, _ = run_measured([py, __file__, "--child-decode", plate])
    write_dir = work / f"w_{width}"
    write_dir.mkdir()
    write_s, _, _ = run_measured([py, __file__, "--child-write", plate, str(frames), str(write_dir)])
    for folder in (work / "o", work / "f", work / "c", write_dir):
        shutil.rmtree(folder, ignore_errors=True)
    return {"size": f"{width}x{height}", "frames": frames, "shot": shot_s, "floor": floor_s,
            "click": click_s, "click_rss": click_rss,
            "decode": decode_s, "write": write_s, "rss": shot_rss, "floor_rss": floor_rss,
            "fill_cpu": timings["fill"]}


def print_table(rows: list[dict]) -> None:
    print(f"\nmachine: {machine()}")
    print("times are wall seconds of a whole process (startup included), per frame\n")
    header = ("size", "frames", "shot s/f", "click s/f", "floor s/f", "decode s/f", "write s/f",
              "decode share", "write share", "shot/floor", "click/floor", "peak RSS shot / click")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        n = r["frames"]
        print(f"| {r['size']} | {n} | {r['shot'] / n:.3f} | {r['click'] / n:.3f} | {r['floor'] / n:.3f} | "
              f"{r['decode'] / n:.3f} | {r['write'] / n:.3f} | {r['decode'] / r['shot']:.0%} | "
              f"{r['write'] / r['shot']:.0%} | {r['shot'] / r['floor']:.2f}x | "
              f"{r['click'] / r['floor']:.2f}x | {r['rss']:.2f} / {r['click_rss']:.2f} GiB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--sizes", default="1920x1080,3840x2160")
    parser.add_argument("--child-decode", metavar="PLATE")
    parser.add_argument("--child-write", nargs=3, metavar=("PLATE", "FRAMES", "DIR"))
    args = parser.parse_args()
    if args.child_decode:
        return child_decode(args.child_decode)
    if args.child_write:
        return child_write(args.child_write[0], int(args.child_write[1]), args.child_write[2])
    rows = []
    with tempfile.TemporaryDirectory(prefix="void-bench-") as tmp:
        for size in args.sizes.split(","):
            width, height = map(int, size.lower().split("x"))
            print(f"benchmarking {width}x{height}, {args.frames} frames ...", file=sys.stderr)
            rows.append(bench_size(width, height, args.frames, Path(tmp)))
    print_table(rows)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
