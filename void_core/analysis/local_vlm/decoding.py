"""Constrained decoding: every token the local model may write keeps its answer inside the
shot's JSON schema (`vlm_schema.decoding_schema`), so a malformed reply cannot happen.

Built on llguidance (the Rust grammar engine behind Guidance; a 3 MB wheel with no Python
dependencies): its JSON-schema compiler turns the schema into a grammar, and an `LLMatcher`
follows the tokens generated so far and answers, for each step, the set of tokens that keep
the text a prefix of some valid answer (end-of-text only once the answer is complete).
`SchemaConstraint` is a `transformers` logits processor that masks everything else. Why this
library and not xgrammar, outlines or lm-format-enforcer: `benchmarks/constrained_decoding.py`
and the README's GPU-farm section.

Whitespace is not free (the answer is compact JSON: no token spent on indentation), keys come
in the schema's order, and the sampler still chooses among the allowed tokens (greedy by
default), so what the model writes is its own choice within the schema.
"""

from __future__ import annotations

import json
from importlib.metadata import version

import numpy as np
import torch
from transformers import LogitsProcessor

LIBRARY = "llguidance"


def library_version() -> str:
    return f"{LIBRARY} {version(LIBRARY)}"


class Grammar:
    """The tokenizer as llguidance sees it (built once per loaded model: about a second for a
    150 k vocabulary) and the grammars compiled against it."""

    def __init__(self, tokenizer, *, vocab_size: int, stop_ids: list[int]):
        import llguidance.hf

        self.vocab_size = vocab_size  # the width of the model's logits (may exceed the vocab)
        self.tokenizer = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size,
                                                      eos_token=stop_ids)

    def constraint(self, schema: dict) -> SchemaConstraint:
        """A fresh logits processor for one answer following `schema`."""
        import llguidance

        grammar = llguidance.LLMatcher.grammar_from_json_schema(
            json.dumps(schema), defaults={"whitespace_flexible": False})
        matcher = llguidance.LLMatcher(self.tokenizer, grammar, log_level=0)
        if matcher.is_error():  # the schema is ours: a failure here is a bug
            raise RuntimeError(f"llguidance refused the analysis schema: {matcher.get_error()}")
        return SchemaConstraint(matcher, self.vocab_size)


class SchemaConstraint(LogitsProcessor):
    """Masks, at each step, every token that would leave the schema (batch of one)."""

    def __init__(self, matcher, vocab_size: int):
        self.matcher = matcher
        self.vocab_size = vocab_size
        self.prompt_length: int | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.prompt_length is None:
            self.prompt_length = input_ids.shape[1]
        elif not self.matcher.consume_token(int(input_ids[0, -1])):
            raise RuntimeError(f"the decoder took a token the grammar had masked: "
                               f"{self.matcher.get_error()}")
        allowed = torch.from_numpy(self.allowed())
        width = scores.shape[-1]
        if width > allowed.numel():
            allowed = torch.cat([allowed, allowed.new_zeros(width - allowed.numel())])
        return scores.masked_fill(~allowed[:width].to(scores.device), float("-inf"))

    def allowed(self) -> np.ndarray:
        """One bool per token id: may it come next."""
        bits = np.frombuffer(self.matcher.compute_bitmask(), dtype=np.uint8)
        return np.unpackbits(bits, bitorder="little")[:self.vocab_size].astype(bool)

    @property
    def complete(self) -> bool:
        """Whether the text so far is a whole answer."""
        return self.matcher.is_accepting()


__all__ = ["Grammar", "LIBRARY", "SchemaConstraint", "library_version"]
