"""The inpainting protocol: a stream of region-of-interest crops in, filled crops out.

The shot runner crops every frame to one region of interest (the union of the shot's dilated
edit region), hands the engine the crop's raw pixels and its quadmask, and gets back, for each
frame in order, the display-referred fill of that crop. Engines may look ahead (they receive
frames before they must answer) but must keep a bounded number of frames in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class InpaintItem:
    """One frame's crop as the engine sees it.

    Attributes:
        index: frame index within the shot (0-based).
        raw: the crop's raw pixels (code values or linear floats; see `to_display`).
        quad: the crop's quadmask (0/63/127/255).
        hole: pixels the engine must fill (the dilated edit region), bool.
    """

    index: int
    raw: np.ndarray
    quad: np.ndarray
    hole: np.ndarray


@dataclass
class InpaintStats:
    """What an engine did, for the summary and lineage."""

    hole_pixels: int = 0
    temporal_pixels: int = 0
    spatial_pixels: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def spatial_share(self) -> float:
        return self.spatial_pixels / self.hole_pixels if self.hole_pixels else 0.0


class Inpainter(Protocol):
    """Fills the hole of every crop; yields (index, display float32 crop) in frame order."""

    name: str
    version: str
    stats: InpaintStats

    def settings(self) -> dict: ...

    def inpaint(
        self, items: Iterator[InpaintItem], to_display: Callable[[np.ndarray], np.ndarray]
    ) -> Iterator[tuple[int, np.ndarray]]: ...
