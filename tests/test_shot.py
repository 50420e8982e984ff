"""`process_shot`: the I/O contract of one shot, from VOID-layout folder to EXR plates."""

import shutil
import subprocess
from fractions import Fraction

import numpy as np
import pytest
from scipy import ndimage

from conftest import skip_unless_required, encode_mask, moving_disc_shot
from void_core import quadmask
from void_core.errors import InputError, MaskError, MediaError
from void_core.media import colour
from void_core.media.exr import read_exr_frame
from void_core.media.masks import QuadmaskReader
from void_core.media.video import iter_video_codes, probe_video
from void_core.pipeline import ShotRequest, process_shot, resolve_shot_folder


def run(shot_dir, out, engine=None, **kwargs):
    request = ShotRequest(inputs=resolve_shot_folder(shot_dir), out_root=out,
                          name=kwargs.pop("name", shot_dir.name), **kwargs)
    return process_shot(request, engine=engine)


def test_one_exr_per_frame_numbered_from_1001(disc_shot, tmp_path):
    result = run(disc_shot, tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out" / "sh010").iterdir())
    assert names == [f"sh010.{n}.exr" for n in range(1001, 1011)]
    assert (result.frames, result.first_frame, result.width, result.height) == (10, 1001, 96, 64)


def test_channels_header_and_lineage(disc_shot, tmp_path):
    run(disc_shot, tmp_path / "out", run_id="run-42")
    frame = read_exr_frame(tmp_path / "out" / "sh010" / "sh010.1003.exr")
    assert frame.rgb.dtype == np.float16 and frame.rgb.shape == (64, 96, 3)
    assert set(frame.masks) == {"mask.primary", "mask.affected"}
    assert set(np.unique(frame.masks["mask.primary"])) == {0.0, 1.0}
    assert set(np.unique(frame.masks["mask.affected"])) == {0.0, 1.0}
    header = frame.header
    assert str(header["compression"]).endswith("ZIP_COMPRESSION")
    np.testing.assert_allclose(header["chromaticities"], colour.REC709_CHROMATICITIES, atol=1e-6)
    assert header["framesPerSecond"] == Fraction(12)
    assert header["void/shot"] == "sh010" and header["void/run"] == "run-42"
    assert header["void/engine"] == "classical"
    assert header["void/source"].endswith("input_video.mp4")
    assert header["void/source_digest"].startswith("sha256:")
    assert header["void/source_frame"] == "2"
    assert header["void/transfer"] == "rec709"
    assert header["void/prompt_bg"] == "a textured wall"


def _band_distance(quad):
    return ndimage.distance_transform_edt(quad == quadmask.KEEP)


def test_outside_the_band_pixels_equal_the_linearised_source_exactly(disc_shot, tmp_path):
    run(disc_shot, tmp_path / "out")
    info = probe_video(disc_shot / "input_video.mp4")
    masks = list(QuadmaskReader(disc_shot / "quadmask_0.mp4").frames())
    band = quadmask.band_width(info.width)
    for index, codes in enumerate(iter_video_codes(info)):
        expected = colour.codes_to_linear_half(codes, info.transfer)
        got = read_exr_frame(tmp_path / "out" / "sh010" / f"sh010.{1001 + index}.exr").rgb
        outside = _band_distance(masks[index]) >= band
        assert outside.sum() > 0
        assert np.array_equal(got[outside].view(np.uint16), expected[outside].view(np.uint16))


def test_the_object_is_removed(disc_shot, tmp_path):
    run(disc_shot, tmp_path / "out")
    frame = read_exr_frame(tmp_path / "out" / "sh010" / "sh010.1005.exr")
    disc = frame.masks["mask.primary"] > 0
    display = colour.to_display(frame.rgb.astype(np.float32), colour.Transfer.REC709)
    red = display[disc]
    # The disc was pure red (220, 30, 30); after removal the region holds the textured wall.
    assert np.mean(red[:, 0] - red[:, 1]) < 0.25
    assert disc.sum() > 100


def test_trimask_name_and_start_frame(tmp_path):
    shot = moving_disc_shot(tmp_path / "BigBen", mask_name="trimask_quadmask.mp4", frames=4)
    result = run(shot, tmp_path / "out", start_frame=86400, name="bb010")
    assert result.first_frame == 86400
    assert (tmp_path / "out" / "bb010" / "bb010.86403.exr").is_file()


def test_all_keep_mask_passes_the_plate_through(tmp_path):
    shot = moving_disc_shot(tmp_path / "clean", frames=3)
    encode_mask(shot / "quadmask_0.mp4", [np.full((64, 96), 255, np.uint8)] * 3)
    run(shot, tmp_path / "out")
    info = probe_video(shot / "input_video.mp4")
    codes = next(iter_video_codes(info))
    got = read_exr_frame(tmp_path / "out" / "clean" / "clean.1001.exr").rgb
    np.testing.assert_array_equal(got, colour.codes_to_linear_half(codes, info.transfer))


def test_independent_reader_openimageio_sees_the_channels(disc_shot, tmp_path):
    import OpenImageIO as oiio  # a test dependency (pyproject [test])

    run(disc_shot, tmp_path / "out")
    path = tmp_path / "out" / "sh010" / "sh010.1001.exr"
    buf = oiio.ImageBuf(str(path))
    spec = buf.spec()
    assert (spec.width, spec.height) == (96, 64)
    assert set(spec.channelnames) == {"R", "G", "B", "mask.primary", "mask.affected"}
    assert spec.get_string_attribute("compression") == "zip"
    pixels = buf.get_pixels(oiio.HALF)
    ours = read_exr_frame(path)
    order = list(spec.channelnames)
    rgb = np.stack([pixels[:, :, order.index(c)] for c in "RGB"], -1)
    np.testing.assert_array_equal(rgb, ours.rgb)


def test_independent_reader_exrheader_accepts_the_file(disc_shot, tmp_path):
    if shutil.which("exrheader") is None:
        skip_unless_required("Debian's openexr tools (exrheader) not installed")
    run(disc_shot, tmp_path / "out")
    out = subprocess.run(["exrheader", str(tmp_path / "out" / "sh010" / "sh010.1001.exr")],
                         capture_output=True, text=True, check=True).stdout
    assert "compression (type compression): zip" in out
    assert "mask.primary, 16-bit floating-point" in out
    assert "R, 16-bit floating-point" in out
    assert 'void/engine (type string): "classical"' in out
    assert "chromaticities (type chromaticities)" in out


# --- bad input: a clear error, and nothing written ---------------------------------------


def test_missing_folder(tmp_path):
    with pytest.raises(InputError, match="shot folder not found"):
        resolve_shot_folder(tmp_path / "nope")


def test_missing_mask(disc_shot):
    (disc_shot / "quadmask_0.mp4").unlink()
    with pytest.raises(MaskError, match="no quadmask_0.mp4 or trimask_quadmask.mp4"):
        resolve_shot_folder(disc_shot)


def test_mask_with_wrong_frame_count(disc_shot, tmp_path):
    encode_mask(disc_shot / "quadmask_0.mp4", [np.full((64, 96), 255, np.uint8)] * 7)
    with pytest.raises(MaskError, match="quadmask has 7 frames, the plate input_video.mp4 has 10"):
        run(disc_shot, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_mask_with_wrong_size(disc_shot, tmp_path):
    encode_mask(disc_shot / "quadmask_0.mp4", [np.full((32, 48), 255, np.uint8)] * 10)
    with pytest.raises(MaskError, match="quadmask is 48x32, the plate input_video.mp4 is 96x64"):
        run(disc_shot, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unreadable_video(disc_shot, tmp_path):
    (disc_shot / "input_video.mp4").write_bytes(b"\x00garbage" * 64)
    with pytest.raises(MediaError, match="cannot open as video"):
        run(disc_shot, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_prompt_json(disc_shot):
    (disc_shot / "prompt.json").write_text("{bg: oops")
    with pytest.raises(InputError, match="prompt.json: is not valid JSON"):
        resolve_shot_folder(disc_shot)


def test_unsafe_shot_name(disc_shot, tmp_path):
    with pytest.raises(InputError, match="not usable as a file name"):
        run(disc_shot, tmp_path / "out", name="../escape")


def test_exr_sequence_plate_keeps_frame_numbers_and_bits(tmp_path):
    import cv2

    from void_core.media.exr import write_exr_frame

    shot = tmp_path / "sh020"
    (shot / "input").mkdir(parents=True)
    (shot / "quadmask").mkdir()
    rng = np.random.default_rng(3)
    plates = []
    for n in range(4):
        rgb = (rng.random((40, 60, 3)) * 2).astype(np.float16)
        plates.append(rgb)
        write_exr_frame(shot / "input" / f"plate.{1009 + n:04d}.exr", rgb)
        mask = np.full((40, 60), 255, np.uint8)
        mask[15:25, 10 + 8 * n: 20 + 8 * n] = 0
        cv2.imwrite(str(shot / "quadmask" / f"m.{n:04d}.png"), mask)
    result = run(shot, tmp_path / "out", rate=Fraction(24000, 1001))
    assert result.first_frame == 1009
    for n, source in enumerate(plates):
        frame = read_exr_frame(tmp_path / "out" / "sh020" / f"sh020.{1009 + n}.exr")
        assert frame.header["framesPerSecond"] == Fraction(24000, 1001)
        mask = np.full((40, 60), 255, np.uint8)
        mask[15:25, 10 + 8 * n: 20 + 8 * n] = 0
        outside = _band_distance(mask) >= quadmask.band_width(60)
        assert np.array_equal(frame.rgb[outside].view(np.uint16), source[outside].view(np.uint16))
        assert not np.array_equal(frame.rgb[~outside], source[~outside])


def test_a_failure_mid_shot_leaves_only_complete_frames(disc_shot, tmp_path, monkeypatch):
    from void_core.inpaint.classical import ClassicalInpainter

    class FailingEngine(ClassicalInpainter):
        def inpaint(self, shot):
            for fill in super().inpaint(shot):
                if fill.frame.index == 6:
                    raise KeyboardInterrupt  # what Ctrl-C raises in the main thread
                yield fill

    with pytest.raises(KeyboardInterrupt):
        run(disc_shot, tmp_path / "out", engine=FailingEngine())
    written = sorted((tmp_path / "out" / "sh010").iterdir())
    assert [p.name for p in written] == [f"sh010.{n}.exr" for n in range(1001, 1007)]
    for path in written:  # every file that exists is a whole, readable frame
        assert read_exr_frame(path).rgb.shape == (64, 96, 3)
