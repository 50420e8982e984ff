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

