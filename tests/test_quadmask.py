"""The quadmask convention and VOID's mask chain, pinned to void-model.md and VOID's golden vectors."""

from pathlib import Path

import numpy as np
import pytest

from void_core import quadmask as qm

GOLDEN = Path(__file__).parent / "data" / "golden" / "void" / "mask_chain"


def test_limited_range_luma_expands_to_the_four_levels():
    stored = np.array([16, 70, 125, 235], dtype=np.uint8)
    assert qm.expand_limited_range(stored).tolist() == [0, 63, 127, 255]


def test_limited_range_clips_out_of_range_codes():
    assert qm.expand_limited_range(np.array([0, 255], np.uint8)).tolist() == [0, 255]


@pytest.mark.parametrize(
    ("value", "level"),
    [(0, 0), (31, 0), (32, 63), (95, 63), (96, 127), (191, 127), (192, 255), (255, 255)],
)
def test_quantise_thresholds(value, level):
    assert qm.quantise(np.array([value], np.uint8))[0] == level


def test_quantise_float_averages_on_the_boundaries():
    # Area averages exactly 95 and 191 occur ((63+127)/2, (127+255)/2) and stay in the lower class.
    values = np.array([95.0, 95.0001, 191.0, 191.0001], dtype=np.float32)
    assert qm.quantise(values).tolist() == [63, 127, 127, 255]


def test_combine_follows_void_stage4():
    black = np.array([0, 255, 0, 255, 0], np.uint8)
    grey = np.array([255, 127, 127, 255, 64], np.uint8)
    assert qm.combine(black, grey).tolist() == [0, 127, 63, 255, 255]


def test_first_frame_rule_clears_affected_but_keeps_overlap():
    frame0 = np.array([0, 63, 127, 255], np.uint8)
    assert qm.clear_affected_on_first_frame(frame0).tolist() == [0, 63, 255, 255]


def test_primary_and_affected_classes():
    quad = np.array([0, 63, 127, 255], np.uint8)
    assert qm.primary(quad).tolist() == [True, True, False, False]
    assert qm.affected(quad).tolist() == [False, True, True, False]
    assert qm.to_edit(quad).tolist() == [True, True, True, False]


@pytest.mark.parametrize(
    ("size", "grid"), [((1920, 1080), (8, 14)), ((3840, 2160), (8, 14)), ((384, 384), (8, 8)),
                       ((1080, 1920), (14, 8)), ((4096, 2160), (8, 15))],
)
def test_grid_shape_gives_eight_cells_on_the_short_side(size, grid):
    assert qm.grid_shape(*size) == grid


def test_gridify_fills_whole_cells_touched_by_any_pixel():
    grey = np.full((80, 140), 255, np.uint8)  # 8 x 14 grid of 10 x 10 cells
    grey[25, 47] = 127  # one pixel in row 2, column 4
    out = qm.gridify(grey)
    assert (out[20:30, 40:50] == 127).all()
    assert (out == 127).sum() == 100
    assert set(np.unique(out)) == {127, 255}


def test_gridify_stack_keeps_frames_independent():
    grey = np.full((2, 80, 140), 255, np.uint8)
    grey[1, 0, 0] = 127
    out = qm.gridify(grey)
    assert (out[0] == 255).all() and (out[1, :10, :10] == 127).all()


@pytest.mark.parametrize(("width", "band"), [(640, 15), (1920, 19), (3840, 38), (4096, 40)])
def test_band_is_max_of_15_px_and_one_percent_of_width(width, band):
    assert qm.band_width(width) == band


def test_dilate_grows_by_the_radius_and_no_further():
    mask = np.zeros((41, 41), bool)
    mask[20, 20] = True
    grown = qm.dilate(mask, 5)
    assert grown[20, 25] and grown[15, 20] and not grown[20, 26] and not grown[26, 26]


def test_conditioning_levels_match_void_pass1():
    quad = np.array([0, 63, 127, 255], np.uint8)
    levels = qm.conditioning_levels(quad)
    assert levels[0] == 0.0 and levels[1] == 0.0 and levels[3] == 1.0
    assert levels[2] == np.float32(1.0) - np.float32(127 / 255)  # 0.50196075, ~128/255
    assert abs(levels[2] - 128 / 255) < 1e-7


@pytest.mark.parametrize(
    ("frames", "length"), [(1, 85), (46, 85), (85, 85), (86, 93), (121, 125), (161, 165), (197, 197), (400, 197)],
)
def test_padded_length_table_from_void(frames, length):
    assert qm.padded_length(frames) == length


def test_mirror_indices_repeat_the_last_frame():
    assert qm.mirror_indices(9, 13).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 7, 6, 5]


def test_value_probe_table_matches_void_for_every_byte():
    table = np.load(GOLDEN / "value_probe.npz")["table"]
    values = table[:, 0].astype(np.uint8)
    after_input = qm.invert_scale(qm.quantise(values))
    after_thresholds = qm.pipeline_thresholds(after_input)
    np.testing.assert_array_equal(after_input, table[:, 1])
    np.testing.assert_array_equal(after_thresholds, table[:, 2])
    np.testing.assert_array_equal(qm.vae_mask_input(after_thresholds), table[:, 3])


def test_mask_chain_reproduces_void_bit_for_bit():
    gold = np.load(GOLDEN / "mask_chain.npz")
    resized = qm.area_resize(gold["quadmask_raw"], 32, 56)
    np.testing.assert_array_equal(resized, gold["mask_area_resized"])

    inverted = qm.invert_scale(qm.quantise(resized))
    order = qm.mirror_indices(9, qm.padded_length(9, window=9))
    padded = inverted[order][None, None]
    np.testing.assert_array_equal(padded, gold["mask_after_get_input"])

    thresholded = qm.pipeline_thresholds(padded)
    np.testing.assert_array_equal(thresholded, gold["mask_after_pipeline_thresholds"])
    vae_in = np.repeat(qm.vae_mask_input(thresholded), 3, axis=1)
    np.testing.assert_array_equal(vae_in, gold["vae_mask_input"])


def test_area_resize_of_video_matches_void():
    gold = np.load(GOLDEN / "mask_chain.npz")
    video = qm.area_resize(gold["video_raw"], 32, 56, channels_last=True) / np.float32(255.0)
    order = qm.mirror_indices(9, 13)
    got = np.moveaxis(video[order], -1, 0)[None]
    np.testing.assert_allclose(got, gold["video_after_get_input"], rtol=0, atol=1e-6)
