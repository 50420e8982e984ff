"""The classical inpainter (no weights, CPU): see `engine` for how it works."""

from void_core.inpaint.classical.engine import ClassicalInpainter

__all__ = ["ClassicalInpainter"]
