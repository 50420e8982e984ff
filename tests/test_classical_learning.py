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
    assert len(block.values) == len(block.times) == buffer.kept.max() <= 5
    np.testing.assert_array_equal(block.kept, buffer.kept)
    np.testing.assert_array_equal(loaded_affected, affected)
    assert len(grain) == 1 and grain[0].tolist() == [1.0, 1.0, 1.0]
