"""The `classical` segmenter and its prompts: points.json / CLI parsing, validation, and masks
tracked through synthetic shots (moving and static objects, static and panning cameras)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from void_core.errors import EngineNotFoundError, InputError
from void_core.engines import create_engine
from void_core.masking import (ClickPrompt, parse_box_option,
                               parse_point_option, read_points_json, validate_prompts)
from void_core.masking.classical import ClassicalSegmenter
from void_core.media.encode import write_video
from void_core.media.masks import QuadmaskReader
from void_core.media.plate import open_plate
from void_core.metrics import iou
from void_core.synth import SceneSpec, render_scene, write_scene


# ---- prompts --------------------------------------------------------------------------------

def _write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_points_json_one_prompt_with_box(tmp_path):
    path = _write_json(tmp_path / "points.json", {"frame": 12, "points": [[10, 20], [30.5, 40]],
                                                  "labels": [1, 0], "box": [5, 6, 50, 60]})
    [prompt] = read_points_json(path)
    assert prompt == ClickPrompt(12, ((10.0, 20.0), (30.5, 40.0)), (1, 0), (5.0, 6.0, 50.0, 60.0))
    assert prompt.positive_points == ((10.0, 20.0),)
    assert prompt.negative_points == ((30.5, 40.0),)


def test_points_json_list_of_frames_and_default_labels(tmp_path):
    path = _write_json(tmp_path / "points.json", [{"frame": 3, "points": [[1, 2]]},
                                                  {"frame": 9, "box": [0, 0, 8, 8]}])
    first, second = read_points_json(path)
    assert (first.frame, first.labels) == (3, (1,))
    assert (second.frame, second.points, second.box) == (9, (), (0.0, 0.0, 8.0, 8.0))


def test_void_points_json_is_read(tmp_path):
    entry = {"video_path": "x.mp4", "instruction": "remove the ball",
             "primary_points_by_frame": {"18": [[5, 6]], "7": [[1, 2], [3, 4]]},
             "primary_frames": [7, 18], "first_appears_frame": 7}
    for data in ({"videos": [entry]}, [entry]):
        prompts = read_points_json(_write_json(tmp_path / "cfg_points.json", data))
        assert [p.frame for p in prompts] == [7, 18]
        assert prompts[0].points == ((1.0, 2.0), (3.0, 4.0))
        assert prompts[0].labels == (1, 1)


@pytest.mark.parametrize("data, words", [
    ({"frame": 0, "points": [[1, 2]], "labels": [2]}, "labels must be 1"),
    ({"frame": 0, "points": [[1, 2]], "labels": [1, 1]}, "one 1 or 0 per point"),
    ({"frame": -1, "points": [[1, 2]]}, "frame must be a whole number"),
    ({"frame": 0, "points": [[1]]}, "[x, y]"),
    ({"frame": 0, "box": [10, 10, 5, 20]}, "is empty"),
    ({"frame": 0}, "neither points nor a box"),
    ({"primary_points_by_frame": {"a": [[1, 2]]}}, "frame must be a whole number"),
])
def test_bad_points_json_says_what_is_wrong(tmp_path, data, words):
    path = _write_json(tmp_path / "points.json", data)
    with pytest.raises(InputError, match=r"points\.json") as err:
        read_points_json(path)
    assert words in str(err.value)
    assert "\n" not in str(err.value)


def test_void_flat_points_and_empty_files(tmp_path):
    flat = {"videos": [{"primary_points": [[4, 5]], "first_appears_frame": 6}]}
    [prompt] = read_points_json(_write_json(tmp_path / "old_points.json", flat))
    assert (prompt.frame, prompt.points, prompt.labels) == (6, ((4.0, 5.0),), (1,))
    for empty in ([], {"videos": []}):
        with pytest.raises(InputError, match="holds no click or box"):
            read_points_json(_write_json(tmp_path / "empty.json", empty))


def test_unreadable_points_json(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_points_json(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{frame: 1")
    with pytest.raises(InputError, match="cannot read the points file"):
        read_points_json(tmp_path / "broken.json")


def test_cli_point_and_box_options():
    assert parse_point_option("320,180@12") == ClickPrompt(12, ((320.0, 180.0),), (1,))
    assert parse_point_option(" 10.5 , 20 ") == ClickPrompt(0, ((10.5, 20.0),), (1,))
    assert parse_point_option("5,6", label=0).labels == (0,)
    assert parse_box_option("1,2,30,40@3") == ClickPrompt(3, (), (), (1.0, 2.0, 30.0, 40.0))


@pytest.mark.parametrize("parse, text, words", [
    (parse_point_option, "320", "X,Y[@FRAME]"),
    (parse_point_option, "a,b", "X,Y[@FRAME]"),
    (parse_point_option, "1,2@x", "frame after '@'"),
    (parse_point_option, "1,2@-3", "frame after '@'"),
    (parse_box_option, "1,2,3", "X0,Y0,X1,Y1[@FRAME]"),
    (parse_box_option, "10,10,5,20", "is empty"),
])
def test_bad_cli_options_say_the_format(parse, text, words):
    with pytest.raises(InputError) as err:
        parse(text)
    assert words in str(err.value)


def test_validation_rejects_clicks_outside_the_frame():
    with pytest.raises(InputError) as err:
        validate_prompts([ClickPrompt(2, ((700, 20),), (1,))], 640, 360, 24)
    message = str(err.value)
    assert "(700, 20)" in message and "640x360" in message and "frame 2" in message
    with pytest.raises(InputError, match="negative click 2"):
        validate_prompts([ClickPrompt(0, ((5, 5), (5, 400)), (1, 0))], 640, 360, 24)
    with pytest.raises(InputError, match="box .* lies outside"):
        validate_prompts([ClickPrompt(0, box=(700, 0, 800, 50))], 640, 360, 24)


def test_validation_rejects_frames_past_the_end():
    with pytest.raises(InputError) as err:
        validate_prompts([ClickPrompt(24, ((5, 5),), (1,))], 640, 360, 24)
    assert "frame 24" in str(err.value) and "24 frames (0..23)" in str(err.value)


def test_validation_asks_for_a_prompt():
    with pytest.raises(InputError) as err:
        validate_prompts([], 640, 360, 24, source="shot/input_video.mp4")
    message = str(err.value)
    for words in ("points.json", "--point X,Y[@FRAME]", "--box", "quadmask"):
        assert words in message
    with pytest.raises(InputError, match="only negative clicks"):
        validate_prompts([ClickPrompt(0, ((5, 5),), (0,))], 640, 360, 24)


def test_validation_merges_prompts_of_one_frame():
    merged = validate_prompts([ClickPrompt(4, ((1, 1),), (1,)), ClickPrompt(2, ((3, 3),), (1,)),
                               ClickPrompt(4, ((2, 2),), (0,), (0, 0, 9, 9))], 64, 64, 10)
    assert [p.frame for p in merged] == [2, 4]
    assert merged[1].points == ((1, 1), (2, 2)) and merged[1].labels == (1, 0)
    assert merged[1].box == (0, 0, 9, 9)


# ---- shots ----------------------------------------------------------------------------------

def _segment(plate_path: Path, prompts, tmp_path: Path, **settings):
    out = tmp_path / "black_mask.mp4"
    result = ClassicalSegmenter(**settings).segment(open_plate(plate_path), prompts, out)
    masks = [frame == 0 for frame in QuadmaskReader(out).frames()]
    return result, masks


def _shot_iou(found: list[np.ndarray], truth: list[np.ndarray]) -> float:
    inter = sum(int((a & b).sum()) for a, b in zip(found, truth))
    union = sum(int((a | b).sum()) for a, b in zip(found, truth))
    return inter / union


def _scene(tmp_path: Path, **fields):
    spec = SceneSpec(name="scene", width=192, height=108, frames=12, seed=1,
                     object_size="large", **fields)
    info = write_scene(spec, tmp_path / "scene")
    truth = [np.isin(frame.quadmask, (0, 63)) for frame in render_scene(spec)]
    return info, truth


@pytest.mark.parametrize("camera", ["static", "pan"])
def test_moving_object_is_tracked_from_one_click(tmp_path, camera):
    info, truth = _scene(tmp_path, camera=camera)
    result, masks = _segment(info.video, read_points_json(info.out_dir / "points.json"), tmp_path)
    assert _shot_iou(masks, truth) >= 0.85
    assert any("moving object" in note for note in result.notes)


def test_mask_video_matches_the_plate(tmp_path):
    info, truth = _scene(tmp_path, camera="static", shadow=False)
    out = tmp_path / "black_mask.mp4"
    progress = []
    result = create_engine("masking", "classical").segment(
        open_plate(info.video), read_points_json(info.out_dir / "points.json"), out,
        on_progress=lambda done, total: progress.append((done, total)))
    reader = QuadmaskReader(out)
    assert (reader.info.width, reader.info.height, reader.info.frame_count) == (192, 108, 12)
    frames = list(reader.frames())
    assert len(frames) == 12
    assert set(np.unique(np.stack(frames)).tolist()) <= {0, 255}
    assert [s.area for s in result.frames] == [int((f == 0).sum()) for f in frames]
    assert result.frames[0].area == 0 and result.frames[0].bbox is None  # not yet in view
    assert result.frames[info.click_frame].bbox is not None
    assert progress[-1] == (12, 12)
    assert all(a[0] <= b[0] for a, b in zip(progress, progress[1:]))


# A textured disc crossing a textured wall, visible from frame 0 and partly out of the frame
# at the end; the camera may pan. Object and wall are drawn in world coordinates.

def _texture(height: int, width: int, seed: int, low: int = 40, high: int = 220) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.random((max(2, height // 6), max(2, width // 6), 3)).astype(np.float32)
    smooth = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    return (low + smooth * (high - low)).astype(np.uint8)


def _disc_plate(folder: Path, *, frames: int = 12, pan: float = 0.0, speed: float = 9.0,
                start_x: float = 50.0, moving: bool = True, companion: bool = False,
                width: int = 192,
                height: int = 108) -> tuple[Path, list[np.ndarray], list[tuple[float, float]]]:
    """The plate, the disc's true mask on every frame, and its centre on every frame. A
    `companion` is a yellow disc (a colour the wall does not have) glued to its right side,
    not part of the truth."""
    margin = 8
    world = _texture(height + 2 * margin, width + int(abs(pan) * frames) + 2 * margin, seed=3)
    skin = _texture(60, 60, seed=4, low=0, high=70) + np.array([150, 20, 160], np.uint8)
    yy, xx = np.mgrid[:height, :width]
    plates, truths, centres = [], [], []
    for i in range(frames):
        x0 = margin + int(round(pan * i))
        frame = world[margin:margin + height, x0:x0 + width].copy()
        cx = start_x + (speed * i if moving else 0.0) - (x0 - margin)
        cy = height * 0.55
        inside = (xx - cx) ** 2 / 18.0 ** 2 + (yy - cy) ** 2 / 14.0 ** 2 <= 1
        sy, sx = (yy - cy + 30).astype(int) % 60, (xx - cx + 30).astype(int) % 60
        frame[inside] = skin[sy[inside], sx[inside]]
        if companion:
            glued = ((xx - cx - 30) ** 2 + (yy - cy) ** 2 <= 13.0 ** 2) & ~inside
            frame[glued] = skin[sy[glued], sx[glued]] // 8 + np.array([230, 220, 0], np.uint8)
        plates.append(frame)
        truths.append(inside)
        centres.append((cx, cy))
    path = folder / "plate.mp4"
    write_video(path, plates, Fraction(12), crf=12)
    return path, truths, centres


@pytest.mark.parametrize("pan", [0.0, 3.0])
def test_click_on_a_late_frame_masks_frame_0(tmp_path, pan):
    path, truths, centres = _disc_plate(tmp_path, pan=pan)
    click = ClickPrompt(9, (centres[9],), (1,))
    result, masks = _segment(path, [click], tmp_path)
    assert iou(masks[0], truths[0]) >= 0.85  # tracked backwards, 9 frames before the click
    assert _shot_iou(masks, truths) >= 0.85


def test_object_leaving_the_frame_is_masked_while_partly_visible(tmp_path):
    path, truths, centres = _disc_plate(tmp_path, start_x=60.0, speed=12.0)
    assert 0 < truths[-1].sum() < 0.6 * truths[0].sum()  # the last frames show part of it
    result, masks = _segment(path, [ClickPrompt(2, (centres[2],), (1,))], tmp_path)
    for found, truth in zip(masks[-3:], truths[-3:]):
        assert iou(found, truth) >= 0.8
    assert masks[-1][:, -1].any()  # still held at the frame edge


@pytest.mark.parametrize("pan, start_x", [(0.0, 90.0), (3.0, 30.0)])
def test_static_object_is_found_by_colour(tmp_path, pan, start_x):
    """It never moves against the wall, so only colour finds it; with the pan it is carried
    by the camera motion until half of it has left the frame."""
    path, truths, centres = _disc_plate(tmp_path, pan=pan, moving=False, start_x=start_x)
    result, masks = _segment(path, [ClickPrompt(5, (centres[5],), (1,))], tmp_path)
    assert any("static object" in note for note in result.notes)
    assert _shot_iou(masks, truths) >= 0.85
    assert iou(masks[-1], truths[-1]) >= 0.85


def test_box_prompt_and_two_prompted_frames(tmp_path):
    path, truths, centres = _disc_plate(tmp_path)
    (x, y) = centres[3]
    box = ClickPrompt(3, box=(x - 24, y - 20, x + 24, y + 20))
    click = ClickPrompt(10, (centres[10],), (1,))
    result, masks = _segment(path, [click, box], tmp_path)
    assert sum("frame 3:" in note or "frame 10:" in note for note in result.notes) >= 2
    assert _shot_iou(masks, truths) >= 0.85


def test_negative_click_keeps_a_touching_object_out(tmp_path):
    path, truths, centres = _disc_plate(tmp_path, companion=True)
    (x, y) = centres[4]
    result, masks = _segment(path, [ClickPrompt(4, ((x, y),), (1,))], tmp_path)
    assert masks[4][int(y), int(x + 30)]  # one click alone takes both: they move as one
    prompt = ClickPrompt(4, ((x, y), (x + 30, y)), (1, 0))
    result, masks = _segment(path, [prompt], tmp_path)
    assert _shot_iou(masks, truths) >= 0.85
    assert not any(mask[int(y), int(cx + 30)] for mask, (cx, _) in zip(masks, centres))


def test_plate_wider_than_the_analysis_is_written_at_full_size(tmp_path):
    path, truths, centres = _disc_plate(tmp_path, width=1280, height=96, speed=14.0)
    result, masks = _segment(path, [ClickPrompt(6, (centres[6],), (1,))], tmp_path)
    assert masks[0].shape == (96, 1280)
    assert any("analysed at 960x72" in note for note in result.notes)
    assert _shot_iou(masks, truths) >= 0.85


def test_engine_identity_and_prompt_shape():
    segmenter = create_engine("masking", "classical")
    assert segmenter.name == "classical" and segmenter.version
    assert json.loads(json.dumps(segmenter.settings())) == segmenter.settings()
    with pytest.raises(EngineNotFoundError, match="classical"):
        create_engine("masking", "sam3")
    with pytest.raises(ValueError, match="2 points but 1 labels"):
        ClickPrompt(0, ((1, 2), (3, 4)), (1,))
