"""Masking engines: clicks or a box on the object -> its primary ("black") mask on every frame.

`classical` (no weights) segments and tracks the object with camera-motion-compensated
background subtraction, or colour segmentation for objects that never move; `sam2` is the
production engine (`sam2_engine`: SAM 2 from local weights); both are built through
`void_core.engines`. Prompts come from `points.json`,
VOID's `*_points.json` or the CLI's `--point` / `--box`.
"""

from __future__ import annotations

from void_core.engines import Segmenter
from void_core.masking.prompt import (ClickPrompt, FrameStats, SegmentResult, merge_prompts,
                                      parse_box_option, parse_point_option, read_points_json,
                                      validate_prompts)

__all__ = ["ClickPrompt", "FrameStats", "SegmentResult", "Segmenter", "merge_prompts",
           "parse_box_option", "parse_point_option", "read_points_json", "validate_prompts"]
