"""Demand forecast runs on a real store (the shipped sample, both engines), read back through the services."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from analytics.core.errors import InvalidInput
from analytics.forecast import demand
from analytics.forecast.demand import ForecastNotFound, demand_forecast, latest_run, run_demand_forecast, top_series
from analytics.forecast.demand_report import write_demand_report
from analytics.ingest.online_retail import import_online_retail
from analytics.store.db import make_engine, make_session_factory
from analytics.store.migrate import upgrade
from analytics.store.models import DemandForecast, ForecastRun, ForecastSeries, Product
from analytics.store.repositories import forecasts as forecast_rows
from analytics.store.uow import SqlAlchemyUnitOfWork
from tests.conftest import SAMPLE, postgres_schema_engine

NOW = datetime(2026, 11, 24, 12, 0)
TOP = 12  # products per run: enough to rank, few enough for a quick test


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlAlchemyUnitOfWork]:
    """The sample, time-shifted to NOW, on each engine, with one weekly and one daily run."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('demand') / 'store.sqlite3'}")
    else:
        engine, _ = postgres_schema_engine(request.getfixturevalue("postgres_database"))
    upgrade(engine)
    uow = SqlAlchemyUnitOfWork(make_session_factory(engine))
    import_online_retail(uow, SAMPLE, shift_to_now=True, now=NOW)
    run_demand_forecast(uow, freq="W", horizon=6, top_products=TOP, now=NOW)
    run_demand_forecast(uow, freq="D", horizon=14, top_products=TOP, now=NOW)
    yield uow
    engine.dispose()


def count(uow: SqlAlchemyUnitOfWork, model: Any) -> int:
    with uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_run_gives_every_series_its_horizon_with_the_point_inside_the_interval(store: SqlAlchemyUnitOfWork) -> None:
    run = latest_run(store, "W")
    assert run.horizon == 6 and run.n_series > 2 * TOP
    shop = demand_forecast(store, "shop", freq="W", measure="revenue")
    assert shop.model and shop.backtest_mase is not None
    assert len(shop.points) == 6
    assert [p.period_start for p in shop.points] == [run.history_end + timedelta(days=1 + 7 * k) for k in range(6)]
    assert shop.points[0].period_start.weekday() == 0  # weeks start on Monday
    for view in [shop, *top_series(store, freq="W", level="product", n=TOP)]:
        for p in view.points:
            assert 0 <= p.lower <= p.point <= p.upper
        assert view.total > 0


def test_the_history_ends_with_the_last_complete_period(store: SqlAlchemyUnitOfWork) -> None:
    daily, weekly = latest_run(store, "D"), latest_run(store, "W")
    newest_sale = NOW  # the shift puts the newest order within the day before NOW
    assert newest_sale.date() - timedelta(days=2) <= daily.history_end < newest_sale.date()
    assert weekly.history_end.weekday() == 6  # a Sunday
    assert weekly.history_end < newest_sale.date()


def test_daily_forecasts_have_the_closed_weekday_at_zero(store: SqlAlchemyUnitOfWork) -> None:
    run = latest_run(store, "D")
    assert len(run.closed_weekdays) == 1  # Online Retail has no Saturday sales; the shift moves the weekday
    view = demand_forecast(store, "shop", freq="D", measure="units")
    assert len(view.points) == 14
    closed = [p for p in view.points if p.closed]
    assert len(closed) == 2 and all(p.period_start.weekday() == run.closed_weekdays[0] for p in closed)
    assert all(p.point == p.lower == p.upper == 0 for p in closed)
    assert all(p.point > 0 for p in view.points if not p.closed)


def test_categories_and_products_are_read_by_name_and_sku(store: SqlAlchemyUnitOfWork) -> None:
    (best,) = top_series(store, freq="W", level="product", measure="units", n=1)
    view = demand_forecast(store, "product", best.key, freq="W", measure="units")
    assert view.name and view.name != view.key
    assert view.points == best.points
    (category,) = top_series(store, freq="W", level="category", n=1)
    assert demand_forecast(store, "category", category.key, freq="W", measure="revenue").total == category.total
    totals = [v.total for v in top_series(store, freq="W", level="category", n=5)]
    assert totals == sorted(totals, reverse=True)


def test_series_that_were_not_forecast_say_why(store: SqlAlchemyUnitOfWork) -> None:
    with pytest.raises(ForecastNotFound, match="No product 'NO-SUCH-SKU' is in the catalog"):
        demand_forecast(store, "product", "NO-SUCH-SKU")
    with store:
        forecast = set(store.session.scalars(select(ForecastSeries.key).where(ForecastSeries.level == "product")))
        other = next(sku for sku in store.session.scalars(select(Product.sku)) if sku not in forecast)
    with pytest.raises(ForecastNotFound, match=f"only the top {TOP} products|too little history"):
        demand_forecast(store, "product", other)
    with pytest.raises(InvalidInput, match="level must be one of shop, category, product"):
        demand_forecast(store, "aisle", "x")


def test_a_second_run_replaces_what_the_service_returns_and_old_runs_are_pruned(
    store: SqlAlchemyUnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = latest_run(store, "W")
    monkeypatch.setattr(demand, "KEEP_RUNS", 2)
    for horizon in (3, 4):
        run_demand_forecast(store, freq="W", horizon=horizon, top_products=TOP, now=NOW + timedelta(hours=horizon))
    view = demand_forecast(store, "shop", freq="W")
    assert view.run.run_id > before.run_id and len(view.points) == 4
    with store:
        weekly = store.session.scalars(select(ForecastRun.id).where(ForecastRun.freq == "W")).all()
        daily = store.session.scalars(select(ForecastRun.id).where(ForecastRun.freq == "D")).all()
        orphans = store.session.scalar(
            select(func.count())
            .select_from(DemandForecast)
            .where(~DemandForecast.series_id.in_(select(ForecastSeries.id)))
        )
    assert len(weekly) == 2 and before.run_id not in weekly  # the oldest weekly run and its rows are gone
    assert len(daily) == 1  # other frequencies are untouched
    assert orphans == 0


def test_a_run_that_fails_midway_leaves_the_previous_one(
    store: SqlAlchemyUnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = latest_run(store, "W")
    rows = (count(store, ForecastRun), count(store, ForecastSeries), count(store, DemandForecast))
    real_insert = forecast_rows.bulk_insert

    def failing_insert(conn: Any, table: Any, frame: Any) -> int:
        if table.name == "demand_forecasts":  # the series rows are in, the points are not
            raise RuntimeError("disk full")
        return real_insert(conn, table, frame)

    monkeypatch.setattr(forecast_rows, "bulk_insert", failing_insert)
    with pytest.raises(RuntimeError, match="disk full"):
        run_demand_forecast(store, freq="W", horizon=5, top_products=TOP, now=NOW + timedelta(days=1))
    assert latest_run(store, "W") == before
    assert len(demand_forecast(store, "shop", freq="W").points) == before.horizon
    assert (count(store, ForecastRun), count(store, ForecastSeries), count(store, DemandForecast)) == rows


def test_the_report_has_a_figure_per_top_series_with_its_model_and_mase(
    store: SqlAlchemyUnitOfWork, tmp_path: Path
) -> None:
    path = write_demand_report(store, tmp_path / "demand", freq="D", n_categories=2, n_products=3)
    page = path.read_text(encoding="utf-8")
    figures = sorted((tmp_path / "demand").glob("*.png"))
    assert len(figures) == 1 + 2 + 3
    for figure in figures:
        assert figure.stat().st_size > 10_000
        assert f"src='{figure.name}'" in page
    shop = demand_forecast(store, "shop", freq="D", measure="revenue")
    assert shop.model in page and f"{shop.backtest_mase:.2f}" in page
    assert "Demand forecast, daily" in page and "backtest MASE" in page


def test_before_any_run_the_services_say_what_to_run(uow: SqlAlchemyUnitOfWork, tmp_path: Path) -> None:
    with pytest.raises(ForecastNotFound, match="crm forecast demand --freq D"):
        demand_forecast(uow, "shop", freq="D")
    with pytest.raises(ForecastNotFound, match="crm forecast demand"):
        write_demand_report(uow, tmp_path)


def test_a_store_without_sales_is_a_clear_error_and_writes_nothing(uow: SqlAlchemyUnitOfWork) -> None:
    with pytest.raises(InvalidInput, match="no sales"):
        run_demand_forecast(uow, freq="W")
    assert count(uow, ForecastRun) == 0
