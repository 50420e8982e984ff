"""`void-farm shot` through the command line: exit codes, one-line errors, JSON output."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from conftest import encode_mask, lineage_rows
from flows.cli import app

runner = CliRunner()


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("shot", "demo", "cutlist", "lineage", "db"):
        assert command in result.output


def test_shot_prints_a_one_line_summary(disc_shot, tmp_path):
    result = runner.invoke(app, ["shot", str(disc_shot), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("sh010: 10 frames 96x64 -> ")
    assert "sh010.1001-1010.exr" in lines[0]


def test_shot_json(disc_shot, tmp_path):
    result = runner.invoke(app, ["shot", str(disc_shot), "--out", str(tmp_path / "o"), "--json",
                                 "--name", "plate_a", "--start-frame", "1"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["name"] == "plate_a" and record["frames"] == 10 and record["first_frame"] == 1
    assert Path(record["out_dir"], "plate_a.0010.exr").is_file()


def test_bad_mask_is_one_error_line_and_exit_1(disc_shot, tmp_path):
    encode_mask(disc_shot / "quadmask_0.mp4", [np.full((64, 96), 255, np.uint8)] * 3)
    result = runner.invoke(app, ["shot", str(disc_shot), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1
    assert errors[0].startswith("error: ") and "quadmask_0.mp4" in errors[0] and "3 frames" in errors[0]
    assert not (tmp_path / "out").exists()


def test_unknown_engine(disc_shot, tmp_path):
    result = runner.invoke(app, ["shot", str(disc_shot), "--out", str(tmp_path), "--engine", "magic"])
    assert result.exit_code == 1
    assert "unknown inpainting engine 'magic'; choose one of: classical" in result.stderr


def test_missing_out_is_a_usage_error(disc_shot):
    result = runner.invoke(app, ["shot", str(disc_shot)])
    assert result.exit_code == 2


def test_installed_console_script_runs(disc_shot, tmp_path):
    script = Path(sys.executable).with_name("void-farm")
    completed = subprocess.run([str(script), "shot", str(disc_shot), "--out", str(tmp_path / "o")],
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "sh010: 10 frames" in completed.stdout


def test_rerun_skips_identical_work_and_force_redoes_it(disc_shot, tmp_path):
    out = tmp_path / "out"
    first = runner.invoke(app, ["shot", str(disc_shot), "--out", str(out)])
    assert first.exit_code == 0, first.output
    frame = out / "sh010" / "sh010.1004.exr"
    stamp = frame.stat().st_mtime_ns
    second = runner.invoke(app, ["shot", str(disc_shot), "--out", str(out)])
    assert second.exit_code == 0
    assert "nothing to do" in second.stderr
    assert frame.stat().st_mtime_ns == stamp
    forced = runner.invoke(app, ["shot", str(disc_shot), "--out", str(out), "--force"])
    assert forced.exit_code == 0 and frame.stat().st_mtime_ns != stamp


def test_lineage_answers_what_produced_a_frame(disc_shot, tmp_path):
    out = tmp_path / "out"
    db = f"sqlite:///{tmp_path / 'lineage.db'}"
    assert runner.invoke(app, ["shot", str(disc_shot), "--out", str(out), "--db", db]).exit_code == 0
    traced = runner.invoke(app, ["lineage", str(out / "sh010" / "sh010.1004.exr"), "--db", db, "--json"])
    assert traced.exit_code == 0, traced.output
    records = json.loads(traced.stdout)
    assert records[0]["shot"]["name"] == "sh010"
    stage = records[0]["stages"][0]
    assert stage["engine"] == "classical" and stage["status"] == "succeeded"
    assert stage["engine_settings"]["engine"][0] == "classical"


def _clicked_scene(tmp_path):
    from void_core.synth import SceneSpec, write_scene

    folder = tmp_path / "sh030"
    write_scene(SceneSpec(name="c", width=192, height=108, frames=10, seed=4), folder)
    (folder / "quadmask_0.mp4").unlink()
    return folder


def test_points_json_is_enough_without_a_quadmask(tmp_path):
    folder = _clicked_scene(tmp_path)
    result = runner.invoke(app, ["shot", str(folder), "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["frames"] == 10
    work = tmp_path / "out" / ".void-work" / "sh030"
    assert (work / "quadmask_0.mp4").is_file() and (work / "vlm_analysis.json").is_file()
    assert "making the quadmask from 1 prompt(s)" in result.stderr


def test_a_click_outside_the_frame_is_a_clear_error(tmp_path):
    folder = _clicked_scene(tmp_path)
    result = runner.invoke(app, ["shot", str(folder), "--out", str(tmp_path / "out"),
                                 "--point", "500,20@2"])
    assert result.exit_code == 1
    assert "192x108" in result.stderr and not (tmp_path / "out" / "sh030").exists()


def test_no_quadmask_and_no_click_says_what_to_give(tmp_path):
    folder = _clicked_scene(tmp_path)
    (folder / "points.json").unlink()
    result = runner.invoke(app, ["shot", str(folder), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "no quadmask and no click" in result.stderr and "--point X,Y[@FRAME]" in result.stderr


def test_a_click_gives_the_engine_the_analysis_scene_description(tmp_path):
    """`shot --point` runs the same analysis stage as `run`: with no bg in prompt.json, the
    analysis' description of the scene after removal becomes the inpainting prompt."""
    from void_core.media.exr import read_exr_frame

    folder = _clicked_scene(tmp_path)
    click = json.loads((folder / "points.json").read_text())
    (folder / "points.json").unlink()
    (folder / "prompt.json").unlink(missing_ok=True)  # no bg given: the analysis supplies one
    x, y = click["points"][0]
    out = tmp_path / "out"
    result = runner.invoke(app, ["shot", str(folder), "--out", str(out),
                                 "--point", f"{x},{y}@{click['frame']}"])
    assert result.exit_code == 0, result.output
    analysis = json.loads((out / ".void-work" / "sh030" / "vlm_analysis.json").read_text())
    assert analysis["scene_description"]
    header = read_exr_frame(out / "sh030" / "sh030.1001.exr").header
    assert header["void/prompt_bg"] == analysis["scene_description"]
    assert not (out / "qc").exists()  # `shot` writes no QC previews, as before


def _shot_with_config(shot_dir, tmp_path, text: str):
    """`void-farm shot` with a void-farm.toml holding `text`: (result, the config path)."""
    config = tmp_path / "void-farm.toml"
    config.write_text(text)
    return runner.invoke(app, ["shot", str(shot_dir), "--out", str(tmp_path / "out"),
                               "--config", str(config)]), config


def test_an_unknown_key_in_the_config_file_is_one_line_naming_the_closest(disc_shot, tmp_path):
    result, config = _shot_with_config(disc_shot, tmp_path,
                                       "[inpaint.classical]\nobservatons = 8\n")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1
    assert "unknown setting 'observatons'" in errors[0] and "'observations'" in errors[0]
    assert str(config) in errors[0] and "[inpaint.classical]" in errors[0]
    assert not (tmp_path / "out").exists()


def test_an_unknown_engine_section_names_the_closest_engine(disc_shot, tmp_path):
    result, _ = _shot_with_config(disc_shot, tmp_path, "[masking.sam]\ncheckpoint = 'x.pt'\n")
    assert result.exit_code == 1
    assert "did you mean [masking.sam2]?" in result.stderr


def _inpaint_parts(out: Path) -> list[str]:
    return sorted(row[0] for row in lineage_rows(
        out, "SELECT part FROM stage_run WHERE stage = 'inpaint' AND part IS NOT NULL"))


def test_chunk_frames_inpaints_a_shot_in_parts_and_the_config_gives_the_default(disc_shot,
                                                                                  tmp_path):
    split = tmp_path / "split"
    result = runner.invoke(app, ["shot", str(disc_shot), "--out", str(split),
                                 "--chunk-frames", "4"])
    assert result.exit_code == 0, result.output
    assert len(list((split / "sh010").glob("sh010.*.exr"))) == 10
    parts = _inpaint_parts(split)
    assert "prepare" in parts and len([p for p in parts if p != "prepare"]) >= 3, parts

    config = tmp_path / "void-farm.toml"
    config.write_text("[inpaint]\nchunk_frames = 5\n")
    from_config = tmp_path / "from_config"
    result = runner.invoke(app, ["shot", str(disc_shot), "--out", str(from_config),
                                 "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert len([p for p in _inpaint_parts(from_config) if p != "prepare"]) >= 2

    whole = tmp_path / "whole"
    result = runner.invoke(app, ["shot", str(disc_shot), "--out", str(whole), "--config",
                                 str(config), "--chunk-frames", "0"])
    assert result.exit_code == 0, result.output
    assert _inpaint_parts(whole) == []
