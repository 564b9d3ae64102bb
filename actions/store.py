"""The action server's access to the customer store, created on first use."""

from __future__ import annotations

from functools import lru_cache

from analytics.settings import get_settings
from analytics.store.db import make_engine, make_session_factory
from analytics.store.uow import SqlAlchemyUnitOfWork


@lru_cache(maxsize=1)
def _session_factory():  # type: ignore[no-untyped-def]
    settings = get_settings()
    return make_session_factory(make_engine(settings.database_url, echo=settings.sql_echo))


def unit_of_work() -> SqlAlchemyUnitOfWork:
    return SqlAlchemyUnitOfWork(_session_factory())
