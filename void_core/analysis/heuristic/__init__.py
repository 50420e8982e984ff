"""The `heuristic` analysis engine: what the object caused, found without a VLM, on CPU.

Given the plate and the primary object's mask on every frame, it finds the two effects VOID's
VLM is asked about most and reports them in VOID's analysis shape (`schema.Analysis`), with the
per-frame pixel regions attached to each affected object:

- **cast shadow** (`visual_artifact`, "shadow"): pixels that are a darker, colour-preserving
  version of the background (luma ratio below `shadow_ratio`, chromaticity within
  `chroma_tolerance`) in a connected patch that comes close to the object;
- **pushed object** (`physical`, `will_move`): changes outside the object that start next to it
  (contact) on consecutive frames, followed from frame to frame as they move away; the contact
  frame is `first_appears_frame`, the vacated rest position and the later positions are both
  part of the region.

Both compare each frame with a background model, so the analysis runs in three streaming passes
over the shot at analysis size (at most `analysis_width` pixels wide):

1. **Survey.** Camera motion into frame-0 coordinates (`MotionTracker`, measured off the
   object), the object's size and speed; the analysis-size frames are spooled to a temporary
   file, so the plate is decoded once.
2. **Background.** Every background pixel's *first* `reference_frames` sightings taken while
   the object was far from it (beyond anything it could shade: `shadow_reach` object radii)
   are stacked in frame-0 coordinates; their median is the pre-interaction background: no
   object, no shadow, and a pushed object still at rest. Pixels the object never left fall back
   to their sighting farthest from it.
3. **Detect.** Each frame is compared with the background warped into it: exposure drift
   matched, the threshold from the measured noise, and on a moving camera a pixel must differ
   from its whole 3x3 background neighbourhood (sub-pixel misregistration). A band round the
   mask is left out; it widens by itself when the mask misses the object's edge (a ring of
   change all round the object). Contacts are confirmed on the next two frames, so this pass
   holds three frames.

Memory is bounded by the analysis size: one frame at a time, the background stack, a
three-frame window, and the regions found (bounding box + packed bits per frame). Disk: the
spooled frames (analysis width x height x 3.1 bytes per frame, deleted at the end).

Modules: `analyzer` (the passes in order, and the analysis built from them), `survey` (reading
the shot, pass 1), `background` (pass 2), `detect` (pass 3: comparison, cast shadow), `push`
(pass 3: pushed objects); shared mask helpers are in `void_core.imaging`.
"""

from void_core.analysis.heuristic.analyzer import HeuristicAnalyzer

__all__ = ["HeuristicAnalyzer"]
