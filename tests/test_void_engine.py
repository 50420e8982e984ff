"""The `void` engine: VOID pass 1 behind the Inpainter protocol, run with tiny random models.

The tiny models (void_core.inpaint.void.tiny) make noise, so these tests check the plumbing a
real model relies on: frame counts at plate resolution, chunking and its blend, padding, the
frame-rate mapping, one model load per engine, offload modes, text, lineage settings and the
compositing guarantee (pixels outside the band bit-exact).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest
import torch
from scipy import ndimage

from conftest import moving_disc_shot
from void_core import quadmask
from void_core.composite import Box, Feather, edit_box
from void_core.errors import InputError
from void_core.engines import create_engine
from void_core.inpaint.base import Frame, ShotFrames
from void_core.inpaint.classical import ClassicalInpainter
from void_core.inpaint.void.engine import Pass2Request, VoidInpainter
from void_core.inpaint.void.planning import (
    Chunk,
    chunk_weights,
    crop_for_model,
    is_void_length,
    map_frames,
    plan_chunks,
)
from void_core.inpaint.void.text import PROMPT_EMBEDS_FILE, prompt_key
from void_core.inpaint.void.tiny import make_tiny_model_dir
from void_core.media import colour
from void_core.media.exr import read_exr_frame
from void_core.media.masks import QuadmaskReader
from void_core.media.video import iter_video_codes, probe_video
from void_core.pipeline import ShotRequest, process_shot, resolve_shot_folder


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("models") / "void-tiny")


@pytest.fixture(scope="module")
def tiny_embeddings_model(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("models") / "void-emb", text="embeddings")


@dataclass(frozen=True)
class RatedShot(ShotFrames):
    """ShotFrames plus the plate's rate and prompt, which the engine reads when present."""

    rate: Fraction | None = None
    prompt: str | None = None


def memory_shot(frames: int, *, width: int = 64, height: int = 48, rate=None, prompt=None,
                empty_frames: tuple[int, ...] = ()) -> RatedShot:
    """An in-memory shot: a textured still background and a dark square sliding right."""
    rng = np.random.default_rng(3)
    background = rng.integers(40, 220, (height, width, 3), dtype=np.uint8)
    raws, quads = [], []
    for index in range(frames):
        raw, quad = background.copy(), np.full((height, width), quadmask.KEEP, np.uint8)
        if index not in empty_frames:
            x = 4 + (index * 3) % (width - 16)
            raw[18:28, x:x + 10] = 10
            quad[18:28, x:x + 10] = quadmask.PRIMARY
        raws.append(raw)
        quads.append(quad)
    feather = Feather.for_width(width)
    boxes = tuple(edit_box(q).grown(feather.band + 16, height, width) for q in quads)
    return RatedShot(width=width, height=height, frame_count=frames, boxes=boxes, feather=feather,
                     stream=lambda: iter(Frame(i, raws[i], quads[i]) for i in range(frames)),
                     to_display=colour.codes_to_display, rate=rate, prompt=prompt)


def shot_request(folder, out, model_dir, **settings) -> ShotRequest:
    return ShotRequest(inputs=resolve_shot_folder(folder), out_root=out, name=folder.name,
                       engine="void", engine_settings={"model_dir": str(model_dir), **settings},
                       refiner="none")


# --- planning ---------------------------------------------------------------------------------


def test_crop_contains_the_edits_has_the_model_aspect_and_stays_in_the_plate():
    crop = crop_for_model(Box(1000, 1100, 2000, 2050), 2160, 3840, 384, 672)
    assert (crop.y1 - crop.y0, crop.x1 - crop.x0) == (384, 672)  # small region: 1:1, not upsampled
    assert crop.y0 <= 1000 and crop.y1 >= 1100 and crop.x0 <= 2000 and crop.x1 >= 2050
    big = crop_for_model(Box(100, 1500, 200, 1200), 2160, 3840, 384, 672)
    assert abs((big.x1 - big.x0) / (big.y1 - big.y0) - 672 / 384) < 0.01
    assert big.y0 >= 0 and big.y1 <= 2160 and big.x0 >= 0 and big.x1 <= 3840
    corner = crop_for_model(Box(2100, 2160, 3800, 3840), 2160, 3840, 384, 672)
    assert (corner.y1, corner.x1) == (2160, 3840) and corner.y1 - corner.y0 == 384
    # Wider than the model's aspect allows on this plate: the edits win, the resize stretches.
    wide = crop_for_model(Box(300, 310, 0, 3840), 1608, 3840, 384, 672)
    assert (wide.x0, wide.x1) == (0, 3840)


def test_frame_rate_mapping_both_ways():
    down = map_frames(40, Fraction(24), Fraction(12))
    assert down.model_frames == 21
    assert down.sources.tolist() == list(range(0, 40, 2)) + [39]
    assert down.targets.tolist()[:5] == [0, 1, 1, 2, 2] and down.targets[-1] == 20
    assert np.all(np.abs(down.sources[down.targets] - np.arange(40)) <= 1)
    up = map_frames(9, Fraction(8), Fraction(12))  # slower plate: model frames repeat plate frames
    assert up.model_frames == 13 and up.sources[-1] == 8
    assert np.all(np.abs(up.sources[up.targets] - np.arange(9)) == 0)
    ntsc = map_frames(48, Fraction(24000, 1001), Fraction(12))
    assert ntsc.model_frames == 25 and ntsc.sources[-1] == 47 and set(ntsc.targets) == set(range(25))
    assert np.all(np.abs(ntsc.sources[ntsc.targets] - np.arange(48)) <= 1)
    same = map_frames(5, Fraction(12), Fraction(12))
    assert same.sources.tolist() == same.targets.tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("frames", [1, 40, 197, 198, 230, 400, 1000])
def test_chunks_cover_the_shot_overlap_and_blend_weights_sum_to_one(frames):
    chunks = plan_chunks(frames, 197, 16)
    assert chunks[0].start == 0 and chunks[-1].stop == frames
    assert all(chunk.length <= 197 for chunk in chunks)
    assert all(a.stop - b.start >= 16 for a, b in zip(chunks, chunks[1:]))
    if len(chunks) > 1:
        assert all(is_void_length(chunk.length) for chunk in chunks)  # no frames wasted on padding
    total = np.zeros(frames)
    for chunk, weights in zip(chunks, chunk_weights(chunks)):
        total[chunk.start:chunk.stop] += weights
    np.testing.assert_allclose(total, 1.0, atol=1e-12)


def test_blend_weights_are_linear_ramps_across_the_overlap():
    first, second = chunk_weights([Chunk(0, 10), Chunk(6, 16)])
    np.testing.assert_allclose(first, [1, 1, 1, 1, 1, 1, 0.8, 0.6, 0.4, 0.2])
    np.testing.assert_allclose(second, [0.2, 0.4, 0.6, 0.8, 1, 1, 1, 1, 1, 1])


def test_engine_blends_chunk_outputs_linearly(tiny_model, monkeypatch):
    """The engine's own blending, with each chunk's model output replaced by a constant."""
    engine = VoidInpainter(tiny_model, max_chunk_frames=21, chunk_overlap_frames=6)
    shot = memory_shot(50)
    plan = engine.plan(shot)
    assert len(plan.chunks) >= 3

    def constant_chunk(frames, prompt, embeds, index, chunk):
        return np.full((len(frames), engine.height, engine.width, 3), float(index), np.float32)

    monkeypatch.setattr(engine, "_run_chunk", constant_chunk)
    outputs = dict(engine._model_outputs(shot, plan, "", None))
    assert sorted(outputs) == list(range(50))
    weights = chunk_weights(plan.chunks)
    for t in range(50):
        expected = sum(index * w[t - c.start] for index, (c, w) in enumerate(zip(plan.chunks, weights))
                       if c.start <= t < c.stop)
        np.testing.assert_allclose(outputs[t], expected, atol=1e-6)
    first, second = plan.chunks[0], plan.chunks[1]
    ramp = [float(outputs[t][0, 0, 0]) for t in range(second.start, first.stop)]
    assert np.all(np.diff(ramp) > 0) and 0 < ramp[0] < ramp[-1] < 1


# --- whole shots ---------------------------------------------------------------------------


def test_40_frame_shot_gives_one_fill_per_frame_at_plate_resolution(tiny_model, tmp_path):
    folder = moving_disc_shot(tmp_path / "sh040", frames=40)
    engine = VoidInpainter(tiny_model)
    result = process_shot(shot_request(folder, tmp_path / "out", tiny_model), engine=engine)
    assert result.frames == 40 and result.engine == "void"
    exrs = sorted((tmp_path / "out" / "sh040").glob("*.exr"))
    assert len(exrs) == 40
    frame = read_exr_frame(exrs[-1])
    assert frame.rgb.shape == (64, 96, 3)
    header = json.loads(frame.header["void/engine_settings"])["engine"]
    assert header["checksums"]["transformer/diffusion_pytorch_model.safetensors"].startswith("sha256:")
    assert engine.last_runs[0].padded_frames == 85  # VOID pads short clips to one 85-frame window


def test_long_shot_is_chunked_padding_trimmed_and_every_frame_filled(tiny_model):
    engine = VoidInpainter(tiny_model, model_fps=None)
    shot = memory_shot(230)
    fills = list(engine.inpaint(shot))
    assert [fill.frame.index for fill in fills] == list(range(230))
    assert [(run.chunk.start, run.chunk.stop) for run in engine.last_runs] == [(0, 125), (105, 230)]
    assert all(run.padded_frames == run.chunk.length for run in engine.last_runs)
    for fill in fills:
        box = fill.box
        assert fill.display.shape == (box.y1 - box.y0, box.x1 - box.x0, 3)
        assert fill.display.dtype == np.float32 and 0 <= fill.display.min() <= fill.display.max() <= 1
        assert not fill.unstable.any()


def test_a_chunk_is_mirror_padded_to_voids_length_and_trimmed_back(tiny_model):
    engine = VoidInpainter(tiny_model)
    loaded = engine._load()
    frames = [engine._to_model(memory_shot(1), next(memory_shot(1).stream()), Box(0, 48, 0, 64))] * 7
    output = engine._run_chunk(frames, "", engine._prompt_embeds(loaded, ""), 0, Chunk(0, 7))
    assert output.shape == (7, 32, 64, 3)
    assert engine.last_runs[-1].padded_frames == 85


def test_24_fps_plate_runs_at_voids_12_fps_and_every_plate_frame_gets_a_fill(tiny_model, monkeypatch):
    engine = VoidInpainter(tiny_model)
    shot = memory_shot(40, rate=Fraction(24))
    sampled = []
    original = engine._to_model

    def recording(shot_, frame, crop):
        sampled.append(frame.index)
        return original(shot_, frame, crop)

    monkeypatch.setattr(engine, "_to_model", recording)
    fills = list(engine.inpaint(shot))
    assert len(fills) == 40
    assert sampled == list(range(0, 40, 2)) + [39]  # the model saw 21 frames at 12 fps
    assert engine.last_runs[0].chunk == Chunk(0, 21)
    # Plate frames 3 and 4 both map to model frame 2: same model output where their boxes meet.
    crop = engine.last_plan.crop
    a, b = fills[3], fills[4]
    assert engine.last_plan.frames.targets[3] == engine.last_plan.frames.targets[4] == 2
    overlap = Box(max(a.box.y0, b.box.y0), min(a.box.y1, b.box.y1),
                  max(a.box.x0, b.box.x0), min(a.box.x1, b.box.x1))
    assert not overlap.empty and crop.x0 <= overlap.x0
    piece = lambda fill: fill.display[overlap.y0 - fill.box.y0: overlap.y1 - fill.box.y0,
                                      overlap.x0 - fill.box.x0: overlap.x1 - fill.box.x0]
    np.testing.assert_array_equal(piece(a), piece(b))
    assert any("24 -> 12 fps" in note for note in engine.stats.notes)


def test_frames_without_edits_get_empty_fills(tiny_model):
    engine = VoidInpainter(tiny_model)
    fills = list(engine.inpaint(memory_shot(12, empty_frames=(0, 1, 11))))
    assert [fill.display is None for fill in fills] == [True, True] + [False] * 9 + [True]


def test_the_model_loads_once_for_three_shots(tiny_model, tmp_path):
    engine = create_engine("inpaint", "void", model_dir=str(tiny_model))
    assert engine.load_count == 0  # creating an engine (preflight, identity) loads nothing
    folders = [moving_disc_shot(tmp_path / f"sh{i}", frames=6, seed=i) for i in range(3)]
    first_models = None
    for folder in folders:
        result = process_shot(shot_request(folder, tmp_path / "out", tiny_model), engine=engine)
        assert result.frames == 6
        first_models = first_models or engine.models
        assert engine.models is first_models
    assert engine.load_count == 1


def test_pixels_outside_the_band_stay_bit_exact(tiny_model, tmp_path):
    folder = moving_disc_shot(tmp_path / "sh010", frames=8)
    process_shot(shot_request(folder, tmp_path / "out", tiny_model))
    info = probe_video(folder / "input_video.mp4")
    masks = list(QuadmaskReader(folder / "quadmask_0.mp4").frames())
    band = quadmask.band_width(info.width)
    changed = 0
    for index, codes in enumerate(iter_video_codes(info)):
        expected = colour.codes_to_linear_half(codes, info.transfer)
        got = read_exr_frame(tmp_path / "out" / "sh010" / f"sh010.{1001 + index}.exr").rgb
        outside = ndimage.distance_transform_edt(masks[index] == quadmask.KEEP) >= band
        assert outside.any()
        assert np.array_equal(got[outside].view(np.uint16), expected[outside].view(np.uint16))
        changed += int((got[~outside] != expected[~outside]).any())
    assert changed == 8  # and the model's fill did land inside the band


@pytest.mark.parametrize("mode", ["model_offload", "sequential_offload"])
def test_offload_modes_match_full_residency(tiny_model, mode):
    shot = memory_shot(9)
    full = [f.display for f in VoidInpainter(tiny_model).inpaint(shot)]
    engine = VoidInpainter(tiny_model, memory_mode=mode)
    offloaded = [f.display for f in engine.inpaint(shot)]
    for a, b in zip(full, offloaded):
        np.testing.assert_array_equal(a, b)
    placement = engine._loaded.placement
    assert placement.moves > 0  # components (or modules) were brought in for their work
    if mode == "model_offload":
        assert placement.active == "vae"  # the decode came last


# --- text ------------------------------------------------------------------------------------


def test_prompts_go_through_t5_and_are_cached(tiny_model):
    engine = VoidInpainter(tiny_model)
    loaded = engine._load()
    wall = engine._prompt_embeds(loaded, "a textured wall")
    river = engine._prompt_embeds(loaded, "a calm river")
    assert wall.shape == (1, 226, 32)
    assert not torch.equal(wall, river)
    assert engine._prompt_embeds(loaded, "a textured wall") is wall


def test_shot_prompt_changes_the_result(tiny_model):
    first = list(VoidInpainter(tiny_model).inpaint(memory_shot(5, prompt="a textured wall")))
    second = list(VoidInpainter(tiny_model).inpaint(memory_shot(5, prompt="an empty street")))
    assert not np.array_equal(first[2].display, second[2].display)


def test_precomputed_prompt_embeddings(tiny_embeddings_model, tmp_path):
    from safetensors.torch import load_file, save_file

    engine = VoidInpainter(tiny_embeddings_model)
    list(engine.inpaint(memory_shot(5, prompt="a textured wall")))
    assert any("default embedding" in note for note in engine.stats.notes)
    # A per-prompt entry is used when the shot's prompt matches it.
    tensors = load_file(tiny_embeddings_model / PROMPT_EMBEDS_FILE)
    tensors[prompt_key("a textured wall")] = torch.zeros(1, 226, 32)
    save_file(tensors, str(tiny_embeddings_model / PROMPT_EMBEDS_FILE))
    specific = VoidInpainter(tiny_embeddings_model)
    loaded = specific._load()
    assert torch.equal(specific._prompt_embeds(loaded, "a textured wall"), torch.zeros(1, 226, 32))
    assert not specific._prompt_embeds(loaded, "something else").eq(0).all()


# --- settings, resources, hooks, errors ------------------------------------------------------


def test_settings_record_seed_checksums_and_are_json(tiny_model):
    engine = VoidInpainter(tiny_model, seed=7, device="cpu")
    settings = engine.settings()
    json.dumps(settings)
    assert settings["seed"] == 7 and settings["dtype"] == "float32"
    assert (settings["height"], settings["width"], settings["steps"]) == (32, 64, 2)  # tiny defaults
    assert settings["model_fps"] == "12" and settings["max_chunk_frames"] == 197
    assert set(settings["checksums"]) >= {"transformer/diffusion_pytorch_model.safetensors",
                                          "vae/diffusion_pytorch_model.safetensors",
                                          "text_encoder/model.safetensors"}
    assert engine.model_checksums() == settings["checksums"]
    assert VoidInpainter(tiny_model, seed=8).settings() != settings


def test_resources():
    assert ClassicalInpainter().resources() == {"num_cpus": 1}


def test_void_resources_follow_the_device(tiny_model):
    # On CUDA: a GPU of VOID's class (the `void_gpu` custom resource the GPU nodes declare).
    assert VoidInpainter(tiny_model, device="cuda").resources() == {
        "num_gpus": 1, "resources": {"void_gpu": 1}}
    cuda = VoidInpainter(tiny_model, device="cuda")
    assert cuda.dtype == "bfloat16"  # nothing loads until a shot runs, so no GPU is needed here
    assert VoidInpainter(tiny_model, device="cpu").resources() == {"num_cpus": 1}


def test_pass2_hook_runs_on_each_chunk_at_model_size(tiny_model):
    requests: list[Pass2Request] = []

    def flat_grey(request: Pass2Request):
        requests.append(request)
        return torch.full_like(request.pass1, 0.5)

    engine = VoidInpainter(tiny_model, pass2=flat_grey)
    fills = list(engine.inpaint(memory_shot(6, prompt="a textured wall")))
    assert len(requests) == 1
    request = requests[0]
    assert tuple(request.video.shape) == tuple(request.pass1.shape) == (1, 3, 6, 32, 64)
    assert tuple(request.mask.shape) == (1, 1, 6, 32, 64) and float(request.mask.max()) == 1.0
    assert request.prompt == "a textured wall" and request.encode_prompt("").shape == (1, 226, 32)
    np.testing.assert_allclose(fills[3].display, 0.5, atol=1e-6)
    assert engine.settings()["pass2"]["name"].endswith("flat_grey")


def test_errors_are_one_actionable_line(tiny_model, tmp_path):
    with pytest.raises(InputError, match="needs a model folder"):
        create_engine("inpaint", "void")
    with pytest.raises(InputError, match="not found"):
        VoidInpainter(tmp_path / "nowhere")
    (tmp_path / "half").mkdir()
    with pytest.raises(InputError, match=r"not a VOID model folder \(no transformer, vae, scheduler/\)"):
        VoidInpainter(tmp_path / "half")
    with pytest.raises(InputError, match="4k\\+1"):
        VoidInpainter(tiny_model, max_chunk_frames=100)
    with pytest.raises(InputError, match="multiple of 16"):
        VoidInpainter(tiny_model, height=40, width=64)
    with pytest.raises(InputError, match="memory_mode"):
        VoidInpainter(tiny_model, memory_mode="fp8")
