"""The flow refiner: it calms shimmering (unstable) fill pixels and leaves stable ones alone."""

import numpy as np
import pytest

from void_core.composite import Box
from void_core.inpaint.base import Fill, Frame
from void_core.engines import create_engine
from void_core.errors import EngineNotFoundError


def _fills(frames=8, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:48, 0:64]
    base = np.stack([(xx % 16) / 16, (yy % 12) / 12, np.full(xx.shape, 0.5)], -1).astype(np.float32)
    unstable = np.zeros((48, 64), bool)
    unstable[16:32, 20:44] = True
    box = Box(0, 48, 0, 64)
    fills = []
    for i in range(frames):
        display = base.copy()
        display[unstable] += rng.normal(0, 0.02, (unstable.sum(), 3)).astype(np.float32)
        frame = Frame(i, np.zeros((48, 64, 3), np.uint8), np.full((48, 64), 255, np.uint8))
        fills.append(Fill(frame, box, display, unstable=unstable))
    return base, unstable, fills


def test_flicker_in_unstable_pixels_is_reduced():
    base, unstable, fills = _fills()
    refiner = create_engine("refine", "flow")
    refined = list(refiner.refine(iter(fills), lambda f: np.ones((48, 64), bool)))
    before = np.std([f.display[unstable] - base[unstable] for f in fills[1:]], axis=0).mean()
    after = np.std([f.display[unstable] - base[unstable] for f in refined[1:]], axis=0).mean()
    assert after < 0.8 * before


def test_stable_pixels_are_untouched():
    _, unstable, fills = _fills()
    refined = list(create_engine("refine", "flow").refine(iter(fills), lambda f: np.ones((48, 64), bool)))
    for original, out in zip(fills, refined, strict=True):
        np.testing.assert_array_equal(out.display[~unstable], original.display[~unstable])


def test_real_changes_are_kept():
    _, unstable, fills = _fills()
    jump = Fill(fills[5].frame, fills[5].box, fills[5].display + 0.3, unstable)
    refined = list(create_engine("refine", "flow").refine(iter(fills[:5] + [jump]), lambda f: None))
    np.testing.assert_allclose(refined[-1].display[unstable], jump.display[unstable])


def test_none_and_unknown_refiners():
    assert create_engine("refine", "none") is None
    with pytest.raises(EngineNotFoundError, match="unknown refinement engine 'magic'"):
        create_engine("refine", "magic")
