"""The QC artifact and the per-shot table the flow publishes (flows/qc_report.py)."""

from __future__ import annotations

import base64

import cv2
import numpy as np

from flows.cutlist_flow import ShotOutcome
from flows.qc_report import EMBED_LIMIT, link_for, qc_markdown, shot_rows, strip_image
from void_core.vocabulary import RunStatus


def _strip(path, size=(48, 32)):
    ok, encoded = cv2.imencode(".jpg", np.full((size[1], size[0], 3), 90, np.uint8))
    assert ok
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encoded.tobytes())
    return path


def _outcomes(out):
    clean = ShotOutcome(
        name="sh010", status=RunStatus.SUCCEEDED, frames=48, seconds=12.5,
        out_dir=str(out / "sh010"), preview=str(out / "qc" / "sh010_preview.mp4"),
        contact_sheet=str(out / "qc" / "sh010_contact.png"),
        strip=str(_strip(out / "qc" / "sh010_strip.jpg")),
        stages={"ingest": "succeeded", "masking": "provided", "analysis": "provided",
                "inpaint": "succeeded", "qc": "skipped"},
        stage_seconds={"ingest": 0.21, "masking": 0.0, "analysis": 0.0, "inpaint": 11.04,
                       "qc": 0.0},
        stage_where={"ingest": "render01 (node 11aa22bb)",
                     "inpaint": "render02 (node 33cc44dd, NVIDIA L40S)",
                     "qc": "render01 (node 11aa22bb)"},
        notes=["shadow | kept", "![not an image](x)"])
    failed = ShotOutcome(name="sh020", status=RunStatus.FAILED, failed_stage="masking",
                         error="sh020: click (500, 10) is outside the 128x80 frame",
                         stages={"ingest": "succeeded", "masking": "failed"})
    return [clean, failed]


def _summary(out):
    return {"out": str(out), "succeeded": 1, "failed": 1,
            "conformed_otio": str(out / "reel1.conformed.otio")}


def test_the_qc_markdown_embeds_each_strip_and_keeps_notes_inert(tmp_path):
    out = tmp_path / "out"
    outcomes = _outcomes(out)
    text = qc_markdown("reel1", outcomes, _summary(out))
    encoded = base64.b64encode((out / "qc" / "sh010_strip.jpg").read_bytes()).decode()
    assert f"![sh010: before | overlay | after](data:image/jpeg;base64,{encoded})" in text
    assert "## sh010 · 48 frames" in text and "## sh020 · failed at masking" in text
    assert "- shadow / kept" in text and "! [not an image](x)" in text  # no table, no image
    assert f"[preview (mp4)]({(out / 'qc' / 'sh010_preview.mp4').as_uri()})" in text
    assert "> sh020: click (500, 10) is outside the 128x80 frame" in text


def test_a_qc_url_turns_files_in_out_into_http_links(tmp_path):
    out = tmp_path / "out"
    text = qc_markdown("reel1", _outcomes(out), _summary(out), qc_url="https://web/cleanup/")
    assert "[preview (mp4)](https://web/cleanup/qc/sh010_preview.mp4)" in text
    assert "[contact sheet (png)](https://web/cleanup/qc/sh010_contact.png)" in text
    assert "file://" not in text
    outside = tmp_path / "elsewhere" / "a b.mp4"
    assert link_for(outside, out, "https://web") == outside.resolve().as_uri()
    assert link_for(out / "qc" / "a b.mp4", out, "https://web") == "https://web/qc/a%20b.mp4"


def test_a_missing_or_oversized_strip_is_not_embedded(tmp_path):
    assert strip_image("sh010", str(tmp_path / "gone.jpg")) is None
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8\xff" + b"0" * EMBED_LIMIT)
    assert strip_image("sh010", str(big)) is None


def test_the_shot_table_has_seconds_and_place_per_stage(tmp_path):
    clean, failed = shot_rows(_outcomes(tmp_path / "out"))
    assert clean["frames"] == 48 and clean["seconds"] == 12.5
    assert clean["inpaint"] == "11.0 s on render02 (node 33cc44dd, NVIDIA L40S)"
    assert clean["masking"] == "provided" and clean["qc"] == "skipped on render01 (node 11aa22bb)"
    assert failed["masking"] == "failed" and failed["inpaint"] == ""
    assert failed["error"].startswith("sh020: click")
