"""A scene-linear HDR shot with known truth: what scene-linear plates must survive.

A static background in linear light (a textured wall around 0.05 to 2, with lamps peaking at
`peak`, 50 by default) and a dull disc moving across it. The disc is the object to remove; its
quadmask is 0 on the disc. Every background pixel the disc covers in one frame is visible in
another, so the truth behind the hole is the background itself. Written as a VOID-layout
folder: `input/plate.####.exr` (half) and `quadmask/mask.####.png`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from void_core import quadmask
from void_core.media.exr import write_exr_frame

FIRST_FRAME = 1001


@dataclass(frozen=True)
class HdrShot:
    """The folder written and the truth per frame (float32 linear, before half rounding)."""

    folder: Path
    truth: np.ndarray  # (H, W, 3) float32: the background behind the disc, every frame
    holes: tuple[np.ndarray, ...]  # per frame, bool (H, W): the disc
    plates: tuple[np.ndarray, ...]  # per frame, what the EXR holds (half)


def hdr_background(width: int, height: int, peak: float, seed: int = 0) -> np.ndarray:
    """Linear RGB float32: a smooth coloured wall (0.05 .. 2) and three lamps peaking at `peak`
    on the row the disc travels along."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    wall = np.stack([
        0.6 + 0.5 * np.sin(xx / 7.0) * np.cos(yy / 9.0),
        0.5 + 0.4 * np.cos(xx / 11.0 + yy / 13.0),
        0.4 + 0.3 * np.sin((xx + yy) / 6.0),
    ], axis=-1) ** 2 * 2.0 + 0.05
    wall *= 1.0 + 0.02 * rng.standard_normal(wall.shape).astype(np.float32)
    for cx in (width * 0.3, width * 0.55, width * 0.8):
        glow = np.exp(-((xx - cx) ** 2 + (yy - height / 2) ** 2) / (2 * 3.0**2))
        wall += (peak * glow)[..., None] * np.array([1.0, 0.9, 0.7], np.float32)
    return wall.astype(np.float32)


def write_hdr_shot(folder: Path, *, width: int = 96, height: int = 64, frames: int = 12,
                   radius: int = 8, peak: float = 50.0) -> HdrShot:
    """Write the shot (the folder is created)."""
    background = hdr_background(width, height, peak)
    (folder / "input").mkdir(parents=True, exist_ok=True)
    (folder / "quadmask").mkdir(exist_ok=True)
    yy, xx = np.mgrid[0:height, 0:width]
    holes, plates = [], []
    for i in range(frames):
        cx = radius + 2 + i * (width - 2 * radius - 4) // max(1, frames - 1)
        disc = (xx - cx) ** 2 + (yy - height // 2) ** 2 <= radius**2
        plate = background.copy()
        plate[disc] = (0.12, 0.1, 0.08)
        plate = plate.astype(np.float16)
        write_exr_frame(folder / "input" / f"plate.{FIRST_FRAME + i:04d}.exr", plate)
        mask = np.full((height, width), quadmask.KEEP, np.uint8)
        mask[disc] = quadmask.PRIMARY
        cv2.imwrite(str(folder / "quadmask" / f"mask.{i:04d}.png"), mask)
        holes.append(disc)
        plates.append(plate)
    return HdrShot(folder, background, tuple(holes), tuple(plates))
