"""A tiny random-weight VOID model directory, for tests and for trying the farm without weights.

Same layout as a real one (see `check.py`): `transformer/` (CogVideoXTransformer3DModel,
in_channels 48, 2 layers of 2 x 64 heads), `vae/` (AutoencoderKLCogVideoX with 4 blocks, so the
real 8x spatial / 4x temporal compression and 16 latent channels), `scheduler/` (VOID's DDIM
config: v-prediction, zero-SNR, trailing), and the text side: a 1-layer T5 encoder with a small
Unigram tokenizer built offline (`text="t5"`), or precomputed `prompt_embeds.safetensors`
(`text="embeddings"`), or both. `void_farm_model.json` tells the engine to run this model at
32x64 with 2 steps, so a whole shot takes seconds on a CPU.

Deterministic: the same `seed` gives byte-identical files (torch's CPU generator, forked so the
caller's random state is untouched). The pictures it makes are noise: it is for plumbing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from void_core.inpaint.void.check import DEFAULTS_FILE
from void_core.inpaint.void.text import DEFAULT_KEY, MAX_SEQUENCE_LENGTH, PROMPT_EMBEDS_FILE

TEXT_WIDTH = 32
TINY_SAMPLE_SIZE = (32, 64)
TINY_STEPS = 2
TEXT_CHOICES = ("t5", "embeddings", "both")

SCHEDULER_CONFIG = {
    "num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "clip_sample": False, "set_alpha_to_one": True,
    "steps_offset": 0, "prediction_type": "v_prediction", "rescale_betas_zero_snr": True,
    "timestep_spacing": "trailing",
}
TRANSFORMER_CONFIG = {
    "num_attention_heads": 2, "attention_head_dim": 64, "in_channels": 48, "out_channels": 16,
    "num_layers": 2, "time_embed_dim": 64, "text_embed_dim": TEXT_WIDTH,
    "max_text_seq_length": MAX_SEQUENCE_LENGTH, "patch_size": 2, "patch_size_t": 2,
    "use_rotary_positional_embeddings": True, "use_learned_positional_embeddings": False,
    "patch_bias": False, "sample_height": 96, "sample_width": 170, "sample_frames": 81,
    "temporal_compression_ratio": 4,
}
VAE_CONFIG = {
    "in_channels": 3, "out_channels": 3, "latent_channels": 16, "layers_per_block": 1,
    "block_out_channels": (8, 16, 16, 16), "norm_num_groups": 4, "norm_eps": 1e-6,
    "down_block_types": ("CogVideoXDownBlock3D",) * 4, "up_block_types": ("CogVideoXUpBlock3D",) * 4,
    "temporal_compression_ratio": 4, "scaling_factor": 0.7,
    "use_quant_conv": False, "use_post_quant_conv": False,
}
# A few words of scene descriptions, then single characters so any text tokenizes.
_WORDS = ("a the of and with on in video scene wall floor table water sky street room road "
          "grass sand snow river field light shadow empty without object ball car person").split()
_CHARACTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:'\"!?()-/&"


def make_tiny_model_dir(directory: str | Path, *, seed: int = 0, text: str = "t5") -> Path:
    """Write a tiny random VOID model into `directory` (replacing the components it writes)."""
    if text not in TEXT_CHOICES:
        raise ValueError(f"text must be one of {', '.join(TEXT_CHOICES)}, got {text!r}")
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        _write_transformer(root / "transformer", seed)
        _write_transformer(root / "transformer_pass2", seed + 4)  # VOID's pass-2 checkpoint
        _write_vae(root / "vae", seed + 1)
        _write_scheduler(root / "scheduler")
        if text in ("t5", "both"):
            _write_t5(root, seed + 2)
        if text in ("embeddings", "both"):
            _write_prompt_embeds(root / PROMPT_EMBEDS_FILE, seed + 3)
    (root / DEFAULTS_FILE).write_text(json.dumps({
        "name": "void-farm tiny random model",
        "note": "random weights for tests and plumbing; its output is noise",
        "sample_size": list(TINY_SAMPLE_SIZE),
        "num_inference_steps": TINY_STEPS,
    }, indent=2) + "\n")
    return root


def _fresh(folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    return folder


def _write_transformer(folder: Path, seed: int) -> None:
    from diffusers import CogVideoXTransformer3DModel

    torch.manual_seed(seed)
    model = CogVideoXTransformer3DModel(**TRANSFORMER_CONFIG)
    model.save_pretrained(_fresh(folder), safe_serialization=True)


def _write_vae(folder: Path, seed: int) -> None:
    from diffusers import AutoencoderKLCogVideoX

    torch.manual_seed(seed)
    model = AutoencoderKLCogVideoX(**VAE_CONFIG)
    model.save_pretrained(_fresh(folder), safe_serialization=True)


def _write_scheduler(folder: Path) -> None:
    from diffusers import DDIMScheduler

    DDIMScheduler(**SCHEDULER_CONFIG).save_pretrained(_fresh(folder))


def _write_t5(root: Path, seed: int) -> None:
    from transformers import T5Config, T5EncoderModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = _tiny_tokenizer()
    tokenizer.save_pretrained(_fresh(root / "tokenizer"))
    config = T5Config(
        vocab_size=len(tokenizer), d_model=TEXT_WIDTH, d_kv=8, d_ff=64, num_layers=1,
        num_heads=4, relative_attention_num_buckets=8, relative_attention_max_distance=32,
        feed_forward_proj="gated-gelu", is_encoder_decoder=False, use_cache=False,
        pad_token_id=0, eos_token_id=1,
    )
    torch.manual_seed(seed)
    T5EncoderModel(config).save_pretrained(_fresh(root / "text_encoder"), safe_serialization=True)


def _tiny_tokenizer():
    """A T5-style SentencePiece-Unigram tokenizer (pad 0, eos 1, unk 2, '▁' word marks)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import T5TokenizerFast

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -4.0)]
    pieces += [("▁" + word, -1.0 - 0.01 * i) for i, word in enumerate(_WORDS)]
    pieces += [(char, -10.0) for char in _CHARACTERS]
    backend = Tokenizer(models.Unigram(pieces, unk_id=2, byte_fallback=False))
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    backend.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)])
    return T5TokenizerFast(tokenizer_object=backend, eos_token="</s>", unk_token="<unk>",
                           pad_token="<pad>", extra_ids=0, model_max_length=MAX_SEQUENCE_LENGTH)


def _write_prompt_embeds(path: Path, seed: int) -> None:
    from safetensors.torch import save_file

    generator = torch.Generator("cpu").manual_seed(seed)
    default = torch.randn(1, MAX_SEQUENCE_LENGTH, TEXT_WIDTH, generator=generator)
    save_file({DEFAULT_KEY: default}, str(path),
              metadata={"format": "pt", "void_farm": "prompt embeddings v1"})
