"""The classical inpainter on small synthetic counterfactual scenes (ground-truth quadmasks)."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import encode_mask, encode_video
from void_core import metrics
from void_core.media import colour
from void_core.media.exr import read_exr_frame
from void_core.media.masks import QuadmaskReader
from void_core.pipeline import ShotRequest, process_shot, resolve_shot_folder
from void_core.synth import SceneSpec, write_scene


def clean(folder: Path, out: Path, **request):
    result = process_shot(ShotRequest(inputs=resolve_shot_folder(folder), out_root=out, name="s", **request))
    frames = []
    for i in range(result.frames):
        rgb = read_exr_frame(out / "s" / f"s.{1001 + i}.exr").rgb.astype(np.float32)
        frames.append(np.rint(colour.to_display(rgb, colour.Transfer.REC709) * 255).astype(np.uint8))
    return result, frames


def in_mask_psnr(folder: Path, frames, level=None):
    masks = list(QuadmaskReader(folder / "quadmask_0.mp4").frames())
    targets = [cv2.imread(str(p))[:, :, ::-1] for p in sorted((folder / "target").glob("*.png"))]
    se, n = 0.0, 0
    for out, target, quad in zip(frames, targets, masks, strict=True):
        region = quad != 255 if level is None else quad == level
        if region.any():
            se += metrics.mse(out, target, region) * region.sum()
            n += region.sum()
    return metrics.psnr_from_mse(se / n)


@pytest.mark.parametrize(("camera", "push"), [("static", False), ("pan", False), ("static", True)])
def test_fill_is_close_to_the_counterfactual(tmp_path, camera, push):
    spec = SceneSpec(name="t", width=320, height=180, frames=16, camera=camera, push=push,
                     background="procedural" if push else "photo", seed=11)
    write_scene(spec, tmp_path / "scene", lossless=True)
    result, frames = clean(tmp_path / "scene", tmp_path / "out")
    assert result.spatial_share < 0.05
    assert in_mask_psnr(tmp_path / "scene", frames) > 35.0
    assert in_mask_psnr(tmp_path / "scene", frames, level=127) > 34.0


def test_a_pan_beats_the_per_pixel_temporal_median(tmp_path):
    spec = SceneSpec(name="t", width=320, height=180, frames=16, camera="pan", seed=3)
    write_scene(spec, tmp_path / "scene", lossless=True)
    _, frames = clean(tmp_path / "scene", tmp_path / "out")
    ours = in_mask_psnr(tmp_path / "scene", frames)
    # Baseline: per-pixel median of the frames where the pixel is not masked, no alignment.
    from void_core.media.plate import open_plate

    plate = open_plate(tmp_path / "scene" / "input_video.mp4")
    factual = np.stack(list(plate.frames())).astype(np.float32)
    masks = np.stack(list(QuadmaskReader(tmp_path / "scene" / "quadmask_0.mp4").frames()))
    hidden = np.repeat((masks != 255)[..., None], 3, -1)
    median = np.nanmedian(np.where(hidden, np.nan, factual), axis=0)
    baseline = [np.where(hidden[i] & ~np.isnan(median), np.nan_to_num(median), factual[i]).round().astype(np.uint8)
                for i in range(len(factual))]
    assert ours > in_mask_psnr(tmp_path / "scene", baseline) + 5.0


def test_never_visible_background_completes_spatially_and_says_so(tmp_path):
    folder = tmp_path / "still"
    folder.mkdir()
    rng = np.random.default_rng(0)
    frame = (rng.random((64, 96, 3)) * 255).astype(np.uint8)
    frame[20:40, 30:60] = (200, 40, 40)
    mask = np.full((64, 96), 255, np.uint8)
    mask[20:40, 30:60] = 0
    encode_video(folder / "input_video.mp4", [frame] * 6)
    encode_mask(folder / "quadmask_0.mp4", [mask] * 6)
    result, frames = clean(folder, tmp_path / "out")
    assert result.spatial_share == pytest.approx(1.0, abs=1e-3)
    assert any("spatial only" in note for note in result.notes)
    assert np.abs(frames[3][30, 45].astype(int) - (200, 40, 40)).max() > 60  # the red block is gone


def test_engine_settings_are_recorded(tmp_path):
    spec = SceneSpec(name="t", width=160, height=96, frames=6, seed=2)
    write_scene(spec, tmp_path / "scene")
    clean(tmp_path / "scene", tmp_path / "out", engine_settings={"observations": 4})
    header = read_exr_frame(tmp_path / "out" / "s" / "s.1001.exr").header
    settings = json.loads(header["void/engine_settings"])
    assert settings["engine"]["observations"] == 4
    assert header["void/refiner"].startswith("flow")
