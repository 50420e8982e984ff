"""The engine registry: every engine void-farm can run, by kind and name, and what it declares.

    create_engine(EngineKind.MASKING, "sam2", checkpoint="/models/sam2.pt")
        -> looks up ("masking", "sam2") in ENGINES, imports "void_core.masking.sam2_engine" only
           now (torch stays unloaded for a classical run), checks the settings' keys against the
           engine's constructor (a typo gets one line naming the closest key), builds it

The table is the single place that knows an engine's module, its kind, and what it can do
(segment several objects, run inside another engine, report its own resources and model
checksums). Callers read those capabilities from the table; nothing is probed on an instance.
`shared_engine` builds an engine once per process and settings and hands the same instance
to every later shot: its identity, resources and checksums (a pass-2 checkpoint's digest, say)
are computed once.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from void_core.errors import EngineNotFoundError, InputError
from void_core.vocabulary import EngineKind

if TYPE_CHECKING:
    from void_core.analysis.schema import Analysis
    from void_core.inpaint.base import Fill, InpaintStats, ShotFrames, ShotPart
    from void_core.masking.prompt import ClickPrompt, ProgressCallback, SegmentResult

DEFAULT_RESOURCES = {"num_cpus": 1}
KIND_WORDS = {EngineKind.INPAINT: "inpainting", EngineKind.MASKING: "masking",
              EngineKind.ANALYSIS: "analysis", EngineKind.REFINE: "refinement"}


# --- protocols ------------------------------------------------------------------------------


class Engine(Protocol):
    """What every engine tells lineage and the scheduler."""

    name: str
    version: str

    def settings(self) -> dict: ...

    def resources(self) -> dict: ...

    def model_checksums(self) -> dict[str, str] | None: ...


class WithoutModels:
    """`resources()` and `model_checksums()` of an engine that reads no model weights and takes
    one CPU (the classical engines, the heuristic analyzer, Gemini's client)."""

    def resources(self) -> dict:
        return dict(DEFAULT_RESOURCES)

    def model_checksums(self) -> None:
        return None


class Analyzer(Engine, Protocol):
    """What the object affected (shadows, reflections, pushed objects): VOID's analysis."""

    def analyze(self, plate, primary_mask_path: str | Path, instruction: str = "") -> Analysis: ...


class Segmenter(Engine, Protocol):
    """Writes the primary mask video for a plate (one mask per plate frame)."""

    def segment(self, plate, prompts: Sequence[ClickPrompt], out_path: str | Path, *,
                on_progress: ProgressCallback | None = None) -> SegmentResult: ...


class ObjectSegmenter(Segmenter, Protocol):
    """A segmenter that also tracks several prompted objects in one pass (the analysis'
    affected objects): declared with `segments_objects=True` in the table."""

    def segment_objects(self, plate, prompts_by_object: Mapping[Any, Sequence[ClickPrompt]],
                        out_dir: str | Path, *,
                        on_progress: ProgressCallback | None = None) -> dict: ...


class Inpainter(Engine, Protocol):
    """Yields exactly one `Fill` per frame, in frame order; `stats` describe the last shot."""

    stats: InpaintStats

    def inpaint(self, shot: ShotFrames) -> Iterator[Fill]: ...


class PartedInpainter(Inpainter, Protocol):
    """An inpainter that splits a long shot into parts that run on any worker (declared with
    `splits_shots=True` in the table).

    `prepare` plans the shot's parts and writes what they share as files under `work` (the
    model's crop and windows; for classical, only the plan); it returns the parts, none
    longer than about `chunk_frames` frames. A part that writes frames has `fill_part` yield
    the `Fill`s of frames [part.start, part.stop) in order; a part that writes none
    (`ShotPart.writes` False: classical's camera motion, sightings and canvas, which must see
    the whole shot before any frame is filled) has `learn_part(shot, work, part)` write its
    files. Both read only files (from `prepare` and from the parts in `part.after`), so the
    parts of one shot may run in different processes on different nodes. An engine whose
    frames parts also write files for later ones (VOID's window overlaps) lists them with an
    optional `written_files(work, part)`, so lineage keeps them with the part. Running
    `prepare` then every part gives the same fills as `inpaint` (a test pins it)."""

    def prepare(self, shot: ShotFrames, work: Path, chunk_frames: int) -> list[ShotPart]: ...

    def fill_part(self, shot: ShotFrames, work: Path, part: ShotPart) -> Iterator[Fill]: ...


class Refiner(Engine, Protocol):
    """Stabilises a stream of fills over time."""

    def refine(self, fills: Iterator[Fill], holes) -> Iterator[Fill]: ...


# --- the table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineEntry:
    """One registered engine. `target` is "module:Class" (None: the engine that does nothing).

    Capabilities are declared here, not probed on an instance: `segments_objects` (the masker
    also segments the analysis' affected objects), `loads_models` (counts its model loads);
    `runs_inside` names the inpainting engine a refiner runs within
    (its settings become that engine's `pass2`); `injected` are constructor arguments the
    pipeline fills in itself, not settings a user may give; `external_api` names the Prefect
    global concurrency limit whose slot the engine's stage holds while it works (a remote
    service with a quota); `splits_shots` marks a `PartedInpainter`, `chunk_frames` its
    default part length."""

    kind: EngineKind
    name: str
    target: str | None
    segments_objects: bool = False
    loads_models: bool = False  # counts its model loads in `load_count`
    runs_inside: str | None = None
    injected: tuple[str, ...] = ()
    external_api: str | None = None
    splits_shots: bool = False  # a PartedInpainter: long shots run as parts on any worker
    chunk_frames: int = 0  # its default part length (`[inpaint] chunk_frames` overrides)

    @property
    def label(self) -> str:
        return f"{KIND_WORDS[self.kind]} engine {self.name!r}"


_K = EngineKind
ENGINES: dict[tuple[EngineKind, str], EngineEntry] = {(e.kind, e.name): e for e in (
    EngineEntry(_K.INPAINT, "classical", "void_core.inpaint.classical:ClassicalInpainter",
                splits_shots=True, chunk_frames=120),
    EngineEntry(_K.INPAINT, "void", "void_core.inpaint.void.engine:VoidInpainter",
                loads_models=True, splits_shots=True, chunk_frames=197),
    EngineEntry(_K.MASKING, "classical", "void_core.masking.classical:ClassicalSegmenter"),
    EngineEntry(_K.MASKING, "sam2", "void_core.masking.sam2_engine:Sam2Segmenter",
                segments_objects=True, loads_models=True),
    EngineEntry(_K.ANALYSIS, "heuristic", "void_core.analysis.heuristic:HeuristicAnalyzer"),
    EngineEntry(_K.ANALYSIS, "gemini", "void_core.analysis.gemini:GeminiAnalyzer",
                external_api="gemini-api"),
    EngineEntry(_K.ANALYSIS, "local-vlm", "void_core.analysis.local_vlm.engine:LocalVlmAnalyzer",
                loads_models=True),
    EngineEntry(_K.REFINE, "flow", "void_core.refine.flow:FlowRefiner"),
    EngineEntry(_K.REFINE, "none", None),
    EngineEntry(_K.REFINE, "void-pass2", "void_core.inpaint.void.pass2_hook:VoidPass2",
                runs_inside="void", injected=("model_dir", "keep_on_device")),
)}


class EngineSettingError(InputError):
    """A setting an engine does not have (a typo in void-farm.toml, say)."""


def names(kind: EngineKind | str) -> list[str]:
    """The registered engine names of `kind`, in table order."""
    return [name for (k, name) in ENGINES if k == kind]


def entry(kind: EngineKind | str, name: str) -> EngineEntry:
    """The table entry of `(kind, name)`.

    Raises:
        EngineNotFoundError: no such engine (the message names the closest one).
    """
    found = ENGINES.get((EngineKind(kind), name))
    if found is None:
        raise EngineNotFoundError(KIND_WORDS[EngineKind(kind)], name, names(kind),
                                  closest(name, names(kind)))
    return found


def closest(word: str, choices: Sequence[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def engine_class(kind: EngineKind | str, name: str) -> type | None:
    """The engine's class, importing its module now (None for the do-nothing refiner)."""
    target = entry(kind, name).target
    if target is None:
        return None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def setting_names(kind: EngineKind | str, name: str) -> list[str] | None:
    """The settings the engine takes (its constructor's keyword parameters); None when it takes
    any (a `**settings` constructor)."""
    cls = engine_class(kind, name)
    if cls is None:
        return []
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    injected = entry(kind, name).injected
    return [p.name for p in parameters if p.kind is not inspect.Parameter.VAR_POSITIONAL
            and p.name not in injected]


def check_settings(kind: EngineKind | str, name: str, settings: Mapping[str, Any], *,
                   where: str | Path | None = None, section: str | None = None) -> None:
    """Refuse a setting the engine does not take, naming the closest one.

    Raises:
        EngineNotFoundError / EngineSettingError: one line each.
    """
    known = setting_names(kind, name)
    if known is None:
        return
    for key in settings:
        if key not in known:
            near = closest(key, known)
            place = f"[{section}] " if section else ""
            hint = (f"did you mean {near!r}?" if near else
                    f"the {entry(kind, name).label} takes: {', '.join(known) or 'no settings'}")
            raise EngineSettingError(where, f"{place}unknown setting {key!r} for the "
                                     f"{entry(kind, name).label}", hint)


def create_engine(kind: EngineKind | str, name: str, **settings) -> Any:
    """A new engine of `kind` registered as `name`, built with `settings` (checked first);
    None for the refiner "none".

    Raises:
        EngineNotFoundError / EngineSettingError: unknown engine or setting.
        InputError: a refiner that runs inside an inpainting engine, asked for on its own.
    """
    found = entry(kind, name)
    if found.runs_inside is not None:
        raise InputError(None, f"the {name} refiner runs inside the {found.runs_inside} engine",
                         f"use it with --engine {found.runs_inside}")
    check_settings(kind, name, settings)
    cls = engine_class(kind, name)
    return None if cls is None else cls(**settings)


_shared: dict[tuple[str, str, str], Any] = {}
_shared_lock = threading.Lock()


def shared_engine(kind: EngineKind | str, name: str, settings: Mapping[str, Any]) -> Any:
    """This process's instance of the engine with these settings, built on first use.

    Workers run shot after shot: the same instance serves them all, so its identity,
    resources and model checksums are computed once (and a model, once loaded, stays).
    """
    key = (str(kind), name, json.dumps(settings, sort_keys=True, default=str))
    with _shared_lock:
        if key not in _shared:
            _shared[key] = create_engine(kind, name, **settings)
        return _shared[key]


# --- what an engine declares ----------------------------------------------------------------


def describe(engine) -> list | None:
    """[name, version, settings]: how lineage records an engine (None for no engine)."""
    return None if engine is None else [engine.name, engine.version, engine.settings()]


def resources(kind: EngineKind | str, engine) -> dict:
    """What a scheduler reserves for the engine (one CPU when there is none)."""
    return dict(DEFAULT_RESOURCES) if engine is None else dict(engine.resources())


def model_checksums(kind: EngineKind | str, engine) -> dict[str, str] | None:
    """{model file: sha256} of the weights the engine reads; None for engines without any."""
    return None if engine is None else engine.model_checksums()


def model_loads(kind: EngineKind | str, engine) -> int:
    """How often the engine loaded its model (1 for engines without one)."""
    return engine.load_count if entry(kind, engine.name).loads_models else 1


def segments_objects(kind: EngineKind | str, name: str) -> bool:
    """Whether the masking engine also segments the analysis' affected objects."""
    return entry(kind, name).segments_objects


def runs_inside(kind: EngineKind | str, name: str) -> str | None:
    """The inpainting engine a refiner runs within, if it does."""
    return entry(kind, name).runs_inside


def external_api(kind: EngineKind | str, name: str) -> str | None:
    """The concurrency limit (`gemini-api`) a stage using this engine takes a slot of, if any."""
    return entry(kind, name).external_api


__all__ = ["ENGINES", "Analyzer", "Engine", "EngineEntry", "EngineNotFoundError",
           "EngineSettingError", "Inpainter", "ObjectSegmenter", "PartedInpainter", "Refiner",
           "Segmenter",
           "check_settings", "create_engine", "describe", "entry", "external_api",
           "model_checksums", "model_loads", "names", "resources", "runs_inside",
           "segments_objects", "setting_names", "shared_engine"]
