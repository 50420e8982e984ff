"""Display transfers (what a video's transfer tag means), as OpenColorIO colour spaces.

A display-referred source is linearised by its transfer: each `Transfer` is a colour space of
OCIO's built-in studio config (`TRANSFER_COLORSPACES`), and `to_linear` / `to_display` are that
config's processors to and from scene-linear Rec.709. The transfer of a video also names its
default input colour space (`plate.py`).

Linearising whole frames goes through lookup tables built from those processors (256 entries for
8-bit, 65536 for 16-bit), so the linear value of a code value is the same number wherever and
whenever it is computed. That is what lets a test check "outside the mask, the output equals the
linearised source".
"""

from __future__ import annotations

import enum
import functools

import numpy as np

from void_core.media import ocio

# Rec.709 / sRGB primaries and D65 white, as (Rx, Ry, Gx, Gy, Bx, By, Wx, Wy) for EXR headers.
REC709_CHROMATICITIES = (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290)


class Transfer(str, enum.Enum):
    """How display code values relate to linear light."""

    SRGB = "srgb"  # IEC 61966-2-1 piecewise curve
    REC709 = "rec709"  # inverse of the BT.709 camera OETF (Nuke's "rec709")
    GAMMA22 = "gamma2.2"
    LINEAR = "linear"


# Each transfer as a colour space of the built-in studio config (Rec.709 primaries).
TRANSFER_COLORSPACES = {
    Transfer.SRGB: "sRGB Encoded Rec.709 (sRGB)",
    Transfer.REC709: "Camera Rec.709",
    Transfer.GAMMA22: "Gamma 2.2 Encoded Rec.709",
    Transfer.LINEAR: ocio.LINEAR_REC709,
}


def to_linear(display: np.ndarray, transfer: Transfer) -> np.ndarray:
    """Display-referred [0, 1] -> scene-linear Rec.709, float32 (OCIO)."""
    return ocio.apply_curve(display, ocio.DEFAULT_CONFIG, TRANSFER_COLORSPACES[transfer],
                            ocio.LINEAR_REC709)


def to_display(linear: np.ndarray, transfer: Transfer) -> np.ndarray:
    """Scene-linear Rec.709 -> display-referred, float32, clipped to [0, 1] (OCIO)."""
    v = np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0)
    out = ocio.apply_curve(v, ocio.DEFAULT_CONFIG, ocio.LINEAR_REC709, TRANSFER_COLORSPACES[transfer])
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


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
