"""A seeded customer as the e2e tests need them: the store encrypts names and e-mail addresses at rest,
so they are read through the ORM with the keys of the stack's installation (its ``CRM_VAR_DIR``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from analytics.core.settings import Settings
from analytics.store.crypto import DataKeys
from analytics.store.db import make_engine, make_session_factory
from analytics.store.models import Order
from analytics.store.uow import SqlAlchemyUnitOfWork


def store_of(env: dict[str, str]) -> SqlAlchemyUnitOfWork:
    """A unit of work on the e2e store, with the data keys its servers use."""
    settings = Settings(DATABASE_URL=env["DATABASE_URL"], CRM_VAR_DIR=env["CRM_VAR_DIR"])
    engine = make_engine(settings.database_url, keys=DataKeys.from_settings(settings))
    return SqlAlchemyUnitOfWork(make_session_factory(engine))


def customer_row(env: dict[str, str], ref: str) -> dict[str, Any]:
    """Id, name, e-mail address and order numbers of the customer with source number ``ref``."""
    uow = store_of(env)
    try:
        with uow:
            customer = uow.customers.by_external_ref(ref)
            assert customer is not None, f"customer {ref} is not in the seeded sample"
            numbers = list(uow.session.scalars(select(Order.number).where(Order.customer_id == customer.id)))
            return {"id": customer.id, "name": customer.name, "email": customer.email, "orders": numbers}
    finally:
        uow.engine.dispose()


__all__ = ["customer_row", "store_of"]
