"""Hole shots on disk, and the classical engine run on them the way a user runs it.

A hole shot is a VOID-layout folder: `input_video.mkv` (the frames with the hole blanked to
black, FFV1 planar RGB, lossless, tagged with the source's transfer) and `quadmask_0.mp4`
(0 in the hole, 255 elsewhere, VOID's lossless mask encoding).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from void_core.media import colour
from void_core.media.colour import TRC_BY_TRANSFER, Transfer
from void_core.media.encode import MaskVideoWriter
from void_core.media.exr import read_exr_frame
from void_core.media.masks import QuadmaskReader
from void_core.media.plate import open_plate

from .baselines import Clip
from .camera import CameraTracker
from .holes import Hole

PLATE_NAME, MASK_NAME = "input_video.mkv", "quadmask_0.mp4"


class LosslessRgbWriter:
    """FFV1 RGB in Matroska (8-bit RGB is stored as bgr0), tagged with `transfer`."""

    def __init__(self, path: Path, rate: Fraction, width: int, height: int, transfer: Transfer):
        self._container = av.open(str(path), "w", format="matroska")
        self._stream = self._container.add_stream("ffv1", rate=rate, options={"slices": "16"})
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "bgr0"
        self._stream.codec_context.color_trc = TRC_BY_TRANSFER[transfer]
        self._count = 0

    def write(self, rgb: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self._count
        self._count += 1
        for packet in self._stream.encode(frame.reformat(format="bgr0")):
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()


@dataclass
class HoleShot:
    folder: Path
    clip: Clip  # the crop around the hole the methods are scored on
    truths: list[np.ndarray]
    transfer: Transfer


def write_hole_shot(folder: Path, frames: Iterable[tuple[np.ndarray, np.ndarray | None]], hole: Hole,
                    rate: Fraction, transfer: Transfer, pad: int,
                    tracker: CameraTracker | None = None) -> HoleShot:
    """Write the shot with `hole` blanked and keep the crop (hole's union box grown by `pad`).

    `frames` gives (RGB codes, the source quadmask or None); a `tracker` is fed the blanked
    frames with the hole and the source's objects as non-background, so a motion estimate
    never sees what is in the hole. Checks that the plate and the quadmask decode back to
    exactly the codes written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    box = hole.union_box(pad)
    writer = LosslessRgbWriter(folder / PLATE_NAME, rate, hole.width, hole.height, transfer)
    checksums, mask_checksums = [], []
    truths, inputs, holes = [], [], []
    with MaskVideoWriter(folder / MASK_NAME, rate) as masks:
        for index, (frame, objects) in zip(range(hole.frames), frames, strict=False):
            blanked = frame.copy()
            full_hole = hole.mask(index)
            blanked[full_hole] = 0
            writer.write(blanked)
            if tracker is not None:
                background = ~full_hole if objects is None else ~full_hole & (objects == 255)
                _track(tracker, blanked, background)
            quadmask = np.where(full_hole, 0, 255).astype(np.uint8)
            masks.write(quadmask)
            checksums.append(zlib.crc32(blanked))
            mask_checksums.append(zlib.crc32(quadmask))
            crop = (slice(box[1], box[3]), slice(box[0], box[2]))
            truths.append(frame[crop].copy())
            inputs.append(blanked[crop].copy())
            holes.append(full_hole[crop].copy())  # a view would keep the whole frame's mask
    writer.close()
    _check_lossless(folder / PLATE_NAME, checksums, open_plate(folder / PLATE_NAME).frames())
    _check_lossless(folder / MASK_NAME, mask_checksums, QuadmaskReader(folder / MASK_NAME).frames())
    return HoleShot(folder, Clip(inputs, holes, (box[0], box[1])), truths, transfer)


def _track(tracker: CameraTracker, rgb: np.ndarray, background: np.ndarray) -> None:
    height, width = rgb.shape[:2]
    size = (round(width * tracker.scale), round(height * tracker.scale))
    grey = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
    tracker.add(grey, cv2.resize(background.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST))


def _check_lossless(path: Path, checksums: list[int], decoded: Iterable[np.ndarray]) -> None:
    if [zlib.crc32(np.ascontiguousarray(codes)) for codes in decoded] != checksums:
        raise RuntimeError(f"{path}: decoding does not give back exactly the codes written")


def void_farm_command() -> list[str]:
    """The `void-farm` console script of the running interpreter's environment."""
    script = Path(sys.executable).with_name("void-farm")
    if script.exists():
        return [str(script)]
    found = shutil.which("void-farm")
    if found is None:
        raise SystemExit("void-farm is not installed in this environment (pip install -e .)")
    return [found]


def run_classical(shot: HoleShot, out_root: Path,
                  engine_args: Sequence[str] = ()) -> tuple[list[np.ndarray], float]:
    """`void-farm shot` with the classical engine on the hole shot; returns the crops of its
    EXRs converted back to display codes with the transfer their header records, and the
    wall time of the command."""
    paths, seconds = run_void_farm_shot(shot.folder, out_root, engine_args)
    return crop_outputs(shot, paths), seconds


def crop_outputs(shot: HoleShot, paths: Sequence[Path]) -> list[np.ndarray]:
    """The EXRs, in display codes, cropped to the hole shot's clip."""
    height, width = shot.clip.inputs[0].shape[:2]
    x, y = shot.clip.origin
    return [read_display_exr(path)[y:y + height, x:x + width].copy() for path in paths]


def shot_command(folder: Path, out_root: Path, engine_args: Sequence[str] = ()) -> list[str]:
    """Arguments of `void-farm` that fill a VOID-layout folder with the classical engine."""
    return ["shot", str(folder), "--out", str(out_root), "--name", "fill", "--engine", "classical",
            "--no-lineage", "--force", "--json", "--start-frame", "1", *engine_args]


def written_frames(stdout: str) -> list[Path]:
    """The EXRs `void-farm shot --json` reports."""
    record = json.loads(stdout)
    out_dir = Path(record["out_dir"])
    return [out_dir / f"fill.{record['first_frame'] + i:04d}.exr" for i in range(record["frames"])]


def run_void_farm_shot(folder: Path, out_root: Path,
                       engine_args: Sequence[str] = ()) -> tuple[list[Path], float]:
    """Run the CLI on a VOID-layout folder; the EXRs it wrote, and its wall seconds."""
    started = time.perf_counter()
    done = subprocess.run([*void_farm_command(), *shot_command(folder, out_root, engine_args)],
                          capture_output=True, text=True, env={**os.environ, "DO_NOT_TRACK": "1"})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"void-farm shot failed on {folder}:\n{done.stderr.strip()}")
    return written_frames(done.stdout), seconds


def read_display_exr(path: Path) -> np.ndarray:
    """A void-farm EXR back in its source's display encoding, 8-bit codes."""
    frame = read_exr_frame(path)
    transfer = Transfer(frame.header["void/transfer"])
    display = colour.to_display(frame.rgb.astype(np.float32), transfer)
    return np.clip(np.rint(display * 255), 0, 255).astype(np.uint8)
