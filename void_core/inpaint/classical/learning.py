"""The classical engine's passes 1-2 (camera motion, background sightings) as parallel parts.

A long shot's `prepare` is cheap: it plans parts that write no frames, then the fill parts:

    motion-0001-0120 ...     (no after)      one block's camera track, relative to the frame
                                             before the block (`void_core.motion`)
    sightings-0001-0120 ...  (all motion)    the chained track, the canvas extent, the block's
                                             own `SightingBuffer`, affected mask, grain samples
    canvas-0001-0480         (all sightings) the blocks merged in order, the background
                                             estimated and completed: `LEARNED_FILE`
    0001-0120 ...            (canvas)        pass 3, the fills (`fill_part`)

Motion blocks are `even_parts(frame_count, MOTION_BLOCK_FRAMES)` whatever the part length, and
the one-process path (`inpaint`) restarts its tracker at the same boundaries, so the track is the
same bit for bit however a shot is split. Sightings blocks are the fill parts' ranges: sightings
thinned by frame index merge exactly for any split (`sightings`), so one process and parts give
the same canvas. The learning parts' files are in `work/learned/`, each written atomically.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from void_core import quadmask
from void_core.atomic import write_atomically
from void_core.inpaint.base import Frame, ShotFrames, ShotPart, even_parts
from void_core.inpaint.classical.sightings import BlockSightings, SightingBuffer
from void_core.motion import MotionTrack, MotionTracker, chain_blocks

MOTION_BLOCK_FRAMES = 120  # camera motion blocks (the engine's default part length)
MOTION, SIGHTINGS, CANVAS, FRAMES = "motion", "sightings", "canvas", "frames"
BLOCKS_FILE = "classical-blocks.json"  # prepare's: the sightings blocks the canvas merges
LEARNED_FOLDER = "learned"
LEARNED_FILE = "classical-learned.npz"  # the canvas part's: track, grain, canvas


def motion_blocks(frame_count: int) -> list[ShotPart]:
    return even_parts(frame_count, MOTION_BLOCK_FRAMES)


def plan_parts(shot: ShotFrames, work: Path, chunk_frames: int) -> list[ShotPart]:
    """The learning parts and the fill parts (frames in ranges of at most `chunk_frames`);
    nothing to remove: the fill parts alone, with nothing to wait for."""
    fills = even_parts(shot.frame_count, chunk_frames)
    if nothing_to_remove(shot):
        return fills
    parts: list[ShotPart] = []

    def add(start: int, stop: int, after: tuple[int, ...], label: str, writes: bool) -> int:
        parts.append(ShotPart(len(parts), start, stop, after, label, writes))
        return len(parts) - 1

    motion = tuple(add(b.start, b.stop, (), MOTION, False) for b in motion_blocks(shot.frame_count))
    sightings = tuple(add(f.start, f.stop, motion, SIGHTINGS, False) for f in fills)
    canvas = add(0, shot.frame_count, sightings, CANVAS, False)
    for fill in fills:
        add(fill.start, fill.stop, (canvas,), FRAMES, True)
    write_atomically(work / BLOCKS_FILE, json.dumps(
        {"sightings": [[f.start, f.stop] for f in fills]}).encode())
    return parts


def nothing_to_remove(shot: ShotFrames) -> bool:
    return all(box.empty for box in shot.boxes)


def part_file(work: Path, label: str, start: int, stop: int) -> Path:
    return work / LEARNED_FOLDER / f"{label}-{start + 1:04d}-{stop:04d}.npz"


def learned_file(work: Path) -> Path:
    return work / LEARNED_FOLDER / LEARNED_FILE


def sightings_files(work: Path) -> list[Path]:
    """The sightings blocks' files, in shot order."""
    blocks = json.loads((work / BLOCKS_FILE).read_text())["sightings"]
    return [part_file(work, SIGHTINGS, start, stop) for start, stop in blocks]


def save_arrays(path: Path, **arrays: np.ndarray) -> None:
    """One .npz, written atomically (a part never reads half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomically(path, buffer.getvalue())


# --- camera motion in blocks -------------------------------------------------------------------


def motion_input(shot: ShotFrames, frame: Frame, tracker: MotionTracker) -> tuple[np.ndarray,
                                                                                   np.ndarray]:
    """A frame as the tracker reads it: display values and usable background, downscaled."""
    size = tracker.analysis_size()
    grow = int(np.ceil((shot.feather.band + 4) * tracker.scale))
    # Downscale first: the tracker works at analysis size anyway.
    raw = frame.raw.astype(np.float32) if frame.raw.dtype == np.float16 else frame.raw
    small = shot.to_display(cv2.resize(raw, size, interpolation=cv2.INTER_AREA))
    edit = cv2.resize(quadmask.to_edit(frame.quad).astype(np.uint8), size,
                      interpolation=cv2.INTER_AREA) > 0
    background = ~quadmask.dilate(edit, grow) if edit.any() else np.ones_like(edit)
    return small, background


def track_in_blocks(shot: ShotFrames, frames: Iterator[Frame]) -> tuple[MotionTrack, int]:
    """One process: the shot's track from one stream, its tracker restarted at every motion
    block from the frame before (as the motion parts do); and the untracked frames."""
    starts = {block.start for block in motion_blocks(shot.frame_count)[1:]}
    tracker = MotionTracker(shot.width, shot.height)
    blocks, untracked, previous = [], 0, None
    for frame in frames:
        observed = motion_input(shot, frame, tracker)
        if frame.index in starts:
            blocks.append(tracker.local_track(keyframe_given=bool(blocks)))
            untracked += tracker.untracked_frames
            tracker = MotionTracker(shot.width, shot.height)
            tracker.add(*previous)
        tracker.add(*observed)
        previous = observed
    blocks.append(tracker.local_track(keyframe_given=bool(blocks)))
    return chain_blocks(blocks, shot.width, shot.height), untracked + tracker.untracked_frames


def learn_motion(shot: ShotFrames, work: Path, part: ShotPart) -> Path:
    """A motion part: frames [start, stop) relative to frame start-1 (frame 0: to itself)."""
    tracker = MotionTracker(shot.width, shot.height)
    for frame in shot.stream(max(0, part.start - 1), part.stop):
        tracker.add(*motion_input(shot, frame, tracker))
    local = tracker.local_track(keyframe_given=part.start > 0)
    path = part_file(work, MOTION, part.start, part.stop)
    save_arrays(path, to_ref=np.array(local, np.float64).reshape(-1, 3, 3),
                untracked=np.array(tracker.untracked_frames))
    return path


def load_track(shot: ShotFrames, work: Path) -> tuple[MotionTrack, int]:
    """The shot's track chained from the motion parts' files; and the untracked frames."""
    blocks, untracked = [], 0
    for block in motion_blocks(shot.frame_count):
        with np.load(part_file(work, MOTION, block.start, block.stop)) as data:
            blocks.append(list(data["to_ref"]))
            untracked += int(data["untracked"])
    return chain_blocks(blocks, shot.width, shot.height), untracked


def untracked_note(frames: int) -> str:
    return f"camera motion could not be measured on {frames} frame(s); assumed still"


# --- sightings in blocks ----------------------------------------------------------------------


def save_sightings(path: Path, buffer: SightingBuffer, affected: np.ndarray,
                   grain: list[np.ndarray]) -> None:
    """A block's used sightings only (`BlockSightings`), its affected mask and grain samples."""
    block = buffer.block()
    save_arrays(path, values=block.values, times=block.times, kept=block.kept,
                spacing=block.spacing, affected=affected,
                grain=np.array(grain, np.float32).reshape(len(grain), 3))


def load_sightings(path: Path) -> tuple[BlockSightings, np.ndarray, list[np.ndarray]]:
    with np.load(path) as data:
        block = BlockSightings(data["values"], data["times"], data["kept"], data["spacing"])
        return block, data["affected"], list(data["grain"])
