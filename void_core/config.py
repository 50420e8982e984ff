"""Engine settings from a TOML file: where a farm keeps its model paths and engine options.

    # void-farm.toml (given with --config, or $VOID_FARM_CONFIG)
    [inpaint.void]
    model_dir = "/models/void"          # local paths only: nothing is ever downloaded
    memory_mode = "model_offload"

    [masking.sam2]
    checkpoint = "/models/sam2.1_hiera_large.pt"
    config = "configs/sam2.1/sam2.1_hiera_l.yaml"

    [analysis.gemini]
    model = "gemini-3-pro-preview"      # the key comes from $GEMINI_API_KEY, never from here

    [colour]                            # OpenColorIO (see void_core/media/ocio.py)
    config = "ocio://studio-config-v4.0.0_aces-v2.0_ocio-v2.5"   # else $OCIO, else this one
    input_colorspace = "ACEScg"         # every plate's colour space (--colorspace wins)
    working_colorspace = "ACEScg"       # the output EXRs' colour space (scene-linear)

    [ray.resources]                     # Ray custom resources a stage's task asks for
    inpaint = { void_gpu = 1 }          # replaces the engine's own (VOID on CUDA: void_gpu = 1)
    masking = { sam2_gpu = 1 }

    [limits]                            # Prefect global concurrency limits, slots each
    gemini-api = 4

    [qc]
    url = "https://farm-web/cleanup"    # OUT served over HTTP: QC links become https://

    [inpaint]
    chunk_frames = 120                  # long shots in parts of this many frames (0: never)

Engine sections are `[<stage>.<engine>]` with stage one of inpaint, masking, analysis, refine;
an engine not named in the file gets its defaults. Settings given on the command line win.
`[ray]`, `[limits]`, `[qc]` and `[inpaint] chunk_frames` are the farm's (`FarmConfig`).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from void_core.engines import check_settings, closest, names
from void_core.errors import InputError
from void_core.vocabulary import STAGE_ORDER, EngineKind

ENV_VAR = "VOID_FARM_CONFIG"
STAGES = tuple(EngineKind)
FARM_SECTIONS = ("ray", "limits", "qc")
RAY_AMOUNTS = ("num_cpus", "num_gpus")  # a [ray.resources] entry may set these too


@dataclass(frozen=True)
class FarmConfig:
    """The farm's sections: Ray resources per stage, API concurrency limits, the QC base URL."""

    ray_resources: dict[str, dict[str, float]] = field(default_factory=dict)
    api_limits: dict[str, int] = field(default_factory=dict)
    qc_url: str | None = None
    chunk_frames: int | None = None  # [inpaint] chunk_frames; None: the engine's default


SECRET_WORDS = ("key", "token", "secret", "password")  # as a whole name or its last word
COLOUR_SECTION = "colour"
COLOUR_KEYS = ("config", "input_colorspace", "working_colorspace")


@dataclass(frozen=True)
class EngineConfig:
    """Settings per (stage, engine) name."""

    sections: dict[str, dict[str, dict]] = field(default_factory=dict)
    path: Path | None = None
    colour: dict[str, str] = field(default_factory=dict)  # [colour], keys of COLOUR_KEYS
    farm: FarmConfig = field(default_factory=FarmConfig)

    def settings(self, stage: str, engine: str) -> dict:
        """The `[stage.engine]` section, its keys checked against the engine's settings.

        Raises:
            EngineSettingError: a key the engine does not take (the closest one named).
        """
        settings = dict(self.sections.get(stage, {}).get(engine, {}))
        check_settings(stage, engine, settings, where=self.path, section=f"{stage}.{engine}")
        return settings


def load_engine_config(path: str | Path | None = None) -> EngineConfig:
    """Read `path` (or $VOID_FARM_CONFIG); no file given: an empty configuration."""
    path = path or os.environ.get(ENV_VAR)
    if not path:
        return EngineConfig()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(path, "configuration file not found", f"fix --config or ${ENV_VAR}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(path, f"is not valid TOML ({err})") from None
    colour = _checked_colour(path, data.pop(COLOUR_SECTION, {}))
    farm = _farm(path, {name: data.pop(name) for name in FARM_SECTIONS if name in data})
    inpaint = data.get("inpaint")
    if isinstance(inpaint, dict) and "chunk_frames" in inpaint:
        farm = replace(farm, chunk_frames=_chunk_frames(path, inpaint.pop("chunk_frames")))
    return EngineConfig(sections=_checked(path, data), path=path, colour=colour, farm=farm)


def _chunk_frames(path: Path, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(path, f"[inpaint] chunk_frames = {value!r} is not a number of frames",
                         "write e.g. chunk_frames = 120 (0: never split a shot)")
    return value


def _checked_colour(path: Path, section) -> dict[str, str]:
    if not isinstance(section, dict):
        raise InputError(path, f"{COLOUR_SECTION} = ... is not a table", "write it as [colour]")
    for key, value in section.items():
        if key not in COLOUR_KEYS:
            near = closest(key, COLOUR_KEYS)
            raise InputError(path, f"[colour] has no setting {key!r}",
                             f"did you mean {near}?" if near else f"settings: {', '.join(COLOUR_KEYS)}")
        if not isinstance(value, str) or not value:
            raise InputError(path, f"[colour] {key} must be a non-empty string")
    if "config" in section and not section["config"].startswith("ocio://"):
        section["config"] = str((path.parent / section["config"]).expanduser())
    return dict(section)


def _farm(path: Path, data: dict) -> FarmConfig:
    for name, section in data.items():
        if not isinstance(section, dict):
            raise InputError(path, f"{name} = ... is not a table", f"write it as [{name}]")
    ray, limits, qc = data.get("ray", {}), data.get("limits", {}), data.get("qc", {})
    _only(path, "ray", ray, ("resources",))
    _only(path, "qc", qc, ("url",))
    return FarmConfig(ray_resources=_ray_resources(path, ray.get("resources", {})),
                      api_limits=_limits(path, limits), qc_url=_qc_url(path, qc.get("url")))


def _only(path: Path, section: str, table: dict, keys: tuple[str, ...]) -> None:
    for key in table:
        if key not in keys:
            raise InputError(path, f"[{section}] has no setting {key!r}",
                             f"[{section}] takes {', '.join(keys)}")


def _ray_resources(path: Path, table) -> dict[str, dict[str, float]]:
    if not isinstance(table, dict):
        raise InputError(path, "[ray] resources is not a table", "write it as [ray.resources]")
    checked = {}
    for stage, amounts in table.items():
        if stage not in STAGE_ORDER:
            near = closest(stage, STAGE_ORDER)
            raise InputError(path, f"[ray.resources] names no stage {stage!r}",
                             f"did you mean {near}?" if near else
                             f"stages: {', '.join(STAGE_ORDER)}")
        if not isinstance(amounts, dict) or not all(
                _is_amount(value) for value in amounts.values()):
            raise InputError(path, f"[ray.resources] {stage} is not a table of amounts",
                             f"write e.g. {stage} = {{ void_gpu = 1 }}")
        checked[stage] = {name: float(value) for name, value in amounts.items()}
    return checked


def _is_amount(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _limits(path: Path, table: dict) -> dict[str, int]:
    for name, slots in table.items():
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise InputError(path, f"[limits] {name} = {slots!r} is not a number of slots",
                             f"write e.g. {name} = 4")
    return dict(table)


def _qc_url(path: Path, url) -> str | None:
    if url is None:
        return None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InputError(path, f"[qc] url {url!r} is not an http(s) URL",
                         'write e.g. url = "https://farm-web/cleanup"')
    return url


def _checked(path: Path, data: dict) -> dict[str, dict[str, dict]]:
    sections: dict[str, dict[str, dict]] = {}
    for stage, engines in data.items():
        if stage not in STAGES or not isinstance(engines, dict):
            near = closest(stage, STAGES)
            raise InputError(path, f"unknown section [{stage}]",
                             (f"did you mean [{near}.<engine>]? " if near else "") +
                             f"use [<stage>.<engine>] with stage one of {', '.join(STAGES)}")
        for engine, settings in engines.items():
            if engine not in names(stage):
                near = closest(engine, names(stage))
                raise InputError(path, f"[{stage}.{engine}]: no {stage} engine {engine!r}",
                                 f"did you mean [{stage}.{near}]?" if near else
                                 f"{stage} engines: {', '.join(names(stage))}")
            if not isinstance(settings, dict):
                raise InputError(path, f"[{stage}] {engine} = ... is not a table",
                                 f"write it as [{stage}.{engine}] with its settings below")
            secrets = [k for k in settings if k.lower().split("_")[-1] in SECRET_WORDS]
            if secrets:
                raise InputError(path, f"[{stage}.{engine}] holds a secret ({secrets[0]})",
                                 "secrets come from the environment (e.g. GEMINI_API_KEY), "
                                 "never from a file that ends up in lineage")
            sections.setdefault(stage, {})[engine] = settings
    return sections


__all__ = ["ENV_VAR", "EngineConfig", "FarmConfig", "load_engine_config"]
