"""Files that appear whole or not at all.

Parts of a shot run on other workers and read each other's files at any time; a crash must not
leave half a file under the final name. Everything written this way goes to a temporary name in
the same folder first (unique per process and call), then is renamed over the final name.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> Path:
    """Write `data` to `path`: readers see the old file, or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
