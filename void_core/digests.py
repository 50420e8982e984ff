"""Content digests: of files and sequence folders (cached), and of plain JSON-able records.

Lineage identities, EXR headers and engines' model checksums all hash through here, so a large
plate or checkpoint is read once per process and file version, whoever asks.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any


def file_digest(path: Path) -> str:
    """sha256 of a file, or of a sequence folder's names and sizes.

    Cached by (path, size, mtime): lineage identity and the EXR headers both need the plate's
    digest, and hashing a large plate twice per shot is wasted I/O.
    """
    path = Path(path).resolve()
    if not path.exists():  # a sequence pattern: no stamp to key a cache on, hash the listing
        return _cached_digest.__wrapped__(path, None)
    stat = path.stat()
    return _cached_digest(path, (stat.st_size, stat.st_mtime_ns))


@functools.lru_cache(maxsize=64)
def _cached_digest(path: Path, _stamp: tuple | None, chunk: int = 8 << 20) -> str:
    digest = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as handle:
            while block := handle.read(chunk):
                digest.update(block)
        return "sha256:" + digest.hexdigest()
    for item in sorted(path.parent.glob("*") if not path.is_dir() else path.iterdir()):
        if item.is_file():
            digest.update(f"{item.name}:{item.stat().st_size}\n".encode())
    return "sha256-listing:" + digest.hexdigest()


def digest_of(payload: Any) -> str:
    """sha256 of `payload` as canonical JSON (sorted keys; paths and fractions as text)."""
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()
