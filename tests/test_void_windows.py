"""VOID's temporal multidiffusion windows: the planner, the ramp weights and the blend."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from void_core.inpaint.void.windows import (
    LatentWindow,
    WindowBlender,
    latent_overlap,
    latent_window_length,
    plan_windows,
    window_weights,
)


def spans(latent_length: int, window: int = 8, overlap: int = 4) -> list[tuple[int, int]]:
    return [(w.start, w.stop) for w in plan_windows(latent_length, window, overlap)]


def blend(outputs: list[torch.Tensor], windows: list[LatentWindow], overlap: int, length: int):
    blender = WindowBlender(torch.zeros(1, length, 2, 3, 4))
    for index, (window, output) in enumerate(zip(windows, outputs)):
        blender.add(window, output, window_weights(windows, index, overlap, length))
    return blender.result()


def test_golden_geometry_14_latents_window_8():
    assert spans(14) == [(0, 8), (4, 12), (8, 14)]


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        (85, [(0, 22)]),
        (93, [(0, 22), (18, 24)]),
        (125, [(0, 22), (18, 32)]),
        (165, [(0, 22), (18, 40), (36, 42)]),
        (197, [(0, 22), (18, 40), (36, 50)]),
    ],
)
def test_voids_production_windows(frames, expected):
    window, overlap = latent_window_length(85), latent_overlap(16)
    assert (window, overlap) == (22, 4)
    assert spans(latent_window_length(frames), window, overlap) == expected


@pytest.mark.parametrize("latent_length", range(1, 80))
@pytest.mark.parametrize(("window", "overlap"), [(8, 4), (22, 4), (5, 0), (6, 2)])
def test_any_length_is_covered_by_chained_windows(latent_length, window, overlap):
    windows = plan_windows(latent_length, window, overlap)
    assert windows[0].start == 0 and windows[-1].stop == latent_length
    assert all(0 < w.length <= window for w in windows)
    for previous, current in zip(windows, windows[1:]):
        assert current.start == previous.stop - overlap
        assert previous.length == window


def test_ramp_weights_are_voids_float32_values():
    windows = plan_windows(14, 8, 4)
    ramp = [np.float32(v) for v in (0.2, 0.4, 0.6, 0.8)]
    expected = [
        [1, 1, 1, 1, *ramp[::-1]],
        [*ramp, *ramp[::-1]],
        [*ramp, 1, 1],
    ]
    for index, weights in enumerate(expected):
        got = window_weights(windows, index, 4, 14)
        assert got.dtype == torch.float32
        np.testing.assert_array_equal(got.numpy(), np.array(weights, np.float32))


def test_a_single_window_weighs_everything_one():
    assert torch.equal(window_weights(plan_windows(6, 8, 4), 0, 4, 6), torch.ones(6))


@pytest.mark.parametrize(("length", "window", "overlap"), [(14, 8, 4), (50, 22, 4), (31, 8, 4)])
def test_weights_sum_to_one_after_normalisation(length, window, overlap):
    windows = plan_windows(length, window, overlap)
    total = torch.zeros(length)
    for index, w in enumerate(windows):
        total[w.start : w.stop] += window_weights(windows, index, overlap, length)
    normalised = torch.zeros(length)
    for index, w in enumerate(windows):
        weights = window_weights(windows, index, overlap, length)
        normalised[w.start : w.stop] += weights / total[w.start : w.stop]
    torch.testing.assert_close(normalised, torch.ones(length), rtol=0, atol=1e-6)
    ones = [torch.ones(1, w.length, 2, 3, 4) for w in windows]
    assert torch.equal(blend(ones, windows, overlap, length), torch.ones(1, length, 2, 3, 4))


def test_one_window_and_several_agree_where_windows_do_not_overlap():
    length, overlap = 14, 4
    latents = torch.randn(1, length, 2, 3, 4, generator=torch.Generator().manual_seed(0))

    def denoise(part: torch.Tensor) -> torch.Tensor:
        # Depends on the whole window, as the transformer does.
        return part * 0.5 + part.mean(dim=1, keepdim=True)

    whole = denoise(latents)
    windows = plan_windows(length, 8, overlap)
    outputs = [denoise(latents[:, w.start : w.stop]) for w in windows]
    blended = blend(outputs, windows, overlap, length)
    assert torch.equal(blend([whole], plan_windows(length, 16, overlap), overlap, length), whole)
    # Latents 0-3 are only in window 0 and 12-13 only in window 2: their outputs pass unchanged.
    assert torch.equal(blended[:, :4], outputs[0][:, :4])
    assert torch.equal(blended[:, 12:], outputs[2][:, 4:])
    # With a per-latent (local) update the windowing changes nothing anywhere.
    local = [latents[:, w.start : w.stop] * 0.5 for w in windows]
    torch.testing.assert_close(blend(local, windows, overlap, length), latents * 0.5, rtol=0, atol=1e-6)


def test_blender_refuses_uncovered_frames():
    blender = WindowBlender(torch.zeros(1, 4, 1, 1, 1))
    blender.add(LatentWindow(0, 2), torch.ones(1, 2, 1, 1, 1), torch.ones(2))
    with pytest.raises(ValueError, match="no window"):
        blender.result()


@pytest.mark.parametrize(("length", "window", "overlap"), [(0, 8, 4), (14, 4, 4), (14, 8, -1)])
def test_planner_rejects_bad_geometry(length, window, overlap):
    with pytest.raises(ValueError):
        plan_windows(length, window, overlap)
