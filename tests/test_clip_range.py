"""Staging a clip cut from longer media: frame-exact, lossless, reused while unchanged."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from void_core.errors import MediaError
from void_core.media.clip_range import stage_clip, video_start_frame
from void_core.media.colour import Transfer
from void_core.media.plate import open_plate

W, H, N = 64, 48, 9


def ramp(index: int) -> np.ndarray:
    """A frame that differs per index, with colour edges (chroma matters)."""
    y, x = np.mgrid[0:H, 0:W]
    frame = np.stack([(x * 4 + index * 17) % 256, (y * 5 + index * 29) % 256,
                      ((x + y) * 3 + index * 7) % 256], axis=-1)
    return frame.astype(np.uint8)


def write_video(path: Path, codec: str, pix_fmt: str, *, timecode: str | None = None,
                trc: int | None = 1, frames: int = N, rate: Fraction = Fraction(24),
                options: dict | None = None) -> Path:
    with av.open(str(path), "w") as out:
        if timecode:
            out.metadata["timecode"] = timecode
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
        if options:
            stream.options = options
        if trc is not None:
            stream.codec_context.color_trc = trc
            stream.codec_context.colorspace = 1
            stream.codec_context.color_primaries = 1
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(ramp(index), format="rgb24").reformat(format=pix_fmt)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.mark.parametrize("codec, pix_fmt, suffix", [
    ("libx264", "yuv420p", ".mp4"),          # 8-bit 4:2:0, chroma sited left
    ("prores_ks", "yuv422p10le", ".mov"),    # 10-bit 4:2:2, decoded to 16-bit codes
])
def test_a_video_range_reads_back_as_the_same_codes(tmp_path, codec, pix_fmt, suffix):
    media = write_video(tmp_path / f"camera{suffix}", codec, pix_fmt)
    staged = stage_clip(media, "video", 2, 5, tmp_path / "stage")

    source, plate = open_plate(media), open_plate(staged)
    expected = list(source.frames())[2:7]
    got = list(plate.frames())
    assert len(got) == 5
    for want, have in zip(expected, got):
        assert have.dtype == want.dtype
        np.testing.assert_array_equal(have, want)
    assert plate.info.transfer is source.info.transfer is Transfer.REC709
    assert (plate.info.width, plate.info.height, plate.info.rate) == (W, H, Fraction(24))


def test_an_untagged_video_stays_srgb(tmp_path):
    media = write_video(tmp_path / "untagged.mp4", "libx264", "yuv420p", trc=None)
    staged = stage_clip(media, "video", 0, 3, tmp_path / "stage")
    assert open_plate(staged).info.transfer is open_plate(media).info.transfer is Transfer.SRGB


def test_the_stage_is_reused_until_the_range_or_the_media_changes(tmp_path):
    media = write_video(tmp_path / "camera.mp4", "libx264", "yuv420p")
    folder = tmp_path / "stage"
    first = stage_clip(media, "video", 1, 4, folder)
    stamp = first.stat().st_mtime_ns
    assert stage_clip(media, "video", 1, 4, folder).stat().st_mtime_ns == stamp

    assert open_plate(stage_clip(media, "video", 3, 4, folder)).info.frame_count == 4
    assert first.stat().st_mtime_ns != stamp  # another range: staged again
    stamp = first.stat().st_mtime_ns
    write_video(media, "libx264", "yuv420p")  # the media was replaced
    stage_clip(media, "video", 3, 4, folder)
    assert first.stat().st_mtime_ns != stamp
    assert not list(folder.glob(".*")), "no partial file is left behind"


def test_a_range_past_the_end_of_the_video_is_refused(tmp_path):
    media = write_video(tmp_path / "camera.mp4", "libx264", "yuv420p")
    with pytest.raises(MediaError, match=f"holds {N} frames, the clip needs frames 6..10"):
        stage_clip(media, "video", 6, 5, tmp_path / "stage")
    assert not (tmp_path / "stage" / "plate.mkv").exists()


def test_a_sequence_range_is_links_to_the_clips_frames(tmp_path):
    folder = tmp_path / "pull"
    folder.mkdir()
    for number in range(1001, 1001 + N):
        cv2.imwrite(str(folder / f"A001.{number}.png"), ramp(number)[..., ::-1])
    staged = stage_clip(folder, "png", 3, 4, tmp_path / "stage")

    names = sorted(path.name for path in staged.iterdir())
    assert names == [f"A001.{number}.png" for number in range(1004, 1008)]
    assert all(path.is_symlink() for path in staged.iterdir())
    plate = open_plate(staged, rate=Fraction(24))
    assert plate.info.first_frame == 1004 and plate.info.frame_count == 4
    np.testing.assert_array_equal(next(iter(plate.frames())), ramp(1004))


def test_the_video_start_timecode_counts_frames_as_edl_source_timecodes_do(tmp_path):
    media = write_video(tmp_path / "camera.mov", "prores_ks", "yuv422p10le",
                        timecode="01:00:10:00")
    assert video_start_frame(media, Fraction(24)) == (3600 + 10) * 24
    assert video_start_frame(write_video(tmp_path / "plain.mp4", "libx264", "yuv420p"),
                             Fraction(24)) is None


@pytest.mark.parametrize("codec, pix_fmt", [("libx264", "yuv420p"), ("prores_ks", "yuv422p10le")])
def test_far_into_a_long_video_decoding_seeks_and_gives_the_same_frames(tmp_path, codec, pix_fmt):
    from void_core.media import video

    # 23.976 fps; H.264 with a keyframe every 12 frames and B-frames between
    options = {"g": "12", "bf": "2"} if codec == "libx264" else None
    media = write_video(tmp_path / f"long.{'mp4' if codec == 'libx264' else 'mov'}", codec,
                        pix_fmt, frames=130, rate=Fraction(24000, 1001), options=options)
    info = video.probe_video(media)
    first = 101
    assert first >= video.SEEK_AFTER_FRAMES
    started_at = next(video._indexed_frames(info, first))[0]
    assert 0 < started_at <= first, "decoding started at a keyframe after frame 0"

    everything = list(video.iter_video_codes(info))
    part = list(video.iter_video_codes(info, first, 20))
    assert len(part) == 20
    for want, got in zip(everything[first:first + 20], part):
        np.testing.assert_array_equal(got, want)
    tail = list(video.iter_video_codes(info, 125))  # up to the last frame
    assert len(tail) == 5
    np.testing.assert_array_equal(tail[-1], everything[-1])
