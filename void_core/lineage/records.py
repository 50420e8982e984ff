"""What lineage reads return: plain frozen dataclasses, detached from the database session.

Field names match the columns in `models.py`. `as_json` turns any record (or list of them) into
JSON-ready dicts, timestamps as ISO 8601 UTC strings.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class RunRecord:
    id: str
    name: str
    kind: str
    status: str
    started: datetime
    finished: datetime | None
    settings: dict[str, Any]
    host: str | None
    software_version: str | None
    prefect_flow_run_id: str | None
    error: str | None
    pid: int | None = None
    heartbeat: datetime | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ShotRecord:
    id: str
    run_id: str
    name: str
    source_path: str | None
    source_digest: str | None
    frame_first: int | None
    frame_last: int | None
    record_range: str | None
    rate: str | None
    status: str
    error: str | None
    started: datetime
    finished: datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class ArtifactRecord:
    id: str
    stage_run_id: str
    kind: str
    path_pattern: str
    frame_first: int | None
    frame_last: int | None
    digest: str | None
    bytes: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class StageRecord:
    """One stage run. A skipped stage carries the artifacts of the run it reused."""

    id: str
    shot_id: str
    stage: str
    identity: str
    engine: str
    engine_version: str | None
    engine_settings: dict[str, Any]
    model_checksums: dict[str, Any]
    status: str
    attempt: int
    error: str | None
    started: datetime
    finished: datetime | None
    seconds: float | None
    worker: str | None
    prefect_task_run_id: str | None
    reused_from_id: str | None
    node_id: str | None = None
    hostname: str | None = None
    gpu_name: str | None = None
    part: str | None = None  # one part of a split stage ("prepare", "0001-0120", "finish")
    artifacts: tuple[ArtifactRecord, ...] = ()

    @property
    def engine_label(self) -> str:
        """`name@version`, or just the name when the version is unknown."""
        return f"{self.engine}@{self.engine_version}" if self.engine_version else self.engine


@dataclasses.dataclass(frozen=True, slots=True)
class TraceRecord:
    """The answer to "what produced this?" for one shot of one run.

    `stages` is the shot's whole chain in start order. For a file query, `matched` is the
    artifact the file belongs to and `frame` its frame number (None for a single file);
    `changed` says how the file on disk differs from what the run wrote (None: it does not, or
    nothing was recorded to compare with).
    """

    run: RunRecord
    shot: ShotRecord
    stages: tuple[StageRecord, ...]
    matched: ArtifactRecord | None = None
    frame: int | None = None
    changed: str | None = None


def as_json(value: Any) -> Any:
    """JSON-ready dicts/lists for records (or lists of records), datetimes in ISO 8601."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: as_json(getattr(value, field.name))
                for field in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [as_json(item) for item in value]
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value
