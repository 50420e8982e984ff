"""Inpainting engines, chosen by name."""

from __future__ import annotations

from void_core.errors import EngineNotFoundError
from void_core.inpaint.base import Fill, Frame, Inpainter, InpaintStats, ShotFrames

ENGINES = ("classical",)


def create_inpainter(name: str, **settings) -> Inpainter:
    """Build the inpainting engine registered under `name`."""
    if name == "classical":
        from void_core.inpaint.classical import ClassicalInpainter

        return ClassicalInpainter(**settings)
    raise EngineNotFoundError("inpainting", name, list(ENGINES))


__all__ = ["ENGINES", "Fill", "Frame", "InpaintStats", "Inpainter", "ShotFrames", "create_inpainter"]
