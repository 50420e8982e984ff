"""VOID's VAE encode and decode, run on diffusers' `AutoencoderKLCogVideoX` modules.

The weights and modules are diffusers' own; what this file adds is VOID's (VideoX-Fun's) way of
walking through time, which differs from diffusers' in the decoder:

* `encode_mode` -- VOID encodes frames in chunks of 8 + (T mod 8), then 8, 8, ... with the causal
  conv cache carried between chunks, and takes the posterior mode. diffusers' `_encode` already
  chunks exactly like this, so it is called unchanged.
* `decode` -- VOID decodes latent 0 alone (conv cache empty; its temporal upsamplers act like an
  image upsampler, 2-D nearest x2 only, giving 1 frame), then the remaining latents two at a time
  with the cache carried (nearest x2 in t, h and w: 8 frames per pair). An odd latent left at the
  end is treated like the pairs (4 frames). Any L latents give 4(L-1)+1 frames. diffusers instead
  folds an odd remainder into the first chunk and upsamples any 1-latent chunk as an image, which
  gives 4L frames for even L and different values for odd L, so the decoder is walked here by hand.

Layouts follow the VAE: (b, c, f, h, w). No scaling factor is applied in this file.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKLCogVideoX

# Latents per decode chunk after the first one.
DECODE_CHUNK_LATENTS = 2


def decoded_frame_count(latent_frames: int) -> int:
    """Frames VOID's decoder returns for `latent_frames` latents: 4(L-1)+1."""
    return 4 * (latent_frames - 1) + 1


@torch.no_grad()
def encode_mode(vae: AutoencoderKLCogVideoX, video: torch.Tensor) -> torch.Tensor:
    """Posterior mode of `video` (b, c, f, h, w) in [-1, 1] or [0, 1], unscaled.

    diffusers' chunking (8 + T mod 8 frames, then 8, cache carried) is VOID's; slicing and
    tiling must be off for the result to match VOID.
    """
    return vae.encode(video).latent_dist.mode()


@torch.no_grad()
def decode(vae: AutoencoderKLCogVideoX, latents: torch.Tensor) -> torch.Tensor:
    """VOID's decode of unscaled latents (b, c, L, h, w) to raw frames (b, 3, 4(L-1)+1, H, W).

    Output is the decoder's raw output (roughly [-1, 1]), not clamped.
    """
    num_latents = latents.shape[2]
    cache = None
    frames = []
    for start, stop, temporal in _decode_chunks(num_latents):
        chunk = latents[:, :, start:stop]
        if vae.post_quant_conv is not None:
            chunk = vae.post_quant_conv(chunk)
        decoded, cache = _decoder_forward(vae.decoder, chunk, cache, temporal_upsample=temporal)
        frames.append(decoded)
    return torch.cat(frames, dim=2)


def _decode_chunks(num_latents: int) -> list[tuple[int, int, bool]]:
    """(start, stop, upsample in time) per chunk: latent 0 alone as an image, then pairs."""
    chunks = [(0, 1, False)]
    for start in range(1, num_latents, DECODE_CHUNK_LATENTS):
        chunks.append((start, min(start + DECODE_CHUNK_LATENTS, num_latents), True))
    return chunks


def _decoder_forward(decoder, latents, conv_cache, *, temporal_upsample: bool):
    """`CogVideoXDecoder3D.forward` with VOID's choice of temporal upsampling per chunk."""
    cache = conv_cache or {}
    new_cache = {}
    hidden, new_cache["conv_in"] = decoder.conv_in(latents, conv_cache=cache.get("conv_in"))
    hidden, new_cache["mid_block"] = decoder.mid_block(
        hidden, None, latents, conv_cache=cache.get("mid_block")
    )
    for i, up_block in enumerate(decoder.up_blocks):
        key = f"up_block_{i}"
        hidden, new_cache[key] = _up_block_forward(
            up_block, hidden, latents, cache.get(key), temporal_upsample
        )
    hidden, new_cache["norm_out"] = decoder.norm_out(hidden, latents, conv_cache=cache.get("norm_out"))
    hidden = decoder.conv_act(hidden)
    hidden, new_cache["conv_out"] = decoder.conv_out(hidden, conv_cache=cache.get("conv_out"))
    return hidden, new_cache


def _up_block_forward(up_block, hidden, latents, conv_cache, temporal_upsample: bool):
    """`CogVideoXUpBlock3D.forward` with `_upsample` in place of diffusers' upsampler forward."""
    cache = conv_cache or {}
    new_cache = {}
    for i, resnet in enumerate(up_block.resnets):
        key = f"resnet_{i}"
        hidden, new_cache[key] = resnet(hidden, None, latents, conv_cache=cache.get(key))
    for upsampler in up_block.upsamplers or ():
        hidden = _upsample(upsampler, hidden, temporal_upsample)
    return hidden, new_cache


def _upsample(upsampler, hidden: torch.Tensor, temporal_upsample: bool) -> torch.Tensor:
    """VideoX-Fun's `CogVideoXUpsample3D`: nearest x2 in (t, h, w) when the block compresses
    time and the chunk is not the first frame, otherwise nearest x2 in (h, w) per frame; then
    the 2-D conv per frame."""
    if upsampler.compress_time and temporal_upsample:
        hidden = F.interpolate(hidden, scale_factor=2.0)
    else:
        hidden = _per_frame(hidden, lambda x: F.interpolate(x, scale_factor=2.0))
    return _per_frame(hidden, upsampler.conv)


def _per_frame(hidden: torch.Tensor, fn) -> torch.Tensor:
    """Apply a 2-D op to every frame of (b, c, f, h, w)."""
    b, c, f, h, w = hidden.shape
    flat = hidden.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
    out = fn(flat)
    return out.reshape(b, f, *out.shape[1:]).permute(0, 2, 1, 3, 4)
