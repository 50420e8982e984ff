"""Simple fills to beat: per-frame Telea, the temporal median, and a homography-aligned median.

All work on a crop of the shot around the hole (`Clip`), see only the input frames (hole pixels
blanked) and the hole masks, and return uint8 RGB crops.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from void_core.motion import MotionTrack

TELEA_RADIUS = 5
_ROW_CHUNK = 32  # rows per median block: bounds memory on 4K crops
_UNSEEN = np.uint16(256)  # sorts after every 8-bit code


@dataclass
class Clip:
    """A crop of a shot: input frames (hole blanked) and hole masks, at `origin` in the frame."""

    inputs: list[np.ndarray]
    holes: list[np.ndarray]
    origin: tuple[int, int]  # (x, y) of the crop's top-left pixel in frame coordinates


def telea(clip: Clip) -> list[np.ndarray]:
    return [cv2.inpaint(frame, hole.astype(np.uint8), TELEA_RADIUS, cv2.INPAINT_TELEA)
            for frame, hole in zip(clip.inputs, clip.holes, strict=True)]


def masked_median(stack: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel median of the valid samples of a (N, H, W, 3) uint8 stack.

    Returns (median float32 (H, W, 3), seen bool (H, W)); the median of an even count is the
    mean of the two middle values.
    """
    values = np.where(valid[..., None], stack.astype(np.uint16), _UNSEEN)
    values.sort(axis=0)
    count = valid.sum(axis=0)[None, ..., None]
    low = np.take_along_axis(values, np.maximum(count - 1, 0) // 2, axis=0)[0]
    high = np.take_along_axis(values, count // 2, axis=0)[0]
    seen = count[0, ..., 0] > 0
    return (low.astype(np.float32) + high) / 2, seen


def temporal_median(clip: Clip) -> list[np.ndarray]:
    """Per pixel, the median over the frames where it is visible (no alignment); Telea where
    no frame shows it."""
    stack = np.stack(clip.inputs)
    visible = ~np.stack(clip.holes)
    height = stack.shape[1]
    median = np.zeros(stack.shape[1:], np.float32)
    seen = np.zeros(stack.shape[1:3], bool)
    for top in range(0, height, _ROW_CHUNK):
        rows = slice(top, top + _ROW_CHUNK)
        median[rows], seen[rows] = masked_median(stack[:, rows], visible[:, rows])
    filled = np.clip(np.rint(median), 0, 255).astype(np.uint8)
    return [_fill_from(frame, hole, filled, seen) for frame, hole in zip(clip.inputs, clip.holes)]


def aligned_median(clip: Clip, track: MotionTrack) -> list[np.ndarray]:
    """Every other frame warped onto each frame with the shot's camera track, then the
    median of the sightings that land in the hole (only fully visible source pixels count);
    Telea where no frame shows it."""
    out = []
    for target, (frame, hole) in enumerate(zip(clip.inputs, clip.holes)):
        ys, xs = np.nonzero(hole)
        if len(xs) == 0:
            out.append(frame.copy())
            continue
        box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        sightings, valid = _sightings(clip, track, target, box)
        median, seen = masked_median(sightings, valid)
        canvas = np.zeros_like(frame)
        seen_full = np.zeros(hole.shape, bool)
        canvas[box[1]:box[3], box[0]:box[2]] = np.clip(np.rint(median), 0, 255).astype(np.uint8)
        seen_full[box[1]:box[3], box[0]:box[2]] = seen
        out.append(_fill_from(frame, hole, canvas, seen_full))
    return out


def _sightings(clip: Clip, track: MotionTrack, target: int,
               box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Other frames resampled onto `box` of frame `target` (crop coordinates), with validity."""
    size = (box[2] - box[0], box[3] - box[1])
    ox, oy = clip.origin
    box_to_frame = _translation(ox + box[0], oy + box[1])
    frame_to_crop = _translation(-ox, -oy)
    images, valid = [], []
    for source, (frame, hole) in enumerate(zip(clip.inputs, clip.holes)):
        if source == target:
            continue
        box_to_source = frame_to_crop @ track.between(target, source) @ box_to_frame
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        images.append(cv2.warpPerspective(frame, box_to_source, size, flags=flags,
                                          borderMode=cv2.BORDER_CONSTANT))
        visible = np.where(hole, 0, 255).astype(np.uint8)
        landed = cv2.warpPerspective(visible, box_to_source, size, flags=flags,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        valid.append(landed == 255)
    return np.stack(images), np.stack(valid)


def _translation(x: float, y: float) -> np.ndarray:
    return np.array([[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]])


def _fill_from(frame: np.ndarray, hole: np.ndarray, estimate: np.ndarray,
               seen: np.ndarray) -> np.ndarray:
    """`frame` with its hole taken from `estimate` where seen, Telea elsewhere."""
    filled = frame.copy()
    known = hole & seen
    filled[known] = estimate[known]
    unknown = hole & ~seen
    if unknown.any():
        telea_fill = cv2.inpaint(filled, unknown.astype(np.uint8), TELEA_RADIUS, cv2.INPAINT_TELEA)
        filled[unknown] = telea_fill[unknown]
    return filled
