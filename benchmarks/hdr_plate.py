"""Scene-linear HDR plates: does the fill keep the light behind the object?

Run: `.venv/bin/python benchmarks/hdr_plate.py [--peak 50] [--engine classical]`.

Writes the HDR shot of `void_core.synth.hdr` (a wall with lamps up to `--peak`, a disc moving
across it, the truth behind the disc known), runs it through `process_shot` and prints one table:
the in-hole mean of the fill against the truth's, the in-hole maximum, and whether every pixel
outside the composite band is bit-identical to the plate. `--scene DIR` reuses a written shot
(so the same scene can be measured with another checkout's code).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def measure(folder: Path, out: Path, engine: str) -> dict[str, float | bool]:
    import cv2

    from void_core import quadmask
    from void_core.media.exr import read_exr_frame
    from void_core.media.sequence import find_sequence, read_png_grey
    from void_core.pipeline import ShotRequest, process_shot, resolve_shot_folder

    request = ShotRequest(inputs=resolve_shot_folder(folder), out_root=out, name="hdr010",
                          engine=engine)
    result = process_shot(request)
    plates = find_sequence(folder / "input").frames
    masks = find_sequence(folder / "quadmask").frames
    truth = _truth(folder)
    filled, expected, peak, untouched = [], [], 0.0, True
    band = quadmask.band_width(result.width)
    for index, (plate_path, mask_path) in enumerate(zip(plates, masks, strict=True)):
        plate = read_exr_frame(plate_path).rgb
        output = read_exr_frame(out / "hdr010" / f"hdr010.{result.first_frame + index}.exr").rgb
        mask = read_png_grey(mask_path)
        hole = mask == quadmask.PRIMARY
        filled.append(output[hole].astype(np.float64))
        expected.append(truth[hole].astype(np.float64))
        peak = max(peak, float(np.nanmax(output[hole])))
        keep = (mask == quadmask.KEEP).astype(np.uint8)
        far = cv2.distanceTransform(keep, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) >= band
        untouched &= bool(np.array_equal(output[far].view(np.uint16), plate[far].view(np.uint16)))
    fill_mean = float(np.mean(np.concatenate(filled)))
    truth_mean = float(np.mean(np.concatenate(expected)))
    return {"fill_mean": fill_mean, "truth_mean": truth_mean,
            "error_pct": 100.0 * (fill_mean - truth_mean) / truth_mean,
            "hole_max": peak, "truth_max": float(max(e.max() for e in expected)),
            "untouched_bit_identical": untouched}


def _write(folder: Path, peak: float) -> Path:
    from void_core.synth.hdr import write_hdr_shot

    np.save(folder / "truth.npy", write_hdr_shot(folder, peak=peak).truth)
    return folder


def _truth(folder: Path) -> np.ndarray:
    return np.load(folder / "truth.npy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peak", type=float, default=50.0, help="lamp peak, linear (default 50)")
    parser.add_argument("--engine", default="classical")
    parser.add_argument("--scene", type=Path, help="reuse this written shot folder")
    parser.add_argument("--write-scene", type=Path, help="only write the shot to this folder")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.write_scene:
        _write(args.write_scene, args.peak)
        return 0
    with tempfile.TemporaryDirectory(prefix="void-hdr-") as tmp:
        folder = args.scene
        if folder is None:
            folder = _write(Path(tmp) / "hdr010", args.peak)
        row = measure(folder, Path(tmp) / "out", args.engine)
    print(f"{'engine':<10} {'fill mean':>10} {'truth mean':>11} {'error %':>8} {'hole max':>9} "
          f"{'truth max':>10} {'untouched bit-identical':>24}")
    print(f"{args.engine:<10} {row['fill_mean']:>10.4f} {row['truth_mean']:>11.4f} "
          f"{row['error_pct']:>8.2f} {row['hole_max']:>9.3f} {row['truth_max']:>10.3f} "
          f"{str(row['untouched_bit_identical']):>24}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
