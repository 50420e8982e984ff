"""VOID's pass-1 inference (`CogVideoXFunInpaintPipeline.__call__` as VOID runs it) on diffusers
classes, with every intermediate available for checking against VOID's golden vectors.

What each step reproduces (see void-model.md section 2):

1. Initial latents: one standard-normal draw of shape (b, f, c, h, w) from the generator, times
   the scheduler's init_noise_sigma; drawn first, as VOID does.
2. Conditioning: the pipeline thresholds (use_trimask: > 0.75 -> 1, [0.25, 0.75] -> 127/255,
   < 0.25 -> 0), so overlap merges with primary; the VAE-mask input 1 - mask tiled to 3
   channels, in [0, 1]; the unmasked video normalised to [-1, 1] (zero_out_mask_region=False),
   plus noise x 0.0563 except on values exactly -1 when the transformer config has
   add_noise_in_inpaint_model (VOID draws that noise unseeded from torch's global RNG; here it is
   an argument, or drawn from the generator); both VAE-encoded (posterior mode x scaling factor)
   and concatenated [mask | video] along channels.
3. Denoising with temporal multidiffusion: at every timestep, each window runs the transformer on
   [noisy 16 | mask 16 | video 16] = 48 channels with RoPE recomputed for the window (time starts
   at 0), then a DDIM step (eta 0); the window outputs are blended with VOID's ramp weights.
4. Decode: latents x (1 / scaling factor) -- a multiplication, as VOID does it -- then VOID's VAE
   decode (first latent alone), then x / 2 + 0.5 clamped to [0, 1].

Latents use the pipeline layout (b, f, c, h, w); VAE inputs and outputs use (b, c, f, h, w).
Classifier-free guidance runs as VOID's pipeline does it, only when guidance_scale > 1 (pass 2
uses 6.0): one transformer call on the batch [negative | positive], then
uncond + scale * (cond - uncond). Strength < 1 is not implemented (VOID always uses 1.0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from diffusers.models.embeddings import get_3d_rotary_pos_embed
from diffusers.utils.torch_utils import randn_tensor

from void_core import quadmask
from void_core.inpaint.void import vae as void_vae
from void_core.inpaint.void.load import VoidModels
from void_core.inpaint.void.offload import execution_device
from void_core.inpaint.void.windows import (
    LatentWindow,
    WindowBlender,
    latent_overlap,
    latent_window_length,
    plan_windows,
    window_weights,
)

# VOID's default sigma of the conditioning-video noise (used only with add_noise_in_inpaint_model).
NOISE_AUG_STRENGTH = 0.0563
NUM_INFERENCE_STEPS = 30  # VOID's predict_v2v.py hard-codes 30

StepCallback = Callable[[int, int, torch.Tensor], None]


@dataclass
class WindowRecord:
    """One transformer + scheduler call: window `window` at denoising step `step`."""

    step: int
    window: LatentWindow
    latents_in: torch.Tensor
    noise_pred: torch.Tensor
    latents_out: torch.Tensor


@dataclass
class Pass1Trace:
    """Every intermediate of one pass-1 run (filled only when `record=True`)."""

    mask_thresholded: torch.Tensor | None = None  # (b, 1, F, H, W)
    vae_mask_input: torch.Tensor | None = None  # (b, 3, F, H, W), in [0, 1]
    conditioning_video: torch.Tensor | None = None  # (b, 3, F, H, W), in [-1, 1] (+ noise)
    mask_latents: torch.Tensor | None = None  # (b, c, f, h, w), scaled
    video_latents: torch.Tensor | None = None  # (b, c, f, h, w), scaled
    inpaint_latents: torch.Tensor | None = None  # (b, f, 2c, h, w)
    timesteps: torch.Tensor | None = None
    initial_latents: torch.Tensor | None = None  # (b, f, c, h, w)
    rope: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    windows: list[WindowRecord] = field(default_factory=list)
    latents_after_step: list[torch.Tensor] = field(default_factory=list)

    def window_record(self, step: int, index: int) -> WindowRecord:
        """The record of the `index`-th window at step `step`."""
        per_step = [record for record in self.windows if record.step == step]
        return per_step[index]


@dataclass
class Pass1Output:
    """Final latents (b, f, c, h, w); decoded video (b, 3, F, H, W) in [0, 1] unless decode was
    skipped; the trace when recorded."""

    latents: torch.Tensor
    video: torch.Tensor | None
    trace: Pass1Trace | None


@torch.no_grad()
def run_pass1(
    video: torch.Tensor,
    mask: torch.Tensor,
    prompt_embeds: torch.Tensor,
    models: VoidModels,
    *,
    num_inference_steps: int = NUM_INFERENCE_STEPS,
    generator: torch.Generator | None = None,
    window_frames: int = 85,
    stride_frames: int = 16,
    latents: torch.Tensor | None = None,
    conditioning_noise: torch.Tensor | None = None,
    noise_aug_strength: float = NOISE_AUG_STRENGTH,
    decode: bool = True,
    record: bool = False,
    on_step_end: StepCallback | None = None,
    negative_prompt_embeds: torch.Tensor | None = None,
    guidance_scale: float = 1.0,
) -> Pass1Output:
    """Run VOID's pass 1 on preprocessed inputs (`preprocess.prepare_inputs`).

    video: (b, 3, F, H, W) in [0, 1]; mask: (b, 1, F, H, W) from get_video_mask_input (1 = remove,
    before the pipeline thresholds); prompt_embeds: (b, seq, dim) T5 embeddings. F = 4k+1 and
    H, W divisible by 16. `window_frames` is VOID's temporal_window_size (85), `stride_frames` its
    temporal_multidiffusion_stride (16 -> 4 latents of overlap).

    `latents` replaces the initial noise draw (e.g. pass-2 warped noise). `conditioning_noise`
    (b, 3, F, H, W), standard normal, is the draw VOID takes from torch's global RNG when
    add_noise_in_inpaint_model is set; when omitted it is drawn from `generator`.
    `on_step_end(step_index, timestep, latents)` runs after each blended step; raise to stop.
    `guidance_scale` > 1 turns on classifier-free guidance with `negative_prompt_embeds`.
    """
    # 1. Check inputs
    transformer, scheduler_template = models.transformer, models.scheduler
    window = latent_window_length(window_frames)
    overlap = latent_overlap(stride_frames)
    _check_inputs(video, mask, prompt_embeds, models, window, overlap)
    trace = Pass1Trace() if record else None
    device = execution_device(transformer)  # not .device: offloaded weights rest on the CPU

    # 2. Timesteps (a fresh scheduler, so the caller's instance is never mutated)
    scheduler = type(scheduler_template).from_config(scheduler_template.config)
    scheduler.set_timesteps(num_inference_steps, device=device)

    # 3. Initial latents, drawn before any conditioning noise as in VOID
    latent_shape = _latent_shape(video.shape, models.vae)
    latents = _initial_latents(latent_shape, latents, generator, device, transformer.dtype)
    latents = latents * scheduler.init_noise_sigma

    # 4. Conditioning latents
    inpaint_latents = _conditioning(
        video, mask, models, conditioning_noise, noise_aug_strength, generator, trace
    ).to(device=device, dtype=transformer.dtype)
    latent_length = latent_shape[1]

    # 5. Windows, their weights and RoPE tables
    windows = plan_windows(latent_length, window, overlap)
    weights = [window_weights(windows, i, overlap, latent_length) for i in range(len(windows))]
    rope = {
        span.length: rotary_embedding(transformer, *latent_shape[-2:], span.length, device)
        for span in windows
    }
    if trace is not None:
        trace.timesteps = scheduler.timesteps.clone()
        trace.initial_latents = latents.clone()
        trace.rope = rope

    # 6. Denoising loop: every step runs every window, then blends them
    prompt_embeds = prompt_embeds.to(device=device, dtype=transformer.dtype)
    negative_prompt_embeds = _guidance_embeds(negative_prompt_embeds, prompt_embeds, guidance_scale)
    for step_index, timestep in enumerate(scheduler.timesteps):
        blender = WindowBlender(latents)
        for span, span_weights in zip(windows, weights):
            window_latents = latents[:, span.start : span.stop]
            noise_pred = predict_noise(
                transformer, scheduler, window_latents, inpaint_latents[:, span.start : span.stop],
                prompt_embeds, timestep, rope[span.length],
                negative_prompt_embeds=negative_prompt_embeds, guidance_scale=guidance_scale,
            )
            stepped = scheduler.step(
                noise_pred, timestep, window_latents, eta=0.0, generator=generator,
                return_dict=False,
            )[0]
            blender.add(span, stepped, span_weights)
            if trace is not None:
                trace.windows.append(
                    WindowRecord(step_index, span, window_latents, noise_pred, stepped)
                )
        latents = blender.result()
        if trace is not None:
            trace.latents_after_step.append(latents)
        if on_step_end is not None:
            on_step_end(step_index, int(timestep), latents)

    # 7. Decode
    frames = decode_latents(models.vae, latents) if decode else None
    return Pass1Output(latents=latents, video=frames, trace=trace)


def rotary_embedding(
    transformer, latent_height: int, latent_width: int, window_latents: int, device
) -> tuple[torch.Tensor, torch.Tensor]:
    """RoPE (cos, sin) for one window, its time starting at 0: CogVideoX 1.5 "slice" grid with
    max_size from the transformer's sample size, tokens ordered (t, h, w)."""
    config = transformer.config
    patch, patch_t = config.patch_size, config.patch_size_t
    return get_3d_rotary_pos_embed(
        embed_dim=config.attention_head_dim,
        crops_coords=None,
        grid_size=(latent_height // patch, latent_width // patch),
        temporal_size=(window_latents + patch_t - 1) // patch_t,
        grid_type="slice",
        max_size=(config.sample_height // patch, config.sample_width // patch),
        device=device,
    )


def decode_latents(vae, latents: torch.Tensor) -> torch.Tensor:
    """Pipeline latents (b, f, c, h, w) -> video (b, 3, 4(f-1)+1, H, W) in [0, 1], VOID's way."""
    scaled = latents.permute(0, 2, 1, 3, 4) * (1 / vae.config.scaling_factor)
    frames = void_vae.decode(vae, scaled.to(device=execution_device(vae), dtype=vae.dtype))
    return (frames / 2 + 0.5).clamp(0, 1)


def to_uint8_frames(video: torch.Tensor) -> np.ndarray:
    """One clip (3, F, H, W) in [0, 1] -> uint8 (F, H, W, 3) by truncation, as VOID's writer does."""
    return (video.permute(1, 2, 3, 0).float().cpu().numpy() * 255).astype(np.uint8)


def _check_inputs(video, mask, prompt_embeds, models, window: int, overlap: int) -> None:
    if video.ndim != 5 or video.shape[1] != 3:
        raise ValueError(f"`video` must be (b, 3, F, H, W), got shape {tuple(video.shape)}")
    expected_mask = (video.shape[0], 1, *video.shape[2:])
    if tuple(mask.shape) != expected_mask:
        raise ValueError(f"`mask` must have shape {expected_mask}, got {tuple(mask.shape)}")
    frames, height, width = video.shape[2:]
    temporal = models.vae.config.temporal_compression_ratio
    if (frames - 1) % temporal:
        raise ValueError(f"`video` must have {temporal}k+1 frames, got {frames}")
    config = models.transformer.config
    unit = 2 ** (len(models.vae.config.block_out_channels) - 1) * config.patch_size
    if height % unit or width % unit:
        raise ValueError(f"height and width must be divisible by {unit}, got {height} and {width}")
    if prompt_embeds.ndim != 3 or prompt_embeds.shape[0] != video.shape[0]:
        raise ValueError(
            f"`prompt_embeds` must be (b, seq, dim) with b = {video.shape[0]}, "
            f"got {tuple(prompt_embeds.shape)}"
        )
    patch_t = config.patch_size_t or 1
    latent_length = _latent_shape(video.shape, models.vae)[1]
    odd = [(s.start, s.stop) for s in plan_windows(latent_length, window, overlap) if s.length % patch_t]
    if odd:
        raise ValueError(
            f"every window must hold a multiple of patch_size_t={patch_t} latents; "
            f"{latent_length} latents, window {window}, overlap {overlap} give {odd}"
        )


def _conditioning(video, mask, models, noise, noise_strength, generator, trace) -> torch.Tensor:
    """[mask latents | video latents] in (b, f, 2c, h, w), as VOID's pipeline builds them."""
    vae = models.vae
    thresholded = torch.from_numpy(quadmask.pipeline_thresholds(mask.float().cpu().numpy()))
    thresholded = thresholded.to(execution_device(vae))
    vae_mask = 1 - thresholded.repeat(1, 3, 1, 1, 1)
    conditioning_video = 2.0 * video.to(execution_device(vae)).float() - 1.0
    if models.add_noise_in_inpaint_model:
        conditioning_video = _add_conditioning_noise(
            conditioning_video, noise, noise_strength, generator
        )
    scale = vae.config.scaling_factor
    mask_latents = void_vae.encode_mode(vae, vae_mask.to(vae.dtype)) * scale
    video_latents = void_vae.encode_mode(vae, conditioning_video.to(vae.dtype)) * scale
    inpaint = torch.cat([mask_latents, video_latents], dim=1).permute(0, 2, 1, 3, 4)
    if trace is not None:
        trace.mask_thresholded = thresholded
        trace.vae_mask_input = vae_mask
        trace.conditioning_video = conditioning_video
        trace.mask_latents = mask_latents
        trace.video_latents = video_latents
        trace.inpaint_latents = inpaint
    return inpaint


def _add_conditioning_noise(video, noise, strength, generator) -> torch.Tensor:
    """VideoX-Fun's add_noise_to_reference_video with a fixed ratio: values exactly -1 (black)
    stay noise-free."""
    if noise is None:
        noise = randn_tensor(video.shape, generator=generator, device=video.device, dtype=video.dtype)
    elif noise.shape != video.shape:
        raise ValueError(
            f"`conditioning_noise` must have shape {tuple(video.shape)}, got {tuple(noise.shape)}"
        )
    sigma = torch.tensor(strength, dtype=video.dtype, device=video.device)
    scaled = noise.to(video.device, video.dtype) * sigma
    return video + torch.where(video == -1, torch.zeros_like(video), scaled)


def _latent_shape(video_shape, vae) -> tuple[int, ...]:
    """(b, f, c, h, w) of the latents for a (b, 3, F, H, W) video."""
    batch, _, frames, height, width = video_shape
    temporal = vae.config.temporal_compression_ratio
    spatial = 2 ** (len(vae.config.block_out_channels) - 1)
    latent_frames = (frames - 1) // temporal + 1
    return (batch, latent_frames, vae.config.latent_channels, height // spatial, width // spatial)


def _initial_latents(shape, latents, generator, device, dtype) -> torch.Tensor:
    if latents is None:
        return randn_tensor(shape, generator=generator, device=device, dtype=dtype)
    if tuple(latents.shape) != tuple(shape):
        raise ValueError(f"`latents` must have shape {tuple(shape)}, got {tuple(latents.shape)}")
    return latents.to(device=device, dtype=dtype)


def predict_noise(
    transformer, scheduler, latents, inpaint, prompt_embeds, timestep, rope, *,
    negative_prompt_embeds: torch.Tensor | None = None, guidance_scale: float = 1.0,
) -> torch.Tensor:
    """The transformer's v-prediction for one window: input [noisy | mask | video] (48 channels).

    With `negative_prompt_embeds`, one call on the batch [negative | positive] (VOID's order),
    combined as uncond + guidance_scale * (cond - uncond).
    """
    guided = negative_prompt_embeds is not None
    model_input = scheduler.scale_model_input(latents, timestep)
    model_input = torch.cat([model_input, inpaint], dim=2)
    if guided:
        model_input = torch.cat([model_input, model_input])
        prompt_embeds = torch.cat([negative_prompt_embeds, prompt_embeds])
    noise_pred = transformer(
        hidden_states=model_input,
        encoder_hidden_states=prompt_embeds,
        timestep=timestep.expand(model_input.shape[0]),
        image_rotary_emb=rope,
        return_dict=False,
    )[0].float()
    if not guided:
        return noise_pred
    uncond, cond = noise_pred.chunk(2)
    return uncond + guidance_scale * (cond - uncond)


def _guidance_embeds(negative, prompt_embeds, guidance_scale: float) -> torch.Tensor | None:
    """The negative embeddings when CFG is on (VOID: guidance_scale > 1), else None."""
    if guidance_scale <= 1.0:
        return None
    if negative is None or negative.shape != prompt_embeds.shape:
        shape = None if negative is None else tuple(negative.shape)
        raise ValueError(
            f"guidance_scale {guidance_scale} needs `negative_prompt_embeds` of shape "
            f"{tuple(prompt_embeds.shape)}, got {shape}"
        )
    return negative.to(device=prompt_embeds.device, dtype=prompt_embeds.dtype)
