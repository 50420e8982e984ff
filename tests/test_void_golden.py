"""VOID pass 1 on diffusers classes, pinned to the golden vectors made with VOID's own code.

Tolerances are those of tests/data/golden/void (README section 0): discrete masks and the
preprocessed video exactly; every other float tensor within 1e-5 max abs diff; `video_uint8`
equal except up to 0.01 % of values off by 1. Models load once per module; the whole pipeline
runs three times (main, add-noise variant, re-run from given latents), about 1.5 s each on an
idle 2-core CPU.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from void_core.inpaint.void import vae as void_vae
from void_core.inpaint.void.load import load_void_models
from void_core.inpaint.void.pipeline import (
    decode_latents,
    rotary_embedding,
    run_pass1,
    to_uint8_frames,
)
from void_core.inpaint.void.preprocess import prepare_inputs
from void_core.inpaint.void.windows import WindowBlender, plan_windows, window_weights

GOLDEN = Path(__file__).parent / "data" / "golden" / "void"
PASS1 = GOLDEN / "pipeline_pass1"
ATOL = 1e-5
STEPS, WINDOW_FRAMES, SAMPLE_SIZE, SEED = 3, 29, (48, 80), 42


def assert_close(actual: torch.Tensor | np.ndarray, expected: np.ndarray, atol: float = ATOL):
    actual = actual.detach().cpu().numpy() if isinstance(actual, torch.Tensor) else actual
    assert actual.shape == expected.shape
    diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64)).max()
    assert diff <= atol, f"max abs diff {diff:.3g} > {atol}"


def assert_equal(actual: torch.Tensor | np.ndarray, expected: np.ndarray):
    actual = actual.detach().cpu().numpy() if isinstance(actual, torch.Tensor) else actual
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(actual, expected)


@functools.cache
def golden(name: str) -> dict[str, np.ndarray]:
    with np.load(PASS1 / f"{name}.npz") as data:
        return dict(data)


@pytest.fixture(scope="module")
def models():
    return load_void_models(PASS1)


@pytest.fixture(scope="module")
def inputs():
    return golden("inputs")


@pytest.fixture(scope="module")
def prepared(inputs):
    return prepare_inputs(
        inputs["video_raw"], inputs["quadmask_raw"], SAMPLE_SIZE,
        temporal_window_size=WINDOW_FRAMES,
    )


def _run(prepared, inputs, models, **overrides):
    settings = dict(
        num_inference_steps=STEPS,
        generator=torch.Generator("cpu").manual_seed(SEED),
        window_frames=WINDOW_FRAMES,
        record=True,
    )
    settings.update(overrides)
    return run_pass1(
        prepared.video, prepared.mask, torch.from_numpy(inputs["prompt_embeds"]), models, **settings
    )


@pytest.fixture(scope="module")
def pass1(prepared, inputs, models):
    """The golden run: VOID's pipeline call of README section 3, from the raw inputs."""
    return _run(prepared, inputs, models)


@pytest.fixture(scope="module")
def variant(prepared, inputs, models):
    """add_noise_in_inpaint_model = true, with VOID's recorded conditioning noise."""
    noisy_models = dataclasses.replace(models, add_noise_in_inpaint_model=True)
    noise = torch.from_numpy(golden("variant_addnoise")["injected_noise"])
    return _run(prepared, inputs, noisy_models, conditioning_noise=noise, decode=False)


# --- data and models -----------------------------------------------------------------------


def test_golden_files_match_the_manifest():
    manifest = json.loads((GOLDEN / "manifest.json").read_text())
    for name, entry in manifest["files"].items():
        digest = hashlib.sha256((GOLDEN / name).read_bytes()).hexdigest()
        assert digest == entry["sha256"], name


def test_models_load_from_a_local_directory(models):
    assert models.transformer.config.in_channels == 48
    assert models.add_noise_in_inpaint_model is False
    assert models.vae.config.scaling_factor == 0.7
    assert not models.vae.use_slicing and not models.vae.use_tiling


def test_loading_refuses_a_directory_without_the_three_parts(tmp_path):
    with pytest.raises(FileNotFoundError, match="vae"):
        load_void_models(tmp_path)


# --- VAE: VOID's decode, diffusers' encode ---------------------------------------------------


@pytest.mark.parametrize("latent_frames", [4, 5, 6])
def test_vae_decode_matches_void(models, latent_frames):
    data = np.load(GOLDEN / "vae_decode" / "vae_golden.npz")
    decoded = void_vae.decode(models.vae, torch.from_numpy(data[f"latents_L{latent_frames}"]))
    assert decoded.shape[2] == 4 * (latent_frames - 1) + 1
    assert_close(decoded, data[f"decoded_L{latent_frames}"])


def test_vae_encode_mode_matches_void(models):
    data = np.load(GOLDEN / "vae_decode" / "vae_golden.npz")
    assert_close(void_vae.encode_mode(models.vae, torch.from_numpy(data["encode_input"])),
                 data["encode_mode"])


@pytest.mark.parametrize("latent_frames", [1, 2, 3, 8])
def test_vae_decode_returns_4_l_minus_3_frames(models, latent_frames):
    latents = torch.randn(1, 16, latent_frames, 2, 3, generator=torch.Generator().manual_seed(0))
    decoded = void_vae.decode(models.vae, latents)
    assert void_vae.decoded_frame_count(latent_frames) == 4 * (latent_frames - 1) + 1
    assert decoded.shape == (1, 3, void_vae.decoded_frame_count(latent_frames), 16, 24)


# --- preprocessing ---------------------------------------------------------------------------


def test_preprocessed_inputs_match_void_exactly(prepared):
    data = golden("preprocessed")
    assert_equal(prepared.video, data["video"])
    assert_equal(prepared.mask, data["mask"])
    assert prepared.source_frames == 50


def test_mask_chain_inputs_match_void_exactly():
    data = np.load(GOLDEN / "mask_chain" / "mask_chain.npz")
    prepared = prepare_inputs(data["video_raw"], data["quadmask_raw"], (32, 56),
                              temporal_window_size=9)
    assert_equal(prepared.video, data["video_after_get_input"])
    assert_equal(prepared.mask, data["mask_after_get_input"])


# --- conditioning ----------------------------------------------------------------------------


def test_thresholded_mask_matches_void_exactly(pass1):
    assert_equal(pass1.trace.mask_thresholded, golden("conditioning")["mask_after_pipeline_thresholds"])


def test_vae_mask_input_is_one_minus_mask_in_zero_one(pass1):
    vae_mask = pass1.trace.vae_mask_input
    assert vae_mask.shape == (1, 3, 53, 48, 80)
    assert sorted(torch.unique(vae_mask).tolist()) == [0.0, np.float32(1) - np.float32(127 / 255), 1.0]


@pytest.mark.parametrize("key", ["mask_latents", "video_latents", "inpaint_latents"])
def test_conditioning_latents_match_void(pass1, key):
    assert_close(getattr(pass1.trace, key), golden("conditioning")[key])


# --- denoising -------------------------------------------------------------------------------


def test_timesteps_match_void(pass1):
    assert_equal(pass1.trace.timesteps.cpu(), golden("denoise")["timesteps"])


def test_initial_latents_match_void(pass1):
    assert_close(pass1.trace.initial_latents, golden("denoise")["initial_latents"])


@pytest.mark.parametrize("step", range(STEPS))
def test_latents_after_each_step_match_void(pass1, step):
    assert_close(pass1.trace.latents_after_step[step], golden("denoise")["latents_after_step"][step])


def test_final_latents_match_void(pass1):
    assert_close(pass1.latents, golden("denoise")["final_latents"])


@pytest.mark.parametrize("window_latents", [8, 6])
def test_rope_tables_match_void(pass1, models, window_latents):
    data = golden("denoise")
    cos, sin = pass1.trace.rope[window_latents]
    assert_close(cos, data[f"rope_cos_len{window_latents}"])
    assert_close(sin, data[f"rope_sin_len{window_latents}"])
    again = rotary_embedding(models.transformer, 6, 10, window_latents, "cpu")
    assert torch.equal(again[0], cos) and torch.equal(again[1], sin)


def test_windows_are_voids(pass1):
    spans = [(r.window.start, r.window.stop) for r in pass1.trace.windows if r.step == 0]
    assert spans == [(0, 8), (4, 12), (8, 14)]
    assert len(pass1.trace.windows) == STEPS * 3


@pytest.mark.parametrize("step", range(STEPS))
@pytest.mark.parametrize("window", range(3))
@pytest.mark.parametrize("key", ["latents_in", "noise_pred", "latents_out"])
def test_per_window_tensors_match_void(pass1, step, window, key):
    record = pass1.trace.window_record(step, window)
    assert_close(getattr(record, key), golden("per_window")[f"s{step}_w{window}_{key}"])


@pytest.mark.parametrize("step", range(STEPS))
@pytest.mark.parametrize("window", range(3))
def test_transformer_and_step_on_voids_window_inputs(models, step, window):
    """Isolated from earlier drift: VOID's own window inputs through diffusers' transformer and
    DDIM step give VOID's outputs."""
    per_window, conditioning = golden("per_window"), golden("conditioning")
    span = plan_windows(14, 8, 4)[window]
    scheduler = type(models.scheduler).from_config(models.scheduler.config)
    scheduler.set_timesteps(STEPS)
    timestep = scheduler.timesteps[step]
    latents_in = torch.from_numpy(per_window[f"s{step}_w{window}_latents_in"])
    inpaint = torch.from_numpy(conditioning["inpaint_latents"][:, span.start : span.stop])
    with torch.no_grad():
        noise_pred = models.transformer(
            hidden_states=torch.cat([latents_in, inpaint], dim=2),
            encoder_hidden_states=torch.from_numpy(golden("inputs")["prompt_embeds"]),
            timestep=timestep.expand(1),
            image_rotary_emb=rotary_embedding(models.transformer, 6, 10, span.length, "cpu"),
            return_dict=False,
        )[0]
    assert_close(noise_pred, per_window[f"s{step}_w{window}_noise_pred"])
    stored_pred = torch.from_numpy(per_window[f"s{step}_w{window}_noise_pred"])
    latents_out = scheduler.step(stored_pred, timestep, latents_in, eta=0.0, return_dict=False)[0]
    assert_close(latents_out, per_window[f"s{step}_w{window}_latents_out"])


@pytest.mark.parametrize("step", range(STEPS))
def test_blending_voids_window_outputs_is_bit_exact(step):
    per_window, denoise = golden("per_window"), golden("denoise")
    previous = denoise["initial_latents"] if step == 0 else denoise["latents_after_step"][step - 1]
    spans = plan_windows(14, 8, 4)
    blender = WindowBlender(torch.from_numpy(previous))
    for index, span in enumerate(spans):
        stepped = torch.from_numpy(per_window[f"s{step}_w{index}_latents_out"])
        blender.add(span, stepped, window_weights(spans, index, 4, 14))
    assert_equal(blender.result(), denoise["latents_after_step"][step])


# --- output ----------------------------------------------------------------------------------


def test_decoded_video_matches_void(pass1):
    assert pass1.video.shape == (1, 3, 53, 48, 80)
    assert_close(pass1.video, golden("output")["video"])


def test_decode_of_voids_final_latents_matches_void(models):
    final = torch.from_numpy(golden("denoise")["final_latents"])
    assert_close(decode_latents(models.vae, final), golden("output")["video"])


def test_uint8_frames_match_void_up_to_truncation(pass1):
    expected = golden("output")["video_uint8"]
    frames = to_uint8_frames(pass1.video[0])
    assert frames.shape == expected.shape and frames.dtype == np.uint8
    off = np.abs(frames.astype(np.int16) - expected.astype(np.int16))
    assert off.max() <= 1
    assert np.count_nonzero(off) <= 1e-4 * off.size


# --- run settings ----------------------------------------------------------------------------


def test_given_latents_replace_the_draw_and_recording_changes_nothing(prepared, inputs, models, pass1):
    initial = torch.from_numpy(golden("denoise")["initial_latents"])
    seen = []
    again = _run(prepared, inputs, models, generator=None, latents=initial, record=False,
                 decode=False, on_step_end=lambda *args: seen.append(args))
    assert again.trace is None and again.video is None
    assert torch.equal(again.latents, pass1.latents)
    assert [(index, timestep) for index, timestep, _ in seen] == [(0, 999), (1, 666), (2, 332)]
    assert torch.equal(seen[-1][2], pass1.latents)


def test_inputs_are_checked_before_any_work(prepared, inputs, models):
    embeds = torch.from_numpy(inputs["prompt_embeds"])
    with pytest.raises(ValueError, match="4k\\+1"):
        run_pass1(prepared.video[:, :, :52], prepared.mask[:, :, :52], embeds, models)
    with pytest.raises(ValueError, match="patch_size_t"):
        run_pass1(prepared.video, prepared.mask, embeds, models, window_frames=25)
    with pytest.raises(ValueError, match="`mask`"):
        run_pass1(prepared.video, prepared.mask[:, :, :-4], embeds, models)


# --- add_noise_in_inpaint_model variant ------------------------------------------------------


@pytest.mark.parametrize("key", ["video_latents", "inpaint_latents"])
def test_variant_conditioning_matches_void(variant, key):
    assert_close(getattr(variant.trace, key), golden("variant_addnoise")[key])


def test_variant_final_latents_match_void(variant):
    assert_close(variant.latents, golden("variant_addnoise")["final_latents"])


def test_variant_leaves_mask_latents_and_black_pixels_alone(variant, pass1):
    assert torch.equal(variant.trace.mask_latents, pass1.trace.mask_latents)
    black = pass1.trace.conditioning_video == -1
    assert int(black.sum()) == 101_760
    assert torch.equal(variant.trace.conditioning_video[black], pass1.trace.conditioning_video[black])


def test_voids_conditioning_noise_is_randn_like_on_a_frame_major_view():
    """Where VOID's noise came from: torch's global RNG, randn_like on the normalised video, whose
    memory order is (b, f, c, h, w). A plain randn of the same seed differs."""
    frame_major = torch.empty(1, 53, 3, 48, 80).permute(0, 2, 1, 3, 4)
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(1234)
        noise = torch.randn_like(frame_major)
    finally:
        torch.random.set_rng_state(state)
    assert_equal(noise.contiguous(), golden("variant_addnoise")["injected_noise"])


def test_variant_without_given_noise_keeps_voids_initial_latents(prepared, inputs, models):
    """The conditioning noise is drawn after the initial latents, so the seed gives VOID's
    initial noise whether or not the conditioning video gets noise."""
    noisy_models = dataclasses.replace(models, add_noise_in_inpaint_model=True)
    run = _run(prepared, inputs, noisy_models, num_inference_steps=1, decode=False)
    assert_close(run.trace.initial_latents, golden("denoise")["initial_latents"])
    assert not torch.equal(run.trace.video_latents, torch.from_numpy(golden("conditioning")["video_latents"]))
