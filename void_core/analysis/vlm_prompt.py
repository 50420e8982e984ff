"""The words a VLM analyzer sends: a system instruction and the analysis prompt (`gemini` and
`local-vlm` alike).

The prompt follows the structure of VOID's stage-2 prompt (`make_vlm_analysis_prompt`): the
context and inputs, then three steps (integral belongings, affected objects split into visual
artifacts and physical objects with the SUPPORTS / ACTS ON rule deciding `will_move`, a
description of the scene after removal), then the output rules. It is written for this engine:
it names the shot's real frame count, rate and grid, tells Gemini how to turn seconds in the
video into frame numbers, and leaves the JSON layout to the response schema
(`vlm_schema.ReplyAnalysis`) instead of spelling it out in prose.

A local model has no response-schema parameter; `answer_format` appends the schema it is
decoded against, so that it knows the layout before the grammar forces it.

`PROMPT_DIGEST` fingerprints the prompt and the schema; the engines record it in their settings
so lineage tells analyses made with different wording apart.
"""

from __future__ import annotations

import hashlib
import json

from void_core.analysis.vlm_media import ShotMedia
from void_core.analysis.vlm_schema import ReplyAnalysis

DEFAULT_INSTRUCTION = "Remove the object tinted red."

SYSTEM_INSTRUCTION = (
    "You are an expert visual-effects analyst. Given a shot and an object a compositor will "
    "remove from it, you work out precisely what else has to change so that the shot looks as "
    "if the object had never been there. You answer with JSON only, following the schema.")

PROMPT_TEMPLATE = """\
TASK
A compositor will remove an object from this shot. Instruction: "{instruction}"
The object is tinted red on frame {object_frame}. Removing it must also remove everything it
caused, so that the shot looks as if it had never existed. Work out what that involves.

INPUTS
- {sample_count} frames sampled across the shot, each labelled "Frame N (P%)", with a yellow grid
  of {rows} rows x {cols} columns drawn over it: row numbers (0 at the top) down the left edge,
  column numbers (0 at the left) along the top edge.
- Frame {object_frame} with the object to remove tinted red, on the same grid.
- The whole shot as a video: {frame_count} frames at {fps} frames per second ({duration} s).
  Frame numbers count from 0; the moment t seconds into the video is frame round(t x {fps}).
Give every time as a frame number of the shot (0 to {last_frame}) and every position as a cell
(row, column) of that grid. Use the labelled sample frames to check your frame numbers.

STEP 1 - INTEGRAL BELONGINGS (0 to 3)
Things that are part of the object or go wherever it goes, and must disappear with it: the
bicycle a rider sits on, the surfboard under a surfer, a hat on a head, the leash of a dog
being removed. Not things it only touches or holds for a moment, and not other people.

STEP 2 - AFFECTED OBJECTS (0 to 5)
Things that exist, look the way they do, or move only because of the object. Two categories:

(A) "visual_artifact": effects of the object on light and surfaces: its shadow, reflection,
    wake, ripples, splashes, dust, footprints, tyre tracks, light it casts or blocks.
    - grid_localizations: on every sample frame where the effect is visible, every grid cell
      it touches (when in doubt, include the cell).
    - will_move is false and trajectory_path is empty.

(B) "physical": other objects whose position or motion the object changes. Decide will_move:
    - the object SUPPORTS it (it rests on, hangs from or leans on the object): without the
      object it would fall or drop, so will_move is true;
    - the object ACTS ON it (pushes, kicks, throws, knocks, pulls, carries it): without the
      object it would have stayed where it was, so will_move is true;
    - it is merely near the object, or moves on its own: it is not affected; leave it out.
    When will_move is true give:
    - first_appears_frame: the frame on which the object starts to affect it;
    - object_size_grids: its size in grid cells, plus one cell of padding;
    - trajectory_path: 3 to 5 keyframes (frame, grid_row, grid_col) of its centre as it moves
      in the shot, the first where it rests before the object affects it;
    - original_position_grid: the cell where it rests before the object affects it.
    If it is already moving when the shot starts but would have stayed still without the
    object, set currently_moving and should_have_stayed to true and give
    original_position_grid where it would be. Give grid_localizations for physical objects
    too, on the sample frames where they are visible.

For every affected object give noun (a short name such as "shadow" or "ball"), why (one
sentence), first_appears_frame (the first frame on which the effect is visible or the object
is affected) and movement_description (how it moves in the shot, or "").
Do not list the object itself or its integral belongings as affected objects. If the object
affects nothing, return an empty list: an effect that is not in the shot must not be invented.

STEP 3 - SCENE DESCRIPTION
One or two sentences describing the shot as it looks without the object and everything it
caused: the setting, the light, the people and things that remain, the camera's motion. Do not
mention the removed object. This text prompts a video inpainting model.

Finally repeat the instruction as edit_instruction, and give confidence (0 to 1): how sure you
are of the affected objects and their positions.
"""


def build_prompt(media: ShotMedia, instruction: str) -> str:
    """The analysis prompt for a shot (see the module docstring)."""
    rows, cols = media.grid
    fps = float(media.rate)
    object_frame = media.object_frame.index if media.object_frame else 0
    return PROMPT_TEMPLATE.format(
        instruction=instruction or DEFAULT_INSTRUCTION, object_frame=object_frame,
        sample_count=len(media.samples), rows=rows, cols=cols, frame_count=media.frame_count,
        fps=f"{fps:.6g}", duration=f"{media.duration:.2f}", last_frame=media.frame_count - 1)


ANSWER_FORMAT = "\nANSWER FORMAT\nOne JSON object that follows this JSON schema:\n{schema}\n"


def answer_format(schema: dict) -> str:
    """The paragraph that shows a local model the schema it is decoded against."""
    return ANSWER_FORMAT.format(schema=json.dumps(schema, separators=(",", ":")))


def _digest() -> str:
    schema = json.dumps(ReplyAnalysis.model_json_schema(), sort_keys=True)
    blob = "\n".join([SYSTEM_INSTRUCTION, PROMPT_TEMPLATE, DEFAULT_INSTRUCTION, schema])
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()[:16]


PROMPT_DIGEST = _digest()
