"""Image sequences on disk: find the frames of `plate.####.exr`, `plate.%04d.png` or a folder.

A sequence keeps its frame numbers (the first frame number names the output EXRs when the cut
list gives none). EXR frames are scene-linear; PNG frames are display-referred (8 or 16 bit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from void_core.errors import MediaError
from void_core.media.exr import read_exr_frame

IMAGE_SUFFIXES = (".exr", ".png")
_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)(?P<suffix>\.(?:exr|png))$", re.IGNORECASE)
_PATTERN = re.compile(r"(#+|%0?(\d*)d|@+)")


@dataclass(frozen=True)
class ImageSequence:
    """Frames of one sequence, in frame-number order."""

    pattern: str
    frames: tuple[Path, ...]
    numbers: tuple[int, ...]

    @property
    def first_frame(self) -> int:
        return self.numbers[0]

    @property
    def suffix(self) -> str:
        return self.frames[0].suffix.lower()


def find_sequence(spec: str | Path) -> ImageSequence:
    """Resolve a folder of frames or a pattern (`name.####.exr`, `name.%04d.exr`) to its frames.

    Raises:
        MediaError: nothing matches, several sequences share the folder, or frames are missing
            from the middle of the range.
    """
    spec = Path(spec)
    if spec.is_dir():
        return _sequence_in_folder(spec)
    match = _PATTERN.search(spec.name)
    if match is None:
        raise MediaError(spec, "not an image sequence (use a folder or a name.####.exr pattern)")
    prefix, suffix = spec.name[: match.start()], spec.name[match.end() :]
    candidates = _numbered_files(spec.parent, prefix, suffix)
    if not candidates:
        raise MediaError(spec, "no frames match this pattern")
    return _checked_sequence(str(spec), candidates)


def _numbered_files(folder: Path, prefix: str, suffix: str) -> dict[int, Path]:
    if not folder.is_dir():
        return {}
    found = {}
    for item in folder.iterdir():
        m = _NUMBERED.match(item.name)
        if m and m["prefix"] == prefix and m["suffix"].lower() == suffix.lower():
            found[int(m["number"])] = item
    return found


def _sequence_in_folder(folder: Path) -> ImageSequence:
    groups: dict[tuple[str, str], dict[int, Path]] = {}
    for item in folder.iterdir():
        m = _NUMBERED.match(item.name)
        if m and not item.name.startswith("."):
            groups.setdefault((m["prefix"], m["suffix"].lower()), {})[int(m["number"])] = item
    if not groups:
        raise MediaError(folder, "holds no numbered .exr or .png frames")
    if len(groups) > 1:
        names = ", ".join(sorted(f"{p}####{s}" for p, s in groups))
        raise MediaError(folder, f"holds several sequences ({names})", "point at one pattern")
    (prefix, suffix), frames = next(iter(groups.items()))
    return _checked_sequence(str(folder / f"{prefix}####{suffix}"), frames)


def _checked_sequence(pattern: str, frames: dict[int, Path]) -> ImageSequence:
    numbers = sorted(frames)
    missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
        raise MediaError(Path(pattern), f"frames missing from the sequence: {shown}")
    return ImageSequence(pattern, tuple(frames[n] for n in numbers), tuple(numbers))


def read_png_codes(path: Path) -> np.ndarray:
    """A PNG frame as RGB code values, uint8 or uint16 (H, W, 3)."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise MediaError(path, "cannot read PNG")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, 2::-1])  # BGR(A) -> RGB


def read_png_grey(path: Path) -> np.ndarray:
    """A PNG frame as one 8-bit channel (first channel of RGB, as VOID reads masks)."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise MediaError(path, "cannot read PNG")
    if image.ndim == 3:
        image = image[:, :, 2]  # R of BGR
    if image.dtype == np.uint16:
        image = (image.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    return image


def read_exr_rgb(path: Path) -> np.ndarray:
    """An EXR frame's RGB as stored (half or float)."""
    return read_exr_frame(path).rgb
