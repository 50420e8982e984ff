"""Quick-look images for people: a before | mask | after strip of one frame.

Reads the written EXR back (so the picture shows what was delivered), converts it to display
space with the plate's transfer and writes an 8-bit PNG.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from void_core import quadmask
from void_core.media import colour
from void_core.media.exr import read_exr_frame
from void_core.media.plate import Plate

_OVERLAY = {quadmask.PRIMARY: (255, 40, 40), quadmask.OVERLAP: (255, 160, 0),
            quadmask.AFFECTED: (40, 120, 255)}


def to_display_codes(plate: Plate, raw: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(plate.display(raw) * 255), 0, 255).astype(np.uint8)


def mask_overlay(display: np.ndarray, quad: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """Tint primary red, overlap orange, affected blue."""
    out = display.astype(np.float32)
    for level, rgb in _OVERLAY.items():
        region = quad == level
        out[region] = (1 - opacity) * out[region] + opacity * np.array(rgb, np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def write_before_after(path: str | Path, plate: Plate, index: int, exr_path: Path,
                       max_width: int = 1920) -> Path:
    """Write frame `index` as before | quadmask overlay | after, scaled to `max_width`."""
    raw = next(frame for i, frame in enumerate(plate.frames()) if i == index)
    exr = read_exr_frame(exr_path)
    before = to_display_codes(plate, raw)
    after_linear = exr.rgb.astype(np.float32)
    after = np.clip(np.rint(colour.to_display(after_linear, plate.info.transfer) * 255), 0, 255)
    quad = np.full(before.shape[:2], quadmask.KEEP, np.uint8)
    quad[exr.masks["mask.affected"] > 0] = quadmask.AFFECTED
    quad[exr.masks["mask.primary"] > 0] = quadmask.PRIMARY
    quad[(exr.masks["mask.primary"] > 0) & (exr.masks["mask.affected"] > 0)] = quadmask.OVERLAP
    strip = np.concatenate([before, mask_overlay(before, quad), after.astype(np.uint8)], axis=1)
    if strip.shape[1] > max_width:
        scale = max_width / strip.shape[1]
        strip = cv2.resize(strip, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    path = Path(path)
    cv2.imwrite(str(path), np.ascontiguousarray(strip[:, :, ::-1]))
    return path
