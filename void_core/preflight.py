"""Resolve and check a run before any work starts: cut list, engines, database, Ray address.

`void-farm run` calls `preflight` before it brings up Prefect and Ray (so a typo costs a second,
not half a minute), and the `cleanup-cutlist` flow calls it again first thing, so deployments
(`serve`, the nightly schedule, the event trigger) get the same checks as the command line.
Nothing here starts a service; only the output folder and the lineage database are created.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlsplit

from void_core import naming
from void_core.config import load_engine_config
from void_core.engines import runs_inside, shared_engine
from void_core.errors import InputError, VoidFarmError
from void_core.vocabulary import EngineKind


class RayAddressError(VoidFarmError):
    """A Ray address that is not HOST:PORT or ray://HOST:PORT."""


@dataclass(frozen=True)
class EngineChoice:
    """The engines a run uses and their settings (config file, then command line)."""

    engine: str = "classical"
    engine_settings: dict | None = None
    refiner: str = "flow"
    masker: str = "classical"
    masker_settings: dict | None = None
    analyzer: str = "heuristic"
    analyzer_settings: dict | None = None
    colour: dict | None = None  # [colour] of the config file, --colorspace as input_colorspace

    def as_parameters(self) -> dict:
        """As the flow's keyword parameters."""
        return {"engine": self.engine, "engine_settings": dict(self.engine_settings or {}),
                "refiner": self.refiner, "masker": self.masker,
                "masker_settings": dict(self.masker_settings or {}), "analyzer": self.analyzer,
                "analyzer_settings": dict(self.analyzer_settings or {}),
                "colour": dict(self.colour or {})}


@dataclass(frozen=True)
class Checked:
    """What a passed preflight resolved: the parsed cut list and the lineage URL to use."""

    cutlist: object  # void_core.cutlist.CutList
    lineage_url: str


def choose_engines(config: str | Path | None, engine: str, masker: str, analyzer: str,
                   model_dir: Path | None = None, refiner: str = "flow",
                   colorspace: str | None = None) -> EngineChoice:
    """The chosen engines' settings: the config file's sections, then --model-dir. A refiner
    that runs inside the engine (void-pass2) becomes that engine's `pass2` setting, and the
    pipeline's own refiner is then "none".

    Raises:
        InputError / EngineSettingError: a bad config file or an option that does not fit.
    """
    loaded = load_engine_config(config)
    engine_settings = loaded.settings(EngineKind.INPAINT, engine)
    if model_dir is not None and engine != "void":
        raise InputError(model_dir, "--model-dir is only used by --engine void")
    if model_dir is not None:
        engine_settings["model_dir"] = str(Path(model_dir).resolve())
    host = runs_inside(EngineKind.REFINE, refiner)
    if host is not None:
        if engine != host:
            raise InputError(None, f"--refiner {refiner} runs inside the {host} engine, not "
                             f"{engine}", f"add --engine {host}")
        engine_settings["pass2"] = loaded.settings(EngineKind.REFINE, refiner)
        refiner = "none"
    colour = dict(loaded.colour)
    if colorspace:
        colour["input_colorspace"] = colorspace
    check_colour(colour)
    return EngineChoice(engine, engine_settings, refiner, masker,
                        loaded.settings(EngineKind.MASKING, masker), analyzer,
                        loaded.settings(EngineKind.ANALYSIS, analyzer), colour)


def check_clip_colour(cut, colour: dict) -> None:
    """Every colour space a clip's "void" metadata names is in the run's config."""
    from void_core.media import ocio

    config = ocio.config_name(ocio.ColourSpec(**colour))
    for shot in cut.shots:
        if shot.colorspace:
            ocio.colorspace(config, shot.colorspace, what=f"{shot.name}: the cut list's colour space")


def check_colour(colour: dict) -> None:
    """The OCIO config loads and names every colour space given (ColourError otherwise)."""
    from void_core.media import ocio

    config = ocio.config_name(ocio.ColourSpec(**colour))
    ocio.load_config(config)
    for key in ("input_colorspace", "working_colorspace"):
        if colour.get(key):
            ocio.colorspace(config, colour[key], what=key.replace("_", " ").replace("colorspace",
                                                                                    "colour space"))


def check_engines(choice: EngineChoice) -> None:
    """Build every engine of the run once in this process (its instance is reused later)."""
    shared_engine(EngineKind.INPAINT, choice.engine, choice.engine_settings or {})
    shared_engine(EngineKind.REFINE, choice.refiner, {})
    shared_engine(EngineKind.MASKING, choice.masker, choice.masker_settings or {})
    shared_engine(EngineKind.ANALYSIS, choice.analyzer, choice.analyzer_settings or {})


def check_ray_address(address: str | None) -> str | None:
    """`address` if it is usable as a Ray address ("auto", HOST:PORT, ray://HOST:PORT), else
    one line saying why. Only the syntax: whether the cluster answers is the runner's check."""
    if not address or address == "auto":
        return address
    if address == "local":
        raise RayAddressError("--ray-address local is not an address: leave it out to start a "
                              "local Ray")
    parsed = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        host, port = parsed.hostname, parsed.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise RayAddressError(f"Ray address {address!r} is not HOST:PORT or ray://HOST:PORT")
    return address


def check_frame_ranges(cut) -> None:
    """Every shot's frame numbers fit a file name and a lineage row, checked before anything
    is written (a frame number past 8 digits, or negative, fails here, not mid-run)."""
    from void_core.errors import CutListError

    for shot in cut.shots:
        problem = naming.frame_range_problem(shot.source_start_frame, shot.frame_count)
        if problem is not None:
            raise CutListError(cut.path, f"{shot.label}: {problem}",
                               "fix the clip's source range in the cut list")


def prepare_output_folder(out: Path) -> None:
    """Create OUT and prove it takes files, or say in one line what is wrong with it."""
    from void_core.errors import OutputError

    if out.exists() and not out.is_dir():
        raise OutputError(out, "is a file, not a folder", "give --out a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".void-farm-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise OutputError.from_os_error(out, err) from None


def lineage_url(out: Path, db: str | None) -> str:
    """--db, else $VOID_FARM_DB, else the run's own OUT/void-farm-lineage.db."""
    from void_core.lineage import ENV_VAR

    return db or os.environ.get(ENV_VAR) or naming.default_lineage_url(out)


def preflight(cutlist: str | Path, out: str | Path, choice: EngineChoice, *,
              media_root: str | Path | None = None, rate: str | Fraction | None = None,
              db: str | None = None, ray_address: str | None = None) -> Checked:
    """Check everything cheap, in the order a user fixes it: the cut list parses, the engines
    and their settings exist, the Ray address is well formed, the output folder and the
    lineage database are usable.

    Raises:
        VoidFarmError (one line each): CutListError, EngineNotFoundError, EngineSettingError,
        RayAddressError, LineageError, InputError.
    """
    from void_core.cutlist import read_cutlist
    from void_core.lineage import open_store

    cut = read_cutlist(cutlist, media_root=media_root, rate=rate)
    check_frame_ranges(cut)
    check_engines(choice)
    check_clip_colour(cut, choice.colour or {})
    check_ray_address(ray_address or os.environ.get("RAY_ADDRESS"))
    out = Path(out)
    prepare_output_folder(out)
    url = lineage_url(out, db)
    open_store(url).close()  # a wrong URL fails here, before any work
    return Checked(cut, url)


__all__ = ["Checked", "EngineChoice", "RayAddressError", "check_clip_colour", "check_colour",
           "check_engines", "check_frame_ranges", "check_ray_address", "choose_engines",
           "lineage_url", "preflight", "prepare_output_folder"]
