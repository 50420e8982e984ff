"""Lineage database plumbing: which URL, how to connect, and schema migrations (Alembic).

URLs: `sqlite:///PATH` (the default, `sqlite:///./void-farm-lineage.db`; a bare path is taken
as a SQLite file) or `postgresql+psycopg://USER[:PASSWORD]@HOST[:PORT]/DB` for a farm. The
`VOID_FARM_DB` environment variable is the default when no URL is given.

SQLite serves many writer processes on one machine through WAL, a generous `busy_timeout` and
`BEGIN IMMEDIATE` for every transaction: a transaction takes the write lock when it starts, so
it waits its turn instead of failing with "database is locked" when it later upgrades a read
lock (measured in shared/reference/ecosystem.md section 6.4). WAL needs a local disk; many
machines writing over a network filesystem need PostgreSQL.

The migrations live in the checkout's top-level `migrations/`; the wheel ships the same files
as the package `void_core.lineage.migrations`, which `void-farm db upgrade` drives from code. From
a checkout, `VOID_FARM_DB=... alembic upgrade head` (the root's alembic.ini) works too, and so
does writing a new revision: `alembic revision --autogenerate -m "add x"`.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from void_core.errors import VoidFarmError
from void_core.naming import LINEAGE_DB, lineage_db_beside

ENV_VAR = "VOID_FARM_DB"
DEFAULT_URL = f"sqlite:///./{LINEAGE_DB}"  # outside a run; a run keeps its own in OUT
# Installed from a wheel, the migrations are a subpackage; in a checkout, the top-level folder.
_PACKAGED_MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATIONS_DIR = (_PACKAGED_MIGRATIONS if _PACKAGED_MIGRATIONS.is_dir()
                  else Path(__file__).resolve().parents[2] / "migrations")
# Not Alembic's default `alembic_version`: the lineage tables may share a database (a Prefect
# server's, say) with another Alembic-managed schema.
VERSION_TABLE = "void_farm_lineage_version"
SQLITE_BUSY_TIMEOUT_MS = 30_000
POSTGRES_CONNECT_TIMEOUT_S = 10
# Serialises concurrent first-time schema creation on PostgreSQL (any constant bigint works).
_SCHEMA_LOCK_KEY = 0x766F69645F6C696E  # "void_lin"
_URL_HINT = "check --db / VOID_FARM_DB"
AlembicCommand = Callable[[Config, str], None]


class LineageError(VoidFarmError):
    """The lineage database cannot be reached, has an unknown schema, or refused a record."""


def resolve_url(url: str | None = None, *, beside: str | Path | None = None) -> str:
    """`url`, else `$VOID_FARM_DB`, else the run database of the output file `beside` (a run
    keeps `OUT/void-farm-lineage.db` next to `OUT/<shot>/`), else the SQLite default; a bare
    path means a SQLite file."""
    found = lineage_db_beside(Path(beside)) if beside is not None and Path(beside).exists() else None
    chosen = (url or os.environ.get(ENV_VAR)
              or (f"sqlite:///{found.resolve()}" if found is not None else DEFAULT_URL))
    return chosen if "://" in chosen else f"sqlite:///{chosen}"


def mask_url(url: str | URL) -> str:
    """`url` with its password replaced by `***`, safe for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"(://[^/\s:@]*):[^/\s@]*@", r"\1:***@", str(url))


PASSWORD_ENV_VAR = "VOID_FARM_DB_PASSWORD"
MASK = "***"


def parameter_url(url: str) -> str:
    """`url` as it may travel as a flow parameter: Prefect keeps parameters in clear text in its
    database and shows them in the UI, so the password is masked there. The full URL stays in
    this process's `$VOID_FARM_DB`, which the flow (and flow runs or Ray workers started from
    here) read back through `resolve_parameter_url`."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    if not parsed.password or parsed.password == MASK:
        return url
    os.environ[ENV_VAR] = url
    return mask_url(url)


def resolve_parameter_url(url: str | None) -> str | None:
    """A flow parameter's URL ready to connect: a masked password (`***`) comes from
    `$VOID_FARM_DB` when that is the same URL, else from `$VOID_FARM_DB_PASSWORD`; with neither
    the URL connects without one (libpq then reads `~/.pgpass` or `$PGPASSFILE`)."""
    if not url:
        return url
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    if parsed.password != MASK:
        return url
    kept = os.environ.get(ENV_VAR)
    if kept and mask_url(kept) == mask_url(url):
        return kept
    password = os.environ.get(PASSWORD_ENV_VAR)
    ready = parsed.set(password=password) if password else parsed._replace(password=None)
    return ready.render_as_string(hide_password=False)


def connection_error(url: str, reason: str) -> LineageError:
    """The one-line error for a database that cannot be used."""
    return LineageError(
        f"cannot connect to lineage database {mask_url(url)}: {reason} ({_URL_HINT})")


def short_reason(err: BaseException) -> str:
    """The driver's first line, without libpq's "connection to server at ... failed:" prefix."""
    text = str(getattr(err, "orig", None) or err).strip()
    text = (text.splitlines() or ["unknown error"])[0]
    text = text.rsplit(" failed: ", 1)[-1]
    text = re.sub(r"^(connection failed: |FATAL:\s+)", "", text).strip()
    return text[:1].lower() + text[1:]


def create_lineage_engine(url: str, *, read_only: bool = False) -> Engine:
    """An engine for `url` with the SQLite settings above; does not connect yet. `read_only`
    opens a SQLite file for reading only (a read-only mount or file works too).

    Raises:
        LineageError: the URL does not parse or names a database driver that is not installed.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise connection_error(url, "not a database URL (use sqlite:///PATH or "
                                    "postgresql+psycopg://USER@HOST/DB)") from None
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_reader(parsed) if read_only else _sqlite_engine(parsed)
        if parsed.get_backend_name() == "postgresql":
            return _postgres_engine(parsed)
        return create_engine(parsed)
    except (NoSuchModuleError, ImportError) as err:
        raise connection_error(url, f"unsupported database kind {parsed.drivername!r} ({err}); use "
                                    "sqlite:///PATH or postgresql+psycopg://USER@HOST/DB") from None


def _sqlite_engine(url: URL) -> Engine:
    engine = create_engine(url)
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def _sqlite_reader(url: URL) -> Engine:
    """A SQLite engine that never writes: `mode=ro`, or `immutable=1` when the folder is not
    writable either (WAL readers need a -shm file beside the database; no writer can exist
    on a read-only mount)."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return _sqlite_engine(url)
    path = Path(database).resolve()
    mode = "mode=ro" if os.access(path.parent, os.W_OK) else "immutable=1"
    engine = create_engine(f"sqlite:///file:{path}?{mode}&uri=true")
    event.listen(engine, "connect", _configure_sqlite_reader)
    return engine


def _configure_sqlite_reader(dbapi_connection, _record) -> None:
    dbapi_connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


def _configure_sqlite_connection(dbapi_connection, _record) -> None:
    # Take transaction control away from the sqlite3 module; `_begin_immediate` emits BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _enable_wal(cursor) -> None:
    """Switch a database file to WAL (a lasting property of the file) unless it already is.

    Two connections switching a fresh file at once can deadlock on the upgrade to an exclusive
    lock; SQLite then answers "database is locked" at once instead of waiting, so retry briefly.
    """
    if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
        return
    for delay in (0.02, 0.05, 0.1, 0.2, 0.5, 1.0, None):
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or delay is None:
                raise
            time.sleep(delay)


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _postgres_engine(url: URL) -> Engine:
    connect_args = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def require_sqlite_file(url: URL) -> None:
    """Refuse a SQLite URL whose file does not exist (connecting would create an empty one)."""
    if url.get_backend_name() != "sqlite":
        return
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return
    if not Path(database).exists():
        raise LineageError(f"no lineage database at {database} ({_URL_HINT})")


def check_connection(engine: Engine) -> None:
    """Connect once, or raise the one-line `LineageError` naming the (masked) URL."""
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except SQLAlchemyError as err:
        raise connection_error(engine.url, short_reason(err)) from None


# --- migrations -------------------------------------------------------------------------------


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic `Config` for the lineage migrations: the root alembic.ini's settings, in code."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    config.set_main_option("version_table", VERSION_TABLE)
    if url is not None:
        config.set_main_option("sqlalchemy.url", str(url).replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision this void-farm knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The database's revision, or None for a database without the lineage schema."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    heads = context.get_current_heads()
    return heads[0] if heads else None


def database_revision(engine: Engine) -> str | None:
    """`current_revision` in a transaction of its own."""
    try:
        with engine.begin() as connection:
            return current_revision(connection)
    except SQLAlchemyError as err:
        raise connection_error(engine.url, short_reason(err)) from None


def is_known_revision(revision: str) -> bool:
    """Whether `revision` is one of this void-farm's migrations."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return any(script.revision == revision for script in scripts.walk_revisions())


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Migrate the lineage schema to `revision` in one transaction; return the new revision."""
    return _migrate(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> str | None:
    """Migrate the lineage schema down to `revision` (`"base"` drops it); return the new one."""
    return _migrate(engine, command.downgrade, revision)


def _migrate(engine: Engine, step: AlembicCommand, revision: str) -> str | None:
    try:
        with engine.connect() as connection, _foreign_keys_checked_at_end(connection):
            with connection.begin():
                _lock_schema(connection)
                found = current_revision(connection)
                if found is not None and not is_known_revision(found):
                    raise _newer_schema_error(engine.url, found)
                _run_alembic(connection, step, revision)
                _check_foreign_keys(connection)
                return current_revision(connection)
    except SQLAlchemyError as err:
        raise LineageError(f"cannot migrate lineage database {mask_url(engine.url)}: "
                           f"{short_reason(err)}") from None


@contextlib.contextmanager
def _foreign_keys_checked_at_end(connection: Connection) -> Iterator[None]:
    """SQLite: enforcement off while migrating, because batch mode rebuilds a table by dropping
    it (which SQLite counts as deleting every parent row); `_check_foreign_keys` checks it all
    before commit instead. The pragma only works outside a transaction, so it goes straight to
    the driver connection (autocommit) before SQLAlchemy begins."""
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection
    driver.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        driver.execute("PRAGMA foreign_keys = ON")


def _check_foreign_keys(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        table, _, parent, _ = broken[0]
        raise LineageError(f"migration left {len(broken)} row(s) of {table} pointing at missing "
                           f"{parent} rows; nothing was changed (report this as a bug)")


def _run_alembic(connection: Connection, step: AlembicCommand, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    step(config, revision)


def _lock_schema(connection: Connection) -> None:
    """Serialise schema changes; SQLite's BEGIN IMMEDIATE already holds the write lock."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK_KEY})")


def ensure_schema(engine: Engine, *, create: bool = True) -> str:
    """Check the database is at this void-farm's head revision; create the schema when empty.

    An older schema is refused rather than migrated behind the operator's back: other workers
    on the farm may still run the older void-farm (`void-farm db upgrade` does it explicitly).

    Raises:
        LineageError: the schema is missing (`create=False`), older, or newer than head.
    """
    head = head_revision()
    try:
        with engine.begin() as connection:
            _lock_schema(connection)
            found = current_revision(connection)
            if found is None and create:
                _run_alembic(connection, command.upgrade, "head")
                return head
    except SQLAlchemyError as err:
        raise LineageError(f"cannot create the lineage schema in {mask_url(engine.url)}: "
                           f"{short_reason(err)}") from None
    _check_revision(engine.url, found, head)
    return head


def _check_revision(url: URL, found: str | None, head: str) -> None:
    where = mask_url(url)
    if found == head:
        return
    if found is None:
        raise LineageError(f"no lineage schema in {where} "
                           f"(run `void-farm db upgrade --db URL`, or {_URL_HINT})")
    if not is_known_revision(found):
        raise _newer_schema_error(url, found)
    raise LineageError(f"lineage database {where} is at revision {found}, older than this "
                       f"void-farm's {head} (run `void-farm db upgrade --db URL`)")


def _newer_schema_error(url: URL, found: str) -> LineageError:
    return LineageError(
        f"lineage database {mask_url(url)} is at revision {found}, which this void-farm does not "
        f"know (a newer void-farm migrated it; upgrade void-farm, head here is {head_revision()})"
    )
