"""Affected objects segmented from the analysis' localisations (VOID's stage 3 with SAM 2).

The quadmask rule is checked on hand-made object mask videos (exact cells and pixels); the
segmentation and its wiring into the masking and analysis stages run the real `sam2`
engine on the tiny random-weight SAM 2 of `test_sam2.py` (plumbing, not mask quality) with the
heuristic analyzer or the local fake Gemini server (an analysis with a known localisation).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from fake_gemini import FakeGemini
from test_sam2 import save_checkpoint, tiny_config
from void_core import quadmask
from void_core.pipeline import stages
from void_core.analysis import AffectedObject, Analysis, RegionTrack, read_analysis, write_quadmask
from void_core.analysis.masks import grid_cells, object_region
from void_core.analysis.object_masks import localization_prompts, segment_affected_objects
from void_core.analysis.schema import GridCell, GridLocalization, GridSize, TrajectoryPoint
from void_core.errors import MaskError
from conftest import quadmask_from_clicks
from void_core.naming import AFFECTED_MASKS
from void_core.engines import create_engine
from void_core.masking import ClickPrompt
from void_core.media.encode import write_mask_video
from void_core.media.masks import QuadmaskReader
from void_core.media.plate import open_plate
from void_core.digests import file_digest
from void_core.synth import SceneSpec, write_scene

pytestmark = pytest.mark.usefixtures("one_torch_thread")

W, H, FRAMES = 224, 128, 4  # VOID's grid: 8 rows x 14 columns of 16 x 16 px
QUAD = {0, 63, 127, 255}
KEY = "AIzaTEST-not-a-real-key-7f3a9c"


def cells(*pairs) -> list[GridCell]:
    return [GridCell(row=row, col=col) for row, col in pairs]


def seen_at(*pairs) -> list[GridLocalization]:
    return [GridLocalization(frame=0, grid_regions=cells(*pairs))]


def box(rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[rows, cols] = True
    return mask


def write_object_mask(path: Path, masks) -> Path:
    """0 on the object, 255 elsewhere: what `segment_objects` writes."""
    return write_mask_video(path, [np.where(m, 0, 255).astype(np.uint8) for m in masks], 12)


def read_quad(path: Path) -> np.ndarray:
    return np.stack(list(QuadmaskReader(path).frames()))


@pytest.fixture
def primary(tmp_path) -> np.ndarray:
    """The removed object: rows 80-111, columns 16-47 (cells (5..6, 1..2)) on every frame."""
    black = box(slice(80, 112), slice(16, 48))
    write_object_mask(tmp_path / "black.mp4", [black] * FRAMES)
    return black


# --- the quadmask from object masks ---------------------------------------------------------

def test_object_masks_replace_the_grid_cells_and_unsegmented_objects_keep_them(tmp_path,
                                                                               primary):
    shadow = AffectedObject(noun="shadow", category="visual_artifact",
                            grid_localizations=seen_at((5, 3), (5, 4)))
    reflection = AffectedObject(noun="reflection", category="visual_artifact",
                                grid_localizations=seen_at((0, 12)))
    analysis = Analysis(affected_objects=[shadow, reflection])
    # The shadow as segmented: a strip moving right by 8 px a frame, and a patch under the
    # removed object.
    segmented = [box(slice(40, 44), slice(60 + 8 * f, 70 + 8 * f))
                 | box(slice(90, 94), slice(36, 46)) for f in range(FRAMES)]
    masks = {0: write_object_mask(tmp_path / "shadow.mp4", segmented)}

    quad = read_quad(write_quadmask(analysis, tmp_path / "black.mp4", tmp_path / "quad.mp4",
                                    object_masks=masks))

    assert set(np.unique(quad).tolist()) <= QUAD
    assert not (quad[0] == quadmask.AFFECTED).any()  # frame-0 rule
    assert (quad[0] == quadmask.OVERLAP).any()
    for f in range(1, FRAMES):
        affected_cells = set(grid_cells(quadmask.affected(quad[f])))
        assert affected_cells == set(grid_cells(segmented[f])) | {(0, 12)}
        assert (5, 3) not in affected_cells and (5, 4) not in affected_cells
    assert set(grid_cells(quadmask.affected(quad[1]))) != set(grid_cells(quadmask.affected(
        quad[3])))  # the cells follow the segmentation from frame to frame
    np.testing.assert_array_equal(quadmask.primary(quad[1]), primary)

    (tmp_path / "fine").mkdir()
    fine = read_quad(write_quadmask(analysis, tmp_path / "black.mp4",
                                    tmp_path / "fine" / "quad.mp4", gridify=False,
                                    object_masks=masks))
    reflection_cell = box(slice(0, 16), slice(192, 208))
    for f in range(1, FRAMES):
        grey = segmented[f] | reflection_cell
        np.testing.assert_array_equal(fine[f] == quadmask.AFFECTED, grey & ~primary)
        np.testing.assert_array_equal(fine[f] == quadmask.OVERLAP, grey & primary)


def test_without_object_masks_the_grid_rule_is_unchanged(tmp_path, primary):
    shadow = AffectedObject(noun="shadow", category="visual_artifact",
                            grid_localizations=seen_at((5, 3), (5, 4)))
    analysis = Analysis(affected_objects=[shadow])
    plain = read_quad(write_quadmask(analysis, tmp_path / "black.mp4", tmp_path / "a.mp4"))
    (tmp_path / "b").mkdir()
    empty = read_quad(write_quadmask(analysis, tmp_path / "black.mp4", tmp_path / "b" / "a.mp4",
                                     object_masks={}))
    np.testing.assert_array_equal(plain, empty)
    assert set(grid_cells(quadmask.affected(plain[2]))) == {(5, 3), (5, 4)}


def test_a_moving_object_keeps_its_trajectory_and_nothing_before_it_appears(tmp_path,
                                                                            primary):
    cone = AffectedObject(
        noun="cone", category="physical", will_move=True, first_appears_frame=2,
        grid_localizations=[GridLocalization(frame=2, grid_regions=cells((1, 1)))],
        original_position_grid=GridCell(row=6, col=10), object_size_grids=GridSize(rows=1, cols=1),
        trajectory_path=[TrajectoryPoint(frame=2, grid_row=6, grid_col=10),
                         TrajectoryPoint(frame=3, grid_row=6, grid_col=12)])
    # Tracked both ways, the segmentation is there on every frame.
    segmented = [box(slice(50, 60), slice(115, 125))] * FRAMES
    masks = {0: write_object_mask(tmp_path / "cone.mp4", segmented)}

    quad = read_quad(write_quadmask(Analysis(affected_objects=[cone]), tmp_path / "black.mp4",
                                    tmp_path / "quad.mp4", object_masks=masks))

    assert not quadmask.affected(quad[:2]).any()
    seen = set(grid_cells(segmented[0]))
    assert seen == {(3, 7)}
    assert set(grid_cells(quadmask.affected(quad[2]))) == seen | {(6, 10)}
    assert set(grid_cells(quadmask.affected(quad[3]))) == seen | {(6, 10), (6, 12)}


def test_a_measured_region_is_kept_and_the_segmentation_added(tmp_path, primary):
    region = RegionTrack(W, H, FRAMES)
    measured = box(slice(100, 110), slice(150, 170))
    for f in range(FRAMES):
        region.set(f, measured)
    shadow = AffectedObject(noun="shadow", category="visual_artifact",
                            grid_localizations=seen_at((6, 9))).with_region(region)
    segmented = box(slice(10, 20), slice(100, 120))
    masks = {0: write_object_mask(tmp_path / "shadow.mp4", [segmented] * FRAMES)}

    quad = read_quad(write_quadmask(Analysis(affected_objects=[shadow]), tmp_path / "black.mp4",
                                    tmp_path / "quad.mp4", gridify=False, object_masks=masks))

    for f in range(1, FRAMES):
        np.testing.assert_array_equal(quad[f] == quadmask.AFFECTED, measured | segmented)
    np.testing.assert_array_equal(object_region(shadow, 1, W, H, segmented), measured | segmented)


@pytest.mark.parametrize("frames, size, words", [
    (FRAMES - 1, (W, H), "object mask ends after 3 frames"),
    (FRAMES + 1, (W, H), "object mask goes on past the primary mask's 4 frames"),
    (FRAMES, (W // 2, H), "object mask is 112x128, the primary mask is 224x128"),
])
def test_an_object_mask_that_does_not_fit_is_refused(tmp_path, primary, frames, size, words):
    analysis = Analysis(affected_objects=[AffectedObject(noun="shadow",
                                                         category="visual_artifact")])
    mask = np.zeros(size[::-1], bool)
    write_object_mask(tmp_path / "object.mp4", [mask] * frames)
    with pytest.raises(MaskError, match=words):
        write_quadmask(analysis, tmp_path / "black.mp4", tmp_path / "quad.mp4",
                       object_masks={0: tmp_path / "object.mp4"})
    assert not (tmp_path / "quad.mp4").exists()
    with pytest.raises(ValueError, match="affected object 1, the analysis has 1"):
        write_quadmask(analysis, tmp_path / "black.mp4", tmp_path / "quad.mp4",
                       object_masks={1: tmp_path / "object.mp4"})


# --- segmenting with sam2 -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("sam2-tiny")
    cfg = tiny_config()
    OmegaConf.save(cfg, folder / "tiny.yaml")
    return {"config": str(folder / "tiny.yaml"),
            "checkpoint": str(save_checkpoint(cfg, folder / "tiny.pt")), "device": "cpu"}


@pytest.fixture(scope="module")
def push_scene(tmp_path_factory):
    """A box pushed away by the object, with shadows, on VOID's 8 x 14 grid of 16 px cells."""
    spec = SceneSpec(name="push", width=W, height=H, frames=10, background="procedural",
                     shadow=True, push=True, seed=3)
    return write_scene(spec, tmp_path_factory.mktemp("push") / "scene")


def click(scene) -> list[ClickPrompt]:
    return [ClickPrompt(scene.click_frame, (tuple(float(v) for v in scene.click),), (1,))]


def test_only_localised_objects_are_segmented_each_from_its_boxes(tiny, push_scene, tmp_path,
                                                                  monkeypatch):
    reflection = AffectedObject(noun="reflection", category="visual_artifact",
                                grid_localizations=[GridLocalization(frame=1, grid_regions=cells(
                                    (7, 0), (7, 1))), GridLocalization(frame=6, grid_regions=cells(
                                        (7, 2)))])
    pushed = AffectedObject(noun="box", category="physical", will_move=True,
                            trajectory_path=[TrajectoryPoint(frame=3, grid_row=2, grid_col=9)])
    late = AffectedObject(noun="ripple", category="visual_artifact",
                          grid_localizations=[GridLocalization(frame=40,
                                                               grid_regions=cells((1, 1)))])
    shadow = AffectedObject(noun="shadow", category="visual_artifact", grid_localizations=[
        GridLocalization(frame=2, grid_regions=cells((4, 4)))])
    analysis = Analysis(affected_objects=[reflection, pushed, late, shadow])
    engine = create_engine("masking", "sam2", **tiny)
    asked = []
    segment_objects = engine.segment_objects
    monkeypatch.setattr(engine, "segment_objects", lambda plate, prompts, out_dir, **kw: (
        asked.append(prompts), segment_objects(plate, prompts, out_dir, **kw))[1])
    out = tmp_path / "objects"
    out.mkdir()
    write_object_mask(out / "object_3.mp4", [np.zeros((H, W), bool)])  # from an earlier run

    masks = segment_affected_objects(engine, open_plate(push_scene.video), analysis, out)

    assert list(masks) == [0, 3]  # no localisation, or only past the shot's end: skipped
    assert asked == [{0: localization_prompts(reflection, W, H, 10),
                      3: localization_prompts(shadow, W, H, 10)}]
    assert [p.frame for p in asked[0][0]] == [1, 6]
    assert sorted(p.name for p in out.iterdir()) == ["object_1.mp4", "object_2.mp4"]
    for path in masks.values():
        decoded = read_quad(path)
        assert decoded.shape == (10, H, W) and set(np.unique(decoded).tolist()) <= {0, 255}


def test_objects_localised_on_frame_0_and_later_segment_together_on_cpu(tiny, push_scene,
                                                                        tmp_path):
    early = AffectedObject(noun="shadow", category="visual_artifact",
                           grid_localizations=seen_at((4, 4)))
    later = AffectedObject(noun="reflection", category="visual_artifact", first_appears_frame=3,
                           grid_localizations=[GridLocalization(frame=3,
                                                                grid_regions=cells((7, 0)))])
    engine = create_engine("masking", "sam2", **tiny)
    masks = segment_affected_objects(engine, open_plate(push_scene.video),
                                     Analysis(affected_objects=[early, later]), tmp_path)
    assert list(masks) == [0, 1]
    assert all(Path(path).is_file() for path in masks.values())


def test_engines_without_object_segmentation_and_unlocalised_analyses_segment_nothing(
        tiny, push_scene, tmp_path):
    localised = Analysis(affected_objects=[AffectedObject(
        noun="shadow", category="visual_artifact", grid_localizations=seen_at((4, 4)))])
    classical = create_engine("masking", "classical")
    assert segment_affected_objects(classical, open_plate(push_scene.video), localised,
                                    tmp_path / "a") == {}
    sam2 = create_engine("masking", "sam2", **tiny)
    unlocalised = Analysis(affected_objects=[AffectedObject(noun="box", category="physical")])
    assert segment_affected_objects(sam2, open_plate(push_scene.video), unlocalised,
                                    tmp_path / "b") == {}
    assert sam2._predictor is None  # the model was not even loaded
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# --- wired in: the masking and analysis stages ---------------------------------------------

def test_click_to_quadmask_with_sam2_and_the_heuristic_analyzer(tiny, push_scene, tmp_path):
    state = quadmask_from_clicks(push_scene.video, click(push_scene), tmp_path, masker="sam2",
                                 masker_settings=tiny, analyzer="heuristic")

    quad = read_quad(state.quadmask)
    assert quad.shape == (10, H, W) and set(np.unique(quad).tolist()) <= QUAD
    assert not (quad[0] == quadmask.AFFECTED).any()
    np.testing.assert_array_equal(quadmask.primary(quad), read_quad(state.black_mask) == 0)
    analysis = read_analysis(state.analysis)
    localised = [n for n, obj in enumerate(analysis.affected_objects)
                 if localization_prompts(obj, W, H, 10)]
    written = sorted((state.quadmask.parent / AFFECTED_MASKS).glob("object_*.mp4"))
    assert [p.name for p in written] == [f"object_{n}.mp4" for n in range(1, len(localised) + 1)]
    assert state.report("masking").engine == "sam2"
    assert state.report("analysis").engine == "heuristic"


@pytest.fixture
def gemini(monkeypatch):
    """The fake Gemini server answering with a pushed box (trajectory only) and a reflection
    localised on frame 1."""
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    for name in ("GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_GENAI_USE_VERTEXAI"):
        monkeypatch.delenv(name, raising=False)
    answer = {
        "edit_instruction": "remove the ball", "integral_belongings": [],
        "affected_objects": [
            {"noun": "box", "category": "physical", "why": "pushed", "will_move": True,
             "first_appears_frame": 3, "movement_description": "slides right",
             "currently_moving": None, "should_have_stayed": None,
             "original_position_grid": {"row": 2, "col": 9}, "grid_localizations": [],
             "object_size_grids": {"rows": 1, "cols": 1},
             "trajectory_path": [{"frame": 3, "grid_row": 2, "grid_col": 9},
                                 {"frame": 9, "grid_row": 2, "grid_col": 13}]},
            {"noun": "reflection", "category": "visual_artifact", "why": "on the floor",
             "will_move": False, "first_appears_frame": 1, "movement_description": "",
             "currently_moving": None, "should_have_stayed": None,
             "original_position_grid": None, "object_size_grids": None, "trajectory_path": [],
             "grid_localizations": [{"frame": 1, "grid_regions": [{"row": 7, "col": 0},
                                                                  {"row": 7, "col": 1}]}]}],
        "scene_description": "A wall behind a floor.", "confidence": 0.8}
    with FakeGemini(answer, api_key=KEY) as server:
        yield {"base_url": server.base_url, "retry_base_delay": 0.01, "retry_max_delay": 0.05,
               "poll_interval": 0.01, "timeout": 10.0}


def test_the_quadmask_draws_the_segmented_object_not_its_cells(tiny, push_scene, gemini,
                                                               tmp_path):
    state = quadmask_from_clicks(push_scene.video, click(push_scene), tmp_path, masker="sam2",
                                 masker_settings=tiny, analyzer="gemini",
                                 analyzer_settings=gemini)

    # the reflection only; the box has no localisation
    assert state.report("analysis").notes == ("sam2 segmented 1 affected object(s): reflection",)
    quad = read_quad(state.quadmask)
    reflection = read_quad(state.quadmask.parent / AFFECTED_MASKS / "object_1.mp4") == 0
    pushed, localised = read_analysis(state.analysis).affected_objects
    differs = []
    for f in range(1, 10):
        found = set(grid_cells(quadmask.affected(quad[f])))
        assert found == set(grid_cells(reflection[f] | object_region(pushed, f, W, H)))
        grid_rule = object_region(localised, f, W, H) | object_region(pushed, f, W, H)
        differs.append(found != set(grid_cells(grid_rule)))
    assert any(differs)  # (random weights) the segmentation is not the localised cells


def test_the_analysis_stage_segments_with_a_sam2_masker_and_records_it(tiny, push_scene, gemini,
                                                                       tmp_path):
    plan = stages.ShotPlan(name="sh010", event=1, media=push_scene.video, media_problem=None,
                           first_frame=1001, frame_count=10, rate=Fraction(12))
    work = tmp_path / "out" / ".void-work" / "sh010"
    work.mkdir(parents=True)
    black = read_quad(push_scene.mask)
    write_mask_video(work / "black_mask.mp4",
                     [np.where(quadmask.primary(q), 0, 255).astype(np.uint8) for q in black], 12)
    state = stages.ShotState(plan=plan, plate=push_scene.video,
                             plate_digest=file_digest(push_scene.video),
                             black_mask=work / "black_mask.mp4")
    classical = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path / "out",
                                   analyzer="gemini", analyzer_settings=gemini)
    with_sam2 = stages.RunSettings(run_id="r", cutlist="reel", out_root=tmp_path / "out",
                                   analyzer="gemini", analyzer_settings=gemini, masker="sam2",
                                   masker_settings=tiny)

    plain = stages.analysis(classical, state).report("analysis")
    assert plain.status == "succeeded" and plain.notes == ()
    assert not (work / AFFECTED_MASKS).exists()
    grid_quad = read_quad(work / "quadmask_0.mp4")

    segmented = stages.analysis(with_sam2, state).report("analysis")
    assert segmented.status == "succeeded"  # another segmenter: another identity
    assert segmented.notes == ("sam2 segmented 1 affected object(s): reflection",)
    assert (work / AFFECTED_MASKS / "object_1.mp4").is_file()
    assert not np.array_equal(read_quad(work / "quadmask_0.mp4"), grid_quad)

    assert stages.analysis(with_sam2, state).report("analysis").status == "skipped"
    engine = create_engine("masking", "sam2", **tiny)  # a resident instance is used as it is
    resized = create_engine("masking", "sam2", **{**tiny, "max_resident_frames": 4})
    assert stages.analysis(with_sam2, state, segmenter=engine).report(
        "analysis").status == "skipped"
    assert stages.analysis(with_sam2, state, segmenter=resized).report(
        "analysis").status == "succeeded"
