"""The analysis stage: VOID's analysis schema, the heuristic engine on synthetic scenes with
ground truth, and the quadmask written from an analysis (gridify, combine, frame-0 rule)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from void_core import quadmask
from void_core.analysis import (AffectedObject, Analysis, HeuristicAnalyzer, RegionTrack,
                                grey_frame, read_analysis, write_quadmask)
from void_core.analysis.masks import cell_edges, grid_cells
from void_core.errors import InputError, MaskError
from void_core.media.encode import write_mask_video
from void_core.media.masks import QuadmaskReader
from void_core.media.plate import open_plate
from void_core.synth import standard_scenes, write_scene

W, H, FRAMES = 320, 180, 14
QUAD = {0, 63, 127, 255}

# VOID's documented output shape (stage 2, `parse_vlm_response`), every optional field used.
VOID_EXAMPLE = {
    "edit_instruction": "remove the man on the bike",
    "integral_belongings": [{"noun": "bike", "why": "ridden by the man, leaves with him"}],
    "affected_objects": [
        {"noun": "Shadow", "category": "visual_artifact", "why": "cast by the man",
         "will_move": False, "first_appears_frame": 0, "movement_description": "",
         "grid_localizations": [{"frame": 0, "grid_regions": [{"row": 5, "col": 3},
                                                              {"row": 5, "col": 4}]},
                                {"frame": 11, "grid_regions": [{"row": 6, "col": 4}]}]},
        {"noun": "traffic cone", "category": "physical", "why": "knocked over by the bike",
         "will_move": True, "first_appears_frame": 9, "movement_description": "slides right",
         "currently_moving": True, "should_have_stayed": True,
         "original_position_grid": {"row": 4, "col": 7},
         "object_size_grids": {"rows": 2, "cols": 2},
         "trajectory_path": [{"frame": 9, "grid_row": 4, "grid_col": 7},
                             {"frame": 14, "grid_row": 4, "grid_col": 9},
                             {"frame": 20, "grid_row": 5, "grid_col": 11}]},
    ],
    "scene_description": "An empty street at dusk.",
    "confidence": 0.85,
}


@dataclass(frozen=True)
class Scene:
    video: Path
    black: Path
    truth: np.ndarray  # (T, H, W) ground-truth quadmask
    contact: int | None

    @property
    def affected(self) -> np.ndarray:
        return quadmask.affected(self.truth)


def _write(spec, folder: Path) -> Scene:
    info = write_scene(spec, folder)
    truth = np.stack(list(QuadmaskReader(info.mask).frames()))
    black = [np.where(quadmask.primary(q), 0, 255).astype(np.uint8) for q in truth]
    write_mask_video(folder / "black.mp4", black, spec.fps)
    return Scene(info.video, folder / "black.mp4", truth, info.contact_frame)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> dict[str, Scene]:
    root = tmp_path_factory.mktemp("analysis_scenes")
    wanted = ("static_shadow", "pan_shadow", "push", "pan_push", "small_object")
    return {spec.name: _write(spec, root / spec.name)
            for spec in standard_scenes(W, H, FRAMES) if spec.name in wanted}


@pytest.fixture(scope="module")
def analyses(scenes) -> dict[str, Analysis]:
    analyzer = HeuristicAnalyzer()
    return {name: analyzer.analyze(open_plate(scene.video), scene.black, "remove the object")
            for name, scene in scenes.items()}


def _found(analysis: Analysis, frames: int, *, gridify: bool = False) -> np.ndarray:
    return np.stack([grey_frame(analysis, i, W, H, gridify=gridify) == quadmask.AFFECTED
                     for i in range(frames)])


def _nouns(analysis: Analysis) -> list[str]:
    return [obj.noun for obj in analysis.affected_objects]


# --- the heuristic engine ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["static_shadow", "pan_shadow"])
def test_cast_shadow_is_found_near_the_object_and_nothing_else(scenes, analyses, name):
    scene, analysis = scenes[name], analyses[name]
    assert _nouns(analysis) == ["shadow"]
    shadow = analysis.affected_objects[0]
    assert shadow.category == "visual_artifact" and not shadow.will_move
    found = _found(analysis, FRAMES)
    truth = scene.truth == quadmask.AFFECTED
    assert (found & truth).sum() / truth.sum() >= 0.8
    false_positive = found & (scene.truth == quadmask.KEEP)
    assert false_positive.mean() < 0.01
    assert shadow.first_appears_frame <= int(np.flatnonzero(truth.any(axis=(1, 2)))[0]) + 2
    assert shadow.grid_localizations and all(loc.grid_regions
                                             for loc in shadow.grid_localizations)


def test_pushed_object_starts_at_the_contact_and_not_before(scenes, analyses):
    scene, analysis = scenes["push"], analyses["push"]
    assert _nouns(analysis) == ["pushed object"]
    pushed = analysis.affected_objects[0]
    assert pushed.category == "physical" and pushed.will_move
    assert abs(pushed.first_appears_frame - scene.contact) <= 2
    found = _found(analysis, FRAMES)
    assert not found[:pushed.first_appears_frame].any()
    after = scene.affected[scene.contact + 1:]
    assert (found[scene.contact + 1:] & after).sum() / after.sum() >= 0.8
    assert 3 <= len(pushed.trajectory_path) <= 5
    frames = [point.frame for point in pushed.trajectory_path]
    assert frames == sorted(frames) and frames[0] >= pushed.first_appears_frame
    rows, cols = quadmask.grid_shape(W, H)
    assert all(p.grid_row < rows and p.grid_col < cols for p in pushed.trajectory_path)
    assert pushed.object_size_grids is not None and pushed.object_size_grids.rows >= 2


def test_push_under_a_panning_camera_finds_both_effects(scenes, analyses):
    scene, analysis = scenes["pan_push"], analyses["pan_push"]
    assert _nouns(analysis) == ["shadow", "pushed object"]
    assert abs(analysis.affected_objects[1].first_appears_frame - scene.contact) <= 2
    found = _found(analysis, FRAMES, gridify=True)
    assert (found & scene.affected).sum() / scene.affected.sum() >= 0.85
    assert (found & (scene.truth == quadmask.KEEP)).mean() < 0.08


def test_object_without_shadow_or_contact_has_no_effects(analyses):
    analysis = analyses["small_object"]
    assert analysis.affected_objects == []
    assert analysis.integral_belongings == []
    assert analysis.edit_instruction == "remove the object"
    assert 0.5 < analysis.confidence <= 1.0


def test_engine_identity_and_progress(scenes):
    analyzer = HeuristicAnalyzer(reference_frames=5)
    assert analyzer.name == "heuristic" and analyzer.version
    assert analyzer.settings()["reference_frames"] == 5
    json.dumps(analyzer.settings())
    calls = []
    analyzer.analyze(open_plate(scenes["small_object"].video), scenes["small_object"].black,
                     on_progress=lambda done, total: calls.append((done, total)))
    assert [done for done, _ in calls] == list(range(1, len(calls) + 1))
    assert calls[-1][0] == calls[-1][1] == 3 * FRAMES


def test_mask_that_does_not_fit_the_plate_is_refused(scenes, tmp_path):
    scene = scenes["small_object"]
    short = tmp_path / "short.mp4"
    write_mask_video(short, list(QuadmaskReader(scene.black).frames())[:5], 12)
    with pytest.raises(MaskError, match="ends after 5 frames"):
        HeuristicAnalyzer().analyze(open_plate(scene.video), short)
    small = tmp_path / "small.mp4"
    write_mask_video(small, [np.full((64, 64), 255, np.uint8)] * FRAMES, 12)
    with pytest.raises(MaskError, match="64x64"):
        HeuristicAnalyzer().analyze(open_plate(scene.video), small)


# --- the written quadmask ---------------------------------------------------------------------

def _cells_uniform(quad: np.ndarray) -> bool:
    """Every grid cell is all affected (63/127) or all not (0/255)."""
    ys, xs = cell_edges(quad.shape[1], quad.shape[0])
    for r in range(len(ys) - 1):
        for c in range(len(xs) - 1):
            cell = quadmask.affected(quad[ys[r]:ys[r + 1], xs[c]:xs[c + 1]])
            if cell.any() and not cell.all():
                return False
    return True


def test_written_quadmask_is_gridified_combined_and_clear_on_frame_0(scenes, analyses, tmp_path):
    scene, analysis = scenes["static_shadow"], analyses["static_shadow"]
    out = write_quadmask(analysis, scene.black, tmp_path / "quadmask_0.mp4")
    quad = np.stack(list(QuadmaskReader(out).frames()))
    assert quad.shape == scene.truth.shape
    assert set(np.unique(quad).tolist()) <= QUAD
    assert not (quad[0] == quadmask.AFFECTED).any()
    assert np.array_equal(quadmask.primary(quad), quadmask.primary(scene.truth))
    assert (quad == quadmask.OVERLAP).any()  # gridified cells reach under the object
    assert all(_cells_uniform(frame) for frame in quad[1:])
    covered = (quad != quadmask.KEEP) & scene.affected
    assert covered.sum() / scene.affected.sum() >= 0.85
    assert read_analysis(tmp_path / "vlm_analysis.json").model_dump() == analysis.model_dump()

    (tmp_path / "pixels").mkdir()
    pixels = write_quadmask(analysis, scene.black, tmp_path / "pixels" / "quadmask_0.mp4",
                            gridify=False)
    fine = np.stack(list(QuadmaskReader(pixels).frames()))
    assert (fine == quadmask.AFFECTED).sum() < (quad == quadmask.AFFECTED).sum()
    assert not all(_cells_uniform(frame) for frame in fine[1:])


def test_frame_0_rule_keeps_overlap_and_clears_affected(tmp_path):
    black = np.full((2, 64, 96), 255, np.uint8)
    black[:, 10:30, 10:30] = 0
    write_mask_video(tmp_path / "black.mp4", list(black), 12)
    region = RegionTrack(96, 64, 2)
    for index in range(2):
        touch = np.zeros((64, 96), bool)
        touch[20:40, 20:60] = True
        region.set(index, touch)
    shadow = AffectedObject(noun="shadow", category="visual_artifact").with_region(region)
    analysis = Analysis(affected_objects=[shadow])
    out = write_quadmask(analysis, tmp_path / "black.mp4", tmp_path / "quadmask_0.mp4",
                         gridify=False)
    first, second = QuadmaskReader(out).frames()
    assert set(np.unique(first).tolist()) == {0, 63, 255}
    assert set(np.unique(second).tolist()) == {0, 63, 127, 255}
    assert (first[20:30, 20:30] == 63).all() and (first[30:40, 40:60] == 255).all()
    assert (second[30:40, 40:60] == 127).all()


def test_regions_for_another_length_of_shot_are_refused(tmp_path):
    write_mask_video(tmp_path / "black.mp4", [np.full((64, 96), 255, np.uint8)] * 3, 12)
    shadow = AffectedObject(noun="shadow", category="visual_artifact")
    analysis = Analysis(affected_objects=[shadow.with_region(RegionTrack(96, 64, 5))])
    with pytest.raises(MaskError, match="3 frames, the analysis covers 5"):
        write_quadmask(analysis, tmp_path / "black.mp4", tmp_path / "quadmask_0.mp4")
    assert not (tmp_path / "quadmask_0.mp4").exists()


def test_analysis_without_regions_is_drawn_from_its_grid_fields(tmp_path):
    width, height, frames = 224, 128, 24  # 8 x 14 grid of 16 x 16 cells
    write_mask_video(tmp_path / "black.mp4", [np.full((height, width), 255, np.uint8)] * frames,
                     12)
    analysis = Analysis.model_validate(VOID_EXAMPLE)
    write_quadmask(analysis, tmp_path / "black.mp4", tmp_path / "quadmask_0.mp4")
    quad = list(QuadmaskReader(tmp_path / "quadmask_0.mp4").frames())
    assert not (quad[0] == 127).any()  # frame-0 rule
    shadow_cells = set(grid_cells(quad[3] == 127))
    assert shadow_cells == {(5, 3), (5, 4)}
    # Frame 8: the shadow's nearest localisation is frame 11's; the cone starts on frame 9.
    assert set(grid_cells(quad[8] == 127)) == {(6, 4)}
    # Later the cone covers its starting cells and where it has got to.
    late = set(grid_cells(quad[20] == 127))
    assert {(4, 7), (5, 11)} <= late and (5, 3) not in late


# --- the schema -------------------------------------------------------------------------------

def test_schema_reads_voids_example_shape():
    analysis = Analysis.model_validate(VOID_EXAMPLE)
    shadow, cone = analysis.affected_objects
    assert shadow.noun == "shadow"  # lower-cased, as VOID does
    assert shadow.grid_localizations[1].grid_regions[0].col == 4
    assert cone.trajectory_path[-1].grid_col == 11 and cone.object_size_grids.rows == 2
    assert cone.original_position_grid.row == 4 and cone.should_have_stayed
    assert analysis.integral_belongings[0].noun == "bike" and shadow.region is None


def test_schema_round_trips_without_the_measured_regions():
    analysis = Analysis.model_validate(VOID_EXAMPLE)
    region = RegionTrack(8, 8, 1)
    region.set(0, np.eye(8, dtype=bool))
    analysis.affected_objects[0].with_region(region)
    text = analysis.model_dump_json()
    assert "region" not in json.loads(text)["affected_objects"][0]
    again = Analysis.model_validate_json(text)
    assert again.model_dump() == analysis.model_dump()
    assert again.affected_objects[0].region is None


@pytest.mark.parametrize("change", [
    lambda d: d["affected_objects"][0].update(category="smell"),
    lambda d: d["affected_objects"][0].pop("noun"),
    lambda d: d["affected_objects"][1].update(first_appears_frame=-1),
    lambda d: d["affected_objects"][1]["trajectory_path"][0].pop("grid_row"),
    lambda d: d["affected_objects"][1].update(object_size_grids={"rows": 0, "cols": 1}),
    lambda d: d.update(confidence=1.5),
    lambda d: d.update(affected_objects="shadow"),
    lambda d: d.update(affected_objects=[d["affected_objects"][0]] * 6),
    lambda d: d.update(integral_belongings=[{"noun": "hat"}] * 4),
], ids=["category", "noun", "frame", "trajectory", "size", "confidence", "type", "too-many",
        "belongings"])
def test_schema_rejects_malformed_analyses(change):
    data = json.loads(json.dumps(VOID_EXAMPLE))
    change(data)
    with pytest.raises(ValidationError):
        Analysis.model_validate(data)


def test_schema_truncates_long_text_and_ignores_unknown_keys():
    data = json.loads(json.dumps(VOID_EXAMPLE))
    data["affected_objects"][0]["why"] = "x" * 500
    data["affected_objects"][0]["needs_trajectory"] = True
    analysis = Analysis.model_validate(data)
    assert len(analysis.affected_objects[0].why) == 200


def test_read_analysis_explains_a_bad_file(tmp_path):
    path = tmp_path / "vlm_analysis.json"
    path.write_text(json.dumps({"affected_objects": [{"noun": "x", "category": "smell"}]}))
    with pytest.raises(InputError, match="affected_objects.0.category"):
        read_analysis(path)
    with pytest.raises(InputError, match="cannot read"):
        read_analysis(tmp_path / "missing.json")


def test_region_track_stores_compactly_and_scales():
    region = RegionTrack(40, 20, 3)
    mask = np.zeros((20, 40), bool)
    mask[5:9, 10:30] = True
    region.set(1, mask)
    assert region.frames() == [1] and region.area(1) == 80
    assert np.array_equal(region.get(1), mask) and not region.get(0).any()
    big = region.at_size(1, 80, 40)
    assert big.shape == (40, 80) and big[10:18, 20:60].all() and big.sum() == 320
    region.set(1, np.zeros((20, 40), bool))
    assert region.frames() == []
