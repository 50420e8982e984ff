"""Contact sheets: a few frames side by side, one column per method, labelled, as PNG."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

TILE_HEIGHT = 240
_LABEL_HEIGHT = 22
_GAP = 4


def sample_frames(count: int, samples: int = 3) -> list[int]:
    """Frame indices spread over the shot (a sixth in, the middle, a sixth before the end)."""
    if count <= samples:
        return list(range(count))
    return sorted({round((count - 1) * (2 * k + 1) / (2 * samples)) for k in range(samples)})


def write_sheet(path: Path, columns: dict[str, list[np.ndarray]], rows: list[int],
                boxes: list[tuple[int, int, int, int]] | None = None, tile_height: int = TILE_HEIGHT) -> Path:
    """One row per frame index in `rows`, one column per named list of uint8 RGB frames.

    `boxes[i]` (x0, y0, x1, y1) crops row i's frames first; tiles are scaled to `tile_height`
    (enlarged with nearest-neighbour so pixels stay visible, reduced with area averaging).
    """
    lines = [_label_row(list(columns), columns, rows[0], boxes[0] if boxes else None, tile_height)]
    for i, index in enumerate(rows):
        box = boxes[i] if boxes else None
        tiles = [_tile(frames[index], box, tile_height) for frames in columns.values()]
        lines.append(_hstack(tiles))
    sheet = _vstack(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), sheet[..., ::-1])
    return path


def _tile(frame: np.ndarray, box: tuple[int, int, int, int] | None, height: int) -> np.ndarray:
    if box is not None:
        frame = frame[box[1]:box[3], box[0]:box[2]]
    scale = height / frame.shape[0]
    width = max(1, round(frame.shape[1] * scale))
    interpolation = cv2.INTER_NEAREST if scale > 1 else cv2.INTER_AREA
    return cv2.resize(frame, (width, height), interpolation=interpolation)


def _label_row(names: list[str], columns: dict[str, list[np.ndarray]], index: int,
               box: tuple[int, int, int, int] | None, height: int) -> np.ndarray:
    labels = []
    for name in names:
        width = _tile(columns[name][index], box, height).shape[1]
        label = np.full((_LABEL_HEIGHT, width, 3), 32, np.uint8)
        cv2.putText(label, name, (4, _LABEL_HEIGHT - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (255, 255, 255), 1, cv2.LINE_AA)
        labels.append(label)
    return _hstack(labels)


def _hstack(tiles: list[np.ndarray]) -> np.ndarray:
    gap = np.full((tiles[0].shape[0], _GAP, 3), 16, np.uint8)
    parts = []
    for tile in tiles:
        parts += [tile, gap]
    return np.hstack(parts[:-1])


def _vstack(lines: list[np.ndarray]) -> np.ndarray:
    width = max(line.shape[1] for line in lines)
    padded = [np.pad(line, ((0, _GAP), (0, width - line.shape[1]), (0, 0)), constant_values=16)
              for line in lines]
    return np.vstack(padded)
