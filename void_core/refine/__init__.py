"""Refinement engines, chosen by name: they stabilise a stream of fills over time."""

from __future__ import annotations

from void_core.errors import EngineNotFoundError

REFINERS = ("flow", "none")


def create_refiner(name: str, **settings):
    """The refiner registered under `name`; None for "none"."""
    if name == "none":
        return None
    if name == "flow":
        from void_core.refine.flow import FlowRefiner

        return FlowRefiner(**settings)
    raise EngineNotFoundError("refinement", name, list(REFINERS))
