"""Following the object from frame to frame (steps 2-5 of the package docstring)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from void_core.imaging import (bbox, clip_roi, components_touching, crop, disc, expand, is_shift,
                               mask_size, padded_crop, paste, shift_points, shifted, translate,
                               warp_mask)
from void_core.masking.classical.evidence import (CHANGE_HIGH, COLOUR_MARGIN, CORE_FRACTION,
                                                  MIN_MOVING_REFERENCES, MIN_SEED_PIXELS,
                                                  ROI_FRACTION, Changes,
                                                  ColourModel, colour_distance, colour_split,
                                                  discs_inside, seed_mask, shadow_like,
                                                  split_at_negatives, track_mask)
from void_core.masking.classical.frames import TRACK_SHARE, Anchor, FrameStore, Geometry
from void_core.masking.classical.static import grabcut_seed, refine_by_colour
from void_core.progress import Progress

# Following the object from frame to frame.
MIN_SEARCH = 8  # px: the smallest window searched for the object's next position
SEARCH_FRACTION = 0.5  # of its size: how far it may move beyond the last step's motion
FIRST_SEARCH_FRACTION = 1.0  # the same on the first step, when its motion is unknown
MATCH_SIZE = 48  # px: objects are matched at a scale where they are about this big, then refined
MIN_VISIBLE = 0.25  # share of the object's picture that must stay in frame to be matched
EXIT_VISIBLE = 0.5  # less of it left in frame after the last step's motion: not matched
LOST_SHARE = 0.3  # found less than this share of the prediction: lost on this frame
CONTINUATION_SHARE = 0.1  # found share of the prediction needed to extend it where unseen


class ObjectTracker:
    """Seeds and tracks the object through the store (package docstring, steps 2-5)."""

    def __init__(self, store: FrameStore, geometry: Geometry, references: int, window: int,
                 progress: Progress):
        self.store = store
        self.geometry = geometry
        self.references = references
        self.window = window
        self.progress = progress
        self.avoid = ColourModel()  # colours the user marked as not the object

    # seeds

    def seed(self, anchor: Anchor) -> tuple[np.ndarray, bool]:
        """The object on its prompted frame, and whether it moves against the background."""
        refs = self._reference_frames(anchor.frame)
        clear = [r for r in refs if self._differs_at(anchor.frame, r, anchor.seed_points())]
        if len(clear) >= MIN_MOVING_REFERENCES:
            mask = self._seed_from_changes(anchor, clear)
            if mask is not None:
                return mask, True
        return grabcut_seed(self.store.frame(anchor.frame), anchor), False

    def _seed_from_changes(self, anchor: Anchor, refs: Sequence[int]) -> np.ndarray | None:
        frame = self.store.frame(anchor.frame)
        roi = (0, 0, frame.shape[1], frame.shape[0])
        patches = [self._reference_patch(ref, anchor.frame, roi) for ref in refs]
        mask = seed_mask(Changes.measure(frame, patches), anchor)
        if mask is None:
            return mask
        window = clip_roi(expand(bbox(mask), COLOUR_MARGIN), frame.shape)
        rgb, inside = crop(frame, window), crop(mask, window)
        if anchor.negative:
            local = Anchor(anchor.frame, shift_points(anchor.positive, window),
                            shift_points(anchor.negative, window), None)
            inside, avoided = split_at_negatives(rgb, inside, local)
            self.avoid.add(rgb, avoided)
        core = discs_inside(inside, shift_points(anchor.seed_points(), window))
        result = np.zeros(mask.shape, bool)
        paste(result, colour_split(rgb, inside, core, self.avoid), window)
        return result

    def _differs_at(self, index: int, ref: int, points) -> bool:
        """Does reference `ref` show something else than frame `index` at most clicks?"""
        frame = self.store.frame(index)
        votes = 0
        for x, y in points:
            x0, y0 = int(round(x)) - 2, int(round(y)) - 2
            roi = clip_roi((x0, y0, x0 + 5, y0 + 5), frame.shape)
            patch, usable = self._warped(ref, index, roi)
            if usable.mean() < 0.5:
                continue
            sub = crop(frame, roi)
            distance = np.where(shadow_like(sub, patch), 0.0, colour_distance(sub, patch))
            votes += np.median(distance[usable]) > CHANGE_HIGH
        return votes * 2 > len(points)

    # tracking

    def run(self, anchors: Sequence[Anchor], seeds: dict) -> int:
        """Track from every anchor; frames between two anchors go to the nearer one. Returns
        how many frames kept their prediction for lack of evidence."""
        frames = self.geometry.frame_count
        order = sorted(anchors, key=lambda a: a.frame)
        coasted = 0
        for n, anchor in enumerate(order):
            seed, moving = seeds[anchor.frame]
            self._store_mask(anchor.frame, seed)
            first = 0 if n == 0 else (order[n - 1].frame + anchor.frame) // 2 + 1
            last = frames - 1 if n == len(order) - 1 else (anchor.frame + order[n + 1].frame) // 2
            forwards = range(anchor.frame + 1, last + 1)
            backwards = range(anchor.frame - 1, first - 1, -1)
            if moving:
                coasted += self._track(anchor.frame, seed, forwards)
                coasted += self._track(anchor.frame, seed, backwards)
            else:
                for index in (*forwards, *backwards):
                    self._store_mask(index, self._carry_static(anchor.frame, seed, index))
        return coasted

    def _store_mask(self, index: int, mask: np.ndarray) -> None:
        self.store.masks[index] = mask
        self.store.known[index] = True
        self.progress.advance(TRACK_SHARE)

    def _track(self, start: int, seed: np.ndarray, indices: range) -> int:
        """Track from `seed` on frame `start` through `indices`. The last frame where the
        object was found whole is what the next frame is matched against, so one frame where
        it is lost (occluded, or too close to the background's colours) does not end it."""
        anchor, anchor_index = seed, start
        velocity = np.zeros(2)  # the object's own motion per frame, beyond the camera's
        coasted = 0
        for index in indices:
            steps = abs(index - anchor_index)
            camera = self.geometry.between(anchor_index, index)
            shift = self._object_shift(anchor, anchor_index, index, camera, velocity * steps,
                                       first=not velocity.any())
            predicted = warp_mask(anchor, translate(camera, shift[0], shift[1]))
            mask, evidence = self._detect(index, predicted)
            coasted += not evidence
            self._store_mask(index, mask)
            if mask.sum() >= LOST_SHARE * predicted.sum():
                anchor, anchor_index, velocity = mask, index, shift / steps
        return coasted

    def _object_shift(self, mask: np.ndarray, source: int, target: int, camera: np.ndarray,
                      guess: np.ndarray, first: bool) -> np.ndarray:
        """How far the object moved from frame `source` to `target` beyond the camera motion
        (pixels of `target`): its picture matched within a window around `guess` (a wider
        one on the `first` step, when its motion is not known yet). Only the part inside the
        frame is compared, so this works while the object enters the frame; once most of it
        would be out, `guess` is kept."""
        moved = warp_mask(mask, camera)
        if moved.sum() < MIN_SEED_PIXELS or _visible_share(moved, guess) < EXIT_VISIBLE:
            return guess
        box = bbox(moved)
        picture, usable = self._warped(source, target, box)
        template_mask = crop(moved, box) & usable
        size = mask_size(moved)
        reach = FIRST_SEARCH_FRACTION if first else SEARCH_FRACTION
        radius = int(max(MIN_SEARCH, reach * size, 1.5 * np.abs(guess).max()))
        start = np.round(guess).astype(int)
        window = expand((box[0] + start[0], box[1] + start[1], box[2] + start[0],
                          box[3] + start[1]), radius)
        image, valid = padded_crop(self.store.frame(target), window)
        scale = min(1.0, MATCH_SIZE / size)
        offset = _match(picture, template_mask, image, valid, scale)
        if offset is None:
            return guess
        if scale < 1.0:  # refine at full resolution around the coarse match
            fine = expand((window[0] + offset[0], window[1] + offset[1],
                            window[0] + offset[0] + box[2] - box[0],
                            window[1] + offset[1] + box[3] - box[1]), int(np.ceil(2 / scale)))
            image, valid = padded_crop(self.store.frame(target), fine)
            refined = _match(picture, template_mask, image, valid, 1.0)
            if refined is not None:
                window, offset = fine, refined
        return np.array([window[0] + offset[0] - box[0], window[1] + offset[1] - box[1]], float)

    def _detect(self, index: int, predicted: np.ndarray) -> tuple[np.ndarray, bool]:
        """The object on frame `index` near the prediction; False when the foreground gave no
        evidence and the prediction was kept."""
        frame = self.store.frame(index)
        empty = np.zeros(predicted.shape, bool)
        if not predicted.any():
            return empty, True
        size = mask_size(predicted)
        roi = clip_roi(expand(bbox(predicted), max(12, int(ROI_FRACTION * size))), frame.shape)
        pred = crop(predicted, roi)
        patches = self._usable_patches(index, roi, pred)
        if not patches:
            return predicted, False
        changes = Changes.measure(crop(frame, roi), patches)
        found = track_mask(changes, pred, size)
        # Where no reference saw the background there is no evidence: the prediction fills
        # in, but only as a continuation of what was found.
        unseen = pred & ~changes.valid
        if unseen.any() and found.sum() >= CONTINUATION_SHARE * (pred & changes.valid).sum():
            found |= components_touching(unseen, cv2.dilate(found.astype(np.uint8), disc(1)) > 0)
        body = cv2.erode(pred.astype(np.uint8), disc(max(2, int(CORE_FRACTION * size)))) > 0
        found = colour_split(crop(frame, roi), found, body if body.any() else pred, self.avoid)
        paste(empty, found, roi)
        return empty, True

    def _usable_patches(self, index: int, roi, pred: np.ndarray) -> list:
        """Aligned reference patches: those whose object is known (its pixels left out), and
        others in which the predicted object's core looks different (it is not there)."""
        core = cv2.erode(pred.astype(np.uint8), disc(2)) > 0
        if core.sum() < 4:
            core = pred
        frame = crop(self.store.frame(index), roi)
        patches = []
        for ref in self._reference_frames(index):
            patch, usable = self._reference_patch(ref, index, roi)
            if not self.store.known[ref]:
                mine, theirs = frame[core], patch[core]
                changed = colour_distance(mine, theirs) > CHANGE_HIGH
                changed &= ~shadow_like(mine, theirs) & usable[core]
                if changed.mean() <= 0.5:
                    continue
            patches.append((patch, usable))
        return patches

    def _reference_patch(self, ref: int, index: int, roi) -> tuple[np.ndarray, np.ndarray]:
        """Frame `ref` aligned to frame `index` over `roi`, and where it shows background."""
        patch, usable = self._warped(ref, index, roi)
        if self.store.known[ref]:
            usable &= ~self._warped_mask(ref, index, roi)
        return patch, usable

    def _warped(self, ref: int, index: int, roi) -> tuple[np.ndarray, np.ndarray]:
        """Frame `ref` in frame `index`'s coordinates, cropped to `roi`, and where defined."""
        homography = translate(self.geometry.between(ref, index), -roi[0], -roi[1])
        source = self.store.frame(ref)
        size = (roi[2] - roi[0], roi[3] - roi[1])
        if is_shift(homography):
            return shifted(source, homography, size)
        patch = cv2.warpPerspective(source, homography, size, flags=cv2.INTER_LINEAR)
        inside = np.full(source.shape[:2], 255, np.uint8)
        usable = cv2.warpPerspective(inside, homography, size, flags=cv2.INTER_LINEAR) == 255
        return patch, usable

    def _warped_mask(self, ref: int, index: int, roi) -> np.ndarray:
        """Frame `ref`'s object (grown by 2 px) in frame `index`'s coordinates over `roi`."""
        homography = translate(self.geometry.between(ref, index), -roi[0], -roi[1])
        mask = self.store.mask(ref).view(np.uint8)
        size = (roi[2] - roi[0], roi[3] - roi[1])
        if is_shift(homography):
            warped = shifted(mask, homography, size)[0]
        else:
            warped = cv2.warpPerspective(mask, homography, size, flags=cv2.INTER_NEAREST)
        return cv2.dilate(warped, disc(2)) > 0

    def _reference_frames(self, index: int) -> list[int]:
        """Up to `references` frames spread evenly over the window around `index`."""
        frames = self.geometry.frame_count
        lo, hi = max(0, index - self.window), min(frames - 1, index + self.window)
        candidates = [r for r in range(lo, hi + 1) if r != index]
        if len(candidates) <= self.references:
            return candidates
        picks = np.linspace(0, len(candidates) - 1, self.references).round().astype(int)
        return [candidates[p] for p in sorted(set(picks))]

    # static objects

    def _carry_static(self, anchor: int, seed: np.ndarray, index: int) -> np.ndarray:
        """The static object's mask moved by the camera to frame `index`, refined there."""
        homography = self.geometry.between(anchor, index)
        if np.allclose(homography, np.eye(3)):
            return seed
        return refine_by_colour(self.store.frame(index), warp_mask(seed, homography))



# ---- Matching the object's picture between frames -----------------------------------------------

def _match(template: np.ndarray, template_mask: np.ndarray, image: np.ndarray,
           valid: np.ndarray, scale: float) -> tuple[int, int] | None:
    """Top-left offset in `image` where the masked template fits best (mean squared colour
    difference over the template pixels that land on valid image pixels; at least
    MIN_VISIBLE of them must). Computed at `scale`, returned in full-scale pixels."""
    if scale < 1.0:
        template, image = _rescale(template, scale), _rescale(image, scale)
        template_mask = _rescale(template_mask.astype(np.float32), scale) > 0.5
        valid = _rescale(valid.astype(np.float32), scale) > 0.99
    th, tw = template.shape[:2]
    if image.shape[0] < th or image.shape[1] < tw or template_mask.sum() < 4:
        return None
    weight = np.repeat(template_mask.astype(np.float32)[..., None], 3, axis=2)
    t = template.astype(np.float32)
    v = np.repeat(valid.astype(np.float32)[..., None], 3, axis=2)
    i = image.astype(np.float32) * v

    def correlate(img, templ):
        return cv2.matchTemplate(img, templ, cv2.TM_CCORR)

    seen = correlate(v, weight)
    error = correlate(v, weight * t * t) - 2 * correlate(i, weight * t) + correlate(i * i, weight)
    enough = seen >= MIN_VISIBLE * weight.sum()
    if not enough.any():
        return None
    score = np.where(enough, error / np.maximum(seen, 1.0), np.inf)
    y, x = np.unravel_index(np.argmin(score), score.shape)
    return int(round(x / scale)), int(round(y / scale))



def _visible_share(mask: np.ndarray, shift: np.ndarray) -> float:
    """Share of the mask's pixels still inside the frame after moving by `shift`."""
    ys, xs = np.nonzero(mask)
    xs, ys = xs + shift[0], ys + shift[1]
    inside = (xs >= 0) & (xs < mask.shape[1]) & (ys >= 0) & (ys < mask.shape[0])
    return float(inside.mean()) if xs.size else 0.0


def _rescale(image: np.ndarray, scale: float) -> np.ndarray:
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)

