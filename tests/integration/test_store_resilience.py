"""Database calls are bounded: a statement that runs too long fails with a clear error instead of hanging, a
transient failure is retried, and nothing that may have been committed is ever done twice."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from analytics.core.errors import CRMError, StoreTimeout
from analytics.core.settings import DatabaseSettings
from analytics.store.bootstrap import Store, store_for_url
from analytics.store.retry import RetryPolicy, is_transient, run_retrying
from analytics.store.uow import SqlAlchemyUnitOfWork
from tests.conftest import POSTGRES_ADMIN_URL

FAST = DatabaseSettings().model_copy(
    update={"statement_timeout_ms": 300, "sqlite_busy_seconds": 0.1, "retries": 2, "retry_backoff_seconds": 0.0}
)


@pytest.fixture
def postgres_url() -> str:
    url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+psycopg")
    probe = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with probe.connect():
            pass
    except Exception as exc:
        pytest.skip(f"PostgreSQL at {url.render_as_string(hide_password=True)} is unreachable: {exc}")
    finally:
        probe.dispose()
    return url.render_as_string(hide_password=False)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = store_for_url(f"sqlite:///{tmp_path / 'store.sqlite3'}", db=FAST)
    store.upgrade()
    yield store
    store.engine.dispose()


@pytest.mark.postgres
def test_a_statement_past_the_serving_timeout_fails_with_a_clear_error(postgres_url: str) -> None:
    store = store_for_url(postgres_url, db=FAST, batch=False)
    with pytest.raises(StoreTimeout) as caught, store.unit_of_work() as uow:
        uow.connection().execute(text("SELECT pg_sleep(30)"))
    assert isinstance(caught.value, CRMError)
    assert "0.3 s (CRM_DB_STATEMENT_TIMEOUT_MS=300)" in str(caught.value)
    with store.unit_of_work() as uow:  # the pool is still usable
        assert uow.connection().execute(text("SELECT 1")).scalar() == 1
    store.engine.dispose()


@pytest.mark.postgres
def test_a_statement_waiting_for_a_locked_row_gives_up_at_the_timeout(postgres_url: str) -> None:
    schema = f"h8_timeout_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(text(f'CREATE TABLE "{schema}".t (id int PRIMARY KEY, n int)'))
        conn.execute(text(f'INSERT INTO "{schema}".t VALUES (1, 0)'))
    store = store_for_url(postgres_url, db=FAST, batch=False)
    holder = create_engine(postgres_url)
    try:
        with holder.connect() as held:
            held.execute(text(f'UPDATE "{schema}".t SET n = 1 WHERE id = 1'))  # row locked until rollback
            with pytest.raises(StoreTimeout), store.unit_of_work() as uow:
                uow.connection().execute(text(f'UPDATE "{schema}".t SET n = 2 WHERE id = 1'))
            held.rollback()
    finally:
        store.engine.dispose()
        holder.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.postgres
def test_the_batch_timeout_is_the_longer_one_of_the_cli_and_the_jobs(postgres_url: str) -> None:
    store = store_for_url(postgres_url, db=FAST, batch=True)
    with store.unit_of_work() as uow:
        timeout = uow.connection().execute(text("SHOW statement_timeout")).scalar()
    store.engine.dispose()
    assert timeout == "30min"


def _terminate(admin_url: str, pid: int) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()


@pytest.mark.postgres
def test_a_pooled_connection_the_server_dropped_is_replaced_before_use(postgres_url: str) -> None:
    store = store_for_url(postgres_url, db=FAST)
    with store.unit_of_work() as uow:
        first = uow.connection().execute(text("SELECT pg_backend_pid()")).scalar_one()
    _terminate(postgres_url, first)  # as a restart of the server would

    with store.unit_of_work() as uow:
        second = uow.connection().execute(text("SELECT pg_backend_pid()")).scalar_one()
    store.engine.dispose()

    assert second != first


@pytest.mark.postgres
def test_a_read_whose_connection_is_lost_half_way_is_retried_on_a_new_one(postgres_url: str) -> None:
    store = store_for_url(postgres_url, db=FAST)
    attempts: list[int] = []

    def read(uow: SqlAlchemyUnitOfWork) -> int:
        with uow:
            conn = uow.connection()
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            attempts.append(pid)
            if len(attempts) == 1:
                _terminate(postgres_url, pid)  # the connection dies inside the unit of work
            return int(conn.execute(text("SELECT 41 + 1")).scalar_one())

    assert store.run(read) == 42
    store.engine.dispose()
    assert len(attempts) == 2 and attempts[0] != attempts[1]


def test_a_write_that_found_the_database_locked_once_is_retried_and_succeeds(sqlite_store: Store) -> None:
    path = sqlite_store.engine.url.database
    assert path is not None
    other_writer = sqlite3.connect(path, isolation_level=None)
    other_writer.execute("BEGIN IMMEDIATE")  # holds the write lock
    attempts: list[int] = []

    def save(uow: SqlAlchemyUnitOfWork) -> str:
        attempts.append(1)
        with uow:
            uow.begin_write()
            uow.settings.set("greeting", "hello")
            uow.commit()
        return "saved"

    def release_then_wait(_seconds: float) -> None:
        other_writer.execute("COMMIT")

    result = run_retrying(sqlite_store.unit_of_work(), save, RetryPolicy(retries=2), sleep=release_then_wait)
    other_writer.close()

    assert (result, len(attempts)) == ("saved", 2)
    assert sqlite_store.run(lambda uow: _read(uow, "greeting")) == "hello"


def test_a_write_still_locked_after_every_retry_fails_with_the_database_error(sqlite_store: Store) -> None:
    path = sqlite_store.engine.url.database
    assert path is not None
    other_writer = sqlite3.connect(path, isolation_level=None)
    other_writer.execute("BEGIN IMMEDIATE")
    attempts: list[int] = []

    def save(uow: SqlAlchemyUnitOfWork) -> None:
        attempts.append(1)
        with uow:
            uow.begin_write()
            uow.commit()

    try:
        with pytest.raises(OperationalError, match="database is locked"):
            run_retrying(sqlite_store.unit_of_work(), save, RetryPolicy(retries=2), sleep=lambda _: None)
    finally:
        other_writer.close()
    assert len(attempts) == 3


def test_a_non_transient_error_is_not_retried(sqlite_store: Store) -> None:
    attempts: list[int] = []

    def insert_twice(uow: SqlAlchemyUnitOfWork) -> None:
        attempts.append(1)
        with uow:
            uow.connection().execute(text("INSERT INTO store_settings (key, value) VALUES ('k', 'a'), ('k', 'b')"))
            uow.commit()

    with pytest.raises(IntegrityError):
        sqlite_store.run(insert_twice)
    assert len(attempts) == 1


class _Sqlstate(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"server error {sqlstate}")
        self.sqlstate = sqlstate


def _failing_commit(sqlstate: str) -> OperationalError:
    return OperationalError("COMMIT", {}, _Sqlstate(sqlstate))


def test_a_commit_cut_off_by_a_lost_connection_is_never_retried(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[int] = []

    def write(uow: SqlAlchemyUnitOfWork) -> None:
        attempts.append(1)
        with uow:
            uow.settings.set("k", "v")
            monkeypatch.setattr(uow.session, "commit", _raise(_failing_commit("08006")))  # connection failure
            uow.commit()

    with pytest.raises(OperationalError):
        sqlite_store.run(write)
    assert len(attempts) == 1, "the commit may have happened on the server: doing it again could write twice"


def test_a_commit_refused_as_a_serialization_failure_is_retried(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[int] = []

    def write(uow: SqlAlchemyUnitOfWork) -> str:
        attempts.append(1)
        with uow:
            uow.settings.set("k", "v")
            if len(attempts) == 1:
                monkeypatch.setattr(uow.session, "commit", _raise(_failing_commit("40001")))
            uow.commit()
        return "done"

    assert sqlite_store.run(write) == "done"
    assert len(attempts) == 2


def test_work_that_committed_once_is_not_redone_when_a_later_step_fails(sqlite_store: Store) -> None:
    attempts: list[int] = []

    def two_steps(uow: SqlAlchemyUnitOfWork) -> None:
        attempts.append(1)
        with uow:
            uow.settings.set("first", "done")
            uow.commit()
        raise OperationalError("SELECT 1", {}, _Sqlstate("08006"))

    with pytest.raises(OperationalError):
        sqlite_store.run(two_steps)
    assert len(attempts) == 1


def test_transient_errors_are_told_apart_from_the_rest() -> None:
    assert is_transient(_failing_commit("40P01"))  # deadlock
    assert is_transient(_failing_commit("57P01"))  # server shutting down
    assert not is_transient(_failing_commit("57014"))  # statement timeout: would time out again
    assert not is_transient(_failing_commit("42601"))  # syntax error
    assert not is_transient(ValueError("not a database error"))


def _raise(exc: Exception):  # type: ignore[no-untyped-def]
    def fail(*_args: object, **_kwargs: object) -> None:
        raise exc

    return fail


def _read(uow: SqlAlchemyUnitOfWork, key: str) -> str | None:
    with uow:
        return uow.settings.get(key)
