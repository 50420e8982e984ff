"""A shot folder in VOID's layout, as a one-shot plan for the pipeline (`void-farm shot`).

    SHOT_DIR/input_video.mp4 (or .mov ..., or an input/ or plate/ frame folder)
            quadmask_0.mp4 or trimask_quadmask.mp4 (or a quadmask/ PNG folder)   optional
            points.json or VOID's *_points.json                                 optional
            prompt.json {"bg": "<scene after removal>"}                         optional
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

from void_core import naming
from void_core.errors import InputError, MaskError
from void_core.masking.prompt import ClickPrompt
from void_core.media.colour import Transfer
from void_core.media.masks import find_mask
from void_core.media.plate import open_plate
from void_core.pipeline.render import first_output_frame
from void_core.pipeline.state import ShotInputs, ShotPlan

_NO_MASK_HINT = ("make one with VOID's mask pipeline, or click the object: a points.json beside "
                 "the video, or --point X,Y[@FRAME] / --box X0,Y0,X1,Y1[@FRAME]")


def resolve_shot_folder(shot_dir: str | Path, *, mask_required: bool = True) -> ShotInputs:
    """Find plate, quadmask, clicks and prompt in a VOID-layout folder.

    With `mask_required=False` a folder without a quadmask is accepted (the caller makes one).
    """
    shot_dir = Path(shot_dir)
    if not shot_dir.is_dir():
        raise InputError(shot_dir, "shot folder not found" if not shot_dir.exists() else "is not a folder")
    plate = next((shot_dir / n for n in naming.plate_names() if (shot_dir / n).exists()), None)
    if plate is None:
        raise InputError(shot_dir, "no input_video.mp4 (or input/ frame folder) in the shot folder")
    mask = find_mask(shot_dir)
    if mask is None and mask_required:
        raise MaskError(shot_dir, "no quadmask_0.mp4 or trimask_quadmask.mp4 in the shot folder",
                        _NO_MASK_HINT)
    return ShotInputs(plate=plate, mask=mask, prompt=_read_prompt(shot_dir / naming.PROMPT_JSON),
                      points=_find_points(shot_dir))


def folder_plan(inputs: ShotInputs, name: str, *, clicks: list[ClickPrompt] | None = None,
                start_frame: int | None = None, rate: Fraction | None = None,
                transfer: Transfer | None = None) -> ShotPlan:
    """The one-shot plan of a shot folder: the whole plate, numbered from `start_frame` (else
    an image sequence's own first frame, else 1001). `clicks` (--point/--box) replace the
    folder's quadmask and clicks file.

    Raises:
        InputError / MediaError: the plate does not open, a negative start frame.
        MaskError: no quadmask and nothing to make one from.
    """
    if clicks is None and inputs.mask is None and inputs.points is None:
        raise MaskError(inputs.plate.parent, "no quadmask and no click to make one",
                        "put a points.json beside the video, or give --point X,Y[@FRAME] or "
                        "--box X0,Y0,X1,Y1[@FRAME]")
    info = open_plate(inputs.plate, transfer=transfer, rate=rate).info
    first = first_output_frame(start_frame, info.first_frame)
    problem = naming.frame_range_problem(first, info.frame_count)
    if problem is not None:
        raise InputError(inputs.plate, f"shot {name}: {problem}", "give --start-frame a frame "
                         "number that leaves room for the plate's frames")
    bg = str(inputs.prompt.get("bg", "") or "")
    return ShotPlan(
        name=name, event=1, media=inputs.plate, media_problem=None, first_frame=first,
        frame_count=info.frame_count, rate=info.rate, instruction=bg, bg=bg,
        prompt=[click.to_json() for click in clicks] if clicks else None,
        quadmask=None if clicks else inputs.mask, points=None if clicks else inputs.points,
        clicks_win=bool(clicks))


def _find_points(shot_dir: Path) -> Path | None:
    if (shot_dir / naming.POINTS_JSON).is_file():
        return shot_dir / naming.POINTS_JSON
    return next(iter(sorted(shot_dir.glob(naming.POINTS_GLOB))), None)


def _read_prompt(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        prompt = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(path, f"is not valid JSON ({err})") from None
    if not isinstance(prompt, dict) or not isinstance(prompt.get("bg", ""), str):
        raise InputError(path, 'expected {"bg": "<scene after removal>"}')
    return prompt
