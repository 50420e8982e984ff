"""Handled errors: one line for the user, intact across process boundaries."""

from __future__ import annotations

from void_core.errors import InputError


def test_handled_errors_survive_pickling_between_processes():
    import pickle

    from void_core.errors import AnalysisError, EngineNotFoundError, MaskError

    for error in (InputError("/a/b.mov", "media not found", "give --media-root"),
                  MaskError(None, "mask too small"), EngineNotFoundError("inpaint", "x", ["classical"]),
                  AnalysisError("gemini", "quota", "wait", retryable=True)):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
        assert copy.__dict__ == error.__dict__
