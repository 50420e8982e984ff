"""Static objects: GrabCut, seeded by the clicks or box, and a carried mask refined by it
(steps 3 and 5 of the package docstring)."""

from __future__ import annotations

import cv2
import numpy as np

from void_core.imaging import (bbox, clip_roi, crop, disc, expand, fill_holes, label_near,
                               overlap, paste, pixel, touches_rect)
from void_core.masking.classical.frames import CLICK_DISC_PIXELS, CLICK_RADIUS, Anchor

# Static objects: GrabCut.
GRABCUT_ITERATIONS = 4
GRABCUT_PIXELS = 40_000  # larger windows are segmented on a reduced copy
FLOOD_TOLERANCE = 14  # code values: colour region grown from a click to size GrabCut's window
STATIC_GROW_STEPS = 7  # times GrabCut's window may grow


def grabcut_seed(frame: np.ndarray, anchor: Anchor) -> np.ndarray:
    """GrabCut inside the box, or around the clicks in a window that grows (from the extent of
    the colour region at the clicks) until the answer is more than the clicks, stays clear of
    the window's edge and no longer changes."""
    if anchor.box is not None:
        rect = clip_roi(tuple(int(round(v)) for v in anchor.box), frame.shape)
        return _grabcut_rect(frame, anchor, rect)
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = _flood_extent(frame, anchor.positive)
    half = max(8, int(0.3 * max(x1 - x0, y1 - y0)))
    previous = np.zeros((h, w), bool)
    mask = previous
    for _ in range(STATIC_GROW_STEPS):
        rect = clip_roi((x0 - half, y0 - half, x1 + half, y1 + half), frame.shape)
        mask = _grabcut_rect(frame, anchor, rect)
        settled = (mask.sum() > 4 * CLICK_DISC_PIXELS * len(anchor.positive)
                   and not touches_rect(mask, rect) and overlap(mask, previous) > 0.85)
        if settled or rect == (0, 0, w, h):
            break
        previous, half = mask, int(half * 1.6) + 1
    return mask


def _flood_extent(frame: np.ndarray, points) -> tuple[int, int, int, int]:
    """Bounding box of the similar-coloured regions flooded from the clicks (the clicks
    themselves when a flood runs over most of the frame)."""
    smooth = cv2.GaussianBlur(frame, (5, 5), 1.0)
    h, w = frame.shape[:2]
    box = [w, h, 0, 0]
    for x, y in points:
        px, py = pixel(x, w), pixel(y, h)
        flood = np.zeros((h + 2, w + 2), np.uint8)
        flags = 8 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (255 << 8)
        cv2.floodFill(smooth, flood, (px, py), 0, (FLOOD_TOLERANCE,) * 3,
                      (FLOOD_TOLERANCE,) * 3, flags)
        region = flood[1:-1, 1:-1] > 0
        fx0, fy0, fx1, fy1 = bbox(region) if region.mean() < 0.5 else (px, py, px + 1, py + 1)
        box = [min(box[0], fx0), min(box[1], fy0), max(box[2], fx1), max(box[3], fy1)]
    return tuple(box)


def _grabcut_rect(frame: np.ndarray, anchor: Anchor, rect) -> np.ndarray:
    """GrabCut with everything outside `rect` as background and the clicks as hard labels,
    run on a window around `rect` so the colour models stay local."""
    x0, y0, x1, y1 = rect
    pad = max(8, (x1 - x0 + y1 - y0) // 4)
    window = clip_roi((x0 - pad, y0 - pad, x1 + pad, y1 + pad), frame.shape)
    wx0, wy0, wx1, wy1 = window
    labels = np.full((wy1 - wy0, wx1 - wx0), cv2.GC_BGD, np.uint8)
    labels[y0 - wy0:y1 - wy0, x0 - wx0:x1 - wx0] = cv2.GC_PR_FGD
    for points, value in ((anchor.positive, cv2.GC_FGD), (anchor.negative, cv2.GC_BGD)):
        for x, y in points:
            cv2.circle(labels, (int(round(x)) - wx0, int(round(y)) - wy0), CLICK_RADIUS,
                       int(value), -1)
    found = _grabcut_small(crop(frame, window), labels, GRABCUT_ITERATIONS)
    found = _components_at(found, [(x - wx0, y - wy0) for x, y in anchor.seed_points()])
    mask = np.zeros(frame.shape[:2], bool)
    paste(mask, fill_holes(found), window)
    return mask


def refine_by_colour(frame: np.ndarray, carried: np.ndarray) -> np.ndarray:
    """GrabCut in a thin band around a mask carried from another frame; the carried mask is
    kept when the refinement changes its area by more than a quarter."""
    if not carried.any():
        return carried
    roi = clip_roi(expand(bbox(carried), 12), frame.shape)
    inside = crop(carried, roi).astype(np.uint8)
    near = cv2.dilate(inside, disc(3)) > 0
    core = cv2.erode(inside, disc(3)) > 0
    if not core.any() or near.all():
        return carried
    labels = np.full(inside.shape, cv2.GC_BGD, np.uint8)
    labels[near] = cv2.GC_PR_BGD
    labels[inside > 0] = cv2.GC_PR_FGD
    labels[core] = cv2.GC_FGD
    refined = _grabcut_small(crop(frame, roi), labels, 2)
    if abs(int(refined.sum()) - int(inside.sum())) > 0.25 * inside.sum():
        return carried
    mask = np.zeros(carried.shape, bool)
    paste(mask, refined, roi)
    return mask


def _grabcut_small(rgb: np.ndarray, labels: np.ndarray, iterations: int) -> np.ndarray:
    """`_grabcut` on a copy of at most GRABCUT_PIXELS pixels, the answer scaled back."""
    height, width = labels.shape
    scale = min(1.0, float(np.sqrt(GRABCUT_PIXELS / (height * width))))
    if scale >= 1.0:
        return _grabcut(rgb, labels, iterations)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = _grabcut(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA),
                     cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST), iterations)
    return cv2.resize(small.astype(np.uint8), (width, height),
                      interpolation=cv2.INTER_NEAREST) > 0


def _grabcut(rgb: np.ndarray, labels: np.ndarray, iterations: int) -> np.ndarray:
    """GrabCut from `labels` (GC_* values, updated in place); True where it found the object."""
    has_background = (labels == cv2.GC_BGD).any() or (labels == cv2.GC_PR_BGD).any()
    has_object = (labels == cv2.GC_FGD).any() or (labels == cv2.GC_PR_FGD).any()
    if has_background and has_object:
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        models = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.grabCut(bgr, labels, None, *models, iterations, cv2.GC_INIT_WITH_MASK)
    return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)


def _components_at(mask: np.ndarray, points) -> np.ndarray:
    """The components of `mask` at (or near) the points; all of it when none is near."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    keep = {label_near(labels, x, y, 6.0) for x, y in points} - {0}
    return np.isin(labels, sorted(keep)) if keep else mask

