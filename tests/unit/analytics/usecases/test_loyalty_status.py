"""A customer's tier and points read sensibly beside what the agents' card says they spent in total."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from analytics.customers.refresh import refresh_scores
from analytics.ingest.online_retail import import_online_retail
from analytics.store.models import Order, OrderStatus
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases.insights import LoyaltyView, loyalty_status
from tests.conftest import SAMPLE

NOW = datetime(2026, 11, 24, 12, 0)


def test_cancelled_orders_earn_no_tier_and_no_points(sqlite_uow: SqlAlchemyUnitOfWork) -> None:
    """A cancelled order is left out of the card's total; it must not lift the tier or the points either,
    or a Gold member shows "£0 in total" beside their tier."""
    uow = sqlite_uow
    import_online_retail(uow, SAMPLE, shift_to_now=True, now=NOW)
    with uow:
        orders = uow.session.scalars(select(Order).where(Order.customer_id.is_not(None))).all()
        spend = {o.id: sum(line.quantity * line.unit_price for line in o.lines) for o in orders}
        cancelled = sorted(spend, key=lambda order_id: spend[order_id], reverse=True)[:5]
        customers = set()
        for order in orders:
            if order.id in cancelled:
                order.status = OrderStatus.CANCELLED
                customers.add(order.customer_id)
        uow.commit()
    refresh_scores(uow)
    for customer in customers:
        view = loyalty_status(uow, customer)
        with uow:
            _, total = uow.orders.count_and_spent(customer)
        assert view.points == math.floor(total)  # one point per pound of what they kept
        assert view.spend_12m <= total


def view(tier: str, next_tier: str | None, to_next: str | None, spend_12m: str) -> LoyaltyView:
    return LoyaltyView(
        customer_id=1,
        name="Ann",
        tier=tier,
        points=5391,
        spend_12m=Decimal(spend_12m),
        next_tier=next_tier,
        amount_to_next_tier=None if to_next is None else Decimal(to_next),
        lifecycle="active",
        as_of=NOW,
    )


def test_the_bot_says_which_spend_the_tier_rests_on() -> None:
    assert view("Bronze", "Silver", "380.00", "120.00").progress_message == (
        "£120 spent in the last year; £380 more to reach Silver."
    )
    assert view("Gold", "Platinum", "0.01", "4999.99").progress_message == (
        "£4,999.99 spent in the last year; £0.01 more to reach Platinum."
    )
    assert view("Platinum", None, None, "12500.00").progress_message == (
        "£12,500 spent in the last year keeps you at our top tier, Platinum."
    )
