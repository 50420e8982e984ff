"""Every file and folder name void-farm writes or looks for, and the one sanitiser.

    OUT/<shot>/<shot>.<frame>.exr          the clean plates (`exr_pattern`, `exr_frame`)
    OUT/qc/<shot>_preview.mp4, _contact.png, _strip.jpg  QC (`qc_preview`, `qc_contact_sheet`,
                                           `qc_strip`)
    OUT/.void-work/<shot>/                 a shot's work folder: owner.lock, prompt.json, points.json,
                                           black_mask.mp4, vlm_analysis.json, quadmask_0.mp4,
                                           affected_objects/, source/ (a staged clip)
    OUT/void-farm-lineage.db               the run's lineage database (SQLite default)
    OUT/<cutlist>.summary.json, .conformed.otio   named after the cut-list file, never after
                                           the timeline name inside it (`cutlist_stem`)

Names that come from outside (clip names, timeline names, shot folders) pass through
`safe_component` before they become part of a path.
"""

from __future__ import annotations

import re
from pathlib import Path

# In the order a cut list's clip name is tried against the media (editorial favours .mov).
VIDEO_SUFFIXES = (".mov", ".mp4", ".mxf", ".mkv", ".m4v", ".avi", ".webm")

# VOID's shot-folder layout.
PLATE_VIDEO = "input_video.mp4"
PLATE_FOLDERS = ("input", "plate")
MASK_NAMES = ("quadmask_0.mp4", "trimask_quadmask.mp4")  # in the order VOID looks for them
QUADMASK = MASK_NAMES[0]
POINTS_JSON = "points.json"
POINTS_GLOB = "*_points.json"  # VOID's own click files
PROMPT_JSON = "prompt.json"

# A shot's work folder.
WORK_FOLDER = ".void-work"
BLACK_MASK = "black_mask.mp4"
ANALYSIS_JSON = "vlm_analysis.json"
AFFECTED_MASKS = "affected_objects"  # the affected objects' masks, when the masker segments them
STAGED_CLIP = "source"
OWNER_LOCK = "owner.lock"  # which run holds the shot (void_core.ownership)
PARTS_FOLDER = "parts"  # a long shot's inpaint in parts: prepare's files, each part's stats
PARTS_PLAN = "parts.json"  # the edit boxes, the parts, prepare's stats

# Outputs.
QC_FOLDER = "qc"
LINEAGE_DB = "void-farm-lineage.db"
SUMMARY_SUFFIX = ".summary.json"
CONFORMED_SUFFIX = ".conformed.otio"

MAX_COMPONENT = 64
# Frame numbers become file names (`sh010.1001.exr`) and lineage integers: 0 ... 8 digits.
LAST_FRAME_NUMBER = 99_999_999
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_SHOT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def plate_names() -> tuple[str, ...]:
    """What a VOID-layout folder may call its plate, in the order looked for."""
    stem = Path(PLATE_VIDEO).stem
    others = tuple(stem + suffix for suffix in VIDEO_SUFFIXES if stem + suffix != PLATE_VIDEO)
    return (PLATE_VIDEO, *others, *PLATE_FOLDERS)


def safe_component(text: str, fallback: str = "") -> str:
    """`text` as one safe file-name component: ASCII letters, digits, '_' and '-' only (so no
    separator, no '..', no control character), at most 64 characters, the same for the same
    text; `fallback` when nothing usable is left."""
    return _UNSAFE.sub("_", text).strip("_-")[:MAX_COMPONENT].strip("_-") or fallback


def is_shot_name(name: str) -> bool:
    """Whether `name` can name a shot's folder and files as given (no separator, no leading dot)."""
    return bool(_SHOT_NAME.match(name)) and len(name) <= 255


def frame_range_problem(first: int, count: int) -> str | None:
    """Why frames `first` .. `first + count - 1` cannot be written, or None when they can."""
    last = first + count - 1
    if count < 1:
        return f"{count} frame(s): a shot needs at least one"
    if first < 0:
        return f"first frame {first} is negative"
    if last > LAST_FRAME_NUMBER:
        return f"frames {first}-{last} go past {LAST_FRAME_NUMBER}, the largest frame number"
    return None


def work_dir(out_root: Path, shot: str) -> Path:
    return Path(out_root) / WORK_FOLDER / shot


def parts_dir(out_root: Path, shot: str) -> Path:
    """`OUT/.void-work/<shot>/parts/`: what a long shot's parts share (any worker reads it)."""
    return work_dir(out_root, shot) / PARTS_FOLDER


def part_stats(label: str) -> str:
    """`part-0001-0120.json`: one part's engine stats, timings and plate values."""
    return f"part-{label}.json"


def shot_lock(out_root: Path, shot: str) -> Path:
    """`OUT/.void-work/<shot>/owner.lock`: the run that owns the shot now."""
    return work_dir(out_root, shot) / OWNER_LOCK


def exr_dir(out_root: Path, shot: str) -> Path:
    return Path(out_root) / shot


def exr_pattern(out_root: Path, shot: str) -> Path:
    """`OUT/sh010/sh010.####.exr`, as lineage records the sequence."""
    return exr_dir(out_root, shot) / f"{shot}.####.exr"


def exr_frame(out_dir: Path, shot: str, frame: int) -> Path:
    return Path(out_dir) / f"{shot}.{frame:04d}.exr"


def exr_range(out_dir: Path, shot: str, first: int, last: int) -> Path:
    """`OUT/sh010/sh010.1001-1048.exr`, how a summary line names the frames."""
    return Path(out_dir) / f"{shot}.{first:04d}-{last:04d}.exr"


def qc_dir(out_root: Path) -> Path:
    return Path(out_root) / QC_FOLDER


def qc_preview(out_root: Path, shot: str) -> Path:
    return qc_dir(out_root) / f"{shot}_preview.mp4"


def qc_contact_sheet(out_root: Path, shot: str) -> Path:
    return qc_dir(out_root) / f"{shot}_contact.png"


def qc_strip(out_root: Path, shot: str) -> Path:
    """The small before | overlay | after JPEG the QC artifact embeds."""
    return qc_dir(out_root) / f"{shot}_strip.jpg"


def lineage_db(out_root: Path) -> Path:
    return Path(out_root) / LINEAGE_DB


def default_lineage_url(out_root: Path) -> str:
    """A run's own SQLite lineage database, beside its outputs."""
    return f"sqlite:///{lineage_db(out_root).resolve()}"


def cutlist_stem(cutlist: str | Path) -> str:
    """The name a cut list's outputs carry: its file's stem, sanitised (`reel1.edl` -> `reel1`).
    Never the timeline name inside the file: two cut lists with one title must not collide,
    and a title like "../../x" must not become a path."""
    return safe_component(Path(cutlist).stem, "cutlist")


def summary_file(out_root: Path, cutlist: str | Path) -> Path:
    """`OUT/<cutlist stem>.summary.json` for the cut-list file `cutlist`."""
    return Path(out_root) / f"{cutlist_stem(cutlist)}{SUMMARY_SUFFIX}"


def conformed_file(out_root: Path, cutlist: str | Path) -> Path:
    """`OUT/<cutlist stem>.conformed.otio` for the cut-list file `cutlist`."""
    return Path(out_root) / f"{cutlist_stem(cutlist)}{CONFORMED_SUFFIX}"


def lineage_db_beside(path: Path) -> Path | None:
    """The run database of an output file: `OUT/sh010/sh010.1001.exr` -> `OUT/void-farm-lineage.db`
    (also a file directly in OUT, e.g. a conformed OTIO, or OUT itself). None when there is none."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    for candidate in (folder.parent / LINEAGE_DB, folder / LINEAGE_DB):
        if candidate.is_file():
            return candidate
    return None
