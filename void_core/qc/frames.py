"""The pictures QC shows: before | quadmask overlay | after panels of one frame, at any size.

The "after" panel is read back from the written EXRs, so the picture shows what was delivered,
not what the engine meant to write; it is converted from scene-linear to display with the
plate's transfer (the one recorded in the EXRs' `void/transfer` unless the caller overrides it),
the inverse of how the shot linearised the plate. Panels are scaled *before* any colour work,
so a 4K shot costs little more than its thumbnails. A conversion that treats each channel
alone (checked) is a lookup table: 8-bit plate codes, and half-float EXRs shown at their own
size, go straight to display codes, exactly as the per-pixel conversion would give them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import OpenEXR

from void_core import quadmask
from void_core.errors import MaskError, MediaError
from void_core.media.colour import Transfer
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
_KEPT, _TINTED_RED, _TINTED_YELLOW = 0, 1, 2  # what the overlay does to a pixel
_TINT_OF_LEVEL = np.full(256, _KEPT, np.uint8)
# Primary (and primary over affected) red, affected yellow.
_TINT_OF_LEVEL[[quadmask.PRIMARY, quadmask.OVERLAP]] = _TINTED_RED
_TINT_OF_LEVEL[quadmask.AFFECTED] = _TINTED_YELLOW
_OUTLINE_KERNEL = np.ones((3, 3), np.uint8)
_CHANNELS = np.arange(3)
_TABLE_CHECKS = 4096  # random colours a per-channel lookup table must show as the pixels do


def mask_overlay(display: np.ndarray, quad: np.ndarray, opacity: float = 0.5, *,
                 outline: bool = False) -> np.ndarray:
    """Tint primary (0, 63) red and affected (127) yellow over 8-bit RGB `display`;
    `outline` also draws each region's edge in the solid colour."""
    tints = _TINT_OF_LEVEL[quad]
    out = np.array(display, np.uint8, copy=True)
    tinted = tints != _KEPT
    out[tinted] = _blend_table(opacity)[tints[tinted][:, None], out[tinted], _CHANNELS]
    if outline:
        for tint, rgb in ((_TINTED_YELLOW, _YELLOW), (_TINTED_RED, _RED)):
            region = (tints == tint).astype(np.uint8)
            edge = (region - cv2.erode(region, _OUTLINE_KERNEL, borderValue=0)) > 0
            out[edge] = rgb
    return out


@functools.lru_cache(maxsize=4)
def _blend_table(opacity: float) -> np.ndarray:
    """(tint, code, channel) -> the tinted code: `(1 - opacity) * code + opacity * colour` in
    float32, rounded, for all 256 codes (a lookup instead of float maths on every pixel)."""
    codes = np.arange(256, dtype=np.float32)[:, None]
    tables = [np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)]
    for rgb in (_RED, _YELLOW):
        blended = (1 - opacity) * codes + opacity * np.array(rgb, np.float32)
        tables.append(np.clip(np.rint(blended), 0, 255).astype(np.uint8))
    return np.stack(tables)


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
class Sources:
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

    def frames(self, start: int = 0, stop: int | None = None,
               ) -> Iterator[tuple[int, np.ndarray, np.ndarray, Path]]:
        """(EXR frame number, raw plate frame, quadmask, EXR path) of frames [start, stop)
        (default all), one frame at a time."""
        stop = self.frame_count if stop is None else min(stop, self.frame_count)
        yield from zip(self.exrs.numbers[start:stop], self.plate.frames(start, stop),
                       self.masks.frames(start, stop), self.exrs.frames[start:stop])

    def after(self, exr_path: Path) -> np.ndarray:
        """The EXR's linear RGB, checked to be the plate's size."""
        linear = read_exr_frame(exr_path).rgb
        if linear.shape[:2] != (self.height, self.width):
            raise MediaError(exr_path, f"is {linear.shape[1]}x{linear.shape[0]}, the plate is "
                                       f"{self.width}x{self.height}",
                             "rerun the shot: these EXRs were made from another plate")
        return linear

    def panels(self, raw: np.ndarray, quad: np.ndarray, exr_path: Path,
               size: tuple[int, int]) -> list[np.ndarray]:
        """before | overlay | after as 8-bit RGB, each `size` (width, height)."""
        return self.panels_of(raw, quad, self.after(exr_path), size)

    def panels_of(self, raw: np.ndarray, quad: np.ndarray, linear: np.ndarray,
                  size: tuple[int, int]) -> list[np.ndarray]:
        """`panels` of an EXR already read (`after`): one decode serves every size."""
        before = self._before(_resized(raw, size))
        overlay = mask_overlay(before, cv2.resize(quad, size, interpolation=cv2.INTER_NEAREST),
                               outline=True)
        return [before, overlay, self._after(linear, size)]

    def _before(self, raw: np.ndarray) -> np.ndarray:
        if raw.dtype == np.uint8 and self._code_table is not None:
            return cv2.LUT(raw, self._code_table.reshape(1, 256, 3))
        return _codes(self.plate.view(raw))

    def _after(self, linear: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        whole = (linear.shape[1], linear.shape[0]) == size
        if whole and linear.dtype == np.float16 and self._half_table is not None:
            return _looked_up(self._half_table, linear.view(np.uint16))
        return _codes(self.plate.view_linear(_resized(linear, size)))

    @functools.cached_property
    def _code_table(self) -> np.ndarray | None:
        """8-bit code -> the before panel's display code, per channel (None: not per channel)."""
        return _per_channel_table(lambda codes: _codes(self.plate.view(codes)),
                                  np.arange(256, dtype=np.uint8))

    @functools.cached_property
    def _half_table(self) -> np.ndarray | None:
        """Half-float bits -> the after panel's display code, per channel (None: not per
        channel): an EXR shown at its own size is a lookup, not a colour conversion."""
        halves = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
        return _per_channel_table(lambda linear: _codes(self.plate.view_linear(linear)), halves)


def open_sources(plate_path: Path, quadmask_path: Path, exr_dir: Path,
                 transfer: Transfer | str | None, rate: Fraction | None) -> Sources:
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
    return Sources(plate, masks, exrs, info.transfer, Fraction(frame_rate))


def _per_channel_table(show: Callable[[np.ndarray], np.ndarray],
                       values: np.ndarray) -> np.ndarray | None:
    """`show` (an (h, w, 3) picture -> 8-bit display codes) of every one of `values` as a
    (values, 3) table, when `show` treats each channel alone: checked on random colours of
    those values (a colour matrix fails it at once); else None."""
    table = show(np.repeat(values[:, None, None], 3, axis=2))[:, 0, :]
    picks = np.random.default_rng(0).integers(0, len(values), (_TABLE_CHECKS, 3))
    shown = show(values[picks][:, None, :])[:, 0, :]
    return table if np.array_equal(shown, table[picks, _CHANNELS]) else None


def _looked_up(table: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """(h, w, 3) keys through a (keys, 3) per-channel table (a take per channel: the fastest)."""
    out = np.empty(keys.shape, table.dtype)
    for channel in range(3):
        np.take(table[:, channel], keys[..., channel], out=out[..., channel])
    return out


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


def labelled(panels: list[np.ndarray]) -> list[np.ndarray]:
    """Name each panel in its top-left corner, scaled to the panel."""
    height = panels[0].shape[0]
    scale = float(np.clip(height / 360, 0.3, 1.0))
    for panel, label in zip(panels, PANEL_LABELS):
        _put_text(panel, label, (4, 4 + int(22 * scale)), scale)
    return panels


def sheet_row(number: int, panels: list[np.ndarray]) -> np.ndarray:
    thumbs = np.concatenate(panels, axis=1)
    bar = np.full((SHEET_LABEL_HEIGHT, thumbs.shape[1], 3), 32, np.uint8)
    _put_text(bar, str(number), (4, SHEET_LABEL_HEIGHT - 6), 0.45)
    width = panels[0].shape[1]
    for column, label in enumerate(PANEL_LABELS[1:], 1):
        if width >= 80:  # room for the panel name beside the frame number
            _put_text(bar, label, (column * width + 4, SHEET_LABEL_HEIGHT - 6), 0.4)
    return np.concatenate([bar, thumbs], axis=0)
