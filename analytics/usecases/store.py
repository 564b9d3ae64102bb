"""How the edges (actions, web, CLI) get units of work for the use cases.

:data:`UnitOfWork` is the type the use cases take; :func:`unit_of_work` opens
one on the configured store, whose engine is built on first use (never at
import time) by :func:`analytics.store.bootstrap.open_store` and shared by the
whole process.
"""

from __future__ import annotations

from functools import lru_cache

from analytics.core.settings import get_settings
from analytics.store.bootstrap import Store, open_store
from analytics.store.uow import SqlAlchemyUnitOfWork

#: What every use case takes first.
UnitOfWork = SqlAlchemyUnitOfWork


@lru_cache(maxsize=1)
def configured_store() -> Store:
    """The process's store, from :func:`analytics.core.settings.get_settings` (opened once)."""
    return open_store(get_settings())


def unit_of_work() -> UnitOfWork:
    """A new unit of work on the configured store."""
    return configured_store().unit_of_work()
