"""Decoding, colour transfers, EXR frames and image sequences."""

from fractions import Fraction

import numpy as np
import pytest

from conftest import encode_mask, encode_video
from void_core.errors import MediaError
from void_core.media import colour
from void_core.media.colour import Transfer
from void_core.media.exr import read_exr_frame, remove_stale_temporaries, write_exr_frame
from void_core.media.masks import QuadmaskReader
from void_core.media.plate import open_plate
from void_core.media.sequence import find_sequence
from void_core.media.video import iter_video_codes, probe_video


@pytest.mark.parametrize("transfer", list(Transfer))
def test_transfers_round_trip(transfer):
    display = np.linspace(0, 1, 1001, dtype=np.float32)
    back = colour.to_display(colour.to_linear(display, transfer), transfer)
    np.testing.assert_allclose(back, display, atol=2e-6)


def test_transfer_reference_points():
    assert colour.to_linear(np.float32(0.5), Transfer.SRGB) == pytest.approx(0.21404, abs=1e-5)
    assert colour.to_linear(np.float32(0.5), Transfer.REC709) == pytest.approx(0.25958, abs=2e-4)
    assert colour.to_linear(np.float32(1.0), Transfer.SRGB) == pytest.approx(1.0)


def test_lut_linearisation_equals_direct_computation():
    codes = np.arange(256, dtype=np.uint8)
    direct = colour.to_linear(codes / np.float32(255), Transfer.SRGB).astype(np.float16)
    np.testing.assert_array_equal(colour.codes_to_linear_half(codes, Transfer.SRGB), direct)


def test_trc_tags_choose_the_transfer():
    assert colour.transfer_from_trc(1) is Transfer.REC709
    assert colour.transfer_from_trc(13) is Transfer.SRGB
    assert colour.transfer_from_trc(2) is Transfer.SRGB  # unspecified -> default


def _flat_frames(values, size=(48, 64)):
    return [np.full((*size, 3), v, np.uint8) for v in values]


def test_probe_reads_exact_ntsc_rate_and_geometry(tmp_path):
    path = encode_video(tmp_path / "a.mp4", _flat_frames([10, 20, 30]), fps=Fraction(24000, 1001))
    info = probe_video(path)
    assert (info.width, info.height, info.frame_count) == (64, 48, 3)
    assert info.rate == Fraction(24000, 1001)
    assert info.bit_depth == 8 and info.transfer is Transfer.REC709


def test_decoded_flat_colours_survive_the_yuv_round_trip(tmp_path):
    colours = [(200, 40, 90), (16, 128, 240)]
    frames = [np.full((48, 64, 3), c, np.uint8) for c in colours]
    path = encode_video(tmp_path / "c.mp4", frames, options={"qp": "0"}, pix_fmt="yuv444p")
    decoded = list(iter_video_codes(probe_video(path)))
    for got, want in zip(decoded, colours, strict=True):
        assert np.abs(got[24, 32].astype(int) - want).max() <= 2


def test_ten_bit_prores_keeps_sixteen_bit_precision(tmp_path):
    ramp = (np.linspace(0, 65535, 64)[None, :, None] * np.ones((48, 1, 3))).astype(np.uint16)
    path = encode_video(tmp_path / "p.mov", [ramp, ramp], codec="prores_ks", pix_fmt="yuv422p10le",
                        options={"profile": "3"}, src_format="rgb48le")
    info = probe_video(path)
    assert info.bit_depth == 10
    frame = next(iter_video_codes(info))
    assert frame.dtype == np.uint16
    assert len(np.unique(frame[24, :, 1])) > 60  # more levels than 8 bits would keep
    assert np.abs(frame[24, :, 1].astype(int) - ramp[24, :, 1]).max() < 1200


def test_dnxhd_decodes(tmp_path):
    frames = _flat_frames([100, 150], size=(1080, 1920))
    path = encode_video(tmp_path / "d.mxf", frames, codec="dnxhd", pix_fmt="yuv422p",
                        options={"b": "36M"}, fps=Fraction(24))
    decoded = list(iter_video_codes(probe_video(path)))
    assert len(decoded) == 2 and decoded[1].shape == (1080, 1920, 3)
    assert abs(int(decoded[1][500, 500, 0]) - 150) <= 2


def test_garbage_file_is_a_clear_media_error(tmp_path):
    bad = tmp_path / "input_video.mp4"
    bad.write_bytes(b"not a video" * 100)
    with pytest.raises(MediaError, match="input_video.mp4: cannot open as video"):
        probe_video(bad)


def test_missing_video_is_a_clear_media_error(tmp_path):
    with pytest.raises(MediaError, match="file not found"):
        probe_video(tmp_path / "nope.mp4")


def test_limited_range_mask_video_decodes_to_the_four_levels(tmp_path):
    mask = np.full((32, 48), 255, np.uint8)
    mask[:, :12], mask[:, 12:24], mask[:, 24:36] = 0, 63, 127
    path = encode_mask(tmp_path / "quadmask_0.mp4", [mask, mask])
    reader = QuadmaskReader(path)
    assert reader.info.limited_range
    frames = list(reader.frames())
    assert len(frames) == 2
    np.testing.assert_array_equal(frames[1], mask)


def test_exr_write_read_round_trip_with_masks_and_attributes(tmp_path):
    rgb = (np.random.default_rng(0).random((20, 30, 3)) * 4).astype(np.float16)
    masks = {"mask.primary": np.eye(20, 30, dtype=np.float16)}
    path = write_exr_frame(tmp_path / "a.1001.exr", rgb, masks, attributes={"void/shot": "sh010"},
                           fps=Fraction(24000, 1001))
    frame = read_exr_frame(path)
    np.testing.assert_array_equal(frame.rgb, rgb)
    np.testing.assert_array_equal(frame.masks["mask.primary"], masks["mask.primary"])
    assert frame.header["void/shot"] == "sh010"
    assert frame.header["framesPerSecond"] == Fraction(24000, 1001)
    assert [p for p in tmp_path.iterdir()] == [path]  # no temporary left behind


def test_only_temporaries_of_a_gone_writer_are_removed(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    host = socket.gethostname()
    dead = tmp_path / f".a.1001.exr.partial-1234abcd-{gone.stdout.strip()}@{host}"
    live = tmp_path / f".a.1002.exr.partial-5678abcd-{os.getpid()}@{host}"
    old_untagged = tmp_path / ".a.1003.exr.partial-9abcdef0"
    for temporary in (dead, live, old_untagged):
        temporary.write_bytes(b"half a frame")
    os.utime(old_untagged, (0, 0))
    (tmp_path / "a.1001.exr").write_bytes(b"kept")
    assert remove_stale_temporaries(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.1001.exr", live.name])


def test_exr_sequence_plate_is_passed_through_bit_exact(tmp_path):
    rgb = (np.random.default_rng(1).random((16, 24, 3)) * 3).astype(np.float32)
    for n in (1009, 1010):
        write_exr_frame(tmp_path / f"plate.{n:04d}.exr", rgb)
    plate = open_plate(tmp_path / "plate.####.exr")
    assert plate.info.kind == "exr" and plate.info.first_frame == 1009 and plate.info.bit_depth == 32
    raw = next(plate.frames())
    assert plate.linear(raw).dtype == np.float32
    np.testing.assert_array_equal(plate.linear(raw), rgb)


def test_png_sequence_with_printf_pattern(tmp_path):
    import cv2

    for n in range(3):
        cv2.imwrite(str(tmp_path / f"shot_{n:03d}.png"), np.full((8, 8, 3), n * 50, np.uint8))
    sequence = find_sequence(tmp_path / "shot_%03d.png")
    assert sequence.numbers == (0, 1, 2)
    plate = open_plate(tmp_path)
    assert plate.info.kind == "png" and plate.info.frame_count == 3


def test_sequence_with_a_hole_is_rejected(tmp_path):
    for n in (1, 2, 4):
        (tmp_path / f"p.{n:04d}.exr").write_bytes(b"")
    with pytest.raises(MediaError, match="frames missing from the sequence: 3"):
        find_sequence(tmp_path / "p.####.exr")
