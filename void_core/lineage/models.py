"""Lineage schema as SQLAlchemy 2 ORM classes: run -> shot -> stage_run -> artifact.

Rows are append-only history. A stage's retry is a new `stage_run` row; a row is only ever
completed (status, finished, seconds, error), never rewritten. The Alembic migrations in
`migrations/versions/` create exactly this schema (a test compares them).

Primary keys are UUIDv7 strings, so ids sort by creation time. Timestamps are timezone-aware UTC
on the way in and out, on SQLite (which stores naive text) as on PostgreSQL (timestamptz).
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON, BigInteger, CheckConstraint, DateTime, ForeignKey, MetaData, String, Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from void_core.vocabulary import (
    LINEAGE_ONLY_STAGES, LINEAGE_STAGE_STATUSES, RunKind, RunStatus, Stage,
)

RUN_KINDS = tuple(RunKind)
RUN_STATUSES = tuple(RunStatus)
SHOT_STATUSES = RUN_STATUSES
# The schema's check constraint lists these in this order (see the initial migration).
STAGES = (Stage.INGEST, Stage.ANALYSIS, Stage.MASKING, Stage.INPAINT, *LINEAGE_ONLY_STAGES,
          Stage.QC)
STAGE_STATUSES = LINEAGE_STAGE_STATUSES
ARTIFACT_KINDS = ("exr_sequence", "mask", "preview", "contact_sheet", "otio", "json", "work")

# Stable constraint names, so Alembic autogenerate and batch mode on SQLite can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    """A UUIDv7 string: 48 bits of Unix milliseconds, then random bits (RFC 9562)."""
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database stores."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"lineage timestamps must be timezone-aware, got {value!r}")
        value = value.astimezone(timezone.utc)
        # SQLite's DATETIME text drops the offset; store naive UTC there explicitly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


JSONDocument = JSON().with_variant(JSONB(), "postgresql")


def _one_of(column: str, choices: tuple[str, ...]) -> CheckConstraint:
    allowed = ", ".join(f"'{choice}'" for choice in choices)
    return CheckConstraint(f"{column} IN ({allowed})", name=column)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONDocument}


class Run(Base):
    """One invocation of the pipeline over a shot or a cut list."""

    __tablename__ = "run"
    __table_args__ = (_one_of("kind", RUN_KINDS), _one_of("status", RUN_STATUSES))

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    started: Mapped[datetime]
    finished: Mapped[datetime | None]
    settings: Mapped[dict[str, Any]]
    host: Mapped[str | None]
    software_version: Mapped[str | None]
    prefect_flow_run_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    # The process that runs it, and when it last said it was alive: a running run whose
    # process is gone is "abandoned" (see `LineageStore.mark_abandoned`).
    pid: Mapped[int | None]
    heartbeat: Mapped[datetime | None]

    shots: Mapped[list[Shot]] = relationship(back_populates="run")


class Shot(Base):
    """One shot of a run: its source media and frame ranges."""

    __tablename__ = "shot"
    __table_args__ = (_one_of("status", SHOT_STATUSES),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    run_id: Mapped[str] = mapped_column(ForeignKey("run.id"), index=True)
    name: Mapped[str] = mapped_column(String, index=True)
    source_path: Mapped[str | None] = mapped_column(String, index=True)
    source_digest: Mapped[str | None] = mapped_column(String(128))
    frame_first: Mapped[int | None]
    frame_last: Mapped[int | None]
    record_range: Mapped[str | None]
    rate: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    started: Mapped[datetime]
    finished: Mapped[datetime | None]

    run: Mapped[Run] = relationship(back_populates="shots")
    stage_runs: Mapped[list[StageRun]] = relationship(back_populates="shot")


class StageRun(Base):
    """One attempt at one stage of one shot (a retry or a skip is a new row)."""

    __tablename__ = "stage_run"
    __table_args__ = (_one_of("stage", STAGES), _one_of("status", STAGE_STATUSES))

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    shot_id: Mapped[str] = mapped_column(ForeignKey("shot.id"), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    identity: Mapped[str] = mapped_column(String(128), index=True)
    engine: Mapped[str]
    engine_version: Mapped[str | None]
    engine_settings: Mapped[dict[str, Any]]
    model_checksums: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int]
    error: Mapped[str | None] = mapped_column(Text)
    started: Mapped[datetime]
    finished: Mapped[datetime | None]
    seconds: Mapped[float | None]
    worker: Mapped[str | None]
    # Where the attempt ran: Ray node, host, GPU (None outside Ray / without a GPU).
    node_id: Mapped[str | None] = mapped_column(String(64))
    hostname: Mapped[str | None] = mapped_column(String(255))
    gpu_name: Mapped[str | None] = mapped_column(String(255))
    prefect_task_run_id: Mapped[str | None] = mapped_column(String(64))
    # One part of a stage split over workers ("prepare", "0001-0120", "finish"); NULL: whole.
    part: Mapped[str | None] = mapped_column(String(32))
    # A skipped stage points at the completed stage run whose outputs it reused.
    reused_from_id: Mapped[str | None] = mapped_column(ForeignKey("stage_run.id"))

    shot: Mapped[Shot] = relationship(back_populates="stage_runs")
    artifacts: Mapped[list[Artifact]] = relationship(back_populates="stage_run",
                                                     order_by="Artifact.id")


class Artifact(Base):
    """A file or frame sequence a stage run wrote, e.g. `/out/sh010/sh010.####.exr`."""

    __tablename__ = "artifact"
    __table_args__ = (_one_of("kind", ARTIFACT_KINDS),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    stage_run_id: Mapped[str] = mapped_column(ForeignKey("stage_run.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    path_pattern: Mapped[str] = mapped_column(String, index=True)
    frame_first: Mapped[int | None]
    frame_last: Mapped[int | None]
    digest: Mapped[str | None] = mapped_column(String(128))
    bytes: Mapped[int | None] = mapped_column(BigInteger)

    stage_run: Mapped[StageRun] = relationship(back_populates="artifacts")
    files: Mapped[list[ArtifactFile]] = relationship(back_populates="artifact",
                                                     order_by="ArtifactFile.frame")


class ArtifactFile(Base):
    """One file of an artifact as written: size, modification time and digest, so a rerun and
    `void-farm lineage` can tell a file that changed since (truncated, copied over)."""

    __tablename__ = "artifact_file"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    artifact_id: Mapped[str] = mapped_column(ForeignKey("artifact.id"), index=True)
    frame: Mapped[int | None]
    path: Mapped[str] = mapped_column(String)
    bytes: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(128))

    artifact: Mapped[Artifact] = relationship(back_populates="files")
