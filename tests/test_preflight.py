"""The run's preflight in the library: what `void-farm run` and the flow both check first."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from void_core.engines import EngineSettingError
from void_core.errors import CutListError, EngineNotFoundError
from void_core.lineage.db import LineageError
from void_core.preflight import (
    EngineChoice, RayAddressError, check_ray_address, choose_engines, preflight,
)

DATA = Path(__file__).parent / "data" / "edl"


@pytest.fixture
def cutlist() -> Path:
    return next(iter(sorted(DATA.glob("*.edl"))))


def test_a_good_run_resolves_its_cut_list_and_database(cutlist, tmp_path, monkeypatch):
    monkeypatch.delenv("VOID_FARM_DB", raising=False)
    checked = preflight(cutlist, tmp_path / "out", EngineChoice())
    assert checked.cutlist.shots or checked.cutlist.problems
    assert checked.lineage_url == f"sqlite:///{(tmp_path / 'out' / 'void-farm-lineage.db').resolve()}"


@pytest.mark.parametrize("choice, error, words", [
    (EngineChoice(engine="viod"), EngineNotFoundError, "did you mean 'void'?"),
    (EngineChoice(masker_settings={"refrences": 3}), EngineSettingError, "'references'"),
    (EngineChoice(refiner="flw"), EngineNotFoundError, "did you mean 'flow'?"),
])
def test_engines_and_settings_are_checked(cutlist, tmp_path, choice, error, words):
    with pytest.raises(error, match=words):
        preflight(cutlist, tmp_path / "out", choice)
    assert not (tmp_path / "out").exists()


def test_the_cut_list_the_database_and_the_ray_address(cutlist, tmp_path):
    with pytest.raises(CutListError):
        preflight(tmp_path / "missing.edl", tmp_path / "out", EngineChoice())
    with pytest.raises(LineageError):
        preflight(cutlist, tmp_path / "out", EngineChoice(), db="nosuchdriver://x/y")
    with pytest.raises(RayAddressError, match="not HOST:PORT"):
        preflight(cutlist, tmp_path / "out", EngineChoice(), ray_address="head-node")
    assert check_ray_address("head-node:6379") == "head-node:6379"
    assert check_ray_address("ray://head:10001") == "ray://head:10001"
    assert check_ray_address(None) is None and check_ray_address("auto") == "auto"
    with pytest.raises(RayAddressError, match="local is not an address"):
        check_ray_address("local")


def test_void_pass2_becomes_the_void_engines_setting(tmp_path):
    config = tmp_path / "farm.toml"
    config.write_text("[refine.void-pass2]\nsteps = 4\n")
    choice = choose_engines(config, "void", "classical", "heuristic", refiner="void-pass2")
    assert choice.refiner == "none" and choice.engine_settings["pass2"] == {"steps": 4}
    with pytest.raises(Exception, match="runs inside the void engine"):
        choose_engines(config, "classical", "classical", "heuristic", refiner="void-pass2")


def test_run_refuses_an_unknown_config_key_before_starting_anything(cutlist, tmp_path):
    from flows.cli import app

    config = tmp_path / "void-farm.toml"
    config.write_text("[masking.classical]\nreference_windw = 3\n")
    result = CliRunner().invoke(app, ["run", str(cutlist), "--out", str(tmp_path / "out"),
                                      "--config", str(config)])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, result.stderr
    assert "unknown setting 'reference_windw'" in errors[0]
    assert "did you mean 'reference_window'?" in errors[0]
    assert not (tmp_path / "out").exists()
