"""Demand forecasts for the whole shop, every category and every product, daily or weekly, into the store.

``crm forecast demand`` runs :func:`run_demand_forecast`: it reads every sale
and cancellation once, builds the series (:func:`build_series`), forecasts
them (:func:`forecast_demand`) and writes one ``forecast_runs`` row with its
``forecast_series`` and ``demand_forecasts`` in one transaction, so a failed
run leaves the previous one in place. :func:`demand_forecast` and
:func:`top_series` read the newest run of a frequency.

What a series is
----------------
- **Levels and measures.** The shop (key ``"all"``), each product category
  (key: the category name) and each product (key: its SKU), each in *units*
  (quantity) and *revenue* (quantity x unit price, pounds). Guest orders
  count: a quarter of the sales have no customer number, and demand is demand.
- **Returns are netted** (``returns="net"``, the default): cancellations and
  returns (approved or refunded: requested and rejected ones are not goods
  back) are subtracted from the product's sales of the period in which they
  were recorded, since the store does not link them to the original order.
  A product-period whose returns exceed its sales (goods bought earlier) is
  set to 0: demand is never negative, and the excess is not moved back to the
  unknown period it came from. Categories and the shop are sums of these
  product values, so the levels add up. On Online Retail 79% of the cancelled
  units are matched by sales of the same product on the same day (order
  corrections, including the two largest orders of the data set, 74,215 and
  80,995 units cancelled within minutes); netting keeps those one-off spikes
  out of the history. ``returns="exclude"`` forecasts gross sales instead.
- **Complete calendar.** Every period from a series' first sale to the end of
  the history is present; a period without sales is 0. Weeks run Monday to
  Sunday and are labelled by their Monday.
- **Closed days are explicit.** A weekday on which the shop sold nothing in
  the whole history (at least three weeks of it) is a *closed* day: Online
  Retail has no Saturday sales (after the demo time shift the closed weekday
  moves with the dates). Daily series hold the open days only, so the models
  see a season of ``open days per week`` values (6) instead of a zero every
  seventh day, and closed days in the forecast horizon are written as 0 with
  a zero-width interval. A holiday on an open weekday (Christmas, bank
  holidays) stays a 0 in the series: the shop could have sold and did not.
- **Complete periods only.** The history ends with the last period that is
  over at ``as_of`` (default: the newest sale or cancellation), so a day or
  week in progress never looks like a slump; the forecast starts with the
  period after it (the one in progress).
- **Enough history.** A series starts at its own first sale and is forecast
  when it has at least ``horizon + max(2 x season, 8)`` periods (one backtest
  window plus two seasons, and never fewer than 8) and at least
  :data:`MIN_SALE_PERIODS` periods with sales; shorter categories and
  products are skipped and counted in the run's summary, and
  :func:`demand_forecast` says so for them. If the shop itself is too short,
  nothing is forecast and :class:`~analytics.errors.InvalidInput` says how
  much history there is. ``top_products`` keeps only the products with the
  largest revenue over the last year of the history.

How they are forecast
---------------------
With :class:`~analytics.forecast.PanelForecaster`, candidates scored by a
rolling-origin backtest of ``n_windows`` windows of the horizon
(:data:`N_WINDOWS`) on the history, by MASE (``metric="mae"``, errors scaled
per series):

- the shop and each category choose their own combination (``select="series"``,
  ``combine="best-combination"``: the equal-weight mean of the one to three
  candidates with the lowest backtest error);
- products are forecast in groups of :data:`PRODUCT_GROUP_SIZE`, in order of
  revenue, and each group chooses one combination for all its products
  (``select="panel"``). One intermittent product's few windows are a noisy
  basis for a choice: on Online Retail (the 600 best sellers' daily units,
  three origins in September and October 2011) a choice per product scored
  MASE 1.33-1.38 against 1.24 for one choice for all; groups of 150 by
  revenue did about as well as one choice for all (1.40 against 1.38 on
  1,200 products daily, equal weekly) and let the progress bar move. These
  origins overlap those of ``bench/retail_forecast.py``.

Candidates (:func:`candidates`) are cheap, robust models fit for the
frequency and for one year of data: daily, seasonal naive, SES, ETS
(aggregates), Theta, a moving average of a week, an exponential moving
average, naive and a calendar regression, all with a season of one week of
open days; weekly, naive, a 4-week moving average, an exponential moving
average, SES, Theta, drift and ETS (aggregates), with a yearly season (and a
yearly seasonal naive) only once the history holds two years. A global
boosting model was tried on products and never chosen by the backtest, so it
is not run. Intervals (``interval_level``, default 80%) come from each
series' backtest errors of the combined forecast; forecasts and bounds are
clipped at 0. The backtest MASE stored per series is the mean over its
windows of the mean absolute error divided by the in-sample MAE of the
seasonal naive forecast (a week of open days daily, the naive forecast
weekly) at each window's origin.

Examples
--------
>>> sales = pd.DataFrame({
...     "placed_at": pd.to_datetime(["2024-01-01 10:00", "2024-01-03 11:00", "2024-01-03 16:00"]),
...     "sku": ["A"] * 3, "name": ["Mug"] * 3, "category": ["Kitchen"] * 3,
...     "quantity": [2.0, 5.0, -1.0], "amount": [4.0, 10.0, -2.0],  # the last row: one mug cancelled
... })
>>> data = build_series(sales, "D", as_of=pd.Timestamp("2024-01-04"), min_periods=1, min_sale_periods=1)
>>> [(s.level, s.measure, s.values.tolist()) for s in data.series if s.measure == "units"]
[('shop', 'units', [2.0, 0.0, 4.0]), ('category', 'units', [2.0, 0.0, 4.0]), ('product', 'units', [2.0, 0.0, 4.0])]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import pandas as pd
from sqlalchemy import Float, Select, cast, delete, func, select
from threadpoolctl import threadpool_limits

from analytics.errors import InvalidInput, NotFound
from analytics.store.bulk import bulk_insert
from analytics.store.models import (
    DemandForecast,
    ForecastRun,
    ForecastSeries,
    Order,
    OrderLine,
    Product,
    Return,
    ReturnStatus,
)
from analytics.store.uow import SqlAlchemyUnitOfWork

if TYPE_CHECKING:
    from analytics.forecast import BaseForecaster, PanelForecaster

Progress = Callable[[str, int, int], None]

FREQS = ("D", "W")
FREQ_NAMES = {"D": "daily", "W": "weekly"}
PERIOD_NAMES = {"D": "day", "W": "week"}
LEVELS = ("shop", "category", "product")
MEASURES = ("units", "revenue")
RETURNS = ("net", "exclude")
SHOP_KEY = "all"
SHOP_NAME = "The whole shop"
#: Periods forecast when no horizon is given: two weeks of days, two months of weeks.
DEFAULT_HORIZON = {"D": 14, "W": 8}
#: Backtest windows of one horizon each.
N_WINDOWS = {"D": 4, "W": 3}
#: A series needs at least this many periods with sales to be forecast.
MIN_SALE_PERIODS = 4
#: Products are forecast in groups of this many, in order of revenue; each group chooses its combination.
PRODUCT_GROUP_SIZE = 200
#: A weekday without sales is only called closed when the history covers this many days.
MIN_DAYS_FOR_CLOSED = 21
#: ``top_products`` ranks products by revenue over this many days before the end of the history.
RANK_DAYS = 365
#: The newest runs of a frequency kept in the store; older ones are deleted by the next run.
KEEP_RUNS = 3
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: Cancellations and returns in these states are goods back (requested and rejected ones are not).
COUNTED_RETURNS = (ReturnStatus.APPROVED, ReturnStatus.REFUNDED)
#: Columns of the sales frame :func:`load_sales` returns and :func:`build_series` takes.
SALES_COLUMNS = ("placed_at", "sku", "name", "category", "quantity", "amount")


class ForecastNotFound(NotFound):
    """No stored forecast for what was asked; the message says why and what to run."""


def _no_progress(_step: str, _done: int, _total: int) -> None:
    return None


def check_freq(freq: Any) -> str:
    """``"D"`` or ``"W"`` (case-insensitive), or :class:`InvalidInput`."""
    value = str(freq).upper()
    if value not in FREQS:
        raise InvalidInput(f"freq must be 'D' (daily) or 'W' (weekly), not {freq!r}.")
    return value


def _check_choice(value: Any, allowed: Sequence[str], name: str) -> str:
    if value not in allowed:
        raise InvalidInput(f"{name} must be one of {', '.join(allowed)}; got {value!r}.")
    return str(value)


def _check_count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidInput(f"{name} must be a whole number >= {minimum}, not {value!r}.")
    return int(value)


# -- reading the store ---------------------------------------------------------------------------


def _fetch(uow: SqlAlchemyUnitOfWork, stmt: Select[Any]) -> list[Any]:
    # the raw driver cursor skips SQLAlchemy's per-row processing: three times faster on 500,000 lines
    conn = uow.session.connection()
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    return list(conn.exec_driver_sql(str(compiled)).fetchall())


def load_sales(uow: SqlAlchemyUnitOfWork, *, returns: str = "net") -> pd.DataFrame:
    """Every sale line (guest orders included) and, with ``returns="net"``, every counted return, as a frame.

    Columns :data:`SALES_COLUMNS`: ``placed_at`` (datetime), ``sku``,
    ``name``, ``category``, ``quantity`` and ``amount`` (floats, negative
    for cancellations and returns, dated when they were recorded).
    """
    returns = _check_choice(returns, RETURNS, "returns")
    sales_stmt = select(
        Order.placed_at,
        OrderLine.product_id,
        cast(OrderLine.quantity, Float),
        cast(OrderLine.quantity * OrderLine.unit_price, Float),
    ).join(OrderLine, OrderLine.order_id == Order.id)
    returns_stmt = select(
        Return.created_at, Return.product_id, cast(-Return.quantity, Float), cast(-Return.amount, Float)
    ).where(Return.status.in_(COUNTED_RETURNS), Return.product_id.is_not(None))
    with uow:
        catalog = pd.DataFrame(
            _fetch(uow, select(Product.id, Product.sku, Product.name, Product.category)),
            columns=["product_id", "sku", "name", "category"],
        ).set_index("product_id")
        rows = _fetch(uow, sales_stmt)
        if returns == "net":
            rows += _fetch(uow, returns_stmt)
    # strings are mapped once per product, not read once per line: half the reading time
    frame = pd.DataFrame(rows, columns=["placed_at", "product_id", "quantity", "amount"])
    frame["placed_at"] = pd.to_datetime(frame["placed_at"], format="ISO8601")
    for column in ("sku", "name", "category"):
        frame[column] = frame["product_id"].map(catalog[column]).astype(str)
    return frame.loc[:, list(SALES_COLUMNS)].astype({"quantity": "float64", "amount": "float64"})


# -- building the series --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DemandSeries:
    """One history: ``values`` indexed by period start (open days, or Mondays), oldest first."""

    level: str
    key: str
    name: str
    measure: str
    values: pd.Series


@dataclass(frozen=True, eq=False)
class DemandData:
    """The series of one frequency, their calendar and what was left out.

    Attributes
    ----------
    freq : str
        ``"D"`` or ``"W"``.
    periods : pandas.DatetimeIndex
        The shop's periods from its first sale to the end of the history
        (open days only for ``"D"``).
    history_end : datetime.date
        Last calendar day the history covers (a Sunday for weekly data).
    closed_weekdays : tuple of int
        Monday = 0; empty for weekly data.
    season_length : int
        Open days per week (daily), 1 (weekly, less than two years) or 52.
    min_periods : int
        Periods a series needed to be kept.
    series : tuple of DemandSeries
        Shop first, then categories, then products (by revenue rank), each level units then revenue.
    skipped : dict
        Per level, the keys left out for too little history.
    outside_top : int
        Products with enough history left out by ``top_products``.
    returns : str
        ``"net"`` or ``"exclude"``.
    """

    freq: str
    periods: pd.DatetimeIndex
    history_end: date
    closed_weekdays: tuple[int, ...]
    season_length: int
    min_periods: int
    series: tuple[DemandSeries, ...]
    skipped: dict[str, list[str]]
    returns: str
    outside_top: int = 0

    def future(self, horizon: int) -> tuple[pd.DatetimeIndex, np.ndarray]:
        """The next ``horizon`` calendar periods after the history, and which of them are open."""
        return future_periods(self.freq, self.history_end, self.closed_weekdays, horizon)

    def model_horizon(self, horizon: int) -> int:
        """Open periods among the next ``horizon`` ones (at least 1): the steps the models forecast."""
        return max(int(self.future(horizon)[1].sum()), 1)


def future_periods(
    freq: str, history_end: date, closed_weekdays: Sequence[int], horizon: int
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Starts of the ``horizon`` calendar periods after ``history_end``, and a mask of the open ones.

    Examples
    --------
    >>> stamps, is_open = future_periods("D", date(2011, 12, 8), (5,), 3)  # Friday 9th, Saturday (closed), Sunday
    >>> [f"{s:%a}" for s in stamps], is_open.tolist()
    (['Fri', 'Sat', 'Sun'], [True, False, True])
    """
    horizon = _check_count(horizon, "horizon", 1)
    start = pd.Timestamp(history_end) + pd.Timedelta(days=1)
    if check_freq(freq) == "D":
        stamps = pd.date_range(start, periods=horizon, freq="D")
        return stamps, ~np.isin(stamps.dayofweek, list(closed_weekdays))
    stamps = pd.date_range(start, periods=horizon, freq="7D")
    return stamps, np.ones(horizon, dtype=bool)


def history_end_for(freq: str, as_of: pd.Timestamp) -> pd.Timestamp:
    """Last calendar day of the last period that is complete at ``as_of``.

    Examples
    --------
    >>> history_end_for("D", pd.Timestamp("2011-12-09 12:50")).date()
    datetime.date(2011, 12, 8)
    >>> history_end_for("W", pd.Timestamp("2011-12-09 12:50")).date()  # a Friday: the week before ends on Sunday 4th
    datetime.date(2011, 12, 4)
    """
    day = as_of.normalize()
    if check_freq(freq) == "D":
        return day - pd.Timedelta(days=1)
    return day - pd.Timedelta(days=int(day.dayofweek) + 1)


def min_periods_for(model_horizon: int, season_length: int) -> int:
    """One backtest window plus two seasons, and never fewer than 8 periods."""
    return model_horizon + max(2 * season_length, 8)


def _check_sales(sales: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(sales, pd.DataFrame):
        raise InvalidInput(f"sales must be a pandas DataFrame with columns {', '.join(SALES_COLUMNS)}.")
    missing = [c for c in SALES_COLUMNS if c not in sales.columns]
    if missing:
        raise InvalidInput(f"sales lacks column(s) {', '.join(missing)}; see analytics.demand.load_sales.")
    frame = sales.loc[:, list(SALES_COLUMNS)].copy()
    if frame.empty or not (frame["quantity"] > 0).any():
        raise InvalidInput("The store has no sales to forecast from; import orders first (crm seed).")
    if frame.isna().any().any():
        bad = frame.columns[frame.isna().any()].tolist()
        raise InvalidInput(f"sales has missing values in {', '.join(bad)}; drop or fill those rows.")
    frame["placed_at"] = pd.to_datetime(frame["placed_at"])
    for column in ("quantity", "amount"):
        frame[column] = frame[column].astype("float64")
        if not np.isfinite(frame[column]).all():
            raise InvalidInput(f"sales has infinite values in {column}; fix or drop those rows.")
    return frame


def build_series(
    sales: pd.DataFrame,
    freq: str,
    *,
    as_of: Optional[datetime] = None,
    horizon: Optional[int] = None,
    returns: str = "net",
    top_products: Optional[int] = None,
    min_periods: Optional[int] = None,
    min_sale_periods: int = MIN_SALE_PERIODS,
) -> DemandData:
    """Units and revenue per period for the shop, each category and each product (module docstring).

    Parameters
    ----------
    sales : pandas.DataFrame
        As :func:`load_sales` returns (negative rows are returns).
    freq : {"D", "W"}
    as_of : datetime, optional
        What the history is known up to (default: the newest row of ``sales``).
    horizon : int, optional
        Periods to be forecast (default :data:`DEFAULT_HORIZON`); sets the
        history a series needs.
    returns : {"net", "exclude"}
        Subtract the negative rows, or drop them.
    top_products : int, optional
        Keep only this many products, by revenue over the last year; None = all.
    min_periods, min_sale_periods : int, optional
        Shortest history, and fewest periods with sales, of a series that is
        kept (default: :func:`min_periods_for`, :data:`MIN_SALE_PERIODS`).

    Raises
    ------
    InvalidInput
        No sales, bad parameters, or a shop history too short to forecast.
    """
    freq = check_freq(freq)
    returns = _check_choice(returns, RETURNS, "returns")
    horizon = _check_count(DEFAULT_HORIZON[freq] if horizon is None else horizon, "horizon", 1)
    min_sale_periods = _check_count(min_sale_periods, "min_sale_periods", 1)
    if top_products is not None:
        top_products = _check_count(top_products, "top_products", 0)
    frame = _check_sales(sales)
    if returns == "exclude":
        frame = frame[frame["quantity"] > 0]
    as_of_ts = frame["placed_at"].max() if as_of is None else pd.Timestamp(as_of)
    end = history_end_for(freq, as_of_ts)
    frame = frame[frame["placed_at"] < end + pd.Timedelta(days=1)]
    sold = frame[frame["quantity"] > 0]
    if sold.empty:
        raise InvalidInput(
            f"The store has no sales in the complete {PERIOD_NAMES[freq]}s before {as_of_ts:%Y-%m-%d %H:%M}; "
            "import orders first (crm seed)."
        )
    first_day = sold["placed_at"].min().normalize()

    closed: tuple[int, ...] = ()
    if freq == "D":
        if (end - first_day).days + 1 >= MIN_DAYS_FOR_CLOSED:
            open_days = set(sold["placed_at"].dt.dayofweek.unique().tolist())
            closed = tuple(d for d in range(7) if d not in open_days)
        calendar = pd.date_range(first_day, end, freq="D")
        periods = calendar[~np.isin(calendar.dayofweek, closed)]
        season = 7 - len(closed)
        frame = frame.assign(period=frame["placed_at"].dt.normalize())
    else:
        start = first_day - pd.Timedelta(days=int(first_day.dayofweek))
        periods = pd.date_range(start, end - pd.Timedelta(days=6), freq="7D")
        season = 52 if len(periods) >= 2 * 52 + horizon else 1
        day = frame["placed_at"].dt.normalize()
        frame = frame.assign(period=day - pd.to_timedelta(day.dt.dayofweek, unit="D"))
    # a return on a closed day (possible: returns are not sales) counts on the next open day
    if closed:
        position = periods.searchsorted(frame["period"])
        frame = frame[position < len(periods)]
        frame = frame.assign(period=periods[periods.searchsorted(frame["period"])])

    model_h = max(int(future_periods(freq, end.date(), closed, horizon)[1].sum()), 1)
    needed = min_periods_for(model_h, season) if min_periods is None else _check_count(min_periods, "min_periods", 1)
    if len(periods) < needed:
        raise InvalidInput(
            f"The store's sales cover {len(periods)} complete {'open day' if freq == 'D' else 'week'}(s) "
            f"({periods[0]:%Y-%m-%d} to {end:%Y-%m-%d}); a {FREQ_NAMES[freq]} forecast of {horizon} period(s) "
            f"needs at least {needed}. Import more history or forecast fewer periods."
        )

    names = frame.groupby("sku")["name"].first()
    per_period = frame.groupby(["sku", "period"])[["quantity", "amount"]].sum().clip(lower=0.0)
    units = per_period["quantity"].unstack(fill_value=0.0).reindex(columns=periods, fill_value=0.0)
    revenue = per_period["amount"].unstack(fill_value=0.0).reindex(index=units.index, columns=periods, fill_value=0.0)
    recent = sold[sold["placed_at"] >= end - pd.Timedelta(days=RANK_DAYS - 1)]
    rank_revenue = recent.groupby("sku")["amount"].sum().reindex(units.index, fill_value=0.0)
    order = sorted(units.index, key=lambda sku: (-rank_revenue[sku], sku))
    units, revenue, rank_revenue = units.loc[order], revenue.loc[order], rank_revenue.loc[order]
    categories = frame.groupby("sku")["category"].first().loc[order].to_numpy()
    unit_rows, revenue_rows = units.to_numpy(), revenue.to_numpy()

    skipped: dict[str, list[str]] = {"shop": [], "category": [], "product": []}
    out: list[DemandSeries] = []

    def add(level: str, key: str, name: str, u: np.ndarray, r: np.ndarray) -> bool:
        sold_at = np.flatnonzero(u > 0)
        if len(sold_at) == 0 or len(periods) - sold_at[0] < needed or len(sold_at) < min_sale_periods:
            skipped[level].append(key)
            return False
        first = int(sold_at[0])
        index = periods[first:]
        out.append(DemandSeries(level, key, name, "units", pd.Series(u[first:], index=index, name=key)))
        out.append(DemandSeries(level, key, name, "revenue", pd.Series(r[first:], index=index, name=key)))
        return True

    shop_units = unit_rows.sum(axis=0)
    if not add("shop", SHOP_KEY, SHOP_NAME, shop_units, revenue_rows.sum(axis=0)):
        raise InvalidInput(
            f"The shop sold in only {int((shop_units > 0).sum())} of its {len(periods)} periods; "
            f"a forecast needs at least {min_sale_periods} periods with sales."
        )
    cat_units = units.groupby(categories).sum()
    cat_revenue = revenue.groupby(categories).sum()
    cat_rank = rank_revenue.groupby(categories).sum()
    for category in sorted(cat_units.index, key=lambda c: (-float(cat_rank[c]), c)):
        add("category", category, category, cat_units.loc[category].to_numpy(), cat_revenue.loc[category].to_numpy())
    kept = outside_top = 0
    for i, sku in enumerate(order):
        if top_products is not None and kept >= top_products:
            outside_top = len(order) - i
            break
        kept += add("product", sku, str(names[sku]), unit_rows[i], revenue_rows[i])
    return DemandData(freq, periods, end.date(), closed, season, needed, tuple(out), skipped, returns, outside_top)


# -- forecasting ----------------------------------------------------------------------------------


def candidates(freq: str, season_length: int, level: str) -> dict[str, BaseForecaster]:
    """The candidate models of a level (module docstring), named as they appear in the store."""
    # the engine (statsmodels and all) loads with the first forecast, not with the chat-time reads below
    from analytics.forecast import (
        ETS,
        CalendarRegression,
        Drift,
        ExponentialMovingAverage,
        MovingAverage,
        Naive,
        SeasonalNaive,
        Theta,
    )

    freq, m = check_freq(freq), int(season_length)
    aggregate = level != "product"
    out: dict[str, BaseForecaster] = {}
    if freq == "D":
        out["seasonal naive"] = SeasonalNaive(season_length=m)
        out["SES"] = ETS(trend=None, season_length=m)
        if aggregate:
            out["ETS"] = ETS(season_length=m)
        out["Theta"] = Theta(season_length=m)
        out[f"moving average ({m})"] = MovingAverage(window=m)
        out["EMA (0.2)"] = ExponentialMovingAverage(alpha=0.2)
        out["naive"] = Naive()
        out["calendar regression"] = CalendarRegression(season_length=m, max_history=16 * m)
        return out
    if m > 1:
        out[f"seasonal naive ({m})"] = SeasonalNaive(season_length=m)
    out["naive"] = Naive()
    out["moving average (4)"] = MovingAverage(window=4)
    out["EMA (0.2)"] = ExponentialMovingAverage(alpha=0.2)
    out["SES"] = ETS(trend=None, season_length=52)
    out["Theta"] = Theta(season_length=52)
    if aggregate:
        out["drift"] = Drift()
        out["ETS"] = ETS(season_length=52)
    return out


def mase_scale_period(freq: str, season_length: int) -> int:
    """Period of the seasonal naive forecast that scales MASE: a week of open days (daily), 1 (weekly)."""
    return int(season_length) if check_freq(freq) == "D" else 1


def make_forecaster(
    freq: str, season_length: int, level: str, model_horizon: int, *, n_jobs: int = 1
) -> PanelForecaster:
    """The forecaster of one level, as :func:`forecast_demand` and the benchmark use it."""
    from analytics.forecast import PanelForecaster

    freq = check_freq(freq)
    return PanelForecaster(
        local=candidates(freq, season_length, level),
        horizon=model_horizon,
        n_windows=N_WINDOWS[freq],
        combine="best-combination",
        select="panel" if level == "product" else "series",
        metric="mae",
        season_length=mase_scale_period(freq, season_length),
        n_jobs=n_jobs,
        nonnegative=True,
    )


@dataclass(frozen=True, eq=False)
class SeriesForecast:
    """One series' forecast over the calendar horizon (closed days included, at 0)."""

    level: str
    key: str
    name: str
    measure: str
    model: str
    backtest_mase: Optional[float]
    n_observations: int
    periods: pd.DatetimeIndex
    point: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def describe(names: Sequence[str], weights: np.ndarray) -> str:
    """``"SES"`` or ``"0.50 SES + 0.50 Theta"`` for candidate weights (NaN: the median of all).

    Examples
    --------
    >>> describe(["naive", "SES", "Theta"], np.array([0.0, 0.5, 0.5]))
    '0.50 SES + 0.50 Theta'
    """
    if np.isnan(weights).any():
        return "median of " + ", ".join(names)
    used = [(n, float(w)) for n, w in zip(names, weights) if w > 0]
    if len(used) == 1:
        return used[0][0]
    return " + ".join(f"{w:.2f} {n}" for n, w in used)


def backtest_mase(y: np.ndarray, errors: np.ndarray, horizon: int, m: int) -> Optional[float]:
    """Mean over the valid backtest windows of MAE / in-sample seasonal-naive MAE at the window's origin.

    ``errors`` is (windows, horizon) as :class:`PanelForecaster` keeps them
    (NaN rows: windows the series was too short for); None when no window
    was valid. The windows end where the history ends, one ``horizon`` apart.
    """
    n_windows = errors.shape[0]
    values = []
    for j in range(n_windows):
        origin = len(y) - horizon * (n_windows - j)
        if origin < 3 or np.isnan(errors[j]).any():
            continue
        hist = y[:origin]
        lag = m if origin > m else 1
        scale = float(np.mean(np.abs(hist[lag:] - hist[:-lag])))
        if not scale > 0:
            scale = float(np.mean(np.abs(hist))) or 1.0
        values.append(float(np.mean(np.abs(errors[j]))) / scale)
    return float(np.mean(values)) if values else None


def _groups(data: DemandData) -> list[tuple[str, str, list[DemandSeries], str]]:
    """(level, measure, series, label) in the order they are forecast; products in revenue-ranked groups."""
    out: list[tuple[str, str, list[DemandSeries], str]] = []
    for level in LEVELS:
        for measure in MEASURES:
            chosen = [s for s in data.series if s.level == level and s.measure == measure]
            if level != "product":
                out.append((level, measure, chosen, f"{level} {measure}"))
                continue
            for start in range(0, len(chosen), PRODUCT_GROUP_SIZE):
                group = chosen[start : start + PRODUCT_GROUP_SIZE]
                label = f"products {start + 1}-{start + len(group)} of {len(chosen)}, {measure}"
                out.append((level, measure, group, label))
    return [g for g in out if g[2]]


def forecast_demand(
    data: DemandData,
    horizon: Optional[int] = None,
    *,
    interval_level: float = 0.8,
    n_jobs: int = 1,
    progress: Progress = _no_progress,
) -> list[SeriesForecast]:
    """Forecast every series of ``data`` ``horizon`` calendar periods ahead (module docstring).

    Progress is reported as ``(what, series done, series in all)`` after each
    group. Forecasts and bounds are finite and non-negative, with
    ``lower <= point <= upper``; closed days get 0, 0, 0.
    """
    horizon = _check_count(DEFAULT_HORIZON[data.freq] if horizon is None else horizon, "horizon", 1)
    n_jobs = _check_count(n_jobs, "n_jobs", 1)
    stamps, open_mask = data.future(horizon)
    model_h = data.model_horizon(horizon)
    m = mase_scale_period(data.freq, data.season_length)
    total = len(data.series)
    out: list[SeriesForecast] = []
    done = 0
    # one BLAS/OpenMP thread, as the refresh: on 2 shared cores, spinning threads only slow everyone down
    with threadpool_limits(limits=1):
        for level, measure, group, label in _groups(data):
            jobs = n_jobs if level == "product" else 1  # one or a few aggregate series: no process to start
            forecaster = make_forecaster(data.freq, data.season_length, level, model_h, n_jobs=jobs)
            forecaster.fit([s.values.to_numpy() for s in group])
            point = forecaster.predict(model_h)
            lower, upper = forecaster.predict_interval(model_h, level=interval_level)
            weights = np.atleast_2d(forecaster.weights_)
            for i, s in enumerate(group):
                row_weights = weights[i] if forecaster.select == "series" else weights[0]
                full = [np.zeros(horizon), np.zeros(horizon), np.zeros(horizon)]
                for arr, values in zip(full, (point[i], lower[i], upper[i])):
                    arr[open_mask] = values[: int(open_mask.sum())]
                if not all(np.all(np.isfinite(a)) for a in full):  # the engine guarantees it; never store a NaN
                    raise RuntimeError(f"the {level} {s.key!r} {measure} forecast is not finite")
                p = np.maximum(full[0], 0.0)
                lo = np.clip(full[1], 0.0, p)
                hi = np.maximum(full[2], p)
                out.append(
                    SeriesForecast(
                        level=level,
                        key=s.key,
                        name=s.name,
                        measure=measure,
                        model=describe(forecaster.names_, row_weights),
                        backtest_mase=backtest_mase(s.values.to_numpy(), forecaster.backtest_errors_[i], model_h, m),
                        n_observations=len(s.values),
                        periods=stamps,
                        point=p,
                        lower=lo,
                        upper=hi,
                    )
                )
            done += len(group)
            progress(label, done, total)
    return out


# -- the run ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelSummary:
    """What a run did for one level and measure."""

    level: str
    measure: str
    series: int
    skipped: int
    model: str
    median_mase: Optional[float]
    forecast_total: float


@dataclass(frozen=True)
class DemandRunResult:
    """A stored run: its id, calendar, and per level and measure what was forecast."""

    run_id: int
    freq: str
    horizon: int
    history_end: date
    n_series: int
    closed_weekdays: tuple[str, ...]
    levels: tuple[LevelSummary, ...]
    outside_top: int = 0
    seconds: Mapping[str, float] = field(default_factory=dict)


def _summaries(forecasts: list[SeriesForecast], data: DemandData) -> tuple[LevelSummary, ...]:
    rows = []
    for level in LEVELS:
        for measure in MEASURES:
            chosen = [f for f in forecasts if f.level == level and f.measure == measure]
            if not chosen and not data.skipped[level]:
                continue
            models = pd.Series([f.model for f in chosen], dtype=object).value_counts()
            model = "" if models.empty else str(models.index[0])
            if len(models) > 1:
                model += f" (and {len(models) - 1} other choice{'s' if len(models) > 2 else ''})"
            mases = [f.backtest_mase for f in chosen if f.backtest_mase is not None]
            total = float(sum(f.point.sum() for f in chosen)) if level == "shop" else float("nan")
            rows.append(
                LevelSummary(
                    level,
                    measure,
                    len(chosen),
                    len(data.skipped[level]),
                    model,
                    float(np.median(mases)) if mases else None,
                    total,
                )
            )
    return tuple(rows)


def run_demand_forecast(
    uow: SqlAlchemyUnitOfWork,
    *,
    freq: str = "W",
    horizon: Optional[int] = None,
    top_products: Optional[int] = None,
    returns: str = "net",
    interval_level: float = 0.8,
    as_of: Optional[datetime] = None,
    n_jobs: int = 1,
    now: Optional[datetime] = None,
    progress: Progress = _no_progress,
) -> DemandRunResult:
    """Forecast every series of the store and store the run (all or nothing); older runs beyond
    :data:`KEEP_RUNS` of the same frequency are deleted in the same transaction.

    Raises
    ------
    InvalidInput
        No sales in the store, a history too short, or bad parameters.
    """
    from analytics.forecast.base import check_level

    freq = check_freq(freq)
    horizon = _check_count(DEFAULT_HORIZON[freq] if horizon is None else horizon, "horizon", 1)
    interval_level = check_level(interval_level)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    progress("loading sales", 0, 0)
    sales = load_sales(uow, returns=returns)
    data = build_series(sales, freq, as_of=as_of, horizon=horizon, returns=returns, top_products=top_products)
    seconds["load"] = round(time.perf_counter() - started, 3)
    mark = time.perf_counter()
    forecasts = forecast_demand(data, horizon, interval_level=interval_level, n_jobs=n_jobs, progress=progress)
    seconds["forecast"] = round(time.perf_counter() - mark, 3)
    progress("writing", len(forecasts), len(forecasts))
    mark = time.perf_counter()
    levels = _summaries(forecasts, data)
    closed = tuple(WEEKDAYS[d] for d in data.closed_weekdays)
    summary: dict[str, Any] = {
        "returns": data.returns,
        "closed_weekdays": list(data.closed_weekdays),
        "season_length": data.season_length,
        "min_periods": data.min_periods,
        "interval_level": interval_level,
        "top_products": top_products,
        "history_start": data.periods[0].date().isoformat(),
        "levels": [
            {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in s.__dict__.items()}
            for s in levels
        ],
        "skipped": {level: keys for level, keys in data.skipped.items() if level != "shop"},
        "outside_top_products": data.outside_top,
    }
    with uow:
        run = ForecastRun(
            created_at=now or datetime.now(timezone.utc).replace(tzinfo=None),
            freq=freq,
            history_end=data.history_end,
            horizon=horizon,
            n_series=len(forecasts),
            summary=summary,
        )
        uow.session.add(run)
        uow.session.flush()
        conn = uow.session.connection()
        series_frame = pd.DataFrame(
            {
                "run_id": run.id,
                "level": [f.level for f in forecasts],
                "key": [f.key for f in forecasts],
                "measure": [f.measure for f in forecasts],
                "model": [f.model for f in forecasts],
                "backtest_mase": pd.Series([f.backtest_mase for f in forecasts], dtype=object),
                "n_observations": [f.n_observations for f in forecasts],
            }
        )
        bulk_insert(conn, ForecastSeries.__table__, series_frame)  # type: ignore[arg-type]
        ids = {
            (level, key, measure): sid
            for sid, level, key, measure in conn.execute(
                select(ForecastSeries.id, ForecastSeries.level, ForecastSeries.key, ForecastSeries.measure).where(
                    ForecastSeries.run_id == run.id
                )
            )
        }
        dates = [stamp.date() for stamp in forecasts[0].periods]
        points = pd.DataFrame(
            {
                "series_id": np.repeat([ids[(f.level, f.key, f.measure)] for f in forecasts], horizon),
                "step": np.tile(np.arange(1, horizon + 1), len(forecasts)),
                "period_start": pd.Series(dates * len(forecasts), dtype=object),
                "point": np.concatenate([f.point for f in forecasts]),
                "lower": np.concatenate([f.lower for f in forecasts]),
                "upper": np.concatenate([f.upper for f in forecasts]),
                "interval_level": float(interval_level),
            }
        )
        bulk_insert(conn, DemandForecast.__table__, points)  # type: ignore[arg-type]
        runs = uow.session.scalars(
            select(ForecastRun.id).where(ForecastRun.freq == freq).order_by(ForecastRun.id.desc())
        ).all()
        old = runs[KEEP_RUNS:]
        if old:  # children first: no reliance on the engine enforcing ON DELETE CASCADE
            old_series = select(ForecastSeries.id).where(ForecastSeries.run_id.in_(old))
            conn.execute(delete(DemandForecast).where(DemandForecast.series_id.in_(old_series)))
            conn.execute(delete(ForecastSeries).where(ForecastSeries.run_id.in_(old)))
            conn.execute(delete(ForecastRun).where(ForecastRun.id.in_(old)))
        seconds["write"] = round(time.perf_counter() - mark, 3)
        seconds["total"] = round(time.perf_counter() - started, 3)
        run.summary = {**summary, "seconds": seconds}
        run_id = run.id
        uow.commit()
    progress("done", len(forecasts), len(forecasts))
    return DemandRunResult(
        run_id, freq, horizon, data.history_end, len(forecasts), closed, levels, data.outside_top, seconds
    )


# -- reading the stored forecasts ------------------------------------------------------------------


@dataclass(frozen=True)
class ForecastPoint:
    """One forecast period: its first day, the point forecast and the interval (0, 0, 0 when closed)."""

    period_start: date
    point: float
    lower: float
    upper: float
    closed: bool = False


@dataclass(frozen=True)
class RunView:
    """A stored run of the demand forecasts."""

    run_id: int
    freq: str
    created_at: datetime
    history_end: date
    horizon: int
    n_series: int
    returns: str
    closed_weekdays: tuple[int, ...]
    interval_level: float
    summary: Mapping[str, Any]


@dataclass(frozen=True)
class DemandForecastView:
    """One series of the newest run: what chose its model, how well it backtested, and its periods."""

    run: RunView
    level: str
    key: str
    name: str
    measure: str
    model: str
    backtest_mase: Optional[float]
    n_observations: int
    points: tuple[ForecastPoint, ...]

    @property
    def total(self) -> float:
        """Sum of the point forecasts over the horizon."""
        return float(sum(p.point for p in self.points))


def _run_view(run: ForecastRun) -> RunView:
    summary = dict(run.summary or {})
    return RunView(
        run_id=run.id,
        freq=run.freq,
        created_at=run.created_at,
        history_end=run.history_end,
        horizon=run.horizon,
        n_series=run.n_series,
        returns=str(summary.get("returns", "net")),
        closed_weekdays=tuple(int(d) for d in summary.get("closed_weekdays", [])),
        interval_level=float(summary.get("interval_level", 0.8)),
        summary=summary,
    )


def _latest(uow: SqlAlchemyUnitOfWork, freq: Optional[str]) -> ForecastRun:
    stmt = select(ForecastRun).order_by(ForecastRun.id.desc()).limit(1)
    if freq is not None:
        stmt = stmt.where(ForecastRun.freq == freq)
    run = uow.session.scalars(stmt).first()
    if run is None:
        what = f"{FREQ_NAMES[freq]} " if freq is not None else ""
        flag = f" --freq {freq}" if freq is not None else ""
        raise ForecastNotFound(f"No {what}demand forecast in the store yet; run `crm forecast demand{flag}` first.")
    return run


def latest_run(uow: SqlAlchemyUnitOfWork, freq: Optional[str] = None) -> RunView:
    """The newest run of ``freq`` (of either frequency when None), or :class:`ForecastNotFound`."""
    freq = None if freq is None else check_freq(freq)
    with uow:
        return _run_view(_latest(uow, freq))


def _views(uow: SqlAlchemyUnitOfWork, run: ForecastRun, rows: Sequence[ForecastSeries]) -> list[DemandForecastView]:
    view = _run_view(run)
    skus = [r.key for r in rows if r.level == "product"]
    names: dict[str, str] = {}
    if skus:
        found = uow.session.execute(select(Product.sku, Product.name).where(Product.sku.in_(skus)))
        names = {sku: name for sku, name in found}
    points: dict[int, list[ForecastPoint]] = {r.id: [] for r in rows}
    stmt = (
        select(DemandForecast)
        .where(DemandForecast.series_id.in_(list(points)))
        .order_by(DemandForecast.series_id, DemandForecast.step)
    )
    closed = set(view.closed_weekdays) if view.freq == "D" else set()
    for p in uow.session.scalars(stmt):
        points[p.series_id].append(
            ForecastPoint(p.period_start, p.point, p.lower, p.upper, p.period_start.weekday() in closed)
        )
    return [
        DemandForecastView(
            run=view,
            level=r.level,
            key=r.key,
            name=SHOP_NAME if r.level == "shop" else str(names.get(r.key, r.key)),
            measure=r.measure,
            model=r.model,
            backtest_mase=r.backtest_mase,
            n_observations=r.n_observations,
            points=tuple(points[r.id]),
        )
        for r in rows
    ]


def demand_forecast(
    uow: SqlAlchemyUnitOfWork, level: str, key: Optional[str] = None, freq: str = "W", measure: str = "units"
) -> DemandForecastView:
    """The newest ``freq`` forecast of one series: the shop (``key`` None or ``"all"``), a category or a product SKU.

    Raises
    ------
    InvalidInput
        An unknown level, measure or frequency.
    ForecastNotFound
        No run of that frequency yet, or the series was not forecast (too
        little history, or outside ``top_products``); the message says which.

    Examples
    --------
    ``demand_forecast(uow, "product", "85123A", freq="W").points[0].point``
    is next week's expected units of product 85123A.
    """
    level = _check_choice(level, LEVELS, "level")
    measure = _check_choice(measure, MEASURES, "measure")
    freq = check_freq(freq)
    key = SHOP_KEY if level == "shop" else key
    if not key:
        raise InvalidInput(f"a {level} forecast needs a key: the {'category name' if level == 'category' else 'SKU'}.")
    with uow:
        run = _latest(uow, freq)
        row = uow.session.scalars(
            select(ForecastSeries).where(
                ForecastSeries.run_id == run.id,
                ForecastSeries.level == level,
                ForecastSeries.key == key,
                ForecastSeries.measure == measure,
            )
        ).first()
        if row is None:
            raise ForecastNotFound(_missing_message(uow, run, level, key))
        return _views(uow, run, [row])[0]


def _missing_message(uow: SqlAlchemyUnitOfWork, run: ForecastRun, level: str, key: str) -> str:
    what = f"the {FREQ_NAMES[run.freq]} forecast of {run.created_at:%Y-%m-%d %H:%M}"
    if level == "product" and uow.products.by_sku(key) is None:
        return f"No product {key!r} is in the catalog."
    summary = run.summary or {}
    unit = "open days" if run.freq == "D" else "weeks"
    if key in summary.get("skipped", {}).get(level, []):
        needed = summary.get("min_periods", "enough")
        reason = (
            f"it has too little history (a series needs {needed} {unit} from its first sale "
            f"and {MIN_SALE_PERIODS} {unit} with sales)"
        )
    elif level == "product" and summary.get("top_products") is not None:
        reason = f"only the top {summary['top_products']} products by revenue were forecast"
    else:
        reason = "it had no sales in the history"
    return f"The {level} {key!r} is not in {what}: {reason}."


def top_series(
    uow: SqlAlchemyUnitOfWork, *, freq: str = "W", level: str = "product", measure: str = "revenue", n: int = 10
) -> list[DemandForecastView]:
    """The ``n`` series of a level with the largest forecast total over the horizon in the newest ``freq`` run."""
    level = _check_choice(level, LEVELS, "level")
    measure = _check_choice(measure, MEASURES, "measure")
    freq = check_freq(freq)
    n = _check_count(n, "n", 1)
    with uow:
        run = _latest(uow, freq)
        total = func.sum(DemandForecast.point)
        ranked = (
            select(ForecastSeries.id)
            .join(DemandForecast, DemandForecast.series_id == ForecastSeries.id)
            .where(ForecastSeries.run_id == run.id, ForecastSeries.level == level, ForecastSeries.measure == measure)
            .group_by(ForecastSeries.id, ForecastSeries.key)
            .order_by(total.desc(), ForecastSeries.key)
            .limit(n)
        )
        ids = list(uow.session.scalars(ranked))
        rows = {r.id: r for r in uow.session.scalars(select(ForecastSeries).where(ForecastSeries.id.in_(ids)))}
        return _views(uow, run, [rows[i] for i in ids])
