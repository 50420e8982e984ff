"""Model folders on disk, read without loading them: JSON configs, safetensors headers, sha256.

Shared by the engines that load weights from a local folder (`inpaint/void/check.py`,
`analysis/local_vlm/check.py`): a safetensors header (8-byte length + JSON: names, dtypes,
shapes, byte offsets) tells tensor shapes and whether a file is complete without reading the
weights; `file_checksums` hashes model files once and caches the digests beside them in
`.void-farm-checksums.json` (when the folder is writable), so lineage does not re-hash 20 GB.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterable
from pathlib import Path

CHECKSUM_CACHE = ".void-farm-checksums.json"
_BYTES_PER_DTYPE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
                    "I8": 1, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


class ModelDirProblem(ValueError):
    """A header or config that cannot be used; the message is one line naming the file."""


def folder_problem(root: Path) -> str | None:
    """Why `root` cannot be a model folder (missing, not a folder), or None."""
    if root.is_dir():
        return None
    return f"{root}: {'is not a folder' if root.exists() else 'not found'}"


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise ModelDirProblem(f"{path}: missing")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelDirProblem(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ModelDirProblem(f"{path}: expected a JSON object")
    return data


def read_weights(folder: Path, stem: str) -> tuple[dict[str, dict], list[str]]:
    """All tensor headers of `<stem>.safetensors` or of its shards (via the index)."""
    single, index = folder / f"{stem}.safetensors", folder / f"{stem}.safetensors.index.json"
    if single.is_file():
        return read_safetensors_header(single), [f"{folder.name}/{single.name}"]
    if index.is_file():
        weight_map = read_json(index).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise ModelDirProblem(f"{index}: no weight_map")
        tensors: dict[str, dict] = {}
        for shard in sorted(set(weight_map.values())):
            if not (folder / shard).is_file():
                raise ModelDirProblem(f"{folder / shard}: missing (listed in {index.name})")
            tensors.update(read_safetensors_header(folder / shard))
        missing = sorted(set(weight_map) - set(tensors))
        if missing:
            raise ModelDirProblem(f"{index}: {len(missing)} tensor(s) of the index are in no shard, "
                                  f"e.g. {missing[0]!r}")
        return tensors, [f"{folder.name}/{shard}" for shard in sorted(set(weight_map.values()))]
    others = sorted(p.name for p in folder.glob("*.bin"))
    hint = (f" (found {others[0]}: convert it to safetensors)" if others else "")
    raise ModelDirProblem(f"{single}: missing{hint}")


def read_safetensors_header(path: Path) -> dict[str, dict]:
    """Tensor name -> {dtype, shape, data_offsets} from the header alone; checks that the file
    is as long as the header says (a truncated copy fails)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise ModelDirProblem(f"{path}: too short to be a safetensors file")
        (length,) = struct.unpack("<Q", head)
        if length > min(size - 8, 100 << 20):
            raise ModelDirProblem(f"{path}: not a safetensors file (header length {length})")
        try:
            header = json.loads(handle.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ModelDirProblem(f"{path}: safetensors header is not valid JSON") from None
    header.pop("__metadata__", None)
    end = 0
    for name, info in header.items():
        try:
            start, stop = info["data_offsets"]
            expected = element_count(info["shape"]) * _BYTES_PER_DTYPE.get(info["dtype"], 0)
        except (KeyError, TypeError, ValueError):
            raise ModelDirProblem(f"{path}: malformed header entry {name!r}") from None
        if info["dtype"] in _BYTES_PER_DTYPE and stop - start != expected:
            raise ModelDirProblem(f"{path}: tensor {name!r} spans {stop - start} bytes, its "
                                  f"shape and dtype need {expected}")
        end = max(end, stop)
    if 8 + length + end != size:
        raise ModelDirProblem(f"{path}: file is {size} bytes, its header describes "
                              f"{8 + length + end} (incomplete copy?)")
    return header


def element_count(shape) -> int:
    count = 1
    for dim in shape:
        count *= int(dim)
    return count


_MEMORY_CACHE: dict[tuple[str, int, int], str] = {}


def file_checksums(root: str | Path, files: Iterable[Path]) -> dict[str, str]:
    """relative path -> "sha256:..." for `files` inside the folder `root`; cached by (path,
    size, mtime) in memory and in `CHECKSUM_CACHE` beside them."""
    root = Path(root).resolve()
    stored = _read_cache(root)
    result, changed = {}, False
    for path in files:
        path = Path(path).resolve()
        relative = path.relative_to(root).as_posix()
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        entry = stored.get(relative, {})
        if key in _MEMORY_CACHE:
            digest = _MEMORY_CACHE[key]
        elif entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns:
            digest = entry["sha256"]
        else:
            digest = _sha256(path)
        _MEMORY_CACHE[key] = digest
        if entry.get("sha256") != digest or entry.get("mtime_ns") != stat.st_mtime_ns:
            stored[relative] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
            changed = True
        result[relative] = digest
    if changed:
        _write_cache(root, {k: v for k, v in stored.items() if k in result})
    return result


def _sha256(path: Path, chunk: int = 8 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def _read_cache(root: Path) -> dict:
    try:
        data = json.loads((root / CHECKSUM_CACHE).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(root: Path, entries: dict) -> None:
    """Best effort: a read-only model folder just means hashing again in the next process."""
    temporary = root / f"{CHECKSUM_CACHE}.{os.getpid()}.tmp"
    try:
        temporary.write_text(json.dumps(entries, indent=1, sort_keys=True))
        os.replace(temporary, root / CHECKSUM_CACHE)
    except OSError:
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass


__all__ = ["CHECKSUM_CACHE", "ModelDirProblem", "element_count", "file_checksums",
           "folder_problem", "read_json",
           "read_safetensors_header", "read_weights"]
