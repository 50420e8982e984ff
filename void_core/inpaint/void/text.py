"""VOID's text conditioning: the shot's `bg` prompt (prompt.json) as T5 embeddings.

VOID encodes `prompt.json["bg"]` -- the scene as it looks after the removal -- with the base
model's T5-v1.1-XXL: tokens padded/truncated to 226 (`max_sequence_length`), special tokens
added, no attention mask passed to the encoder (CogVideoX's `_get_t5_prompt_embeds`), giving
(1, 226, 4096). A model directory provides the text side in one of two ways:

* `text_encoder/` (a transformers `T5EncoderModel`) and `tokenizer/` (a T5 tokenizer) -- VOID's
  own layout, taken from the base model. Tiny test models carry a tiny T5 in the same layout.
* `prompt_embeds.safetensors` -- precomputed embeddings, for render nodes that should not hold
  the 9.5 GB encoder: tensor `default` (1, 226, dim) used for every prompt, and optionally one
  tensor per prompt named `prompt:<sha256 of the UTF-8 prompt>` (`prompt_key`), which wins when
  the shot's prompt matches. The file's metadata may record the prompts in clear text.

When both are present the encoder is used. Embeddings are cached per prompt text.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

MAX_SEQUENCE_LENGTH = 226
PROMPT_EMBEDS_FILE = "prompt_embeds.safetensors"
DEFAULT_KEY = "default"


def prompt_key(prompt: str) -> str:
    """The tensor name of `prompt`'s precomputed embedding in prompt_embeds.safetensors."""
    return "prompt:" + hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def text_source(model_dir: Path) -> str | None:
    """"t5" when the directory has an encoder and tokenizer, "embeddings" when it has
    precomputed ones, else None."""
    if (model_dir / "text_encoder").is_dir() and (model_dir / "tokenizer").is_dir():
        return "t5"
    if (model_dir / PROMPT_EMBEDS_FILE).is_file():
        return "embeddings"
    return None


class T5PromptEncoder:
    """A T5 encoder and its tokenizer from a local directory, as VOID calls them."""

    source = "t5"

    def __init__(self, model_dir: Path, dtype: torch.dtype):
        from transformers import AutoTokenizer, T5EncoderModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir / "tokenizer", local_files_only=True)
        self.model = T5EncoderModel.from_pretrained(
            model_dir / "text_encoder", local_files_only=True, dtype=dtype).eval()

    @property
    def modules(self) -> dict[str, torch.nn.Module]:
        return {"text_encoder": self.model}

    @torch.no_grad()
    def encode(self, prompt: str, device: torch.device) -> torch.Tensor:
        """(1, 226, dim) embeddings of `prompt`, on the CPU in float32."""
        ids = self.tokenizer(
            prompt, padding="max_length", max_length=MAX_SEQUENCE_LENGTH, truncation=True,
            add_special_tokens=True, return_tensors="pt",
        ).input_ids
        return self.model(ids.to(device))[0].float().cpu()


class PrecomputedPrompts:
    """Embeddings read from prompt_embeds.safetensors (see the module docstring)."""

    source = "embeddings"

    def __init__(self, path: Path):
        from safetensors.torch import load_file

        self.path = path
        self.tensors = load_file(path)
        if DEFAULT_KEY not in self.tensors:
            raise ValueError(f"{path} has no '{DEFAULT_KEY}' tensor")

    @property
    def modules(self) -> dict[str, torch.nn.Module]:
        return {}

    def encode(self, prompt: str, device: torch.device) -> torch.Tensor:
        embeds = self.tensors.get(prompt_key(prompt))
        if embeds is None:
            embeds = self.tensors[DEFAULT_KEY]
        embeds = embeds.float()
        return embeds if embeds.ndim == 3 else embeds.unsqueeze(0)

    def has(self, prompt: str) -> bool:
        return prompt_key(prompt) in self.tensors


def load_prompt_encoder(model_dir: Path, dtype: torch.dtype) -> T5PromptEncoder | PrecomputedPrompts:
    source = text_source(model_dir)
    if source == "t5":
        return T5PromptEncoder(model_dir, dtype)
    if source == "embeddings":
        return PrecomputedPrompts(model_dir / PROMPT_EMBEDS_FILE)
    raise FileNotFoundError(
        f"{model_dir} has neither text_encoder/ + tokenizer/ nor {PROMPT_EMBEDS_FILE}")
