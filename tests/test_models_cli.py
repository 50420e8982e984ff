"""`void-farm models make-tiny|check` and `void-farm shot --engine void --model-dir` end to end."""

from __future__ import annotations

import json
import shutil
from fractions import Fraction

import pytest
import torch
from typer.testing import CliRunner

from flows.cli import app
from void_core.inpaint.void.check import check_model_dir
from void_core.media.exr import read_exr_frame
from void_core.synth import write_scene
from void_core.synth.spec import SceneSpec

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models") / "void-tiny"
    result = runner.invoke(app, ["models", "make-tiny", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


def broken_copy(tiny_model, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(tiny_model, copy)
    return copy


def test_make_tiny_then_check_round_trip(tiny_model):
    result = runner.invoke(app, ["models", "check", str(tiny_model), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["problems"] == [] and report["text"] == "t5"
    transformer = report["components"]["transformer"]
    assert transformer["config"]["in_channels"] == 48 and transformer["dtypes"] == {"F32": 64}
    assert report["components"]["vae"]["config"]["latent_channels"] == 16
    assert all(digest.startswith("sha256:") for digest in report["checksums"].values())
    assert "transformer/diffusion_pytorch_model.safetensors" in report["checksums"]


def test_check_prints_a_summary(tiny_model):
    result = runner.invoke(app, ["models", "check", str(tiny_model)])
    assert result.exit_code == 0, result.output
    assert "usable VOID model folder (text: t5)" in result.stdout
    assert "696,320 parameters (64 F32)" in result.stdout


def test_make_tiny_is_deterministic(tiny_model, tmp_path):
    again = tmp_path / "again"
    assert runner.invoke(app, ["models", "make-tiny", str(again)]).exit_code == 0
    assert check_model_dir(again).checksums == check_model_dir(tiny_model).checksums
    other = tmp_path / "other"
    assert runner.invoke(app, ["models", "make-tiny", str(other), "--seed", "1"]).exit_code == 0
    weights = "transformer/diffusion_pytorch_model.safetensors"
    assert check_model_dir(other).checksums[weights] != check_model_dir(tiny_model).checksums[weights]


def test_check_reports_a_missing_weight_file(tiny_model, tmp_path):
    model = broken_copy(tiny_model, tmp_path)
    (model / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    result = runner.invoke(app, ["models", "check", str(model)])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: {model / 'vae' / 'diffusion_pytorch_model.safetensors'}: missing")


def test_check_reports_wrong_in_channels(tiny_model, tmp_path):
    model = broken_copy(tiny_model, tmp_path)
    config_path = model / "transformer" / "config.json"
    config = json.loads(config_path.read_text())
    config["in_channels"] = 33  # the base CogVideoX-Fun-InP model, not VOID
    config_path.write_text(json.dumps(config))
    result = runner.invoke(app, ["models", "check", str(model)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {config_path}: in_channels is 33, VOID needs 48")


def test_check_reports_a_truncated_weight_file(tiny_model, tmp_path):
    model = broken_copy(tiny_model, tmp_path)
    weights = model / "transformer" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    report = check_model_dir(model)
    assert not report.ok and report.checksums == {}
    assert report.problems == [f"{weights}: file is {weights.stat().st_size} bytes, its header "
                               f"describes {weights.stat().st_size + 100} (incomplete copy?)"]


def test_check_reports_a_text_encoder_of_another_model(tiny_model, tmp_path):
    model = broken_copy(tiny_model, tmp_path)
    encoder = model / "text_encoder" / "config.json"
    config = json.loads(encoder.read_text())
    config["d_model"] = 64
    encoder.write_text(json.dumps(config))
    problems = check_model_dir(model).problems
    assert len(problems) == 1 and "text embeddings are 64 wide" in problems[0]
    assert "text_embed_dim is 32" in problems[0]


def test_check_of_a_folder_that_is_not_there(tmp_path):
    result = runner.invoke(app, ["models", "check", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {tmp_path / 'nowhere'}: not found"


def test_shot_with_the_void_engine_end_to_end(tiny_model, tmp_path):
    spec = SceneSpec(name="push", width=160, height=96, frames=16, fps=Fraction(24), seed=4)
    write_scene(spec, tmp_path / "sh020")
    result = runner.invoke(app, ["shot", str(tmp_path / "sh020"), "--out", str(tmp_path / "out"),
                                 "--engine", "void", "--model-dir", str(tiny_model), "--json",
                                 "--no-lineage"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["engine"] == "void" and record["frames"] == 16
    assert any("24 -> 12 fps" in note for note in record["notes"])
    exrs = sorted((tmp_path / "out" / "sh020").glob("*.exr"))
    assert len(exrs) == 16
    frame = read_exr_frame(exrs[0])
    assert frame.rgb.shape == (96, 160, 3)
    prompt = json.loads((tmp_path / "sh020" / "prompt.json").read_text())["bg"]
    assert prompt and frame.header["void/prompt_bg"] == prompt  # the shot's prompt reached VOID
    assert not any("empty prompt" in note for note in record["notes"])


def test_shot_with_the_void_engine_needs_a_model_dir(tmp_path):
    write_scene(SceneSpec(name="s", width=96, height=64, frames=2), tmp_path / "sh")
    result = runner.invoke(app, ["shot", str(tmp_path / "sh"), "--out", str(tmp_path / "out"),
                                 "--engine", "void"])
    assert result.exit_code == 1
    assert "the void engine needs a model folder" in result.stderr
    assert not (tmp_path / "out").exists()


def test_shot_with_void_pass_two_refines_inside_the_engine(tiny_model, tmp_path):
    config = tmp_path / "farm.toml"
    config.write_text("[refine.void-pass2]\nsteps = 2\n")
    write_scene(SceneSpec(name="push", width=128, height=80, frames=9, fps=Fraction(12), seed=5),
                tmp_path / "sh030")
    result = runner.invoke(app, ["shot", str(tmp_path / "sh030"), "--out", str(tmp_path / "out"),
                                 "--engine", "void", "--model-dir", str(tiny_model),
                                 "--refiner", "void-pass2", "--config", str(config), "--json",
                                 "--no-lineage"])
    assert result.exit_code == 0, result.output
    frame = read_exr_frame(sorted((tmp_path / "out" / "sh030").glob("*.exr"))[0])
    recorded = json.loads(frame.header["void/engine_settings"])["engine"]["pass2"]
    assert recorded["name"] == "void-pass2"
    assert recorded["settings"]["steps"] == 2 and recorded["settings"]["flow"] == "dis"
    assert recorded["settings"]["transformer_pass2"].startswith("sha256:")
    assert frame.header["void/refiner"] == "none"  # nothing runs on the fills afterwards


def test_void_pass_two_needs_the_void_engine(tmp_path):
    write_scene(SceneSpec(name="s", width=96, height=64, frames=2), tmp_path / "sh")
    result = runner.invoke(app, ["shot", str(tmp_path / "sh"), "--out", str(tmp_path / "out"),
                                 "--refiner", "void-pass2"])
    assert result.exit_code == 1
    assert "runs inside the void engine" in result.stderr and "--engine void" in result.stderr


def test_check_reports_the_pass_two_transformer(tiny_model, tmp_path):
    report = check_model_dir(tiny_model)
    assert report.ok and "transformer_pass2" in report.components
    shutil.copytree(tiny_model, tmp_path / "no-pass2")
    shutil.rmtree(tmp_path / "no-pass2" / "transformer_pass2")
    report = check_model_dir(tmp_path / "no-pass2")
    assert report.ok and any("transformer_pass2" in w for w in report.warnings)


def test_make_tiny_vlm_then_check_recognises_a_vlm_folder(tmp_path):
    folder = tmp_path / "vlm"
    made = runner.invoke(app, ["models", "make-tiny-vlm", str(folder), "--family", "qwen2.5-vl"])
    assert made.exit_code == 0, made.output
    assert "tiny qwen2.5-vl model written" in made.output

    checked = runner.invoke(app, ["models", "check", str(folder)])
    assert checked.exit_code == 0, checked.output
    assert "usable qwen2.5-vl VLM folder" in checked.output
    report = json.loads(runner.invoke(app, ["models", "check", str(folder), "--json"]).stdout)
    assert report["ok"] and report["family"] == "qwen2.5-vl"
    assert set(report["checksums"]) >= {"config.json", "model.safetensors", "tokenizer.json"}

    (folder / "chat_template.jinja").unlink()
    broken = runner.invoke(app, ["models", "check", str(folder)])
    assert broken.exit_code == 1 and "no chat template" in broken.output
    unknown = runner.invoke(app, ["models", "make-tiny-vlm", str(tmp_path / "x"),
                                  "--family", "llava"])
    assert unknown.exit_code == 1 and "qwen3-vl or qwen2.5-vl" in unknown.output
