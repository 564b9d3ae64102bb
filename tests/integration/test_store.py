"""The customer store on SQLite and PostgreSQL: schema, import, services."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, select

from analytics.core.errors import ImportFileError, InvalidInput, OrderNotFound
from analytics.ingest import online_retail
from analytics.ingest.online_retail import TIME_SHIFT_KEY, import_online_retail
from analytics.store.models import Base, Customer, ImportRun, Order, OrderLine, Product, Return
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases.orders import order_status
from tests.conftest import FULL_DATASET, SAMPLE, write_retail_csv

NOW = datetime(2026, 11, 24, 12, 0)


def counts(uow: SqlAlchemyUnitOfWork) -> dict[str, int]:
    with uow:
        return {
            model.__tablename__: uow.session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Customer, Product, Order, OrderLine, Return, ImportRun)
        }


def test_migrations_build_exactly_the_models_schema(store_engine: Engine) -> None:
    with store_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_a_unit_of_work_without_commit_writes_nothing(uow: SqlAlchemyUnitOfWork) -> None:
    with uow:
        uow.session.add(Product(sku="X1", name="X", description="X", category="Other", unit_price=1))
    with uow:
        assert uow.products.by_sku("X1") is None


def test_the_sample_imports_with_its_cleaning_report(uow: SqlAlchemyUnitOfWork) -> None:
    result = import_online_retail(uow, SAMPLE, shift_to_now=True, now=NOW)
    stored = counts(uow)
    assert stored["customers"] == result.report.totals["customers"] == 300
    assert stored["orders"] == result.report.totals["orders"]
    assert stored["order_lines"] == result.report.sale_lines_kept
    assert stored["returns"] == result.report.cancellation_lines_kept
    assert stored["import_runs"] == 1
    assert result.report.rows_read == (
        result.report.sale_lines_kept
        + result.report.cancellation_lines_kept
        + result.report.rows_dropped
        + result.report.transformed["postage line turned into the order's shipping fee"]
    )


def test_a_second_import_changes_nothing(uow: SqlAlchemyUnitOfWork) -> None:
    import_online_retail(uow, SAMPLE, shift_to_now=True, now=NOW)
    before = counts(uow)
    with uow:
        order_before = uow.orders.by_number("536365")
        assert order_before is not None
        snapshot = (order_before.status, order_before.placed_at, order_before.tracking_number)
    again = import_online_retail(uow, SAMPLE, shift_to_now=True, now=datetime(2027, 1, 1))
    assert not again.loaded.changed
    assert again.loaded.orders_already_present == before["orders"]
    assert counts(uow) == before
    with uow:
        order = uow.orders.by_number("536365")
        assert order is not None
        assert (order.status, order.placed_at, order.tracking_number) == snapshot


def test_the_demo_shift_makes_the_newest_order_recent_and_later_imports_keep_it(
    uow: SqlAlchemyUnitOfWork, tmp_path: Path
) -> None:
    import_online_retail(uow, SAMPLE, shift_to_now=True, now=NOW)
    with uow:
        newest = uow.session.scalar(select(func.max(Order.placed_at)))
        shift = uow.settings.get(TIME_SHIFT_KEY)
        statuses = set(uow.session.scalars(select(Order.status).distinct()))
    assert newest is not None and 0 <= (NOW - newest).total_seconds() < 2 * 86400
    assert {s.value for s in statuses} == {"processing", "shipped", "delivered"}
    extra = write_retail_csv(
        tmp_path / "more.csv",
        [
            [
                "999001",
                "85123A",
                "WHITE HANGING HEART T-LIGHT HOLDER",
                1,
                "2011-12-09 10:00:00",
                2.55,
                "17850",
                "United Kingdom",
            ]
        ],
    )
    import_online_retail(uow, extra, shift_to_now=True, now=datetime(2027, 6, 1))
    with uow:
        order = uow.orders.by_number("999001")
        assert order is not None
        assert (order.placed_at - datetime(2011, 12, 9, 10, 0)).days == int(shift or 0)


def test_a_malformed_file_leaves_the_store_as_it_was(uow: SqlAlchemyUnitOfWork, tmp_path: Path) -> None:
    import_online_retail(uow, SAMPLE, now=NOW)
    before = counts(uow)
    bad = write_retail_csv(
        tmp_path / "bad.csv",
        [
            ["999001", "85123A", "HEART", 1, "2011-12-09 10:00:00", 2.55, "17850", "United Kingdom"],
            ["999002", "85123A", "HEART", 1, "not a date", 2.55, "17850", "United Kingdom"],
        ],
    )
    with pytest.raises(ImportFileError, match="line 3"):
        import_online_retail(uow, bad, now=NOW)
    assert counts(uow) == before


def test_a_failure_half_way_through_the_load_rolls_everything_back(
    uow: SqlAlchemyUnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = online_retail.bulk_insert

    def failing(conn, table, frame):  # type: ignore[no-untyped-def]
        if table.name == "order_lines":
            raise RuntimeError("disk full")
        return real(conn, table, frame)

    monkeypatch.setattr(online_retail, "bulk_insert", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        import_online_retail(uow, SAMPLE, now=NOW)
    assert all(n == 0 for n in counts(uow).values())
    with uow:
        assert uow.settings.get(TIME_SHIFT_KEY) is None


def test_order_status_answers_from_the_store(uow: SqlAlchemyUnitOfWork) -> None:
    import_online_retail(uow, SAMPLE, shift_to_now=True, now=NOW)
    view = order_status(uow, " #536365 ")
    assert view.number == "536365"
    assert view.status == "delivered"
    assert view.item_count == 40  # the invoice's seven lines in the UCI data
    assert str(view.total) == "139.12"
    assert view.carrier and view.tracking_number and view.delivered_at


def test_unknown_and_impossible_order_numbers_are_domain_errors(uow: SqlAlchemyUnitOfWork) -> None:
    with pytest.raises(OrderNotFound, match="999999"):
        order_status(uow, "999999")
    with pytest.raises(InvalidInput, match="not an order number"):
        order_status(uow, "'; drop table orders; --")


@pytest.mark.slow
@pytest.mark.skipif(not FULL_DATASET.exists(), reason="the full UCI file lives in ../shared (not part of a clone)")
def test_the_full_online_retail_file_matches_its_published_counts(uow: SqlAlchemyUnitOfWork) -> None:
    result = import_online_retail(uow, FULL_DATASET, now=NOW)
    report = result.report
    assert report.rows_read == 541_909
    assert report.dropped["exact duplicate row"] == 5_268
    stored = counts(uow)
    with uow:
        invoices = uow.session.scalar(select(func.count(func.distinct(Return.number)))) or 0
        customers_with_orders = (
            uow.session.scalar(
                select(func.count(func.distinct(Order.customer_id))).where(Order.customer_id.is_not(None))
            )
            or 0
        )
    # 25,900 invoices in the source: sales + cancellations + 3 bad-debt adjustments + invoices of only
    # non-merchandise, zero-price or write-off lines
    assert stored["orders"] + invoices + 3 <= 25_900
    # 4,339 customers have a clean (not cancelled, quantity > 0) line in the source
    assert 4_300 <= customers_with_orders <= 4_339
