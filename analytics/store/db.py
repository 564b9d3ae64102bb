"""Engine and session factories. Nothing here runs at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from analytics.store.crypto import DataKeys, attach_keys


def make_engine(url: str, *, echo: bool = False, keys: Optional[DataKeys] = None) -> Engine:
    """Create an engine for ``url``.

    For a SQLite file the parent folder is created, foreign keys are enforced and
    the journal is put in WAL mode so the action server can read while an
    import or a refresh writes. ``postgresql://`` URLs use psycopg 3.

    SQL parameters (e-mail addresses, names, addresses) never appear in error
    messages or the echo log (``hide_parameters``). ``keys`` encrypt the
    personal columns (:mod:`analytics.store.crypto`); default: the
    installation's, from the settings.
    """
    engine = _make_engine(url, echo=echo)
    return attach_keys(engine, keys) if keys is not None else engine


def _make_engine(url: str, *, echo: bool) -> Engine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs["pool_pre_ping"] = True
    return create_engine(parsed, **kwargs)


#: execution option of a SQLite transaction that will write what it read (see :func:`begin_write`)
SQLITE_IMMEDIATE = "crm_sqlite_immediate"


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Python's sqlite3 driver would start a transaction only at the first INSERT/UPDATE/DELETE, so the reads
    # before it ran outside any transaction and two writers could both act on what they read (two returns of
    # the last unit). The driver's own handling is switched off and SQLAlchemy's "begin" event below starts
    # every transaction itself (the recipe of SQLAlchemy's SQLite documentation).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # A transaction that reads to decide what to write takes the write lock at once (BEGIN IMMEDIATE): a second
    # one waits for the first to commit and then reads its result. The others begin deferred: readers never
    # wait, and see one consistent snapshot (WAL).
    immediate = connection.get_execution_options().get(SQLITE_IMMEDIATE)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def begin_write(session: Session) -> None:
    """Start ``session``'s transaction as one that will write what it reads.

    Call it first thing in a use case that checks, then writes (a return of the units not yet returned, an
    offer under its redemption cap). On SQLite the transaction takes the write lock at once, so concurrent
    ones run one after the other; on PostgreSQL the rows it reads ``FOR UPDATE`` are locked as usual, and
    this is a no-op. It must come before any query of the transaction.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.connection(execution_options={SQLITE_IMMEDIATE: True})


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)
