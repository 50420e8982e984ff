"""The VLM families the `local-vlm` analyzer runs, and what differs between them.

Qwen3-VL is the family supported first: its video input carries each frame's time as text
("<1.5 seconds>"), which is how the analysis prompt asks for frame numbers; it grounds
positions better than its predecessor; every size (2B to 32B dense, 30B-A3B and 235B-A22B MoE)
is Apache-2.0; and `transformers` 5 has it natively (`Qwen3VLForConditionalGeneration`).
Qwen2.5-VL is the second family, an adapter of a few lines: it encodes video time in its rotary
positions only (from the sampled frame rate), uses 14-pixel patches, and its 3B and 72B
weights carry the Qwen research licence.

A `Family` is data plus the tiny random-weight configuration `tiny.py` writes. Everything
else (the chat, the images, the clip with its frame numbers, constrained decoding) is the same
for both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

# The chat and vision tokens both families share with their tokenizers.
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
                  "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")


@dataclass(frozen=True)
class Family:
    """One VLM family: its `config.json` model_type, its classes, and its clip convention.

    `patch_size` x `merge_size` pixels make one visual token side, so images are best sized
    in multiples of it. `video_options` go to the processor with every clip."""

    name: str
    model_type: str
    model_class: str
    processor_class: str
    patch_size: int
    tiny_config: Callable[[int, dict[str, int]], dict]
    merge_size: int = 2
    video_options: dict = field(default_factory=dict)

    @property
    def pixels_per_token(self) -> int:
        return self.patch_size * self.merge_size


def clip_kwargs(indices: Sequence[int], rate: Fraction, frame_count: int) -> dict:
    """The clip as frames already sampled from the shot, with their shot frame numbers and the
    shot's rate: Qwen3-VL writes each frame pair's time from these, Qwen2.5-VL derives the
    sampled rate (and so its temporal positions) from them."""
    from transformers.video_utils import VideoMetadata

    metadata = VideoMetadata(total_num_frames=frame_count, fps=float(rate),
                             frames_indices=list(indices))
    return {"video_metadata": [metadata], "do_sample_frames": False}


# Two text layers of width 32 (head_dim 16 = 8 rotary pairs, split 4/2/2 over time, height and
# width) and a two-block vision tower: about 150 k parameters.
_TINY_TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=32768)
_TINY_VISION = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2,
                    spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=32)


def _qwen3_vl_tiny(vocab_size: int, ids: dict[str, int]) -> dict:
    rope = {"rope_type": "default", "rope_theta": 500000.0, "mrope_section": [4, 2, 2],
            "mrope_interleaved": True}
    return dict(model_type="qwen3_vl",
                text_config=dict(_TINY_TEXT, vocab_size=vocab_size, head_dim=16,
                                 rope_parameters=rope),
                vision_config=dict(_TINY_VISION, patch_size=16, num_position_embeddings=64,
                                   deepstack_visual_indexes=[1]),
                **_token_ids(ids))


def _qwen2_5_vl_tiny(vocab_size: int, ids: dict[str, int]) -> dict:
    rope = {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [4, 2, 2]}
    return dict(model_type="qwen2_5_vl",
                text_config=dict(_TINY_TEXT, vocab_size=vocab_size, bos_token_id=None,
                                 eos_token_id=ids["<|im_end|>"], rope_parameters=rope),
                vision_config=dict(_TINY_VISION, patch_size=14, window_size=56,
                                   fullatt_block_indexes=[1], tokens_per_second=2),
                **_token_ids(ids))


def _token_ids(ids: dict[str, int]) -> dict:
    return dict(image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                vision_start_token_id=ids["<|vision_start|>"],
                vision_end_token_id=ids["<|vision_end|>"], eos_token_id=ids["<|im_end|>"],
                pad_token_id=ids["<|endoftext|>"])


QWEN3_VL = Family("qwen3-vl", "qwen3_vl", "Qwen3VLForConditionalGeneration", "Qwen3VLProcessor",
                  patch_size=16, tiny_config=_qwen3_vl_tiny,
                  # cap each frame's pixels as Qwen's reference preprocessing does
                  video_options={"cap_pixels_per_frame": True})
QWEN2_5_VL = Family("qwen2.5-vl", "qwen2_5_vl", "Qwen2_5_VLForConditionalGeneration",
                    "Qwen2_5_VLProcessor", patch_size=14,
                    tiny_config=_qwen2_5_vl_tiny)
FAMILIES = {family.name: family for family in (QWEN3_VL, QWEN2_5_VL)}
BY_MODEL_TYPE = {family.model_type: family for family in FAMILIES.values()}
DEFAULT_FAMILY = QWEN3_VL.name
