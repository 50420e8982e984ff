"""Colour management through OpenColorIO: names, configs, conversions, labelled EXR output.

Every config used is one of OCIO's built-in configs (inside the wheel): no network.
"""

import shutil
import subprocess

import numpy as np
import opentimelineio as otio
import pytest
from typer.testing import CliRunner

from conftest import skip_unless_required
from flows.cli import app
from void_core import quadmask
from void_core.config import load_engine_config
from void_core.errors import ColourError, InputError
from void_core.media import colour, ocio
from void_core.media.exr import read_exr_frame
from void_core.media.ocio import ColourSpec
from void_core.media.plate import open_plate
from void_core.pipeline import RunSettings, ShotPlan, ShotRequest, process_shot, resolve_shot_folder
from void_core.preflight import choose_engines
from void_core.synth.hdr import FIRST_FRAME, write_hdr_shot

CONFIG = ocio.DEFAULT_CONFIG
AP1 = (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767)
runner = CliRunner()


# --- names and configs -------------------------------------------------------------------------

def test_unknown_colour_space_names_the_closest():
    with pytest.raises(ColourError) as err:
        ocio.colorspace(CONFIG, "ACEScgg")
    message = str(err.value)
    assert "\n" not in message
    assert "'ACEScgg' is not in OCIO config" in message and "closest: 'ACEScg'" in message


def test_aliases_and_roles_resolve_to_the_configs_own_name():
    assert ocio.colorspace(CONFIG, "lin_ap1") == "ACEScg"
    assert ocio.colorspace(CONFIG, "scene_linear") == "ACEScg"
    assert ocio.colorspace(CONFIG, "arri_logc3_ei800") == "ARRI LogC3 (EI800)"


def test_a_missing_config_file_is_one_line_naming_it(tmp_path):
    missing = tmp_path / "show" / "config.ocio"
    with pytest.raises(ColourError, match=r"config\.ocio: OCIO config not found \(fix \[colour\]"):
        ocio.load_config(str(missing))


def test_ocio_environment_variable_picks_the_config(monkeypatch, tmp_path):
    monkeypatch.setenv("OCIO", str(tmp_path / "nope.ocio"))
    assert ocio.config_name(ColourSpec()) == str(tmp_path / "nope.ocio")
    assert ocio.config_name(ColourSpec(config="ocio://cg-config-latest")) == "ocio://cg-config-latest"
    monkeypatch.delenv("OCIO")
    assert ocio.config_name(ColourSpec()) == ocio.DEFAULT_CONFIG


def test_chromaticities_are_measured_from_the_config():
    np.testing.assert_allclose(ocio.chromaticities(CONFIG, "ACEScg"), AP1, atol=2e-5)
    np.testing.assert_allclose(ocio.chromaticities(CONFIG, ocio.LINEAR_REC709),
                               colour.REC709_CHROMATICITIES, atol=2e-4)
    p3 = ocio.chromaticities(CONFIG, "Linear P3-D65")
    np.testing.assert_allclose(p3, (0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.3127, 0.3290),
                               atol=2e-4)


# --- conversions ---------------------------------------------------------------------------------

def test_transfers_are_the_studio_configs_curves():
    codes = np.linspace(0, 1, 33, dtype=np.float32)
    srgb = np.where(codes <= 0.04045, codes / 12.92, ((codes + 0.055) / 1.055) ** 2.4)
    np.testing.assert_allclose(colour.to_linear(codes, colour.Transfer.SRGB), srgb, atol=2e-6)
    back = colour.to_display(colour.to_linear(codes, colour.Transfer.REC709), colour.Transfer.REC709)
    np.testing.assert_allclose(back, codes, atol=2e-6)


def test_code_transform_splits_curve_and_matrix_and_matches_the_processor():
    logc = ocio.code_transform(CONFIG, "ARRI LogC3 (EI800)", "ACEScg", 16)
    assert logc is not None and logc.matrix is not None  # AWG3 -> AP1 primaries
    codes = np.random.default_rng(5).integers(0, 65536, (4096, 3)).astype(np.uint16)
    expected = ocio.convert(codes.astype(np.float32) / 65535, CONFIG, "ARRI LogC3 (EI800)", "ACEScg")
    np.testing.assert_allclose(logc(codes), expected, rtol=1e-4, atol=1e-5)
    srgb = ocio.code_transform(CONFIG, colour.TRANSFER_COLORSPACES[colour.Transfer.SRGB],
                               ocio.LINEAR_REC709, 8)
    assert srgb.matrix is None
    np.testing.assert_array_equal(srgb.lut_half, colour.linear_half_lut(colour.Transfer.SRGB, 8))


def test_video_defaults_reproduce_the_transfer(disc_shot):
    plate = open_plate(disc_shot / "input_video.mp4")
    assert plate.info.colorspace == colour.TRANSFER_COLORSPACES[plate.info.transfer]
    assert plate.info.working == ocio.LINEAR_REC709
    raw = next(plate.frames())
    np.testing.assert_array_equal(plate.linear(raw), colour.codes_to_linear_half(raw, plate.info.transfer))
    assert plate.chromaticities == colour.REC709_CHROMATICITIES


def test_a_working_space_must_be_scene_linear(disc_shot):
    with pytest.raises(ColourError, match="'ACEScct' is not scene-linear"):
        open_plate(disc_shot / "input_video.mp4", colour_spec=ColourSpec(working_colorspace="ACEScct"))


# --- a whole shot ---------------------------------------------------------------------------------

def _run(folder, out, spec):
    request = ShotRequest(inputs=resolve_shot_folder(folder), out_root=out, name="ap1", colour=spec)
    return process_shot(request)


def test_acescg_plate_keeps_ap1_and_is_labelled(tmp_path):
    shot = write_hdr_shot(tmp_path / "ap1", frames=6, peak=20.0)
    _run(shot.folder, tmp_path / "out", ColourSpec(input_colorspace="ACEScg"))
    path = tmp_path / "out" / "ap1" / f"ap1.{FIRST_FRAME + 2}.exr"
    frame = read_exr_frame(path)
    np.testing.assert_allclose(frame.header["chromaticities"], AP1, atol=2e-5)
    assert frame.header["colorspace"] == "ACEScg"
    assert frame.header["void/input_colorspace"] == "ACEScg"
    keep = ~shot.holes[2]
    assert np.array_equal(frame.rgb[keep][:100].view(np.uint16), shot.plates[2][keep][:100].view(np.uint16))
    import OpenImageIO as oiio

    spec = oiio.ImageInput.open(str(path)).spec()
    assert spec.getattribute("colorspace") == "ACEScg"
    np.testing.assert_allclose(spec.getattribute("chromaticities"), AP1, atol=2e-5)
    if shutil.which("exrheader") is None:
        skip_unless_required("Debian's openexr tools (exrheader) not installed")
    header = subprocess.run(["exrheader", str(path)], capture_output=True, text=True, check=True).stdout
    assert "colorspace (type string): \"ACEScg\"" in header
    assert "red   (0.713 0.293)" in header


def test_acescg_plate_into_a_rec709_working_space_is_converted_by_ocio(tmp_path):
    shot = write_hdr_shot(tmp_path / "ap1", frames=4, peak=20.0)
    spec = ColourSpec(input_colorspace="ACEScg", working_colorspace="lin_rec709")
    _run(shot.folder, tmp_path / "out", spec)
    frame = read_exr_frame(tmp_path / "out" / "ap1" / f"ap1.{FIRST_FRAME}.exr")
    assert frame.header["colorspace"] == ocio.LINEAR_REC709
    expected = ocio.convert(shot.plates[0], CONFIG, "ACEScg", ocio.LINEAR_REC709).astype(np.float16)
    far = np.ones(shot.holes[0].shape, bool)
    far[:, :40] = False  # the disc and its band sit in the first 40 columns in frame 0
    np.testing.assert_array_equal(frame.rgb[far], expected[far])


# --- where a colour space comes from -------------------------------------------------------------

def test_toml_colour_section(tmp_path):
    path = tmp_path / "void-farm.toml"
    path.write_text('[colour]\nconfig = "ocio://cg-config-latest"\ninput_colorspace = "ACEScg"\n')
    assert load_engine_config(path).colour == {"config": "ocio://cg-config-latest",
                                               "input_colorspace": "ACEScg"}
    path.write_text('[colour]\ninput_colourspace = "ACEScg"\n')
    with pytest.raises(InputError, match="no setting 'input_colourspace' .did you mean input_colorspace"):
        load_engine_config(path)
    path.write_text('[colour]\nconfig = "show.ocio"\n')
    assert load_engine_config(path).colour["config"] == str(tmp_path / "show.ocio")


def test_command_line_colour_space_wins_over_the_file_and_is_checked(tmp_path):
    path = tmp_path / "void-farm.toml"
    path.write_text('[colour]\ninput_colorspace = "ACEScg"\nworking_colorspace = "ACEScg"\n')
    choice = choose_engines(path, "classical", "classical", "heuristic", colorspace="ACES2065-1")
    assert choice.colour == {"input_colorspace": "ACES2065-1", "working_colorspace": "ACEScg"}
    assert choice.as_parameters()["colour"] == choice.colour
    with pytest.raises(ColourError, match="input colour space 'LogC9' is not in"):
        choose_engines(None, "classical", "classical", "heuristic", colorspace="LogC9")


def test_cut_list_void_metadata_names_a_clips_colour_space(tmp_path):
    from void_core.cutlist import read_cutlist

    timeline = otio.schema.Timeline(name="colour")
    track = otio.schema.Track(name="V1")
    timeline.tracks.append(track)
    rate = 24
    clip = otio.schema.Clip(name="sh010", source_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(12, rate)),
        metadata={"void": {"remove": "the lamp", "colorspace": "ARRI LogC3 (EI800)"}})
    track.append(clip)
    otio.adapters.write_to_file(timeline, str(tmp_path / "cut.otio"))
    spec = read_cutlist(tmp_path / "cut.otio").shots[0]
    assert spec.colorspace == "ARRI LogC3 (EI800)"
    from void_core.preflight import check_clip_colour

    check_clip_colour(read_cutlist(tmp_path / "cut.otio"), {})
    clip.metadata["void"]["colorspace"] = "LogC9"
    otio.adapters.write_to_file(timeline, str(tmp_path / "bad.otio"))
    with pytest.raises(ColourError, match="sh010: the cut list's colour space 'LogC9' is not in"):
        check_clip_colour(read_cutlist(tmp_path / "bad.otio"), {})
    plan = ShotPlan.from_spec(spec)
    settings = RunSettings(run_id="r", cutlist="c", out_root=tmp_path,
                           colour={"input_colorspace": "ACEScg", "working_colorspace": "ACEScg"})
    assert settings.colour_for(plan) == ColourSpec(None, "ARRI LogC3 (EI800)", "ACEScg")


# --- the command line ----------------------------------------------------------------------------

def test_colour_list_prints_the_names():
    result = runner.invoke(app, ["colour", "list"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"# {ocio.DEFAULT_CONFIG}")
    assert any(line.startswith("ARRI LogC3 (EI800) ") for line in result.stdout.splitlines())


def test_shot_with_an_unknown_colour_space_is_one_line(tmp_path):
    shot = write_hdr_shot(tmp_path / "sh", frames=2)
    result = runner.invoke(app, ["shot", str(shot.folder), "--out", str(tmp_path / "o"),
                                 "--no-lineage", "--colorspace", "Arri LogC3"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "closest: 'ARRI LogC3 (EI800)'" in lines[0]
    assert not (tmp_path / "o" / "sh").exists()


def test_mask_levels_are_untouched_by_colour(tmp_path):
    """The quadmask never goes through colour management."""
    shot = write_hdr_shot(tmp_path / "ap1", frames=2)
    _run(shot.folder, tmp_path / "out", ColourSpec(input_colorspace="ACEScg"))
    frame = read_exr_frame(tmp_path / "out" / "ap1" / f"ap1.{FIRST_FRAME}.exr")
    primary = frame.masks["mask.primary"].astype(bool)
    np.testing.assert_array_equal(primary, shot.holes[0])
    assert quadmask.PRIMARY == 0


def test_a_facility_config_without_the_default_names_keeps_todays_result(monkeypatch, tmp_path,
                                                                          disc_shot):
    import PyOpenColorIO as OCIO

    path = tmp_path / "facility.ocio"
    OCIO.Config.CreateRaw().serialize(str(path))
    monkeypatch.setenv("OCIO", str(path))
    plate = open_plate(disc_shot / "input_video.mp4")
    assert plate.info.colour_config == ocio.DEFAULT_CONFIG
    raw = next(plate.frames())
    np.testing.assert_array_equal(plate.linear(raw), colour.codes_to_linear_half(raw, plate.info.transfer))
    with pytest.raises(ColourError, match="'ACEScg' is not in OCIO config facility.ocio"):
        open_plate(disc_shot / "input_video.mp4", colour_spec=ColourSpec(input_colorspace="ACEScg"))


def test_qc_shows_an_acescg_shot_through_ocio(tmp_path):
    """Before and after panels of an untouched region agree: both are the working space shown
    through the same OCIO display conversion (the EXRs record the colour spaces)."""
    from void_core.qc import _open_sources

    shot = write_hdr_shot(tmp_path / "ap1", frames=3, peak=3.0)
    _run(shot.folder, tmp_path / "out", ColourSpec(input_colorspace="ACEScg"))
    sources = _open_sources(shot.folder / "input", shot.folder / "quadmask", tmp_path / "out" / "ap1",
                            None, None)
    assert (sources.plate.info.colorspace, sources.plate.info.working) == ("ACEScg", "ACEScg")
    _, raw, quad, exr = next(sources.frames())
    before, _, after = sources.panels(raw, quad, exr, (96, 64))
    np.testing.assert_array_equal(before[:, 60:], after[:, 60:])  # the disc is left of x=40
    expected = ocio.convert(shot.plates[0][:, 60:], CONFIG, "ACEScg", "sRGB Encoded Rec.709 (sRGB)")
    assert np.abs(before[:, 60:].astype(int) - np.rint(np.clip(expected, 0, 1) * 255)).max() <= 1
