"""The analysis' affected objects segmented by the masking engine (VOID's stage 3 with SAM 2).

VOID draws each affected object's grey region from a segmentation, not from the VLM's grid
cells: its stage 3 text-prompts SAM 3 with the noun on every frame. SAM 2 takes no text, so
here each object is prompted with what the analysis says about where it is: a box around its
grid localisation cells on every localised frame (`localization_prompts`). All
prompted objects are tracked through the shot in one pass of the engine; the mask videos go
to a folder of their own and are then drawn by `masks.write_quadmask(object_masks=...)`.

Objects the analysis did not localise (no `grid_localizations`, e.g. a pushed object known only
by its trajectory) are left to the grid rules, and an engine that cannot segment several
objects (`classical`: no `segment_objects`) segments nothing.
"""

from __future__ import annotations

from pathlib import Path

from void_core.analysis.masks import cell_edges
from void_core.analysis.schema import Analysis
from void_core.engines import segments_objects
from void_core.masking.prompt import ClickPrompt, ProgressCallback
from void_core.vocabulary import EngineKind

MASK_GLOB = "object_*.mp4"  # what `segment_objects` writes


def localization_prompts(affected, width: int, height: int,
                         frame_count: int | None = None) -> list[ClickPrompt]:
    """Box prompts for an affected object (`analysis.schema.AffectedObject`) from its grid
    localisations: on each localised frame, the box around its cells on VOID's grid. Frames
    without cells, cells off the grid and (given `frame_count`) frames past the shot's end are
    skipped; an empty list means there is nothing to prompt SAM 2 with for this object."""
    ys, xs = cell_edges(width, height)
    prompts = []
    for localization in affected.grid_localizations:
        if frame_count is not None and localization.frame >= frame_count:
            continue
        cells = [(cell.row, cell.col) for cell in localization.grid_regions
                 if 0 <= cell.row < len(ys) - 1 and 0 <= cell.col < len(xs) - 1]
        if not cells:
            continue
        rows, cols = [row for row, _ in cells], [col for _, col in cells]
        box = (float(xs[min(cols)]), float(ys[min(rows)]),
               float(xs[max(cols) + 1]), float(ys[max(rows) + 1]))
        prompts.append(ClickPrompt(localization.frame, box=box))
    return prompts


def affected_object_prompts(analysis: Analysis, width: int, height: int,
                            frame_count: int) -> dict[int, list[ClickPrompt]]:
    """{affected-object index: its box prompts} for every object the analysis localised."""
    prompts = {}
    for number, obj in enumerate(analysis.affected_objects):
        boxes = localization_prompts(obj, width, height, frame_count)
        if boxes:
            prompts[number] = boxes
    return prompts


def segment_affected_objects(segmenter, plate, analysis: Analysis, out_dir: str | Path, *,
                             on_progress: ProgressCallback | None = None) -> dict[int, Path]:
    """Segment the analysis' localised affected objects through `plate`.

    Args:
        segmenter: a masking engine; only one the registry declares `segments_objects`
            (e.g. `sam2`) is used.
        plate: the opened shot the analysis was made on.
        analysis: the analysis; objects are keyed by their index in `affected_objects`.
        out_dir: the folder for the mask videos (0 object, 255 rest); mask videos of an
            earlier run left in it are removed first.
        on_progress: passed to the engine.

    Returns:
        {affected-object index: its mask video}; empty when the engine cannot segment objects
        or no object is localised.

    Raises:
        InputError, MaskError, MediaError: as the engine's `segment_objects`.
    """
    if not segments_objects(EngineKind.MASKING, segmenter.name):
        return {}
    info = plate.info
    prompts = affected_object_prompts(analysis, info.width, info.height, info.frame_count)
    if not prompts:
        return {}
    out_dir = Path(out_dir)
    for stale in out_dir.glob(MASK_GLOB):
        stale.unlink()
    results = segmenter.segment_objects(plate, prompts, out_dir, on_progress=on_progress)
    return {number: Path(result.path) for number, result in results.items()}
