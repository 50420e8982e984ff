"""Long shots in parts: frame ranges of a shot, the classical engine's prepare + parts, and the
pipeline rendering parts to the same EXRs as one process."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from void_core.composite import Feather
from void_core.media.encode import write_mask_video, write_video
from void_core.media.masks import QuadmaskReader
from void_core.media.plate import open_plate
from void_core.pipeline.render import _scan_mask, _shot_frames

FRAMES = 90  # far enough in that a stream starting at 60 seeks (SEEK_AFTER_FRAMES is 48)


def _ramp(index: int, height: int = 48, width: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([(xx * 3 + index) % 256, (yy * 5 + 2 * index) % 256,
                     np.full_like(xx, index % 256)], axis=-1).astype(np.uint8)


def _mask(index: int, height: int = 48, width: int = 64) -> np.ndarray:
    mask = np.full((height, width), 255, np.uint8)
    mask[10:20, (index % 40):(index % 40) + 12] = 0
    mask[20:24, 5:15] = 127
    return mask


def _shot(plate_path: Path, mask_path: Path):
    plate = open_plate(plate_path, rate=Fraction(24))
    reader = QuadmaskReader(mask_path)
    feather = Feather.for_width(plate.info.width)
    timings = {"decode": 0.0}
    return _shot_frames(plate, reader, _scan_mask(reader, feather), feather, timings)


def _video_shot(tmp_path: Path):
    plate = write_video(tmp_path / "plate.mp4", (_ramp(i) for i in range(FRAMES)), 24,
                        options={"g": "12", "bf": "2"})
    mask = write_mask_video(tmp_path / "mask.mp4", (_mask(i) for i in range(FRAMES)), 24)
    return _shot(plate, mask)


def _sequence_shot(tmp_path: Path):
    plates, masks = tmp_path / "plate", tmp_path / "mask"
    plates.mkdir()
    masks.mkdir()
    for index in range(FRAMES):
        cv2.imwrite(str(plates / f"plate.{1001 + index:04d}.png"), _ramp(index)[..., ::-1])
        cv2.imwrite(str(masks / f"mask.{1001 + index:04d}.png"), _mask(index))
    return _shot(plates, masks)


@pytest.mark.parametrize("make_shot", [_video_shot, _sequence_shot], ids=["video", "sequence"])
@pytest.mark.parametrize("start, stop", [(0, 15), (60, 75), (80, 90), (85, 200)])
def test_a_stream_of_frames_start_to_stop_gives_those_frames_with_their_shot_index(
        tmp_path, make_shot, start, stop):
    shot = make_shot(tmp_path)
    everything = list(shot.stream())
    part = list(shot.stream(start, stop))
    expected = everything[start:stop]
    assert [frame.index for frame in part] == [frame.index for frame in expected] \
        == list(range(start, min(stop, FRAMES)))
    for got, want in zip(part, expected):
        np.testing.assert_array_equal(got.raw, want.raw)
        np.testing.assert_array_equal(got.quad, want.quad)


def test_a_stream_outside_the_shot_is_a_bug_said_plainly(tmp_path):
    shot = _sequence_shot(tmp_path)
    with pytest.raises(ValueError, match="not a range"):
        shot.stream(50, 40)


# --- the classical engine in parts ------------------------------------------------------------


@pytest.fixture(scope="module")
def panning_scene(tmp_path_factory):
    from void_core.synth import SceneSpec, write_scene

    return write_scene(SceneSpec(name="pan", width=128, height=80, frames=30, camera="pan",
                                 shadow=True, seed=4), tmp_path_factory.mktemp("pan"))


def _fills(fills) -> list[tuple[int, bytes | None, bytes | None]]:
    return [(fill.frame.index, None if fill.display is None else fill.display.tobytes(),
             None if fill.unstable is None else fill.unstable.tobytes()) for fill in fills]


@pytest.mark.parametrize("settings", [{}, {"regrain": True}], ids=["default", "regrain"])
def test_classical_prepare_then_every_part_gives_the_fills_of_one_inpaint_bit_exact(
        panning_scene, tmp_path, settings):
    from void_core.inpaint.classical import ClassicalInpainter

    shot = _shot(panning_scene.video, panning_scene.mask)
    whole = ClassicalInpainter(**settings)
    expected = _fills(whole.inpaint(shot))
    parts = ClassicalInpainter(**settings).prepare(shot, tmp_path / "parts", chunk_frames=8)
    assert [(p.start, p.stop) for p in parts] == [(0, 8), (8, 15), (15, 22), (22, 30)]
    assert all(part.after == () for part in parts)
    got = []
    for part in reversed(parts):  # any order, each in an engine of its own (another worker)
        got = _fills(ClassicalInpainter(**settings).fill_part(shot, tmp_path / "parts", part)) + got
    assert got == expected
    assert any(display is not None for _, display, _ in got)


def test_classical_parts_of_a_shot_with_nothing_to_remove_pass_every_frame_through(tmp_path):
    from void_core.inpaint.classical import ClassicalInpainter

    plate = write_video(tmp_path / "plate.mp4", (_ramp(i) for i in range(12)), 24)
    mask = write_mask_video(tmp_path / "mask.mp4", (np.full((48, 64), 255, np.uint8)
                                                    for _ in range(12)), 24)
    shot = _shot(plate, mask)
    engine = ClassicalInpainter()
    parts = engine.prepare(shot, tmp_path / "parts", chunk_frames=5)
    fills = [fill for part in parts for fill in engine.fill_part(shot, tmp_path / "parts", part)]
    assert [fill.frame.index for fill in fills] == list(range(12))
    assert all(fill.display is None and fill.box.empty for fill in fills)


@pytest.mark.parametrize("frames, chunk, sizes", [
    (480, 120, [120] * 4), (130, 120, [65, 65]), (120, 120, [120]), (50, 0, [50]),
    (7, 3, [2, 3, 2])])
def test_even_parts_cover_the_shot_in_parts_no_longer_than_the_chunk(frames, chunk, sizes):
    from void_core.inpaint.base import even_parts

    parts = even_parts(frames, chunk)
    assert [part.frame_count for part in parts] == sizes
    assert parts[0].start == 0 and parts[-1].stop == frames
    assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))
    assert [part.index for part in parts] == list(range(len(parts)))
