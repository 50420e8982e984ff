"""The shared mask and geometry helpers, and the one progress reporter."""

import numpy as np

from void_core import imaging
from void_core.progress import Progress


def _square(shape=(20, 30), box=(5, 4, 12, 10)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = True
    return mask


def test_bbox_size_and_box_mask_round_trip():
    mask = _square()
    assert imaging.bbox(mask) == (5, 4, 12, 10)
    assert imaging.mask_size(mask) == 7.0
    assert (imaging.box_mask(mask.shape, (5, 4, 12, 10), margin=0) == mask).all()
    assert imaging.box_mask(mask.shape, (5, 4, 12, 10), margin=1).sum() == 9 * 8


def test_distance_grow_and_within():
    mask = np.zeros((15, 15), bool)
    mask[7, 7] = True
    assert imaging.within(mask, 2).sum() == 13  # Euclidean distance <= 2
    assert imaging.grow(mask, 2).sum() == 17  # OpenCV's 5x5 elliptic kernel, below 4 px
    assert (imaging.grow(mask, 5) == imaging.within(mask, 5)).all()
    assert not imaging.within(np.zeros((4, 4), bool), 100).any()
    assert np.isinf(imaging.distance_from(np.zeros((4, 4), bool))).all()


def test_components_touching_keeps_whole_components_that_meet_the_zone():
    mask = _square() | _square(box=(20, 12, 22, 14))
    zone = np.zeros(mask.shape, bool)
    zone[4, 5] = True
    assert (imaging.components_touching(mask, zone) == _square()).all()
    assert not imaging.components_touching(mask, zone, min_area=100).any()
    assert (imaging.drop_small(mask, 5) == _square()).all()


def test_fill_holes_and_convex_hull():
    ring = _square(box=(2, 2, 9, 9)) & ~_square(box=(4, 4, 7, 7))
    assert (imaging.fill_holes(ring) == _square(box=(2, 2, 9, 9))).all()
    corners = np.zeros((10, 10), bool)
    corners[[1, 1, 8, 8], [1, 8, 1, 8]] = True
    assert (imaging.convex_hull(corners) == _square((10, 10), (1, 1, 9, 9))).all()


def test_crops_clip_and_pad_at_the_image_edge():
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert imaging.clip_roi((-2, -1, 2, 9), image.shape) == (0, 0, 2, 3)
    assert imaging.clip_roi((5, 0, 9, 2), image.shape) is None
    out, valid = imaging.padded_crop(image, (-1, -1, 2, 1))
    assert out.tolist() == [[0, 0, 0], [0, 0, 1]]
    assert valid.tolist() == [[False, False, False], [False, True, True]]
    target = np.zeros((3, 4), np.uint8)
    imaging.paste(target, imaging.crop(image, (1, 1, 3, 3)), (1, 1, 3, 3))
    assert target[1:3, 1:3].tolist() == [[5, 6], [9, 10]] and target.sum() == 30


def test_integer_shift_is_an_exact_crop_and_matches_the_warp():
    mask = _square()
    homography = imaging.translate(np.eye(3), 3, -2)
    assert imaging.is_shift(homography) and not imaging.is_shift(imaging.translation(0.5, 0))
    moved, valid = imaging.shifted(mask.astype(np.uint8), homography, (30, 20))
    assert imaging.bbox(moved > 0) == (8, 2, 15, 8)
    assert not valid[-2:].any() and not valid[:, :3].any() and valid.sum() == 18 * 27
    assert (imaging.warp_mask(mask, homography) == (moved > 0)).all()


def test_label_near_finds_the_closest_component_within_reach():
    labels = np.zeros((10, 10), np.int32)
    labels[2, 2] = 1
    labels[8, 8] = 2
    assert imaging.label_near(labels, 2, 2, 0) == 1
    assert imaging.label_near(labels, 6, 6, 3) == 2
    assert imaging.label_near(labels, 5, 5, 1) == 0


def test_progress_reports_whole_units_and_grows_its_total():
    calls = []
    progress = Progress(lambda done, total: calls.append((done, total)), 2)
    for _ in range(3):
        progress.advance(0.5)
    assert calls == [(0, 2), (1, 2), (1, 2)]
    progress.advance(2)  # more work than announced: the total follows
    assert calls[-1] == (3, 3)
    progress.resize(10)
    progress.advance()
    assert calls[-1] == (4, 10)
    Progress(None, 0).advance()  # no callback: nothing to report, nothing fails
