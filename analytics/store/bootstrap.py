"""The one way to open the customer store: an engine and units of work, from the settings or a URL.

The action server, the web app, the CLI and the NLU operations loop all open
the store here, so an engine is configured in one place (SQLite pragmas,
PostgreSQL driver, hidden parameters, encryption keys, timeouts: :mod:`analytics.store.db`).
Nothing connects until the first unit of work runs.

    store = open_store(get_settings())
    with store.unit_of_work() as uow:
        ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from analytics.core.settings import DatabaseSettings, Settings
from analytics.store.crypto import DataKeys
from analytics.store.db import EngineLimits, make_engine, make_session_factory
from analytics.store.migrate import is_initialised, upgrade
from analytics.store.retry import RetryPolicy, run_retrying
from analytics.store.uow import SqlAlchemyUnitOfWork

T = TypeVar("T")


@dataclass(frozen=True)
class Store:
    """One engine on the customer store and the factory of its units of work.

    Calling the store gives a new unit of work, so a ``Store`` is itself a
    unit-of-work factory (``Callable[[], SqlAlchemyUnitOfWork]``).
    """

    engine: Engine
    sessions: sessionmaker[Session]
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def unit_of_work(self) -> SqlAlchemyUnitOfWork:
        """A new unit of work (one transaction) on this store."""
        return SqlAlchemyUnitOfWork(self.sessions)

    def __call__(self) -> SqlAlchemyUnitOfWork:
        return self.unit_of_work()

    def run(self, work: Callable[[SqlAlchemyUnitOfWork], T]) -> T:
        """``work(uow)`` on a new unit of work, retried on a transient error (a lost connection, a serialization
        failure) as long as none of its commits can have happened (:func:`analytics.store.retry.run_retrying`).
        For reads, and for transactions that may safely run again from the start."""
        return run_retrying(self.unit_of_work(), work, self.retry)

    def is_initialised(self) -> bool:
        """Whether the schema exists (``crm db upgrade`` has run); connects to the store."""
        return is_initialised(self.engine)

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` (the newest by default)."""
        upgrade(self.engine, revision)

    def where(self) -> str:
        """The store's URL without its password, for messages."""
        return self.engine.url.render_as_string(hide_password=True)


def store_for_url(
    url: str,
    *,
    echo: bool = False,
    keys: Optional[DataKeys] = None,
    db: Optional[DatabaseSettings] = None,
    batch: bool = True,
) -> Store:
    """The store at SQLAlchemy ``url`` (``keys``: the personal columns' keys; default: the installation's).

    ``db``: timeouts and retries (default: the ``CRM_DB_*`` variables); ``batch``: the statement timeout of
    the CLI and the jobs rather than that of the serving processes.
    """
    db = db or DatabaseSettings()
    engine = make_engine(url, echo=echo, keys=keys, limits=EngineLimits.from_settings(db, batch=batch))
    return Store(engine=engine, sessions=make_session_factory(engine), retry=RetryPolicy.from_settings(db))


def open_store(settings: Settings, *, batch: bool = False) -> Store:
    """The configured store (``DATABASE_URL``, ``CRM_SQL_ECHO``, ``CRM_DB_*``); ``batch`` for the CLI and the
    scheduled jobs (a longer statement timeout), otherwise a serving process's."""
    return store_for_url(settings.database_url, echo=settings.sql_echo, db=settings.db, batch=batch)
