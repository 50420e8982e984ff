"""Inpainting engines (built through `void_core.engines`) and the types they exchange."""

from __future__ import annotations

from void_core.engines import Inpainter
from void_core.inpaint.base import Fill, Frame, InpaintStats, ShotFrames

__all__ = ["Fill", "Frame", "InpaintStats", "Inpainter", "ShotFrames"]
