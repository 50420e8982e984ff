"""Refinement engines, chosen by name: they stabilise a stream of fills over time."""

from __future__ import annotations

from void_core.errors import EngineNotFoundError

REFINERS = ("flow", "none", "void-pass2")
# Refiners that run inside an inpainting engine (on its model-size frames), not on its fills.
ENGINE_REFINERS = {"void-pass2": "void"}


def create_refiner(name: str, **settings):
    """The refiner registered under `name`; None for "none"."""
    if name == "none":
        return None
    if name == "flow":
        from void_core.refine.flow import FlowRefiner

        return FlowRefiner(**settings)
    if name in ENGINE_REFINERS:
        from void_core.errors import InputError

        raise InputError(None, f"the {name} refiner runs inside the {ENGINE_REFINERS[name]} engine",
                         f"use it with --engine {ENGINE_REFINERS[name]}")
    raise EngineNotFoundError("refinement", name, list(REFINERS))
