"""The customer's orders: the one lookup of "order N" with its ownership check, details, status, cancelling.

Every order function takes the verified customer id and treats another
customer's order exactly like a missing one (``OrderNotFound``), so nothing
tells a visitor that an order number exists: :func:`customer_order` is the one
place that finds an order for a customer. :func:`order_status` is the
operator's lookup (``crm orders status``), which sees every order.

**Cancelling** is possible while an order is ``processing``; it writes one
``returns`` row of kind ``cancellation`` per order line (status ``approved``:
the refund is due; the payment side marks it ``refunded``). The shipping fee is
refunded too; it has no product, so it is not a row: the order's ``cancelled``
status and its ``shipping_fee`` record it. Returns are in
:mod:`analytics.usecases.returns`, address changes in
:mod:`analytics.usecases.addresses`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Optional

from analytics.core.clock import utc_now
from analytics.core.errors import (
    OrderNotFound,
)
from analytics.core.text import normalise_order_number
from analytics.store.models import (
    Order,
    OrderStatus,
    Return,
    ReturnKind,
    ReturnStatus,
)
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases.common import (
    RequestRefused,
    check_limit,
    live_customer,
    money,
)

RETURN_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class OrderSummary:
    number: str
    placed_at: datetime
    status: str
    item_count: int
    total: Decimal


@dataclass(frozen=True)
class OrderLineView:
    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    amount: Decimal
    returned_quantity: int


@dataclass(frozen=True)
class OrderDetail:
    number: str
    status: str
    placed_at: datetime
    item_count: int
    total: Decimal
    shipping_fee: Decimal
    carrier: Optional[str]
    tracking_number: Optional[str]
    shipped_at: Optional[datetime]
    estimated_delivery: Optional[date]
    delivered_at: Optional[datetime]
    delivery_address: Optional[str]
    lines: tuple[OrderLineView, ...]
    can_cancel: bool
    can_change_address: bool
    can_return: bool
    return_deadline: Optional[datetime]
    """Last moment a return can be requested (delivered orders only)."""


@dataclass(frozen=True)
class RefundLine:
    sku: str
    name: str
    quantity: int
    amount: Decimal


@dataclass(frozen=True)
class CancellationView:
    number: str
    status: str
    lines: tuple[RefundLine, ...]
    items_refund: Decimal
    shipping_refund: Decimal
    refund_total: Decimal
    cancelled_at: datetime


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


def customer_order(
    uow: SqlAlchemyUnitOfWork, customer_id: Optional[int], number: str, *, for_update: bool = False
) -> Order:
    """Inside ``with uow``: order ``number`` (normalised already) if it is customer ``customer_id``'s.

    The one way a use case finds "the customer's order N". Another customer's
    order raises :class:`OrderNotFound` exactly like a number that does not
    exist. ``customer_id=None`` is the operator's view: any order.
    ``for_update`` locks the order's row until the transaction ends.
    """
    if customer_id is None:
        order = uow.orders.by_number(number)
    else:
        order = uow.orders.of_customer(customer_id, number, for_update=for_update)
    if order is None:
        raise OrderNotFound(number)
    return order


_LEFT = {OrderStatus.SHIPPED: "shipped", OrderStatus.DELIVERED: "been delivered"}


def delivered_at(order: Order) -> datetime:
    # Imported data always has a delivery time; the fallbacks keep a hand-edited order usable.
    if order.delivered_at is not None:
        return order.delivered_at
    if order.estimated_delivery is not None:
        return datetime.combine(order.estimated_delivery, time())
    return order.placed_at


def return_deadline(order: Order) -> Optional[datetime]:
    return delivered_at(order) + RETURN_WINDOW if order.status is OrderStatus.DELIVERED else None


def order_status(uow: SqlAlchemyUnitOfWork, number: str) -> OrderStatusView:
    """The fulfilment state of order ``number``.

    Raises :class:`OrderNotFound` when the store has no such order and
    :class:`InvalidInput` when ``number`` cannot be an order number.
    """
    wanted = normalise_order_number(number)
    with uow:
        order = customer_order(uow, None, wanted)
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


def list_orders(uow: SqlAlchemyUnitOfWork, customer_id: int, limit: int = 5) -> list[OrderSummary]:
    """The customer's ``limit`` most recent orders, newest first (``[]`` if none).

    Raises :class:`CustomerNotFound` for an unknown customer and
    :class:`InvalidInput` for a ``limit`` outside 1..50.
    """
    check_limit(limit)
    with uow:
        live_customer(uow, customer_id)
        return [
            OrderSummary(
                number=order.number,
                placed_at=order.placed_at,
                status=order.status.value,
                item_count=sum(line.quantity for line in order.lines),
                total=money(order.total),
            )
            for order in uow.orders.recent_for_customer(customer_id, limit)
        ]


def order_of(uow: SqlAlchemyUnitOfWork, customer_id: int, number: str, now: Optional[datetime] = None) -> OrderDetail:
    """Order ``number`` with its lines and what can still be done with it, if it is this customer's.

    Raises
    ------
    OrderNotFound
        No such order, or it belongs to someone else (the same error: never reveal).
    InvalidInput
        ``number`` cannot be an order number.
    """
    wanted = normalise_order_number(number)
    now = now or utc_now()
    with uow:
        order = customer_order(uow, customer_id, wanted)
        returned = uow.returns.returned_quantities(order.id)
        deadline = return_deadline(order)
        lines = []
        for line in order.lines:
            taken = min(returned.get(line.product_id, 0), line.quantity)
            returned[line.product_id] = returned.get(line.product_id, 0) - taken
            lines.append(
                OrderLineView(
                    sku=line.product.sku,
                    name=line.product.name,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    amount=money(line.amount),
                    returned_quantity=taken,
                )
            )
        processing = order.status is OrderStatus.PROCESSING
        return OrderDetail(
            number=order.number,
            status=order.status.value,
            placed_at=order.placed_at,
            item_count=sum(line.quantity for line in order.lines),
            total=money(order.total),
            shipping_fee=money(order.shipping_fee or Decimal(0)),
            carrier=order.carrier,
            tracking_number=order.tracking_number,
            shipped_at=order.shipped_at,
            estimated_delivery=order.estimated_delivery,
            delivered_at=order.delivered_at,
            delivery_address=order.delivery_address,
            lines=tuple(lines),
            can_cancel=processing,
            can_change_address=processing,
            can_return=deadline is not None
            and now <= deadline
            and any(v.returned_quantity < v.quantity for v in lines),
            return_deadline=deadline,
        )


def cancel_order(
    uow: SqlAlchemyUnitOfWork, customer_id: int, number: str, now: Optional[datetime] = None
) -> CancellationView:
    """Cancel an order that has not shipped yet and record its refund.

    The order becomes ``cancelled`` and gets one ``returns`` row of kind
    ``cancellation`` (status ``approved``, amount = the line's value) per line;
    the refund is every line plus the shipping fee. The order row is locked
    for the transaction, so two cancellations at once refund once.

    Raises
    ------
    RequestRefused (a NotAllowed)
        ``already_shipped`` when the order has shipped or been delivered (the
        message suggests a return instead), ``already_cancelled`` when it is
        cancelled already (nothing is refunded again).
    OrderNotFound
        No such order of this customer.
    InvalidInput
        ``number`` cannot be an order number.
    """
    wanted = normalise_order_number(number)
    now = now or utc_now()
    with uow:
        uow.begin_write()
        order = customer_order(uow, customer_id, wanted, for_update=True)
        if order.status is OrderStatus.CANCELLED or uow.returns.for_order(order.id, ReturnKind.CANCELLATION):
            raise RequestRefused(
                "already_cancelled", f"Order {order.number} is already cancelled; its refund was recorded then."
            )
        if order.status is not OrderStatus.PROCESSING:
            raise RequestRefused(
                "already_shipped",
                f"Order {order.number} has already {_LEFT[order.status]} and can no longer be cancelled. "
                f"You can return items within {RETURN_WINDOW.days} days of delivery instead.",
            )
        if not uow.orders.change_status(order, OrderStatus.PROCESSING, OrderStatus.CANCELLED):
            # Changed since we read it: the row lock (PostgreSQL) makes this rare, SQLite's
            # unlocked reads make it possible; the conditional update makes it harmless.
            raise RequestRefused("changed_meanwhile", f"Order {order.number} changed meanwhile; ask again.")
        refunds = []
        for line in order.lines:
            amount = money(line.amount)
            uow.returns.add(
                Return(
                    number=order.number,
                    kind=ReturnKind.CANCELLATION,
                    status=ReturnStatus.APPROVED,
                    customer_id=customer_id,
                    order_id=order.id,
                    product_id=line.product_id,
                    quantity=line.quantity,
                    amount=amount,
                    reason="cancelled by the customer before dispatch",
                    created_at=now,
                )
            )
            refunds.append(RefundLine(line.product.sku, line.product.name, line.quantity, amount))
        items = sum((r.amount for r in refunds), Decimal("0.00"))
        shipping = money(order.shipping_fee or Decimal(0))
        view = CancellationView(
            number=order.number,
            status=order.status.value,
            lines=tuple(refunds),
            items_refund=money(items),
            shipping_refund=shipping,
            refund_total=money(items + shipping),
            cancelled_at=now,
        )
        uow.commit()
        return view
