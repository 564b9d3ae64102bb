"""Shared fixtures: a fresh store per test on SQLite and on the real PostgreSQL.

PostgreSQL: one throw-away database per test run (dropped at the end), one
schema per test. The server is taken from ``CRM_TEST_POSTGRES_URL``
(default: the local server's ``test`` database, trust auth). A run that
cannot reach it fails: the store must be proven on both engines.
"""

from __future__ import annotations

import csv
import gzip
import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from analytics.store.db import make_engine, make_session_factory
from analytics.store.migrate import upgrade
from analytics.store.uow import SqlAlchemyUnitOfWork

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "retail" / "online_retail_sample.csv.gz"
FULL_DATASET = ROOT.parent / "shared" / "datasets" / "online_retail_uci" / "online_retail_all_rows.csv.gz"
POSTGRES_ADMIN_URL = os.environ.get("CRM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

HEADER = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country")


def write_retail_csv(path: Path, rows: Sequence[Sequence[object]], header: Sequence[str] = HEADER) -> Path:
    """Write rows in the Online Retail format (gzip if the name ends in .gz)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", newline="", encoding="utf-8") as fh:  # type: ignore[operator]
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    admin_url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+psycopg")
    name = f"crm_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - environment problem
        pytest.fail(
            f"PostgreSQL at {admin_url.render_as_string(hide_password=True)} is needed for the store tests: {exc}. "
            "Start it or point CRM_TEST_POSTGRES_URL at a server where this user may create databases."
        )
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_schema_engine(database_url: str) -> tuple[Engine, str]:
    schema = f"t_{uuid.uuid4().hex[:10]}"
    setup = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with setup.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    setup.dispose()
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return make_engine(url.render_as_string(hide_password=False)), schema


@pytest.fixture(params=["sqlite", "postgresql"])
def store_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty store on each engine."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    else:
        request.applymarker(pytest.mark.postgres)
        engine, _ = postgres_schema_engine(request.getfixturevalue("postgres_database"))
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def uow(store_engine: Engine) -> SqlAlchemyUnitOfWork:
    return SqlAlchemyUnitOfWork(make_session_factory(store_engine))


@pytest.fixture
def sqlite_uow(tmp_path: Path) -> Iterator[SqlAlchemyUnitOfWork]:
    """A migrated SQLite store only, for tests that are not about the engine."""
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    upgrade(engine)
    yield SqlAlchemyUnitOfWork(make_session_factory(engine))
    engine.dispose()
