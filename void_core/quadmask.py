"""The quadmask convention shared by every stage, and VOID's numeric mask chain.

A quadmask is one uint8 value per pixel per frame:

    0   primary object to delete          (PRIMARY)
    63  primary object overlapping an affected region (OVERLAP)
    127 affected region: shadow, reflection, moved or deformed object (AFFECTED)
    255 keep                               (KEEP)

Masks stored in video files are usually limited-range luma (Y = 16/70/125/235); they are expanded
to full range and then quantised with VOID's thresholds (<=31, <=95, <=191). The functions at the
end reproduce VOID's pass-1 conditioning chain (area resize, quantise, invert, temporal padding,
pipeline thresholds, VAE-mask input) exactly; `../shared/golden/void/mask_chain` pins them.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from void_core.imaging import disc

PRIMARY, OVERLAP, AFFECTED, KEEP = 0, 63, 127, 255
LEVELS = (PRIMARY, OVERLAP, AFFECTED, KEEP)

# Upper bounds (inclusive) of each class when quantising, from VOID's get_video_mask_input.
_QUANT_BOUNDS = ((31, PRIMARY), (95, OVERLAP), (191, AFFECTED))

# VOID's grid: the short side has MIN_GRID cells.
MIN_GRID = 8

# Pass-1 pipeline thresholds (use_trimask=True) and the level they assign to the middle band.
_TRIMASK_HIGH, _TRIMASK_LOW = 0.75, 0.25
_TRIMASK_MID = np.float32(127.0 / 255.0)


def _expansion_table() -> np.ndarray:
    y = np.arange(256, dtype=np.float32)
    return np.clip(np.rint((y - 16.0) * (255.0 / 219.0)), 0, 255).astype(np.uint8)


_EXPAND = _expansion_table()


def expand_limited_range(luma: np.ndarray) -> np.ndarray:
    """Limited-range 8-bit luma (16..235) -> full range 0..255, rounded, as uint8.

    VOID's shipped masks store 0/63/127/255 as Y = 16/70/125/235; this maps them back exactly.
    """
    return lookup(np.asarray(luma, np.uint8), _EXPAND)


def lookup(values: np.ndarray, table: np.ndarray) -> np.ndarray:
    """`table[values]` for uint8 values and a 256-entry uint8 table. OpenCV's LUT: ~8x faster
    than numpy's indexing on a 4K mask, which matters at two conversions per mask frame."""
    values = np.ascontiguousarray(values)
    if values.ndim != 2 or values.size == 0:
        return table[values]
    return cv2.LUT(values, table)


def quantise(values: np.ndarray) -> np.ndarray:
    """Snap mask values (uint8 or float 0..255) to the four levels with VOID's thresholds."""
    out = np.full(values.shape, KEEP, dtype=np.uint8)
    # Assign from the top class down so each pixel ends in the lowest class whose bound it meets.
    for bound, level in reversed(_QUANT_BOUNDS):
        out[values <= bound] = level
    return out


def combine(black: np.ndarray, grey: np.ndarray) -> np.ndarray:
    """VOID stage 4: a black mask (0 object / 255 not) and a grey mask (127 affected / 255 not).

    Exact equality as VOID does it: black 0 & grey 255 -> 0, black 255 & grey 127 -> 127,
    black 0 & grey 127 -> 63, anything else -> 255. Quantise both first if they came from
    a lossy path.
    """
    out = np.full(black.shape, KEEP, dtype=np.uint8)
    out[(black == 0) & (grey == KEEP)] = PRIMARY
    out[(black == KEEP) & (grey == AFFECTED)] = AFFECTED
    out[(black == 0) & (grey == AFFECTED)] = OVERLAP
    return out


def clear_affected_on_first_frame(quad: np.ndarray) -> np.ndarray:
    """VOID's frame-0 rule: values strictly between 100 and 135 become 255 on frame 0 only."""
    out = quad.copy()
    band = (out > 100) & (out < 135)
    out[band] = KEEP
    return out


def primary(quad: np.ndarray) -> np.ndarray:
    """Boolean mask of the object to delete (0 and 63)."""
    return (quad == PRIMARY) | (quad == OVERLAP)


def affected(quad: np.ndarray) -> np.ndarray:
    """Boolean mask of what the object affected (63 and 127)."""
    return (quad == OVERLAP) | (quad == AFFECTED)


def to_edit(quad: np.ndarray) -> np.ndarray:
    """Boolean mask of every pixel that may change (anything but 255)."""
    return quad != KEEP


def grid_shape(width: int, height: int, min_grid: int = MIN_GRID) -> tuple[int, int]:
    """VOID's `calculate_square_grid`: (rows, cols); the short side gets `min_grid` cells.

    16:9 gives 8 rows x 14 columns.
    """
    aspect = width / height
    if width >= height:
        return min_grid, max(min_grid, round(min_grid * aspect))
    return max(min_grid, round(min_grid / aspect)), min_grid


def _cell_edges(length: int, cells: int) -> np.ndarray:
    return np.linspace(0, length, cells + 1).astype(int)


def gridify(grey: np.ndarray, min_grid: int = MIN_GRID, level: int = AFFECTED) -> np.ndarray:
    """Any set (non-255) pixel in a grid cell turns the whole cell to `level` (VOID stage 3).

    Works on one frame (H, W) or a stack (T, H, W).
    """
    frames = grey[None] if grey.ndim == 2 else grey
    _, height, width = frames.shape
    rows, cols = grid_shape(width, height, min_grid)
    ys, xs = _cell_edges(height, rows), _cell_edges(width, cols)
    out = np.full(frames.shape, KEEP, dtype=np.uint8)
    for r in range(rows):
        for c in range(cols):
            cell = (slice(None), slice(ys[r], ys[r + 1]), slice(xs[c], xs[c + 1]))
            hit = (frames[cell] != KEEP).any(axis=(1, 2))
            out[cell][hit] = level
    return out[0] if grey.ndim == 2 else out


def band_width(plate_width: int) -> int:
    """How far (pixels) the composite may reach beyond the mask: max(15 px, 1 % of width)."""
    return max(15, math.floor(0.01 * plate_width))


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow a boolean mask by `radius` pixels (Euclidean disc)."""
    if radius <= 0:
        return mask.copy()
    return cv2.dilate(mask.astype(np.uint8), disc(radius)).astype(bool)


# --- VOID's pass-1 conditioning chain -----------------------------------------------------


def area_resize(
    frames: np.ndarray, out_h: int, out_w: int, *, channels_last: bool = False
) -> np.ndarray:
    """torch's area interpolation (adaptive average pooling), exactly, in float32.

    Output index i averages input indices floor(i*In/Out) .. ceil((i+1)*In/Out)-1, unweighted
    (not OpenCV's INTER_AREA). `frames` is (..., H, W), or (..., H, W, C) with `channels_last`.
    """
    data = np.moveaxis(frames, -1, 0) if channels_last else frames
    data = data.astype(np.float64)
    in_h, in_w = data.shape[-2:]
    rows = _adaptive_pool_axis(data, in_h, out_h, axis=-2)
    pooled = _adaptive_pool_axis(rows, in_w, out_w, axis=-1)
    pooled = pooled.astype(np.float32)
    return np.moveaxis(pooled, 0, -1) if channels_last else pooled


def _adaptive_pool_axis(data: np.ndarray, size_in: int, size_out: int, axis: int) -> np.ndarray:
    # Sum then divide by the count, as torch does, so averages like 95.0 come out exact.
    pieces = []
    for i in range(size_out):
        start = (i * size_in) // size_out
        stop = -((-(i + 1) * size_in) // size_out)
        window = np.take(data, range(start, stop), axis=axis)
        pieces.append(window.sum(axis=axis, keepdims=True) / (stop - start))
    return np.concatenate(pieces, axis=axis)


def invert_scale(quad: np.ndarray) -> np.ndarray:
    """(255 - q) / 255 in float32: primary 1.0, overlap 192/255, affected 128/255, keep 0."""
    return ((255.0 - quad.astype(np.float32)) / np.float32(255.0)).astype(np.float32)


def padded_length(frames: int, window: int = 85, max_length: int = 197) -> int:
    """VOID's temporal padding: the next 4k+1 with k odd, clamped to [window, max_length]."""
    k = max(0, math.ceil((frames - 1) / 4))
    if k % 2 == 0:
        k += 1
    return int(min(max(4 * k + 1, window), max_length))


def mirror_indices(frames: int, length: int) -> np.ndarray:
    """Source frame of each padded frame: ping-pong that repeats the last frame (0..8, 8, 7..)."""
    if frames <= 0:
        raise ValueError("cannot pad an empty clip")
    cycle = list(range(frames)) + list(range(frames - 1, -1, -1))
    return np.array([cycle[i % len(cycle)] for i in range(length)], dtype=np.int64)


def pipeline_thresholds(mask01: np.ndarray) -> np.ndarray:
    """VOID's pass-1 trimask thresholds on an inverted [0,1] mask, applied in VOID's order."""
    m = mask01.astype(np.float32).copy()
    m[m > _TRIMASK_HIGH] = 1.0
    m[(m >= _TRIMASK_LOW) & (m <= _TRIMASK_HIGH)] = _TRIMASK_MID
    m[m < _TRIMASK_LOW] = 0.0
    return m


def vae_mask_input(thresholded: np.ndarray) -> np.ndarray:
    """1 - thresholded mask, in [0, 1] (not [-1, 1]); levels 0, ~128/255, 1."""
    return (np.float32(1.0) - thresholded.astype(np.float32)).astype(np.float32)


def conditioning_levels(quad: np.ndarray) -> np.ndarray:
    """Per-pixel VAE-mask input of a quadmask at its own size: 0/63 -> 0, 127 -> ~0.502, 255 -> 1."""
    return vae_mask_input(pipeline_thresholds(invert_scale(quantise(quad))))
