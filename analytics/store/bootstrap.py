"""The one way to open the customer store: an engine and units of work, from the settings or a URL.

The action server, the web app, the CLI and the NLU operations loop all open
the store here, so an engine is configured in one place (SQLite pragmas,
PostgreSQL driver, hidden parameters, encryption keys: :mod:`analytics.store.db`).
Nothing connects until the first unit of work runs.

    store = open_store(get_settings())
    with store.unit_of_work() as uow:
        ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from analytics.core.settings import Settings
from analytics.store.crypto import DataKeys
from analytics.store.db import make_engine, make_session_factory
from analytics.store.migrate import is_initialised, upgrade
from analytics.store.uow import SqlAlchemyUnitOfWork


@dataclass(frozen=True)
class Store:
    """One engine on the customer store and the factory of its units of work.

    Calling the store gives a new unit of work, so a ``Store`` is itself a
    unit-of-work factory (``Callable[[], SqlAlchemyUnitOfWork]``).
    """

    engine: Engine
    sessions: sessionmaker[Session]

    def unit_of_work(self) -> SqlAlchemyUnitOfWork:
        """A new unit of work (one transaction) on this store."""
        return SqlAlchemyUnitOfWork(self.sessions)

    def __call__(self) -> SqlAlchemyUnitOfWork:
        return self.unit_of_work()

    def is_initialised(self) -> bool:
        """Whether the schema exists (``crm db upgrade`` has run); connects to the store."""
        return is_initialised(self.engine)

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` (the newest by default)."""
        upgrade(self.engine, revision)

    def where(self) -> str:
        """The store's URL without its password, for messages."""
        return self.engine.url.render_as_string(hide_password=True)


def store_for_url(url: str, *, echo: bool = False, keys: Optional[DataKeys] = None) -> Store:
    """The store at SQLAlchemy ``url`` (``keys``: the personal columns' keys; default: the installation's)."""
    engine = make_engine(url, echo=echo, keys=keys)
    return Store(engine=engine, sessions=make_session_factory(engine))


def open_store(settings: Settings) -> Store:
    """The configured store (``DATABASE_URL``, ``CRM_SQL_ECHO``)."""
    return store_for_url(settings.database_url, echo=settings.sql_echo)
