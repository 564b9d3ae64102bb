"""Alembic environment: the engine comes from ``config.attributes`` (set by
:mod:`analytics.store.migrate`) or from the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, Engine

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


def _sqlite_pragma(connection: Connection, statement: str) -> None:
    # straight to the driver, outside any transaction: SQLite ignores the foreign_keys pragma inside one
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(statement)


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if not isinstance(engine, Engine):
        engine = make_engine(str(config.get_main_option("sqlalchemy.url")))
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode rebuilds a table (copy, drop, rename); with foreign keys on, dropping the old
            # customers table would first delete its rows and cascade into the tables that refer to it.
            _sqlite_pragma(connection, "PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                # batch mode lets ALTER TABLE work on SQLite (copy-and-move)
                context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
                context.run_migrations()
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"the migration left rows pointing at nothing: {broken[:5]}")
        finally:
            if sqlite:
                _sqlite_pragma(connection, "PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
