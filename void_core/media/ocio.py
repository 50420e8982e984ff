"""Colour management through OpenColorIO: configs, colour space names, processors.

The active config is, in order: `[colour] config` in void-farm.toml, `$OCIO`, else OCIO's
built-in ACES studio config (`DEFAULT_CONFIG`, shipped inside the `opencolorio` wheel: nothing is
downloaded). Colour space names are the config's own (aliases and roles such as `scene_linear`
work too); `void-farm colour list` prints them.

Every conversion is an OCIO CPU processor (lossless optimisation). Code-value plates (video,
PNG, TIFF, DPX) convert through a lookup table built from the processor: per channel the
processor's curve, then its 3x3 matrix when the two spaces' primaries differ. The split is
measured on the processor, and checked on samples before it is used, so a transform that is
not "curve then matrix" goes through the processor pixel by pixel instead.
"""

from __future__ import annotations

import difflib
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PyOpenColorIO as OCIO

from void_core.errors import ColourError

DEFAULT_CONFIG = "ocio://studio-config-v4.0.0_aces-v2.0_ocio-v2.5"
ENV_VAR = "OCIO"
LINEAR_REC709 = "Linear Rec.709 (sRGB)"
SCENE_LINEAR = "scene-linear"

# ACES primaries (SMPTE ST 2065-1): AP0 RGB -> CIE XYZ, ACES white.
_AP0_TO_XYZ = np.array([[0.9525523959, 0.0, 0.0000936786],
                        [0.3439664498, 0.7281660966, -0.0721325464],
                        [0.0, 0.0, 1.0088251844]])


@dataclass(frozen=True)
class ColourSpec:
    """What a user asked for; None everywhere means "today's defaults" (see `plate.py`)."""

    config: str | None = None
    input_colorspace: str | None = None
    working_colorspace: str | None = None

    def with_input(self, name: str | None) -> ColourSpec:
        return self if not name else ColourSpec(self.config, name, self.working_colorspace)


def config_name(spec: ColourSpec | None = None) -> str:
    """The config in force: the spec's, else $OCIO, else the built-in studio config."""
    return (spec.config if spec and spec.config else None) or os.environ.get(ENV_VAR) or DEFAULT_CONFIG


@functools.lru_cache(maxsize=8)
def load_config(name: str) -> OCIO.Config:
    """An OCIO config by `ocio://` name or file path.

    Raises:
        ColourError: no such built-in config or file, or a file OCIO cannot read.
    """
    if not name.startswith("ocio://"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ColourError(path, "OCIO config not found",
                              f"fix [colour] config in void-farm.toml or ${ENV_VAR}, or use a built-in "
                              f"config such as {DEFAULT_CONFIG}")
        name = str(path)
    try:
        return OCIO.Config.CreateFromFile(name)
    except OCIO.Exception as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ColourError(Path(name) if not name.startswith("ocio://") else None,
                          f"cannot load OCIO config {name} ({reason})",
                          f"built-in configs: {', '.join(builtin_configs()[-2:])}") from None


def builtin_configs() -> list[str]:
    return [f"ocio://{n}" for n in OCIO.BuiltinConfigRegistry()]


def colorspace(config: str, name: str, *, what: str = "colour space") -> str:
    """The config's own name for `name` (a name, alias or role).

    Raises:
        ColourError: the config has no such colour space; the closest names are given.
    """
    space = load_config(config).getColorSpace(name)
    if space is None:
        near = closest_names(config, name)
        hint = (f"closest: {', '.join(repr(n) for n in near)}; " if near else "") + \
            "`void-farm colour list` prints every name"
        raise ColourError(None, f"{what} {name!r} is not in OCIO config {_short(config)}", hint)
    return space.getName()


def has_colorspace(config: str, name: str) -> bool:
    return load_config(config).getColorSpace(name) is not None


def closest_names(config: str, name: str, count: int = 3) -> list[str]:
    """Colour space names nearest to `name` (aliases map to their colour space)."""
    by_key: dict[str, str] = {}
    for space in load_config(config).getColorSpaces():
        for key in (space.getName(), *space.getAliases()):
            by_key.setdefault(key.lower(), space.getName())
    wanted = name.lower()
    containing = [k for k in by_key if wanted in k]  # "logc3" -> "ARRI LogC3 (EI800)" first
    found = containing + difflib.get_close_matches(wanted, list(by_key), n=count * 3, cutoff=0.4)
    names = list(dict.fromkeys(by_key[k] for k in found))
    return names[:count]


def encoding(config: str, name: str) -> str:
    """The colour space's OCIO encoding: 'scene-linear', 'log', 'sdr-video', ... ('' unknown)."""
    return load_config(config).getColorSpace(name).getEncoding()


def list_colorspaces(config: str) -> list[tuple[str, str, str]]:
    """(name, family, encoding) of every colour space in the config."""
    return [(s.getName(), s.getFamily(), s.getEncoding())
            for s in load_config(config).getColorSpaces()]


@functools.lru_cache(maxsize=32)
def processor(config: str, source: str, target: str) -> OCIO.CPUProcessor:
    return load_config(config).getProcessor(source, target).getOptimizedCPUProcessor(
        OCIO.OPTIMIZATION_LOSSLESS)


def convert(rgb: np.ndarray, config: str, source: str, target: str) -> np.ndarray:
    """(..., 3) pixels from `source` to `target`, float32, a new array."""
    out = np.array(rgb, dtype=np.float32, order="C", copy=True)
    if source != target:
        processor(config, source, target).applyRGB(out.reshape(-1, 3))
    return out


def apply_curve(values: np.ndarray, config: str, source: str, target: str) -> np.ndarray:
    """Any-shaped values through a transform that treats R, G and B alike (a pure curve):
    float32, same shape."""
    flat = np.asarray(values, dtype=np.float32).reshape(-1)
    pad = (-flat.size) % 3
    triples = np.concatenate([flat, np.zeros(pad, np.float32)]).reshape(-1, 3)
    return convert(triples, config, source, target).reshape(-1)[: flat.size].reshape(np.shape(values))


@dataclass(frozen=True)
class CodeTransform:
    """Code values -> target: per-channel lookup table (from OCIO), then an optional matrix."""

    lut: np.ndarray  # (2**bits,) float32: normalised code -> curve value
    matrix: np.ndarray | None  # (3, 3) or None (identity)
    lut_half: np.ndarray  # the LUT as half floats: with no matrix, the output EXR's values

    def __call__(self, codes: np.ndarray) -> np.ndarray:
        linear = self.lut[codes]
        if self.matrix is not None:
            linear = linear @ self.matrix.T
        return linear


@functools.lru_cache(maxsize=16)
def code_transform(config: str, source: str, target: str, bits: int) -> CodeTransform | None:
    """The lookup-table form of source -> target for `bits`-bit codes, or None when the
    processor is not a per-channel curve followed by a matrix (then use `convert`)."""
    scale = np.float32(2**bits - 1)
    grey = np.arange(2**bits, dtype=np.float32) / scale
    lut = apply_curve_grey(grey, config, source, target)
    low, high = np.float32(0.18), np.float32(0.9)
    curve_low, curve_high = apply_curve_grey(np.array([low, high]), config, source, target)
    if abs(curve_high - curve_low) < 1e-9:
        return None
    probes = np.full((3, 3), low, np.float32)
    np.fill_diagonal(probes, high)
    columns = (convert(probes, config, source, target) - convert(np.full((1, 3), low), config,
                                                                source, target))
    matrix = (columns / (curve_high - curve_low)).T  # column j: what channel j contributes
    matrix = None if np.allclose(matrix, np.eye(3), atol=1e-6) else matrix.astype(np.float32)
    candidate = CodeTransform(lut.astype(np.float32), matrix, lut.astype(np.float16))
    samples = np.random.default_rng(0).integers(0, 2**bits, (64, 3))
    expected = convert(samples.astype(np.float32) / scale, config, source, target)
    got = candidate(samples)
    if not np.allclose(got, expected, rtol=1e-4, atol=1e-5):
        return None
    candidate.lut.setflags(write=False)
    candidate.lut_half.setflags(write=False)
    return candidate


def apply_curve_grey(grey: np.ndarray, config: str, source: str, target: str) -> np.ndarray:
    """The processor on the grey ramp (v, v, v), green channel: for a white-preserving matrix
    after a curve, that is the curve itself."""
    return convert(np.repeat(grey[:, None], 3, axis=1), config, source, target)[:, 1]


@functools.lru_cache(maxsize=16)
def chromaticities(config: str, name: str) -> tuple[float, ...]:
    """(Rx, Ry, Gx, Gy, Bx, By, Wx, Wy) of a scene-linear colour space, for EXR headers.

    ACES-family spaces are measured against ACES2065-1 (their white is the ACES white), every
    other space against the config's CIE XYZ D65 interchange space.
    """
    space = load_config(config).getColorSpace(name)
    unit = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], np.float32)
    if space.getFamily().startswith("ACES") and _has_role(config, "aces_interchange"):
        xyz = convert(unit, config, name, "aces_interchange").astype(np.float64) @ _AP0_TO_XYZ.T
    elif _has_role(config, "cie_xyz_d65_interchange"):
        xyz = convert(unit, config, name, "cie_xyz_d65_interchange").astype(np.float64)
    else:
        raise ColourError(None, f"OCIO config {_short(config)} has no cie_xyz_d65_interchange role",
                          "the EXR chromaticities of its colour spaces cannot be measured")
    xy = xyz[:, :2] / xyz.sum(axis=1, keepdims=True)
    return tuple(round(float(v), 6) for v in xy.reshape(-1))


def _has_role(config: str, role: str) -> bool:
    return load_config(config).hasRole(role)


def _short(config: str) -> str:
    return config if config.startswith("ocio://") else Path(config).name
