"""The `classical` segmenter: the primary object's mask on every frame, from clicks or a box.

Everything is measured at an analysis resolution of at most 960 px wide; those frames are
spilled to a temporary memory-mapped file, so memory does not grow with the shot's length.

1. Camera motion: `MotionTracker` gives every frame's homography into frame 0.
2. Evidence: a pixel belongs to something that moved against the background when fewer than a
   third of the reference frames around it (aligned by the camera motion, colours compared
   with a tolerance for sub-pixel misregistration) agree with it. A low quantile rather than
   a median means ground that was hidden for a while (where another object rested) still
   reads as background. A darkening that keeps the background's hue is a shadow, not the
   object.
3. At each prompted frame, if several references differ from it at the click, the clicked
   thing moves: the object is the changed region at the click, computed from those
   references only; a negative click in that region splits it along the picture's edges
   (watershed), and its side's colours are kept out from then on. Otherwise the object is
   static: GrabCut, seeded by the clicks or box.
4. A moving object is tracked frame by frame, forwards and backwards from the prompted
   frame(s): its picture on the previous frame, moved by the camera, is matched in the next
   frame (only the part inside the frame counts, so it may enter or leave); the matched mask
   predicts where it is. References in which the object is not at the predicted place, and
   those already tracked (their object pixels left out), give the evidence; changed regions
   touching the prediction form the new mask, minus thick parts whose colour belongs to the
   surrounding background rather than to the object's core (e.g. ground revealed where
   another object rested).
5. A static object's mask is carried to every frame by the camera motion and refined by
   GrabCut in a thin band around its edge.
6. Masks are upsampled to the plate size (edges snapped to the full-resolution picture by a
   guided filter) and written losslessly, one per plate frame.

Modules: `segmenter` (the steps in order; 1), `frames` (geometry, frames on disk, prompts at
analysis scale), `evidence` (2, 3), `tracker` (4), `static` (3, 5: GrabCut), `output` (6); mask
and geometry helpers shared with other engines are in `void_core.imaging`.
"""

from void_core.masking.classical.segmenter import ClassicalSegmenter

__all__ = ["ClassicalSegmenter"]
