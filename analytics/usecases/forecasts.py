"""Forecasts for one customer: when they order again, when they rebuy a product, when an order arrives.

Reorder and next-order estimates are fitted on the one customer's lines at
each call, against the population's intervals; the population and the
lead-time history are read from the whole store, so they are fitted once per
process and store and kept for :data:`FORECAST_CACHE_SECONDS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Optional

import pandas as pd

from analytics.core.clock import utc_now
from analytics.core.errors import (
    CustomerNotFound,
    InvalidInput,
    ProductNotFound,
)
from analytics.core.text import name_terms, normalise_order_number, terms
from analytics.forecast.delivery import HISTORY_COLUMNS, LeadTimeModel, zone_of
from analytics.forecast.replenishment import IntervalPrior, NextOrderModel, ReorderModel, order_prior, product_prior
from analytics.store.cache import PerStoreCache
from analytics.store.frames import (
    customer_order_days,
    customer_product_days,
    customer_products,
    delivered_lead_times,
    load_lines,
)
from analytics.store.models import (
    OrderStatus,
)
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases.orders import customer_order

#: How long a process reuses the population intervals and the lead-time model of a store.
FORECAST_CACHE_SECONDS = 900.0


@dataclass(frozen=True)
class _Populations:
    products: IntervalPrior
    orders: IntervalPrior


_population_cache: PerStoreCache[Optional[_Populations]] = PerStoreCache(FORECAST_CACHE_SECONDS)
_lead_time_cache: PerStoreCache[LeadTimeModel] = PerStoreCache(FORECAST_CACHE_SECONDS)


def clear_forecast_caches() -> None:
    """Forget the cached population intervals and lead-time models (e.g. after an import)."""
    _population_cache.clear()
    _lead_time_cache.clear()


def _populations(uow: SqlAlchemyUnitOfWork) -> Optional[_Populations]:
    """Every known customer's intervals, per product and overall (``None`` for a store without orders)."""

    def build() -> Optional[_Populations]:
        lines = load_lines(uow)
        if lines.empty:
            return None
        return _Populations(products=product_prior(lines), orders=order_prior(lines))

    return _population_cache.get(uow.engine, build)


def lead_time_model(uow: SqlAlchemyUnitOfWork) -> LeadTimeModel:
    """The store's :class:`LeadTimeModel`, fitted on its delivered orders (cached per process)."""

    def build() -> LeadTimeModel:
        history = delivered_lead_times(uow)[list(HISTORY_COLUMNS)]
        return LeadTimeModel().fit(history)

    return _lead_time_cache.get(uow.engine, build)


def _day(value: object) -> Optional[date]:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def _number(value: object) -> Optional[float]:
    return None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class NextOrderView:
    """When the customer is expected to order again.

    ``expected_next_order`` and its window are the median and the 10th-90th
    percentile of the next order date given that she has not ordered since
    ``last_order`` (never in the past), from her order rhythm
    (``typical_interval_days``, see :mod:`analytics.forecast.replenishment`);
    ``source`` is ``"own"``, ``"own+others"``, ``"others"`` (one order: what
    other customers do) or ``"none"`` (no order yet), and ``basis`` says it in
    words. The expected numbers of orders come from the purchase model
    (BG/NBD, ``counts_source == "scores"``, as of ``scores_as_of``), which
    also weighs the chance she has stopped buying (``p_alive``); for a
    customer the last refresh did not score they come from her rhythm
    (``"intervals"``).
    """

    customer_id: int
    orders: int
    last_order: Optional[date]
    typical_interval_days: Optional[float]
    expected_next_order: Optional[date]
    window_start: Optional[date]
    window_end: Optional[date]
    overdue: bool
    expected_orders_30d: Optional[float]
    expected_orders_90d: Optional[float]
    p_alive: Optional[float]
    source: str
    basis: str
    counts_source: str
    scores_as_of: Optional[datetime]
    as_of: datetime


@dataclass(frozen=True)
class ReorderView:
    """When a customer is due to buy a product again (see :class:`analytics.forecast.replenishment.ReorderModel`).

    ``due`` is her last purchase plus her usual interval; ``expected`` and the
    window are where the next purchase should fall given it has not happened
    yet (never in the past); ``overdue`` means it is later than 90% of her
    usual gaps. With ``source == "none"`` (nobody reorders this product) the
    dates and interval are ``None`` and ``basis`` says why.
    """

    customer_id: int
    sku: str
    product_name: str
    purchases: int
    last_purchased: date
    typical_interval_days: Optional[float]
    due: Optional[date]
    expected: Optional[date]
    window_start: Optional[date]
    window_end: Optional[date]
    overdue: bool
    source: str
    basis: str


@dataclass(frozen=True)
class DeliveryView:
    """When an order arrives (arrived).

    Delivered: ``delivered_at`` and no window. Processing or shipped: a window
    ``earliest``..``latest`` with ``most_likely`` from the lead times of
    delivered orders (:class:`analytics.forecast.delivery.LeadTimeModel`), ``late`` when
    it is already slower than nearly all of them. Cancelled: no estimate.
    ``carrier_estimate`` is the date stored on the order; ``basis`` says where
    the window comes from.
    """

    number: str
    status: str
    placed_at: datetime
    carrier: Optional[str]
    tracking_number: Optional[str]
    zone: str
    delivered_at: Optional[datetime]
    earliest: Optional[date]
    most_likely: Optional[date]
    latest: Optional[date]
    late: bool
    carrier_estimate: Optional[date]
    basis: str


def next_order(uow: SqlAlchemyUnitOfWork, customer_id: int, now: Optional[datetime] = None) -> NextOrderView:
    """Expected orders in the next 30 and 90 days and the expected date of the next one.

    A customer with no order gets a view with ``orders == 0``, no dates and a
    basis that says so. Raises :class:`CustomerNotFound` for an unknown customer.
    """
    now = now or utc_now()
    with uow:
        customer, score = uow.scores.with_customer(customer_id)
        if customer is None:
            raise CustomerNotFound(customer_id)
        lines = customer_order_days(uow, customer_id)
        p_alive = score.p_alive if score is not None else None
        counts = None  # (30 days, 90 days, as of) from the last refresh's BG/NBD, when it scored her
        if score is not None and score.expected_orders_30d is not None and score.expected_orders_90d is not None:
            counts = (score.expected_orders_30d, score.expected_orders_90d, score.as_of)
    if lines.empty:
        return NextOrderView(
            customer_id=customer_id,
            orders=0,
            last_order=None,
            typical_interval_days=None,
            expected_next_order=None,
            window_start=None,
            window_end=None,
            overdue=False,
            expected_orders_30d=None,
            expected_orders_90d=None,
            p_alive=None,
            source="none",
            basis="no orders yet, so there is no order rhythm to go on",
            counts_source="none",
            scores_as_of=None,
            as_of=now,
        )
    populations = _populations(uow)
    model = NextOrderModel().fit(lines, population=populations.orders if populations else None)
    row = model.predict(now, customer_id=customer_id).iloc[0]
    return NextOrderView(
        customer_id=customer_id,
        orders=int(row["purchases"]),
        last_order=_day(row["last_purchase"]),
        typical_interval_days=_number(row["interval_days"]),
        expected_next_order=_day(row["expected"]),
        window_start=_day(row["window_start"]),
        window_end=_day(row["window_end"]),
        overdue=bool(row["overdue"]),
        expected_orders_30d=counts[0] if counts else _number(row["expected_orders_30d"]),
        expected_orders_90d=counts[1] if counts else _number(row["expected_orders_90d"]),
        p_alive=p_alive,
        source=str(row["source"]),
        basis=str(row["basis"]),
        counts_source="scores" if counts else "intervals",
        scores_as_of=counts[2] if counts else None,
        as_of=now,
    )


def _match_products(products: pd.DataFrame, query: str) -> list[int]:
    """Ids of the products (product_id, sku, name) that ``query`` names: its SKU, or every
    word of it (plural or singular) in the name."""
    wanted = query.strip()
    if not wanted:
        raise InvalidInput("Say which product: a product code like 85123A or words from its name.")
    by_sku = products.loc[products["sku"].str.upper() == wanted.upper(), "product_id"]
    if len(by_sku):
        return [int(p) for p in by_sku]
    # the catalogue search's word matching (plurals, hyphens, "tea light" = T-LIGHT)
    words = set(terms(wanted).words)
    if not words:
        raise InvalidInput(f"{query!r} does not name a product; use its code or words from its name.")
    return [int(p) for p, name in zip(products["product_id"], products["name"]) if words <= name_terms(name).parts]


_SOURCE_ORDER = {"own": 0, "own+others": 1, "others": 2, "none": 3}


def reorder_advice(
    uow: SqlAlchemyUnitOfWork,
    customer_id: int,
    product: Optional[str] = None,
    now: Optional[datetime] = None,
    limit: int = 5,
) -> list[ReorderView]:
    """When the customer usually rebuys the products she bought, soonest first.

    Parameters
    ----------
    product : str, optional
        A SKU or words naming a product she bought ("jumbo bags", "lunch bag
        red"), matched case-insensitively, plural or singular, against the
        names of her products. Without it: her products with an estimate,
        those she has rebought herself first.
    limit : int
        At most this many views.

    Raises
    ------
    CustomerNotFound
        Unknown customer.
    ProductNotFound
        ``product`` names none of the products she bought.
    InvalidInput
        ``limit`` below 1 or an empty ``product``.
    """
    if limit < 1:
        raise InvalidInput(f"limit must be at least 1; got {limit}.")
    now = now or utc_now()
    with uow:
        if uow.customers.get(customer_id) is None:
            raise CustomerNotFound(customer_id)
        bought = customer_products(uow, customer_id)
        chosen: Optional[list[int]] = None
        if product is not None:
            chosen = _match_products(bought, product)
            if not chosen:
                raise ProductNotFound(product)
        lines = customer_product_days(uow, customer_id, chosen)
    if lines.empty:
        return []
    populations = _populations(uow)
    model = ReorderModel().fit(lines, population=populations.products if populations else None)
    table = model.predict(now, customer_id=customer_id).reset_index()
    if product is None:
        table = table[table["source"] != "none"]
    table = table.assign(rank=table["source"].map(_SOURCE_ORDER)).sort_values(["rank", "expected", "product_id"])
    names = bought.set_index("product_id")
    return [
        ReorderView(
            customer_id=customer_id,
            sku=str(names.at[row.product_id, "sku"]),
            product_name=str(names.at[row.product_id, "name"]),
            purchases=int(row.purchases),
            last_purchased=pd.Timestamp(row.last_purchase).date(),
            typical_interval_days=_number(row.interval_days),
            due=_day(row.due),
            expected=_day(row.expected),
            window_start=_day(row.window_start),
            window_end=_day(row.window_end),
            overdue=bool(row.overdue),
            source=str(row.source),
            basis=str(row.basis),
        )
        for row in table.head(limit).itertuples(index=False)
    ]


def delivery_estimate(
    uow: SqlAlchemyUnitOfWork, number: str, customer_id: Optional[int] = None, now: Optional[datetime] = None
) -> DeliveryView:
    """When order ``number`` arrives: the delivery date, or a window for an open order.

    With ``customer_id``, an order of somebody else is reported as not found
    (:class:`OrderNotFound`), exactly like a number that does not exist.
    Raises :class:`InvalidInput` when ``number`` cannot be an order number.
    """
    wanted = normalise_order_number(number)
    now = now or utc_now()
    with uow:
        order = customer_order(uow, customer_id, wanted)
        status, placed_at, shipped_at, delivered_at = (
            order.status,
            order.placed_at,
            order.shipped_at,
            order.delivered_at,
        )
        carrier, country = order.carrier, order.country
        view = partial(
            DeliveryView,
            number=order.number,
            status=status.value,
            placed_at=placed_at,
            carrier=carrier,
            tracking_number=order.tracking_number,
            zone=zone_of(country),
            delivered_at=delivered_at,
            carrier_estimate=order.estimated_delivery,
        )
    if status == OrderStatus.DELIVERED:
        basis = f"delivered on {delivered_at:%A %d %B %Y}" if delivered_at else "delivered (the date was not recorded)"
        return view(earliest=None, most_likely=None, latest=None, late=False, basis=basis)
    if status == OrderStatus.CANCELLED:
        basis = "the order was cancelled, so it will not be delivered"
        return view(earliest=None, most_likely=None, latest=None, late=False, basis=basis)
    # A clock a little behind the store's must not fail the chat: estimate from the last known event at the earliest.
    now = max(now, shipped_at or placed_at)
    estimate = lead_time_model(uow).estimate(status.value, carrier, country, placed_at, shipped_at=shipped_at, now=now)
    return view(
        earliest=estimate.earliest.date(),
        most_likely=estimate.most_likely.date(),
        latest=estimate.latest.date(),
        late=estimate.late,
        basis=estimate.basis,
    )
