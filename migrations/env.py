"""Alembic environment for the lineage schema.

Two ways in: `void_core.lineage.db` (`void-farm db upgrade`) hands over an open connection,
already inside a transaction and holding the schema lock, in `config.attributes["connection"]`;
the `alembic` command run from a checkout (the root's alembic.ini) has none, so an engine is made
from the config's `sqlalchemy.url`, else `$VOID_FARM_DB` (`db.resolve_url`). Offline mode
(`--sql`) renders the DDL as text.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from void_core.lineage.db import VERSION_TABLE, create_lineage_engine, resolve_url
from void_core.lineage.models import Base

config = context.config


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or resolve_url()


def _configure(**options) -> None:
    context.configure(
        target_metadata=Base.metadata,
        version_table=config.get_main_option("version_table") or VERSION_TABLE,
        compare_type=True,
        **options,
    )


def run_offline() -> None:
    _configure(url=_url(), literal_binds=True,
               render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_on(connection: Connection) -> None:
    # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    engine = create_lineage_engine(_url())
    try:
        with engine.begin() as connection:
            run_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
