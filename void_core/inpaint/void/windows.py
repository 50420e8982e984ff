"""VOID's temporal multidiffusion: latent windows, their blend weights, and the blend itself.

VOID (`CogVideoXFunInpaintPipeline`) denoises a clip longer than one window by running every
denoising step on overlapping latent windows and blending the step outputs:

* window length = (temporal_window_size - 1) / 4 + 1 latents (85 frames -> 22 latents);
  overlap = temporal_multidiffusion_stride / 4 latents (16 -> 4);
* windows start at 0, and each next one starts `overlap` latents before the previous one ended;
  the last one is cut at the clip's end (so it may be shorter);
* each window weighs its latents 1, except for linear ramps over the overlaps: rising
  0.2, 0.4, 0.6, 0.8 at the head of every window but the first, falling 0.8 .. 0.2 at the tail of
  every window but the last. The ramp is the interior of a float32 linspace(0, 1, overlap + 2);
* the blended latents are sum(window output x weight) / sum(weight), recomputed every step.

`plan_windows` works for any latent length, window and overlap (one window when the clip fits).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# VAE temporal compression: pixel frames per latent frame after the first.
TEMPORAL_COMPRESSION = 4


@dataclass(frozen=True)
class LatentWindow:
    """Latent frames [start, stop) of one multidiffusion window."""

    start: int
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start


def latent_window_length(window_frames: int) -> int:
    """Latents in a window of `window_frames` pixel frames (VOID's temporal_window_size)."""
    return (window_frames - 1) // TEMPORAL_COMPRESSION + 1


def latent_overlap(stride_frames: int = 16) -> int:
    """Latents of overlap for VOID's temporal_multidiffusion_stride (16 frames -> 4)."""
    return stride_frames // TEMPORAL_COMPRESSION


def plan_windows(latent_length: int, window: int, overlap: int) -> list[LatentWindow]:
    """VOID's windows over `latent_length` latents: [0, w), [w - o, 2w - o), ... cut at the end.

    14 latents, window 8, overlap 4 give [0, 8), [4, 12), [8, 14).
    """
    if latent_length < 1:
        raise ValueError(f"latent_length must be at least 1, got {latent_length}")
    if not 0 <= overlap < window:
        raise ValueError(f"overlap must be in [0, window) but is {overlap} for window {window}")
    windows = []
    start = 0
    while True:
        stop = min(start + window, latent_length)
        windows.append(LatentWindow(start, stop))
        if stop == latent_length:
            return windows
        start = stop - overlap


def window_weights(
    windows: list[LatentWindow], index: int, overlap: int, latent_length: int
) -> torch.Tensor:
    """Float32 weight per latent of `windows[index]`: 1, with ramps over the overlaps.

    The head ramp is written first and the tail ramp second, so in a window shorter than two
    overlaps the tail ramp wins where they meet.
    """
    current = windows[index]
    weights = torch.ones(current.length, dtype=torch.float32)
    if overlap == 0:
        return weights
    rising = torch.linspace(0, 1, overlap + 2, dtype=torch.float32)[1:-1]
    if current.start > 0:
        head = min(overlap, current.length)
        weights[:head] = rising[:head]
    if current.stop < latent_length:
        tail = min(overlap, current.length)
        weights[-tail:] = rising.flip(0)[-tail:]
    return weights


class WindowBlender:
    """Accumulates weighted window outputs for one step; `result()` is VOID's canvas / weights.

    Latents use the pipeline layout (b, f, c, h, w); windows index the frame axis.
    """

    def __init__(self, like: torch.Tensor):
        self._canvas = torch.zeros_like(like)
        self._weight_sum = torch.zeros(like.shape[1], dtype=like.dtype, device=like.device)

    def add(self, window: LatentWindow, latents: torch.Tensor, weights: torch.Tensor) -> None:
        weights = weights.to(device=latents.device, dtype=latents.dtype)
        self._canvas[:, window.start : window.stop] += latents * weights.view(1, -1, 1, 1, 1)
        self._weight_sum[window.start : window.stop] += weights

    def result(self) -> torch.Tensor:
        if bool((self._weight_sum == 0).any()):
            raise ValueError("some latent frames are covered by no window")
        return self._canvas / self._weight_sum.view(1, -1, 1, 1, 1)
