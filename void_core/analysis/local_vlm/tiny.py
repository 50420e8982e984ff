"""A tiny random-weight VLM folder, for tests and for running the `local-vlm` analyzer without
weights.

The same layout `transformers` writes for the real models (see `check.py`): `config.json`
(2 text layers of width 32, a 2-block vision tower), `model.safetensors` (about 150 k
parameters), `generation_config.json`, `processor_config.json` (the image and video
processors), `tokenizer.json` + `tokenizer_config.json` and `chat_template.jinja`.

The tokenizer is the family's byte-level BPE (Qwen's pre-tokenizer, its chat and vision
tokens) with merges learned here, offline, from the analysis prompt and its JSON schema, so
keys and common words are multi-byte tokens as in the real vocabulary and constrained decoding
meets the same token boundaries. The chat template is written here too: a plain rendering of
Qwen's chat format (system, user, assistant turns; an image or a video is a vision block).

Deterministic: the same `seed` gives byte-identical files. Its answers are noise; constrained
decoding still turns them into schema-valid analyses, which is what the tests need.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from void_core.analysis.local_vlm.families import DEFAULT_FAMILY, FAMILIES, SPECIAL_TOKENS

TINY_VOCAB = 1024
# Images of 32 to 128 pixels a side: a few visual tokens each, so a shot takes seconds on a CPU.
TINY_MIN_PIXELS = 32 * 32
TINY_MAX_PIXELS = 128 * 128

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "<|im_start|>{{ message['role'] }}\n"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif part['type'] == 'video' -%}<|vision_start|><|video_pad|><|vision_end|>"
    "{%- else -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}<|im_end|>\n"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant\n{%- endif -%}")


def make_tiny_vlm_dir(directory: str | Path, *, family: str = DEFAULT_FAMILY,
                      seed: int = 0) -> Path:
    """Write a tiny random VLM of `family` into `directory` (a new folder, or one this function
    wrote before: it is replaced whole). Returns the folder."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    root = Path(directory)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        _write(staging, FAMILIES[family], seed)
        if root.exists():
            shutil.rmtree(root)
        os.replace(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return root


def _write(folder: Path, family, seed: int) -> None:
    import torch
    import transformers

    tokenizer = tiny_tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    config = transformers.AutoConfig.for_model(**family.tiny_config(len(tokenizer), ids))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = getattr(transformers, family.model_class)(config).eval()
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.save_pretrained(folder)
    _processor(family, tokenizer).save_pretrained(folder)


def _processor(family, tokenizer):
    import transformers

    sizes = dict(patch_size=family.patch_size, merge_size=family.merge_size,
                 temporal_patch_size=2)
    pixels = {"shortest_edge": TINY_MIN_PIXELS, "longest_edge": TINY_MAX_PIXELS}
    images = transformers.Qwen2VLImageProcessor(size=pixels, **sizes)
    video_class = ("Qwen3VLVideoProcessor" if family.model_type == "qwen3_vl"
                   else "Qwen2VLVideoProcessor")
    videos = getattr(transformers, video_class)(
        size={"shortest_edge": TINY_MIN_PIXELS, "longest_edge": TINY_MAX_PIXELS * 16}, **sizes)
    processor_class = getattr(transformers, family.processor_class)
    return processor_class(image_processor=images, tokenizer=tokenizer, video_processor=videos,
                           chat_template=CHAT_TEMPLATE)


def tiny_tokenizer(vocab_size: int = TINY_VOCAB, corpus: list[str] | None = None):
    """A Qwen2 byte-level BPE tokenizer with merges learned from `corpus` (default: the analysis
    prompt and its schema), the chat and vision tokens added as special tokens."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(corpus if corpus is not None else _corpus(), trainer)
    learned = json.loads(bpe.to_str())["model"]
    merges = [tuple(merge) if isinstance(merge, list) else tuple(merge.split(" "))
              for merge in learned["merges"]]
    tokenizer = Qwen2Tokenizer(vocab=learned["vocab"], merges=merges,
                               unk_token=SPECIAL_TOKENS[0], eos_token=SPECIAL_TOKENS[2],
                               pad_token=SPECIAL_TOKENS[0])
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS[1:])})
    return tokenizer


def _corpus() -> list[str]:
    from void_core.analysis.vlm_prompt import PROMPT_TEMPLATE, SYSTEM_INSTRUCTION
    from void_core.analysis.vlm_schema import ReplyAnalysis

    schema = json.dumps(ReplyAnalysis.model_json_schema())
    numbers = " ".join(str(number) for number in range(200))
    return [SYSTEM_INSTRUCTION, PROMPT_TEMPLATE, schema, numbers] * 4


__all__ = ["CHAT_TEMPLATE", "TINY_VOCAB", "make_tiny_vlm_dir", "tiny_tokenizer"]
