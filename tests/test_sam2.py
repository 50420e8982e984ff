"""The `sam2` segmenter on a tiny random-weight SAM 2 built from a real config.

The model is SAM 2.1 Hiera-T's packaged config with every width shrunk (and 128 px input), saved
as a local YAML with a checkpoint in SAM 2's format, so the engine loads it exactly as it would
load real weights. Random weights give meaningless masks: these tests check the plumbing (both
directions of tracking, several prompted frames, merged belongings, one mask per object, frames
fed from memory, bounded memory that changes nothing, clear errors), not mask quality.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf

from void_core import quadmask
from void_core.analysis.schema import AffectedObject, GridCell, GridLocalization
from void_core.errors import InputError
from void_core.engines import create_engine
from void_core.masking import ClickPrompt
from void_core.masking import sam2_engine
from void_core.analysis.object_masks import localization_prompts
from void_core.masking.sam2_engine import Sam2Segmenter
from void_core.media.plate import open_plate
from void_core.media.video import iter_video_luma, probe_video
from void_core.synth import SceneSpec, write_scene

IMAGE_SIZE = 128
PREDICTOR = "sam2.sam2_video_predictor.SAM2VideoPredictor"


def tiny_config(image_size: int = IMAGE_SIZE, width: int = 32):
    """SAM 2.1 Hiera-T's config with tiny widths (the SAM heads keep their fixed sizes)."""
    cfg = OmegaConf.load(importlib.resources.files("sam2") / "configs/sam2.1/sam2.1_hiera_t.yaml")
    model, embed, memory = cfg.model, 8, 16
    trunk = model.image_encoder.trunk
    trunk.embed_dim, trunk.stages, trunk.global_att_blocks = embed, [1, 1, 2, 1], [3]
    trunk.window_spec, trunk.window_pos_embed_bkg_spatial_size = [4, 4, 4, 4], [4, 4]
    neck = model.image_encoder.neck
    neck.d_model, neck.position_encoding.num_pos_feats = width, width
    neck.backbone_channel_list = [embed * 8, embed * 4, embed * 2, embed]
    attention = model.memory_attention
    attention.d_model, attention.num_layers = width, 1
    attention.layer.d_model, attention.layer.dim_feedforward = width, 64
    for block in (attention.layer.self_attention, attention.layer.cross_attention):
        block.embedding_dim, block.feat_sizes = width, [image_size // 16] * 2
    attention.layer.cross_attention.kv_in_dim = memory
    encoder = model.memory_encoder
    encoder.out_dim, encoder.position_encoding.num_pos_feats = memory, memory
    encoder.mask_downsampler.embed_dim, encoder.in_dim = width, width
    encoder.fuser.layer.dim, encoder.fuser.num_layers = width, 1
    # A short memory (3 memory frames, 4 object pointers) so a short shot shows forgetting.
    model.image_size, model.num_maskmem, model.max_obj_ptrs_in_encoder = image_size, 3, 4
    # No occlusion head: with random weights its sign would blank whole tracks at random.
    model.pred_obj_scores = model.pred_obj_scores_mlp = model.fixed_no_obj_ptr = False
    return cfg


def save_checkpoint(cfg, path: Path, seed: int = 0) -> Path:
    """Random weights for `cfg` in the format SAM 2's loader reads ({"model": state_dict})."""
    torch.manual_seed(seed)
    model_cfg = OmegaConf.merge(cfg.model, {"_target_": PREDICTOR})
    torch.save({"model": instantiate(model_cfg, _recursive_=True).state_dict()}, path)
    return path


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sam2-tiny")
    cfg = tiny_config()
    OmegaConf.save(cfg, folder / "tiny.yaml")
    return {"config": str(folder / "tiny.yaml"),
            "checkpoint": save_checkpoint(cfg, folder / "tiny.pt"), "device": "cpu"}


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    spec = SceneSpec(name="s", width=96, height=64, frames=8, seed=1)
    return write_scene(spec, tmp_path_factory.mktemp("sam2-scene") / "scene")


@pytest.fixture(scope="module")
def long_scene(tmp_path_factory):
    spec = SceneSpec(name="l", width=64, height=64, frames=24, seed=2)
    return write_scene(spec, tmp_path_factory.mktemp("sam2-long") / "scene")


def click(scene, frame: int) -> ClickPrompt:
    return ClickPrompt(frame, (tuple(float(v) for v in scene.click),), (1,))


def decoded(path: Path) -> np.ndarray:
    """A mask video's exact values (range-expanded luma, not quantised), (frames, H, W)."""
    return np.stack([quadmask.expand_limited_range(luma)
                     for luma in iter_video_luma(probe_video(path))])


class Spy:
    """Records SAM 2 predictor calls without changing them."""

    def __init__(self, predictor, monkeypatch):
        self.propagations: list[tuple[int, bool]] = []
        self.prompts: list[tuple[int, int]] = []  # (frame, object id)
        self.inferences: list[tuple[int, bool]] = []  # (frame, is a prompted frame)
        self.logits: dict[int, torch.Tensor] = {}
        self.memories: list[int] = []  # tracked frames' memories held, at each tracked frame
        propagate = predictor.propagate_in_video
        add = predictor.add_new_points_or_box
        infer = predictor._run_single_frame_inference

        def spy_propagate(state, start_frame_idx=None, reverse=False, **kwargs):
            self.propagations.append((start_frame_idx, reverse))
            for index, ids, logits in propagate(state, start_frame_idx=start_frame_idx,
                                                reverse=reverse, **kwargs):
                self.logits.setdefault(index, logits.clone())
                self.memories.append(sum(len(outputs["non_cond_frame_outputs"]) for outputs
                                         in state["output_dict_per_obj"].values()))
                yield index, ids, logits

        def spy_add(state, frame_idx, obj_id, **kwargs):
            self.prompts.append((frame_idx, obj_id))
            return add(state, frame_idx, obj_id, **kwargs)

        def spy_infer(**kwargs):
            self.inferences.append((kwargs["frame_idx"], kwargs["is_init_cond_frame"]))
            return infer(**kwargs)

        monkeypatch.setattr(predictor, "propagate_in_video", spy_propagate)
        monkeypatch.setattr(predictor, "add_new_points_or_box", spy_add)
        monkeypatch.setattr(predictor, "_run_single_frame_inference", spy_infer)

    def tracked_frames(self) -> set[int]:
        return {frame for frame, prompted in self.inferences if not prompted}


# ---- output -----------------------------------------------------------------------------------

def test_mask_video_has_the_plate_size_frame_count_and_only_0_255(tiny, scene, tmp_path):
    engine = create_engine("masking", "sam2", **tiny)
    assert isinstance(engine, Sam2Segmenter)
    steps = []
    result = engine.segment(open_plate(scene.video), [click(scene, 0)], tmp_path / "black.mp4",
                            on_progress=lambda done, total: steps.append((done, total)))
    masks = decoded(result.path)
    assert masks.shape == (8, 64, 96)
    assert set(np.unique(masks)) <= {0, 255}
    assert (result.width, result.height, result.frame_count) == (96, 64, 8)
    assert [stats.area for stats in result.frames] == [int((m == 0).sum()) for m in masks]
    assert steps[-1] == (16, 16) and [done for done, _ in steps] == list(range(1, 17))
    assert "sam2" in result.notes[0] and "128px" in result.notes[0]


def test_masks_are_the_models_logits_upsampled_to_the_plate(tiny, scene, tmp_path,
                                                            monkeypatch):
    engine = Sam2Segmenter(**tiny)
    spy = Spy(engine.predictor, monkeypatch)
    result = engine.segment(open_plate(scene.video), [click(scene, 3)], tmp_path / "black.mp4")
    masks = decoded(result.path)
    for index, logits in spy.logits.items():  # SAM 2's own rule: bilinear logits, > 0
        assert logits.shape[-2:] == (IMAGE_SIZE // 4, IMAGE_SIZE // 4)
        expected = F.interpolate(logits.float(), size=(64, 96), mode="bilinear",
                                 align_corners=False)[0, 0] > 0
        np.testing.assert_array_equal(masks[index] == 0, expected.numpy())


# ---- propagation ------------------------------------------------------------------------------

def test_a_click_on_a_middle_frame_is_tracked_backwards_and_forwards(tiny, scene, tmp_path,
                                                                     monkeypatch):
    engine = Sam2Segmenter(**tiny)
    spy = Spy(engine.predictor, monkeypatch)
    result = engine.segment(open_plate(scene.video), [click(scene, 3)], tmp_path / "black.mp4")
    assert spy.propagations == [(3, True), (3, False)]
    assert spy.tracked_frames() == {0, 1, 2, 4, 5, 6, 7}  # the model ran on frames before it
    assert sorted(spy.logits) == list(range(8))
    assert [stats.index for stats in result.frames] == list(range(8))
    assert decoded(result.path).shape[0] == 8


def test_several_prompted_frames_condition_one_track(tiny, scene, tmp_path, monkeypatch):
    engine = Sam2Segmenter(**tiny)
    spy = Spy(engine.predictor, monkeypatch)
    prompts = [click(scene, 5), ClickPrompt(2, box=(10.0, 8.0, 40.0, 30.0)),
               ClickPrompt(5, ((5.0, 5.0),), (0,))]  # a negative click joins frame 5's prompt
    result = engine.segment(open_plate(scene.video), prompts, tmp_path / "black.mp4")
    assert spy.prompts == [(2, 1), (5, 1)]
    assert spy.propagations == [(2, True), (2, False)]
    assert spy.tracked_frames() == {0, 1, 3, 4, 6, 7}  # frame 5 keeps its prompted mask
    assert result.frame_count == 8


def test_belongings_are_merged_into_the_primary_mask(tiny, scene, tmp_path, monkeypatch):
    plate_path = scene.video
    primary = [click(scene, 3)]
    belonging = [ClickPrompt(1, box=(60.0, 40.0, 90.0, 60.0))]
    engine = Sam2Segmenter(**tiny)
    apart = engine.segment_objects(open_plate(plate_path), {"rider": primary, "bike": belonging},
                                   tmp_path / "objects")
    assert list(apart) == ["rider", "bike"]
    assert [r.path.name for r in apart.values()] == ["object_1.mp4", "object_2.mp4"]
    rider, bike = (decoded(r.path) == 0 for r in apart.values())
    assert bike.any() and (bike & ~rider).any()  # the belonging adds pixels of its own

    spy = Spy(engine.predictor, monkeypatch)
    merged = engine.segment(open_plate(plate_path), primary, tmp_path / "black.mp4",
                            belongings=[belonging])
    assert spy.prompts == [(3, 1), (1, 2)]
    assert spy.propagations == [(1, True), (1, False)]  # from the earliest prompt of any object
    np.testing.assert_array_equal(decoded(merged.path) == 0, rider | bike)
    assert any("belonging" in note for note in merged.notes)


def test_affected_objects_are_prompted_from_their_grid_localisations(tiny, scene, tmp_path):
    affected = AffectedObject(noun="shadow", category="visual_artifact", grid_localizations=[
        GridLocalization(frame=2, grid_regions=[GridCell(row=1, col=2), GridCell(row=2, col=3)]),
        GridLocalization(frame=6, grid_regions=[]),
        GridLocalization(frame=9, grid_regions=[GridCell(row=0, col=0)])])
    assert [p.frame for p in localization_prompts(affected, 96, 64)] == [2, 9]
    prompts = localization_prompts(affected, 96, 64, frame_count=8)
    rows, cols = quadmask.grid_shape(96, 64)
    cell_w, cell_h = 96 / cols, 64 / rows
    assert len(prompts) == 1 and prompts[0].frame == 2 and not prompts[0].points
    np.testing.assert_allclose(prompts[0].box, (2 * cell_w, cell_h, 4 * cell_w, 3 * cell_h),
                               atol=1)
    results = Sam2Segmenter(**tiny).segment_objects(open_plate(scene.video), {0: prompts},
                                                    tmp_path / "affected")
    assert decoded(results[0].path).shape == (8, 64, 96)


# ---- memory -----------------------------------------------------------------------------------

def test_frames_are_fed_from_memory_without_jpeg_copies(tiny, scene, tmp_path, monkeypatch):
    import PIL.Image
    import sam2.sam2_video_predictor as video_predictor

    def refuse(*args, **kwargs):
        raise AssertionError("the engine must not write or load frame images")

    monkeypatch.setattr(video_predictor, "load_video_frames", refuse)
    monkeypatch.setattr(PIL.Image.Image, "save", refuse)
    monkeypatch.setattr("cv2.imwrite", refuse)
    spill_root = tmp_path / "tmp"
    spill_root.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(spill_root))
    seen: list[str] = []
    engine = Sam2Segmenter(**tiny, max_resident_frames=3)  # 8 frames: spilled to disk
    real_track = engine.predictor.propagate_in_video

    def listing(state, **kwargs):
        seen.extend(str(p.relative_to(spill_root)) for p in spill_root.rglob("*") if p.is_file())
        images = state["images"]
        assert len(images) == 8 and tuple(images[5].shape) == (3, IMAGE_SIZE, IMAGE_SIZE)
        yield from real_track(state, **kwargs)

    monkeypatch.setattr(engine.predictor, "propagate_in_video", listing)
    result = engine.segment(open_plate(scene.video), [click(scene, 4)], tmp_path / "black.mp4")
    assert seen and all(name.endswith("frames.npy") for name in seen)  # raw model-size frames
    assert not list(spill_root.rglob("*"))  # and removed afterwards
    assert not [p for p in tmp_path.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg")]
    assert "spilled" in result.notes[0] and result.frame_count == 8


def test_frames_are_normalised_as_sam2_normalises_them(tmp_path):
    rgb = np.random.default_rng(0).random((40, 50, 3), np.float32)
    from void_core.masking.sam2_engine import IMAGE_MEAN, IMAGE_STD, _model_rgb, _ModelFrames

    frames = _ModelFrames(1, 32, 4, tmp_path)
    frames._pixels[0] = _model_rgb(rgb, 32)
    pixels = torch.from_numpy(frames._pixels[0]).permute(2, 0, 1).float() / 255
    expected = (pixels - torch.tensor(IMAGE_MEAN)[:, None, None]) / torch.tensor(
        IMAGE_STD)[:, None, None]
    torch.testing.assert_close(frames[0], expected)
    assert not frames.spilled
    flat = np.full((20, 300, 3), (0.25, 0.5, 1.0), np.float32)  # one axis grows, one shrinks
    np.testing.assert_array_equal(_model_rgb(flat, 32), np.broadcast_to((64, 128, 255),
                                                                         (32, 32, 3)))


def test_forgetting_far_memories_changes_no_mask(tiny, long_scene, tmp_path, monkeypatch):
    def run(name: str):
        engine = Sam2Segmenter(**tiny)
        spy = Spy(engine.predictor, monkeypatch)
        engine.segment(open_plate(long_scene.video), [click(long_scene, 12)], tmp_path / name)
        return spy

    bounded = run("bounded.mp4")
    monkeypatch.setattr(sam2_engine, "_memory_reach", lambda predictor: 10**6)
    everything = run("everything.mp4")
    assert sorted(bounded.logits) == sorted(everything.logits) == list(range(24))
    for index in range(24):
        assert torch.equal(bounded.logits[index], everything.logits[index]), index
    reach = 4 + 1  # the tiny model reads 3 memory frames and 4 object pointers back
    assert max(everything.memories) == 23  # every tracked frame kept to the end
    assert max(bounded.memories) <= 3 * reach + 1 < 23
    np.testing.assert_array_equal(decoded(tmp_path / "bounded.mp4"),
                                  decoded(tmp_path / "everything.mp4"))


def test_the_state_has_what_init_state_builds(tiny, tmp_path):
    """Our state over in-memory frames carries every key SAM 2's own `init_state` sets (a
    JPEG folder is written here only to call SAM 2's loader for the comparison)."""
    import PIL.Image

    folder = tmp_path / "jpeg"
    folder.mkdir()
    for index in range(2):
        PIL.Image.new("RGB", (48, 32), (index * 90, 60, 30)).save(folder / f"{index}.jpg")
    predictor = Sam2Segmenter(**tiny).predictor
    theirs = predictor.init_state(video_path=str(folder), offload_video_to_cpu=True)
    frames = sam2_engine._ModelFrames(2, IMAGE_SIZE, 2, tmp_path)
    ours = sam2_engine._new_state(predictor, frames, "cpu", offload_state=False)
    assert set(ours) == set(theirs)
    for key in theirs:
        if key not in ("images", "video_height", "video_width", "cached_features"):
            assert type(ours[key]) is type(theirs[key]) and ours[key] == theirs[key], key


# ---- errors -----------------------------------------------------------------------------------

def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_a_missing_checkpoint_is_one_clear_error(tiny, tmp_path):
    with pytest.raises(InputError) as err:
        create_engine("masking", "sam2", config=tiny["config"], checkpoint=tmp_path / "nope.pt")
    assert "nope.pt" in one_line(err) and "checkpoint not found" in one_line(err)
    with pytest.raises(InputError) as err:
        create_engine("masking", "sam2")
    assert "needs a checkpoint" in one_line(err)


@pytest.mark.parametrize("content, words", [
    (b"\x00not a checkpoint" * 10, "not a readable SAM 2 checkpoint"),
    ("no-model", "holds no \"model\" weights"),
    ("other-config", "does not match the config"),
])
def test_a_bad_checkpoint_is_one_clear_error(tiny, tmp_path, content, words):
    path = tmp_path / "bad.pt"
    if content == "no-model":
        torch.save({"weights": {}}, path)
    elif content == "other-config":
        save_checkpoint(tiny_config(width=16), path)
    else:
        path.write_bytes(content)
    engine = create_engine("masking", "sam2", config=tiny["config"], checkpoint=path, device="cpu")
    with pytest.raises(InputError) as err:
        engine.load()
    assert words in one_line(err) and "bad.pt" in one_line(err)


def test_bad_settings_are_one_clear_error(tiny):
    with pytest.raises(InputError) as err:
        Sam2Segmenter(checkpoint=tiny["checkpoint"], config="sam2.1_hiera_tiny")
    assert "not a SAM 2 config" in one_line(err) and "sam2.1_hiera" in one_line(err)
    with pytest.raises(InputError) as err:
        Sam2Segmenter(checkpoint=tiny["checkpoint"], dtype="int8")
    assert "dtype" in one_line(err)
    if not torch.cuda.is_available():
        engine = Sam2Segmenter(checkpoint=tiny["checkpoint"], config=tiny["config"],
                               device="cuda")
        with pytest.raises(InputError) as err:
            engine.load()
        assert "no CUDA GPU" in one_line(err)


def test_packaged_configs_resolve_by_name(tiny):
    engine = Sam2Segmenter(checkpoint=tiny["checkpoint"], config="configs/sam2.1/sam2.1_hiera_t")
    assert engine._config_path.name == "sam2.1_hiera_t.yaml" and engine._config_path.is_file()
    settings = engine.settings()
    assert settings["config"] == "configs/sam2.1/sam2.1_hiera_t"
    assert settings["sam2_version"] == "1.1.0"
    [(name, digest)] = engine.model_checksums().items()
    assert name == "tiny.pt" and digest.startswith("sha256:") and len(digest) == 71


def test_a_prompt_past_the_end_is_refused_before_anything_is_written(tiny, scene, tmp_path):
    engine = Sam2Segmenter(**tiny)
    with pytest.raises(InputError) as err:
        engine.segment(open_plate(scene.video), [click(scene, 2)], tmp_path / "black.mp4",
                       belongings=[[click(scene, 8)]])
    assert "frame 8" in one_line(err) and "8 frames" in one_line(err)
    assert not list(tmp_path.iterdir())


# ---- end to end -------------------------------------------------------------------------------

def test_click_to_quadmask_runs_with_sam2_masks(tiny, scene, tmp_path):
    from conftest import quadmask_from_clicks

    state = quadmask_from_clicks(scene.video, [click(scene, 3)], tmp_path, masker="sam2",
                                 masker_settings=tiny)
    assert state.report("masking").engine == "sam2"
    quad = decoded(state.quadmask)
    assert quad.shape == (8, 64, 96)
    black = decoded(state.black_mask) == 0
    assert ((quad == 0) | (quad == 63))[black].all()  # the primary mask is removed in the quadmask
