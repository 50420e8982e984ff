"""Alembic environment for the lineage schema, driven from code by `void_core.lineage.db`.

`db.upgrade`/`db.downgrade` hand over an open connection (already inside a transaction and
holding the schema lock) in `config.attributes["connection"]`; without one, an engine is made
from the config's `sqlalchemy.url`. Offline mode (`--sql`) renders the DDL as text.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from void_core.lineage.db import VERSION_TABLE, create_lineage_engine
from void_core.lineage.models import Base

config = context.config


def _configure(**options) -> None:
    context.configure(
        target_metadata=Base.metadata,
        version_table=config.get_main_option("version_table") or VERSION_TABLE,
        compare_type=True,
        **options,
    )


def run_offline() -> None:
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True,
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
    engine = create_lineage_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.begin() as connection:
            run_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
