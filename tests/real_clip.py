"""A tiny "real footage" clip for CI, made from a photograph that ships with scikit-image.

The shared footage cannot ship with the project, so tests film a photograph instead: a
handheld camera (sub-pixel drift and a small rotation, smooth random walks), per-frame
exposure and white-balance drift, Gaussian sensor noise, then lossy H.264 (4:2:0) and back,
as camera footage reaches a pipeline. The decoded frames are the clip's truth; holes are cut
in it with the benchmark's placement rule (`benchmarks/fillbench/holes.py`).
"""

from __future__ import annotations

import importlib.resources
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from benchmarks.fillbench.holes import Hole, ShotSurvey, place_shot_holes
from void_core.media.encode import write_video
from void_core.media.plate import open_plate

WIDTH, HEIGHT, FRAMES = 256, 160, 30
RATE = 24
PHOTO = "chelsea"
PHOTO_SCALE = 0.6  # the camera sees most of the photograph, not a detail of it
NOISE_SIGMA = 2.0  # code values
CRF = 23  # x264 quality: visibly lossy at this size, like delivered footage
DRIFT_PX = 0.35  # random-walk step of the camera, pixels per frame
ROTATION_DEG = 0.08  # random-walk step of the roll, degrees per frame
EXPOSURE_STEP, WHITE_BALANCE_STEP = 0.006, 0.004  # random-walk steps of gain, per frame


@dataclass(frozen=True)
class CameraMove:
    """Where the camera looks in frame t: offset (px) and roll (degrees) from the start."""

    shifts: np.ndarray  # (frames, 2)
    rolls: np.ndarray  # (frames,)
    gains: np.ndarray  # (frames, 3): exposure x white balance per channel


def camera_move(frames: int, seed: int) -> CameraMove:
    rng = np.random.default_rng(seed)
    shifts = np.cumsum(rng.normal(0, DRIFT_PX, (frames, 2)), axis=0)
    rolls = np.cumsum(rng.normal(0, ROTATION_DEG, frames))
    exposure = 1 + np.cumsum(rng.normal(0, EXPOSURE_STEP, frames))
    balance = 1 + np.cumsum(rng.normal(0, WHITE_BALANCE_STEP, (frames, 3)), axis=0)
    shifts[0], rolls[0] = 0, 0
    return CameraMove(shifts, rolls, exposure[:, None] * balance)


def film(photo: np.ndarray, move: CameraMove, width: int, height: int) -> list[np.ndarray]:
    """The photograph seen through the moving camera, before noise and compression (float)."""
    source = photo.astype(np.float32)
    centre = (photo.shape[1] / 2, photo.shape[0] / 2)
    views = []
    for (dx, dy), roll, gain in zip(move.shifts, move.rolls, move.gains, strict=True):
        to_view = cv2.getRotationMatrix2D(centre, float(roll), 1.0)
        to_view[:, 2] += (width / 2 - centre[0] + dx, height / 2 - centre[1] + dy)
        view = cv2.warpAffine(source, to_view, (width, height), flags=cv2.INTER_CUBIC,
                              borderMode=cv2.BORDER_REFLECT)
        views.append(view * gain.astype(np.float32))
    return views


def read_photo(name: str) -> np.ndarray:
    """One of scikit-image's bundled photographs (`skimage.data`), RGB, read straight from the
    package data: `skimage.data.<name>()` would import skimage.io, seconds on a busy machine."""
    path = importlib.resources.files("skimage") / "data" / f"{name}.png"
    with importlib.resources.as_file(path) as file:
        bgr = cv2.imread(str(file), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"scikit-image has no bundled photograph {name}.png")
    return bgr[..., ::-1]


def make_clip(seed: int = 0, *, width: int = WIDTH, height: int = HEIGHT,
              frames: int = FRAMES, photo: str = PHOTO) -> list[np.ndarray]:
    """The clip's frames, (height, width, 3) uint8 RGB, as decoded from its H.264 file."""
    rng = np.random.default_rng(seed + 1)
    picture = cv2.resize(read_photo(photo), None, fx=PHOTO_SCALE, fy=PHOTO_SCALE,
                         interpolation=cv2.INTER_AREA)
    views = film(picture, camera_move(frames, seed), width, height)
    noisy = [np.clip(np.rint(v + rng.normal(0, NOISE_SIGMA, v.shape)), 0, 255).astype(np.uint8)
             for v in views]
    return through_h264(noisy)


def through_h264(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Frames after a lossy H.264 4:2:0 round trip (BT.709 limited range, as cameras deliver)."""
    with tempfile.TemporaryDirectory(prefix="real-clip-") as folder:
        path = Path(folder) / "clip.mp4"
        write_video(path, frames, RATE, crf=CRF, options={"threads": "1"})
        return list(open_plate(path).frames())


def clip_holes(frames: list[np.ndarray], name: str = "real_clip") -> list[Hole]:
    """The benchmark's main static and sliding holes on this clip (no objects to avoid)."""
    height, width = frames[0].shape[:2]
    survey = ShotSurvey(width, height)
    for frame in frames:
        survey.add(frame, None)
    placed, _ = place_shot_holes(survey, name, len(frames))
    return [hole for hole in placed if not hole.held_out]
