"""Use cases the action server, the CLI and the web apps call.

Each function takes a unit of work, reads what it needs in one transaction and
returns plain, typed values. Unknown inputs raise domain errors
(:mod:`analytics.errors`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Optional

from analytics.errors import InvalidInput, OrderNotFound
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
    if not cleaned or len(cleaned) > 32 or not cleaned.replace("-", "").isalnum():
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
