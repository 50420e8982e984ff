"""Small image and mask helpers shared by the classical engines.

Masks are boolean arrays; boxes and regions of interest are (x0, y0, x1, y1) pixel bounds,
end exclusive; homographies are 3x3 float64 matrices acting on (x, y, 1).
"""

from __future__ import annotations

import cv2
import numpy as np

# ---- Morphology ---------------------------------------------------------------------------------


def disc(radius: int) -> np.ndarray:
    """A filled disc structuring element of `radius` pixels (a single pixel below 1)."""
    size = 2 * max(radius, 0) + 1
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def distance_from(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance (px) of every pixel to the nearest True pixel (inf when none)."""
    if not mask.any():
        return np.full(mask.shape, np.inf, np.float32)
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def within(mask: np.ndarray, radius: float) -> np.ndarray:
    """Pixels at most `radius` from the mask (a dilation whose cost does not grow with it)."""
    return distance_from(mask) <= radius


def grow(mask: np.ndarray, radius: int) -> np.ndarray:
    """`mask` grown by a disc of `radius` px (a distance transform beyond small radii: its cost
    does not depend on the radius)."""
    if radius <= 0 or not mask.any():
        return mask.copy()
    if radius <= 3:
        return cv2.dilate(mask.astype(np.uint8), disc(radius)).astype(bool)
    return within(mask, radius)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with every region it encloses filled."""
    if not mask.any():
        return mask
    padded = np.pad(mask.astype(np.uint8), 1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    holes = flood == 0
    return (padded.astype(bool) | holes)[1:-1, 1:-1]


def convex_hull(mask: np.ndarray) -> np.ndarray:
    hull = np.zeros(mask.shape, np.uint8)
    points = cv2.findNonZero(mask.astype(np.uint8))
    if points is not None:
        cv2.fillConvexPoly(hull, cv2.convexHull(points), 1)
    return hull > 0


# ---- Connected components -----------------------------------------------------------------------


def components_touching(candidates: np.ndarray, zone: np.ndarray, min_area: int = 1) -> np.ndarray:
    """The connected components of `candidates` (at least `min_area` px) that overlap `zone`."""
    if not (candidates & zone).any():
        return np.zeros_like(candidates)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidates.astype(np.uint8), 8)
    hit = np.zeros(count, bool)
    hit[np.unique(labels[candidates & zone])] = True
    hit[0] = False
    hit &= stats[:, cv2.CC_STAT_AREA] >= min_area
    return hit[labels]


def drop_small(mask: np.ndarray, min_area: int) -> np.ndarray:
    """The mask without its components smaller than `min_area` px."""
    if not mask.any():
        return mask
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    return keep[labels]


def label_near(labels: np.ndarray, x: float, y: float, reach: float) -> int:
    """The component label at (x, y), else the nearest one within `reach` px, else 0."""
    h, w = labels.shape
    px, py = int(round(x)), int(round(y))
    if 0 <= px < w and 0 <= py < h and labels[py, px]:
        return int(labels[py, px])
    r = int(np.ceil(reach))
    y0, y1, x0, x1 = max(0, py - r), min(h, py + r + 1), max(0, px - r), min(w, px + r + 1)
    if y1 <= y0 or x1 <= x0:
        return 0
    window = labels[y0:y1, x0:x1]
    ys, xs = np.nonzero(window)
    if ys.size == 0:
        return 0
    d = (ys + y0 - py) ** 2 + (xs + x0 - px) ** 2
    best = np.argmin(d)
    return int(window[ys[best], xs[best]]) if d[best] <= reach * reach else 0


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two masks (1 when both are empty)."""
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


# ---- Boxes and crops ----------------------------------------------------------------------------


def bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box of a non-empty mask."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def mask_size(mask: np.ndarray) -> float:
    """The longer side of a non-empty mask's bounding box."""
    x0, y0, x1, y1 = bbox(mask)
    return float(max(x1 - x0, y1 - y0))


def expand(box, margin: int):
    x0, y0, x1, y1 = box
    return x0 - margin, y0 - margin, x1 + margin, y1 + margin


def clip_roi(box, shape) -> tuple[int, int, int, int] | None:
    """`box` clipped to an image of `shape`; None when nothing of it is left."""
    h, w = shape[:2]
    x0, y0, x1, y1 = box
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return None
    return int(x0), int(y0), int(x1), int(y1)


def crop(image: np.ndarray, roi) -> np.ndarray:
    x0, y0, x1, y1 = roi
    return image[y0:y1, x0:x1]


def paste(target: np.ndarray, patch: np.ndarray, roi) -> None:
    x0, y0, x1, y1 = roi
    target[y0:y1, x0:x1] = patch


def padded_crop(image: np.ndarray, window) -> tuple[np.ndarray, np.ndarray]:
    """`image` over `window`, which may reach outside it (zeros there), and where it is real."""
    x0, y0, x1, y1 = window
    out = np.zeros((y1 - y0, x1 - x0) + image.shape[2:], image.dtype)
    valid = np.zeros((y1 - y0, x1 - x0), bool)
    inner = clip_roi(window, image.shape)
    if inner is not None:
        ix0, iy0, ix1, iy1 = inner
        out[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = image[iy0:iy1, ix0:ix1]
        valid[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = True
    return out, valid


def box_mask(shape, box, margin: int) -> np.ndarray:
    """A mask of `shape` that is True inside `box` grown by `margin`."""
    mask = np.zeros(shape[:2], bool)
    roi = clip_roi(expand(tuple(int(round(v)) for v in box), margin), shape)
    if roi is not None:
        paste(mask, True, roi)
    return mask


def touches_rect(mask: np.ndarray, rect) -> bool:
    """Does the mask reach an edge of `rect` that is not also the image's edge?"""
    x0, y0, x1, y1 = rect
    h, w = mask.shape
    edges = []
    if x0 > 0:
        edges.append(mask[y0:y1, x0])
    if x1 < w:
        edges.append(mask[y0:y1, x1 - 1])
    if y0 > 0:
        edges.append(mask[y0, x0:x1])
    if y1 < h:
        edges.append(mask[y1 - 1, x0:x1])
    return any(edge.any() for edge in edges)


def pixel(value: float, limit: int) -> int:
    """A coordinate rounded to the nearest pixel index in [0, limit)."""
    return int(min(max(round(value), 0), limit - 1))


def shift_points(points, window) -> tuple[tuple[float, float], ...]:
    """Points in the coordinates of `window` (its top-left corner as the origin)."""
    return tuple((x - window[0], y - window[1]) for x, y in points)


# ---- Homographies -------------------------------------------------------------------------------


def translation(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]], np.float64)


def translate(homography: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """`homography` followed by a shift of (dx, dy)."""
    return translation(dx, dy) @ homography


def is_shift(homography: np.ndarray) -> bool:
    """An integer translation: the warp is an exact crop."""
    h = homography / homography[2, 2]
    return (np.allclose(h[:2, :2], np.eye(2)) and np.allclose(h[2, :2], 0)
            and np.allclose(h[:2, 2], np.round(h[:2, 2])))


def shifted(source: np.ndarray, homography: np.ndarray, size) -> tuple[np.ndarray, np.ndarray]:
    """`source` moved by an integer translation into a `size` frame, and where it is defined."""
    dx, dy = (int(round(v)) for v in homography[:2, 2] / homography[2, 2])
    width, height = size
    return padded_crop(source, (-dx, -dy, width - dx, height - dy))


def warp_mask(mask: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """The mask moved by `homography` (bilinear, thresholded at one half)."""
    if np.allclose(homography, np.eye(3)):
        return mask.copy()
    h, w = mask.shape
    warped = cv2.warpPerspective(mask.astype(np.float32), homography, (w, h),
                                 flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return warped > 0.5
