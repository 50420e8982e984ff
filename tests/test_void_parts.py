"""The VOID engine's shot parts (issue 13): `prepare` + every part == `inpaint`, bit for bit.

The model's chunks are the parts: a "window" per chunk runs the model and saves its overlaps,
a "join" per overlap cross-fades them. On the tiny random model (32x64, 2 steps) with chunks of
at most 21 model frames overlapping by 6, an 80-frame 24 fps plate is 41 model frames in three
chunks: three windows and two joins.

Bit-exact, not just close: each chunk gets the same model-size inputs, seed (seed + k), padding
and prompt embeddings in a part as in one process, torch's CPU kernels give the same bits for
the same inputs and shapes (one thread here), the overlaps go through float32 .npy files
losslessly, and a join computes the same two float32 products and their sum as `_model_outputs`.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from fractions import Fraction

import numpy as np
import pytest
import torch

from void_core import quadmask
from void_core.composite import Feather, edit_box
from void_core.engines import entry
from void_core.errors import InputError
from void_core.inpaint.base import Frame, ShotFrames, ShotPart
from void_core.inpaint.void.engine import Pass2Request, VoidInpainter
from void_core.inpaint.void.parts import (
    PLAN_FILE,
    frame_parts,
    overlap_path,
    window_parts,
)
from void_core.inpaint.void.planning import Chunk, ChunkPlan, map_frames, plan_chunks
from void_core.inpaint.void.tiny import make_tiny_model_dir
from void_core.media import colour

pytestmark = pytest.mark.usefixtures("one_torch_thread")

THREE_CHUNKS = dict(max_chunk_frames=21, chunk_overlap_frames=6)
FRAMES, RATE = 80, Fraction(24)
EMPTY = (0, 27, 79)  # the first and last frames, and one inside the first join


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("models") / "void-tiny")


class MemoryShot:
    """An in-memory shot (a textured still, a dark square sliding right) whose
    `stream(start, stop)` records the plate ranges each part asked for."""

    def __init__(self, frames: int = FRAMES, *, rate=RATE, empty_frames=EMPTY,
                 width: int = 64, height: int = 48):
        rng = np.random.default_rng(5)
        background = rng.integers(40, 220, (height, width, 3), dtype=np.uint8)
        self.raws, self.quads, self.streamed = [], [], []
        for index in range(frames):
            raw, quad = background.copy(), np.full((height, width), quadmask.KEEP, np.uint8)
            if index not in empty_frames:
                x = 4 + (index * 3) % (width - 16)
                raw[18:28, x:x + 10] = 10
                quad[18:28, x:x + 10] = quadmask.PRIMARY
            self.raws.append(raw)
            self.quads.append(quad)
        feather = Feather.for_width(width)
        boxes = tuple(edit_box(q).grown(feather.band + 16, height, width) for q in self.quads)
        self.frames = ShotFrames(width=width, height=height, frame_count=frames, boxes=boxes,
                                 feather=feather, stream=self.stream,
                                 to_display=colour.codes_to_display, rate=rate,
                                 prompt="a textured wall")

    def stream(self, start: int = 0, stop: int | None = None):
        stop = len(self.raws) if stop is None else stop
        self.streamed.append((start, stop))
        return (Frame(i, self.raws[i], self.quads[i]) for i in range(start, stop))


def run_parts(make_engine, shot: ShotFrames, work, order) -> dict[int, object]:
    """Fills by plate frame, each part on the engine `make_engine(part)` returns."""
    fills = {}
    for part in order:
        got = list(make_engine(part).fill_part(shot, work, part))
        assert [f.frame.index for f in got] == list(range(part.start, part.stop))
        fills.update((f.frame.index, f) for f in got)
    return fills


def shuffled_respecting_after(parts: list[ShotPart], seed: int) -> list[ShotPart]:
    rng, done, order = random.Random(seed), set(), []
    while len(order) < len(parts):
        ready = [p for p in parts if p.index not in done and set(p.after) <= done]
        part = rng.choice(ready)
        order.append(part)
        done.add(part.index)
    return order


def assert_same_fills(reference: list, fills: dict) -> None:
    assert sorted(fills) == [f.frame.index for f in reference]
    for expected in reference:
        got = fills[expected.frame.index]
        assert got.box == expected.box
        if expected.display is None:
            assert got.display is None
            continue
        assert got.display.dtype == expected.display.dtype
        np.testing.assert_array_equal(got.display, expected.display)  # bit-exact
        np.testing.assert_array_equal(got.unstable, expected.unstable)


def parts_equal_one_process(tiny_model, tmp_path, **settings) -> list[ShotPart]:
    shot = MemoryShot()
    reference = list(VoidInpainter(tiny_model, **THREE_CHUNKS, **settings).inpaint(shot.frames))
    parts = VoidInpainter(tiny_model, **THREE_CHUNKS, **settings).prepare(
        shot.frames, tmp_path / "a", chunk_frames=24)
    # Index order on one resident engine, as one engine host running a shot's parts would.
    resident = VoidInpainter(tiny_model, **THREE_CHUNKS, **settings)
    assert_same_fills(reference, run_parts(lambda part: resident, shot.frames, tmp_path / "a",
                                           parts))
    # Any order `after` allows, each part on a fresh engine, as on different workers.
    VoidInpainter(tiny_model, **THREE_CHUNKS, **settings).prepare(shot.frames, tmp_path / "b", 24)
    order = shuffled_respecting_after(parts, seed=4)
    assert order != parts
    fresh = lambda part: VoidInpainter(tiny_model, **THREE_CHUNKS, **settings)
    assert_same_fills(reference, run_parts(fresh, shot.frames, tmp_path / "b", order))
    return parts


# --- the test ----------------------------------------------------------------------


def test_prepare_and_every_part_give_the_one_process_fills(tiny_model, tmp_path):
    parts = parts_equal_one_process(tiny_model, tmp_path)
    assert [(p.index, p.label, p.after) for p in parts] == [
        (0, "window", ()), (1, "window", ()), (2, "window", ()),
        (3, "join", (0, 1)), (4, "join", (1, 2))]
    # Plate frame i shows model frame round(i / 2): the first join, model frames [12, 18), is
    # plate frames [23, 35) (it holds frame 27, which has nothing to remove).
    assert sorted((p.start, p.stop) for p in parts) == [(0, 23), (23, 35), (35, 45), (45, 59),
                                                        (59, 80)]


def test_parts_with_a_pass2_hook_give_the_one_process_fills(tiny_model, tmp_path):
    """A hook whose result depends on the chunk's seed and frames: a window part must hand it
    exactly what one process does."""
    seen = []

    def seeded_grain(request: Pass2Request) -> torch.Tensor:
        seen.append((request.chunk_index, request.seed, request.pass1.shape[2]))
        generator = torch.Generator().manual_seed(request.seed)
        noise = torch.rand(request.pass1.shape, generator=generator)
        return 0.5 * request.pass1 + 0.5 * noise * request.video

    parts_equal_one_process(tiny_model, tmp_path, pass2=seeded_grain, seed=11)
    assert set(seen) == {(0, 11, 18), (1, 12, 18), (2, 13, 18)}  # seed + chunk index everywhere


@pytest.mark.slow
def test_parts_with_voids_pass2_give_the_one_process_fills(tiny_model, tmp_path):
    parts_equal_one_process(tiny_model, tmp_path, pass2={"steps": 1})


# --- what each part does ---------------------------------------------------------------------


def test_a_window_runs_its_chunk_only_and_a_join_runs_no_model(tiny_model, tmp_path):
    shot = MemoryShot()
    engine = VoidInpainter(tiny_model, **THREE_CHUNKS)
    parts = engine.prepare(shot.frames, tmp_path, chunk_frames=24)
    assert engine.load_count == 0  # planning needs no model
    plan = json.loads((tmp_path / PLAN_FILE).read_text())
    assert plan["chunks"] == [[0, 18], [12, 30], [23, 41]]
    window = parts[1]
    shot.streamed.clear()
    list(engine.fill_part(shot.frames, tmp_path, window))
    assert [run.chunk for run in engine.last_runs] == [Chunk(12, 30)]
    # The model's inputs (plate frames 24..58 for model frames 12..29), then the part's frames.
    assert shot.streamed == [(24, 59), (window.start, window.stop)]
    saved = np.load(overlap_path(tmp_path, 1, 0))
    assert saved.shape == (6, 32, 64, 3) and saved.dtype == np.float32
    assert np.load(overlap_path(tmp_path, 1, 2)).shape == (7, 32, 64, 3)
    list(engine.fill_part(shot.frames, tmp_path, parts[0]))
    joiner = VoidInpainter(tiny_model, **THREE_CHUNKS)
    shot.streamed.clear()
    as_json = ShotPart(**{**asdict(parts[3]), "after": [0, 1]})  # e.g. a part sent as JSON
    fills = list(joiner.fill_part(shot.frames, tmp_path, as_json))
    assert joiner.load_count == 0 and joiner.last_runs == []
    assert shot.streamed == [(parts[3].start, parts[3].stop)]
    assert len(fills) == parts[3].frame_count


def test_a_join_before_its_windows_names_the_missing_file(tiny_model, tmp_path):
    shot = MemoryShot()
    engine = VoidInpainter(tiny_model, **THREE_CHUNKS)
    parts = engine.prepare(shot.frames, tmp_path, chunk_frames=24)
    with pytest.raises(InputError, match=r"window-001\.overlap-000\.npy: missing: window part 1"):
        list(engine.fill_part(shot.frames, tmp_path, parts[3]))


def test_parts_refuse_a_plan_made_with_other_settings(tiny_model, tmp_path):
    shot = MemoryShot()
    parts = VoidInpainter(tiny_model, **THREE_CHUNKS).prepare(shot.frames, tmp_path, 24)
    other = VoidInpainter(tiny_model, max_chunk_frames=21, chunk_overlap_frames=5)
    with pytest.raises(InputError, match="another engine version or settings"):
        list(other.fill_part(shot.frames, tmp_path, parts[0]))
    with pytest.raises(InputError, match="prepare step has not run"):
        list(other.fill_part(shot.frames, tmp_path / "elsewhere", parts[0]))


def test_a_shot_in_one_chunk_is_one_window(tiny_model, tmp_path):
    shot = MemoryShot(12, rate=None, empty_frames=(5,))
    reference = list(VoidInpainter(tiny_model).inpaint(shot.frames))
    engine = VoidInpainter(tiny_model)
    parts = engine.prepare(shot.frames, tmp_path, chunk_frames=4)
    assert parts == [ShotPart(0, 0, 12, (), "window")]
    assert_same_fills(reference, run_parts(lambda part: engine, shot.frames, tmp_path, parts))
    assert not list(tmp_path.glob("*.npy"))  # no neighbour, no overlap to save


def test_chunk_frames_does_not_change_voids_windows(tiny_model, tmp_path):
    shot = MemoryShot()
    engine = VoidInpainter(tiny_model, **THREE_CHUNKS)
    assert engine.prepare(shot.frames, tmp_path / "a", 8) == engine.prepare(
        shot.frames, tmp_path / "b", 1000)


def test_a_shot_with_nothing_to_remove_is_split_by_chunk_frames(tiny_model, tmp_path):
    shot = MemoryShot(30, empty_frames=range(30))
    engine = VoidInpainter(tiny_model, **THREE_CHUNKS)
    parts = engine.prepare(shot.frames, tmp_path, chunk_frames=12)
    assert [(p.start, p.stop, p.label) for p in parts] == [(0, 12, "frames"), (12, 24, "frames"),
                                                           (24, 30, "frames")]
    fills = [f for part in parts for f in engine.fill_part(shot.frames, tmp_path, part)]
    assert [f.frame.index for f in fills] == list(range(30))
    assert all(f.display is None for f in fills) and engine.load_count == 0


def test_the_void_engine_is_declared_to_split_shots():
    assert entry("inpaint", "void").splits_shots


# --- the layout, without a model -------------------------------------------------------------


@pytest.mark.parametrize(("frames", "plate_fps", "max_frames", "overlap"), [
    (80, 24, 21, 6), (400, 24, 197, 16), (1000, Fraction(24000, 1001), 197, 16),
    (300, 12, 85, 16), (90, 8, 21, 1), (60, 5, 21, 2), (10, 24, 197, 16), (40, 4, 21, 1)])
def test_parts_tile_the_shot_and_index_order_respects_after(frames, plate_fps, max_frames, overlap):
    mapping = map_frames(frames, Fraction(plate_fps), Fraction(12))
    plan = ChunkPlan(None, mapping, plan_chunks(mapping.model_frames, max_frames, overlap))
    parts = window_parts(plan)
    assert [p.index for p in parts] == list(range(len(parts)))
    assert all(set(p.after) <= set(range(p.index)) for p in parts)
    windows = [p for p in parts if p.label == "window"]
    assert [p.index for p in windows] == list(range(len(plan.chunks)))
    assert all(p.after == (p.after[0], p.after[0] + 1) for p in parts if p.label == "join")
    ranges = sorted((p.start, p.stop) for p in parts if p.frame_count)
    assert ranges[0][0] == 0 and ranges[-1][1] == frames
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # contiguous, no frame twice
    for part in parts:  # a part's frames take model frames from its own range only
        targets = mapping.targets[part.start:part.stop]
        if part.label == "join":
            k = part.after[0]
            assert np.all((targets >= plan.chunks[k + 1].start) & (targets < plan.chunks[k].stop))
        else:
            chunk = plan.chunks[part.index]
            assert np.all((targets >= chunk.start) & (targets < chunk.stop))


def test_a_join_whose_overlap_no_plate_frame_shows_is_left_out():
    # A 4 fps plate at 12 fps: plate frame i shows model frame 3i, so the overlaps at model frames
    # 19-20, 58-59 and 97-98 hold no plate frame's target (39 and 78 do).
    mapping = map_frames(40, Fraction(4), Fraction(12))
    plan = ChunkPlan(None, mapping, plan_chunks(mapping.model_frames, 21, 1))
    assert len(plan.chunks) == 6
    joins = [(p.index, p.after) for p in window_parts(plan) if p.label == "join"]
    assert joins == [(6, (1, 2)), (7, (3, 4))]


def test_frame_parts_cover_the_shot():
    assert [(p.start, p.stop) for p in frame_parts(5, 2)] == [(0, 2), (2, 4), (4, 5)]
    assert [(p.start, p.stop) for p in frame_parts(3, 100)] == [(0, 3)]
