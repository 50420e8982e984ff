"""Each file a stage wrote, as lineage keeps it: size, modification time, digest.

A rerun trusts a recorded output only while it is the file that was written: the size and
modification time are compared first (one `stat`), the digest only when they differ (a copy
that kept the bytes is still ours). `void-farm lineage` uses the same check to say when a file
on disk is not what the run wrote.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from void_core.digests import file_digest
from void_core.lineage.patterns import frame_path, has_frame_token


@dataclass(frozen=True, slots=True)
class FileStamp:
    """One file as written: its frame (None for a single file), path, size, mtime, digest."""

    frame: int | None
    path: str
    bytes: int
    mtime_ns: int
    digest: str

    @classmethod
    def of(cls, path: str | os.PathLike, frame: int | None = None) -> FileStamp:
        stat = os.stat(path)
        return cls(frame, os.fspath(path), stat.st_size, stat.st_mtime_ns,
                   file_digest(Path(path)))

    def change(self) -> str | None:
        """How the file on disk differs from this record, or None when it is the same file."""
        try:
            stat = os.stat(self.path)
        except OSError:
            return "missing"
        if stat.st_size == self.bytes and stat.st_mtime_ns == self.mtime_ns:
            return None
        if stat.st_size != self.bytes:
            return f"{stat.st_size} bytes, {self.bytes} when written"
        return None if file_digest(Path(self.path)) == self.digest else \
            "content differs from what was written"


def stamp_artifact(pattern: str | os.PathLike, first: int | None = None,
                   last: int | None = None) -> list[FileStamp]:
    """Stamps of every file of an artifact: each frame of a `####` sequence, else the one file
    (nothing for a folder or a missing path)."""
    pattern = os.fspath(pattern)
    if has_frame_token(pattern) and first is not None and last is not None:
        return [FileStamp.of(frame_path(pattern, frame), frame) for frame in range(first, last + 1)]
    return [FileStamp.of(pattern)] if os.path.isfile(pattern) else []
