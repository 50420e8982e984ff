"""VOID's input preprocessing for pass 1: the quadmask branch of `get_video_mask_input`.

From decoded frames (uint8) to the pipeline's inputs, exactly as VOID does it:

1. keep at most `max_video_length` frames (197; the rest are dropped);
2. video: / 255 in float32, then torch area interpolation (adaptive average pooling) to the
   sample size; the aspect ratio is not kept;
3. mask: channel 0, area resize on the 0..255 values, quantise at 31 / 95 / 191, invert and
   divide by 255 (primary 1.0, overlap 192/255, affected 128/255, keep 0) -- `void_core.quadmask`;
4. temporal padding of both to the next 4k+1 frames with k odd, clamped to
   [temporal_window_size, max_video_length], by ping-pong mirroring that repeats the last frame.

The pipeline's own thresholds (use_trimask) are applied later, in `pipeline.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from void_core import quadmask

MAX_VIDEO_LENGTH = 197
TEMPORAL_WINDOW_SIZE = 85
SAMPLE_SIZE = (384, 672)


@dataclass(frozen=True)
class PreparedInputs:
    """Pipeline inputs: video (1, 3, T, h, w) in [0, 1], mask (1, 1, T, h, w) in [0, 1]
    (1 = remove), and how many of the T frames are real (the rest are mirrored padding)."""

    video: torch.Tensor
    mask: torch.Tensor
    source_frames: int


def prepare_inputs(
    video: np.ndarray,
    quadmask_frames: np.ndarray,
    sample_size: tuple[int, int] = SAMPLE_SIZE,
    *,
    max_video_length: int = MAX_VIDEO_LENGTH,
    temporal_window_size: int = TEMPORAL_WINDOW_SIZE,
    temporal_padding: bool = True,
) -> PreparedInputs:
    """VOID's `get_video_mask_input` (use_quadmask) on uint8 video (T, H, W, 3) and quadmask
    (T, H, W) or (T, H, W, C) (channel 0 is used), both at the source size."""
    if quadmask_frames.ndim == 4:
        quadmask_frames = quadmask_frames[..., 0]
    _check_shapes(video, quadmask_frames)
    video = video[:max_video_length]
    quadmask_frames = quadmask_frames[:max_video_length]
    frames = video.shape[0]

    height, width = sample_size
    video01 = resize_video(video, height, width)
    mask01 = quadmask.invert_scale(
        quadmask.quantise(quadmask.area_resize(quadmask_frames, height, width))
    )
    if temporal_padding:
        length = quadmask.padded_length(frames, temporal_window_size, max_video_length)
        order = torch.from_numpy(quadmask.mirror_indices(frames, length))
        video01 = video01[order]
        mask01 = mask01[order.numpy()]
    return PreparedInputs(
        video=video01.permute(1, 0, 2, 3).unsqueeze(0).contiguous(),
        mask=torch.from_numpy(np.ascontiguousarray(mask01))[None, None],
        source_frames=frames,
    )


def resize_video(video: np.ndarray, height: int, width: int) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float32 (T, 3, height, width) in [0, 1]: / 255, then area resize."""
    frames = torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2).float() / 255.0
    return F.interpolate(frames, size=(height, width), mode="area")


def _check_shapes(video: np.ndarray, mask: np.ndarray) -> None:
    if video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(f"video must be (T, H, W, 3) uint8, got shape {video.shape}")
    if mask.shape != video.shape[:3]:
        raise ValueError(
            f"quadmask {mask.shape} must match the video's frames and size {video.shape[:3]}"
        )
    if video.shape[0] == 0:
        raise ValueError("video has no frames")
