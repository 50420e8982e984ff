"""The CI stand-in for real footage (tests/real_clip.py): shape, determinism, and that it has
what real footage has: handheld motion, exposure drift, noise and lossy compression."""

import cv2
import numpy as np
import pytest

from real_clip import (FRAMES, HEIGHT, WIDTH, camera_move, clip_holes, make_clip, read_photo,
                       through_h264)
from void_core import metrics


@pytest.fixture(scope="module")
def clip():
    return make_clip()


def test_clip_is_rgb_frames_of_the_requested_size(clip):
    assert len(clip) == FRAMES
    assert all(frame.shape == (HEIGHT, WIDTH, 3) and frame.dtype == np.uint8 for frame in clip)


def test_clip_is_deterministic_and_the_seed_matters():
    first = make_clip(3, frames=6)
    assert all(np.array_equal(a, b) for a, b in zip(first, make_clip(3, frames=6), strict=True))
    assert not np.array_equal(first[-1], make_clip(4, frames=6)[-1])


def test_camera_shakes_by_subpixel_steps_and_drifts_a_few_pixels():
    move = camera_move(FRAMES, seed=0)
    steps = np.linalg.norm(np.diff(move.shifts, axis=0), axis=1)
    assert np.median(steps) < 1.0 and steps.max() < 2.5
    assert 1.0 < np.linalg.norm(move.shifts, axis=1).max() < 10.0
    assert 0.05 < np.abs(move.rolls).max() < 2.0  # degrees


def test_filmed_clip_moves_like_its_camera(clip):
    move = camera_move(FRAMES, seed=0)
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) for f in (clip[0], clip[-1])]
    (dx, dy), _ = cv2.phaseCorrelate(grey[0], grey[1])
    # the shift measured between the first and last frames is the camera's (the roll is small)
    assert np.hypot(dx - move.shifts[-1, 0], dy - move.shifts[-1, 1]) < 1.5


def test_exposure_and_white_balance_drift_per_frame():
    gains = camera_move(FRAMES, seed=0).gains
    assert np.ptp(gains.mean(axis=1)) > 0.01  # exposure
    assert np.ptp(gains[:, 0] / gains[:, 2]) > 0.005  # white balance


def test_compression_is_lossy_but_faithful():
    frames = [cv2.resize(read_photo("chelsea"), (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)] * 3
    decoded = through_h264(frames)
    assert not np.array_equal(decoded[0], frames[0])
    assert 30 < metrics.psnr(decoded[0], frames[0]) < 50


def test_holes_are_a_static_and_a_sliding_ellipse_inside_the_frame(clip):
    static, sliding = clip_holes(clip)
    assert (static.kind, sliding.kind) == ("static", "sliding")
    assert len(set(static.centres)) == 1 and static.frames == FRAMES
    area = static.mask(0).sum() / (WIDTH * HEIGHT)
    assert 0.017 < area < 0.023
    travel = abs(sliding.centres[-1][0] - sliding.centres[0][0])
    assert travel == pytest.approx(WIDTH / 3, rel=0.01)
    for hole in (static, sliding):
        for index in (0, hole.frames - 1):
            mask = hole.mask(index)
            edges = (mask[0], mask[-1], mask[:, 0], mask[:, -1])
            assert mask.any() and not any(edge.any() for edge in edges)
