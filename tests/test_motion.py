"""Camera motion on the background: homographies, chaining, locked-off shots."""

import cv2
import numpy as np
import pytest

from void_core.motion import MotionTracker, is_still


def _texture(height=360, width=640, seed=0):
    rng = np.random.default_rng(seed)
    small = rng.random((height // 8, width // 8, 3)).astype(np.float32)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def _shifted(image, dx, dy):
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REFLECT)


def test_pan_is_measured_to_a_tenth_of_a_pixel():
    scene = _texture(400, 800)
    tracker = MotionTracker(640, 360)
    for i in range(6):
        frame = _shifted(scene, -3.5 * i, -1.25 * i)[:360, :640]
        tracker.add(frame, np.ones((360, 640), bool))
    track = tracker.track()
    assert not track.static
    # Frame 5's pixel (x, y) shows scene point (x + 17.5, y + 6.25): in frame 0 space that's x + 17.5.
    point = cv2.perspectiveTransform(np.array([[[100.0, 100.0]]]), track.to_ref[5])[0, 0]
    assert point == pytest.approx([117.5, 106.25], abs=0.1)
    between = track.between(5, 2)
    moved = cv2.perspectiveTransform(np.array([[[50.0, 60.0]]]), between)[0, 0]
    assert moved == pytest.approx([60.5, 63.75], abs=0.1)


def test_masked_foreground_motion_is_ignored():
    scene = _texture()
    tracker = MotionTracker(640, 360)
    for i in range(5):
        frame = scene.copy()
        frame[100:220, 50 + 40 * i: 250 + 40 * i] = _texture(120, 200, seed=i + 1)  # a moving patch
        background = np.ones((360, 640), bool)
        background[90:230, 40 + 40 * i: 260 + 40 * i] = False
        tracker.add(frame, background)
    assert tracker.track().static


def test_textureless_frames_fall_back_to_still_and_are_counted():
    tracker = MotionTracker(320, 180)
    for _ in range(3):
        tracker.add(np.full((180, 320, 3), 0.5, np.float32), np.ones((180, 320), bool))
    assert tracker.untracked_frames == 2
    assert tracker.track().static


def test_is_still_threshold():
    assert is_still(np.eye(3), 100, 100)
    shift = np.eye(3)
    shift[0, 2] = 0.3
    assert not is_still(shift, 100, 100)


def test_drifting_water_does_not_move_a_locked_off_camera():
    # The water's fine texture gives the strongest corners, and they all agree on a drift of
    # 3 px a frame; the still wall above says the camera did not move.
    height, width = 360, 640
    wall = 0.2 + 0.6 * _texture(height, width, seed=0)
    water = np.kron(np.random.default_rng(1).random((height // 2, (width + 100) // 2, 3)),
                    np.ones((2, 2, 1))).astype(np.float32)
    water = cv2.GaussianBlur(water, (0, 0), 0.8)
    tracker = MotionTracker(width, height)
    for i in range(6):
        frame = wall.copy()
        frame[270:] = water[270:height, 3 * i:3 * i + width]
        tracker.add(frame.clip(0, 1), np.ones((height, width), bool))
    shifts = [abs(to_ref[0, 2]) for to_ref in tracker.track().to_ref]
    assert max(shifts) < 1.5
