"""Returns of delivered items: the shop's rules and the request.

Returns are accepted for ``delivered`` orders until
:data:`~analytics.usecases.orders.RETURN_WINDOW` after delivery; one
``returns`` row of kind ``return`` (status ``requested``) per request,
refund = unit price paid × quantity.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Optional

from analytics.core.clock import utc_now
from analytics.core.errors import (
    InvalidInput,
    ProductNotFound,
)
from analytics.core.text import normalise_order_number, terms
from analytics.store.models import (
    Order,
    OrderLine,
    OrderStatus,
    Product,
    Return,
    ReturnKind,
    ReturnStatus,
)
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases.catalogue_search import MIN_COVERAGE, CatalogIndex, Listing
from analytics.usecases.common import (
    RequestRefused,
    clean_text,
    money,
)
from analytics.usecases.orders import RETURN_WINDOW, customer_order, delivered_at, return_deadline

#: How long the customer has to send a returned item back once the return is recorded.
SEND_BACK_WITHIN = timedelta(days=14)


@dataclass(frozen=True)
class ItemChoice:
    """A product of an order that an item description could mean."""

    sku: str
    name: str


class ItemNotOnOrder(ProductNotFound):
    """An item description that fits no product of the order."""

    def __init__(self, item: str, number: str) -> None:
        super().__init__(item)
        self.args = (f"Order {number} has nothing matching {item!r}; say the item's name or product code.",)
        self.number = number


class AmbiguousItem(InvalidInput):
    """An item description that fits several products of the order; ``candidates`` lists them."""

    def __init__(self, item: str, candidates: Sequence[ItemChoice]) -> None:
        listed = "; ".join(f"{c.name} ({c.sku})" for c in candidates)
        super().__init__(f"{item!r} could be any of: {listed}. Say which one, by name or product code.")
        self.item = item
        self.candidates = tuple(candidates)


@dataclass(frozen=True)
class ReturnView:
    return_id: int
    number: str
    sku: str
    product_name: str
    quantity: int
    refund_amount: Decimal
    status: str
    send_back_by: date
    next_steps: str


def return_refusal(
    number: str, status: str, delivered_at: Optional[datetime], deadline: Optional[datetime], now: datetime
) -> Optional[RequestRefused]:
    """Why an order cannot take a return (``None``: it can), by the shop's rules."""
    if status == OrderStatus.PROCESSING.value:
        return RequestRefused(
            "not_shipped", f"Order {number} has not shipped yet, so there is nothing to return: cancel it instead."
        )
    if status == OrderStatus.SHIPPED.value:
        return RequestRefused(
            "in_transit", f"Order {number} is on its way; you can request a return once it has been delivered."
        )
    if status == OrderStatus.CANCELLED.value:
        return RequestRefused("cancelled", f"Order {number} was cancelled and refunded; there is nothing to return.")
    if deadline is not None and now > deadline:
        delivered = delivered_at or deadline - RETURN_WINDOW
        return RequestRefused(
            "return_window_closed",
            f"Order {number} was delivered on {delivered:%d %B %Y}; returns are accepted within "
            f"{RETURN_WINDOW.days} days of delivery, so the window closed on {deadline:%d %B %Y}.",
        )
    return None


def _check_returnable(order: Order, now: datetime) -> None:
    refused = return_refusal(order.number, order.status.value, delivered_at(order), return_deadline(order), now)
    if refused is not None:
        raise refused


def _pick_item(order: Order, item: str) -> Product:
    """The product of ``order`` that ``item`` names: its SKU, or words of its name (typos allowed)."""
    products = {line.product.sku: line.product for line in order.lines}
    wanted = item.strip().upper()
    if wanted in products:
        return products[wanted]
    if re.fullmatch(r"(?=[A-Z]{0,40}\d)[A-Z0-9]{1,40}", wanted):
        raise ItemNotOnOrder(item, order.number)  # a product code, not on this order
    if not terms(item).words:
        raise InvalidInput("Say which item to return, by name or product code.")
    index = CatalogIndex(
        Listing(p.id, p.sku, p.name, p.category, p.unit_price, bool(p.active), 0) for p in products.values()
    )
    linked = index.link(item)
    one = linked.pick()
    if one is not None:
        return products[one.sku]
    options = [c.listing for c in linked.best_group if c.coverage >= MIN_COVERAGE]
    if not options:
        raise ItemNotOnOrder(item, order.number)
    options.sort(key=lambda p: (p.name, p.sku))
    raise AmbiguousItem(item, [ItemChoice(p.sku, p.name) for p in options])


def _price_units(lines: Sequence[OrderLine], skip: int, take: int) -> Decimal:
    """Value of ``take`` units of a product that has ``skip`` units returned already.

    A product can sit on several lines of one order at different prices; units
    are returned line by line in order, each at the price paid on its line.
    """
    total = Decimal("0")
    for line in lines:
        available = line.quantity
        skipped = min(skip, available)
        skip -= skipped
        taken = min(take, available - skipped)
        take -= taken
        total += line.unit_price * taken
    return money(total)


def request_return(
    uow: SqlAlchemyUnitOfWork,
    customer_id: int,
    number: str,
    item: str,
    reason: str,
    quantity: Optional[int] = None,
    now: Optional[datetime] = None,
) -> ReturnView:
    """Record a return request for an item of a delivered order.

    Parameters
    ----------
    uow : SqlAlchemyUnitOfWork
    customer_id : int
        The verified customer.
    number : str
        The order number.
    item : str
        The product's SKU, or words of its name as the customer says them
        ("the red lunch bag"): every word must appear in the product's name
        (case, plurals and hyphens do not matter, see :func:`find_products`).
    reason : str
        Why, in the customer's words (1 to 500 characters).
    quantity : int, optional
        Units to return; default: every unit not returned yet.
    now : datetime, optional

    Returns
    -------
    ReturnView
        The ``returns`` row written (kind ``return``, status ``requested``,
        amount = unit price paid × quantity) and what the customer does next.

    Raises
    ------
    RequestRefused (a NotAllowed)
        The order is not delivered (``not_shipped``, ``in_transit``,
        ``cancelled``), was delivered more than :data:`RETURN_WINDOW` ago
        (``return_window_closed``) or every unit of the item is already being
        returned (``already_returned``). The message says which.
    AmbiguousItem (an InvalidInput)
        ``item`` fits several products of the order; ``candidates`` lists them.
    ItemNotOnOrder (a ProductNotFound)
        ``item`` fits no product of the order.
    InvalidInput
        ``quantity`` is below 1 or more than was bought minus already returned;
        ``reason`` is empty or too long; ``number`` cannot be an order number.
    OrderNotFound
        No such order of this customer.
    """
    wanted = normalise_order_number(number)
    why = clean_text(reason, "reason for the return", 500)
    if quantity is not None and quantity < 1:
        raise InvalidInput(f"The quantity to return must be at least 1, got {quantity}.")
    now = now or utc_now()
    with uow:
        uow.begin_write()
        order = customer_order(uow, customer_id, wanted, for_update=True)
        _check_returnable(order, now)
        product = _pick_item(order, item)
        lines = [line for line in order.lines if line.product_id == product.id]
        bought = sum(line.quantity for line in lines)
        already = uow.returns.returned_quantities(order.id).get(product.id, 0)
        remaining = bought - already
        if remaining <= 0:
            raise RequestRefused(
                "already_returned",
                f"All {bought} of {product.name} on order {order.number} are already being returned.",
            )
        units = remaining if quantity is None else quantity
        if units > remaining:
            raise InvalidInput(
                f"Order {order.number} has {bought} of {product.name}"
                + (f" and {already} are already being returned" if already else "")
                + f"; at most {remaining} can be returned."
            )
        amount = _price_units(lines, skip=already, take=units)
        row = uow.returns.add(
            Return(
                number=order.number,
                kind=ReturnKind.RETURN,
                status=ReturnStatus.REQUESTED,
                customer_id=customer_id,
                order_id=order.id,
                product_id=product.id,
                quantity=units,
                amount=amount,
                reason=why,
                created_at=now,
            )
        )
        send_back_by = (now + SEND_BACK_WITHIN).date()
        view = ReturnView(
            return_id=row.id,
            number=order.number,
            sku=product.sku,
            product_name=product.name,
            quantity=units,
            refund_amount=amount,
            status=row.status.value,
            send_back_by=send_back_by,
            next_steps=(
                f"Pack the {units} × {product.name} with a note of order {order.number} and return reference "
                f"R{row.id}, and send it back by {send_back_by:%d %B %Y}. We refund £{amount} to your original "
                "payment method once it arrives."
            ),
        )
        uow.commit()
        return view
