"""Flow-warped noise for VOID's pass 2: transport keeps the noise i.i.d. N(0, 1), follows the
motion (exactly for translations, including sub-pixel ones), and reaches latent resolution
without changing its variance."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from void_core.errors import InputError
from void_core.inpaint.void.warped_noise import (
    DisFlow,
    RaftFlow,
    initial_state,
    latent_frame_sources,
    make_flow_estimator,
    pool_to_latent,
    transport,
    warped_noise_latents,
)

H, W = 96, 128


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def constant_flow(dx: float, dy: float, height: int = H, width: int = W) -> np.ndarray:
    flow = np.zeros((height, width, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    return flow


def zoom_flow(rate: float) -> np.ndarray:
    """Expansion (rate > 0) or contraction (rate < 0) about the frame's centre."""
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    return np.stack([(xs - W / 2) * rate, (ys - H / 2) * rate], axis=-1)


def swirl_flow() -> np.ndarray:
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    return np.stack([np.sin(ys / 9.0) * 2.7, np.cos(xs / 13.0) * 1.9 + 0.4], axis=-1)


def assert_standard_normal(noise: torch.Tensor):
    """Mean 0, std 1, the normal's share within one sigma, no correlation between neighbours:
    each within 5 standard errors for this many samples (all assumed independent)."""
    values = noise.flatten().double()
    error = 5 / np.sqrt(values.numel())
    assert abs(values.mean().item()) < error
    assert abs(values.std().item() - 1.0) < error / np.sqrt(2)
    assert abs((values.abs() < 1).double().mean().item() - 0.6827) < error * 0.47
    for a, b in ((noise[..., :-1], noise[..., 1:]), (noise[..., :-1, :], noise[..., 1:, :])):
        correlation = np.corrcoef(a.flatten().numpy(), b.flatten().numpy())[0, 1]
        assert abs(correlation) < error


def textured_video(frames: int, height: int, width: int, step: tuple[int, int]) -> torch.Tensor:
    """A smooth random texture translating by `step` (dx, dy) pixels per frame: (1, 3, F, h, w)."""
    rng = np.random.default_rng(5)
    margin = frames * max(abs(s) for s in step) + 2
    canvas = rng.random((height + 2 * margin, width + 2 * margin, 3)).astype(np.float32)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 2.0)
    canvas = (canvas - canvas.min()) / (canvas.max() - canvas.min())
    clips = []
    for index in range(frames):
        top, left = margin - index * step[1], margin - index * step[0]
        clips.append(canvas[top : top + height, left : left + width])
    return torch.from_numpy(np.stack(clips)).permute(3, 0, 1, 2)[None]


# --- transport -------------------------------------------------------------------------------


def test_zero_flow_leaves_the_noise_unchanged():
    state = initial_state(16, H, W, generator())
    moved = transport(state, constant_flow(0, 0), generator(1))
    assert torch.equal(moved.noise, state.noise)
    assert torch.equal(moved.offset, state.offset)


def test_integer_translation_shifts_the_noise_and_fills_the_entering_edge_fresh():
    state = initial_state(4, H, W, generator())
    moved = transport(state, constant_flow(3, -2), generator(1))
    assert torch.equal(moved.noise[:, : H - 2, 3:], state.noise[:, 2:, : W - 3])
    fresh = torch.randn(4, H, W, generator=generator(1))
    assert torch.equal(moved.noise[:, :, :3], fresh[:, :, :3])
    assert torch.equal(moved.noise[:, H - 2 :], fresh[:, H - 2 :])


def test_sub_pixel_motion_accumulates_instead_of_rounding_away():
    """0.3 px per frame is below half a pixel, so plain nearest-pixel warping would never move;
    carried offsets move the noise by exactly 3 px in 10 frames."""
    state = start = initial_state(2, H, W, generator())
    gen = generator(1)
    for _ in range(10):
        state = transport(state, constant_flow(0.3, 0), gen)
    assert torch.equal(state.noise[:, :, 8:], start.noise[:, :, 5 : W - 3])


def test_converging_samples_are_summed_and_divided_by_sqrt_count():
    state = initial_state(3, H, W, generator())
    flow = constant_flow(0, 0)
    flow[:, 1, 0] = -1  # column 1 moves onto column 0
    moved = transport(state, flow, generator(1))
    expected = (state.noise[:, :, 0] + state.noise[:, :, 1]) / np.sqrt(2)
    assert torch.allclose(moved.noise[:, :, 0], expected, atol=1e-6)
    assert torch.equal(moved.noise[:, :, 2:], state.noise[:, :, 2:])
    assert torch.equal(moved.noise[:, :, 1], torch.randn(3, H, W, generator=generator(1))[:, :, 1])


@pytest.mark.parametrize(
    "flow", [zoom_flow(0.04), zoom_flow(-0.04), swirl_flow()], ids=["zoom-in", "zoom-out", "swirl"]
)
def test_warping_keeps_the_noise_iid_standard_normal(flow):
    state = initial_state(16, H, W, generator())
    gen = generator(1)
    for _ in range(12):
        state = transport(state, flow, gen)
    assert_standard_normal(state.noise)


def test_warped_noise_follows_the_motion():
    """After a swirl step most pixels hold exactly one moved sample: the noise is correlated with
    the previous frame along the flow, not redrawn."""
    state = initial_state(16, H, W, generator())
    moved = transport(state, swirl_flow(), generator(1))
    ys, xs = np.mgrid[0:H, 0:W]
    flow = swirl_flow()
    tx = np.floor(xs + flow[..., 0] + 0.5).astype(int)
    ty = np.floor(ys + flow[..., 1] + 0.5).astype(int)
    inside = (tx >= 0) & (tx < W) & (ty >= 0) & (ty < H)
    carried = moved.noise[:, ty[inside], tx[inside]]
    same = (carried == state.noise[:, ys[inside], xs[inside]]).all(0).float().mean().item()
    assert same > 0.7


# --- latent resolution -----------------------------------------------------------------------


def test_pooling_is_a_block_sum_over_sqrt_of_its_size_and_keeps_unit_variance():
    noise = torch.randn(16, H, W, generator=generator())
    pooled = pool_to_latent(noise, 8)
    assert pooled.shape == (16, H // 8, W // 8)
    assert torch.allclose(pooled[3, 2, 5], noise[3, 16:24, 40:48].sum() / 8, atol=1e-5)
    big = pool_to_latent(torch.randn(16, 8 * 96, 8 * 128, generator=generator(2)), 8)
    assert_standard_normal(big)


def test_pooling_rejects_sizes_not_divisible_by_the_factor():
    with pytest.raises(ValueError, match="divisible"):
        pool_to_latent(torch.zeros(1, 12, 16), 8)


@pytest.mark.parametrize(
    ("frames", "expected"), [(1, [0]), (13, [0, 4, 8, 12]), (85, list(range(0, 85, 4)))]
)
def test_each_latent_takes_the_last_frame_of_its_group(frames, expected):
    assert latent_frame_sources(frames).tolist() == expected


def test_latent_noise_shape_and_statistics_for_a_static_shot():
    """A static shot repeats the same noise in every frame; subsampling time keeps std 1 where
    sum-pooling 4 correlated frames / 2 would give std 2."""
    video = torch.full((1, 3, 13, 64, 96), 0.5)
    latents = warped_noise_latents(video, generator=generator(), flow=DisFlow())
    assert latents.shape == (1, 4, 16, 8, 12) and latents.dtype == torch.float32
    for index in range(1, 4):
        assert torch.equal(latents[0, index], latents[0, 0])
    large = warped_noise_latents(torch.full((1, 3, 5, 384, 384), 0.5), generator=generator(1))
    assert torch.equal(large[0, 1], large[0, 0])
    assert_standard_normal(large[0, 0])


def test_latent_noise_moves_with_a_panning_shot_tracked_by_dis():
    """8 px per frame to the right = 4 latent pixels per latent frame (4 frames)."""
    video = textured_video(9, 96, 160, step=(8, 0))
    latents = warped_noise_latents(video, generator=generator(), flow=DisFlow())[0]
    assert latents.shape == (3, 16, 12, 20)
    for latent in latents:
        assert_standard_normal(latent)
    for index in range(1, 3):
        now, before = latents[index, :, 2:-2, 8:-2], latents[index - 1, :, 2:-2, 4:-6]
        correlation = np.corrcoef(now.flatten().numpy(), before.flatten().numpy())[0, 1]
        assert correlation > 0.9


def test_same_generator_same_noise_other_seed_other_noise():
    video = textured_video(9, 48, 64, step=(1, 2))
    first = warped_noise_latents(video, generator=generator(7))
    again = warped_noise_latents(video, generator=generator(7))
    other = warped_noise_latents(video, generator=generator(8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_latent_count_can_be_given_and_batches_are_refused():
    video = textured_video(9, 48, 64, step=(1, 0))
    assert warped_noise_latents(video, generator=generator(), latent_frames=2).shape[1] == 2
    with pytest.raises(ValueError, match="one clip"):
        warped_noise_latents(torch.zeros(2, 3, 5, 16, 16), generator=generator())


# --- flow estimators -------------------------------------------------------------------------


def test_dis_is_the_default_without_raft_weights():
    assert isinstance(make_flow_estimator(None), DisFlow)
    assert isinstance(make_flow_estimator(""), DisFlow)


def test_dis_measures_a_translation():
    video = textured_video(2, 96, 160, step=(3, -2))
    frames = video[0].permute(1, 2, 3, 0).numpy()
    flow = DisFlow()(frames[0], frames[1])
    assert flow.shape == (96, 160, 2)
    interior = flow[16:-16, 16:-16]
    assert np.allclose(np.median(interior.reshape(-1, 2), axis=0), [3, -2], atol=0.25)


def test_raft_loads_local_weights_and_returns_flow_at_frame_size(tmp_path):
    """Random-weight RAFT-small saved as a .pth: the plumbing (load, pad to RAFT's 128 px
    minimum, crop back), not the flow's quality."""
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    weights = tmp_path / "raft_small.pth"
    torch.save(raft_small(weights=None, progress=False).state_dict(), weights)
    raft = make_flow_estimator(weights, raft_variant="small")
    assert isinstance(raft, RaftFlow)
    raft.num_flow_updates = 2
    frames = textured_video(2, 40, 72, step=(1, 0))[0].permute(1, 2, 3, 0).numpy()
    flow = raft(frames[0], frames[1])
    assert flow.shape == (40, 72, 2) and flow.dtype == np.float32
    assert np.isfinite(flow).all()


def test_raft_errors_name_the_weights_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        RaftFlow(tmp_path / "missing.pth")
    from torchvision.models.optical_flow import raft_small

    weights = tmp_path / "small.pth"
    torch.save(raft_small(weights=None, progress=False).state_dict(), weights)
    with pytest.raises(InputError, match="RAFT-large"):
        RaftFlow(weights, variant="large")


def test_frame_order_reads_frames_in_place_and_a_repeated_frame_keeps_its_noise():
    video = textured_video(6, 48, 64, step=(2, 1))
    order = [0, 2, 1, 3, 5]
    in_place = warped_noise_latents(video, generator=generator(3), frame_order=order,
                                    latent_frames=5)
    copied = warped_noise_latents(video[:, :, order], generator=generator(3), latent_frames=5)
    assert torch.equal(in_place, copied)
    held = warped_noise_latents(video, generator=generator(3), frame_order=[0, 1, 1, 2, 3],
                                latent_frames=5)
    assert torch.equal(held[0, 2], held[0, 1])
    assert not torch.equal(held[0, 1], held[0, 0])
