"""What a synthetic scene is made of (`SceneSpec`), its validation, and the standard catalogue."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from typing import Literal, get_args

from void_core.errors import VoidFarmError

Camera = Literal["static", "pan"]
Background = Literal["photo", "procedural"]
ObjectSize = Literal["small", "large"]

MIN_SIDE = 64
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SceneSpecError(VoidFarmError, ValueError):
    """A scene spec with an invalid field; the message names the field and its value."""


@dataclass(frozen=True)
class SceneSpec:
    """One counterfactual scene: everything is derived deterministically from these fields.

    Attributes:
        name: scene name, usable as a folder name.
        width, height: frame size in pixels (even, at least 64).
        frames: number of frames (at least 1).
        fps: exact frame rate.
        seed: drives every random choice (layout, textures, colours, sensor noise).
        camera: "static", or "pan" (the camera crop slides smoothly over a larger scene).
        background: "photo" (a scikit-image sample photograph) or "procedural" (bricks/planks).
        object_size: "small" (about 1-2 % of the frame) or "large" (about 10-15 %).
        shadow: objects cast a soft shadow on the background.
        push: the object slides into a box at rest and pushes it away.
        noise_sigma: Gaussian sensor noise, in 8-bit code values (same field in both renders).
    """

    name: str
    width: int = 640
    height: int = 360
    frames: int = 24
    fps: Fraction = Fraction(12)
    seed: int = 0
    camera: Camera = "static"
    background: Background = "photo"
    object_size: ObjectSize = "small"
    shadow: bool = True
    push: bool = False
    noise_sigma: float = 3.0

    def __post_init__(self) -> None:
        _check_name(self.name)
        for field in ("width", "height"):
            _check_side(self.name, field, getattr(self, field))
        if not _is_int(self.frames) or self.frames < 1:
            raise _error(self.name, "frames", self.frames, "must be an integer >= 1")
        object.__setattr__(self, "fps", _rate(self.name, self.fps))
        if not _is_int(self.seed) or self.seed < 0:
            raise _error(self.name, "seed", self.seed, "must be an integer >= 0")
        _check_choice(self.name, "camera", self.camera, Camera)
        _check_choice(self.name, "background", self.background, Background)
        _check_choice(self.name, "object_size", self.object_size, ObjectSize)
        for field in ("shadow", "push"):
            if not isinstance(getattr(self, field), bool):
                raise _error(self.name, field, getattr(self, field), "must be True or False")
        sigma = self.noise_sigma
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 <= sigma <= 64:
            raise _error(self.name, "noise_sigma", sigma, "must be a number between 0 and 64")

    def to_json(self) -> dict:
        """A JSON-ready dict (fps as "num/den")."""
        data = asdict(self)
        data["fps"] = f"{self.fps.numerator}/{self.fps.denominator}"
        return data


def standard_scenes(width: int = 640, height: int = 360, frames: int = 24,
                    fps: Fraction = Fraction(12)) -> list[SceneSpec]:
    """The named catalogue: each scene isolates one situation a removal engine must handle.

    - static_shadow: static camera, photo background, small object with a cast shadow.
    - pan_shadow: the same situation under a panning camera.
    - push: static camera, procedural background; the object pushes a box away (no shadows).
    - small_object: a small object alone (no shadow, no interaction): quadmask 0/255 only.
    - large_object: a large object with its shadow over a photo.
    - pan_push: panning camera, procedural background, push plus shadows (every class at once).
    """
    base = SceneSpec(name="base", width=width, height=height, frames=frames, fps=fps)
    variants = [
        dict(name="static_shadow", camera="static", background="photo"),
        dict(name="pan_shadow", camera="pan", background="photo"),
        dict(name="push", background="procedural", shadow=False, push=True),
        dict(name="small_object", background="procedural", shadow=False),
        dict(name="large_object", background="photo", object_size="large"),
        dict(name="pan_push", camera="pan", background="procedural", push=True),
    ]
    return [replace(base, seed=index + 1, **fields) for index, fields in enumerate(variants)]


def _error(name: str, field: str, value: object, problem: str) -> SceneSpecError:
    return SceneSpecError(f"scene {name!r}: {field} {problem}, got {value!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise SceneSpecError(f"scene name must be letters, digits, '_', '-' or '.' (starting "
                             f"with a letter or digit), got {name!r}")


def _check_side(name: str, field: str, value: object) -> None:
    if not _is_int(value) or value < MIN_SIDE or value % 2:
        raise _error(name, field, value, f"must be an even integer >= {MIN_SIDE} "
                                         "(H.264 4:2:0 needs even sizes)")


def _check_choice(name: str, field: str, value: object, choices) -> None:
    allowed = get_args(choices)
    if value not in allowed:
        raise _error(name, field, value, f"must be one of {', '.join(map(repr, allowed))}")


def _rate(name: str, fps: object) -> Fraction:
    try:
        rate = Fraction(fps) if not isinstance(fps, bool) else None
    except (TypeError, ValueError):
        rate = None
    if rate is None or rate <= 0:
        raise _error(name, "fps", fps, "must be a positive number such as Fraction(24000, 1001)")
    return rate
