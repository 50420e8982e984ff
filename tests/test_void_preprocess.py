"""VOID's get_video_mask_input (quadmask branch) on small synthetic inputs; the golden vectors are
checked in test_void_golden.py."""

from __future__ import annotations

import numpy as np
import pytest

from void_core.inpaint.void.preprocess import prepare_inputs


def clip(frames: int, height: int = 16, width: int = 32):
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (frames, height, width, 3), dtype=np.uint8)
    mask = np.full((frames, height, width), 255, np.uint8)
    mask[:, 4:8, 4:12] = 0
    mask[1:, 8:12, 4:12] = 127
    return video, mask


def test_short_clip_pads_to_the_window_by_mirroring():
    video, mask = clip(6)
    prepared = prepare_inputs(video, mask, (16, 32), temporal_window_size=9)
    # 6 frames -> the next 4k+1 with k odd is 13.
    assert prepared.video.shape == (1, 3, 13, 16, 32) and prepared.mask.shape == (1, 1, 13, 16, 32)
    assert prepared.source_frames == 6
    # Source frames 0..5, then 5, 4, 3, ...
    np.testing.assert_array_equal(prepared.video[0, :, 6], prepared.video[0, :, 5])
    np.testing.assert_array_equal(prepared.video[0, :, 8], prepared.video[0, :, 3])


def test_mask_levels_are_inverted_and_scaled():
    video, mask = clip(5)
    prepared = prepare_inputs(video, mask, (16, 32), temporal_window_size=5)
    levels = sorted(np.unique(prepared.mask.numpy()).tolist())
    assert levels == [0.0, np.float32(128 / 255), 1.0]


def test_rgb_mask_uses_channel_zero():
    video, mask = clip(5)
    rgb = np.repeat(mask[..., None], 3, axis=-1)
    rgb[..., 1:] = 0
    a = prepare_inputs(video, mask, (8, 16), temporal_window_size=5)
    b = prepare_inputs(video, rgb, (8, 16), temporal_window_size=5)
    np.testing.assert_array_equal(a.mask.numpy(), b.mask.numpy())


def test_frames_beyond_max_video_length_are_dropped():
    video, mask = clip(30, 8, 16)
    prepared = prepare_inputs(video, mask, (8, 16), max_video_length=21, temporal_window_size=5)
    assert prepared.source_frames == 21 and prepared.video.shape[2] == 21


def test_mismatched_mask_is_rejected():
    video, mask = clip(5)
    with pytest.raises(ValueError, match="quadmask"):
        prepare_inputs(video, mask[:4], (16, 32))
