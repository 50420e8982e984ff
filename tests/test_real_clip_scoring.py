"""The real-footage benchmark's own pieces (benchmarks/fillbench) on inputs with known answers:
scores, the median baselines, and where holes may go."""

import math

import cv2
import numpy as np
import pytest

from benchmarks.fillbench import baselines, holes, scoring
from void_core.motion import MotionTrack


def _textured(height=64, width=96, seed=0):
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (5, 5), 1.5)


def _ellipse(shape, centre, axes=(12, 8)):
    mask = np.zeros(shape[:2], np.uint8)
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1, -1)
    return mask.astype(bool)


def test_a_perfect_fill_scores_perfectly():
    truths = [_textured(seed=i) for i in range(4)]
    masks = [_ellipse(truths[0].shape, (48, 32))] * 4
    scores = scoring.score_fill(truths, truths, masks)
    assert scores.psnr == math.inf and scores.ring_psnr == math.inf
    assert scores.ssim == pytest.approx(1.0) and scores.temporal == 0 and scores.hf_ratio == pytest.approx(1.0)


def test_a_constant_error_lowers_psnr_but_not_temporal_error():
    truths = [_textured(seed=i) // 2 + 60 for i in range(4)]
    masks = [_ellipse(truths[0].shape, (48, 32))] * 4
    off = [np.where(m[..., None], t + 5, t).astype(np.uint8) for t, m in zip(truths, masks)]
    scores = scoring.score_fill(off, truths, masks)
    assert scores.psnr == pytest.approx(20 * math.log10(255 / 5))
    assert scores.temporal == 0


def test_flicker_is_temporal_error():
    truth = (_textured() // 2 + 60).astype(np.int16)
    mask = _ellipse(truth.shape, (48, 32))
    flicker = [np.where(mask[..., None], truth + (4 if i % 2 else -4), truth).astype(np.uint8)
               for i in range(5)]
    assert scoring.temporal_error(flicker, [truth.astype(np.uint8)] * 5, [mask] * 5) == pytest.approx(8.0)


def test_smearing_lowers_the_high_frequency_ratio():
    truth = _textured()
    mask = _ellipse(truth.shape, (48, 32), (20, 14))
    smeared = np.where(mask[..., None], cv2.blur(truth, (9, 9)), truth)
    assert scoring.score_fill([smeared], [truth], [mask]).hf_ratio < 0.3


def test_masked_median_ignores_invalid_samples_and_averages_the_middle_pair():
    stack = np.array([10, 200, 30, 40, 250], np.uint8).reshape(5, 1, 1, 1).repeat(3, axis=3)
    valid = np.array([True, False, True, True, False]).reshape(5, 1, 1)
    median, seen = baselines.masked_median(stack, valid)
    assert seen.all() and np.all(median == 30)
    valid[3] = False
    median, _ = baselines.masked_median(stack, valid)
    assert np.all(median == 20)
    _, seen = baselines.masked_median(stack, np.zeros_like(valid))
    assert not seen.any()


def test_temporal_median_recovers_a_still_background_behind_a_sliding_hole():
    truth = _textured()
    masks = [_ellipse(truth.shape, (20 + 14 * i, 32)) for i in range(5)]
    clip = baselines.Clip([np.where(m[..., None], 0, truth).astype(np.uint8) for m in masks], masks, (0, 0))
    filled = baselines.temporal_median(clip)
    assert all(np.array_equal(f, truth) for f in filled[1:-1])  # every hole pixel seen elsewhere


def test_aligned_median_follows_the_camera():
    scene = _textured(96, 160)
    shifts = [0, 15, 30, 45, 60]  # the camera pans right by whole pixels
    frames = [scene[16:80, s:s + 96] for s in shifts]
    track = MotionTrack(tuple(np.array([[1.0, 0, s], [0, 1, 0], [0, 0, 1]]) for s in shifts))
    masks = [_ellipse(frames[0].shape, (48, 32))] * 5
    clip = baselines.Clip([np.where(m[..., None], 0, f).astype(np.uint8) for f, m in zip(frames, masks)],
                          masks, (0, 0))
    aligned = baselines.aligned_median(clip, track)
    plain = baselines.temporal_median(clip)
    assert np.array_equal(aligned[2], frames[2])
    assert scoring.score_fill(plain, frames, masks).psnr < 30


def test_holes_keep_off_the_object_and_inside_the_frame():
    width, height, frames = 320, 192, 8
    quadmask = np.full((height, width), 255, np.uint8)
    quadmask[:, :120] = 0  # an object over the left part of the frame
    survey = holes.ShotSurvey(width, height)
    rng = np.random.default_rng(0)
    still = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    for _ in range(frames):
        survey.add(still, quadmask)
    placed, notes = holes.place_shot_holes(survey, "test", frames)
    assert notes == [] and len(placed) == 4
    margin = holes.margin_px(width)
    for hole in placed:
        for index in range(frames):
            xs = np.nonzero(hole.mask(index))[1]
            assert xs.min() >= 120 + margin - 2  # coarse placement: within 2 px of the margin
    main_static, held_static = placed[0], placed[2]
    assert not (main_static.mask(0) & held_static.mask(0)).any()


def test_holes_are_deterministic_per_shot_name():
    survey = holes.ShotSurvey(256, 160)
    frame = _textured(160, 256)
    for _ in range(6):
        survey.add(frame, None)
    first, _ = holes.place_shot_holes(survey, "a", 6)
    assert first == holes.place_shot_holes(survey, "a", 6)[0]
    assert first != holes.place_shot_holes(survey, "b", 6)[0]
