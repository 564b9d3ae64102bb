"""The demand series: every sale and counted return read once from the store, built into complete calendars.

:func:`load_sales` reads the sales frame; :func:`build_series` turns it into
the units and revenue series of the shop, each category and each product,
daily or weekly (:class:`DemandData`). They are forecast by
:mod:`analytics.forecast.demand_forecasters` and stored by
:func:`analytics.forecast.demand.run_demand_forecast`.

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
  nothing is forecast and :class:`~analytics.core.errors.InvalidInput` says how
  much history there is. ``top_products`` keeps only the products with the
  largest revenue over the last year of the history.

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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Optional

import numpy as np
import pandas as pd
from sqlalchemy import Float, cast, select

from analytics.core.errors import InvalidInput
from analytics.store.models import (
    Order,
    OrderLine,
    Product,
    Return,
    ReturnStatus,
)
from analytics.store.uow import SqlAlchemyUnitOfWork

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
#: A series needs at least this many periods with sales to be forecast.
MIN_SALE_PERIODS = 4
#: A weekday without sales is only called closed when the history covers this many days.
MIN_DAYS_FOR_CLOSED = 21
#: ``top_products`` ranks products by revenue over this many days before the end of the history.
RANK_DAYS = 365
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: Cancellations and returns in these states are goods back (requested and rejected ones are not).
COUNTED_RETURNS = (ReturnStatus.APPROVED, ReturnStatus.REFUNDED)
#: Columns of the sales frame :func:`load_sales` returns and :func:`build_series` takes.
SALES_COLUMNS = ("placed_at", "sku", "name", "category", "quantity", "amount")


def check_freq(freq: Any) -> str:
    """``"D"`` or ``"W"`` (case-insensitive), or :class:`InvalidInput`."""
    value = str(freq).upper()
    if value not in FREQS:
        raise InvalidInput(f"freq must be 'D' (daily) or 'W' (weekly), not {freq!r}.")
    return value


def check_choice(value: Any, allowed: Sequence[str], name: str) -> str:
    """``value`` if it is one of ``allowed``, or :class:`InvalidInput` naming the parameter ``name``."""
    if value not in allowed:
        raise InvalidInput(f"{name} must be one of {', '.join(allowed)}; got {value!r}.")
    return str(value)


def check_count(value: Any, name: str, minimum: int) -> int:
    """``value`` as an int if it is a whole number >= ``minimum``, or :class:`InvalidInput`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidInput(f"{name} must be a whole number >= {minimum}, not {value!r}.")
    return int(value)


# -- reading the store ---------------------------------------------------------------------------


def load_sales(uow: SqlAlchemyUnitOfWork, *, returns: str = "net") -> pd.DataFrame:
    """Every sale line (guest orders included) and, with ``returns="net"``, every counted return, as a frame.

    Columns :data:`SALES_COLUMNS`: ``placed_at`` (datetime), ``sku``,
    ``name``, ``category``, ``quantity`` and ``amount`` (floats, negative
    for cancellations and returns, dated when they were recorded).
    """
    returns = check_choice(returns, RETURNS, "returns")
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
            uow.fetch_rows(select(Product.id, Product.sku, Product.name, Product.category)),
            columns=["product_id", "sku", "name", "category"],
        ).set_index("product_id")
        rows = uow.fetch_rows(sales_stmt)
        if returns == "net":
            rows += uow.fetch_rows(returns_stmt)
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
    horizon = check_count(horizon, "horizon", 1)
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
        raise InvalidInput(
            f"sales lacks column(s) {', '.join(missing)}; see analytics.forecast.demand_series.load_sales."
        )
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
    returns = check_choice(returns, RETURNS, "returns")
    horizon = check_count(DEFAULT_HORIZON[freq] if horizon is None else horizon, "horizon", 1)
    min_sale_periods = check_count(min_sale_periods, "min_sale_periods", 1)
    if top_products is not None:
        top_products = check_count(top_products, "top_products", 0)
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
    needed = min_periods_for(model_h, season) if min_periods is None else check_count(min_periods, "min_periods", 1)
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
