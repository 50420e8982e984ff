"""Quick looks for people: before | quadmask overlay | after, as a preview MP4, a contact
sheet PNG, or a small JPEG strip meant to be embedded in a web page (the Prefect UI's QC
artifact shows it inline as a data URI, so it is bounded in bytes).

The "after" panel is read back from the written EXRs, so the picture shows what was delivered,
not what the engine meant to write; it is converted from scene-linear to display with the
plate's transfer (the one recorded in the EXRs' `void/transfer` unless the caller overrides it),
the inverse of how the shot linearised the plate. Panels are scaled *before* any colour work,
so a 4K shot costs little more than its thumbnails.

Everything streams: one frame of plate, quadmask and EXR at a time; the contact sheet keeps
only its few small rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import OpenEXR

from void_core import quadmask
from void_core.atomic import write_atomically
from void_core.errors import MaskError, MediaError
from void_core.media.colour import Transfer
from void_core.media.encode import VideoWriter
from void_core.media.exr import read_exr_frame
from void_core.media.masks import QuadmaskReader
from void_core.media.ocio import ColourSpec
from void_core.media.plate import Plate, open_plate
from void_core.media.sequence import ImageSequence, find_sequence

PANEL_LABELS = ("before", "mask", "after")
SHEET_LABEL_HEIGHT = 20  # the bar above each contact-sheet row that names its frame
PREVIEW_CRF = 18  # visually clean at a third of the size of the library's default
DEFAULT_RATE = Fraction(24)  # only when neither the plate, the caller nor the EXRs give one
STRIP_MAX_BYTES = 112_000  # so its base64 in the QC artifact stays under 150 kB per shot
STRIP_QUALITIES = (85, 70, 55, 40)  # tried in turn, then the strip is halved in size

_RED, _YELLOW = (255, 32, 32), (255, 215, 0)
# Primary (and primary over affected) red, affected yellow.
_OVERLAY = {quadmask.PRIMARY: _RED, quadmask.OVERLAP: _RED, quadmask.AFFECTED: _YELLOW}
_OUTLINE_KERNEL = np.ones((3, 3), np.uint8)


def mask_overlay(display: np.ndarray, quad: np.ndarray, opacity: float = 0.5, *,
                 outline: bool = False) -> np.ndarray:
    """Tint primary (0, 63) red and affected (127) yellow over 8-bit RGB `display`;
    `outline` also draws each region's edge in the solid colour."""
    out = display.astype(np.float32)
    for level, rgb in _OVERLAY.items():
        region = quad == level
        out[region] = (1 - opacity) * out[region] + opacity * np.array(rgb, np.float32)
    if outline:
        for levels, rgb in (((quadmask.AFFECTED,), _YELLOW),
                            ((quadmask.PRIMARY, quadmask.OVERLAP), _RED)):
            region = np.isin(quad, levels).astype(np.uint8)
            edge = (region - cv2.erode(region, _OUTLINE_KERNEL, borderValue=0)) > 0
            out[edge] = rgb
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# --- the preview MP4 and the contact sheet -------------------------------------------------


def write_qc_preview(plate_path: Path, quadmask_path: Path, exr_dir: Path, out_path: Path, *,
                     transfer: Transfer | str | None = None, rate: Fraction | None = None,
                     max_width: int = 1920) -> Path:
    """Encode the shot as an H.264 MP4 of before | quadmask overlay | after strips.

    Args:
        plate_path: the source plate (video, or image sequence pattern/folder).
        quadmask_path: the shot's quadmask (video or PNG sequence).
        exr_dir: the folder holding the shot's `<name>.<frame>.exr` (one sequence).
        out_path: the MP4; written under a temporary name and renamed when complete.
        transfer: display transfer for both panels (default: the EXRs' `void/transfer`,
            else the plate's tag).
        rate: frame rate of an image-sequence plate (a video's own rate always wins).
        max_width: the strip's maximum width; panels are scaled down to fit, to even sizes
            (yuv420p), so the strip is exactly three panels wide.

    Raises:
        MediaError / MaskError: a missing or unreadable input, or plate, mask and EXRs whose
            frame counts or sizes disagree.
    """
    if max_width < 6:
        raise ValueError(f"max_width must be at least 6 pixels, got {max_width}")
    sources = _open_sources(plate_path, quadmask_path, exr_dir, transfer, rate)
    size = preview_panel_size(sources.width, sources.height, max_width)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(out_path, sources.rate, crf=PREVIEW_CRF, preset="veryfast") as writer:
        for _number, raw, quad, exr_path in sources.frames():
            writer.write(np.concatenate(_labelled(sources.panels(raw, quad, exr_path, size)),
                                        axis=1))
    return out_path


def write_contact_sheet(plate_path: Path, quadmask_path: Path, exr_dir: Path, out_path: Path, *,
                        count: int = 6, transfer: Transfer | str | None = None,
                        thumb_width: int = 480) -> Path:
    """One PNG: `count` evenly spaced frames (first and last included), one row each of
    before | overlay | after thumbnails under a bar naming the EXR frame number.

    The sheet is `3 * thumb_width` wide and `rows * (SHEET_LABEL_HEIGHT + thumb_height)` high,
    `rows = min(count, frames)`. Raises as `write_qc_preview`.
    """
    if count < 1 or thumb_width < 1:
        raise ValueError(f"count and thumb_width must be positive, got {count}, {thumb_width}")
    sources = _open_sources(plate_path, quadmask_path, exr_dir, transfer, None)
    size = (thumb_width, max(1, round(sources.height * thumb_width / sources.width)))
    return _write_png(Path(out_path), _sampled_rows(sources, count, size))


def _sampled_rows(sources, count: int, size: tuple[int, int]) -> np.ndarray:
    """`count` evenly spaced frames as before | overlay | after rows, stacked."""
    picks = sample_indices(sources.frame_count, count)
    rows = []
    for index, (number, raw, quad, exr_path) in enumerate(sources.frames()):
        if index in picks:
            rows.append(_sheet_row(number, sources.panels(raw, quad, exr_path, size)))
        if index >= picks[-1]:
            break  # nothing later is shown: stop decoding
    return np.concatenate(rows, axis=0)


def write_qc_strip(plate_path: Path, quadmask_path: Path, exr_dir: Path, out_path: Path, *,
                   count: int = 3, panel_width: int = 256, max_bytes: int = STRIP_MAX_BYTES,
                   transfer: Transfer | str | None = None) -> Path:
    """A JPEG of `count` evenly spaced frames, one before | overlay | after row each (as the
    contact sheet), panels `panel_width` wide (the plate's width if smaller), at most
    `max_bytes`: quality drops first, then the panels shrink.

    Raises as `write_qc_preview`; ValueError when even 64-pixel panels do not fit `max_bytes`.
    """
    if count < 1 or panel_width < 1 or max_bytes < 1:
        raise ValueError(f"count, panel_width and max_bytes must be positive, got {count}, "
                         f"{panel_width}, {max_bytes}")
    sources = _open_sources(plate_path, quadmask_path, exr_dir, transfer, None)
    width = min(panel_width, sources.width)  # never larger than the plate
    size = (width, max(1, round(sources.height * width / sources.width)))
    return _write_bounded_jpeg(Path(out_path), _sampled_rows(sources, count, size), max_bytes)


def _write_bounded_jpeg(path: Path, rgb: np.ndarray, max_bytes: int) -> Path:
    image = np.ascontiguousarray(rgb[:, :, ::-1])
    while True:
        for quality in STRIP_QUALITIES:
            ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not ok:
                raise MediaError(path, "cannot encode the QC strip as JPEG")
            if encoded.size <= max_bytes:
                return write_atomically(path, encoded.tobytes())
        if image.shape[1] < 3 * 64:
            raise ValueError(f"a QC strip cannot fit {max_bytes} bytes")
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2),
                           interpolation=cv2.INTER_AREA)


def preview_panel_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    """(panel width, panel height): the plate scaled so three panels fit `max_width`, both even."""
    panel_width = min(width, max_width // 3)
    panel_width -= panel_width % 2
    panel_height = round(height * panel_width / width)
    return panel_width, max(2, panel_height - panel_height % 2)


def sample_indices(frame_count: int, count: int) -> list[int]:
    """`count` frame indices spread evenly from the first frame to the last."""
    count = min(count, frame_count)
    if count == 1:
        return [0]
    return sorted({int(round(i)) for i in np.linspace(0, frame_count - 1, count)})


@dataclass(frozen=True)
class _Sources:
    """A shot's plate, quadmask and EXRs, checked to line up frame for frame."""

    plate: Plate
    masks: QuadmaskReader
    exrs: ImageSequence
    transfer: Transfer
    rate: Fraction

    @property
    def width(self) -> int:
        return self.plate.info.width

    @property
    def height(self) -> int:
        return self.plate.info.height

    @property
    def frame_count(self) -> int:
        return len(self.exrs.frames)

    def frames(self) -> Iterator[tuple[int, np.ndarray, np.ndarray, Path]]:
        """(EXR frame number, raw plate frame, quadmask, EXR path), one frame at a time."""
        yield from zip(self.exrs.numbers, self.plate.frames(), self.masks.frames(),
                       self.exrs.frames)

    def panels(self, raw: np.ndarray, quad: np.ndarray, exr_path: Path,
               size: tuple[int, int]) -> list[np.ndarray]:
        """before | overlay | after as 8-bit RGB, each `size` (width, height)."""
        before = _codes(self.plate.view(_resized(raw, size)))
        overlay = mask_overlay(before, cv2.resize(quad, size, interpolation=cv2.INTER_NEAREST),
                               outline=True)
        linear = read_exr_frame(exr_path).rgb
        if linear.shape[:2] != (self.height, self.width):
            raise MediaError(exr_path, f"is {linear.shape[1]}x{linear.shape[0]}, the plate is "
                                       f"{self.width}x{self.height}",
                             "rerun the shot: these EXRs were made from another plate")
        after = _codes(self.plate.view_linear(_resized(linear, size)))
        return [before, overlay, after]


def _open_sources(plate_path: Path, quadmask_path: Path, exr_dir: Path,
                  transfer: Transfer | str | None, rate: Fraction | None) -> _Sources:
    exrs = _exr_sequence(Path(exr_dir))
    header = _exr_header(exrs.frames[0])
    chosen = Transfer(transfer) if transfer is not None else _recorded_transfer(header)
    plate = open_plate(plate_path, transfer=chosen, rate=rate, colour_spec=_recorded_colour(header))
    masks = QuadmaskReader(quadmask_path)
    info = plate.info
    if (masks.info.width, masks.info.height) != (info.width, info.height):
        raise MaskError(masks.info.path, f"quadmask is {masks.info.width}x{masks.info.height}, "
                                         f"the plate is {info.width}x{info.height}")
    if not info.frame_count == masks.info.frame_count == len(exrs.frames):
        raise MediaError(Path(exr_dir), f"holds {len(exrs.frames)} EXR frames for a plate of "
                                        f"{info.frame_count} and a quadmask of "
                                        f"{masks.info.frame_count} frames",
                         "rerun the shot's inpaint stage so the EXRs match the plate")
    frame_rate = info.rate or rate or header.get("framesPerSecond") or DEFAULT_RATE
    return _Sources(plate, masks, exrs, info.transfer, Fraction(frame_rate))


def _exr_sequence(exr_dir: Path) -> ImageSequence:
    if not exr_dir.is_dir():
        raise MediaError(exr_dir, "EXR folder not found", "run the shot's inpaint stage first")
    sequence = find_sequence(exr_dir)
    if sequence.suffix != ".exr":
        raise MediaError(exr_dir, f"holds {sequence.suffix} frames, not EXRs")
    return sequence


def _exr_header(path: Path) -> dict:
    try:
        with OpenEXR.File(str(path), header_only=True) as exr:
            return dict(exr.header())
    except Exception as err:  # the bindings raise plain Exception on corrupt files
        raise MediaError(path, f"cannot read EXR header ({err})") from None


def _recorded_colour(header: dict) -> ColourSpec:
    """The colour spaces the shot used, as written into every EXR (none: the defaults)."""
    def text(key: str) -> str | None:
        value = header.get(key)
        return str(value) if value else None

    return ColourSpec(text("void/colour_config"), text("void/input_colorspace"), text("colorspace"))


def _recorded_transfer(header: dict) -> Transfer | None:
    """The transfer the shot linearised its plate with, as written into every EXR."""
    try:
        return Transfer(str(header["void/transfer"]))
    except (KeyError, ValueError):
        return None


def _resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if image.dtype == np.float16:
        image = image.astype(np.float32)  # OpenCV does not resize half floats
    if (image.shape[1], image.shape[0]) == size:
        return image
    shrinking = size[0] < image.shape[1]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def _codes(display: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(display * 255), 0, 255).astype(np.uint8)


def _put_text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> None:
    """White text with a dark outline, readable over any picture."""
    for colour_value, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour_value,
                    thickness, cv2.LINE_AA)


def _labelled(panels: list[np.ndarray]) -> list[np.ndarray]:
    """Name each panel in its top-left corner, scaled to the panel."""
    height = panels[0].shape[0]
    scale = float(np.clip(height / 360, 0.3, 1.0))
    for panel, label in zip(panels, PANEL_LABELS):
        _put_text(panel, label, (4, 4 + int(22 * scale)), scale)
    return panels


def _sheet_row(number: int, panels: list[np.ndarray]) -> np.ndarray:
    thumbs = np.concatenate(panels, axis=1)
    bar = np.full((SHEET_LABEL_HEIGHT, thumbs.shape[1], 3), 32, np.uint8)
    _put_text(bar, str(number), (4, SHEET_LABEL_HEIGHT - 6), 0.45)
    width = panels[0].shape[1]
    for column, label in enumerate(PANEL_LABELS[1:], 1):
        if width >= 80:  # room for the panel name beside the frame number
            _put_text(bar, label, (column * width + 4, SHEET_LABEL_HEIGHT - 6), 0.4)
    return np.concatenate([bar, thumbs], axis=0)


def _write_png(path: Path, rgb: np.ndarray) -> Path:
    """Encode, then write under a temporary name and rename: never half a PNG at `path`."""
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:
        raise MediaError(path, "cannot encode the contact sheet as PNG")
    return write_atomically(path, encoded.tobytes())


