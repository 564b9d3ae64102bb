"""Alembic environment: the engine comes from ``config.attributes`` (set by
:mod:`analytics.store.migrate`) or from the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from analytics.store.db import make_engine
from analytics.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if not isinstance(engine, Engine):
        engine = make_engine(str(config.get_main_option("sqlalchemy.url")))
    with engine.begin() as connection:
        # batch mode lets ALTER TABLE work on SQLite (copy-and-move)
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
