"""Pass 3, continued: objects the object sets in motion (contact, then tracking)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from void_core.analysis.heuristic.background import Background
from void_core.analysis.heuristic.detect import (Comparison, Zones, channel_max, distance_outside,
                                                 misregistration_range)
from void_core.analysis.heuristic.survey import Reach
from void_core.analysis.masks import RegionTrack
from void_core.imaging import components_touching, disc, drop_small, grow


@dataclass
class Step:
    """One frame's evidence, waiting in the contact window."""

    index: int
    zones: Zones
    changes: np.ndarray  # changed, not the object's shadow, cleaned
    solid: np.ndarray  # changes that brighten some channel
    seeds: np.ndarray  # non-shadow changes touching the object
    moving: np.ndarray  # changed since the previous frame


@dataclass
class PushTracker:
    """Finds the contact (seeds on a frame and one of the next two) and follows what moves."""

    reach: Reach
    background: Background
    region: RegionTrack
    contact: int | None = None
    separated: bool = False  # some of it ended up away from the object (not just its fringe)
    centres: dict[int, tuple[float, float]] = field(default_factory=dict)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    _window: deque = field(default_factory=lambda: deque(maxlen=3))
    _previous: tuple[int, np.ndarray] | None = None

    def push(self, step: Step) -> None:
        self._window.append(step)
        if len(self._window) == 3:
            self._decide(self._window[0], list(self._window)[1:])

    def finish(self) -> None:
        steps = list(self._window)
        for position in range(1 if len(steps) == 3 else 0, len(steps)):
            self._decide(steps[position], steps[position + 1:])

    def _decide(self, step: Step, later: list[Step]) -> None:
        if self.contact is None:
            if not (step.seeds.any() and self._confirmed(step, later)):
                return
            self.contact = step.index
            found = step.seeds
        else:
            follow = grow(self._carried(step.index), self.reach.track)
            found = step.seeds | components_touching(step.changes, follow, self.reach.min_area)
        if not found.any():
            return  # e.g. hidden behind the object for a frame: follow on from the last sighting
        self._previous = (step.index, found)
        bridged = found | (step.zones.band & grow(found, step.zones.guard + 1))
        self.region.set(step.index, grow(bridged, self.reach.grow))
        self._locate(step, found)
        self._check_separation(step, found)

    def _confirmed(self, step: Step, later: list[Step]) -> bool:
        """The contact goes on: one of the next two frames has seeds, or changes where the
        seeds could have moved to."""
        if not later:
            return False
        reach = grow(step.seeds, self.reach.track)
        return any(s.seeds.any() or (s.solid & reach).sum() >= self.reach.min_area // 2
                   for s in later)

    def _check_separation(self, step: Step, found: np.ndarray) -> None:
        # A reflection or a badly masked edge travels with the object; a pushed object, or the
        # place it rested, is left behind by it.
        if not self.separated:
            gap = step.zones.guard + self.reach.contact + 0.5 * self.reach.radius
            away = found & ~step.zones.within(gap)
            self.separated = int(away.sum()) >= self.reach.min_area

    def _carried(self, index: int) -> np.ndarray:
        """The previous frame's region, moved with the camera into frame `index`."""
        previous_index, previous = self._previous
        between = (np.linalg.inv(self.background.to_canvas(index))
                   @ self.background.to_canvas(previous_index))
        if np.allclose(between, np.eye(3)):
            return previous
        size = (previous.shape[1], previous.shape[0])
        return cv2.warpPerspective(previous.astype(np.uint8), between, size,
                                   flags=cv2.INTER_NEAREST).astype(bool)

    def _locate(self, step: Step, found: np.ndarray) -> None:
        moving = found & step.moving
        if moving.sum() < self.reach.min_area:
            return
        ys, xs = np.nonzero(moving)
        self.centres[step.index] = (float(xs.mean()), float(ys.mean()))
        self.sizes.append((int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1))


def push_step(index: int, cmp: Comparison, zones: Zones, shadow: np.ndarray,
          previous_rgb: np.ndarray | None, background: Background, reach: Reach) -> Step:
    """One frame's push evidence: changes off the object and its shadow, those touching it
    (seeds), and what changed since the previous frame."""
    outside = ~zones.within(zones.guard)
    changed = cv2.morphologyEx((cmp.changed & outside).astype(np.uint8), cv2.MORPH_OPEN,
                               disc(1)).astype(bool)
    changes = drop_small(changed & ~shadow, reach.min_area)
    # A shadow (even one misread as a colour change) only darkens; a moved object uncovers or
    # covers something brighter in some channel. Such pixels count even inside the shadow's
    # region: the object may shade what it pushes.
    solid = drop_small(changed & cmp.brighter, reach.min_area // 2)
    seeds = components_touching(solid, zones.within(zones.guard + reach.contact), 1)
    if seeds.any():
        seeds |= components_touching(changes, seeds, 1)
    moving = np.zeros_like(changes)
    if previous_rgb is not None:
        between = (np.linalg.inv(background.to_canvas(index))
                   @ background.to_canvas(index - 1))
        size = (previous_rgb.shape[1], previous_rgb.shape[0])
        before = cv2.warpPerspective(previous_rgb, between, size, flags=cv2.INTER_LINEAR)
        low, high = misregistration_range(before, background.moving_camera)
        excess = channel_max(distance_outside(cmp.rgb, low, high))
        moving = (excess > 1.25 * cmp.threshold) & outside
    return Step(index, zones, changes, solid, seeds, moving)
