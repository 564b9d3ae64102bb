"""Demand series and forecasts on small hand-made sales: what the operator sees per day and week."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pytest

from analytics.core.errors import InvalidInput
from analytics.forecast.demand_forecasters import SeriesForecast, backtest_mase, forecast_demand
from analytics.forecast.demand_series import SALES_COLUMNS, DemandData, build_series, history_end_for

MONDAY = pd.Timestamp("2024-01-01")  # a Monday


def sales(rows: Iterable[tuple[str, str, float, float]], category: str = "Mugs") -> pd.DataFrame:
    """Sales rows (time, sku, quantity, unit price); negative quantities are cancellations."""
    frame = pd.DataFrame(list(rows), columns=["placed_at", "sku", "quantity", "price"])
    frame["placed_at"] = pd.to_datetime(frame["placed_at"])
    frame["name"] = "Product " + frame["sku"]
    frame["category"] = category
    frame["amount"] = frame["quantity"] * frame["price"]
    return frame.loc[:, list(SALES_COLUMNS)]


def every_open_day(weeks: int, closed: tuple[int, ...] = (5,), sku: str = "A", per_day: float = 3.0) -> pd.DataFrame:
    """``per_day`` units of ``sku`` at noon on every day of ``weeks`` weeks except the closed weekdays."""
    days = pd.date_range(MONDAY, periods=7 * weeks, freq="D")
    days = days[~np.isin(days.dayofweek, closed)]
    return sales([(f"{d:%Y-%m-%d} 12:00", sku, per_day, 2.0) for d in days])


def series_of(data: DemandData, level: str, key: str, measure: str = "units") -> pd.Series:
    (found,) = [s.values for s in data.series if (s.level, s.key, s.measure) == (level, key, measure)]
    return found


# -- the calendar --------------------------------------------------------------------------------


def test_days_without_sales_are_zero_in_the_daily_series() -> None:
    frame = sales([("2024-01-01 10:00", "A", 2, 1.0), ("2024-01-03 10:00", "A", 5, 1.0)])
    data = build_series(frame, "D", as_of=pd.Timestamp("2024-01-04"), min_periods=1, min_sale_periods=1)
    units = series_of(data, "product", "A")
    assert units.index.strftime("%Y-%m-%d").tolist() == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert units.tolist() == [2.0, 0.0, 5.0]


def test_a_weekday_without_any_sale_is_closed_and_left_out_of_daily_series() -> None:
    data = build_series(every_open_day(weeks=4), "D", as_of=MONDAY + pd.Timedelta(weeks=4))
    assert data.closed_weekdays == (5,)  # Saturday
    assert data.season_length == 6
    units = series_of(data, "shop", "all")
    assert len(units) == 24
    assert 5 not in set(units.index.dayofweek)
    assert (units == 3.0).all()


def test_a_short_history_does_not_call_a_quiet_weekday_closed() -> None:
    frame = every_open_day(weeks=2)  # two weeks: a Saturday without sales may be chance
    data = build_series(frame, "D", as_of=MONDAY + pd.Timedelta(weeks=2), min_periods=1)
    assert data.closed_weekdays == ()
    assert series_of(data, "shop", "all")[lambda s: s.index.dayofweek == 5].tolist() == [0.0, 0.0]


def test_weekly_series_sum_monday_to_sunday_and_are_labelled_by_the_monday() -> None:
    frame = every_open_day(weeks=3)
    data = build_series(frame, "W", as_of=MONDAY + pd.Timedelta(weeks=3), min_periods=1, min_sale_periods=1)
    units = series_of(data, "product", "A")
    assert units.index.strftime("%Y-%m-%d").tolist() == ["2024-01-01", "2024-01-08", "2024-01-15"]
    assert units.tolist() == [18.0, 18.0, 18.0]
    assert series_of(data, "product", "A", "revenue").tolist() == [36.0, 36.0, 36.0]


def test_the_period_in_progress_is_not_part_of_the_history() -> None:
    assert history_end_for("D", pd.Timestamp("2024-01-10 12:00")) == pd.Timestamp("2024-01-09")
    assert history_end_for("D", pd.Timestamp("2024-01-10 00:00")) == pd.Timestamp("2024-01-09")
    assert history_end_for("W", pd.Timestamp("2024-01-10 12:00")) == pd.Timestamp("2024-01-07")  # the Sunday before
    assert history_end_for("W", pd.Timestamp("2024-01-15 00:00")) == pd.Timestamp("2024-01-14")  # the week just ended
    frame = every_open_day(weeks=3)  # the newest sale is Sunday 21 January at noon
    daily = build_series(frame, "D", min_periods=1, min_sale_periods=1)
    weekly = build_series(frame, "W", min_periods=1, min_sale_periods=1)
    assert str(daily.history_end) == "2024-01-20"
    assert str(weekly.history_end) == "2024-01-14"
    assert series_of(weekly, "shop", "all").tolist() == [18.0, 18.0]


# -- returns -------------------------------------------------------------------------------------


def test_cancellations_are_subtracted_in_the_period_they_were_recorded() -> None:
    frame = sales(
        [
            ("2024-01-01 10:00", "A", 10, 2.0),
            ("2024-01-01 10:05", "A", -4, 2.0),  # order corrected minutes later
            ("2024-01-02 10:00", "A", 1, 2.0),
            ("2024-01-03 10:00", "A", 2, 2.0),
        ]
    )
    data = build_series(frame, "D", as_of=pd.Timestamp("2024-01-04"), min_periods=1, min_sale_periods=1)
    assert series_of(data, "product", "A").tolist() == [6.0, 1.0, 2.0]
    assert series_of(data, "product", "A", "revenue").tolist() == [12.0, 2.0, 4.0]


def test_returns_larger_than_the_period_sales_leave_zero_demand_not_negative() -> None:
    frame = sales(
        [
            ("2024-01-01 10:00", "A", 10, 1.0),
            ("2024-01-02 10:00", "A", 1, 1.0),
            ("2024-01-02 11:00", "A", -6, 1.0),  # goods bought the day before come back
            ("2024-01-02 10:00", "B", 3, 1.0),
            ("2024-01-03 10:00", "A", 2, 1.0),
        ]
    )
    data = build_series(frame, "D", as_of=pd.Timestamp("2024-01-04"), min_periods=1, min_sale_periods=1)
    assert series_of(data, "product", "A").tolist() == [10.0, 0.0, 2.0]
    # the levels add up: B's sales on the 2nd are not eaten by A's return
    assert series_of(data, "category", "Mugs").tolist() == [10.0, 3.0, 2.0]
    assert series_of(data, "shop", "all").tolist() == [10.0, 3.0, 2.0]


def test_returns_exclude_forecasts_gross_sales() -> None:
    frame = sales([("2024-01-01 10:00", "A", 10, 1.0), ("2024-01-01 11:00", "A", -4, 1.0)])
    frame = pd.concat([frame, sales([("2024-01-02 10:00", "A", 1, 1.0)])])
    data = build_series(
        frame, "D", as_of=pd.Timestamp("2024-01-03"), returns="exclude", min_periods=1, min_sale_periods=1
    )
    assert series_of(data, "product", "A").tolist() == [10.0, 1.0]


# -- what is forecast ----------------------------------------------------------------------------


def test_products_with_too_little_history_are_skipped_and_counted() -> None:
    frame = pd.concat(
        [
            every_open_day(weeks=8, sku="A"),
            sales([("2024-02-23 12:00", "NEW", 5, 1.0)]),  # launched on the last Friday
            sales([(f"2024-01-{d:02d} 12:00", "RARE", 1, 1.0) for d in (2, 16)]),  # sold on two days only
        ]
    )
    data = build_series(frame, "D", as_of=MONDAY + pd.Timedelta(weeks=8))
    products = {s.key for s in data.series if s.level == "product"}
    assert products == {"A"}
    assert sorted(data.skipped["product"]) == ["NEW", "RARE"]


def test_top_products_keeps_the_best_sellers() -> None:
    frame = pd.concat([every_open_day(weeks=6, sku=sku, per_day=n) for sku, n in (("A", 1.0), ("B", 9.0), ("C", 4.0))])
    data = build_series(frame, "W", as_of=MONDAY + pd.Timedelta(weeks=6), min_periods=4, top_products=2)
    assert [s.key for s in data.series if s.level == "product" and s.measure == "units"] == ["B", "C"]
    assert data.outside_top == 1
    assert series_of(data, "shop", "all").iloc[0] == 6 * 14.0  # the shop still counts every product


def test_a_shop_history_too_short_for_the_horizon_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match=r"cover 2 complete week\(s\).*needs at least"):
        build_series(every_open_day(weeks=2), "W", as_of=MONDAY + pd.Timedelta(weeks=2))


@pytest.mark.parametrize(
    "frame",
    [
        sales([]),
        sales([("2024-01-01 10:00", "A", -3, 1.0)]),  # a return and nothing sold
    ],
    ids=["empty", "returns only"],
)
def test_no_sales_is_a_clear_error(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="no sales"):
        build_series(frame, "D")


def test_bad_parameters_say_what_to_pass() -> None:
    frame = every_open_day(weeks=4)
    with pytest.raises(InvalidInput, match=r"'D' \(daily\) or 'W'"):
        build_series(frame, "M")
    with pytest.raises(InvalidInput, match="returns must be one of net, exclude"):
        build_series(frame, "D", returns="gross")
    with pytest.raises(InvalidInput, match="horizon must be a whole number >= 1"):
        build_series(frame, "D", horizon=0)


# -- forecasts -----------------------------------------------------------------------------------


def awkward_shop() -> pd.DataFrame:
    """Ten weeks, Saturdays closed: a steady seller, a seasonal one, an intermittent one, a dying one,
    one with returns that exceed some days' sales, and a holiday week with no sales at all."""
    rng = np.random.default_rng(7)
    days = pd.date_range(MONDAY, periods=70, freq="D")
    days = days[days.dayofweek != 5]
    rows: list[tuple[str, str, float, float]] = []
    for i, day in enumerate(days):
        stamp = f"{day:%Y-%m-%d} 12:00"
        if 21 <= i < 27:  # the shop was shut for a week
            continue
        rows.append((stamp, "STEADY", 5.0, 1.0))
        rows.append((stamp, "WEEKLY", 20.0 if day.dayofweek == 0 else 2.0, 3.0))
        if rng.random() < 0.15:
            rows.append((stamp, "LUMPY", float(rng.integers(1, 50)), 0.5))
        rows.append((stamp, "DYING", float(max(40 - i, 0) or 0), 1.0))
        rows.append((stamp, "RETURNS", float(rng.integers(0, 4)), 2.0))
        if rng.random() < 0.2:
            rows.append((f"{day:%Y-%m-%d} 15:00", "RETURNS", -6.0, 2.0))
    frame = sales([r for r in rows if r[2] != 0])
    frame.loc[frame["sku"] == "LUMPY", "category"] = "Toys"
    return frame


Awkward = tuple[DemandData, list[SeriesForecast], list[tuple[str, int, int]]]


@pytest.fixture(scope="module")
def awkward() -> Awkward:
    """The awkward shop's daily series and their forecasts 9 days ahead, with the progress reports."""
    data = build_series(awkward_shop(), "D", as_of=MONDAY + pd.Timedelta(days=70), horizon=9)
    seen: list[tuple[str, int, int]] = []
    forecasts = forecast_demand(data, 9, progress=lambda step, done, total: seen.append((step, done, total)))
    return data, forecasts, seen


def test_every_forecast_is_finite_non_negative_and_inside_its_interval(awkward: Awkward) -> None:
    _, forecasts, _ = awkward
    assert {(f.level, f.key) for f in forecasts} >= {("shop", "all"), ("category", "Toys"), ("product", "DYING")}
    for f in forecasts:
        assert len(f.point) == len(f.lower) == len(f.upper) == 9
        for values in (f.point, f.lower, f.upper):
            assert np.all(np.isfinite(values)) and np.all(values >= 0)
        assert np.all(f.lower <= f.point) and np.all(f.point <= f.upper)
        assert f.model and f.backtest_mase is not None and np.isfinite(f.backtest_mase)


def test_closed_days_in_the_horizon_are_zero_with_no_uncertainty(awkward: Awkward) -> None:
    (shop,) = [f for f in awkward[1] if f.level == "shop" and f.measure == "units"]
    saturday = shop.periods.dayofweek == 5
    assert saturday.sum() == 1
    assert shop.point[saturday].tolist() == shop.lower[saturday].tolist() == shop.upper[saturday].tolist() == [0.0]
    assert np.all(shop.point[~saturday] > 0)


def test_a_product_that_sells_the_same_every_day_is_forecast_at_that_amount() -> None:
    data = build_series(every_open_day(weeks=8, per_day=3.0), "D", as_of=MONDAY + pd.Timedelta(weeks=8))
    (units,) = [f for f in forecast_demand(data, 7) if f.level == "product" and f.measure == "units"]
    open_days = units.periods.dayofweek != 5
    assert np.allclose(units.point[open_days], 3.0)
    assert np.allclose(units.upper[open_days] - units.lower[open_days], 0.0)


def test_a_product_that_stopped_selling_is_forecast_near_zero_not_below(awkward: Awkward) -> None:
    (dying,) = [f for f in awkward[1] if f.key == "DYING" and f.measure == "units"]
    assert dying.point.max() < 1.0
    assert dying.lower.min() == 0.0


def test_weekly_forecasts_start_the_monday_after_the_history() -> None:
    frame = pd.concat([every_open_day(weeks=20, sku=sku, per_day=n) for sku, n in (("A", 2.0), ("B", 5.0))])
    data = build_series(frame, "W", as_of=MONDAY + pd.Timedelta(weeks=20), horizon=4)
    forecasts = forecast_demand(data, 4)
    assert forecasts[0].periods[0] == pd.Timestamp("2024-05-20")  # history ends Sunday 19 May
    assert (forecasts[0].periods.dayofweek == 0).all()
    (b,) = [f for f in forecasts if f.key == "B" and f.measure == "units"]
    assert np.allclose(b.point, 30.0)


def test_progress_counts_series_up_to_all_of_them(awkward: Awkward) -> None:
    data, _, seen = awkward
    assert seen[-1][1] == seen[-1][2] == len(data.series)
    assert [done for _, done, _ in seen] == sorted(done for _, done, _ in seen)


def test_backtest_mase_scales_each_window_by_the_naive_error_at_its_origin() -> None:
    y = np.array([1.0, 3.0, 1.0, 3.0, 1.0, 3.0, 1.0, 3.0])  # naive in-sample MAE 2 at every origin
    errors = np.array([[1.0, -1.0], [2.0, 2.0]])  # windows starting at 4 and 6
    assert backtest_mase(y, errors, horizon=2, m=1) == pytest.approx((1.0 / 2 + 2.0 / 2) / 2)
    assert backtest_mase(y, np.full((2, 2), np.nan), horizon=2, m=1) is None
