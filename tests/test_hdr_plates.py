"""Scene-linear HDR plates: the shaper, values it cannot carry, and a whole HDR shot."""

import cv2
import numpy as np
import pytest

from void_core import quadmask
from void_core.composite import paste
from void_core.media import shaper
from void_core.media.exr import read_exr_frame, write_exr_frame
from void_core.media.plate_values import ShotValues, frame_values
from void_core.pipeline import ShotRequest, process_shot, resolve_shot_folder
from void_core.synth.hdr import FIRST_FRAME, write_hdr_shot


def run(folder, out, name="hdr010"):
    request = ShotRequest(inputs=resolve_shot_folder(folder), out_root=out, name=name)
    return process_shot(request)


def output_frame(out, index, name="hdr010"):
    return read_exr_frame(out / name / f"{name}.{FIRST_FRAME + index}.exr")


def untouched(mask: np.ndarray) -> np.ndarray:
    keep = (mask == quadmask.KEEP).astype(np.uint8)
    distance = cv2.distanceTransform(keep, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return distance >= quadmask.band_width(mask.shape[1])


# --- the shaper ---------------------------------------------------------------------------------

def test_shaper_round_trips_linear_light_across_its_range():
    linear = np.concatenate([np.linspace(0, 0.01, 100, endpoint=False), np.geomspace(0.01, shaper.LINEAR_MAX, 400)])
    codes = shaper.encode(linear)
    assert codes.min() == pytest.approx(shaper.BLACK_CODE) and codes.max() == pytest.approx(1.0)
    assert np.all(np.diff(codes) > 0)
    np.testing.assert_allclose(shaper.decode(codes), linear, rtol=2e-5, atol=1e-7)


def test_shaper_is_the_acescct_curve_of_opencolorio():
    ocio = pytest.importorskip("PyOpenColorIO")
    config = ocio.Config.CreateFromFile("ocio://studio-config-latest")
    processor = config.getProcessor("ACEScg", "ACEScct").getDefaultCPUProcessor()
    linear = np.geomspace(1e-4, shaper.LINEAR_MAX, 300, dtype=np.float32)
    rgb = np.repeat(linear[:, None], 3, axis=1).copy()
    processor.applyRGB(rgb)
    np.testing.assert_allclose(shaper.encode(linear), rgb[:, 0], atol=2e-6)


def test_shaper_keeps_nan_inf_and_negatives_out_of_the_engines_and_the_fill():
    codes = shaper.encode(np.array([np.nan, np.inf, -np.inf, -3.0, 1e6], np.float32))
    assert codes.tolist() == pytest.approx([shaper.BLACK_CODE] * 4 + [1.0])
    linear = shaper.decode(np.array([np.nan, -0.5, 0.0, 2.0, np.inf], np.float32))
    assert np.all(np.isfinite(linear)) and linear.min() == 0.0
    assert linear.max() == pytest.approx(shaper.LINEAR_MAX)


# --- values the shaper cannot carry --------------------------------------------------------------

def test_frame_values_counts_pixels_not_channels():
    raw = np.ones((4, 5, 3), np.float16)
    raw[0, 0] = (np.nan, np.nan, 1)
    raw[0, 1, 2] = np.inf
    raw[1, 1] = (-0.1, -0.2, 0.5)
    raw[2, 2, 0] = 500
    raw[3, 3, 0] = 500
    quad = np.full((4, 5), quadmask.KEEP, np.uint8)
    quad[2, 2] = quadmask.PRIMARY
    values = frame_values(raw, quad)
    assert (values.non_finite, values.negative, values.over_range) == (2, 1, 1)


def test_shot_values_summary_names_frames_in_one_line():
    shot = ShotValues()
    for number in (1001, 1002, 1003, 1007):
        shot.add(number, frame_values(np.full((2, 2, 3), np.nan, np.float32),
                                      np.full((2, 2), quadmask.KEEP, np.uint8)))
    shot.add(1008, frame_values(np.ones((2, 2, 3), np.float32), np.zeros((2, 2), np.uint8)))
    line = shot.summary()
    assert "\n" not in line
    assert "16 NaN/Inf pixels in frames 1001-1003, 1007" in line
    assert "1008" not in line  # clean frames are not listed
    assert ShotValues().summary() is None


def test_paste_never_blends_a_nan_source_but_keeps_it_outside():
    source = np.ones((1, 4, 3), np.float16)
    source[0, :, 0] = np.nan
    fill = np.full((1, 4, 3), 2.0, np.float32)
    alpha = np.array([[0.0, 0.5, 1.0, 0.25]], np.float32)
    out = paste(source, fill, alpha)
    assert np.isnan(out[0, 0, 0])  # alpha 0: the plate's own bits
    assert out[0, 1:, 0].tolist() == [2.0, 2.0, 2.0]  # broken channel: the fill alone
    assert out[0, 1:, 1].tolist() == [1.5, 2.0, 1.25]  # sound channels blend as ever


# --- a whole shot ---------------------------------------------------------------------------------

def test_hdr_shot_keeps_the_light_behind_the_object(tmp_path):
    """Values up to 50 and a moving hole: the fill is in range and the rest untouched."""
    shot = write_hdr_shot(tmp_path / "hdr010", peak=50.0)
    run(shot.folder, tmp_path / "out")
    filled, truth, peak = [], [], 0.0
    for index, (hole, plate) in enumerate(zip(shot.holes, shot.plates, strict=True)):
        frame = output_frame(tmp_path / "out", index)
        filled.append(frame.rgb[hole].astype(np.float64))
        truth.append(shot.truth[hole].astype(np.float64))
        peak = max(peak, float(frame.rgb[hole].max()))
        mask = np.where(hole, quadmask.PRIMARY, quadmask.KEEP).astype(np.uint8)
        far = untouched(mask)
        assert np.array_equal(frame.rgb[far].view(np.uint16), plate[far].view(np.uint16))
        assert "ACEScct" in frame.header["void/engine_encoding"]
        assert frame.header["void/plate_values"] == "nan_inf=0 negative=0 over_range_in_mask=0"
    fill_mean, truth_mean = np.mean(np.concatenate(filled)), np.mean(np.concatenate(truth))
    assert abs(fill_mean - truth_mean) <= 0.02 * truth_mean
    assert peak > 10.0


def test_nan_negative_and_over_range_values_are_reported_and_never_filled(tmp_path):
    shot = write_hdr_shot(tmp_path / "hdr010", frames=6, peak=20.0)
    plates = []
    for index, (hole, plate) in enumerate(zip(shot.holes, shot.plates, strict=True)):
        plate = plate.copy()
        ys, xs = np.nonzero(hole)
        plate[ys[0], xs[0]] = np.nan  # inside the hole: the fill replaces it
        plate[ys[-1], xs[-1]] = 60000.0  # above the shaper's range inside the mask
        plate[1, 1] = (-0.25, np.inf, 0.5)  # far outside: kept bit for bit
        plate[2, 2] = -0.5
        if index == 3:  # a NaN beside the hole, inside the composite band
            plate[ys.min() - 2, xs[len(xs) // 2]] = np.nan
        write_exr_frame(shot.folder / "input" / f"plate.{FIRST_FRAME + index:04d}.exr", plate)
        plates.append(plate)
    result = run(shot.folder, tmp_path / "out")
    for index, (hole, plate) in enumerate(zip(shot.holes, plates, strict=True)):
        frame = output_frame(tmp_path / "out", index)
        mask = np.where(hole, quadmask.PRIMARY, quadmask.KEEP).astype(np.uint8)
        far = untouched(mask)
        assert np.array_equal(frame.rgb[far].view(np.uint16), plate[far].view(np.uint16))
        touched = frame.rgb[~far]
        assert np.all(np.isfinite(touched)) and touched.min() >= 0
        assert touched.max() <= shaper.LINEAR_MAX * 1.001
        assert frame.header["void/plate_values"].startswith(
            f"nan_inf={3 if index == 3 else 2} negative=1 over_range_in_mask=1")
    line = next(n for n in result.notes if n.startswith("plate values:"))
    assert "NaN/Inf pixels in frames 1001-1006" in line and "negative" in line
    assert f"above {shaper.LINEAR_MAX:.2f}" in line
