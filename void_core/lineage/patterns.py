"""Frame-sequence path patterns as lineage records them: `sh010.####.exr` or `sh010.%04d.exr`.

Lineage stores one artifact row per sequence, not per frame. These helpers go both ways: a
pattern and a frame number give a file name; a file name gives the patterns (and frame) that
could have produced it, so `trace("/out/sh010/sh010.1003.exr")` can look the sequence up by its
indexed pattern.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass

_HASHES = re.compile(r"#+")
_PRINTF = re.compile(r"%0?(\d*)d")
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class FrameGuess:
    """A pattern a file name may belong to, and the frame number it would be."""

    pattern: str
    frame: int | None


def has_frame_token(pattern: str) -> bool:
    """True when `pattern` names a sequence (`#` run or printf `%0Nd`), not one file."""
    return bool(_HASHES.search(pattern) or _PRINTF.search(pattern))


def frame_path(pattern: str, frame: int) -> str:
    """The file name of `frame` in `pattern`: `frame_path("a.####.exr", 7) == "a.0007.exr"`."""
    if _HASHES.search(pattern):
        return _HASHES.sub(lambda m: f"{frame:0{len(m.group())}d}", pattern, count=1)
    return _PRINTF.sub(lambda m: f"{frame:0{int(m.group(1) or 0)}d}", pattern, count=1)


def sequence_glob(pattern: str) -> str:
    """A glob matching any frame of `pattern`."""
    if _HASHES.search(pattern):
        return _HASHES.sub("[0-9]*", glob.escape(pattern), count=1)
    return _PRINTF.sub("[0-9]*", glob.escape(pattern), count=1)


def guesses_for_file(path: str) -> list[FrameGuess]:
    """Every (pattern, frame) that could have produced `path`, the literal path first.

    Each digit run of the file's base name is tried as the frame number, written as `#`s and as
    printf; a run without a leading zero may also have overflowed a shorter padding
    (frame 12345 of `####`).
    """
    folder, name = os.path.split(path)
    guesses = [FrameGuess(path, None)]
    for match in _DIGITS.finditer(name):
        digits = match.group()
        for token in _frame_tokens(digits):
            pattern_name = name[: match.start()] + token + name[match.end():]
            guesses.append(FrameGuess(os.path.join(folder, pattern_name), int(digits)))
    return guesses


def _frame_tokens(digits: str) -> list[str]:
    if digits.startswith("0") and len(digits) > 1:
        return ["#" * len(digits), f"%0{len(digits)}d"]
    tokens = ["%d"]
    for padding in range(1, len(digits) + 1):
        tokens += ["#" * padding, f"%0{padding}d"]
    return tokens


def sequence_exists(pattern: str, first: int | None, last: int | None) -> bool:
    """Whether every file of an artifact is still on disk.

    A sequence with a frame range needs every frame; one without a range needs at least one
    frame; a plain path needs the file (or folder) itself.
    """
    if not has_frame_token(pattern):
        return os.path.exists(pattern)
    if first is None or last is None:
        return bool(glob.glob(sequence_glob(pattern)))
    return all(os.path.exists(frame_path(pattern, frame)) for frame in range(first, last + 1))
