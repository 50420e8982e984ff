"""What a supervisor sees of a run in the Prefect UI: the QC markdown and the per-shot table.

The Prefect UI renders markdown artifacts with inline images, but a browser will not open a
`file://` link from an `http://` page. So each shot's small before | overlay | after JPEG strip
(OUT/qc/<shot>_strip.jpg, bounded in bytes by the qc stage) is embedded as a data URI, and the
preview MP4 and contact sheet become `http(s)://` links when the studio serves OUT over HTTP
(`--qc-url BASE` or `[qc] url`: OUT/qc/sh010_preview.mp4 -> BASE/qc/sh010_preview.mp4).
"""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import quote

from void_core.qc import STRIP_MAX_BYTES
from void_core.vocabulary import STAGE_ORDER, RunStatus

# A strip bigger than this was not written by this version's qc stage: linked, not embedded.
EMBED_LIMIT = STRIP_MAX_BYTES


def qc_markdown(cut_name: str, outcomes: list, summary: dict, *, qc_url: str | None = None) -> str:
    """The QC artifact: a heading per shot with its strip inline, links, and its notes."""
    out_root = Path(summary["out"])
    lines = [f"# QC: {cut_name}", "",
             f"{summary['succeeded']} shot(s) clean, {summary['failed']} failed. "
             f"Conformed timeline: {_link('otio', summary['conformed_otio'], out_root, qc_url)}",
             ""]
    for outcome in outcomes:
        lines += _shot_section(outcome, out_root, qc_url)
    return "\n".join(lines)


def _shot_section(outcome, out_root: Path, qc_url: str | None) -> list[str]:
    if outcome.status != RunStatus.SUCCEEDED:
        return [f"## {outcome.name} · failed at {outcome.failed_stage}", "",
                f"> {_escaped(outcome.error or 'no reason recorded')}", ""]
    lines = [f"## {outcome.name} · {outcome.frames} frames", ""]
    embedded = strip_image(outcome.name, outcome.strip)
    if embedded:
        lines += [embedded, ""]
    links = [_link("preview (mp4)", outcome.preview, out_root, qc_url),
             _link("contact sheet (png)", outcome.contact_sheet, out_root, qc_url),
             _link("EXRs", outcome.out_dir, out_root, qc_url)]
    lines += [" · ".join(link for link in links if link), ""]
    lines += [f"- {_escaped(note)}" for note in outcome.notes] or ["- no notes"]
    return lines + [""]


def strip_image(shot: str, strip: str | None) -> str | None:
    """`![...](data:image/jpeg;base64,...)` of the shot's strip; None when there is none or it
    is too big to embed."""
    if not strip:
        return None
    path = Path(strip)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) > EMBED_LIMIT:
        return None
    encoded = base64.b64encode(data).decode("ascii")
    return f"![{shot}: before | overlay | after](data:image/jpeg;base64,{encoded})"


def link_for(path: str | Path, out_root: Path, qc_url: str | None) -> str:
    """`qc_url` + the path below OUT when both are given and the path is in OUT; else file://."""
    path = Path(path)
    if qc_url:
        try:
            relative = path.resolve().relative_to(out_root.resolve())
        except ValueError:
            pass
        else:
            return f"{qc_url.rstrip('/')}/{quote(relative.as_posix())}"
    return path.resolve().as_uri()


def _link(text: str, path: str | None, out_root: Path, qc_url: str | None) -> str:
    return f"[{text}]({link_for(path, out_root, qc_url)})" if path else ""


def shot_rows(outcomes: list) -> list[dict]:
    """The per-shot table: frames, total seconds, and per stage its seconds and where it ran."""
    rows = []
    for outcome in outcomes:
        row = {"shot": outcome.name, "status": outcome.status, "frames": outcome.frames,
               "seconds": outcome.seconds}
        for stage in STAGE_ORDER:
            row[str(stage)] = _stage_cell(outcome, stage)
        row["output"] = outcome.out_dir or ""
        row["error"] = outcome.error or ""
        rows.append(row)
    return rows


def _stage_cell(outcome, stage: str) -> str:
    status = outcome.stages.get(stage)
    if status is None:
        return ""
    seconds = outcome.stage_seconds.get(stage)
    where = outcome.stage_where.get(stage)
    parts = [str(status) if status != "succeeded" else ""]
    parts += [f"{seconds:.1f} s"] if seconds is not None and status == "succeeded" else []
    parts += [f"on {where}"] if where else []
    return " ".join(part for part in parts if part)


def _escaped(text: str) -> str:
    """One line of markdown that cannot start a heading, table or image of its own."""
    return " ".join(text.split()).replace("|", "/").replace("![", "! [")
