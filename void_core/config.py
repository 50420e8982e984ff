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

Sections are `[<stage>.<engine>]` with stage one of inpaint, masking, analysis, refine; an
engine not named in the file gets its defaults. Settings given on the command line win.

    [colour]                            # OpenColorIO (see void_core/media/ocio.py)
    config = "ocio://studio-config-v4.0.0_aces-v2.0_ocio-v2.5"   # else $OCIO, else this one
    input_colorspace = "ACEScg"         # every plate's colour space (--colorspace wins)
    working_colorspace = "ACEScg"       # the output EXRs' colour space (scene-linear)
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from void_core.engines import check_settings, closest, names
from void_core.errors import InputError
from void_core.vocabulary import EngineKind

ENV_VAR = "VOID_FARM_CONFIG"
STAGES = tuple(EngineKind)
SECRET_WORDS = ("key", "token", "secret", "password")  # as a whole name or its last word
COLOUR_SECTION = "colour"
COLOUR_KEYS = ("config", "input_colorspace", "working_colorspace")


@dataclass(frozen=True)
class EngineConfig:
    """Settings per (stage, engine) name."""

    sections: dict[str, dict[str, dict]] = field(default_factory=dict)
    path: Path | None = None
    colour: dict[str, str] = field(default_factory=dict)  # [colour], keys of COLOUR_KEYS

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
    return EngineConfig(sections=_checked(path, data), path=path, colour=colour)


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


__all__ = ["ENV_VAR", "EngineConfig", "load_engine_config"]
