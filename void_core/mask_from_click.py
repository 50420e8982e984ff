"""From a click to a quadmask: segment the object, analyse what it affected, combine.

    points.json / --point / --box --> masking engine --> black_mask.mp4 (0 object / 255 rest)
        --> analysis engine --> vlm_analysis.json
        --> (masking engines that segment objects, e.g. sam2) affected_objects/object_<n>.mp4
        --> quadmask_0.mp4 (0/63/127/255, VOID's rules)

Everything is written into a work folder (paths between stages, no frame arrays), so a shot
whose quadmask was made this way can be inspected, hand-fixed and rerun like any VOID folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from void_core.analysis import HeuristicAnalyzer, write_quadmask
from void_core.analysis.object_masks import can_segment_objects, segment_affected_objects
from void_core.errors import EngineNotFoundError
from void_core.masking import ClickPrompt, create_segmenter, validate_prompts
from void_core.media.plate import open_plate

BLACK_MASK = "black_mask.mp4"
QUADMASK = "quadmask_0.mp4"
ANALYSIS = "vlm_analysis.json"
AFFECTED_MASKS = "affected_objects"  # the affected objects' masks, when the masker segments them


ANALYZERS = ("heuristic", "gemini")


def create_analyzer(name: str, **settings):
    """The analysis engine registered under `name`."""
    if name == "heuristic":
        return HeuristicAnalyzer(**settings)
    if name == "gemini":
        from void_core.analysis.gemini import GeminiAnalyzer

        return GeminiAnalyzer(**settings)
    raise EngineNotFoundError("analysis", name, list(ANALYZERS))


@dataclass(frozen=True)
class MaskProduct:
    """The files a click turned into, and what the engines said."""

    quadmask: Path
    black_mask: Path
    analysis: Path
    segmenter: str
    analyzer: str
    seconds: dict[str, float]
    notes: list[str] = field(default_factory=list)
    object_masks: dict[int, Path] = field(default_factory=dict)  # affected-object index -> mask


def make_quadmask(plate_path: Path, prompts: list[ClickPrompt], work_dir: Path, *,
                  instruction: str = "", segmenter: str = "classical", analyzer: str = "heuristic",
                  gridify: bool = True, source: Path | None = None,
                  segmenter_settings: dict | None = None,
                  analyzer_settings: dict | None = None) -> MaskProduct:
    """Segment, analyse and combine into `work_dir/quadmask_0.mp4`.

    Raises:
        InputError: no usable prompt (the message says what to give), or a click outside the
            frame / on a frame that does not exist.
    """
    plate = open_plate(plate_path)
    info = plate.info
    prompts = validate_prompts(prompts, info.width, info.height, info.frame_count, source=source)
    masker = create_segmenter(segmenter, **(segmenter_settings or {}))
    thinker = create_analyzer(analyzer, **(analyzer_settings or {}))
    work_dir.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}

    clock = time.perf_counter()
    segmented = masker.segment(plate, prompts, work_dir / BLACK_MASK)
    seconds["masking"] = time.perf_counter() - clock

    clock = time.perf_counter()
    analysis = thinker.analyze(open_plate(plate_path), segmented.path, instruction)
    seconds["analysis"] = time.perf_counter() - clock

    object_masks: dict[int, Path] = {}
    if can_segment_objects(masker):
        clock = time.perf_counter()
        object_masks = segment_affected_objects(masker, open_plate(plate_path), analysis,
                                                work_dir / AFFECTED_MASKS)
        seconds["affected_objects"] = time.perf_counter() - clock

    clock = time.perf_counter()
    quad = write_quadmask(analysis, segmented.path, work_dir / QUADMASK, gridify=gridify,
                          object_masks=object_masks)
    seconds["combine"] = time.perf_counter() - clock
    analysis_path = work_dir / ANALYSIS
    if not analysis_path.exists():
        analysis_path.write_text(analysis.model_dump_json(indent=2))
    return MaskProduct(quadmask=Path(quad) if quad else work_dir / QUADMASK,
                       black_mask=segmented.path, analysis=analysis_path,
                       segmenter=masker.name, analyzer=thinker.name, seconds=seconds,
                       notes=list(segmented.notes), object_masks=object_masks)
