"""Engine and session factories. Nothing here runs at import time."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.orm import Session, sessionmaker

from analytics.core.errors import StoreTimeout
from analytics.core.settings import DatabaseSettings
from analytics.store.crypto import DataKeys, attach_keys

#: PostgreSQL's SQLSTATE of a statement cancelled by ``statement_timeout`` (query_canceled)
QUERY_CANCELED = "57014"


@dataclass(frozen=True)
class EngineLimits:
    """How long an engine waits for the server, a pooled connection, a statement and a lock.

    ``statement_timeout_ms`` is enforced by PostgreSQL itself (0: none); SQLite has no statement timeout, only
    ``sqlite_busy_seconds``, the wait for another writer's lock.
    """

    connect_timeout_seconds: int = 5
    statement_timeout_ms: int = 15_000
    pool_timeout_seconds: float = 10.0
    sqlite_busy_seconds: float = 15.0
    #: the variable that sets ``statement_timeout_ms``, named in the timeout's error message
    statement_timeout_variable: str = "CRM_DB_STATEMENT_TIMEOUT_MS"

    @classmethod
    def from_settings(cls, db: DatabaseSettings, *, batch: bool) -> EngineLimits:
        """The limits of a serving process (web app, action server) or, with ``batch``, of the CLI and the
        scheduled jobs, whose imports and refreshes run long statements on purpose."""
        return cls(
            connect_timeout_seconds=db.connect_timeout_seconds,
            statement_timeout_ms=db.batch_statement_timeout_ms if batch else db.statement_timeout_ms,
            pool_timeout_seconds=db.pool_timeout_seconds,
            sqlite_busy_seconds=db.sqlite_busy_seconds,
            statement_timeout_variable=(
                "CRM_DB_BATCH_STATEMENT_TIMEOUT_MS" if batch else "CRM_DB_STATEMENT_TIMEOUT_MS"
            ),
        )


def make_engine(
    url: str, *, echo: bool = False, keys: Optional[DataKeys] = None, limits: Optional[EngineLimits] = None
) -> Engine:
    """Create an engine for ``url``.

    For a SQLite file the parent folder is created, foreign keys are enforced and
    the journal is put in WAL mode so the action server can read while an
    import or a refresh writes. ``postgresql://`` URLs use psycopg 3.

    SQL parameters (e-mail addresses, names, addresses) never appear in error
    messages or the echo log (``hide_parameters``). ``keys`` encrypt the
    personal columns (:mod:`analytics.store.crypto`); default: the
    installation's, from the settings. ``limits``: timeouts (default:
    :class:`EngineLimits`' defaults); a statement PostgreSQL cancels for
    running past its timeout raises :class:`~analytics.core.errors.StoreTimeout`.
    """
    engine = _make_engine(url, echo=echo, limits=limits or EngineLimits())
    return attach_keys(engine, keys) if keys is not None else engine


def _make_engine(url: str, *, echo: bool, limits: EngineLimits) -> Engine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        in_memory = not database or database == ":memory:" or "mode=memory" in str(parsed)
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        if "timeout" not in parsed.query:
            kwargs["connect_args"] = {"timeout": limits.sqlite_busy_seconds}
        if not in_memory:
            # a file database gets a queue pool (an in-memory one a single connection, which takes no timeout);
            # no pre-ping: a file does not drop connections
            kwargs["pool_timeout"] = limits.pool_timeout_seconds
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        kwargs["connect_args"] = _postgresql_connect_args(parsed.query, limits)
    kwargs["pool_pre_ping"] = True
    kwargs["pool_timeout"] = limits.pool_timeout_seconds
    engine = create_engine(parsed, **kwargs)
    if limits.statement_timeout_ms:
        event.listen(engine, "handle_error", _timeout_error(limits))
    return engine


def _postgresql_connect_args(query: Any, limits: EngineLimits) -> dict[str, Any]:
    """Connection parameters that bound the waits; what the URL itself sets wins."""
    args: dict[str, Any] = {}
    if "connect_timeout" not in query:
        args["connect_timeout"] = limits.connect_timeout_seconds
    if limits.statement_timeout_ms:
        options = f"-c statement_timeout={limits.statement_timeout_ms}"
        given = query.get("options")
        # a later -c of the same setting wins, so the URL's own options go last
        args["options"] = f"{options} {given}" if isinstance(given, str) else options
    return args


def _timeout_error(limits: EngineLimits) -> Any:
    def handle_error(context: ExceptionContext) -> None:
        original = context.original_exception
        # the same SQLSTATE also marks a cancel request of an operator: only the timeout's is rewritten
        if getattr(original, "sqlstate", None) == QUERY_CANCELED and "statement timeout" in str(original):
            raise StoreTimeout(limits.statement_timeout_ms, limits.statement_timeout_variable) from (
                context.sqlalchemy_exception or original
            )

    return handle_error


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
