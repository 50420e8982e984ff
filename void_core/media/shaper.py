"""The shaper: how engines see scene-linear plates without clipping them.

Engines work on float32 pixels in [0, 1] (VOID was trained on display video; the classical
engine's thresholds are tuned on display values). A scene-linear plate is not bounded: skies,
lamps and highlights sit well above 1.0. So a scene-linear plate reaches the engines through a
log shaper, the ACEScct curve (Academy S-2016-001) applied per channel to the plate's RGB in its
working space, and each fill comes back through its exact inverse:

    code = 10.5402377416545 * x + 0.0729055341958355     x <= 0.0078125
    code = (log2(x) + 9.72) / 17.52                       x >  0.0078125

Range: code values [0, 1] hold linear light from 0 to 2 ** 7.8 = 222.86 (almost eight stops
above 1.0); black is code 0.0729, 0.18 is 0.4135, 1.0 is 0.5548. Linear values above 222.86
reach the engines as 1.0; negatives, NaN and Inf reach them as black (0). A fill is decoded to
linear [0, 222.86] and never holds a negative, NaN or Inf. Pixels the composite does not touch
keep the plate's own bits whatever they hold.
"""

from __future__ import annotations

import numpy as np

NAME = "ACEScct"
_A = np.float32(10.5402377416545)
_B = np.float32(0.0729055341958355)
_X_BREAK = np.float32(0.0078125)
_Y_BREAK = np.float32(0.155251141552511)
_SLOPE = np.float32(17.52)
_OFFSET = np.float32(9.72)

LINEAR_MAX = float(2.0 ** (17.52 - 9.72))  # code 1.0
BLACK_CODE = float(_B)  # code of linear 0


def encode(linear: np.ndarray) -> np.ndarray:
    """Scene-linear -> shaper code values, float32 in [BLACK_CODE, 1]; NaN, Inf and negatives
    become black, values above LINEAR_MAX become 1."""
    x = np.nan_to_num(np.asarray(linear, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    np.clip(x, 0.0, LINEAR_MAX, out=x)
    with np.errstate(divide="ignore"):
        logs = (np.log2(x) + _OFFSET) / _SLOPE
    code = np.where(x <= _X_BREAK, _A * x + _B, logs)
    return np.clip(code, 0.0, 1.0).astype(np.float32, copy=False)


def decode(code: np.ndarray) -> np.ndarray:
    """Shaper code values (an engine's fill) -> scene-linear float32 in [0, LINEAR_MAX]."""
    y = np.nan_to_num(np.asarray(code, dtype=np.float32), nan=BLACK_CODE, posinf=1.0, neginf=0.0)
    np.clip(y, BLACK_CODE, 1.0, out=y)
    linear = np.where(y <= _Y_BREAK, (y - _B) / _A, np.exp2(y * _SLOPE - _OFFSET))
    return np.clip(linear, 0.0, LINEAR_MAX).astype(np.float32, copy=False)
