"""Cut lists (CMX 3600 EDL, OTIO, FCP 7 XML) -> `ShotSpec`s: media, ranges, rates, instructions.

    cut = read_cutlist("reel1.edl", media_root="/show/plates", rate="23.976")
    for shot in cut.shots:
        shot.name, shot.media_path, shot.source_range, shot.instructions, shot.prompt

Editors mark shots with locators/markers whose text starts with `VOID:` ("VOID: remove the
boom mic"), or with structured marker/clip metadata under "void" (see `instructions`).
The grammar for users is in docs/cutlists.md.
"""

from void_core.cutlist.instructions import void_text
from void_core.cutlist.model import CutList, ShotSpec, exact_rate
from void_core.cutlist.reader import read_cutlist, safe_name

__all__ = ["CutList", "ShotSpec", "exact_rate", "read_cutlist", "safe_name", "void_text"]
