"""The `flow` refiner: flow-guided temporal stabilisation of the filled region.

A fill can shimmer from frame to frame (a spatial fill is re-invented every frame; tone matching
moves with the sensor noise). For each frame the previous *refined* fill is carried to the
current frame along the optical flow between the two filled images (OpenCV DIS, on a downscaled
grey copy, so the flow follows the background, not the removed object), and blended into the
current fill where the two agree: `refined = fill + strength * (carried - fill)`. Where they
disagree by more than `tolerance` (a real change: the light moved, something new entered) the
current fill is kept. Only hole pixels change; the composite band still decides what is pasted.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from void_core.composite import Box
from void_core.engines import WithoutModels
from void_core.inpaint.base import Fill

_FLOW_WIDTH = 640


class FlowRefiner(WithoutModels):
    name = "flow"
    version = "0.1.0"

    def __init__(self, strength: float = 0.6, tolerance: float = 0.06):
        if not 0.0 <= strength < 1.0:
            raise ValueError("strength must be in [0, 1)")
        self.strength = strength
        self.tolerance = tolerance
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def settings(self) -> dict:
        return {"strength": self.strength, "tolerance": self.tolerance}

    def refine(self, fills: Iterator[Fill], holes) -> Iterator[Fill]:
        """Stabilise a stream of fills; `holes(fill)` gives the bool pixels each fill replaces.

        Only pixels an engine marks `unstable` change (all hole pixels when it marks none):
        fills taken from a motion-compensated background are stable by construction, and
        resampling them again would only blur them.
        """
        previous: Fill | None = None
        for fill in fills:
            if fill.display is None or previous is None or previous.display is None:
                previous = fill
                yield fill
                continue
            target = holes(fill) if fill.unstable is None else fill.unstable
            if not target.any():
                previous = fill
                yield fill
                continue
            refined = self._stabilise(previous, fill, target)
            previous = Fill(fill.frame, fill.box, refined, fill.unstable)
            yield previous

    def _stabilise(self, previous: Fill, current: Fill, hole: np.ndarray) -> np.ndarray:
        carried, valid = self._carry(previous, current)
        agree = valid & hole & (np.abs(carried - current.display).max(axis=-1) < self.tolerance)
        out = current.display.copy()
        out[agree] += self.strength * (carried[agree] - current.display[agree])
        return out

    def _carry(self, previous: Fill, current: Fill) -> tuple[np.ndarray, np.ndarray]:
        """The previous fill moved onto the current box, and where that is defined."""
        box = current.box
        h, w = box.y1 - box.y0, box.x1 - box.x0
        before = _place(previous.display, previous.box, box)
        placed = _place(np.ones(previous.display.shape[:2], np.float32), previous.box, box)[..., 0] > 0
        scale = min(1.0, _FLOW_WIDTH / max(w, 1))
        flow = self._flow_between(current.display, before, scale)
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        map_x, map_y = gx + flow[..., 0], gy + flow[..., 1]
        carried = cv2.remap(before, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        valid = cv2.remap(placed.astype(np.uint8), map_x, map_y, cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
        return carried, valid

    def _flow_between(self, current: np.ndarray, before: np.ndarray, scale: float) -> np.ndarray:
        """Flow from current to before (where each current pixel was), full-box resolution."""
        a, b = _grey(current, scale), _grey(before, scale)
        flow = self._flow.calc(a, b, None)
        if scale < 1.0:
            flow = cv2.resize(flow, (current.shape[1], current.shape[0]), interpolation=cv2.INTER_LINEAR)
            flow /= scale
        return flow


def _grey(display: np.ndarray, scale: float) -> np.ndarray:
    grey = cv2.cvtColor((np.clip(display, 0, 1) * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return grey


def _place(pixels: np.ndarray, source: Box, target: Box) -> np.ndarray:
    """`pixels` (covering `source`) copied into an array covering `target`, zeros elsewhere."""
    out = np.zeros((target.y1 - target.y0, target.x1 - target.x0) + pixels.shape[2:], np.float32)
    y0, y1 = max(source.y0, target.y0), min(source.y1, target.y1)
    x0, x1 = max(source.x0, target.x0), min(source.x1, target.x1)
    if y1 > y0 and x1 > x0:
        out[y0 - target.y0:y1 - target.y0, x0 - target.x0:x1 - target.x0] = \
            pixels[y0 - source.y0:y1 - source.y0, x0 - source.x0:x1 - source.x0]
    if out.ndim == 2:
        out = out[..., None]
    return out
