"""VOID's pass 2 (`void-pass2`): re-denoise the shot from flow-warped noise of the pass-1 result.

What VOID's `inference_with_pass1_warped_noise.py` does, and where this differs on purpose:

* Same pipeline as pass 1 (`pipeline.run_pass1`: conditioning, temporal multidiffusion windows,
  per-window RoPE, DDIM, VOID's VAE decode) with the pass-2 transformer checkpoint, classifier-free
  guidance 6.0 against the embedding of the empty prompt, 50 steps.
* Conditioning is the *original* shot (with the object) and its quadmask, not the pass-1 result;
  the pass-1 result only feeds the noise (`warped_noise.warped_noise_latents`), which replaces
  the initial draw (x init_noise_sigma = 1).
* Mask: the three levels pass 2 was trained with (primary and overlap -> 0, affected -> ~0.5,
  keep -> 1 in the VAE-mask input: pass 1's thresholds). VOID's script passes use_trimask=False,
  which binarises at 0.5 and turns "affected" into "remove"; `binarize_mask=True` reproduces that.
* Any length: VOID's script always makes 22 latent frames of noise and crashes past 85 frames.
  Here the shot is mirror-padded like pass 1 (to 4k+1 frames, k odd, at least one window), the
  noise is made for the padded length, every window is denoised and blended, and the output is
  trimmed back to the input's frame count.
* Noise: made at the model resolution from the pass-1 frames themselves (VOID resamples them to
  72 frames and 480x720 first, then bilinearly resizes the noise, which is not variance-preserving).

Model directory (`load_pass2_models`): pass 2 shares the VAE and scheduler with pass 1 and only
swaps the transformer, so a VOID model directory holds, next to pass 1's `vae/`, `scheduler/`
and `transformer/`, a `transformer_pass2/` folder in diffusers layout: `config.json` (the same
config as `transformer/`, in_channels 48) and `diffusion_pytorch_model.safetensors` (VOID's
`void_pass2.safetensors`, whose keys are diffusers' own).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from diffusers import CogVideoXTransformer3DModel

from void_core import quadmask as quad
from void_core.errors import InputError
from void_core.inpaint.void.load import (
    VOID_IN_CHANNELS,
    VoidModels,
    _add_noise_flag,
    load_void_models,
)
from void_core.inpaint.void.pipeline import StepCallback, run_pass1
from void_core.inpaint.void.warped_noise import FlowEstimator, warped_noise_latents
from void_core.inpaint.void.windows import TEMPORAL_COMPRESSION

PASS2_TRANSFORMER_FOLDER = "transformer_pass2"
PASS2_STEPS = 50
PASS2_GUIDANCE_SCALE = 6.0
WINDOW_FRAMES = 85  # VOID's temporal_window_size: 22 latent frames
STRIDE_FRAMES = 16  # VOID's temporal_multidiffusion_stride: 4 latent frames of overlap


def load_pass2_models(
    directory: str | Path,
    *,
    shared: VoidModels | None = None,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> VoidModels:
    """Pass 2's models: the transformer from `<directory>/transformer_pass2`, the VAE and
    scheduler from `shared` (pass 1's models, so they load once) or from `directory`."""
    root = Path(directory)
    folder = root / PASS2_TRANSFORMER_FOLDER
    if not (folder / "config.json").is_file():
        raise InputError(
            root, f"no {PASS2_TRANSFORMER_FOLDER}/config.json for VOID's pass 2",
            f"put void_pass2.safetensors as {PASS2_TRANSFORMER_FOLDER}/"
            "diffusion_pytorch_model.safetensors with a copy of transformer/config.json",
        )
    transformer = CogVideoXTransformer3DModel.from_pretrained(
        folder, local_files_only=True, torch_dtype=dtype, low_cpu_mem_usage=False
    )
    if transformer.config.in_channels != VOID_IN_CHANNELS:
        raise InputError(folder, f"in_channels is {transformer.config.in_channels}, "
                         f"VOID needs {VOID_IN_CHANNELS}", "use VOID's transformer config")
    base = shared if shared is not None else load_void_models(root, dtype=dtype, device=device)
    return VoidModels(
        vae=base.vae,
        transformer=transformer.to(device).eval(),
        scheduler=base.scheduler,
        add_noise_in_inpaint_model=_add_noise_flag(folder),
    )


def padded_frame_count(frames: int, window_frames: int = WINDOW_FRAMES) -> int:
    """Frames pass 2 denoises for a clip of `frames`: the next 4k+1 with k odd (so every window
    holds an even number of latents), at least one window; no upper limit."""
    return quad.padded_length(frames, window_frames, sys.maxsize)


def latent_frame_count(frames: int, window_frames: int = WINDOW_FRAMES) -> int:
    """Latent frames of the warped noise `run_pass2` expects for a clip of `frames`."""
    return (padded_frame_count(frames, window_frames) - 1) // TEMPORAL_COMPRESSION + 1


def make_pass2_noise(
    models: VoidModels,
    pass1_video: torch.Tensor,
    *,
    frames: int | None = None,
    generator: torch.Generator | None,
    flow: FlowEstimator | None = None,
    window_frames: int = WINDOW_FRAMES,
) -> torch.Tensor:
    """Warped noise for `run_pass2` from the pass-1 result (1, 3, F1, H, W) in [0, 1].

    The pass-1 frames are mirror-padded exactly like the shot (`frames` is the shot's frame
    count, by default F1), so noise and conditioning line up frame for frame.
    Returns (1, L, latent channels, H / 8, W / 8) float32.
    """
    frames = pass1_video.shape[2] if frames is None else frames
    padded = padded_frame_count(frames, window_frames)
    available = pass1_video.shape[2]
    if available < frames:
        raise ValueError(f"the pass-1 result has {available} frames, the shot {frames}")
    return warped_noise_latents(
        pass1_video,
        frame_order=quad.mirror_indices(frames, padded),
        generator=generator,
        flow=flow,
        channels=models.vae.config.latent_channels,
        spatial_compression=_spatial_compression(models),
    )


@torch.no_grad()
def run_pass2(
    models: VoidModels,
    video: torch.Tensor,
    quadmask: torch.Tensor,
    *,
    prompt_embeds: torch.Tensor,
    negative_prompt_embeds: torch.Tensor | None,
    warped_noise: torch.Tensor,
    steps: int = PASS2_STEPS,
    guidance_scale: float = PASS2_GUIDANCE_SCALE,
    generator: torch.Generator | None = None,
    window_frames: int = WINDOW_FRAMES,
    stride_frames: int = STRIDE_FRAMES,
    binarize_mask: bool = False,
    on_step_end: StepCallback | None = None,
) -> torch.Tensor:
    """Refine a shot at model resolution; returns (b, 3, F, H, W) in [0, 1], F as the input.

    video: the original shot (b, 3, F, H, W) in [0, 1], any F; H, W divisible by 16.
    quadmask: (b, 1, F, H, W), either uint8 quadmask values (0 / 63 / 127 / 255) or VOID's float
    mask from `preprocess.prepare_inputs` (1 = remove, 192/255 overlap, 128/255 affected, 0 keep).
    prompt_embeds / negative_prompt_embeds: T5 embeddings (b, seq, dim) of the scene prompt and of
    the empty prompt (VOID's negative_prompt ""); the negative one is unused at guidance <= 1.
    warped_noise: (b, L, c, H / 8, W / 8) from `make_pass2_noise`, L = latent_frame_count(F).
    generator: only used for the conditioning-video noise when the transformer config asks for
    it (add_noise_in_inpaint_model); DDIM with eta 0 draws nothing.
    """
    frames = video.shape[2]
    mask = _void_mask(quadmask, video.shape)
    if binarize_mask:
        mask = (mask > 0.5).to(mask.dtype)
    padded = padded_frame_count(frames, window_frames)
    order = torch.from_numpy(quad.mirror_indices(frames, padded))
    expected = _noise_shape(models, video.shape, padded)
    if tuple(warped_noise.shape) != expected:
        raise ValueError(
            f"`warped_noise` must have shape {expected} for {frames} frames "
            f"(padded to {padded}), got {tuple(warped_noise.shape)}; build it with make_pass2_noise"
        )
    result = run_pass1(
        video[:, :, order], mask[:, :, order], prompt_embeds, models,
        num_inference_steps=steps, generator=generator, window_frames=window_frames,
        stride_frames=stride_frames, latents=warped_noise, on_step_end=on_step_end,
        negative_prompt_embeds=negative_prompt_embeds, guidance_scale=guidance_scale,
    )
    return result.video[:, :, :frames]


def refine_pass1_result(
    models: VoidModels,
    video: torch.Tensor,
    quadmask: torch.Tensor,
    pass1_video: torch.Tensor,
    *,
    prompt_embeds: torch.Tensor,
    negative_prompt_embeds: torch.Tensor | None,
    generator: torch.Generator | None,
    flow: FlowEstimator | None = None,
    steps: int = PASS2_STEPS,
    guidance_scale: float = PASS2_GUIDANCE_SCALE,
    window_frames: int = WINDOW_FRAMES,
    stride_frames: int = STRIDE_FRAMES,
) -> torch.Tensor:
    """Pass 2 after pass 1 in one call: warped noise from `pass1_video` (same frames as `video`,
    batch 1), then `run_pass2`. The generator first seeds the noise, then the pipeline."""
    noise = make_pass2_noise(
        models, pass1_video, frames=video.shape[2], generator=generator, flow=flow,
        window_frames=window_frames,
    )
    return run_pass2(
        models, video, quadmask, prompt_embeds=prompt_embeds,
        negative_prompt_embeds=negative_prompt_embeds, warped_noise=noise, steps=steps,
        guidance_scale=guidance_scale, generator=generator, window_frames=window_frames,
        stride_frames=stride_frames,
    )


def _void_mask(quadmask: torch.Tensor, video_shape) -> torch.Tensor:
    """VOID's float mask (1 = remove) from quadmask values or from an already converted mask."""
    expected = (video_shape[0], 1, *video_shape[2:])
    if tuple(quadmask.shape) != expected:
        raise ValueError(f"`quadmask` must have shape {expected}, got {tuple(quadmask.shape)}")
    if quadmask.dtype == torch.uint8:
        values = quad.invert_scale(quad.quantise(quadmask.cpu().numpy()))
        return torch.from_numpy(np.ascontiguousarray(values))
    if quadmask.min() < 0 or quadmask.max() > 1:
        raise ValueError(
            "a float `quadmask` must be VOID's mask in [0, 1]; pass quadmask values as uint8"
        )
    return quadmask.float()


def _spatial_compression(models: VoidModels) -> int:
    return 2 ** (len(models.vae.config.block_out_channels) - 1)


def _noise_shape(models: VoidModels, video_shape, padded_frames: int) -> tuple[int, ...]:
    batch, _, _, height, width = video_shape
    spatial = _spatial_compression(models)
    latent_frames = (padded_frames - 1) // TEMPORAL_COMPRESSION + 1
    channels = models.vae.config.latent_channels
    return (batch, latent_frames, channels, height // spatial, width // spatial)
