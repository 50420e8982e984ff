"""The counterfactual scene generator: ground-truth consistency, content, the written folder."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from void_core.errors import VoidFarmError
from void_core.synth import (SceneSpec, SceneSpecError, plan_scene, render_scene, standard_scenes,
                             write_scene)
from void_core.synth.textures import PHOTOS, load_photo

W, H, N = 128, 72, 12
QUAD = {0, 63, 127, 255}
SHADOW_SCENES = ("static_shadow", "pan_shadow", "large_object", "pan_push")


def catalogue(width=W, height=H, frames=N) -> dict[str, SceneSpec]:
    return {spec.name: spec for spec in standard_scenes(width, height, frames)}


@pytest.fixture(scope="module")
def rendered() -> dict[str, list]:
    return {name: list(render_scene(spec)) for name, spec in catalogue().items()}


def present(frames) -> set[int]:
    return set().union(*(np.unique(f.quadmask).tolist() for f in frames))


def test_catalogue_covers_the_required_situations():
    specs = catalogue()
    assert list(specs) == ["static_shadow", "pan_shadow", "push", "small_object", "large_object",
                           "pan_push"]
    combos = {(s.camera, s.background, s.object_size, s.shadow, s.push) for s in specs.values()}
    assert ("static", "photo", "small", True, False) in combos
    assert ("pan", "photo", "small", True, False) in combos
    assert ("static", "procedural", "small", False, True) in combos
    assert {s.object_size for s in specs.values()} == {"small", "large"}
    assert specs["pan_push"].camera == "pan" and specs["pan_push"].push
    assert len({s.seed for s in specs.values()}) == len(specs)


def test_same_seed_gives_identical_frames_and_another_seed_does_not():
    spec = catalogue()["pan_push"]
    first, second = list(render_scene(spec)), list(render_scene(spec))
    for a, b in zip(first, second, strict=True):
        for field in ("factual", "target", "quadmask", "object_alpha"):
            assert np.array_equal(getattr(a, field), getattr(b, field))
    other = list(render_scene(replace(spec, seed=spec.seed + 100)))
    assert not np.array_equal(first[-1].factual, other[-1].factual)


def test_frames_have_the_promised_types_and_sizes(rendered):
    for frames in rendered.values():
        assert [f.index for f in frames] == list(range(N))
        frame = frames[N // 2]
        assert frame.factual.shape == frame.target.shape == (H, W, 3)
        assert frame.factual.dtype == frame.target.dtype == frame.quadmask.dtype == np.uint8
        assert frame.quadmask.shape == frame.object_alpha.shape == (H, W)


def test_factual_equals_target_exactly_wherever_the_mask_keeps(rendered):
    for name, frames in rendered.items():
        for f in frames:
            keep = f.quadmask == 255
            assert np.array_equal(f.factual[keep], f.target[keep]), (name, f.index)
            assert set(np.unique(f.quadmask).tolist()) <= QUAD


def test_object_pixels_are_always_masked_as_object(rendered):
    for frames in rendered.values():
        for f in frames:
            on_object = f.object_alpha > 0.5
            assert np.isin(f.quadmask[on_object], (0, 63)).all()
            assert (f.object_alpha[f.quadmask == 63] > 0.5).all()  # overlap lies on the object


def test_frame_zero_has_no_affected_grey(rendered):
    for name, frames in rendered.items():
        assert not np.isin(frames[0].quadmask, (63, 127)).any(), name


def test_each_scene_has_the_classes_it_should(rendered):
    for name in SHADOW_SCENES:
        assert present(rendered[name]) == QUAD, name
    assert present(rendered["small_object"]) == {0, 255}
    assert present(rendered["push"]) == QUAD


def test_push_marks_the_box_only_after_contact():
    spec = catalogue()["push"]
    plan = plan_scene(spec)
    assert 1 <= plan.contact_frame < N - 1
    for f in render_scene(spec):
        affected = np.isin(f.quadmask, (63, 127))
        if f.index < plan.contact_frame:
            assert not affected.any(), f.index
        else:
            assert _box_interior(plan, f.index)[affected].any(), f.index


def test_pan_push_marks_the_box_rest_place_after_contact_only(rendered):
    plan = plan_scene(catalogue()["pan_push"])
    for f in rendered["pan_push"]:
        grey_on_box = (f.quadmask == 127) & _box_interior(plan, f.index)
        assert grey_on_box.any() == (f.index >= plan.contact_frame), f.index


def _box_interior(plan, index) -> np.ndarray:
    """Pixels well inside the pushed box at its resting place, on frame `index`."""
    cx, cy = plan.on_screen(plan.pushed_rest, index)
    half_w, half_h = (0.6 * s for s in plan.pushed.half_size)
    yy, xx = np.mgrid[0:plan.spec.height, 0:plan.spec.width]
    return (np.abs(xx - cx) <= half_w) & (np.abs(yy - cy) <= half_h)


def test_panning_moves_the_background_and_static_does_not(rendered):
    for name, static in (("pan_shadow", False), ("pan_push", False), ("static_shadow", True)):
        plan = plan_scene(catalogue()[name])
        first, last = (rendered[name][i].target.astype(np.float32).mean(axis=2) for i in (0, -1))
        (dx, dy), _ = cv2.phaseCorrelate(first, last)
        expected = plan.camera[0] - plan.camera[-1]  # the background slides against the camera
        if static:
            assert np.allclose(expected, 0) and abs(dx) < 0.5 and abs(dy) < 0.5
        else:
            assert abs(expected[0]) > 0.1 * W
            assert abs(dx - expected[0]) < 1.0 and abs(dy - expected[1]) < 1.0, (name, dx, dy)


def _varied_specs(count: int) -> list[SceneSpec]:
    """Deterministic random mixes of every option, sizes and lengths (odd aspect ratios too)."""
    rng = np.random.default_rng(2024)
    sizes = [(64, 64), (128, 72), (96, 160), (256, 64)]
    specs = []
    for i in range(count):
        width, height = sizes[i % len(sizes)]
        specs.append(SceneSpec(
            name=f"mix{i}", width=width, height=height, frames=int(rng.integers(2, 12)), seed=i,
            camera=str(rng.choice(["static", "pan"])),
            background=str(rng.choice(["photo", "procedural"])),
            object_size=str(rng.choice(["small", "large"])),
            shadow=bool(rng.random() < 0.5), push=bool(rng.random() < 0.5)))
    return specs


@pytest.mark.parametrize("spec", _varied_specs(24), ids=lambda s: s.name)
def test_invariants_hold_across_varied_scenes(spec):
    plan = plan_scene(spec)
    frames = list(render_scene(spec))
    assert not np.isin(frames[0].quadmask, (63, 127)).any()
    for f in frames:
        keep = f.quadmask == 255
        assert np.array_equal(f.factual[keep], f.target[keep])
    x, y = plan.click
    assert frames[plan.click_frame].object_alpha[y, x] > 0.5
    if spec.push:
        assert 1 <= plan.contact_frame < spec.frames
        assert any((f.quadmask == 127).any() for f in frames[plan.contact_frame:])


def test_object_sizes_match_their_class():
    for size, (low, high) in (("small", (0.01, 0.02)), ("large", (0.10, 0.15))):
        for seed in range(4):
            spec = SceneSpec(name="size", width=256, height=144, frames=9, seed=seed,
                             object_size=size)
            plan = plan_scene(spec)
            frame = next(f for f in render_scene(spec) if f.index == plan.click_frame)
            fraction = (frame.object_alpha > 0.5).mean()
            assert low <= fraction <= high, (size, seed, fraction)


def test_sensor_noise_has_the_requested_sigma_and_is_shared():
    for sigma in (0.0, 3.0, 6.0):
        spec = SceneSpec(name="noise", width=256, height=144, frames=2, background="procedural",
                         shadow=False, noise_sigma=sigma, seed=3)
        a, b = render_scene(spec)
        keep = (a.quadmask == 255) & (b.quadmask == 255)
        diff = a.factual[keep].astype(np.float64) - b.factual[keep]
        # Between two frames of a static shot only the noise differs: std = sigma * sqrt(2).
        measured = diff.std() / np.sqrt(2)
        assert abs(measured - sigma) < 0.1 * sigma + 0.35, (sigma, measured)


def test_written_folder_matches_the_render(tmp_path):
    spec = catalogue(frames=8)["pan_push"]
    info = write_scene(spec, tmp_path / "sh")
    frames = list(render_scene(spec))
    folder = tmp_path / "sh"

    with av.open(str(folder / "input_video.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == Fraction(12) and stream.codec_context.colorspace == 1
        decoded = list(container.decode(stream))
    assert len(decoded) == 8 and (decoded[0].width, decoded[0].height) == (W, H)
    for frame, rendered_frame in zip(decoded, frames):
        luma = frame.to_ndarray()[:H].astype(np.float64)  # yuv420p: the Y plane comes first
        assert np.abs(luma - _bt709_luma(rendered_frame.factual)).mean() < 1.5  # crf 10

    with av.open(str(folder / "quadmask_0.mp4")) as container:
        masks = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
    assert all(np.array_equal(m, f.quadmask) for m, f in zip(masks, frames, strict=True))

    targets = sorted((folder / "target").glob("*.png"))
    assert [p.name for p in targets] == [f"{i:04d}.png" for i in range(8)]
    for path, frame in zip(targets, frames):
        assert np.array_equal(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), frame.target)

    prompt = json.loads((folder / "prompt.json").read_text())
    assert prompt["bg"].startswith("A slow camera pan across") and prompt["bg"].endswith(".")
    points = json.loads((folder / "points.json").read_text())
    (x, y), = points["points"]
    assert points["labels"] == [1] and 0 <= points["frame"] < 8
    assert masks[points["frame"]][y, x] in (0, 63)
    assert frames[points["frame"]].object_alpha[y, x] > 0.5

    scene = json.loads((folder / "scene.json").read_text())
    assert scene["fps"] == "12/1" and scene["frames"] == 8 and scene["spec"]["camera"] == "pan"
    counts = {int(k): v for k, v in scene["quadmask_counts"].items()}
    assert counts == info.quadmask_counts and sum(counts.values()) == 8 * W * H
    assert counts == {v: sum(int((f.quadmask == v).sum()) for f in frames) for v in QUAD}
    assert scene["pushed"]["contact_frame"] == info.contact_frame
    assert not list(folder.glob(".*"))  # no temporary files left behind


def _bt709_luma(rgb: np.ndarray) -> np.ndarray:
    """Limited-range BT.709 Y of 8-bit RGB."""
    weighted = rgb.astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])
    return 16 + weighted * 219 / 255


def test_trimask_name_and_rewrite_of_a_shorter_scene(tmp_path):
    spec = SceneSpec(name="tri", width=W, height=H, frames=6)
    write_scene(spec, tmp_path)
    info = write_scene(replace(spec, frames=3), tmp_path, mask_name="trimask_quadmask.mp4")
    with av.open(str(info.mask)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 3
    assert info.mask.name == "trimask_quadmask.mp4"
    assert not (tmp_path / "quadmask_0.mp4").exists()  # the longer scene's mask is gone
    assert len(list((tmp_path / "target").glob("*.png"))) == 3
    with pytest.raises(VoidFarmError, match="plain .mp4"):
        write_scene(spec, tmp_path, mask_name="../mask.mov")


def test_single_frame_scene_still_shows_the_object(tmp_path):
    info = write_scene(SceneSpec(name="one", width=W, height=H, frames=1), tmp_path)
    assert info.frame_count == 1 and info.click_frame == 0 and info.quadmask_counts[0] > 0


@pytest.mark.parametrize("fields, field", [
    (dict(width=129), "width"), (dict(height=62), "height"), (dict(width=64.0), "width"),
    (dict(frames=0), "frames"), (dict(fps=0), "fps"), (dict(fps="fast"), "fps"),
    (dict(camera="dolly"), "camera"), (dict(background="video"), "background"),
    (dict(object_size="huge"), "object_size"), (dict(noise_sigma=-1), "noise_sigma"),
    (dict(seed=-3), "seed"), (dict(push=1), "push"), (dict(name="a/b"), "name"),
])
def test_invalid_specs_are_refused_naming_the_field(fields, field):
    with pytest.raises(SceneSpecError, match=field) as caught:
        SceneSpec(**{"name": "bad", **fields})
    assert isinstance(caught.value, VoidFarmError) and isinstance(caught.value, ValueError)


def test_spec_normalises_fps_and_serialises_it():
    spec = SceneSpec(name="ntsc", fps="24000/1001")
    assert spec.fps == Fraction(24000, 1001) and spec.to_json()["fps"] == "24000/1001"


def test_photos_are_bundled_and_load_without_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    for name in PHOTOS:
        photo = load_photo(name)
        assert photo.ndim == 3 and photo.shape[2] == 3 and photo.dtype == np.uint8
        assert min(photo.shape[:2]) >= 256
