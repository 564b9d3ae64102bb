"""Use cases the action server, the CLI and the web apps call.

Each function takes a unit of work, reads what it needs in one transaction and
returns plain, typed values. Unknown inputs raise domain errors
(:mod:`analytics.errors`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from functools import partial
from typing import Any, Optional

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sqlalchemy import Select, func, select

from analytics.catalog_search import name_terms, terms
from analytics.delivery import HISTORY_COLUMNS, LeadTimeModel
from analytics.errors import CustomerNotFound, InvalidInput, OrderNotFound, ProductNotFound
from analytics.frames import load_lines
from analytics.ingest.shipping import zone_of
from analytics.offers import NotScored, OfferDecision, choose_offer, record_accepted, record_shown
from analytics.replenishment import IntervalPrior, NextOrderModel, ReorderModel, order_prior, product_prior
from analytics.store.cache import PerStoreCache
from analytics.store.models import Customer, CustomerScore, Order, OrderLine, OrderStatus, Product
from analytics.store.uow import SqlAlchemyUnitOfWork


@dataclass(frozen=True)
class OrderStatusView:
    number: str
    status: str
    placed_at: datetime
    item_count: int
    total: Decimal
    carrier: Optional[str]
    tracking_number: Optional[str]
    estimated_delivery: Optional[date]
    delivered_at: Optional[datetime]
    customer_id: Optional[int]


def normalise_order_number(number: str) -> str:
    cleaned = number.strip().lstrip("#").strip()
    # ASCII only: upper-casing "ß" or "ﬀ" lengthens them, and the shop's numbers are ASCII anyway
    if not cleaned or len(cleaned) > 32 or not cleaned.isascii() or not cleaned.replace("-", "").isalnum():
        raise InvalidInput(f"{number!r} is not an order number; order numbers look like 536365.")
    return cleaned.upper()


def order_status(uow: SqlAlchemyUnitOfWork, number: str) -> OrderStatusView:
    """The fulfilment state of order ``number``.

    Raises :class:`OrderNotFound` when the store has no such order and
    :class:`InvalidInput` when ``number`` cannot be an order number.
    """
    wanted = normalise_order_number(number)
    with uow:
        order = uow.orders.by_number(wanted)
        if order is None:
            raise OrderNotFound(wanted)
        return OrderStatusView(
            number=order.number,
            status=order.status.value,
            placed_at=order.placed_at,
            item_count=sum(line.quantity for line in order.lines),
            total=order.total,
            carrier=order.carrier,
            tracking_number=order.tracking_number,
            estimated_delivery=order.estimated_delivery,
            delivered_at=order.delivered_at,
            customer_id=order.customer_id,
        )


# ----------------------------------------------------------------- customers' analytics


@dataclass(frozen=True)
class LoyaltyView:
    customer_id: int
    name: str
    tier: str
    points: int
    spend_12m: Decimal
    next_tier: Optional[str]
    amount_to_next_tier: Optional[Decimal]
    lifecycle: str
    as_of: datetime

    @property
    def progress_message(self) -> str:
        if self.next_tier is None or self.amount_to_next_tier is None:
            return f"You are at our top tier, {self.tier}."
        return f"£{self.amount_to_next_tier:,.2f} more to reach {self.next_tier}."


@dataclass(frozen=True)
class SegmentView:
    customer_id: int
    rfm_segment: str
    r_score: int
    f_score: int
    m_score: int
    cluster_label: Optional[str]
    lifecycle: str
    p_alive: Optional[float]
    expected_orders_90d: Optional[float]
    clv_12m: Optional[Decimal]
    churn_risk: Optional[float]
    churn_reasons: list[str]
    as_of: datetime


def _score(uow: SqlAlchemyUnitOfWork, customer_id: int) -> tuple[Customer, CustomerScore]:
    customer, score = uow.scores.with_customer(customer_id)
    if customer is None:
        raise CustomerNotFound(customer_id)
    if score is None:
        raise NotScored(customer_id)
    return customer, score


def loyalty_status(uow: SqlAlchemyUnitOfWork, customer_id: int) -> LoyaltyView:
    """Tier, points and progress to the next tier, from the last refresh."""
    with uow:
        customer, score = _score(uow, customer_id)
        return LoyaltyView(
            customer_id=customer.id,
            name=customer.name,
            tier=score.tier,
            points=score.points,
            spend_12m=score.spend_12m,
            next_tier=score.next_tier,
            amount_to_next_tier=score.amount_to_next_tier,
            lifecycle=score.lifecycle,
            as_of=score.as_of,
        )


def segment_of(uow: SqlAlchemyUnitOfWork, customer_id: int) -> SegmentView:
    """RFM segment, behavioural cluster, value and churn risk, from the last refresh."""
    with uow:
        _, score = _score(uow, customer_id)
        return SegmentView(
            customer_id=customer_id,
            rfm_segment=score.rfm_segment,
            r_score=score.r_score,
            f_score=score.f_score,
            m_score=score.m_score,
            cluster_label=score.cluster_label,
            lifecycle=score.lifecycle,
            p_alive=score.p_alive,
            expected_orders_90d=score.expected_orders_90d,
            clv_12m=score.clv_12m,
            churn_risk=score.churn_risk,
            churn_reasons=list(score.churn_reasons or []),
            as_of=score.as_of,
        )


def best_offer(uow: SqlAlchemyUnitOfWork, customer_id: int, now: Optional[datetime] = None) -> Optional[OfferDecision]:
    """The offer to make this customer now, or ``None``; records the A/B assignment.

    A customer in an offer's control group gets a decision with
    ``shown == False``: the caller must not show it.
    """
    with uow:
        decision = choose_offer(uow, customer_id, now or datetime.now())
        if uow.session.new:  # a first assignment to record
            uow.commit()
        return decision


def offer_shown(uow: SqlAlchemyUnitOfWork, customer_id: int, code: str, now: Optional[datetime] = None) -> None:
    with uow:
        record_shown(uow, customer_id, code, now or datetime.now())
        uow.commit()


def offer_accepted(uow: SqlAlchemyUnitOfWork, customer_id: int, code: str, now: Optional[datetime] = None) -> None:
    with uow:
        uow.begin_write()
        record_accepted(uow, customer_id, code, now or datetime.now())
        uow.commit()


# ----------------------------------------------------------------- customers' order forecasts
#
# "When will I order again?", "when do I usually reorder X?" and "when will my order arrive?".
# Reorder and next-order estimates are fitted on the one customer's lines at each call, against
# the population's intervals; the population and the lead-time history are read from the whole
# store, so they are fitted once per process and store and kept for FORECAST_CACHE_SECONDS.

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


def _utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


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
        stmt = select(Order.carrier, Order.country, Order.placed_at, Order.shipped_at, Order.delivered_at).where(
            Order.status == OrderStatus.DELIVERED
        )
        with uow:
            rows = uow.session.execute(stmt).all()
        history = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
        return LeadTimeModel().fit(history)

    return _lead_time_cache.get(uow.engine, build)


def _rows(uow: SqlAlchemyUnitOfWork, stmt: Select[Any]) -> list[tuple[Any, ...]]:
    """Run ``stmt`` inside ``with uow`` through the raw driver cursor.

    A big customer has thousands of lines; SQLAlchemy's per-row result processing would cost more
    than the whole estimate. The statements here only bind integers, which render safely as literals.
    """
    conn = uow.session.connection()
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    return [tuple(row) for row in conn.exec_driver_sql(str(compiled)).fetchall()]


def _as_days(values: Sequence[Any]) -> NDArray[np.datetime64]:
    """Purchase days as read from either engine (ISO text from SQLite, dates from PostgreSQL)."""
    return np.array([str(v)[:10] for v in values], dtype="datetime64[D]").astype("datetime64[ns]")


def _order_days(uow: SqlAlchemyUnitOfWork, customer_id: int) -> pd.DataFrame:
    """Inside ``with uow``: the customer's distinct order days as a frame (customer_id, placed_at)."""
    stmt = select(func.date(Order.placed_at)).where(Order.customer_id == customer_id).distinct()
    days = [row[0] for row in _rows(uow, stmt)]
    return pd.DataFrame({"customer_id": customer_id, "placed_at": _as_days(days)})


def _product_days(uow: SqlAlchemyUnitOfWork, customer_id: int, products: Optional[list[int]] = None) -> pd.DataFrame:
    """Inside ``with uow``: the customer's distinct (product_id, purchase day) pairs (customer_id,
    product_id, placed_at), optionally of some products only."""
    stmt = (
        select(OrderLine.product_id, func.date(Order.placed_at))
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.customer_id == customer_id, OrderLine.quantity > 0)
        .distinct()
    )
    if products is not None:
        stmt = stmt.where(OrderLine.product_id.in_(products))
    rows = _rows(uow, stmt)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    return pd.DataFrame({"customer_id": customer_id, "product_id": ids, "placed_at": _as_days([r[1] for r in rows])})


def _products_bought(uow: SqlAlchemyUnitOfWork, customer_id: int) -> pd.DataFrame:
    """Inside ``with uow``: the products the customer bought (product_id, sku, name)."""
    theirs = (
        select(OrderLine.product_id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.customer_id == customer_id)
        .scalar_subquery()
    )
    stmt = select(Product.id, Product.sku, Product.name).where(Product.id.in_(theirs))
    return pd.DataFrame(_rows(uow, stmt), columns=["product_id", "sku", "name"])


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
    (``typical_interval_days``, see :mod:`analytics.replenishment`);
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
    """When a customer is due to buy a product again (see :class:`analytics.replenishment.ReorderModel`).

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
    delivered orders (:class:`analytics.delivery.LeadTimeModel`), ``late`` when
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
    now = now or _utc_now()
    with uow:
        customer, score = uow.scores.with_customer(customer_id)
        if customer is None:
            raise CustomerNotFound(customer_id)
        lines = _order_days(uow, customer_id)
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
    now = now or _utc_now()
    with uow:
        if uow.customers.get(customer_id) is None:
            raise CustomerNotFound(customer_id)
        bought = _products_bought(uow, customer_id)
        chosen: Optional[list[int]] = None
        if product is not None:
            chosen = _match_products(bought, product)
            if not chosen:
                raise ProductNotFound(product)
        lines = _product_days(uow, customer_id, chosen)
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
    now = now or _utc_now()
    with uow:
        order = uow.session.scalar(select(Order).where(Order.number == wanted))
        if order is None or (customer_id is not None and order.customer_id != customer_id):
            raise OrderNotFound(wanted)
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
