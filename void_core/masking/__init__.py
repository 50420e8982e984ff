"""Masking engines: clicks or a box on the object -> its primary ("black") mask on every frame.

`classical` (no weights) segments and tracks the object with camera-motion-compensated
background subtraction, or colour segmentation for objects that never move; `sam2` is the
production engine (`sam2_engine`: SAM 2 from local weights). Prompts come from `points.json`,
VOID's `*_points.json` or the CLI's `--point` / `--box`.
"""

from __future__ import annotations

from void_core.errors import EngineNotFoundError
from void_core.masking.prompt import (ClickPrompt, FrameStats, SegmentResult, Segmenter,
                                      merge_prompts, parse_box_option, parse_point_option,
                                      read_points_json, validate_prompts)

ENGINES = ("classical", "sam2")


def create_segmenter(name: str, **settings) -> Segmenter:
    """Build the masking engine registered under `name`."""
    if name == "classical":
        from void_core.masking.classical import ClassicalSegmenter

        return ClassicalSegmenter(**settings)
    if name == "sam2":  # checkpoint=, config=, device=, dtype=, max_resident_frames=, ...
        from void_core.masking.sam2_engine import Sam2Segmenter

        return Sam2Segmenter(**settings)
    raise EngineNotFoundError("masking", name, list(ENGINES))


__all__ = ["ENGINES", "ClickPrompt", "FrameStats", "SegmentResult", "Segmenter",
           "create_segmenter", "merge_prompts", "parse_box_option", "parse_point_option",
           "read_points_json", "validate_prompts"]
