"""The `gemini` analysis engine, run with the real google-genai client against a local server
that speaks the Gemini REST protocol (tests/fake_gemini.py): what is sent, retries, timeouts,
malformed replies, the Files API path, the key's secrecy, and a click-to-quadmask run."""

from __future__ import annotations

import base64
import io
import json
import logging
import time

import av
import cv2
import numpy as np
import pytest
from fake_gemini import FakeGemini, Reply, error_body, success_body

from void_core import quadmask
from void_core.analysis import Analysis, GeminiAnalyzer, grey_frame
from void_core.analysis.gemini import DEFAULT_MODEL
from void_core.analysis.vlm_schema import ReplyAnalysis, fit_to_shot
from void_core.analysis.masks import cell_edges, grid_cells
from void_core.errors import AnalysisError, EngineNotFoundError, MaskError
from conftest import PushScene, push_scene_with_black_mask, quadmask_from_clicks
from void_core.engines import create_engine
from void_core.masking import read_points_json
from void_core.media.encode import write_mask_video
from void_core.media.masks import QuadmaskReader
from void_core.media.plate import open_plate

KEY = "AIzaTEST-not-a-real-key-7f3a9c"
W, H, FRAMES = 224, 128, 12  # VOID's grid: 8 rows x 14 columns of 16 x 16 px

# What the fake Gemini says: a pushed box moving right along row 2, and a static reflection.
ANSWER = {
    "edit_instruction": "whatever the model echoes",
    "integral_belongings": [{"noun": "Rope", "why": "tied to the ball"}],
    "affected_objects": [
        {"noun": "Box", "category": "physical", "why": "the ball pushes it",
         "will_move": True, "first_appears_frame": 3, "movement_description": "slides right",
         "currently_moving": None, "should_have_stayed": None,
         "original_position_grid": {"row": 2, "col": 9},
         "grid_localizations": [],
         "object_size_grids": {"rows": 1, "cols": 1},
         "trajectory_path": [{"frame": 3, "grid_row": 2, "grid_col": 9},
                             {"frame": 11, "grid_row": 2, "grid_col": 13}]},
        {"noun": "reflection", "category": "visual_artifact", "why": "the ball on the floor",
         "will_move": False, "first_appears_frame": 1, "movement_description": "",
         "grid_localizations": [{"frame": 1, "grid_regions": [{"row": 7, "col": 0},
                                                              {"row": 7, "col": 1}]}],
         "trajectory_path": []},
    ],
    "scene_description": "A brick wall behind a wooden floor; nothing moves.",
    "confidence": 0.8,
}


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> PushScene:
    return push_scene_with_black_mask(tmp_path_factory.mktemp("gemini_scene"), W, H, FRAMES)


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    for name in ("GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_GENAI_USE_VERTEXAI"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def fake(env):
    with FakeGemini(ANSWER, api_key=KEY) as server:
        yield server


def engine(fake: FakeGemini, **overrides) -> GeminiAnalyzer:
    settings = dict(base_url=fake.base_url, retry_base_delay=0.01, retry_max_delay=0.05,
                    poll_interval=0.01, timeout=10.0)
    settings.update(overrides)
    return GeminiAnalyzer(**settings)


def analyse(engine_: GeminiAnalyzer, scene: PushScene, instruction: str = "remove the ball"):
    return engine_.analyze(open_plate(scene.video), scene.black, instruction)


def frame_count(mp4: bytes) -> int:
    with av.open(io.BytesIO(mp4)) as container:
        return sum(1 for _ in container.decode(video=0))


# --- a successful analysis -----------------------------------------------------------------------

def test_reply_becomes_the_analysis_and_the_request_carries_voids_inputs(fake, scene):
    progress: list[tuple[int, int]] = []
    analysis = engine(fake).analyze(open_plate(scene.video), scene.black, "remove the ball",
                                    on_progress=lambda done, total: progress.append((done, total)))
    assert progress[0] == (1, FRAMES + 1) and progress[-1] == (FRAMES + 1, FRAMES + 1)

    box, reflection = analysis.affected_objects
    assert (box.noun, box.category, box.will_move) == ("box", "physical", True)
    assert [(p.frame, p.grid_col) for p in box.trajectory_path] == [(3, 9), (11, 13)]
    assert reflection.grid_localizations[0].grid_regions[1].col == 1
    assert analysis.integral_belongings[0].noun == "Rope"
    assert analysis.scene_description == ANSWER["scene_description"]  # the bg prompt
    assert analysis.edit_instruction == "remove the ball"  # what was asked, not the echo
    assert analysis.confidence == 0.8

    [request] = fake.generate_requests()
    assert request.path.endswith(f"/models/{DEFAULT_MODEL}:generateContent")
    assert request.headers["x-goog-api-key"] == KEY
    body = request.json()
    parts = body["contents"][0]["parts"]
    texts = [p["text"] for p in parts if "text" in p]
    assert 'Instruction: "remove the ball"' in texts[-1]
    assert f"{FRAMES} frames at 12 frames per second" in texts[-1]
    assert "8 rows x 14 columns" in texts[-1]
    images = [p["inlineData"] for p in parts if p.get("inlineData", {}).get("mime_type")
              == "image/jpeg"]
    assert len(images) == 10 + 1  # VOID's ten grid samples and the red object frame
    first = cv2.imdecode(np.frombuffer(base64.urlsafe_b64decode(images[0]["data"]), np.uint8),
                         cv2.IMREAD_COLOR)
    assert first.shape == (H, W, 3)
    assert any("tinted red" in text for text in texts)
    [video] = [p for p in parts if p.get("inlineData", {}).get("mime_type") == "video/mp4"]
    assert frame_count(base64.urlsafe_b64decode(video["inlineData"]["data"])) == FRAMES
    assert video["videoMetadata"]["fps"] == 4.0
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    schema = config["responseSchema"]
    objects = schema["properties"]["affected_objects"]
    assert objects["max_items"] == 5  # the SDK sends schema keys in snake case
    item = objects["items"]["properties"]
    assert item["category"]["enum"] == ["physical", "visual_artifact"]
    for field in ("will_move", "first_appears_frame", "grid_localizations", "trajectory_path",
                  "object_size_grids"):
        assert field in item
    assert {"integral_belongings", "scene_description"} <= set(schema["required"])
    assert "JSON" in body["systemInstruction"]["parts"][0]["text"]
    assert not fake.files  # small video: nothing uploaded


def test_the_red_frame_is_the_first_frame_with_the_object(fake, scene, tmp_path):
    # The object enters on frame 4: frames 0-3 of the mask are empty.
    masks = list(QuadmaskReader(scene.black).frames())
    late = [np.full_like(m, 255) if i < 4 else m for i, m in enumerate(masks)]
    write_mask_video(tmp_path / "late.mp4", late, 12)
    engine(fake).analyze(open_plate(scene.video), tmp_path / "late.mp4", "")
    text = fake.generate_requests()[0].json()["contents"][0]["parts"][-1]["text"]
    assert "The object is tinted red on frame 4." in text
    assert 'Instruction: "Remove the object tinted red."' in text


# --- retries -------------------------------------------------------------------------------------

def test_503_then_success_is_retried(fake, scene, caplog):
    fake.replies.append(Reply(503))
    with caplog.at_level(logging.INFO):
        analysis = analyse(engine(fake), scene)
    assert len(analysis.affected_objects) == 2
    assert len(fake.generate_requests()) == 2
    assert "503" in caplog.text and "retry 1 of 4" in caplog.text
    assert KEY not in caplog.text


def test_429_is_retried_after_the_delay_the_server_asks_for(fake, scene):
    retry_info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.3s"}
    fake.replies.append(Reply(429, error_body(429, "Resource has been exhausted",
                                              details=[retry_info])))
    analysis = analyse(engine(fake, retry_max_delay=2.0), scene)
    first, second = fake.generate_requests()
    assert second.at - first.at >= 0.3  # the server's RetryInfo, not the 0.01 s base delay
    assert analysis.scene_description


def test_exhausted_retries_fail_with_one_clear_line(fake, scene):
    fake.replies.extend([Reply(503), Reply(500), Reply(503)])
    started = time.monotonic()
    with pytest.raises(AnalysisError) as caught:
        analyse(engine(fake, max_retries=2), scene)
    assert len(fake.generate_requests()) == 3
    message = str(caught.value)
    assert "\n" not in message
    assert "still failing after 3 attempts" in message and "503 UNAVAILABLE" in message
    assert caught.value.retryable
    assert time.monotonic() - started < 5


def test_a_refused_request_is_not_retried(fake, scene):
    fake.replies.append(Reply(400, error_body(400, "Unsupported MIME type")))
    with pytest.raises(AnalysisError, match="refused the request.*Unsupported MIME type"):
        analyse(engine(fake), scene)
    assert len(fake.generate_requests()) == 1


def test_timeout_is_a_clear_error_and_not_retried(fake, scene):
    fake.replies.append(Reply(delay=3.0))
    started = time.monotonic()
    with pytest.raises(AnalysisError, match=r"no answer within 0\.5 s.*timeout setting"):
        analyse(engine(fake, timeout=0.5), scene)
    assert time.monotonic() - started < 2.5
    assert len(fake.generate_requests()) == 1


def test_unreachable_service_is_retried_then_explained(env, scene):
    with FakeGemini(ANSWER) as server:
        url = server.base_url  # nothing listens there once the server is gone
    with pytest.raises(AnalysisError, match="cannot reach Gemini at http://127.0.0.1"):
        analyse(GeminiAnalyzer(base_url=url, max_retries=1, retry_base_delay=0.01), scene)


# --- malformed replies ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, words", [
    ('{"edit_instruction": "x", "affected_objects": [', "not valid JSON"),
    ("Sure! Here is the analysis you asked for.", "not valid JSON"),
    (json.dumps({**ANSWER, "affected_objects": [{**ANSWER["affected_objects"][0],
                                                 "category": "smell"}]}),
     "does not match the analysis schema (affected_objects.0.category"),
    (json.dumps({k: v for k, v in ANSWER.items() if k != "scene_description"}),
     "does not match the analysis schema (scene_description: Field required"),
    ("", "holds no text"),
])
def test_malformed_reply_is_a_clear_error(fake, scene, text, words):
    fake.replies.append(Reply(body=success_body(text)))
    with pytest.raises(AnalysisError) as caught:
        analyse(engine(fake), scene)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_reply_cut_off_or_blocked_is_explained(fake, scene):
    cut = success_body(json.dumps(ANSWER)[:80])
    cut["candidates"][0]["finishReason"] = "MAX_TOKENS"
    fake.replies.extend([Reply(body=cut), Reply(body={"promptFeedback": {"blockReason": "OTHER"}})])
    with pytest.raises(AnalysisError, match=r"stopped early \(MAX_TOKENS\)"):
        analyse(engine(fake), scene)
    with pytest.raises(AnalysisError, match=r"no answer \(prompt blocked: OTHER\)"):
        analyse(engine(fake), scene)


def test_reply_in_a_code_fence_is_read(fake, scene):
    fake.replies.append(Reply(body=success_body("```json\n" + json.dumps(ANSWER) + "\n```")))
    assert analyse(engine(fake), scene).affected_objects[0].noun == "box"


# --- the Files API -------------------------------------------------------------------------------

def test_video_over_the_inline_cap_goes_through_the_files_api(fake, scene):
    fake.processing_polls = 2
    analysis = analyse(engine(fake, inline_max_bytes=1000), scene)
    assert analysis.affected_objects[0].noun == "box"

    [start] = fake.requests_to("POST", r"/upload/v1(beta)?/files$")
    assert start.headers["x-goog-upload-protocol"] == "resumable"
    [file_id] = fake.files
    uploaded = bytes(fake.files[file_id]["data"])
    assert len(uploaded) > 1000 and frame_count(uploaded) == FRAMES
    assert len(fake.requests_to("GET", f"/files/{file_id}$")) == 2  # polled until ACTIVE
    parts = fake.generate_requests()[0].json()["contents"][0]["parts"]
    [video] = [p for p in parts if "fileData" in p]
    assert video["fileData"]["file_uri"].endswith(f"/files/{file_id}")
    assert video["fileData"]["mime_type"] == "video/mp4"
    assert not [p for p in parts if p.get("inlineData", {}).get("mime_type") == "video/mp4"]
    assert fake.deleted == [file_id]  # cleaned up afterwards


def test_video_the_service_cannot_process_is_explained(env, scene):
    with FakeGemini(ANSWER, fail_processing=True) as server:
        with pytest.raises(AnalysisError, match=r"could not process the uploaded video \(bad "):
            analyse(engine(server, inline_max_bytes=0), scene)
        assert not server.generate_requests() and len(server.deleted) == 1


# --- the key -------------------------------------------------------------------------------------

def test_key_never_appears_in_settings_logs_or_errors(fake, scene, env, caplog):
    analyzer = engine(fake, max_retries=1)
    assert KEY not in json.dumps(analyzer.settings())
    assert analyzer.settings()["api_key_env"] == "GEMINI_API_KEY or GOOGLE_API_KEY"
    assert KEY not in repr(vars(analyzer))
    # A server that echoes the key in its error message: scrubbed.
    fake.replies.extend([Reply(500, error_body(500, f"internal error for key {KEY}"))] * 2)
    with caplog.at_level(logging.DEBUG), pytest.raises(AnalysisError) as caught:
        analyse(analyzer, scene)
    assert KEY not in str(caught.value) and "[key]" in str(caught.value)
    assert KEY not in caplog.text
    # A key the service refuses.
    env.setenv("GEMINI_API_KEY", KEY + "-wrong")
    with pytest.raises(AnalysisError, match="refused the API key.*check GEMINI_API_KEY") as caught:
        analyse(analyzer, scene)
    assert KEY not in str(caught.value)


def test_missing_key_says_which_variable_to_set(env, scene):
    env.delenv("GEMINI_API_KEY")
    with pytest.raises(AnalysisError, match="no Gemini API key.*set GEMINI_API_KEY"):
        analyse(GeminiAnalyzer(), scene)
    named = GeminiAnalyzer(api_key_env="STUDIO_GEMINI_KEY")
    with pytest.raises(AnalysisError, match="set STUDIO_GEMINI_KEY"):
        analyse(named, scene)


def test_key_from_a_named_variable_and_google_api_key(env, scene):
    env.delenv("GEMINI_API_KEY")
    env.setenv("STUDIO_GEMINI_KEY", KEY)
    with FakeGemini(ANSWER, api_key=KEY) as server:
        analyse(engine(server, api_key_env="STUDIO_GEMINI_KEY"), scene)
        env.setenv("GOOGLE_API_KEY", KEY)
        analyse(engine(server), scene)
        assert {r.headers["x-goog-api-key"] for r in server.generate_requests()} == {KEY}


def test_settings_record_the_endpoint_without_credentials(env):
    analyzer = GeminiAnalyzer(base_url="https://user:secret@proxy.example:8443/gemini?key=abc",
                              model="gemini-2.5-flash")
    settings = analyzer.settings()
    assert settings["endpoint"] == "https://proxy.example:8443/gemini"
    assert settings["model"] == "gemini-2.5-flash" and settings["prompt"].startswith("sha256:")
    assert "secret" not in json.dumps(settings) and "abc" not in json.dumps(settings)
    env.setenv("GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:9")
    assert GeminiAnalyzer().settings()["endpoint"] == "http://127.0.0.1:9"


@pytest.mark.parametrize("setting", [dict(timeout=0), dict(max_retries=-1),
                                     dict(retry_base_delay=5, retry_max_delay=1),
                                     dict(video_fps=30), dict(sample_frames=0)])
def test_bad_settings_are_refused(setting):
    with pytest.raises(ValueError):
        GeminiAnalyzer(**setting)


def test_mask_that_does_not_fit_the_plate_is_refused_before_any_request(fake, scene, tmp_path):
    write_mask_video(tmp_path / "short.mp4", [np.full((H, W), 255, np.uint8)] * 3, 12)
    with pytest.raises(MaskError, match="mask ends after 3 frames"):
        engine(fake).analyze(open_plate(scene.video), tmp_path / "short.mp4", "")
    write_mask_video(tmp_path / "empty.mp4", [np.full((H, W), 255, np.uint8)] * FRAMES, 12)
    with pytest.raises(MaskError, match="empty on every frame"):
        engine(fake).analyze(open_plate(scene.video), tmp_path / "empty.mp4", "")
    assert not fake.requests


# --- from the reply to the grey mask -------------------------------------------------------------

def test_reply_is_fitted_to_the_shot():
    wild = json.loads(json.dumps(ANSWER))
    box = wild["affected_objects"][0]
    box["first_appears_frame"] = 40
    box["trajectory_path"] = [{"frame": 30, "grid_row": 2, "grid_col": 13},
                              {"frame": 3, "grid_row": 2, "grid_col": 9},
                              {"frame": 5, "grid_row": 9, "grid_col": 2}]  # row 9: no such row
    wild["affected_objects"][1]["grid_localizations"][0]["grid_regions"].append(
        {"row": 1, "col": 20})
    analysis = fit_to_shot(ReplyAnalysis.model_validate(wild), instruction="remove it",
                           frame_count=FRAMES, rows=8, cols=14)
    box, reflection = analysis.affected_objects
    assert box.first_appears_frame == FRAMES - 1
    assert [(p.frame, p.grid_col) for p in box.trajectory_path] == [(3, 9), (FRAMES - 1, 13)]
    assert {(c.row, c.col) for c in reflection.grid_localizations[0].grid_regions} == \
        {(7, 0), (7, 1)}
    assert analysis.edit_instruction == "remove it"


def test_grey_mask_covers_trajectory_start_and_where_it_should_have_stayed():
    analysis = Analysis.model_validate({"affected_objects": [{
        "noun": "cup", "category": "physical", "will_move": True, "first_appears_frame": 2,
        "should_have_stayed": True, "original_position_grid": {"row": 6, "col": 1},
        "trajectory_path": [{"frame": 2, "grid_row": 1, "grid_col": 3},
                            {"frame": 10, "grid_row": 1, "grid_col": 11}]}]})
    assert not (grey_frame(analysis, 1, W, H) == 127).any()  # before it is affected
    cells = set(grid_cells(grey_frame(analysis, 6, W, H) == 127))
    assert cells == {(1, 3), (1, 7), (6, 1)}  # start, halfway, where it should have stayed


# --- end to end: click -> black mask -> Gemini -> quadmask ---------------------------------------

def test_click_to_quadmask_with_gemini_paints_what_the_server_said(fake, scene, env, tmp_path):
    assert create_engine("analysis", "gemini", model="gemini-2.5-flash").settings()["model"] == \
        "gemini-2.5-flash"
    with pytest.raises(EngineNotFoundError, match="gemini, heuristic"):
        create_engine("analysis", "gpt")
    env.setenv("GOOGLE_GEMINI_BASE_URL", fake.base_url)  # how a farm points at a proxy
    prompts = read_points_json(scene.folder / "points.json")
    state = quadmask_from_clicks(scene.video, prompts, tmp_path, instruction="remove the ball",
                                 analyzer="gemini")
    assert state.report("analysis").engine == "gemini" and len(fake.generate_requests()) == 1

    quad = np.stack(list(QuadmaskReader(state.quadmask).frames()))
    assert quad.shape == (FRAMES, H, W)
    ys, xs = cell_edges(W, H)

    def cell(frame: int, row: int, col: int) -> np.ndarray:
        return quad[frame, ys[row]:ys[row + 1], xs[col]:xs[col + 1]]

    for frame, row, col in [(3, 2, 9), (7, 2, 11), (11, 2, 13), (11, 2, 9), (5, 7, 0), (5, 7, 1)]:
        values = set(np.unique(cell(frame, row, col)).tolist())
        assert values <= {quadmask.AFFECTED, quadmask.OVERLAP}, (frame, row, col, values)
        assert quadmask.AFFECTED in values
    assert not (cell(2, 2, 9) == quadmask.AFFECTED).any()  # the box is hit on frame 3
    assert not (quad[0] == quadmask.AFFECTED).any()  # VOID's frame-0 rule
    assert (quad == quadmask.PRIMARY).any()  # the clicked object
    said = {(2, 9), (2, 11), (7, 0), (7, 1)}  # frame 7: box start, box now, reflection
    assert set(grid_cells(quad[7] == quadmask.AFFECTED)) <= said
    saved = json.loads(state.analysis.read_text())
    assert saved["scene_description"] == ANSWER["scene_description"]
    assert saved["affected_objects"][0]["trajectory_path"][1]["grid_col"] == 13
