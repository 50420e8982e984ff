"""`void-farm serve` hands the chosen masker, analyzer, their config sections and the colour
settings to every run it starts."""

from flows.cli_serve import engine_options
from void_core.preflight import choose_engines


def test_served_runs_get_the_analyzer_and_its_config_section(tmp_path):
    config = tmp_path / "void-farm.toml"
    config.write_text('[analysis.local-vlm]\nmodel_dir = "/models/qwen3-vl"\ndevice = "cpu"\n'
                      '[colour]\ninput_colorspace = "ACEScg"\n')
    choice = choose_engines(config, "classical", "classical", "local-vlm")
    options = engine_options(choice)
    assert options["analyzer"] == "local-vlm"
    assert options["analyzer_settings"] == {"model_dir": "/models/qwen3-vl", "device": "cpu"}
    assert (options["masker"], options["masker_settings"]) == ("classical", {})
    assert options["colour"]["input_colorspace"] == "ACEScg"


def test_the_flow_takes_every_option_serve_passes():
    import inspect

    from flows.cutlist_flow import cleanup_cutlist

    accepted = inspect.signature(cleanup_cutlist.fn).parameters
    choice = choose_engines(None, "classical", "classical", "heuristic")
    assert set(engine_options(choice)) <= set(accepted)
