"""Engine settings from void-farm.toml."""

from __future__ import annotations

import pytest

from void_core.config import load_engine_config
from void_core.errors import InputError


def test_settings_come_per_stage_and_engine(tmp_path, monkeypatch):
    path = tmp_path / "farm.toml"
    path.write_text('[inpaint.void]\nmodel_dir = "/models/void"\nmemory_mode = "model_offload"\n'
                    '[masking.sam2]\ncheckpoint = "/models/sam2.pt"\n'
                    '[analysis.gemini]\napi_key_env = "STUDIO_GEMINI_KEY"\n')
    config = load_engine_config(path)
    assert config.settings("inpaint", "void") == {"model_dir": "/models/void",
                                                  "memory_mode": "model_offload"}
    assert config.settings("masking", "sam2") == {"checkpoint": "/models/sam2.pt"}
    assert config.settings("analysis", "gemini") == {"api_key_env": "STUDIO_GEMINI_KEY"}
    assert config.settings("inpaint", "classical") == {}
    monkeypatch.setenv("VOID_FARM_CONFIG", str(path))
    assert load_engine_config().settings("masking", "sam2")["checkpoint"] == "/models/sam2.pt"
    monkeypatch.delenv("VOID_FARM_CONFIG")
    assert load_engine_config().settings("inpaint", "void") == {}


@pytest.mark.parametrize("text, message", [
    ("[render.void]\nx = 1\n", "unknown section"),
    ("[analysis.gemini]\napi_key = 'abc'\n", "holds a secret"),
    ("[inpaint]\nvoid = 3\n", "is not a table"),
    ("[inpaint.void\n", "not valid TOML"),
])
def test_bad_files_get_one_clear_line(tmp_path, text, message):
    path = tmp_path / "farm.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_engine_config(path)


def test_a_missing_file_says_where_it_was_looked_for(tmp_path):
    with pytest.raises(InputError, match="configuration file not found"):
        load_engine_config(tmp_path / "nope.toml")



def test_the_farm_sections_resources_limits_and_qc_url(tmp_path):
    path = tmp_path / "farm.toml"
    path.write_text('[inpaint.classical]\n'
                    '[ray.resources]\ninpaint = { void_gpu = 1 }\nqc = { num_cpus = 0.5 }\n'
                    '[limits]\ngemini-api = 3\n[qc]\nurl = "https://farm-web/cleanup"\n')
    config = load_engine_config(path)
    assert config.farm.ray_resources == {"inpaint": {"void_gpu": 1.0}, "qc": {"num_cpus": 0.5}}
    assert config.farm.api_limits == {"gemini-api": 3}
    assert config.farm.qc_url == "https://farm-web/cleanup"
    assert config.settings("inpaint", "classical") == {}
    assert load_engine_config(None).farm.ray_resources == {}
    assert config.farm.chunk_frames is None  # the engine's default


def test_inpaint_chunk_frames_sits_beside_the_engine_sections(tmp_path):
    path = tmp_path / "farm.toml"
    path.write_text('[inpaint]\nchunk_frames = 48\n[inpaint.classical]\nobservations = 16\n')
    config = load_engine_config(path)
    assert config.farm.chunk_frames == 48
    assert config.settings("inpaint", "classical") == {"observations": 16}


@pytest.mark.parametrize("text, message", [
    ("[ray.resources]\ninpant = { void_gpu = 1 }\n", "did you mean inpaint"),
    ("[ray.resources]\ninpaint = { void_gpu = -1 }\n", "not a table of amounts"),
    ("[ray]\nresource = 1\n", "has no setting 'resource'"),
    ("[limits]\ngemini-api = 0\n", "not a number of slots"),
    ("[qc]\nurl = \"/mnt/out\"\n", "not an http"),
    ("[inpaint]\nchunk_frames = -5\n", "not a number of frames"),
    ("[inpaint]\nchunk_frames = \"120\"\n", "not a number of frames"),
])
def test_bad_farm_sections_get_one_clear_line(tmp_path, text, message):
    path = tmp_path / "farm.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_engine_config(path)
