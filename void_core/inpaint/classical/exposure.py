"""Per-frame exposure and white balance: a gain and an offset per channel.

The background estimate is a typical exposure of the shot; each frame is brighter or darker,
warmer or cooler (auto exposure, flicker, a cloud). Fitting `frame = gain * estimate + offset`
per channel on the visible pixels around the hole maps the estimate to the frame's exposure.
The fit is robust (pixels with large residuals, e.g. a moving reflection, are dropped and the
fit repeated) and falls back to an offset alone when the pixels span too little contrast to
measure a gain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_MIN_PIXELS = 64
_MIN_SPREAD = 0.02  # std of the estimate (display units) below which a gain is not measurable
_GAIN_RANGE = (0.5, 2.0)


@dataclass(frozen=True)
class Exposure:
    gain: np.ndarray  # (3,)
    offset: np.ndarray  # (3,)

    @classmethod
    def identity(cls) -> Exposure:
        return cls(np.ones(3, np.float32), np.zeros(3, np.float32))

    def apply(self, display: np.ndarray) -> np.ndarray:
        return (display * self.gain + self.offset).astype(np.float32)


def fit_exposure(estimate: np.ndarray, frame: np.ndarray, rounds: int = 3) -> Exposure:
    """Fit `frame ~ gain * estimate + offset` per channel; both (n, 3) samples of one region."""
    if len(estimate) < _MIN_PIXELS:
        return Exposure.identity()
    gains, offsets = np.ones(3, np.float32), np.zeros(3, np.float32)
    for channel in range(3):
        gains[channel], offsets[channel] = _fit_channel(estimate[:, channel].astype(np.float64),
                                                        frame[:, channel].astype(np.float64), rounds)
    return Exposure(gains, offsets)


def _fit_channel(x: np.ndarray, y: np.ndarray, rounds: int) -> tuple[float, float]:
    use = np.ones(x.shape, bool)
    gain, offset = 1.0, float(np.median(y - x))
    for _ in range(rounds):
        xs, ys = x[use], y[use]
        if xs.size < _MIN_PIXELS:
            break
        if xs.std() >= _MIN_SPREAD:
            gain, offset = np.polyfit(xs, ys, 1)
            gain = float(np.clip(gain, *_GAIN_RANGE))
            offset = float(np.mean(ys - gain * xs))
        else:
            gain, offset = 1.0, float(np.median(ys - xs))
        residual = np.abs(y - (gain * x + offset))
        spread = 1.4826 * np.median(residual[use]) + 1e-4
        use = residual < 3.0 * spread
    return gain, offset
