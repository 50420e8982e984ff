"""The classical engine's pieces on small synthetic inputs with known answers."""

from dataclasses import replace

import numpy as np
import pytest

from void_core.composite import Feather, edit_box
from void_core.inpaint.base import Frame, ShotFrames
from void_core.inpaint.classical import ClassicalInpainter
from void_core.inpaint.classical import engine as engine_module
from void_core.inpaint.classical.blend import membrane
from void_core.inpaint.classical.exposure import fit_exposure
from void_core.inpaint.classical.grain import grain_sigma, regrain
from void_core.inpaint.classical.patchfill import fill_patches
from void_core.inpaint.classical.sightings import SightingBuffer


def _texture(height, width, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = 0.5 + 0.2 * np.sin(xx / 3.0)[..., None] * np.array([1.0, 0.6, 0.3])
    return (base + rng.normal(0, 0.05, (height, width, 3))).clip(0, 1).astype(np.float32)


def test_exposure_fit_recovers_a_known_gain_and_offset():
    rng = np.random.default_rng(1)
    estimate = rng.random((5000, 3)).astype(np.float32)
    gain, offset = np.array([1.2, 0.9, 1.05]), np.array([-0.03, 0.02, 0.0])
    frame = estimate * gain + offset + rng.normal(0, 0.01, estimate.shape)
    frame[:200] = 1.0  # a highlight that is not exposure: the robust fit ignores it
    fitted = fit_exposure(estimate, frame.astype(np.float32))
    np.testing.assert_allclose(fitted.gain, gain, atol=0.01)
    np.testing.assert_allclose(fitted.offset, offset, atol=0.01)


def test_patch_fill_continues_a_periodic_texture_across_a_hole():
    yy, xx = np.mgrid[0:96, 0:96]
    stripes = ((xx // 4) % 2 == 0)[..., None] * np.array([0.8, 0.2, 0.2]) + 0.1
    truth = stripes.astype(np.float32)
    known = np.ones((96, 96), bool)
    known[30:66, 30:66] = False
    image = np.where(known[..., None], truth, 0.0).astype(np.float32)
    filled = fill_patches(image, known, patch=7, seed=3)
    hole = ~known
    error = np.abs(filled[hole] - truth[hole]).mean()
    blur = np.abs(truth[hole].mean(axis=0) - truth[hole]).mean()  # what a smooth fill scores
    assert error < 0.15 * blur
    np.testing.assert_array_equal(filled[known], truth[known])


def test_patch_fill_takes_no_colour_from_outside_the_known_pixels():
    rng = np.random.default_rng(0)
    image = (0.4 + 0.1 * rng.random((80, 80, 3))).astype(np.float32)
    known = np.ones((80, 80), bool)
    known[25:55, 25:55] = False
    image[20:60, 20:60][~known[20:60, 20:60]] = (1.0, 0.0, 1.0)  # foreground left in the hole
    filled = fill_patches(image, known)
    assert filled[~known].max() <= 0.5 + 1e-4 and filled[~known].min() >= 0.4 - 1e-4


def test_membrane_leaves_no_step_at_the_boundary():
    h, w = 64, 80
    yy, xx = np.mgrid[0:h, 0:w]
    hole = (yy - 32) ** 2 + ((xx - 40) * 0.8) ** 2 < 20 ** 2
    ring = ~hole & ((yy - 32) ** 2 + ((xx - 40) * 0.8) ** 2 < 24 ** 2)
    difference = np.stack([0.1 + 0.002 * xx, -0.05 + 0.001 * yy, np.full(xx.shape, 0.02)], -1)
    correction = membrane(difference.astype(np.float32), ring, hole, smoothing=1.0)
    inner_edge = hole & ~np.roll(hole, 1, 0) | hole & ~np.roll(hole, -1, 0)
    step = np.abs(correction[inner_edge] - difference[inner_edge]).max()
    assert step < 0.01  # the boundary difference is 0.02 to 0.25: a constant shift would step
    # A linear field is harmonic: the membrane reproduces it inside too.
    assert np.abs(correction[hole] - difference[hole]).max() < 0.01


def test_sighting_buffer_keeps_an_even_sample_and_a_robust_median():
    buffer = SightingBuffer((1, 1), slots=4)
    for value in range(16):
        buffer.add(np.full((1, 1, 3), value, np.float32), np.ones((1, 1), bool), value)
    kept = buffer.values[: buffer.kept[0, 0], 0, 0, 0].tolist()
    assert kept == [0.0, 4.0, 8.0, 12.0]  # every fourth: spread over the shot, not the first four
    assert buffer.spacing[0, 0] == 4 and buffer.times[:4, 0, 0].tolist() == [0, 4, 8, 12]


def test_changed_affected_pixels_keep_their_early_state():
    buffer = SightingBuffer((1, 2), slots=16)
    for t, value in enumerate([0.2] * 5 + [0.7] * 10):  # a pushed box left: mostly the floor
        buffer.add(np.full((1, 2, 3), value, np.float32), np.ones((1, 2), bool), t)
    estimate = buffer.estimate(change=0.1, affected=np.array([[True, False]]))
    assert estimate[0, 0, 0] == pytest.approx(0.2, abs=1e-3)  # affected: the state before
    assert estimate[0, 1, 0] == pytest.approx(0.7, abs=1e-3)  # elsewhere: the majority


def test_grain_is_measured_and_regrain_matches_it():
    rng = np.random.default_rng(2)
    plate = (0.5 + rng.normal(0, 0.02, (128, 128, 3))).astype(np.float32)
    sigma = grain_sigma(plate, np.ones((128, 128), bool))
    np.testing.assert_allclose(sigma, 0.02, rtol=0.1)
    flat = np.full((128, 128, 3), 0.5, np.float32)
    grained = regrain(flat, np.ones((128, 128), bool), sigma, seed=0)
    np.testing.assert_allclose(grain_sigma(grained, np.ones((128, 128), bool)), sigma, rtol=0.1)


def _still_shot(frames, hole, noise, seed=0):
    rng = np.random.default_rng(seed)
    h, w = hole.shape
    scene = (_texture(h, w, seed) * 255).astype(np.uint8)
    quad = np.full((h, w), 255, np.uint8)
    quad[hole] = 0
    feather = Feather.for_width(w)
    box = edit_box(quad).grown(feather.band + 16, h, w)
    plates = [np.clip(scene + rng.normal(0, noise, scene.shape), 0, 255).astype(np.uint8)
              for _ in range(frames)]

    def stream():
        return (Frame(i, plate, quad) for i, plate in enumerate(plates))

    return ShotFrames(width=w, height=h, frame_count=frames, boxes=(box,) * frames, feather=feather,
                      stream=stream, to_display=lambda raw: raw.astype(np.float32) / 255.0)


def test_a_static_hole_on_a_still_camera_gets_the_same_fill_in_every_frame():
    hole = np.zeros((96, 128), bool)
    hole[30:60, 40:80] = True  # no frame ever shows what is behind it
    engine = ClassicalInpainter(match_tone=False)
    fills = [fill.display for fill in engine.inpaint(_still_shot(6, hole, noise=3.0))]
    assert engine.track.static
    assert engine.stats.spatial_share == pytest.approx(1.0, abs=1e-3)
    inside = hole[edit_box(np.where(hole, 0, 255).astype(np.uint8)).grown(
        Feather.for_width(128).band + 16, 96, 128).slices]
    for display in fills[1:]:
        np.testing.assert_array_equal(display[inside], fills[0][inside])


def test_exposure_matching_follows_the_frame_without_flicker_from_noise():
    hole = np.zeros((96, 128), bool)
    hole[30:60, 40:80] = True
    shot = _still_shot(6, hole, noise=3.0)
    engine = ClassicalInpainter()
    fills = [fill.display for fill in engine.inpaint(shot)]
    box = shot.boxes[0]
    inside = hole[box.slices]
    centre = [display[inside].mean(axis=0) for display in fills]
    assert np.ptp(centre, axis=0).max() < 1.0 / 255  # well under a code value between frames


def test_sightings_written_as_planes_or_scattered_are_the_same():
    """Few distinct counts are written plane by plane, many by one scatter: same buffer."""
    rng = np.random.default_rng(5)
    frames = [(rng.random((40, 50, 3), np.float32), rng.random((40, 50)) > 0.3) for _ in range(12)]
    scattered = SightingBuffer((40, 50), slots=8)
    for t, (pixels, valid) in enumerate(frames):
        scattered.add(pixels, valid, t)  # counts spread out: the scatter path
    assert len(np.unique(scattered.kept)) > 2 and scattered._thinned
    by_pixel = SightingBuffer((40, 50), slots=8)  # reference: one pixel (one plane) at a time
    for t, (pixels, valid) in enumerate(frames):
        for y, x in zip(*np.nonzero(valid), strict=True):
            one = np.zeros((40, 50), bool)
            one[y, x] = True
            by_pixel.add(pixels, one, t)
    np.testing.assert_array_equal(scattered.values, by_pixel.values)
    np.testing.assert_array_equal(scattered.times, by_pixel.times)
    np.testing.assert_array_equal(scattered.kept, by_pixel.kept)


def _counting(shot):
    """`shot` whose stream counts the frames it decodes."""
    decoded = []

    def stream():
        for frame in shot.stream():
            decoded.append(frame.index)
            yield frame

    return replace(shot, stream=stream), decoded


def test_the_background_pass_reads_the_region_kept_by_the_motion_pass(monkeypatch):
    hole = np.zeros((96, 128), bool)
    hole[30:60, 40:80] = True
    fresh = [fill.display for fill in ClassicalInpainter().inpaint(_still_shot(6, hole, noise=3.0))]
    shot, decoded = _counting(_still_shot(6, hole, noise=3.0))
    kept = [fill.display for fill in ClassicalInpainter().inpaint(shot)]
    assert len(decoded) == 2 * 6  # motion and fill passes; the background read the kept crops
    for a, b in zip(fresh, kept, strict=True):
        np.testing.assert_array_equal(a, b)
    monkeypatch.setattr(engine_module, "_REGION_CACHE_BYTES", 1000)  # too small: decode again
    shot, decoded = _counting(_still_shot(6, hole, noise=3.0))
    again = [fill.display for fill in ClassicalInpainter().inpaint(shot)]
    assert len(decoded) == 3 * 6
    for a, b in zip(fresh, again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_failing_region_file_falls_back_to_decoding(monkeypatch):
    """A full temporary disk while the motion pass keeps the region: decode again, same fill."""
    import tempfile

    class FullDisk:
        def write(self, data):
            raise OSError(28, "No space left on device")

        def close(self):
            pass

    hole = np.zeros((96, 128), bool)
    hole[30:60, 40:80] = True
    fresh = [fill.display for fill in ClassicalInpainter().inpaint(_still_shot(4, hole, noise=3.0))]
    monkeypatch.setattr(tempfile, "TemporaryFile", lambda **_: FullDisk())
    shot, decoded = _counting(_still_shot(4, hole, noise=3.0))
    fills = [fill.display for fill in ClassicalInpainter().inpaint(shot)]
    assert len(decoded) == 3 * 4
    for a, b in zip(fresh, fills, strict=True):
        np.testing.assert_array_equal(a, b)
