"""Find a shot's source media on disk.

Order: the paths the cut list gives (media reference incl. `file://` URLs and image sequences,
then EDL `* SOURCE FILE:` comments), absolute or relative to the cut list's folder; then the
same file names under the media root; then the clip name and the reel name as a video file
(.mov .mp4 .mxf .mkv ...) or as a folder in VOID's layout (`<name>/input_video.mp4`). Names
are matched case-insensitively (editors' reel names are often upper-cased); an exact-case
match wins, then the shallowest path. Without a media root only the cut list's own folder is
searched for names, never recursively.

With a media root, media is read only from inside the media root or the cut list's own folder,
judged on the real path (symlinks followed): a path the cut list gives that leads elsewhere
(`/etc/shadow`, `../../other_show/plate.mov`, a link out of either folder) is not read; the
shot gets a warning naming it, and the search goes on by file name under the media root.
Without a media root the cut list is trusted as it is: its absolute and relative paths are read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.parse import unquote, urlparse

import opentimelineio as otio

from void_core.naming import PLATE_VIDEO as VOID_VIDEO
from void_core.naming import VIDEO_SUFFIXES

_NOT_NAMES = {"", "AX", "BL", "BLACK", "BARS"}  # EDL placeholder reels


@dataclass(frozen=True)
class MediaMatch:
    path: Path | None
    resolved: bool
    hint: str  # how it was found, or what was looked for
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Wanted:
    """One file the cut list points at: where it says it is, and what to call it on disk."""

    given: str  # as written, for messages
    path: Path | None  # a local path (None for http:// and the like)
    basename: str
    pattern: str | None = None  # `name.####.exr` when it is an image sequence


class MediaResolver:
    """Resolves media for every shot of one cut list; indexes the media root once, lazily."""

    def __init__(self, base_dir: Path, media_root: Path | None,
                 bundle_members: frozenset[str] = frozenset()):
        self.base_dir = base_dir
        self.media_root = media_root
        self.bundle_members = bundle_members  # relative paths stored inside an .otioz
        self._index: dict[str, list[Path]] | None = None
        # Long cut lists name the same few plates thousands of times: look each name up once.
        self._looked_up: dict[str, tuple[Path | None, tuple[str, ...]]] = {}

    def resolve(self, reference: otio.core.MediaReference | None, extra_paths: list[str],
                names: list[str]) -> MediaMatch:
        wanted = [w for w in [_from_reference(reference), *map(_from_path, extra_paths)] if w]
        refused: list[str] = []
        for item in wanted:
            found = self._as_given(item)
            if found is not None and not self._inside(found):
                refused.append(item.given)
            elif found is not None:
                return MediaMatch(found, True, f"found at {item.given}")
        outside = tuple(f"media {given} is outside the media root {self.media_root} and the "
                        "cut list's folder: not read" for given in refused)
        for item in wanted:
            found, warnings = self._by_name(item.basename, item.pattern)
            if found is not None:
                return MediaMatch(found, True, f"found by file name {item.basename}",
                                  outside + warnings)
        for name in _usable_names(names):
            found, warnings = self._by_clip_name(name)
            if found is not None:
                return MediaMatch(found, True, f"found by name {name}", outside + warnings)
        return MediaMatch(None, False, self._hint(wanted, _usable_names(names), refused), outside)

    def _inside(self, path: Path) -> bool:
        """True without a media root; else whether `path`, links followed, lies under the media
        root or the cut list's folder."""
        if self.media_root is None:
            return True
        real = Path(os.path.realpath(path))
        return real.is_relative_to(self.media_root) or real.is_relative_to(self.base_dir)

    # --- lookups -------------------------------------------------------------------------

    def _as_given(self, item: _Wanted) -> Path | None:
        if item.path is None:
            return None
        path = item.path if item.path.is_absolute() else self.base_dir / item.path
        if item.pattern is not None:
            return path.parent / item.pattern if path.is_file() else None
        if path.is_file():
            return path
        if (path / VOID_VIDEO).is_file():
            return path / VOID_VIDEO
        return None

    def _by_name(self, basename: str, pattern: str | None) -> tuple[Path | None, tuple[str, ...]]:
        found, warnings = self._lookup(basename)
        if found is not None and pattern is not None:
            found = found.parent / pattern
        return found, warnings

    def _by_clip_name(self, name: str) -> tuple[Path | None, tuple[str, ...]]:
        if Path(name).suffix.lower() in VIDEO_SUFFIXES:
            return self._lookup(name)
        for candidate in [name + suffix for suffix in VIDEO_SUFFIXES] + [f"{name}/{VOID_VIDEO}"]:
            found, warnings = self._lookup(candidate)
            if found is not None:
                return found, warnings
        return None, ()

    def _lookup(self, relative_name: str) -> tuple[Path | None, tuple[str, ...]]:
        """`name` or `folder/name` in the cut list's folder, then anywhere under the media root."""
        if relative_name not in self._looked_up:
            self._looked_up[relative_name] = self._uncached_lookup(relative_name)
        return self._looked_up[relative_name]

    def _uncached_lookup(self, relative_name: str) -> tuple[Path | None, tuple[str, ...]]:
        local = self.base_dir / relative_name
        if local.is_file() and self._inside(local):
            return local, ()
        if self.media_root is None:
            return None, ()
        matches = [path for path in self._matches(relative_name) if self._inside(path)]
        if not matches:
            return None, ()
        chosen = matches[0]
        if len(matches) == 1:
            return chosen, ()
        return chosen, (f"{len(matches)} files match {relative_name} under {self.media_root}; "
                        f"using {chosen}",)

    def _matches(self, relative_name: str) -> list[Path]:
        parts = PurePosixPath(relative_name).parts
        hits = [path for path in self._files().get(parts[-1].lower(), [])
                if len(parts) == 1 or path.parent.name.lower() == parts[0].lower()]
        exact = [path for path in hits if path.name == parts[-1]]
        return sorted(exact or hits, key=lambda p: (len(p.parts), str(p)))

    def _files(self) -> dict[str, list[Path]]:
        if self._index is None:
            self._index = {}
            for folder, subfolders, files in os.walk(self.media_root):
                subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
                for name in files:
                    self._index.setdefault(name.lower(), []).append(Path(folder) / name)
        return self._index

    # --- messages ------------------------------------------------------------------------

    def _hint(self, wanted: list[_Wanted], names: list[str], refused: list[str]) -> str:
        """E.g. "/show/sh020.mov, then sh020 or ABC0020 as .mov/.mp4/.mxf/.mkv or
        <name>/input_video.mp4, under /media"."""
        if refused:
            return (f"{', '.join(refused)} is outside the media root {self.media_root} and the "
                    "cut list's folder, and nothing of its name or the clip's is under the media "
                    "root (copy the plate under the media root)")
        parts = [", ".join(item.given for item in wanted)] if wanted else []
        if names:
            parts.append(f"{' or '.join(names)} as {'/'.join(VIDEO_SUFFIXES[:4])} or "
                         f"<name>/{VOID_VIDEO}")
        if not parts:
            return "the cut list names no media, clip or reel"
        where = f"under {self.media_root}" if self.media_root else \
            f"in {self.base_dir} (no media root given)"
        hint = f"{', then '.join(parts)}, {where}"
        if any(item.given in self.bundle_members for item in wanted):
            hint += "; the .otioz bundle holds it: unzip it beside the bundle"
        return hint


def url_to_path(url: str) -> Path | None:
    """A local path for a `file://` URL or a plain path; None for other schemes."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        host = parsed.netloc if parsed.netloc not in ("", "localhost") else ""
        return Path(f"//{host}{unquote(parsed.path)}" if host else unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # http:, s3:, ... (one letter: a Windows drive)
        return None
    return Path(url)


def _basename(text: str) -> str:
    pure = PureWindowsPath(text) if "\\" in text else PurePosixPath(text)
    return pure.name


def _from_path(text: str) -> _Wanted | None:
    text = text.strip()
    if not text:
        return None
    return _Wanted(text, url_to_path(text), _basename(unquote(urlparse(text).path) or text))


def _from_reference(reference: otio.core.MediaReference | None) -> _Wanted | None:
    if isinstance(reference, otio.schema.ExternalReference) and reference.target_url:
        return _from_path(reference.target_url)
    if isinstance(reference, otio.schema.ImageSequenceReference) and reference.target_url_base:
        return _from_sequence(reference)
    return None


def _from_sequence(reference: otio.schema.ImageSequenceReference) -> _Wanted:
    """Look for the first frame; hand on a `name.####.ext` pattern the plate reader accepts."""
    padding = max(reference.frame_zero_padding, 1)
    first = f"{reference.name_prefix}{reference.start_frame:0{padding}d}{reference.name_suffix}"
    pattern = f"{reference.name_prefix}{'#' * padding}{reference.name_suffix}"
    folder = url_to_path(reference.target_url_base)
    given = f"{reference.target_url_base.rstrip('/')}/{first}"
    return _Wanted(given, folder / first if folder is not None else None, first, pattern)


def _usable_names(names: list[str | None]) -> list[str]:
    seen: list[str] = []
    for name in names:
        name = (name or "").strip()
        if name.upper() not in _NOT_NAMES and "/" not in name and name not in seen:
            seen.append(name)
    return seen
