"""Video and quadmask writing: tags, exact rates, lossless limited-range masks, atomic files."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from void_core.errors import MediaError
from void_core.media.encode import luma_to_mask, mask_to_luma, write_mask_video, write_video
from void_core.media.masks import QuadmaskReader
from void_core.media.video import iter_video_codes, probe_video

QUAD = (0, 63, 127, 255)
LUMA = (16, 70, 125, 235)


def gradient_frames(count: int, width: int = 128, height: int = 72) -> list[np.ndarray]:
    yy, xx = np.mgrid[0:height, 0:width]
    return [np.stack([(xx * 2 + i * 8) % 256, (yy * 3) % 256, np.full_like(xx, 90 + i)],
                     -1).astype(np.uint8) for i in range(count)]


def quad_masks(count: int, width: int = 96, height: int = 64) -> list[np.ndarray]:
    """Masks holding the four values in bands that move from frame to frame."""
    masks = []
    for i in range(count):
        mask = np.full((height, width), 255, np.uint8)
        mask[:, i * 4:i * 4 + 20] = 0
        mask[10:30, 40 + i:70] = 63
        mask[40:, 50:] = 127
        masks.append(mask)
    return masks


def decoded_luma(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray()[0] for frame in container.decode(video=0)]


def test_video_round_trip_keeps_count_size_exact_rate_and_bt709_tags(tmp_path):
    frames = gradient_frames(7)
    path = write_video(tmp_path / "clip.mp4", iter(frames), Fraction(24000, 1001))
    info = probe_video(path)
    assert (info.width, info.height, info.frame_count) == (128, 72, 7)
    assert info.rate == Fraction(24000, 1001)
    assert (info.codec, info.pix_fmt, info.matrix) == ("h264", "yuv420p", "itu709")
    assert not info.full_range
    with av.open(str(path)) as container:
        ctx = container.streams.video[0].codec_context
        assert (ctx.color_primaries, ctx.color_trc, ctx.colorspace, ctx.color_range) == (1, 1, 1, 1)
    decoded = list(iter_video_codes(info))
    errors = [np.abs(d.astype(int) - f.astype(int)).mean() for d, f in zip(decoded, frames)]
    assert max(errors) < 3.0  # crf 10: only chroma subsampling and rounding remain


def test_mask_video_stores_limited_range_luma_and_expands_back_exactly(tmp_path):
    masks = quad_masks(5)
    path = write_mask_video(tmp_path / "quadmask_0.mp4", iter(masks), Fraction(12))
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.pix_fmt == "yuv444p"
        assert "4:4:4" in stream.codec_context.profile
        assert stream.average_rate == 12
        frames = list(container.decode(stream))
    assert len(frames) == 5
    for frame, mask in zip(frames, masks):
        y, u, v = frame.to_ndarray()
        assert set(np.unique(y).tolist()) == set(LUMA)
        for value, luma in zip(QUAD, LUMA):
            assert np.all(y[mask == value] == luma)
        assert np.all(u == 128) and np.all(v == 128)
        assert np.array_equal(luma_to_mask(y), mask)  # (Y - 16) * 255 / 219, rounded
        assert np.array_equal(frame.to_ndarray(format="gray"), mask)  # FFmpeg's own expansion


def test_mask_video_reads_back_through_the_project_reader(tmp_path):
    masks = quad_masks(4)
    reader = QuadmaskReader(write_mask_video(tmp_path / "trimask_quadmask.mp4", masks, 12))
    assert reader.info.limited_range
    assert all(np.array_equal(a, b) for a, b in zip(reader.frames(), masks, strict=True))


def test_luma_mapping_matches_void():
    assert mask_to_luma(np.array(QUAD, np.uint8)).tolist() == list(LUMA)
    assert luma_to_mask(np.array(LUMA, np.uint8)).tolist() == list(QUAD)
    assert luma_to_mask(np.array([0, 255], np.uint8)).tolist() == [0, 255]  # clipped


def test_odd_size_is_refused_for_420_with_a_clear_error(tmp_path):
    with pytest.raises(MediaError, match="must be even") as caught:
        write_video(tmp_path / "odd.mp4", [np.zeros((71, 128, 3), np.uint8)], 12)
    assert caught.value.path == tmp_path / "odd.mp4" and caught.value.hint
    assert list(tmp_path.iterdir()) == []


def test_odd_size_is_fine_without_chroma_subsampling(tmp_path):
    odd = [np.zeros((71, 127, 3), np.uint8)] * 2
    write_video(tmp_path / "odd444.mp4", odd, 12, pix_fmt="yuv444p")
    write_mask_video(tmp_path / "oddmask.mp4", [np.zeros((71, 127), np.uint8)] * 2, 12)
    assert probe_video(tmp_path / "oddmask.mp4").width == 127


@pytest.mark.parametrize("codec, pix_fmt, name", [
    ("ffv1", "yuv444p", "clip.mkv"),
    ("prores_ks", "yuv422p10le", "clip.mov"),
])
def test_other_codecs(tmp_path, codec, pix_fmt, name):
    path = write_video(tmp_path / name, gradient_frames(3), Fraction(25), codec=codec,
                       pix_fmt=pix_fmt)
    info = probe_video(path)
    assert (info.frame_count, info.pix_fmt, info.rate) == (3, pix_fmt, Fraction(25))


def test_file_appears_only_when_complete(tmp_path):
    path = tmp_path / "clip.mp4"
    seen_during_write = []

    def frames():
        for frame in gradient_frames(4):
            seen_during_write.append(path.exists())
            yield frame

    write_video(path, frames(), 12)
    assert seen_during_write == [False] * 4 and path.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_failure_midway_leaves_no_partial_file_and_keeps_the_old_one(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"previous version")

    def frames():
        yield from gradient_frames(2)
        raise RuntimeError("renderer crashed")

    with pytest.raises(RuntimeError):
        write_video(path, frames(), 12)
    assert path.read_bytes() == b"previous version"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


@pytest.mark.parametrize("frames, problem", [
    ([], "no frames"),
    ([np.zeros((72, 128, 3), np.uint8), np.zeros((64, 128, 3), np.uint8)], "the first was 128x72"),
    ([np.zeros((72, 128), np.uint8)], "expected H x W x 3"),
])
def test_bad_frame_streams_are_refused(tmp_path, frames, problem):
    with pytest.raises(MediaError, match=problem):
        write_video(tmp_path / "clip.mp4", frames, 12)
    assert list(tmp_path.iterdir()) == []


def test_bad_rate_and_missing_folder(tmp_path):
    with pytest.raises(MediaError, match="positive"):
        write_mask_video(tmp_path / "m.mp4", quad_masks(1), 0)
    with pytest.raises(MediaError, match="does not exist"):
        write_mask_video(tmp_path / "missing" / "m.mp4", quad_masks(1), 12)
