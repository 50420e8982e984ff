"""Fill quality on real footage: cut holes where nothing needs removing, fill, compare.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/real_footage.py [FOOTAGE] [--shots BigBen pillow]
        [--methods telea,median,aligned,classical] [--frames 20] [--engine-config FILE]
        [--engine-arg=--refiner --engine-arg=none] [--sheets DIR] [--own-masks]

Evaluates whatever `void_core` is on PYTHONPATH (it prints which), so another worktree's engine
can be measured with this file: `cd OTHER && PYTHONPATH=$PWD python PATH/TO/real_footage.py`.

FOOTAGE (default ../shared/footage beside the repository) holds shots in VOID's layout. Per
shot, holes are placed on background that nothing crosses (see fillbench/holes.py, printed as
"rule"): a static ellipse and a sliding one, and a held-out pair at other places from another
seed (reported in their own rows and verdicts). Each hole becomes a shot of its own: the frames
with the hole blanked, stored lossless (FFV1 RGB), and a quadmask with 0 in the hole. Methods:

  telea      per-frame OpenCV Telea inpainting (radius 5)
  median     per-pixel temporal median over the frames that show the pixel; Telea elsewhere
  aligned    each frame's hole filled with the median of the other frames warped onto it with
             homographies chained from frame-to-frame LK feature tracks (fillbench/camera.py,
             OpenCV only, measured on the blanked frames)
  classical  `void-farm shot --engine classical` with the quadmask, EXRs converted back to the
             source's display encoding with the transfer their header records

scored in the hole against the original frames (metrics: fillbench/scoring.py). Contact sheets
(truth | input | methods, crops around the hole, sampled frames) go to --sheets. --own-masks
also runs classical on each shot with its own quadmask (the real removal, not scored) and
writes before | after sheets.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

import void_core
from void_core.media.masks import QuadmaskReader, find_mask
from void_core.media.plate import open_plate
from void_core.pipeline.folder import resolve_shot_folder

from fillbench import baselines, holes, scoring, sheets, shots  # beside this file
from fillbench.camera import CameraTracker
from shot_speed import machine

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FOOTAGE = REPO.parent / "shared" / "footage"
DEFAULT_SHEETS = REPO / "benchmarks" / "out" / "real_footage"
METHODS = ("telea", "median", "aligned", "classical")
BASELINES_TO_BEAT = ("telea", "median")
TARGET_GAIN_DB, TARGET_WORST_DB = 1.0, -0.5
TRACK_WIDTH = 960  # frames are registered at this width for the aligned median
COLUMNS = (("psnr", "PSNR"), ("ssim", "SSIM"), ("temporal", "temporal err"),
           ("ring_psnr", "ring PSNR"), ("hf_ratio", "HF ratio"))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("footage", nargs="?", type=Path, default=DEFAULT_FOOTAGE)
    parser.add_argument("--shots", nargs="+", help="shot folder names (default: all)")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated subset of {', '.join(METHODS)}")
    parser.add_argument("--frames", type=int, help="use only the first N frames of each shot")
    parser.add_argument("--engine-config", type=Path, help="TOML passed to void-farm shot --config")
    parser.add_argument("--engine-arg", action="append", default=[],
                        help="extra argument for void-farm shot (repeat; e.g. --engine-arg=--refiner "
                             "--engine-arg=none)")
    parser.add_argument("--sheets", type=Path, default=DEFAULT_SHEETS, help="contact sheet folder")
    parser.add_argument("--work", type=Path, help="keep the hole shots and EXRs here (default: a "
                                                  "temporary folder, removed)")
    parser.add_argument("--own-masks", action="store_true",
                        help="also run classical with each shot's own quadmask (before/after sheets)")
    args = parser.parse_args()
    args.methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    unknown = set(args.methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown method(s) {', '.join(sorted(unknown))}; choose from {', '.join(METHODS)}")
    if not args.footage.is_dir():
        parser.error(f"footage folder {args.footage} not found; give it as the first argument")
    available = sorted(p.name for p in args.footage.iterdir() if p.is_dir() and find_mask(p))
    args.shots = args.shots or available
    missing = set(args.shots) - set(available)
    if missing:
        parser.error(f"no shot {', '.join(sorted(missing))} in {args.footage}; "
                     f"there are {', '.join(available)}")
    return args


def engine_args(args: argparse.Namespace) -> list[str]:
    extra = list(args.engine_arg)
    if args.engine_config:
        extra += ["--config", str(args.engine_config.resolve())]
    return extra


def shot_frames(folder: Path, cap: int | None):
    """(RGB codes, quadmask) pairs of a footage shot, the first `cap` only when given."""
    inputs = resolve_shot_folder(folder)
    plate = open_plate(inputs.plate)
    masks = QuadmaskReader(inputs.mask).frames()
    for index, pair in enumerate(zip(plate.frames(), masks, strict=True)):
        if cap is not None and index >= cap:
            return
        yield pair


def survey(folder: Path, cap: int | None) -> holes.ShotSurvey:
    plate = open_plate(resolve_shot_folder(folder).plate)
    result = holes.ShotSurvey(plate.info.width, plate.info.height)
    for rgb, quadmask in shot_frames(folder, cap):
        result.add(rgb, quadmask)
    return result


def run_methods(shot: shots.HoleShot, track, methods, work: Path, extra: list[str]):
    outputs, seconds = {}, {}
    for method in methods:
        started = time.perf_counter()
        if method == "telea":
            outputs[method] = baselines.telea(shot.clip)
        elif method == "median":
            outputs[method] = baselines.temporal_median(shot.clip)
        elif method == "aligned":
            outputs[method] = baselines.aligned_median(shot.clip, track)
        else:
            outputs[method], seconds[method] = shots.run_classical(shot, work / "out", extra)
            continue  # timed as the command's wall time (start-up included), not the read-back
        seconds[method] = time.perf_counter() - started
    return outputs, seconds


def hole_sheet(path: Path, hole: holes.Hole, shot: shots.HoleShot, outputs) -> Path:
    rows = sheets.sample_frames(hole.frames)
    ox, oy = shot.clip.origin
    height, width = shot.clip.inputs[0].shape[:2]
    around = round(0.6 * max(hole.axes))
    boxes = []
    for index in rows:
        x0, y0, x1, y1 = hole.box(index, pad=around)
        boxes.append((max(0, x0 - ox), max(0, y0 - oy), min(width, x1 - ox), min(height, y1 - oy)))
    columns = {"truth": shot.truths, "input": shot.clip.inputs, **outputs}
    return sheets.write_sheet(path, columns, rows, boxes)


def bench_shot(folder: Path, args, work: Path, extra: list[str]) -> tuple[list[dict], list[str]]:
    cap = args.frames
    found = survey(folder, cap)
    placed, notes = holes.place_shot_holes(found, folder.name, found.frames)
    plate = open_plate(resolve_shot_folder(folder).plate)
    pad = max(48, round(0.04 * plate.info.width))
    rows = []
    for hole in placed:
        hole_dir = work / folder.name / hole.slug
        tracker = None
        if "aligned" in args.methods:
            tracker = CameraTracker(min(1.0, TRACK_WIDTH / plate.info.width))
        started = time.perf_counter()
        shot = shots.write_hole_shot(hole_dir, shot_frames(folder, cap), hole, plate.info.rate,
                                     plate.info.transfer, pad, tracker)
        print(f"  {folder.name} {hole.label}: centre {_centre(hole)}, axes "
              f"{hole.axes[0]:.0f}x{hole.axes[1]:.0f} px, {hole.frames} frames, written in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        track = tracker.track() if tracker else None
        outputs, seconds = run_methods(shot, track, args.methods, hole_dir, extra)
        for method, frames in outputs.items():
            scores = scoring.score_fill(frames, shot.truths, shot.clip.holes)
            rows.append({"shot": folder.name, "hole": hole.label, "held_out": hole.held_out,
                         "kind": hole.kind, "method": method, "seconds": seconds[method],
                         **scores.as_dict()})
        sheet = hole_sheet(args.sheets / f"{folder.name}_{hole.slug}.png", hole, shot, outputs)
        print(f"    sheet {sheet}", flush=True)
    return rows, notes


def _centre(hole: holes.Hole) -> str:
    first, last = hole.centres[0], hole.centres[-1]
    if first == last:
        return f"({first[0]:.0f}, {first[1]:.0f})"
    return f"({first[0]:.0f}, {first[1]:.0f}) -> ({last[0]:.0f}, {last[1]:.0f})"


def own_mask_sheets(folder: Path, args, work: Path, extra: list[str]) -> Path:
    """Classical with the shot's own quadmask (the real removal): before | after sheet."""
    source = folder
    if args.frames:
        source = work / "own" / folder.name
        _write_capped_shot(folder, source, args.frames)
    paths, seconds = shots.run_void_farm_shot(source, work / "own_out" / folder.name, extra)
    rows = sheets.sample_frames(len(paths))
    before = {index: rgb for index, (rgb, _) in enumerate(shot_frames(folder, args.frames)) if index in rows}
    after = {index: shots.read_display_exr(paths[index]) for index in rows}
    columns = {"before": [before.get(i) for i in range(len(paths))],
               "after (classical, own quadmask)": [after.get(i) for i in range(len(paths))]}
    sheet = sheets.write_sheet(args.sheets / f"{folder.name}_own_mask.png", columns, rows, tile_height=360)
    print(f"  {folder.name} own quadmask: {len(paths)} frames in {seconds:.1f} s, sheet {sheet}", flush=True)
    return sheet


def _write_capped_shot(folder: Path, target: Path, cap: int) -> None:
    from void_core.media.encode import MaskVideoWriter

    target.mkdir(parents=True, exist_ok=True)
    plate = open_plate(resolve_shot_folder(folder).plate)
    writer = shots.LosslessRgbWriter(target / shots.PLATE_NAME, plate.info.rate, plate.info.width,
                                     plate.info.height, plate.info.transfer)
    with MaskVideoWriter(target / shots.MASK_NAME, plate.info.rate) as masks:
        for rgb, quadmask in shot_frames(folder, cap):
            writer.write(rgb)
            masks.write(quadmask)
    writer.close()


def fmt(value: float, digits: int = 2) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def print_rows(rows: list[dict]) -> None:
    print("\n| shot | hole | method | " + " | ".join(label for _, label in COLUMNS) + " | seconds |")
    print("|---|---|---|" + "---|" * (len(COLUMNS) + 1))
    for row in rows:
        print(f"| {row['shot']} | {row['hole']} | {row['method']} | {_cells(row)} | {row['seconds']:.1f} |")


def _cells(values: dict) -> str:
    return " | ".join(fmt(values[key], 3 if key in ("ssim", "hf_ratio") else 2) for key, _ in COLUMNS)


def print_means(rows: list[dict], methods) -> None:
    for title, subset in subsets(rows):
        print(f"\n**mean, {title}** ({len({(r['shot'], r['hole']) for r in subset})} holes)\n")
        print("| method | " + " | ".join(label for _, label in COLUMNS) + " | seconds |")
        print("|---|" + "---|" * (len(COLUMNS) + 1))
        for method in methods:
            mine = [r for r in subset if r["method"] == method]
            if not mine:
                continue
            means = {key: float(np.nanmean([r[key] for r in mine])) for key, _ in COLUMNS}
            print(f"| {method} | {_cells(means)} | {sum(r['seconds'] for r in mine):.1f} |")


def subsets(rows: list[dict]) -> list[tuple[str, list[dict]]]:
    main = [r for r in rows if not r["held_out"]]
    held = [r for r in rows if r["held_out"]]
    return [(title, subset) for title, subset in (("main holes", main), ("held-out holes", held),
                                                  ("all holes", rows)) if subset]


def verdicts(rows: list[dict], candidate: str = "classical") -> list[str]:
    """The issue's three targets for `candidate`, per subset of holes.

    "Better baseline" is per hole: the higher PSNR of Telea and the temporal median on that hole.
    """
    lines = []
    for title, subset in subsets(rows):
        by_hole = defaultdict(dict)
        for row in subset:
            by_hole[(row["shot"], row["hole"])][row["method"]] = row
        complete = [h for h in by_hole.values() if candidate in h and all(b in h for b in BASELINES_TO_BEAT)]
        if not complete:
            lines.append(f"{title}: no verdict (needs {candidate}, telea and median)")
            continue
        ours = np.array([h[candidate]["psnr"] for h in complete])
        best = np.array([max(h[b]["psnr"] for b in BASELINES_TO_BEAT) for h in complete])
        gain, worst = float(np.mean(ours - best)), float(np.min(ours - best))
        temporal = float(np.nanmean([h[candidate]["temporal"] for h in complete]))
        median_temporal = float(np.nanmean([h["median"]["temporal"] for h in complete]))
        lines += [
            f"{title}: mean PSNR {np.mean(ours):.2f} dB vs better baseline {np.mean(best):.2f} dB: "
            f"{gain:+.2f} dB (target >= +{TARGET_GAIN_DB:.1f}): {_pass(gain >= TARGET_GAIN_DB)}",
            f"{title}: worst hole {worst:+.2f} dB vs its better baseline (target >= {TARGET_WORST_DB:.1f}): "
            f"{_pass(worst >= TARGET_WORST_DB)}",
            f"{title}: mean temporal error {temporal:.2f} vs median's {median_temporal:.2f} "
            f"(target <=): {_pass(temporal <= median_temporal)}",
        ]
    return lines


def _pass(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    args = parse_args()
    print(f"machine: {machine()}")
    print(f"void_core: {Path(void_core.__file__).parent}")
    print(f"footage: {args.footage} shots: {', '.join(args.shots)}; frames: {args.frames or 'all'}")
    print(f"{holes.RULE}")
    print(f"methods: {', '.join(args.methods)}; classical args: {' '.join(engine_args(args)) or '(none)'}")
    extra = engine_args(args)
    rows, notes = [], []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="real-footage-") as scratch:
        work = args.work or Path(scratch)
        for name in args.shots:
            shot_rows, shot_notes = bench_shot(args.footage / name, args, work, extra)
            rows += shot_rows
            notes += shot_notes
        if args.own_masks:
            for name in args.shots:
                own_mask_sheets(args.footage / name, args, work, extra)
    print(f"\nwall time {time.perf_counter() - started:.0f} s")
    for note in notes:
        print(f"note: {note}")
    print_rows(rows)
    print("\nrows marked (held out) are holes at other places of the same shots, drawn with another seed")
    print_means(rows, args.methods)
    print("\nwall time per method (s, all holes): " + ", ".join(
        f"{m} {sum(r['seconds'] for r in rows if r['method'] == m):.1f}" for m in args.methods))
    print("\n" + scoring.__doc__.strip())
    print("\n" + "\n".join(f"verdict {line}" for line in verdicts(rows)))


if __name__ == "__main__":
    main()
