"""Errors a user can act on.

Every error that comes from bad input or a bad environment is a `VoidFarmError`: the CLI prints
its message as one line (what, where, what to do) and exits non-zero. Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class VoidFarmError(Exception):
    """Base of all handled errors; `str(err)` is the one line shown to the user."""

    retryable: bool = False

    def __reduce__(self):
        # Errors cross process boundaries (Ray workers -> the flow): rebuild them from their
        # state, not by calling the subclass's __init__ with the message (different arguments).
        return (_rebuild_error, (type(self), self.args, self.__dict__))


def _rebuild_error(cls: type, args: tuple, state: dict) -> VoidFarmError:
    error = Exception.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class InputError(VoidFarmError):
    """A file the user gave is missing, unreadable or inconsistent.

    Args:
        path: the offending file (or folder).
        problem: what is wrong with it.
        hint: what to do about it (optional).
    """

    def __init__(self, path: str | Path | None, problem: str, hint: str | None = None):
        self.path = Path(path) if path is not None else None
        self.problem = problem
        self.hint = hint
        where = f"{self.path}: " if self.path is not None else ""
        tail = f" ({hint})" if hint else ""
        super().__init__(f"{where}{problem}{tail}")


class MediaError(InputError):
    """Media that cannot be decoded, or whose frames do not line up."""


class MaskError(InputError):
    """A quadmask that is missing, has the wrong size/length, or bad values."""


class ColourError(InputError):
    """An OCIO config that does not load, or a colour space name it does not know."""


class CutListError(InputError):
    """A cut list that does not parse, or a shot in it that cannot be used."""


class EngineNotFoundError(VoidFarmError):
    """An engine name that is not registered."""

    def __init__(self, stage: str, name: str, known: list[str], closest: str | None = None):
        self.stage, self.name, self.known, self.closest = stage, name, known, closest
        guess = f" (did you mean {closest!r}?)" if closest else ""
        super().__init__(
            f"unknown {stage} engine {name!r}; choose one of: {', '.join(sorted(known))}{guess}"
        )


class AnalysisError(VoidFarmError):
    """An analysis engine that could not analyse: a remote model missing its key, unreachable,
    out of quota, too slow, or answering something that is not an analysis.

    Args:
        engine: the analysis engine's name.
        problem: what went wrong.
        hint: what to do about it (optional).
        retryable: whether running the shot again later may succeed.
    """

    def __init__(self, engine: str, problem: str, hint: str | None = None, *,
                 retryable: bool = False):
        self.engine, self.problem, self.hint = engine, problem, hint
        self.retryable = retryable
        tail = f" ({hint})" if hint else ""
        super().__init__(f"{engine} analysis: {problem}{tail}")


class OutputError(InputError):
    """An output place that cannot take our files: not a folder, read-only, full.

    `from_os_error` turns the operating system's error into the one line a user acts on.
    """

    @classmethod
    def from_os_error(cls, path: str | Path, err: OSError) -> OutputError:
        import errno

        where = Path(err.filename) if getattr(err, "filename", None) else Path(path)
        code = err.errno
        if code == errno.ENOSPC or code == errno.EDQUOT:
            return cls(where, "no space left on the device", "free space, or give another --out")
        if code in (errno.EROFS, errno.EACCES, errno.EPERM):
            return cls(where, "is not writable (read-only or no permission)",
                       "check the folder's permissions and mount, or give another --out")
        if code in (errno.EEXIST, errno.ENOTDIR):
            return cls(where, "a file is in the way of a folder void-farm needs",
                       "move the file, or give another --out")
        return cls(where, f"cannot write: {err.strerror or err}", "check the storage")
