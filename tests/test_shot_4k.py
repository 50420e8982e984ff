"""The foundation's acceptance case: a 4K, 12 fps VOID-layout shot with the trimask file name.

One EXR per input frame at full resolution, with the channels of the EXR convention, readable by
two independent readers (OpenImageIO and Debian's exrheader), and outside the dilated mask the
pixels equal the linearised decoded input exactly.
"""

import shutil
import subprocess
from fractions import Fraction

import numpy as np
import pytest

from conftest import skip_unless_required
from scipy import ndimage

from void_core import quadmask
from void_core.media import colour
from void_core.media.exr import read_exr_frame
from void_core.media.masks import QuadmaskReader
from void_core.media.video import iter_video_codes, probe_video
from void_core.pipeline import ShotRequest, process_shot, resolve_shot_folder
from void_core.synth import SceneSpec, write_scene

FRAMES = 4


@pytest.fixture(scope="module")
def uhd_result(tmp_path_factory):
    root = tmp_path_factory.mktemp("uhd")
    spec = SceneSpec(name="uhd", width=3840, height=2160, frames=FRAMES, fps=Fraction(12), seed=7)
    write_scene(spec, root / "lime", mask_name="trimask_quadmask.mp4")
    inputs = resolve_shot_folder(root / "lime")
    result = process_shot(ShotRequest(inputs=inputs, out_root=root / "out", name="lime"))
    return root, inputs, result


def test_one_full_resolution_exr_per_input_frame(uhd_result):
    root, inputs, result = uhd_result
    assert inputs.mask.name == "trimask_quadmask.mp4"
    files = sorted((root / "out" / "lime").iterdir())
    assert [f.name for f in files] == [f"lime.{1001 + i}.exr" for i in range(FRAMES)]
    frame = read_exr_frame(files[-1])
    assert frame.rgb.shape == (2160, 3840, 3) and frame.rgb.dtype == np.float16
    assert set(frame.masks) == {"mask.primary", "mask.affected"}
    assert frame.header["framesPerSecond"] == Fraction(12)


def test_outside_the_dilated_mask_pixels_match_the_linearised_input(uhd_result):
    root, inputs, _ = uhd_result
    info = probe_video(inputs.plate)
    band = quadmask.band_width(info.width)
    masks = QuadmaskReader(inputs.mask).frames()
    for index, (codes, quad) in enumerate(zip(iter_video_codes(info), masks, strict=True)):
        expected = colour.codes_to_linear_half(codes, info.transfer)
        got = read_exr_frame(root / "out" / "lime" / f"lime.{1001 + index}.exr").rgb
        outside = ndimage.distance_transform_edt(quad == quadmask.KEEP) >= band
        assert outside.mean() > 0.9
        assert np.array_equal(got[outside].view(np.uint16), expected[outside].view(np.uint16))
        if (quad != quadmask.KEEP).any():
            assert not np.array_equal(got[~outside], expected[~outside])


def test_openimageio_reads_every_frame(uhd_result):
    import OpenImageIO as oiio  # a test dependency (pyproject [test])

    root, _, _ = uhd_result
    for path in sorted((root / "out" / "lime").iterdir()):
        spec = oiio.ImageInput.open(str(path)).spec()
        assert (spec.width, spec.height, spec.nchannels) == (3840, 2160, 5)
        assert spec.format == oiio.HALF


def test_exrheader_reads_every_frame(uhd_result):
    if shutil.which("exrheader") is None:
        skip_unless_required("Debian's openexr tools (exrheader) not installed")
    root, _, _ = uhd_result
    for path in sorted((root / "out" / "lime").iterdir()):
        out = subprocess.run(["exrheader", str(path)], capture_output=True, text=True, check=True).stdout
        assert "dataWindow (type box2i): (0 0) - (3839 2159)" in out
        assert "mask.affected, 16-bit floating-point" in out
