"""The classical engine learns a long shot in blocks: sightings thinned by frame index merge
exactly, camera motion measured per block chains to the one-process track, and the learning
parts run (and rerun) as parts of their own."""

from __future__ import annotations

import numpy as np
import pytest

from void_core.inpaint.classical.sightings import SightingBuffer


def _random_shot(seed: int, frames: int, shape=(6, 7)):
    rng = np.random.default_rng(seed)
    visible = rng.random((frames, *shape)) < rng.uniform(0.3, 1.0)
    values = rng.random((frames, *shape, 3)).astype(np.float32)
    return values, visible


def _streamed(values, visible, slots, start=0, stop=None):
    buffer = SightingBuffer(visible.shape[1:], slots)
    for t in range(start, len(values) if stop is None else stop):
        buffer.add(values[t], visible[t], t)
    return buffer


@pytest.mark.parametrize("seed", range(12))
def test_sightings_of_blocks_merged_are_those_of_one_stream_bit_for_bit(seed):
    rng = np.random.default_rng(100 + seed)
    frames, slots = int(rng.integers(5, 160)), int(rng.choice([2, 4, 6, 8, 16]))
    values, visible = _random_shot(seed, frames)
    one = _streamed(values, visible, slots)
    cuts = sorted(set(rng.integers(1, frames, int(rng.integers(0, 6))).tolist()))
    bounds = [0] + cuts + [frames]
    merged = SightingBuffer(visible.shape[1:], slots)
    for start, stop in zip(bounds, bounds[1:]):
        merged.merge(_streamed(values, visible, slots, start, stop).block())
    np.testing.assert_array_equal(merged.kept, one.kept)
    np.testing.assert_array_equal(merged.spacing, one.spacing)
    order = np.arange(slots)[:, None, None]
    used = order < one.kept[None]
    np.testing.assert_array_equal(merged.times[used], one.times[used])
    np.testing.assert_array_equal(merged.values[used], one.values[used])
    assert one.kept.max() <= slots


@pytest.mark.parametrize("seed", range(6))
def test_a_pixel_keeps_its_visible_frames_t_with_t_mod_s_zero_s_the_smallest_that_fits(seed):
    values, visible = _random_shot(seed, 200, shape=(3, 4))
    buffer = _streamed(values, visible, 8)
    for y, x in np.ndindex(3, 4):
        seen = np.flatnonzero(visible[:, y, x])
        spacing = 1
        while np.count_nonzero(seen % spacing == 0) > 8:
            spacing *= 2
        expected = seen[seen % spacing == 0]
        assert buffer.spacing[y, x] == spacing
        assert buffer.times[: buffer.kept[y, x], y, x].tolist() == expected.tolist()
        np.testing.assert_array_equal(buffer.values[: buffer.kept[y, x], y, x],
                                      values[expected, y, x].astype(np.float16))


def test_a_saved_block_holds_only_its_used_slots(tmp_path):
    from void_core.inpaint.classical.learning import load_sightings, save_sightings

    values, visible = _random_shot(1, 5)
    buffer = _streamed(values, visible, 16)
    affected = visible[0]
    save_sightings(tmp_path / "block.npz", buffer, affected, [np.ones(3, np.float32)])
    block, loaded_affected, grain = load_sightings(tmp_path / "block.npz")
    assert len(block.values) == len(block.times) == buffer.kept.sum()  # used slots alone
    np.testing.assert_array_equal(block.kept, buffer.kept)
    used = np.arange(buffer.slots)[:, None, None] < buffer.kept[None]
    np.testing.assert_array_equal(block.values, buffer.values[used])
    np.testing.assert_array_equal(block.dense_times()[used[: buffer.kept.max()]],
                                  buffer.times[used])
    np.testing.assert_array_equal(loaded_affected, affected)
    assert len(grain) == 1 and grain[0].tolist() == [1.0, 1.0, 1.0]


# --- camera motion in blocks ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def pan_shot(tmp_path_factory):
    from fractions import Fraction

    from void_core.composite import Feather
    from void_core.media.masks import QuadmaskReader
    from void_core.media.plate import open_plate
    from void_core.pipeline.render import _scan_mask, _shot_frames
    from void_core.synth import SceneSpec, write_scene

    scene = write_scene(SceneSpec(name="pan", width=128, height=80, frames=20, camera="pan",
                                  seed=6), tmp_path_factory.mktemp("pan"))
    plate, reader = open_plate(scene.video, rate=Fraction(24)), QuadmaskReader(scene.mask)
    feather = Feather.for_width(plate.info.width)
    return _shot_frames(plate, reader, _scan_mask(reader, feather), feather, {"decode": 0.0})


def test_motion_parts_chained_give_the_one_process_track_bit_for_bit(pan_shot, tmp_path,
                                                                      monkeypatch):
    from void_core.inpaint.classical import learning

    monkeypatch.setattr(learning, "MOTION_BLOCK_FRAMES", 6)
    blocks = learning.motion_blocks(pan_shot.frame_count)
    assert [(b.start, b.stop) for b in blocks] == [(0, 5), (5, 10), (10, 15), (15, 20)]
    one, untracked = learning.track_in_blocks(pan_shot, pan_shot.stream())
    for block in reversed(blocks):  # any order
        learning.learn_motion(pan_shot, tmp_path, block)
    chained, untracked_parts = learning.load_track(pan_shot, tmp_path)
    assert untracked_parts == untracked
    assert len(chained.to_ref) == len(one.to_ref) == 20
    for a, b in zip(chained.to_ref, one.to_ref, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not one.static  # a pan: the chained track moves ...
    # ... and measures what one tracker over the whole shot measures, to a tenth of a pixel.
    monkeypatch.setattr(learning, "MOTION_BLOCK_FRAMES", 120)
    unblocked, _ = learning.track_in_blocks(pan_shot, pan_shot.stream())
    for a, b in zip(unblocked.to_ref, one.to_ref, strict=True):
        assert np.abs(a[:2, 2] - b[:2, 2]).max() < 0.1


def test_a_still_camera_in_blocks_is_locked_off_on_the_chained_track():
    from void_core.motion import chain_blocks

    drift = np.array([[1.0, 0, 0.1], [0, 1.0, 0], [0, 0, 1.0]])  # 0.1 px a block: 0.3 in all
    blocks = [[np.eye(3), np.eye(3)], [drift, drift], [drift], [drift]]
    track = chain_blocks(blocks[:3], 100, 50)
    assert track.static and all((h == np.eye(3)).all() for h in track.to_ref)
    moving = chain_blocks(blocks, 100, 50)  # 0.3 px by the last block: not still
    assert not moving.static
    np.testing.assert_allclose(moving.to_ref[-1][0, 2], 0.3)


# --- part plans ----------------------------------------------------------------------------------


def _part(index, start, stop, after=(), label="frames", writes=True):
    from void_core.inpaint.base import ShotPart

    return ShotPart(index, start, stop, tuple(after), label, writes)


def test_a_plan_of_learning_and_writing_parts_is_accepted_and_labelled_apart():
    from void_core.pipeline.render import check_parts
    from void_core.pipeline.state import part_label

    plan = [_part(0, 0, 10, label="motion", writes=False),
            _part(1, 0, 5, (0,), "sightings", False), _part(2, 5, 10, (0,), "sightings", False),
            _part(3, 0, 10, (1, 2), "canvas", False), _part(4, 0, 5, (3,)), _part(5, 5, 10, (3,))]
    check_parts(plan, 10, "classical")
    assert [part_label(part) for part in plan] == [
        "motion-0001-0010", "sightings-0001-0005", "sightings-0006-0010", "canvas-0001-0010",
        "0001-0005", "0006-0010"]


@pytest.mark.parametrize("plan, problem", [
    ([_part(0, 0, 10, label="motion", writes=False)], "split 10 frames"),  # no frames written
    ([_part(0, 0, 10), _part(1, 5, 12, label="motion", writes=False)], "outside the shot"),
    ([_part(0, 0, 10, (1,)), _part(1, 0, 10, label="motion", writes=False)], "out of order"),
    ([_part(0, 0, 5, label="motion", writes=False), _part(1, 0, 5, label="motion", writes=False),
      _part(2, 0, 10)], "share a label"),
    ([_part(0, 0, 6), _part(1, 5, 10)], "split 10 frames"),  # writing parts overlap
], ids=["no-writing-part", "outside", "waits-on-later", "same-label", "overlap"])
def test_a_bad_part_plan_is_refused_saying_why(plan, problem):
    from void_core.pipeline.render import check_parts

    with pytest.raises(RuntimeError, match=problem):
        check_parts(plan, 10, "classical")
