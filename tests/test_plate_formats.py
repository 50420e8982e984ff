"""Plates through OpenImageIO (DPX, TIFF) and EXRs with RGBA or several parts."""

import cv2
import numpy as np
import OpenEXR
import OpenImageIO as oiio
import pytest

from void_core import quadmask
from void_core.media import colour, ocio
from void_core.media.exr import read_exr_frame, write_exr_frame
from void_core.media.ocio import ColourSpec
from void_core.media.plate import open_plate
from void_core.media.sequence import find_sequence
from void_core.pipeline import ShotRequest, process_shot, resolve_shot_folder
from void_core.synth.hdr import hdr_background

CONFIG = ocio.DEFAULT_CONFIG
LOGC = "ARRI LogC3 (EI800)"
WIDTH, HEIGHT, FRAMES, RADIUS = 96, 64, 10, 8


def write_image(path, pixels, bits):
    """Write with OpenImageIO: uint16 codes at `bits` (10: DPX 10-bit), or floats."""
    height, width, channels = pixels.shape
    if pixels.dtype.kind == "f":
        spec = oiio.ImageSpec(width, height, channels, "float")
        data = pixels.astype(np.float32)
    else:
        spec = oiio.ImageSpec(width, height, channels, "uint16")
        spec.attribute("oiio:BitsPerSample", bits)
        wide = pixels.astype(np.uint32)
        data = ((wide << (16 - bits)) | (wide >> max(0, 2 * bits - 16))).astype(np.uint16)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), oiio.geterror()
    assert out.write_image(data), out.geterror()
    out.close()


def discs():
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    for i in range(FRAMES):
        cx = RADIUS + 2 + i * (WIDTH - 2 * RADIUS - 4) // (FRAMES - 1)
        yield (xx - cx) ** 2 + (yy - HEIGHT // 2) ** 2 <= RADIUS**2


def write_shot(folder, background, object_value, suffix, bits, first=86400):
    """A sequence with a disc moving over `background` (H, W, 3) and PNG quadmasks."""
    (folder / "input").mkdir(parents=True)
    (folder / "quadmask").mkdir()
    holes = []
    for i, disc in enumerate(discs()):
        frame = background.copy()
        frame[disc] = object_value
        write_image(folder / "input" / f"plate.{first + i}{suffix}", frame, bits)
        mask = np.where(disc, quadmask.PRIMARY, quadmask.KEEP).astype(np.uint8)
        cv2.imwrite(str(folder / "quadmask" / f"mask.{i:04d}.png"), mask)
        holes.append(disc)
    return holes


def run(folder, out, spec=None, name="sh"):
    request = ShotRequest(inputs=resolve_shot_folder(folder), out_root=out, name=name,
                          colour=spec or ColourSpec())
    return process_shot(request)


def far_from(hole):
    keep = (~hole).astype(np.uint8)
    return cv2.distanceTransform(keep, cv2.DIST_L2, 5) >= quadmask.band_width(WIDTH)


def test_dpx_10bit_logc_comes_out_linear_as_ocio_converts_it(tmp_path):
    linear_awg = hdr_background(WIDTH, HEIGHT, peak=20.0) * 0.5
    log = ocio.convert(linear_awg, CONFIG, "Linear ARRI Wide Gamut 3", LOGC)
    codes = np.clip(np.rint(log * 1023), 0, 1023).astype(np.uint16)
    holes = write_shot(tmp_path / "sh", codes, (300, 280, 260), ".dpx", 10)
    plate = open_plate(tmp_path / "sh" / "input", colour_spec=ColourSpec(input_colorspace=LOGC))
    assert (plate.info.kind, plate.info.bit_depth, plate.info.code_bits) == ("dpx", 10, 10)
    assert int(next(plate.frames()).max()) <= 1023

    result = run(tmp_path / "sh", tmp_path / "out", ColourSpec(input_colorspace="arri_logc3_ei800"))
    assert result.first_frame == 86400
    truth = ocio.convert(codes.astype(np.float32) / 1023, CONFIG, LOGC, ocio.LINEAR_REC709)
    filled, expected = [], []
    for i, hole in enumerate(holes):
        frame = read_exr_frame(tmp_path / "out" / "sh" / f"sh.{86400 + i}.exr")
        assert frame.header["colorspace"] == ocio.LINEAR_REC709
        assert frame.header["void/input_colorspace"] == LOGC
        plate_codes = codes.copy()
        plate_codes[hole] = (300, 280, 260)
        source = ocio.convert(plate_codes.astype(np.float32) / 1023, CONFIG, LOGC, ocio.LINEAR_REC709)
        far = far_from(hole)
        np.testing.assert_allclose(frame.rgb[far].astype(np.float32), source[far], rtol=1e-3, atol=1e-6)
        filled.append(frame.rgb[hole].astype(np.float64))
        expected.append(truth[hole].astype(np.float64))
    fill, want = np.concatenate(filled), np.concatenate(expected)
    assert abs(fill.mean() - want.mean()) <= 0.02 * want.mean()
    assert np.median(np.abs(fill - want) / np.maximum(want, 1e-3)) < 0.01


def test_16bit_tiff_is_code_values_like_png(tmp_path):
    rng = np.random.default_rng(2)
    codes = (rng.random((HEIGHT, WIDTH, 3)) * 65535).astype(np.uint16)
    codes = cv2.GaussianBlur(codes, (0, 0), 3)
    write_shot(tmp_path / "sh", codes, (60000, 1000, 1000), ".tif", 16, first=1001)
    assert find_sequence(tmp_path / "sh" / "input").pattern.endswith("plate.####.tif")
    plate = open_plate(tmp_path / "sh" / "input")
    assert plate.info.code_bits == 16 and not plate.info.linear_source
    raw = next(plate.frames())
    np.testing.assert_array_equal(plate.linear(raw), colour.codes_to_linear_half(raw, colour.Transfer.SRGB))
    run(tmp_path / "sh", tmp_path / "out")
    frame = read_exr_frame(tmp_path / "out" / "sh" / "sh.1005.exr")
    far = far_from(list(discs())[4])
    plate_codes = codes.copy()
    plate_codes[list(discs())[4]] = (60000, 1000, 1000)
    np.testing.assert_array_equal(frame.rgb[far], colour.codes_to_linear_half(plate_codes, colour.Transfer.SRGB)[far])


def test_float_tiff_goes_through_the_shaper_and_keeps_its_bits(tmp_path):
    background = hdr_background(WIDTH, HEIGHT, peak=30.0)
    holes = write_shot(tmp_path / "sh", background, (0.1, 0.1, 0.1), ".tif", 32, first=1001)
    plate = open_plate(tmp_path / "sh" / "input")
    assert plate.info.linear_source and plate.output_dtype == np.float32
    run(tmp_path / "sh", tmp_path / "out")
    frame = read_exr_frame(tmp_path / "out" / "sh" / "sh.1003.exr")
    source = background.copy()
    source[holes[2]] = (0.1, 0.1, 0.1)
    far = far_from(holes[2])
    assert np.array_equal(frame.rgb[far].view(np.uint32), source[far].view(np.uint32))
    assert frame.rgb[holes[2]].max() > 10


@pytest.mark.parametrize("layout", ["rgba", "multipart"])
def test_exr_with_alpha_or_several_parts_gives_its_rgb(tmp_path, layout):
    rgb = hdr_background(WIDTH, HEIGHT, peak=5.0).astype(np.float16)
    alpha = np.ones((HEIGHT, WIDTH, 1), np.float16)
    path = tmp_path / "plate.1001.exr"
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    rgba = {"RGBA": np.concatenate([rgb, alpha], axis=-1)}
    if layout == "rgba":
        parts = OpenEXR.File(header, rgba)
    else:
        depth = OpenEXR.Part({**header, "name": "depth"}, {"Z": np.ones((HEIGHT, WIDTH), np.float32)},
                             name="depth")
        parts = OpenEXR.File([depth, OpenEXR.Part({**header, "name": "beauty"}, rgba, name="beauty")])
    with parts as exr:
        exr.write(str(path))
    frame = read_exr_frame(path)
    assert np.array_equal(frame.rgb, rgb) and "A" not in frame.masks
    plate = open_plate(path.parent)
    assert plate.info.linear_source and np.array_equal(next(plate.frames()), rgb)


def test_a_plate_without_rgb_says_what_it_has(tmp_path):
    path = tmp_path / "depth.1001.exr"
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                      {"Z": np.ones((4, 4), np.float32)}) as exr:
        exr.write(str(path))
    from void_core.errors import MediaError

    with pytest.raises(MediaError, match="no R, G, B channels .it has Z."):
        read_exr_frame(path)
    write_exr_frame(tmp_path / "ok.exr", np.ones((4, 4, 3), np.float16))  # the writer is unchanged
