"""Values in a scene-linear plate that the shaper cannot carry, counted per frame.

NaN, Inf and negatives anywhere in a frame, and values above the shaper's range inside the mask
(where a fill replaces them). Outside the mask all of them are kept bit for bit; inside it the
engines see them as black (NaN, Inf, negatives) or as the shaper's maximum, so none of them
reaches a fill. The counts go into each EXR's `void/plate_values` attribute and one summary
line per shot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from void_core import quadmask
from void_core.media import shaper


@dataclass(frozen=True)
class FrameValues:
    """Counts of pixels (any channel) one frame holds outside the shaper's reach."""

    non_finite: int = 0  # NaN or +-Inf, anywhere
    negative: int = 0  # finite and < 0, anywhere
    over_range: int = 0  # finite and > shaper.LINEAR_MAX, inside the mask

    @property
    def clean(self) -> bool:
        return not (self.non_finite or self.negative or self.over_range)

    def attribute(self) -> str:
        return (f"nan_inf={self.non_finite} negative={self.negative} "
                f"over_range_in_mask={self.over_range}")


# IEEE layouts: (unsigned view, exponent bits, sign bit) per float size.
_BITS = {2: (np.uint16, 0x7C00, 0x8000), 4: (np.uint32, 0x7F800000, 0x80000000)}


def frame_values(raw: np.ndarray, quad: np.ndarray) -> FrameValues:
    """Count one float frame's NaN/Inf and negative pixels, and its pixels above the shaper's
    range where `quad` is not KEEP. Pixels count once whichever channels are affected.

    Read from the bits, channel-wise maxima first: magnitude bits at or above the exponent's
    all-ones are NaN/Inf; a pattern above the sign bit alone is a negative (not -0.0). Integer
    tests on a 4K half frame cost tens of milliseconds, float16 arithmetic far more."""
    unsigned, exponent, sign = _BITS[raw.dtype.itemsize]
    bits = np.ascontiguousarray(raw).view(unsigned)
    magnitude = bits & unsigned(sign - 1)
    broken = _channel_max(magnitude) >= unsigned(exponent)
    negative = (_channel_max(bits) > unsigned(sign)) & ~broken
    edit = quad != quadmask.KEEP
    over = 0
    if edit.any():
        inside = raw[edit].astype(np.float32)
        with np.errstate(invalid="ignore"):
            over = int(np.count_nonzero((inside > shaper.LINEAR_MAX).any(axis=-1) & ~broken[edit]))
    return FrameValues(int(np.count_nonzero(broken)), int(np.count_nonzero(negative)), over)


def _channel_max(values: np.ndarray) -> np.ndarray:
    return np.maximum(np.maximum(values[..., 0], values[..., 1]), values[..., 2])


@dataclass
class ShotValues:
    """Per-frame counts collected over a shot, summarised in one line."""

    frames: dict[int, FrameValues] = field(default_factory=dict)

    def add(self, frame_number: int, values: FrameValues) -> None:
        if not values.clean:
            self.frames[frame_number] = values

    def summary(self) -> str | None:
        """One line for the shot's notes, None when every frame was clean."""
        if not self.frames:
            return None
        parts = []
        for label, attr, fate in (
                ("NaN/Inf", "non_finite", "kept outside the mask, never in a fill"),
                ("negative", "negative", "kept outside the mask, filled as >= 0 inside it"),
                (f"above {shaper.LINEAR_MAX:.2f}", "over_range",
                 f"inside the mask, clamped to {shaper.LINEAR_MAX:.2f} for the engines")):
            hit = {n: getattr(v, attr) for n, v in self.frames.items() if getattr(v, attr)}
            if hit:
                parts.append(f"{sum(hit.values())} {label} pixels in frames {_ranges(sorted(hit))} "
                             f"({fate})")
        return "plate values: " + "; ".join(parts) + " (per frame: EXR attribute void/plate_values)"


def _ranges(numbers: list[int]) -> str:
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    text = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in spans[:6])
    return text + (" ..." if len(spans) > 6 else "")
