"""VOID's pass 2 on the tiny random-weight models of tests/data/golden/void: any length in, the
same frame count out; CFG as VOID's pipeline does it; the three-level mask; determinism; the
pass-2 model directory. Frames are 16x32 with 13-frame windows (4 latents, 2 of overlap) and one
or two denoising steps, so each run takes about a second."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import CogVideoXTransformer3DModel

from void_core import quadmask as quad
from void_core.errors import InputError
from void_core.inpaint.void.load import load_void_models
from void_core.inpaint.void.pass2 import (
    latent_frame_count,
    load_pass2_models,
    make_pass2_noise,
    padded_frame_count,
    refine_pass1_result,
    run_pass2,
)
from void_core.inpaint.void.pipeline import predict_noise, rotary_embedding, run_pass1
from void_core.inpaint.void.windows import plan_windows

TINY = Path(__file__).parent / "data" / "golden" / "void" / "pipeline_pass1"
HEIGHT, WIDTH = 16, 32
WINDOW = dict(window_frames=13, stride_frames=8)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def shot(frames: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A random video (1, 3, F, 16, 32) and a quadmask with all four levels from frame 1 on."""
    video = torch.rand(1, 3, frames, HEIGHT, WIDTH, generator=seeded(seed))
    mask = torch.full((1, 1, frames, HEIGHT, WIDTH), quad.KEEP, dtype=torch.uint8)
    mask[..., 4:12, 4:12] = quad.PRIMARY
    mask[..., 1:, 4:12, 12:20] = quad.AFFECTED
    mask[..., 1:, 4:12, 10:12] = quad.OVERLAP
    return video, mask


@pytest.fixture(scope="module")
def models():
    return load_void_models(TINY)


@pytest.fixture(scope="module")
def embeds():
    prompt = torch.randn(1, 226, 32, generator=seeded(2))
    negative = torch.randn(1, 226, 32, generator=seeded(3))
    return prompt, negative


def refine(models, embeds, video, mask, *, seed=42, steps=1, guidance_scale=6.0, **extra):
    noise = make_pass2_noise(models, video.flip(2), generator=seeded(seed), window_frames=13)
    return run_pass2(
        models, video, mask, prompt_embeds=embeds[0], negative_prompt_embeds=embeds[1],
        warped_noise=noise, steps=steps, guidance_scale=guidance_scale, **WINDOW, **extra,
    )


@pytest.fixture(scope="module")
def short_run(models, embeds):
    return refine(models, embeds, *shot(9))


# --- geometry --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frames", "window", "padded"),
    [(9, 13, 13), (18, 13, 21), (40, 85, 85), (86, 85, 93), (197, 85, 197), (300, 85, 301)],
)
def test_padding_is_voids_with_no_upper_limit(frames, window, padded):
    assert padded_frame_count(frames, window) == padded
    assert latent_frame_count(frames, window) == (padded - 1) // 4 + 1
    assert latent_frame_count(frames, window) % 2 == 0


def test_short_shot_comes_back_with_its_frame_count_and_size(short_run):
    assert short_run.shape == (1, 3, 9, HEIGHT, WIDTH)
    assert short_run.min() >= 0 and short_run.max() <= 1


def test_multi_window_shot_comes_back_with_its_frame_count_and_size(models, embeds):
    """18 frames pad to 21 = 6 latents: windows [0, 4) and [2, 6). VOID's own pass 2 crashes on
    any shot longer than one window."""
    video, mask = shot(18, seed=1)
    seen = []
    out = refine(models, embeds, video, mask, steps=2,
                 on_step_end=lambda step, t, latents: seen.append(latents.shape))
    assert out.shape == (1, 3, 18, HEIGHT, WIDTH)
    assert seen == [(1, 6, 16, HEIGHT // 8, WIDTH // 8)] * 2
    assert [(w.start, w.stop) for w in plan_windows(6, 4, 2)] == [(0, 4), (2, 6)]


def test_noise_for_pass_2_has_the_padded_latent_shape(models):
    video, _ = shot(18)
    noise = make_pass2_noise(models, video, generator=seeded(0), window_frames=13)
    assert noise.shape == (1, latent_frame_count(18, 13), 16, HEIGHT // 8, WIDTH // 8)


# --- classifier-free guidance ----------------------------------------------------------------


def window_prediction(models, embeds, **guidance):
    latents = torch.randn(1, 4, 16, 2, 4, generator=seeded(5))
    inpaint = torch.randn(1, 4, 32, 2, 4, generator=seeded(6))
    scheduler = type(models.scheduler).from_config(models.scheduler.config)
    scheduler.set_timesteps(50)
    rope = rotary_embedding(models.transformer, 2, 4, 4, "cpu")
    with torch.no_grad():
        return predict_noise(models.transformer, scheduler, latents, inpaint, embeds[0],
                             scheduler.timesteps[10], rope, **guidance)


def test_guidance_one_on_the_cfg_batch_equals_the_conditional_prediction(models, embeds):
    conditional = window_prediction(models, embeds)
    batched = window_prediction(
        models, embeds, negative_prompt_embeds=embeds[1], guidance_scale=1.0
    )
    assert torch.allclose(batched, conditional, atol=1e-5)


def test_cfg_is_uncond_plus_scale_times_cond_minus_uncond(models, embeds):
    conditional = window_prediction(models, embeds)
    unconditional = window_prediction(models, (embeds[1], None))
    guided = window_prediction(models, embeds, negative_prompt_embeds=embeds[1], guidance_scale=6.0)
    assert not torch.allclose(conditional, unconditional, atol=1e-3)
    assert torch.allclose(guided, unconditional + 6.0 * (conditional - unconditional), atol=1e-4)


def test_guidance_one_is_pass_1_from_the_warped_noise(models, embeds):
    """Without CFG, pass 2 is VOID's pipeline started from the warped noise on the padded shot."""
    video, mask = shot(9, seed=4)
    noise = make_pass2_noise(models, video, generator=seeded(9), window_frames=13)
    refined = run_pass2(models, video, mask, prompt_embeds=embeds[0], negative_prompt_embeds=None,
                        warped_noise=noise, steps=1, guidance_scale=1.0, **WINDOW)
    order = torch.from_numpy(quad.mirror_indices(9, 13))
    mask01 = torch.from_numpy(quad.invert_scale(quad.quantise(mask.numpy())))
    plain = run_pass1(video[:, :, order], mask01[:, :, order], embeds[0], models,
                      num_inference_steps=1, latents=noise, **WINDOW)
    assert torch.equal(refined, plain.video[:, :, :9])


def test_guidance_changes_the_result(models, embeds, short_run):
    unguided = refine(models, embeds, *shot(9), guidance_scale=1.0)
    assert (unguided - short_run).abs().max() > 1e-3


# --- mask ------------------------------------------------------------------------------------


def test_three_levels_overlap_is_primary_affected_is_its_own_level(models, embeds, short_run):
    video, mask = shot(9)
    overlap_as_primary = mask.clone()
    overlap_as_primary[overlap_as_primary == quad.OVERLAP] = quad.PRIMARY
    assert torch.equal(refine(models, embeds, video, overlap_as_primary), short_run)
    affected_as_primary = mask.clone()
    affected_as_primary[affected_as_primary == quad.AFFECTED] = quad.PRIMARY
    assert (refine(models, embeds, video, affected_as_primary) - short_run).abs().max() > 1e-4


def test_binarize_mask_reproduces_voids_script_affected_becomes_primary(models, embeds):
    video, mask = shot(9)
    affected_as_primary = mask.clone()
    affected_as_primary[affected_as_primary == quad.AFFECTED] = quad.PRIMARY
    binary = refine(models, embeds, video, mask, binarize_mask=True)
    assert torch.equal(binary, refine(models, embeds, video, affected_as_primary))


def test_voids_float_mask_and_quadmask_values_give_the_same_result(models, embeds, short_run):
    video, mask = shot(9)
    mask01 = torch.from_numpy(quad.invert_scale(quad.quantise(mask.numpy())))
    assert torch.equal(refine(models, embeds, video, mask01), short_run)


# --- determinism and checks ------------------------------------------------------------------


def test_same_seed_same_result_other_seed_other_result(models, embeds):
    video, mask = shot(9, seed=7)
    pass1 = video.roll(1, dims=-1)
    settings = dict(prompt_embeds=embeds[0], negative_prompt_embeds=embeds[1], steps=1, **WINDOW)
    first = refine_pass1_result(models, video, mask, pass1, generator=seeded(1), **settings)
    again = refine_pass1_result(models, video, mask, pass1, generator=seeded(1), **settings)
    other = refine_pass1_result(models, video, mask, pass1, generator=seeded(2), **settings)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_inputs_are_checked(models, embeds):
    video, mask = shot(9)
    noise = make_pass2_noise(models, video, generator=seeded(0), window_frames=13)
    common = dict(prompt_embeds=embeds[0], steps=1, **WINDOW)
    with pytest.raises(ValueError, match="make_pass2_noise"):
        run_pass2(models, video, mask, negative_prompt_embeds=embeds[1],
                  warped_noise=noise[:, :2], **common)
    with pytest.raises(ValueError, match="negative_prompt_embeds"):
        run_pass2(models, video, mask, negative_prompt_embeds=None, warped_noise=noise, **common)
    with pytest.raises(ValueError, match="quadmask"):
        run_pass2(models, video, mask[:, :, :5], negative_prompt_embeds=embeds[1],
                  warped_noise=noise, **common)
    with pytest.raises(ValueError, match="uint8"):
        run_pass2(models, video, mask.float(), negative_prompt_embeds=embeds[1],
                  warped_noise=noise, **common)


# --- model directory -------------------------------------------------------------------------


def test_pass_2_transformer_loads_from_its_folder_and_shares_vae_and_scheduler(models, tmp_path):
    torch.manual_seed(11)
    pass2 = CogVideoXTransformer3DModel.from_config(models.transformer.config)
    pass2.save_pretrained(tmp_path / "transformer_pass2")
    loaded = load_pass2_models(tmp_path, shared=models)
    assert loaded.vae is models.vae and loaded.scheduler is models.scheduler
    assert loaded.transformer.config.in_channels == 48
    weight = loaded.transformer.patch_embed.proj.weight
    assert torch.equal(weight, pass2.patch_embed.proj.weight)
    assert not torch.equal(weight, models.transformer.patch_embed.proj.weight)


def test_a_model_directory_without_pass_2_is_a_user_error(tmp_path):
    with pytest.raises(InputError, match="transformer_pass2"):
        load_pass2_models(tmp_path)


def test_full_directory_load_reads_vae_and_scheduler_from_disk(models, tmp_path):
    for part in ("vae", "scheduler"):
        (tmp_path / part).symlink_to(TINY / part, target_is_directory=True)
    (tmp_path / "transformer").symlink_to(TINY / "transformer", target_is_directory=True)
    (tmp_path / "transformer_pass2").symlink_to(TINY / "transformer", target_is_directory=True)
    loaded = load_pass2_models(tmp_path)
    assert loaded.vae is not models.vae
    assert np.isclose(loaded.vae.config.scaling_factor, 0.7)
