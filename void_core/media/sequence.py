"""Image sequences on disk: find the frames of `plate.####.exr`, `plate.%04d.dpx` or a folder.

A sequence keeps its frame numbers (the first frame number names the output EXRs when the cut
list gives none). EXR frames are floats (scene-linear by default; RGBA and multi-part files
give their RGB); PNG frames are 8- or 16-bit code values; DPX and TIFF frames are read through
OpenImageIO: integer files as code values at their own bit depth (10-bit DPX gives 0..1023),
float TIFFs as floats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from void_core.errors import MediaError
from void_core.media.exr import read_exr_frame

IMAGE_SUFFIXES = (".exr", ".png", ".dpx", ".tif", ".tiff")
OIIO_SUFFIXES = (".dpx", ".tif", ".tiff")  # read through OpenImageIO
_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)(?P<suffix>\.(?:exr|png|dpx|tiff?))$",
                       re.IGNORECASE)
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
        raise MediaError(folder, "holds no numbered .exr, .dpx, .tif or .png frames")
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


@dataclass(frozen=True)
class ImageFormat:
    """What OpenImageIO says a DPX/TIFF frame holds."""

    bits: int  # code bits (8, 10, 12, 16) or float bits (16, 32)
    floats: bool
    description: str


def image_format(path: Path) -> ImageFormat:
    """Bit depth and kind of a DPX/TIFF frame (from its header)."""
    import OpenImageIO as oiio

    image = oiio.ImageInput.open(str(path))
    if image is None:
        raise MediaError(path, f"cannot read image ({oiio.geterror().strip() or 'unknown format'})")
    try:
        spec = image.spec()
        if spec.nchannels not in (1, 3, 4):
            raise MediaError(path, f"has {spec.nchannels} channels", "use RGB, RGBA or grey frames")
        floats = spec.format.basetype in (oiio.FLOAT, oiio.HALF, oiio.DOUBLE)
        bits = spec.get_int_attribute("oiio:BitsPerSample", spec.format.size() * 8)
        return ImageFormat(bits, floats, f"{path.suffix.lstrip('.').lower()} {bits}-bit "
                                         f"{'float' if floats else 'integer'}")
    finally:
        image.close()


def read_image_frame(path: Path, fmt: ImageFormat) -> np.ndarray:
    """A DPX/TIFF frame's RGB (H, W, 3): uint8/uint16 codes at `fmt.bits` (a 10-bit DPX gives
    0..1023), or float16/float32 for float files."""
    import OpenImageIO as oiio

    image = oiio.ImageInput.open(str(path))
    if image is None:
        raise MediaError(path, f"cannot read image ({oiio.geterror().strip()})")
    try:
        spec = image.spec()
        wanted = ("half" if fmt.bits == 16 else "float") if fmt.floats else \
            ("uint8" if fmt.bits <= 8 else "uint16")
        pixels = image.read_image(0, 0, 0, min(spec.nchannels, 3), wanted)
    finally:
        image.close()
    if pixels is None:
        raise MediaError(path, "cannot decode the image")
    if pixels.ndim == 2 or pixels.shape[-1] == 1:
        pixels = np.repeat(pixels.reshape(pixels.shape[0], pixels.shape[1], 1), 3, axis=2)
    if not fmt.floats and 8 < fmt.bits < 16:  # OIIO widens by bit replication: the top bits
        pixels = pixels >> np.uint16(16 - fmt.bits)
    return np.ascontiguousarray(pixels)
