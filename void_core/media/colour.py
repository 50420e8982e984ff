"""Transfer functions between display-referred code values and scene-linear light.

Video sources are display-referred (sRGB or Rec.709 transfer) and are linearised on the way to
EXR; EXR plates are scene-linear and are converted to display space for the models. Primaries
stay Rec.709 throughout (the EXR `chromaticities` attribute says so).

Linearising whole frames goes through lookup tables (256 entries for 8-bit, 65536 for 16-bit),
so the linear value of a code value is the same number wherever and whenever it is computed.
That is what lets a test check "outside the mask, the output equals the linearised source".
"""

from __future__ import annotations

import enum
import functools

import numpy as np

# Rec.709 / sRGB primaries and D65 white, as (Rx, Ry, Gx, Gy, Bx, By, Wx, Wy) for EXR headers.
REC709_CHROMATICITIES = (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290)

# BT.709 OETF constants at full precision (BT.2020's form), so both curve pieces meet exactly.
_ALPHA, _BETA = 1.09929682680944, 0.018053968510807


class Transfer(str, enum.Enum):
    """How display code values relate to linear light."""

    SRGB = "srgb"  # IEC 61966-2-1 piecewise curve
    REC709 = "rec709"  # inverse of the BT.709 camera OETF (Nuke's "rec709")
    GAMMA22 = "gamma2.2"
    LINEAR = "linear"


def to_linear(display: np.ndarray, transfer: Transfer) -> np.ndarray:
    """Display-referred [0, 1] -> scene-linear, float32."""
    v = np.asarray(display, dtype=np.float32)
    if transfer is Transfer.SRGB:
        return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)
    if transfer is Transfer.REC709:
        return np.where(v < 4.5 * _BETA, v / 4.5, ((v + _ALPHA - 1) / _ALPHA) ** (1 / 0.45)).astype(np.float32)
    if transfer is Transfer.GAMMA22:
        return (np.clip(v, 0, None) ** 2.2).astype(np.float32)
    return v.copy()


def to_display(linear: np.ndarray, transfer: Transfer) -> np.ndarray:
    """Scene-linear -> display-referred, float32, clipped to [0, 1] (what the models see)."""
    v = np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0)
    if transfer is Transfer.SRGB:
        out = np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)
    elif transfer is Transfer.REC709:
        out = np.where(v < _BETA, v * 4.5, _ALPHA * v**0.45 - (_ALPHA - 1))
    elif transfer is Transfer.GAMMA22:
        out = v ** (1 / 2.2)
    else:
        out = v
    return np.clip(out, 0.0, 1.0).astype(np.float32)


@functools.lru_cache(maxsize=8)
def linear_half_lut(transfer: Transfer, bits: int) -> np.ndarray:
    """Lookup table: integer code value -> scene-linear half float."""
    codes = np.arange(2**bits, dtype=np.float32) / np.float32(2**bits - 1)
    lut = to_linear(codes, transfer).astype(np.float16)
    lut.setflags(write=False)
    return lut


def codes_to_linear_half(codes: np.ndarray, transfer: Transfer) -> np.ndarray:
    """uint8 / uint16 display code values -> scene-linear float16 through the LUT."""
    bits = 8 if codes.dtype == np.uint8 else 16
    return linear_half_lut(transfer, bits)[codes]


def codes_to_display(codes: np.ndarray) -> np.ndarray:
    """uint8 / uint16 code values -> display-referred float32 [0, 1]."""
    scale = 255.0 if codes.dtype == np.uint8 else 65535.0
    return codes.astype(np.float32) / np.float32(scale)


# FFmpeg's color_trc codes (AVColorTransferCharacteristic) -> our transfers.
_TRC_CODES = {
    1: Transfer.REC709,  # bt709
    6: Transfer.REC709,  # smpte170m (same curve)
    14: Transfer.REC709,  # bt2020-10
    15: Transfer.REC709,  # bt2020-12
    4: Transfer.GAMMA22,  # gamma22
    8: Transfer.LINEAR,
    13: Transfer.SRGB,  # iec61966-2-1
}


# The tag a file we write carries for each transfer (the inverse of the table above).
TRC_BY_TRANSFER = {Transfer.REC709: 1, Transfer.GAMMA22: 4, Transfer.LINEAR: 8, Transfer.SRGB: 13}


def transfer_from_trc(trc_code: int | None, default: Transfer = Transfer.SRGB) -> Transfer:
    """The transfer a stream is tagged with; `default` when untagged or unknown."""
    return _TRC_CODES.get(int(trc_code or 0), default)
