"""Constrained-decoding libraries on the `local-vlm` analyzer's schema: which work here, how fast.

Run: `.venv/bin/python benchmarks/constrained_decoding.py [--vocab 1024 32000] [--repeat 3]`.

For each library that imports (llguidance, xgrammar, outlines-core through outlines,
lm-format-enforcer; only llguidance is a void-farm dependency, install the others to compare),
and for byte-level BPE tokenizers of the sizes given (Qwen's pre-tokenizer; merges learned
offline from Python's own sources, since no real vocabulary may be downloaded here; Qwen's has
151 k tokens):

  compile   seconds from the shot's JSON schema (`vlm_schema.decoding_schema`) to a matcher,
            the tokenizer's one-time preparation included (first shot of a run)
  mask      milliseconds per generated token to compute the allowed-token mask, walking a valid
            1.1 kB analysis token by token (what every decoding step pays on top of the model)
  valid     whether every token of the valid answer was allowed and the end accepted
  note      why a library could not run

A 2-core CPU shared with other work; compare rows of one run only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from void_core.analysis.vlm_schema import ReplyAnalysis, decoding_schema  # noqa: E402

INSTRUCTION = "Remove the man in the red coat."
SHOT = dict(rows=8, cols=14, frame_count=96, sample_count=10)
ANSWER = {
    "edit_instruction": INSTRUCTION,
    "integral_belongings": [{"noun": "umbrella", "why": "He carries it through the shot."}],
    "affected_objects": [
        {"noun": "shadow", "category": "visual_artifact",
         "why": "The man blocks the low sun, casting a long shadow on the pavement.",
         "will_move": False, "first_appears_frame": 0, "movement_description": "",
         "grid_localizations": [{"frame": 0, "grid_regions": [{"row": 6, "col": 3},
                                                              {"row": 6, "col": 4}]},
                                {"frame": 48, "grid_regions": [{"row": 6, "col": 7}]}],
         "trajectory_path": []},
        {"noun": "bin", "category": "physical", "why": "He kicks it over at frame 40.",
         "will_move": True, "first_appears_frame": 40,
         "movement_description": "tips over and rolls to the right",
         "original_position_grid": {"row": 5, "col": 9},
         "grid_localizations": [{"frame": 42, "grid_regions": [{"row": 5, "col": 9}]}],
         "object_size_grids": {"rows": 2, "cols": 2},
         "trajectory_path": [{"frame": 40, "grid_row": 5, "grid_col": 9},
                             {"frame": 60, "grid_row": 6, "grid_col": 11}]}],
    "scene_description": "A wet street at dusk, shop windows lit, an empty pavement; the "
                         "camera pans slowly to the right.",
    "confidence": 0.7,
}


def tokenizer_of(size: int):
    from void_core.analysis.local_vlm.tiny import tiny_tokenizer

    if size <= 2048:
        return tiny_tokenizer(size)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    corpus = [path.read_text(errors="ignore") for path in sorted(stdlib.glob("*.py"))]
    return tiny_tokenizer(size, corpus + [json.dumps(ANSWER)])


def run_llguidance(tokenizer, schema: dict, ids: list[int]):
    import llguidance
    import llguidance.hf

    started = time.perf_counter()
    lltok = llguidance.hf.from_tokenizer(tokenizer)
    grammar = llguidance.LLMatcher.grammar_from_json_schema(
        schema, defaults={"whitespace_flexible": False})
    matcher = llguidance.LLMatcher(lltok, grammar)
    compiled = time.perf_counter() - started
    times, ok = [], not matcher.is_error()
    for token in ids:
        tick = time.perf_counter()
        mask = matcher.compute_bitmask()
        times.append(time.perf_counter() - tick)
        ok &= bool(mask[token // 8] >> (token % 8) & 1) and matcher.consume_token(token)
    return compiled, times, ok and matcher.is_accepting()


def run_xgrammar(tokenizer, schema: dict, ids: list[int]):
    import xgrammar

    started = time.perf_counter()
    info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=len(tokenizer))
    compiled_grammar = xgrammar.GrammarCompiler(info).compile_json_schema(
        json.dumps(schema), any_whitespace=False, separators=(",", ":"))
    matcher = xgrammar.GrammarMatcher(compiled_grammar)
    bitmask = xgrammar.allocate_token_bitmask(1, info.vocab_size)
    compiled = time.perf_counter() - started
    times, ok = [], True
    for token in ids:
        tick = time.perf_counter()
        matcher.fill_next_token_bitmask(bitmask)
        times.append(time.perf_counter() - tick)
        word = int(bitmask[0, token // 32]) & 0xFFFFFFFF
        ok &= bool(word >> (token % 32) & 1) and matcher.accept_token(token)
    return compiled, times, ok and matcher.is_terminated() or matcher.accept_token(
        tokenizer.eos_token_id)


def run_outlines(tokenizer, schema: dict, ids: list[int]):
    from outlines.backends.outlines_core import OutlinesCoreBackend
    from outlines.models.transformers import TransformerTokenizer
    from outlines_core import Guide, Index
    from outlines_core.json_schema import build_regex_from_schema

    started = time.perf_counter()
    wrapped = TransformerTokenizer(tokenizer)
    vocabulary = OutlinesCoreBackend.create_outlines_core_vocabulary(
        wrapped.get_vocab(), wrapped.eos_token_id, wrapped.eos_token,
        wrapped.convert_token_to_string)
    index = Index(build_regex_from_schema(json.dumps(schema), r""), vocabulary)
    guide = Guide(index)
    compiled = time.perf_counter() - started
    times, ok = [], True
    for token in ids:
        tick = time.perf_counter()
        allowed = guide.get_tokens()
        times.append(time.perf_counter() - tick)
        ok &= token in allowed
        if not ok:
            break
        guide.advance(token_id=token, return_tokens=False)
    return compiled, times, ok and guide.is_finished()


def run_lm_format_enforcer(tokenizer, schema: dict, ids: list[int]):
    from lmformatenforcer import JsonSchemaParser, TokenEnforcer
    from lmformatenforcer.integrations.transformers import (
        build_token_enforcer_tokenizer_data)

    started = time.perf_counter()
    enforcer = TokenEnforcer(build_token_enforcer_tokenizer_data(tokenizer),
                             JsonSchemaParser(schema))
    compiled = time.perf_counter() - started
    times, ok = [], True
    for position, token in enumerate(ids):
        tick = time.perf_counter()
        allowed = enforcer.get_allowed_tokens(ids[:position])
        times.append(time.perf_counter() - tick)
        ok &= token in allowed
    return compiled, times, ok


LIBRARIES = {"llguidance": ("llguidance", run_llguidance),
             "xgrammar": ("xgrammar", run_xgrammar),
             "outlines": ("outlines_core", run_outlines),
             "lm-format-enforcer": ("lmformatenforcer", run_lm_format_enforcer)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, nargs="+", default=[1024, 32000],
                        help="tokenizer sizes to try")
    parser.add_argument("--repeat", type=int, default=1, help="runs per library and tokenizer")
    parser.add_argument("--only", nargs="*", choices=sorted(LIBRARIES), help="libraries to try")
    args = parser.parse_args()
    schema = decoding_schema(instruction=INSTRUCTION, **SHOT)
    answer = json.dumps(ReplyAnalysis.model_validate(ANSWER).model_dump(exclude_none=True),
                        separators=(",", ":"))
    print(f"{'library':<20} {'vocab':>6} {'tokens':>6} {'compile s':>10} {'mask ms':>8} "
          f"{'p95 ms':>7}  valid  note")
    for size in args.vocab:
        tokenizer = tokenizer_of(size)
        ids = tokenizer.encode(answer, add_special_tokens=False)
        for name in args.only or LIBRARIES:
            module, run = LIBRARIES[name]
            if importlib.util.find_spec(module) is None:
                print(f"{name:<20} {len(tokenizer):>6} {'':>6} {'':>10} {'':>8} {'':>7}  -      "
                      "not installed")
                continue
            try:
                results = [run(tokenizer, schema, ids) for _ in range(args.repeat)]
            except Exception as err:  # a library failing here is the finding
                print(f"{name:<20} {len(tokenizer):>6} {len(ids):>6} {'':>10} {'':>8} {'':>7}  "
                      f"-      {type(err).__name__}: {str(err)[:90]}")
                continue
            compiled = min(result[0] for result in results)
            steps = [1000 * t for result in results for t in result[1]]
            p95 = sorted(steps)[int(0.95 * (len(steps) - 1))]
            print(f"{name:<20} {len(tokenizer):>6} {len(ids):>6} {compiled:>10.3f} "
                  f"{statistics.mean(steps):>8.3f} {p95:>7.3f}  "
                  f"{'yes' if all(r[2] for r in results) else 'NO':<5}")


if __name__ == "__main__":
    main()
