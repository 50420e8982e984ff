"""Masking engines: clicks or a box on the object -> its primary ("black") mask on every frame.

`classical` (no weights) segments and tracks the object with camera-motion-compensated
background subtraction, or colour segmentation for objects that never move; `sam2` is the
production engine (elsewhere). Prompts come from `points.json`, VOID's `*_points.json` or the
CLI's `--point` / `--box`.
"""

from __future__ import annotations

from void_core.errors import EngineNotFoundError
from void_core.masking.prompt import (ClickPrompt, FrameStats, SegmentResult, Segmenter,
                                      merge_prompts, parse_box_option, parse_point_option,
                                      read_points_json, validate_prompts)

ENGINES = ("classical",)


def create_segmenter(name: str, **settings) -> Segmenter:
    """Build the masking engine registered under `name`."""
    if name == "classical":
        from void_core.masking.classical import ClassicalSegmenter

        return ClassicalSegmenter(**settings)
    raise EngineNotFoundError("masking", name, list(ENGINES))


__all__ = ["ENGINES", "ClickPrompt", "FrameStats", "SegmentResult", "Segmenter",
           "create_segmenter", "merge_prompts", "parse_box_option", "parse_point_option",
           "read_points_json", "validate_prompts"]
