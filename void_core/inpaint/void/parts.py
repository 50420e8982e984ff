"""The VOID engine's shot parts: which plate frames each part fills, and the files between them.

A long shot is cut by the model's own chunks (`planning.plan_chunks`), not by a farm's chunk
size. For chunks 0..K-1 there are K "window" parts (index k runs the model on chunk k) and, for
each overlap of chunks k and k+1, one "join" part (after both windows) that cross-fades them:

    model frames   |---- chunk 0 ----|
                               |---- chunk 1 ----|
    parts          | window 0  |join |  window 1 |

A plate frame belongs to the part whose model frames hold its target (`FrameMap.targets`,
monotone), so every part is one contiguous plate range and the parts tile the shot. A join
whose overlap holds no plate frame's target (possible only when the plate is slower than the
model) has nothing to yield and is left out; its windows still save the overlap.

Files under the part's `work` folder: `void-plan.json` (crop, frame map, chunks, parts and the
settings they follow from) and, per window k and neighbour j, `window-k.overlap-j.npy`: chunk k's
model output over its overlap with chunk j, (n, h, w, 3) float32, written atomically.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from void_core.atomic import write_atomically
from void_core.composite import Box
from void_core.errors import InputError
from void_core.inpaint.base import ShotPart
from void_core.inpaint.void.planning import Chunk, ChunkPlan, FrameMap

PLAN_FILE = "void-plan.json"
PLAN_FORMAT = "void-farm/void-parts/1"
WINDOW, JOIN, FRAMES = "window", "join", "frames"


# --- which part fills which frames ---------------------------------------------------------------


def window_parts(plan: ChunkPlan) -> list[ShotPart]:
    """Windows 0..K-1, then the joins (K + k after windows k and k + 1): index order is a valid
    run order."""
    count = len(plan.chunks)
    parts = [_plate_part(plan.frames, k, _window_frames(plan, k), (), WINDOW)
             for k in range(count)]
    for k in range(count - 1):
        join = _plate_part(plan.frames, len(parts), overlap_frames(plan, k, k + 1), (k, k + 1),
                           JOIN)
        if join.frame_count:
            parts.append(join)
    return parts


def frame_parts(frame_count: int, chunk_frames: int) -> list[ShotPart]:
    """Plain frame ranges of at most `chunk_frames` (a shot with nothing to remove)."""
    size = max(1, int(chunk_frames))
    return [ShotPart(index, start, min(start + size, frame_count), (), FRAMES)
            for index, start in enumerate(range(0, frame_count, size))]


def part_model_frames(plan: ChunkPlan, part: ShotPart) -> range:
    """The model frames whose outputs a part hands to the plate: a window's, those only its
    chunk covers; a join's, the overlap."""
    if part.label == JOIN:
        return overlap_frames(plan, *part.after)
    return _window_frames(plan, part.index)


def overlap_frames(plan: ChunkPlan, k: int, j: int) -> range:
    """The model frames neighbouring chunks k and j both cover."""
    first, second = plan.chunks[min(k, j)], plan.chunks[max(k, j)]
    return range(second.start, first.stop)


def _window_frames(plan: ChunkPlan, k: int) -> range:
    chunks = plan.chunks
    first = chunks[k - 1].stop if k > 0 else 0
    return range(first, chunks[k + 1].start if k + 1 < len(chunks) else plan.frames.model_frames)


def _plate_part(frames: FrameMap, index: int, model_frames: range, after: tuple[int, ...],
                label: str) -> ShotPart:
    """The plate frames whose targets lie in `model_frames` (targets are monotone)."""
    start, stop = np.searchsorted(frames.targets, [model_frames.start, model_frames.stop])
    return ShotPart(index, int(start), int(stop), after, label)


# --- the plan file ---------------------------------------------------------------------------


def write_plan(work: Path, plan: ChunkPlan | None, parts: list[ShotPart], frame_count: int,
               settings: dict) -> Path:
    """`void-plan.json` under `work` (plan None: a shot with nothing to remove)."""
    record = {"format": PLAN_FORMAT, "settings": settings, "frame_count": frame_count,
              "parts": [[p.index, p.start, p.stop, list(p.after), p.label] for p in parts]}
    if plan is not None:
        crop = plan.crop
        record.update(crop=[crop.y0, crop.y1, crop.x0, crop.x1],
                      sources=[int(s) for s in plan.frames.sources],
                      targets=[int(t) for t in plan.frames.targets],
                      chunks=[[c.start, c.stop] for c in plan.chunks])
    return write_atomically(Path(work) / PLAN_FILE, json.dumps(record).encode())


def read_plan(work: Path, frame_count: int,
              settings: dict) -> tuple[ChunkPlan | None, list[ShotPart]]:
    """The plan and parts `write_plan` wrote, checked against this shot and engine."""
    path = Path(work) / PLAN_FILE
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(path, "no VOID plan: the shot's prepare step has not run here",
                         "run the shot again (prepare writes it)") from None
    except (OSError, ValueError) as err:
        raise InputError(path, f"unreadable VOID plan ({err})", "run the shot again") from None
    if record.get("format") != PLAN_FORMAT or record.get("settings") != settings:
        raise InputError(path, "VOID plan made by another engine version or settings",
                         "run the shot again so prepare plans it with these settings")
    if record["frame_count"] != frame_count:
        raise InputError(path, f"VOID plan is for {record['frame_count']} frames, the shot has "
                               f"{frame_count}", "run the shot again")
    parts = [ShotPart(i, start, stop, tuple(after), label)
             for i, start, stop, after, label in record["parts"]]
    if "crop" not in record:
        return None, parts
    plan = ChunkPlan(Box(*record["crop"]),
                     FrameMap(np.array(record["sources"], np.int64),
                              np.array(record["targets"], np.int64)),
                     [Chunk(start, stop) for start, stop in record["chunks"]])
    return plan, parts


# --- overlap outputs -------------------------------------------------------------------------


def overlap_path(work: Path, k: int, j: int) -> Path:
    return Path(work) / f"window-{k:03d}.overlap-{j:03d}.npy"


def window_overlaps(work: Path, k: int) -> list[Path]:
    """The overlaps window k has saved, with either neighbour."""
    return sorted(Path(work).glob(f"window-{k:03d}.overlap-*.npy"))


def save_overlap(work: Path, k: int, j: int, output: np.ndarray) -> Path:
    """Chunk k's model output over its overlap with chunk j, float32."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(output, dtype=np.float32), allow_pickle=False)
    return write_atomically(overlap_path(work, k, j), buffer.getvalue())


def load_overlap(work: Path, k: int, j: int, shape: tuple[int, ...]) -> np.ndarray:
    """What `save_overlap(work, k, j, ...)` wrote, checked to be `shape` float32."""
    path = overlap_path(work, k, j)
    try:
        output = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(path, f"missing: window part {k} has not run (or its files were "
                               "removed)", "run that window part before this join") from None
    except (OSError, ValueError) as err:
        raise InputError(path, f"unreadable window output ({err})",
                         f"run window part {k} again") from None
    if output.shape != shape or output.dtype != np.float32:
        raise InputError(path, f"window output is {output.dtype} {output.shape}, expected "
                               f"float32 {shape}", f"run window part {k} again")
    return output


