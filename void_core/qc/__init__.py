"""Quick looks for people: before | quadmask overlay | after, as a preview MP4, a contact
sheet PNG, or a small JPEG strip meant to be embedded in a web page (the Prefect UI's QC
artifact shows it inline as a data URI, so it is bounded in bytes).

Everything streams: one frame of plate, quadmask and EXR at a time, decoded once for all three
files (`write_qc`); the sheet and strip keep only their few small rows. A long shot's QC runs
in parts (`write_qc_part`: a preview segment and the rows sampled in its frames) joined by
`join_qc_parts` (the segments remuxed, no re-encode).

    frames.py  the panels of one frame (before, overlay, after), sizes and sampling
    write.py   the one walk over the frames and the three files
    parts.py   parts and their join
"""

from void_core.qc.frames import (
    DEFAULT_RATE, PANEL_LABELS, PREVIEW_CRF, SHEET_LABEL_HEIGHT, STRIP_MAX_BYTES, STRIP_QUALITIES,
    Sources, mask_overlay, open_sources, preview_panel_size, sample_indices,
)
from void_core.qc.parts import join_qc_parts, join_segments, part_files, write_qc_part
from void_core.qc.write import (
    QcLayout, Rows, qc_layout, write_contact_sheet, write_qc, write_qc_preview, write_qc_strip,
)

_open_sources = open_sources  # the name tests knew it by

__all__ = [
    "DEFAULT_RATE", "PANEL_LABELS", "PREVIEW_CRF", "SHEET_LABEL_HEIGHT", "STRIP_MAX_BYTES",
    "STRIP_QUALITIES", "QcLayout", "Rows", "Sources", "join_qc_parts", "join_segments",
    "mask_overlay", "open_sources", "part_files", "preview_panel_size", "qc_layout",
    "sample_indices", "write_contact_sheet", "write_qc", "write_qc_part", "write_qc_preview",
    "write_qc_strip",
]
