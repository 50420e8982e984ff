"""Build VOID's pass-1 models from a local diffusers-layout directory (never from the Hub).

Layout: `<dir>/vae` (`AutoencoderKLCogVideoX`), `<dir>/transformer` (`CogVideoXTransformer3DModel`
with in_channels 48: VOID's checkpoint loads into diffusers' class with only that config change)
and `<dir>/scheduler` (`DDIMScheduler`; VOID's "DDIM_Origin" sampler).

VOID's transformer config may carry `add_noise_in_inpaint_model`, a key only VideoX-Fun's class
knows: diffusers warns that it is unexpected and ignores it. The pipeline needs it (it decides
whether the conditioning video gets noise), so it is read here from the raw config file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel, DDIMScheduler

# The transformer input VOID needs: [noisy latents | VAE-mask latents | video latents].
VOID_IN_CHANNELS = 48


@dataclass(eq=False)
class VoidModels:
    """The three components of VOID's pass 1, plus the one VideoX-Fun-only config flag."""

    vae: AutoencoderKLCogVideoX
    transformer: CogVideoXTransformer3DModel
    scheduler: DDIMScheduler
    add_noise_in_inpaint_model: bool = False


def load_void_models(
    directory: str | Path, *, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
) -> VoidModels:
    """Load VAE, transformer and scheduler from `directory` (local files only), in eval mode."""
    root = Path(directory)
    for part in ("vae", "transformer", "scheduler"):
        if not (root / part).is_dir():
            raise FileNotFoundError(f"VOID model directory {root} has no '{part}' folder")
    load_args = {"local_files_only": True, "torch_dtype": dtype, "low_cpu_mem_usage": False}
    vae = AutoencoderKLCogVideoX.from_pretrained(root / "vae", **load_args)
    transformer = CogVideoXTransformer3DModel.from_pretrained(root / "transformer", **load_args)
    if transformer.config.in_channels != VOID_IN_CHANNELS:
        raise ValueError(
            f"VOID's transformer needs in_channels {VOID_IN_CHANNELS}, but {root / 'transformer'} "
            f"has {transformer.config.in_channels}"
        )
    scheduler = DDIMScheduler.from_pretrained(root / "scheduler", local_files_only=True)
    vae.disable_slicing()
    vae.disable_tiling()
    return VoidModels(
        vae=vae.to(device).eval(),
        transformer=transformer.to(device).eval(),
        scheduler=scheduler,
        add_noise_in_inpaint_model=_add_noise_flag(root / "transformer"),
    )


def _add_noise_flag(transformer_dir: Path) -> bool:
    config = json.loads((transformer_dir / "config.json").read_text())
    return bool(config.get("add_noise_in_inpaint_model", False))
