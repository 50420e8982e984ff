"""Flow-warped Gaussian noise for VOID's pass 2, made from the pass-1 result.

VOID's pass 2 starts denoising not from fresh noise but from noise that moves with the video
(Go-with-the-Flow): where the pass-1 result pans or an object travels, the noise travels with
it, so the refined frames inherit pass 1's motion and flicker less. The noise must still be what
the model was trained to denoise: i.i.d. standard normal in every frame, at latent resolution.

Three steps, each keeping that property exactly (not only approximately):

1. **Flow** between consecutive pass-1 frames: torchvision's RAFT when a local weights file is
   configured (`RaftFlow`; never downloaded), OpenCV DIS otherwise (`DisFlow`). Forward flow:
   what is at pixel x in frame t is at x + flow(x) in frame t+1.
2. **Transport** (`transport`), at the frames' own resolution, by forward splatting with
   variance-preserving merging. Every noise sample moves to the pixel nearest its new position;
   a pixel that receives k samples gets their sum / sqrt(k); a pixel that receives none
   (disocclusion, or content entering the frame) gets a fresh N(0, 1) draw. Each sample lands in
   exactly one pixel, so the pixels' source sets are disjoint and the new frame is again i.i.d.
   N(0, 1) -- the flow decides *which* samples are combined, never their values. (Backward
   warping or bilinear splatting would copy or blend samples and correlate neighbours; that is
   why they are not used.) Rounding to the nearest pixel would lose any motion below half a pixel
   per frame -- a slow pan would leave the noise standing still -- so each pixel also carries its
   sample's sub-pixel offset, which accumulates motion exactly across frames; merged samples keep
   their mean position. The offsets depend on the flow only, so Gaussianity is untouched.
   This is the discrete cousin of the integral-noise idea (a pixel's noise is the normalised sum
   of the finer samples it covers) without holding a high-resolution noise field.
3. **Latent resolution** (`pool_to_latent`, `latent_frame_sources`): space by 8x8 sum-pooling
   divided by sqrt(64) = 8 -- pixels in one frame are independent, so this is exactly N(0, 1);
   time by taking one pixel frame per latent frame (frame 4j for latent j of a 4k+1-frame clip:
   the last frame VOID's causal VAE packs into that latent, and what VOID's training did with
   linspace indices). Pooling over time instead would not preserve variance: consecutive warped
   frames are strongly correlated (a static shot repeats the same noise), so their sum / sqrt(4)
   would have std up to 2.

Everything is deterministic given the `torch.Generator` (every frame draws the same amount of
fresh noise whatever the flow) and the flow estimator (DIS is deterministic; RAFT on CPU is).
Splatting runs on the CPU, where `index_add_` is deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from void_core.errors import InputError

LATENT_CHANNELS = 16
SPATIAL_COMPRESSION = 8
TEMPORAL_COMPRESSION = 4
# RAFT's correlation pyramid needs feature maps of at least 16 px, i.e. frames of 128 px.
_RAFT_MIN_SIZE = 128
_RAFT_STRIDE = 8


class FlowEstimator(Protocol):
    """Forward optical flow between two frames (H, W, 3) float32 in [0, 1]: (H, W, 2) float32
    (dx, dy) in pixels, such that previous[y, x] shows up at following[y + dy, x + dx]."""

    name: str

    def __call__(self, previous: np.ndarray, following: np.ndarray) -> np.ndarray: ...


class DisFlow:
    """OpenCV's DIS optical flow on the grey frames (no weights needed)."""

    name = "dis"

    def __init__(self, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM):
        self._dis = cv2.DISOpticalFlow_create(preset)

    def __call__(self, previous: np.ndarray, following: np.ndarray) -> np.ndarray:
        return self._dis.calc(_grey_uint8(previous), _grey_uint8(following), None)


class RaftFlow:
    """torchvision's RAFT (large or small) with weights from a local .pth state dict.

    Frames are padded by edge replication to a multiple of 8 and at least 128 px (RAFT's minimum),
    and the flow is cropped back.
    """

    name = "raft"

    def __init__(
        self,
        weights: str | Path,
        *,
        variant: str = "large",
        device: str | torch.device = "cpu",
        num_flow_updates: int = 12,
    ):
        from torchvision.models.optical_flow import raft_large, raft_small

        builders = {"large": raft_large, "small": raft_small}
        if variant not in builders:
            raise ValueError(f"RAFT variant must be 'large' or 'small', got {variant!r}")
        path = Path(weights)
        if not path.is_file():
            raise InputError(path, "RAFT weights file not found",
                             "point the RAFT weights setting at a local raft_large/raft_small .pth")
        model = builders[variant](weights=None, progress=False)
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except (RuntimeError, KeyError, ValueError) as error:
            raise InputError(path, f"not a torchvision RAFT-{variant} state dict ({error})",
                             "use the weights that match the configured variant") from error
        self.variant = variant
        self.num_flow_updates = num_flow_updates
        self._device = torch.device(device)
        self._model = model.to(self._device).eval()

    @torch.no_grad()
    def __call__(self, previous: np.ndarray, following: np.ndarray) -> np.ndarray:
        height, width = previous.shape[:2]
        first, second = (self._to_input(frame) for frame in (previous, following))
        flows = self._model(first, second, num_flow_updates=self.num_flow_updates)
        flow = flows[-1][0, :, :height, :width]
        return flow.permute(1, 2, 0).float().cpu().numpy()

    def _to_input(self, frame: np.ndarray) -> torch.Tensor:
        """(H, W, 3) in [0, 1] -> (1, 3, H', W') in [-1, 1], replicate-padded to RAFT's sizes."""
        height, width = frame.shape[:2]
        image = torch.from_numpy(np.ascontiguousarray(frame, dtype=np.float32))
        image = image.permute(2, 0, 1)[None].to(self._device) * 2 - 1
        pad_h = _raft_size(height) - height
        pad_w = _raft_size(width) - width
        return F.pad(image, (0, pad_w, 0, pad_h), mode="replicate")


def make_flow_estimator(
    raft_weights: str | Path | None = None,
    *,
    raft_variant: str = "large",
    device: str | torch.device = "cpu",
) -> FlowEstimator:
    """RAFT when a local weights file is configured, DIS otherwise."""
    if raft_weights:
        return RaftFlow(raft_weights, variant=raft_variant, device=device)
    return DisFlow()


@dataclass(frozen=True)
class NoiseState:
    """One frame of warped noise: `noise` (C, H, W) i.i.d. N(0, 1) and `offset` (2, H, W), the
    sub-pixel position (dx, dy) of each pixel's sample relative to the pixel, in [-0.5, 0.5)."""

    noise: torch.Tensor
    offset: torch.Tensor


def initial_state(
    channels: int, height: int, width: int, generator: torch.Generator | None
) -> NoiseState:
    """Fresh N(0, 1) noise on the CPU with every sample at its pixel's centre."""
    noise = torch.randn(channels, height, width, generator=generator, dtype=torch.float32)
    return NoiseState(noise, torch.zeros(2, height, width, dtype=torch.float32))


def transport(
    state: NoiseState, flow: np.ndarray | torch.Tensor, generator: torch.Generator | None
) -> NoiseState:
    """Move every sample of `state` along `flow` (H, W, 2) and splat it to the nearest pixel;
    pixels receiving k samples get their sum / sqrt(k), empty ones fresh N(0, 1) noise."""
    channels, height, width = state.noise.shape
    flow = torch.as_tensor(np.asarray(flow, dtype=np.float32))
    if tuple(flow.shape) != (height, width, 2):
        raise ValueError(f"flow must be ({height}, {width}, 2), got {tuple(flow.shape)}")
    fresh = torch.randn(channels, height, width, generator=generator, dtype=torch.float32)

    inside, target, residual_x, residual_y = _splat_targets(state.offset, flow)

    pixels = height * width
    count = torch.bincount(target, minlength=pixels).to(torch.float32)
    received = count > 0
    per_sample = count.clamp(min=1)
    moved = state.noise.reshape(channels, -1)[:, inside]
    summed = torch.zeros(channels, pixels).index_add_(1, target, moved)
    noise = torch.where(received, summed * per_sample.rsqrt(), fresh.reshape(channels, -1))

    # The new offset is the mean sub-pixel position of the samples a pixel received.
    offset_x = torch.zeros(pixels).index_add_(0, target, residual_x) / per_sample
    offset_y = torch.zeros(pixels).index_add_(0, target, residual_y) / per_sample
    offset = torch.stack([offset_x, offset_y]).reshape(2, height, width)
    return NoiseState(noise.reshape(channels, height, width), offset)


def _splat_targets(offset: torch.Tensor, flow: torch.Tensor):
    """Where each pixel's sample lands: (inside, target pixel index, residual dx, residual dy)
    for the samples that stay in the frame (flat, row-major).

    Displacements are rounded relative to each sample's own pixel, never as absolute positions,
    so equal motions round equally everywhere in the frame (no float ties that depend on the
    column).
    """
    height, width = offset.shape[1:]
    grid_y, grid_x = _pixel_grid(height, width)
    flow_x, flow_y = _sample_flow(flow, grid_x + offset[0], grid_y + offset[1])
    move_x = (offset[0] + flow_x).flatten()
    move_y = (offset[1] + flow_y).flatten()
    step_x = torch.floor(move_x + 0.5)
    step_y = torch.floor(move_y + 0.5)
    target_x = grid_x.flatten().long() + step_x.long()
    target_y = grid_y.flatten().long() + step_y.long()
    inside = (target_x >= 0) & (target_x < width) & (target_y >= 0) & (target_y < height)
    target = (target_y * width + target_x)[inside]
    return inside, target, (move_x - step_x)[inside], (move_y - step_y)[inside]


def pool_to_latent(noise: torch.Tensor, factor: int = SPATIAL_COMPRESSION) -> torch.Tensor:
    """(C, H, W) -> (C, H / factor, W / factor): sum over each factor x factor block / factor,
    i.e. sum / sqrt(block size), which keeps i.i.d. N(0, 1) noise i.i.d. N(0, 1)."""
    height, width = noise.shape[-2:]
    if height % factor or width % factor:
        raise ValueError(f"frame size {height}x{width} must be divisible by {factor}")
    return F.avg_pool2d(noise[None], factor)[0] * factor


def latent_frame_sources(frames: int, latent_frames: int | None = None) -> np.ndarray:
    """The pixel frame whose noise each latent frame takes: evenly spaced from first to last,
    which is frame 4j for latent j when frames = 4(L - 1) + 1."""
    if latent_frames is None:
        latent_frames = (frames - 1) // TEMPORAL_COMPRESSION + 1
    if frames < 1 or latent_frames < 1:
        raise ValueError(
            f"need at least one frame and one latent, got {frames} and {latent_frames}"
        )
    return np.rint(np.linspace(0, frames - 1, latent_frames)).astype(np.int64)


def warped_noise_latents(
    frames: torch.Tensor,
    *,
    generator: torch.Generator | None,
    flow: FlowEstimator | None = None,
    channels: int = LATENT_CHANNELS,
    latent_frames: int | None = None,
    spatial_compression: int = SPATIAL_COMPRESSION,
    frame_order: Sequence[int] | np.ndarray | None = None,
) -> torch.Tensor:
    """Flow-warped noise for a video at latent resolution, in the pipeline layout.

    frames: (3, F, H, W) or (1, 3, F, H, W) in [0, 1] (the pass-1 result at model resolution),
    on any device; frames are read one at a time. `frame_order` lists the frames to use, in
    order (e.g. VOID's mirror padding), without copying the video; by default 0 .. F-1. A frame
    repeated back to back keeps its noise. Returns float32 (1, L, channels, H / 8, W / 8) with
    L = (N - 1) // 4 + 1 for N ordered frames unless given. Flow is computed only up to the last
    frame a latent uses.
    """
    video = _single_clip(frames)
    height, width = video.shape[2:]
    order = np.arange(video.shape[1]) if frame_order is None else np.asarray(frame_order)
    sources = latent_frame_sources(len(order), latent_frames)
    flow = flow if flow is not None else DisFlow()
    state = initial_state(channels, height, width, generator)
    latents: list[torch.Tensor | None] = [None] * len(sources)
    previous = _frame(video, int(order[0]))
    for position in range(int(sources[-1]) + 1):
        if position > 0 and order[position] != order[position - 1]:
            current = _frame(video, int(order[position]))
            state = transport(state, flow(previous, current), generator)
            previous = current
        for latent_index in np.flatnonzero(sources == position):
            latents[latent_index] = pool_to_latent(state.noise, spatial_compression)
    return torch.stack(latents)[None]


def _single_clip(frames: torch.Tensor) -> torch.Tensor:
    if frames.ndim == 5:
        if frames.shape[0] != 1:
            raise ValueError(
                f"warped noise is made for one clip at a time, got batch {frames.shape[0]}"
            )
        frames = frames[0]
    if frames.ndim != 4 or frames.shape[0] != 3:
        raise ValueError(
            f"frames must be (3, F, H, W) or (1, 3, F, H, W), got {tuple(frames.shape)}"
        )
    return frames.detach()


def _frame(video: torch.Tensor, index: int) -> np.ndarray:
    """Frame `index` of (3, F, H, W) as (H, W, 3) float32 in [0, 1], on the CPU."""
    frame = video[:, index].permute(1, 2, 0).float().clamp(0, 1).cpu()
    return np.ascontiguousarray(frame.numpy())


def _grey_uint8(frame: np.ndarray) -> np.ndarray:
    rgb = np.clip(frame * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _raft_size(size: int) -> int:
    return max(_RAFT_MIN_SIZE, math.ceil(size / _RAFT_STRIDE) * _RAFT_STRIDE)


def _pixel_grid(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    ys = torch.arange(height, dtype=torch.float32)
    xs = torch.arange(width, dtype=torch.float32)
    return torch.meshgrid(ys, xs, indexing="ij")


def _sample_flow(
    flow: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear flow (H, W, 2) at pixel positions x, y (H, W), clamped at the border."""
    height, width = flow.shape[:2]
    grid = torch.stack([_normalise(x, width), _normalise(y, height)], dim=-1)[None]
    sampled = F.grid_sample(
        flow.permute(2, 0, 1)[None], grid, mode="bilinear", padding_mode="border",
        align_corners=True,
    )[0]
    return sampled[0], sampled[1]


def _normalise(position: torch.Tensor, size: int) -> torch.Tensor:
    """Pixel index -> grid_sample's [-1, 1] (align_corners: pixel centres at the ends)."""
    return position * (2.0 / (size - 1)) - 1.0 if size > 1 else torch.zeros_like(position)
