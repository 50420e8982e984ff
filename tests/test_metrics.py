"""Metrics: known values on constructed images."""

import math

import numpy as np
import pytest

from void_core import metrics


def test_psnr_of_a_known_error():
    a = np.zeros((10, 10, 3), np.uint8)
    b = a.copy()
    b[...] = 3
    assert metrics.psnr(a, b) == pytest.approx(20 * math.log10(255 / 3))


def test_psnr_accepts_float_images_in_unit_range():
    a = np.zeros((4, 4, 3), np.float32)
    assert metrics.psnr(a, a + 3 / 255) == pytest.approx(38.588, abs=1e-3)


def test_psnr_region_and_identity():
    a = np.zeros((4, 4), np.uint8)
    b = a.copy()
    b[0, 0] = 255
    region = np.zeros((4, 4), bool)
    region[1:, 1:] = True
    assert metrics.psnr(a, b, region) == math.inf
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(16))
    assert math.isnan(metrics.psnr(a, b, np.zeros((4, 4), bool)))


def test_ssim_is_one_for_identical_and_lower_for_noise():
    rng = np.random.default_rng(0)
    image = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    def noisy(sigma):
        return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)

    assert metrics.ssim(image, image) == pytest.approx(1.0)
    assert 1.0 > metrics.ssim(image, noisy(10)) > metrics.ssim(image, noisy(60)) > 0.0


def test_temporal_error_is_zero_when_output_changes_like_the_reference():
    ref0, ref1 = np.zeros((8, 8)), np.full((8, 8), 10.0 / 255)
    region = np.ones((8, 8), bool)
    assert metrics.temporal_error(ref0, ref1, ref0, ref1, region) == 0
    assert metrics.temporal_error(ref0, ref0, ref0, ref1, region) == pytest.approx(10)


def test_iou_and_coverage():
    a = np.array([1, 1, 0, 0], bool)
    b = np.array([1, 0, 1, 0], bool)
    assert metrics.iou(a, b) == pytest.approx(1 / 3)
    assert metrics.coverage(a, b) == pytest.approx(0.5)
    assert metrics.nanmean([1.0, math.nan, 3.0]) == 2.0
