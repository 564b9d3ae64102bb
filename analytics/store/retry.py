"""Bounded retries of a unit of work that failed on a transient database error.

A unit of work is retried only when nothing it did can have been committed: it failed before calling
``commit()``, or its commit was refused by the server with a serialization failure or a deadlock (the server
then rolled the whole transaction back). A connection lost *during* a commit is never retried: the commit may
have happened, and doing the work again could write it twice.

    value = run_retrying(store.unit_of_work(), lambda uow: order_status(uow, "536365"), policy)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError

from analytics.core.settings import DatabaseSettings
from analytics.store.uow import SqlAlchemyUnitOfWork

T = TypeVar("T")

log = logging.getLogger(__name__)

#: SQLSTATEs after which PostgreSQL has rolled the transaction back and a new attempt may succeed
ROLLED_BACK_STATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
#: SQLSTATE classes of a connection that failed or was refused (08: connection exception, 57P0x: shutdown)
CONNECTION_STATE_PREFIXES = ("08", "57P01", "57P02", "57P03")


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry and how long to wait before the first retry (doubled before each next one)."""

    retries: int = 2
    backoff_seconds: float = 0.2

    @classmethod
    def from_settings(cls, db: DatabaseSettings) -> RetryPolicy:
        return cls(retries=db.retries, backoff_seconds=db.retry_backoff_seconds)


def _sqlstate(exc: BaseException) -> str:
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    return str(getattr(original, "sqlstate", "") or "")


def rolled_back_by_server(exc: BaseException) -> bool:
    """A serialization failure or a deadlock: the server undid the whole transaction."""
    return _sqlstate(exc) in ROLLED_BACK_STATES


def is_transient(exc: BaseException) -> bool:
    """Whether a new attempt of the same work may succeed: a lost or refused connection, a serialization failure,
    a deadlock, SQLite's "database is locked". A statement timeout, a constraint violation or a syntax error
    are not: they would fail again."""
    if isinstance(exc, DisconnectionError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if rolled_back_by_server(exc):
        return True
    if not isinstance(exc, OperationalError):
        return False
    state = _sqlstate(exc)
    if state:
        return state.startswith(CONNECTION_STATE_PREFIXES)
    # SQLite (no SQLSTATE): another writer held the lock past the busy timeout
    return "database is locked" in str(exc.orig)


def run_retrying(
    uow: SqlAlchemyUnitOfWork,
    work: Callable[[SqlAlchemyUnitOfWork], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``work(uow)`` (which opens its own ``with uow`` blocks) and retry it on a transient error while no
    commit of it can have happened; other errors, and the last transient one, propagate unchanged."""
    delay = policy.backoff_seconds
    for attempt in range(policy.retries + 1):
        uow.reset_commit_record()
        try:
            return work(uow)
        except Exception as exc:
            if attempt == policy.retries or not is_transient(exc) or not _nothing_committed(uow, exc):
                raise
            log.warning(
                "transient database error, retrying (%d of %d) in %.2f s: %s",
                attempt + 1,
                policy.retries,
                delay,
                type(exc).__name__,
            )
        sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


def _nothing_committed(uow: SqlAlchemyUnitOfWork, exc: BaseException) -> bool:
    if uow.commits_done:
        return False
    # a commit that failed half-way may or may not have happened, unless the server says it undid it
    return not uow.commit_in_flight or rolled_back_by_server(exc)
