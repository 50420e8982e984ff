"""The `local-vlm` analyzer on a tiny random-weight Qwen3-VL made from a config, on the CPU: the
folder check, constrained decoding that turns noise into schema-valid analyses, and the
analysis flowing into the grey mask and the quadmask exactly as Gemini's does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch

from conftest import (TINY_VLM_SETTINGS, PushScene, push_scene_with_black_mask,
                      quadmask_from_clicks)
from void_core import quadmask
from void_core.analysis import grey_frame, read_analysis, write_quadmask
from void_core.analysis.local_vlm.check import check_vlm_dir, folder_checksums
from void_core.analysis.local_vlm.decoding import Grammar
from void_core.analysis.local_vlm.engine import LocalVlmAnalyzer
from void_core.analysis.local_vlm.tiny import make_tiny_vlm_dir, tiny_tokenizer
from void_core.analysis.schema import Analysis
from void_core.analysis.vlm_schema import ReplyAnalysis, decoding_schema
from void_core.engines import create_engine
from void_core.errors import InputError
from void_core.masking import read_points_json
from void_core.media.masks import QuadmaskReader
from void_core.media.plate import open_plate
from void_core.pipeline.stages import _empty_analysis_notes

W, H, FRAMES = 224, 128, 12  # VOID's grid: 8 rows x 14 columns
SHOT = dict(rows=8, cols=14, frame_count=FRAMES, sample_count=3)
FINDS_SOMETHING, FINDS_NOTHING = 0, 2  # seeds of the tiny model on this scene (see the tests)


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> PushScene:
    return push_scene_with_black_mask(tmp_path_factory.mktemp("vlm_scene"), W, H, FRAMES)


@pytest.fixture(scope="module")
def analyzer(tiny_vlm, one_torch_thread) -> LocalVlmAnalyzer:
    return LocalVlmAnalyzer(model_dir=tiny_vlm, **TINY_VLM_SETTINGS)


def clicked_and_analysed(scene: PushScene, model: Path, out: Path, *, seed: int):
    """The scene's click through the pipeline's masking and analysis stages, with the tiny VLM
    answering with `seed`."""
    prompts = read_points_json(scene.folder / "points.json")
    return quadmask_from_clicks(scene.video, prompts, out, instruction="remove the ball",
                                analyzer="local-vlm",
                                analyzer_settings={"model_dir": str(model), "seed": seed,
                                                   **TINY_VLM_SETTINGS})


# --- the folder ----------------------------------------------------------------------------------

@pytest.mark.parametrize("family", ["qwen3-vl", "qwen2.5-vl"])
def test_a_tiny_folder_is_deterministic_and_checks_clean(family, tmp_path):
    first = make_tiny_vlm_dir(tmp_path / "a", family=family, seed=1)
    second = make_tiny_vlm_dir(tmp_path / "b", family=family, seed=1)
    report = check_vlm_dir(first)
    assert report.ok, report.problems
    assert report.family == family and report.parameters > 100_000
    assert {"model.safetensors", "tokenizer.json", "chat_template.jinja"} <= set(report.files)
    assert report.checksums == folder_checksums(second)  # same seed, same bytes
    assert report.checksums != folder_checksums(make_tiny_vlm_dir(tmp_path / "c",
                                                                  family=family, seed=2))


def test_an_incomplete_folder_is_named_file_by_file(tiny_vlm, tmp_path):
    broken = Path(shutil.copytree(tiny_vlm, tmp_path / "broken"))
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # a copy cut short
    (broken / "tokenizer.json").unlink()
    problems = check_vlm_dir(broken).problems
    assert any("model.safetensors" in p and "incomplete copy" in p for p in problems), problems
    assert any("no tokenizer" in p for p in problems), problems

    assert check_vlm_dir(tmp_path / "nowhere").problems == [f"{tmp_path / 'nowhere'}: not found"]
    (tmp_path / "text-only").mkdir()
    (tmp_path / "text-only" / "config.json").write_text('{"model_type": "qwen3"}')
    assert "not a supported VLM family" in check_vlm_dir(tmp_path / "text-only").problems[0]


def test_a_missing_or_incomplete_model_folder_is_one_clear_line(tiny_vlm, tmp_path):
    with pytest.raises(InputError, match="needs a model folder") as missing:
        create_engine("analysis", "local-vlm")
    assert "\n" not in str(missing.value)
    broken = Path(shutil.copytree(tiny_vlm, tmp_path / "broken"))
    (broken / "processor_config.json").unlink()
    with pytest.raises(InputError) as incomplete:
        create_engine("analysis", "local-vlm", model_dir=str(broken))
    message = str(incomplete.value)
    assert "\n" not in message and "processor_config.json" in message
    assert f"void-farm models check {broken}" in message


# --- constrained decoding ----------------------------------------------------------------------

def test_random_logits_under_the_grammar_always_give_a_schema_valid_answer():
    """Decoding noise: whatever token scores come, the masked choice stays inside the schema
    (grid, frame range, lengths, keys) and ends in a complete answer."""
    tokenizer = tiny_tokenizer()
    stop = tokenizer.convert_tokens_to_ids("<|im_end|>")
    vocab = len(tokenizer) + 7  # a model's logits may be wider than its vocabulary
    grammar = Grammar(tokenizer, vocab_size=vocab, stop_ids=[stop])
    schema = decoding_schema(instruction="remove the ball", **SHOT)
    for field in ("why", "movement_description"):
        schema["$defs"]["ReplyAffectedObject"]["properties"][field]["maxLength"] = 12
    schema["properties"]["scene_description"]["maxLength"] = 30
    generator = torch.Generator().manual_seed(0)
    for _ in range(8):
        constraint = grammar.constraint(schema)
        ids = torch.zeros((1, 3), dtype=torch.long)  # a stand-in prompt
        while True:
            scores = constraint(ids, torch.randn((1, vocab), generator=generator))
            token = int(torch.multinomial(torch.softmax(scores, -1), 1, generator=generator))
            if token == stop:
                break
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
        assert constraint.complete
        answer = json.loads(tokenizer.decode(ids[0, 3:].tolist()))
        jsonschema.validate(answer, schema)
        ReplyAnalysis.model_validate(answer)


def test_the_grammar_refuses_a_cell_outside_the_grid():
    tokenizer = tiny_tokenizer()
    stop = tokenizer.convert_tokens_to_ids("<|im_end|>")
    grammar = Grammar(tokenizer, vocab_size=len(tokenizer), stop_ids=[stop])
    schema = decoding_schema(instruction="x", **SHOT)

    def accepts(text: str) -> bool:
        constraint = grammar.constraint(schema)
        return constraint.matcher.consume_tokens(tokenizer.encode(text, add_special_tokens=False))

    prefix = ('{"edit_instruction":"x","integral_belongings":[],"affected_objects":[{"noun":'
              '"shadow","category":"visual_artifact","why":"","will_move":false,'
              '"first_appears_frame":0,"movement_description":"","grid_localizations":'
              '[{"frame":0,"grid_regions":[{"row":')
    assert accepts(prefix + '7,"col":13}')  # the last row and column
    assert not accepts(prefix + '8,')  # a ninth row does not exist
    assert not accepts(prefix.replace('"frame":0', '"frame":12'))  # nor a thirteenth frame


# --- the analyzer ------------------------------------------------------------------------------

def test_the_tiny_model_answers_a_shot_with_a_valid_analysis_every_time(analyzer, scene):
    plate = open_plate(scene.video)
    steps: list[tuple[int, int]] = []
    analysis = analyzer.analyze(plate, scene.black, "remove the ball",
                                on_progress=lambda done, total: steps.append((done, total)))
    assert isinstance(analysis, Analysis) and analysis.edit_instruction == "remove the ball"
    assert analyzer.load_count == 1 and steps[-1] == (FRAMES + 1, FRAMES + 1)
    for thing in analysis.affected_objects:
        assert 0 <= thing.first_appears_frame < FRAMES
        for localization in thing.grid_localizations:
            assert all(cell.row < 8 and cell.col < 14 for cell in localization.grid_regions)
    again = analyzer.analyze(open_plate(scene.video), scene.black, "remove the ball")
    assert again == analysis and analyzer.load_count == 1  # same seed, same answer, one load


def test_settings_resources_and_checksums(analyzer, tiny_vlm):
    settings = analyzer.settings()
    assert settings["family"] == "qwen3-vl" and settings["decoding"].startswith("llguidance ")
    assert settings["model_dir"] == str(tiny_vlm) and settings["prompt"].startswith("sha256:")
    assert analyzer.resources() == {"num_cpus": 1}
    on_gpu = LocalVlmAnalyzer(model_dir=tiny_vlm, device="cuda")
    assert on_gpu.resources() == {"num_gpus": 1, "num_cpus": 1}
    # a 32B model in bfloat16 (66 GB) spread over two cards still needs the large class
    on_gpu.weights_gb, on_gpu.gpus = 66.0, 2
    assert on_gpu.resources() == {"num_gpus": 2, "num_cpus": 1, "resources": {"void_gpu": 2}}
    checksums = analyzer.model_checksums()
    assert set(checksums) >= {"config.json", "model.safetensors", "tokenizer.json"}
    assert all(digest.startswith("sha256:") for digest in checksums.values())
    with pytest.raises(InputError, match="gpus > 1 needs"):
        LocalVlmAnalyzer(model_dir=tiny_vlm, gpus=2)


def test_the_analysis_flows_into_the_grey_mask_and_quadmask_as_geminis(tiny_vlm, scene,
                                                                       tmp_path,
                                                                       one_torch_thread):
    state = clicked_and_analysed(scene, tiny_vlm, tmp_path, seed=FINDS_SOMETHING)
    report = state.report("analysis")
    assert report.engine == "local-vlm" and report.status == "succeeded"
    saved = read_analysis(state.analysis)
    located = [thing for thing in saved.affected_objects if thing.grid_localizations]
    assert located, "this seed's answer localises something (else the test proves nothing)"

    # The stage's quadmask is exactly what the shared writer makes of the saved analysis,
    # the path Gemini's answers take.
    again = tmp_path / "again.mp4"
    write_quadmask(saved, state.black_mask, again, gridify=True)
    produced = np.stack(list(QuadmaskReader(state.quadmask).frames()))
    assert np.array_equal(produced, np.stack(list(QuadmaskReader(again).frames())))
    assert (produced == quadmask.PRIMARY).any()
    painted = [f for f in range(1, FRAMES) if (grey_frame(saved, f, W, H) == 127).any()]
    assert painted, "the grid cells the model named are painted grey"
    touched = (produced == quadmask.AFFECTED) | (produced == quadmask.OVERLAP)
    assert all(touched[f].any() for f in painted)
    prompt = json.loads((state.analysis.parent / "prompt.json").read_text())
    assert prompt["bg"] == saved.scene_description  # the bg prompt from the scene description


def test_an_analysis_that_finds_nothing_is_reported_as_such(tiny_vlm, scene, tmp_path,
                                                           one_torch_thread):
    state = clicked_and_analysed(scene, tiny_vlm, tmp_path, seed=FINDS_NOTHING)
    saved = read_analysis(state.analysis)
    assert not saved.affected_objects and not saved.integral_belongings
    assert "local-vlm found nothing the object affected: the quadmask holds the object alone" \
        in state.report("analysis").notes
    produced = np.stack(list(QuadmaskReader(state.quadmask).frames()))
    assert not (produced == quadmask.AFFECTED).any()
    assert _empty_analysis_notes("x", Analysis()) == [
        "x found nothing the object affected: the quadmask holds the object alone",
        "x gave no scene description: no bg prompt from the analysis"]


def test_the_second_family_answers_through_the_same_engine(scene, tmp_path, one_torch_thread):
    model = make_tiny_vlm_dir(tmp_path / "qwen2.5-vl", family="qwen2.5-vl")
    analyzer = LocalVlmAnalyzer(model_dir=model, **TINY_VLM_SETTINGS)
    analysis = analyzer.analyze(open_plate(scene.video), scene.black, "remove the ball")
    assert analyzer.settings()["family"] == "qwen2.5-vl" and analyzer.load_count == 1
    assert analysis.edit_instruction == "remove the ball"
    assert analysis == Analysis.model_validate(analysis.model_dump())
