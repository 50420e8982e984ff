"""Inpainting engines, chosen by name."""

from __future__ import annotations

from void_core.errors import EngineNotFoundError
from void_core.inpaint.base import Fill, Frame, Inpainter, InpaintStats, ShotFrames

ENGINES = ("classical", "void")


def create_inpainter(name: str, **settings) -> Inpainter:
    """Build the inpainting engine registered under `name`."""
    if name == "classical":
        from void_core.inpaint.classical import ClassicalInpainter

        return ClassicalInpainter(**settings)
    if name == "void":  # imported only when chosen: it pulls in torch and diffusers
        from void_core.inpaint.void.engine import VoidInpainter

        return VoidInpainter(**settings)
    raise EngineNotFoundError("inpainting", name, list(ENGINES))


__all__ = ["ENGINES", "Fill", "Frame", "InpaintStats", "Inpainter", "ShotFrames", "create_inpainter"]
