"""Account use cases for the assistant: identity, orders, products and privacy.

Every function takes a unit of work first, runs in one transaction of it and
returns frozen dataclasses; refusals and unknown inputs raise the domain
errors of :mod:`analytics.errors`. Times are naive UTC; functions that depend
on the clock take ``now`` (default: the current UTC time).

The rules, in one place:

- **Identity.** A conversation is linked to a customer either by the channel
  (an authenticated session passes the customer id to
  :func:`link_conversation`) or by :func:`verify_identity`: the e-mail address
  and an order number must belong to the same customer. A mismatch raises
  :class:`~analytics.errors.IdentityNotVerified`, whatever part was wrong.
  Every order function takes the verified customer id and treats another
  customer's order exactly like a missing one (``OrderNotFound``), so nothing
  tells a visitor that an order number exists.
- **Cancelling** is possible while an order is ``processing``; it writes one
  ``returns`` row of kind ``cancellation`` per order line (status
  ``approved``: the refund is due; the payment side marks it ``refunded``).
  The shipping fee is refunded too; it has no product, so it is not a row: the
  order's ``cancelled`` status and its ``shipping_fee`` record it.
- **Returns** are accepted for ``delivered`` orders until
  :data:`RETURN_WINDOW` after delivery; one ``returns`` row of kind ``return``
  (status ``requested``) per request, refund = unit price paid × quantity.
- **Address changes** are possible while an order is ``processing``; see
  :func:`normalise_address` for what counts as an address.
- **Products** are found by SKU or by words of their name; see
  :func:`find_products`.
- **Privacy.** :func:`data_summary` says what the shop holds;
  :func:`request_deletion` / :func:`request_export` record a request (one open
  request of each kind per customer); :func:`complete_deletion` is the
  operator's step that erases the customer (see its docstring for exactly what
  is kept).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Optional

from analytics.catalog_search import MIN_COVERAGE, CatalogIndex, Listing, terms
from analytics.errors import (
    CustomerNotFound,
    IdentityNotVerified,
    InvalidInput,
    NotAllowed,
    NotFound,
    OrderNotFound,
    ProductNotFound,
)
from analytics.privacy import mask_email
from analytics.services import normalise_order_number
from analytics.store.models import (
    Customer,
    Order,
    OrderLine,
    OrderStatus,
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestStatus,
    Product,
    Return,
    ReturnKind,
    ReturnStatus,
)
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.throttle import Throttle

#: How long after delivery a return can be requested.
RETURN_WINDOW = timedelta(days=30)
#: How long the customer has to send a returned item back once the return is recorded.
SEND_BACK_WITHIN = timedelta(days=14)
#: Erased customers get an address on this reserved domain (RFC 2606): it can never
#: be a real address, so an erased customer can never be verified again.
ERASED_DOMAIN = "erased.invalid"
MAX_LIMIT = 50


class RequestRefused(NotAllowed):
    """A request the shop's rules refuse, with a stable ``code`` an action can map to a response.

    Codes: ``already_cancelled``, ``already_shipped`` (cancel or change the address
    of a shipped or delivered order), ``not_shipped`` (return an order that has not
    left yet), ``in_transit`` (return an order that has not arrived), ``cancelled``
    (return or re-address a cancelled order), ``return_window_closed``,
    ``already_returned``, ``changed_meanwhile`` (another request changed the order
    while this one ran; asking again gives the right answer), ``request_rejected``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


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


# --------------------------------------------------------------------------- views


@dataclass(frozen=True)
class CustomerView:
    id: int
    name: str
    masked_email: str
    country: Optional[str]


@dataclass(frozen=True)
class ConversationLink:
    sender_id: str
    customer_id: Optional[int]
    channel: str
    started_at: datetime
    last_event_at: Optional[datetime]


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


@dataclass(frozen=True)
class AddressChangeView:
    number: str
    address: str
    status: str
    estimated_delivery: Optional[date]


@dataclass(frozen=True)
class ProductView:
    sku: str
    name: str
    category: str
    price: Decimal
    in_stock: bool
    match: str
    """How the product matched: ``sku``, ``exact`` (the whole name), ``all_words`` or ``some_words``."""

    @property
    def availability(self) -> str:
        """``in stock`` for a product on sale, ``not available`` for one the shop no longer sells."""
        return "in stock" if self.in_stock else "not available"


@dataclass(frozen=True)
class DataSummary:
    customer_id: int
    name: str
    masked_email: str
    country: Optional[str]
    customer_since: datetime
    consent_marketing: bool
    consent_profiling: bool
    orders: int
    returns: int
    events: int
    conversations: int
    offers: int
    privacy_requests: int
    first_order_at: Optional[datetime]
    last_order_at: Optional[datetime]
    scored: bool
    segment: Optional[str]
    tier: Optional[str]
    has_clv: bool
    scores_as_of: Optional[datetime]
    open_requests: tuple[str, ...]
    """Kinds of the customer's privacy requests still waiting for an operator."""

    def lines(self) -> list[str]:
        """The summary in short sentences, one per kind of data, for a chat answer."""

        def count(n: int, one: str, many: str) -> str:
            return f"{n} {one if n == 1 else many}"

        where = f", {self.country}" if self.country else ""
        orders = count(self.orders, "order", "orders")
        if self.first_order_at is not None and self.last_order_at is not None:
            orders += f" ({self.first_order_at:%d %b %Y} to {self.last_order_at:%d %b %Y})"
        consents = (
            f"marketing e-mails {'yes' if self.consent_marketing else 'no'}, "
            f"personalised analytics {'yes' if self.consent_profiling else 'no'}"
        )
        derived = "none yet"
        if self.scored:
            derived = f"segment {self.segment}, loyalty tier {self.tier}"
            if self.has_clv:
                derived += ", an estimate of your future spend"
        lines = [
            f"Profile: {self.name}, {self.masked_email}{where}, customer since {self.customer_since:%B %Y}",
            f"Consents: {consents}",
            f"Orders: {orders}; returns and cancellations: {self.returns}",
            f"Activity: {count(self.events, 'product view or rating', 'product views and ratings')}, "
            f"{count(self.conversations, 'conversation', 'conversations')} with us, "
            f"{count(self.offers, 'offer', 'offers')} made to you",
            f"Derived from your orders: {derived}",
        ]
        if self.open_requests:
            lines.append("Open privacy requests: " + ", ".join(self.open_requests))
        return lines


@dataclass(frozen=True)
class PrivacyRequestView:
    id: int
    customer_id: int
    kind: str
    status: str
    channel: Optional[str]
    requested_at: datetime
    completed_at: Optional[datetime]
    existing: bool
    """True when the call found this request rather than creating or completing it."""


@dataclass(frozen=True)
class ErasureReport:
    request: PrivacyRequestView
    orders_detached: int
    returns_detached: int
    events_deleted: int
    scores_deleted: int
    offers_deleted: int
    requests_rejected: int
    conversations_unlinked: tuple[str, ...]
    """Sender ids of the unlinked conversations: purge their transcripts from the Rasa tracker store too."""
    identities_remembered: int = 0
    """Tombstones written: keyed hashes of the source customer number and e-mail address, so an import
    of the source data does not bring the customer back."""


@dataclass(frozen=True)
class OpenPrivacyRequest:
    """A privacy request waiting for an operator, as `crm privacy list` shows it."""

    id: int
    kind: str
    customer_id: int
    customer_name: str
    masked_email: str
    channel: Optional[str]
    requested_at: datetime


@dataclass(frozen=True)
class PrivacySubject:
    """Who a privacy request is about, with what identifies them outside the store (the tracker store's
    conversations, operators' files, logs). Read before the request is completed."""

    request: PrivacyRequestView
    customer_id: int
    external_ref: Optional[str]
    name: str
    email: str
    order_numbers: tuple[str, ...]
    """Numbers of their orders, returns and cancellations."""
    senders: tuple[str, ...]
    """Sender ids of the conversations the store links to them."""


# --------------------------------------------------------------------------- helpers


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _is_erased(customer: Customer) -> bool:
    return customer.email.endswith("@" + ERASED_DOMAIN)


def _customer_view(customer: Customer) -> CustomerView:
    return CustomerView(
        id=customer.id,
        name=customer.name,
        masked_email=mask_email(customer.email),
        country=customer.country,
    )


def _live_customer(uow: SqlAlchemyUnitOfWork, customer_id: int, *, for_update: bool = False) -> Customer:
    customer = uow.customers.get_for_update(customer_id) if for_update else uow.customers.get(customer_id)
    if customer is None or _is_erased(customer):
        raise CustomerNotFound(customer_id)
    return customer


def _owned_order(uow: SqlAlchemyUnitOfWork, customer_id: int, number: str, *, for_update: bool = False) -> Order:
    order = uow.orders.of_customer(customer_id, number, for_update=for_update)
    if order is None:
        raise OrderNotFound(number)
    return order


_LEFT = {OrderStatus.SHIPPED: "shipped", OrderStatus.DELIVERED: "been delivered"}


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}, got {limit}.")


def _money(value: Decimal) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def _delivered_at(order: Order) -> datetime:
    # Imported data always has a delivery time; the fallbacks keep a hand-edited order usable.
    if order.delivered_at is not None:
        return order.delivered_at
    if order.estimated_delivery is not None:
        return datetime.combine(order.estimated_delivery, time())
    return order.placed_at


def _return_deadline(order: Order) -> Optional[datetime]:
    return _delivered_at(order) + RETURN_WINDOW if order.status is OrderStatus.DELIVERED else None


def _clean_text(value: str, what: str, max_length: int) -> str:
    cleaned = " ".join(str(value).split())
    if not cleaned:
        raise InvalidInput(f"The {what} is empty; say it in a few words.")
    if len(cleaned) > max_length:
        raise InvalidInput(f"The {what} is {len(cleaned)} characters long; keep it under {max_length}.")
    return cleaned


# --------------------------------------------------------------------------- identity

EMAIL_SHAPE = re.compile(r"^[^@\s]{1,64}@[^@\s.]{1,63}(?:\.[^@\s.]{1,63}){1,8}$")


def normalise_email(email: str) -> str:
    """``email`` trimmed and lower-cased; :class:`InvalidInput` if it cannot be an address.

    A pasted ``<jane@example.com>``, ``mailto:jane@example.com`` or ``mailto:<jane@example.com>`` is unwrapped.
    """
    cleaned = str(email).strip().lower()
    while True:  # unwrap until nothing changes, so a normalised address normalises to itself
        unwrapped = cleaned.strip("<>").strip().removeprefix("mailto:").strip()
        if unwrapped == cleaned:
            break
        cleaned = unwrapped
    if len(cleaned) > 254 or not EMAIL_SHAPE.match(cleaned):
        raise InvalidInput(f"{email!r} is not an e-mail address; addresses look like jane@example.com.")
    return cleaned


def verify_identity(
    uow: SqlAlchemyUnitOfWork,
    email: str,
    order_number: str,
    *,
    attempts: Optional[Throttle] = None,
    conversation: Optional[str] = None,
    client: Optional[str] = None,
) -> CustomerView:
    """The customer whose e-mail address is ``email`` and who placed order ``order_number``.

    Parameters
    ----------
    uow : SqlAlchemyUnitOfWork
    email : str
        Compared case-insensitively, surrounding spaces ignored.
    order_number : str
        Normalised like :func:`analytics.services.normalise_order_number` (``#536365`` works).
    attempts : Throttle, optional
        Counts failures per conversation, e-mail address, customer (the owner of the
        order number tried) and client address, and refuses the check once any of
        them has had too many (:func:`analytics.throttle.identity_throttle`).
    conversation, client : str, optional
        The conversation and the client's network address, as keys of ``attempts``.

    Returns
    -------
    CustomerView
        With the e-mail address masked.

    Raises
    ------
    IdentityNotVerified
        No customer has this address, or the order is not theirs (or does not
        exist): the error does not say which.
    TooManyAttempts
        ``attempts`` refuses: too many failures under one of the keys (checked
        before the store is asked, so a locked-out attacker learns nothing).
    InvalidInput
        ``email`` cannot be an e-mail address or ``order_number`` an order number
        (a typing slip, not a failed verification).
    """
    wanted_email = normalise_email(email)
    number = normalise_order_number(order_number)
    with uow:
        tried_order = uow.orders.by_number(number)
        keys = {
            "conversation": conversation,
            "email": wanted_email,
            "customer": str(tried_order.customer_id) if tried_order is not None else None,
            "client": client,
        }
        if attempts is not None:
            attempts.check(keys)
        customer = uow.customers.by_email(wanted_email)
        if customer is None or _is_erased(customer) or tried_order is None or tried_order.customer_id != customer.id:
            if attempts is not None:
                attempts.record(keys)
            raise IdentityNotVerified()
        return _customer_view(customer)


def link_conversation(
    uow: SqlAlchemyUnitOfWork,
    sender_id: str,
    customer_id: Optional[int],
    channel: str,
    now: Optional[datetime] = None,
) -> ConversationLink:
    """Record who conversation ``sender_id`` is with, so agents and operators can see it.

    Creates the ``conversations`` row on first contact and updates it after; the
    latest link wins (a shared device verified by someone else moves to them).
    ``customer_id=None`` records an anonymous conversation, or forgets the link.

    Raises
    ------
    CustomerNotFound
        ``customer_id`` is not a customer (or was erased).
    InvalidInput
        ``sender_id`` or ``channel`` is empty or too long (128 / 32 characters).
    """
    sender = str(sender_id).strip()
    if not sender or len(sender) > 128:
        raise InvalidInput(f"sender_id must be 1 to 128 characters, got {sender_id!r}.")
    channel = str(channel).strip()
    if not channel or len(channel) > 32:
        raise InvalidInput(f"channel must be 1 to 32 characters, got {channel!r}.")
    now = now or _utcnow()
    with uow:
        if customer_id is not None:
            _live_customer(uow, customer_id)
        row = uow.conversations.upsert(sender, customer_id, channel, now)
        link = ConversationLink(
            sender_id=row.sender_id,
            customer_id=row.customer_id,
            channel=row.channel,
            started_at=row.started_at,
            last_event_at=row.last_event_at,
        )
        uow.commit()
        return link


def customer_name(uow: SqlAlchemyUnitOfWork, customer_id: int) -> str:
    """The customer's name, to greet them; :class:`CustomerNotFound` for an unknown or erased customer."""
    with uow:
        return _live_customer(uow, customer_id).name


def customer_of_conversation(uow: SqlAlchemyUnitOfWork, sender_id: str) -> Optional[int]:
    """The customer id conversation ``sender_id`` is linked to, or ``None`` (anonymous or unknown)."""
    with uow:
        row = uow.conversations.by_sender(str(sender_id).strip())
        return row.customer_id if row is not None else None


# --------------------------------------------------------------------------- orders


def list_orders(uow: SqlAlchemyUnitOfWork, customer_id: int, limit: int = 5) -> list[OrderSummary]:
    """The customer's ``limit`` most recent orders, newest first (``[]`` if none).

    Raises :class:`CustomerNotFound` for an unknown customer and
    :class:`InvalidInput` for a ``limit`` outside 1..50.
    """
    _check_limit(limit)
    with uow:
        _live_customer(uow, customer_id)
        return [
            OrderSummary(
                number=order.number,
                placed_at=order.placed_at,
                status=order.status.value,
                item_count=sum(line.quantity for line in order.lines),
                total=_money(order.total),
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
    now = now or _utcnow()
    with uow:
        order = _owned_order(uow, customer_id, wanted)
        returned = uow.returns.returned_quantities(order.id)
        deadline = _return_deadline(order)
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
                    amount=_money(line.amount),
                    returned_quantity=taken,
                )
            )
        processing = order.status is OrderStatus.PROCESSING
        return OrderDetail(
            number=order.number,
            status=order.status.value,
            placed_at=order.placed_at,
            item_count=sum(line.quantity for line in order.lines),
            total=_money(order.total),
            shipping_fee=_money(order.shipping_fee or Decimal(0)),
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
    now = now or _utcnow()
    with uow:
        uow.begin_write()
        order = _owned_order(uow, customer_id, wanted, for_update=True)
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
            amount = _money(line.amount)
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
        shipping = _money(order.shipping_fee or Decimal(0))
        view = CancellationView(
            number=order.number,
            status=order.status.value,
            lines=tuple(refunds),
            items_refund=_money(items),
            shipping_refund=shipping,
            refund_total=_money(items + shipping),
            cancelled_at=now,
        )
        uow.commit()
        return view


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


def address_refusal(number: str, status: str) -> Optional[RequestRefused]:
    """Why an order's delivery address cannot change any more (``None``: it can)."""
    if status == OrderStatus.CANCELLED.value:
        return RequestRefused("cancelled", f"Order {number} is cancelled; there is nothing to deliver.")
    if status != OrderStatus.PROCESSING.value:
        left = "shipped" if status == OrderStatus.SHIPPED.value else "been delivered"
        return RequestRefused(
            "already_shipped", f"Order {number} has already {left}, so its address can no longer be changed."
        )
    return None


def _check_returnable(order: Order, now: datetime) -> None:
    refused = return_refusal(order.number, order.status.value, _delivered_at(order), _return_deadline(order), now)
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
    return _money(total)


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
    why = _clean_text(reason, "reason for the return", 500)
    if quantity is not None and quantity < 1:
        raise InvalidInput(f"The quantity to return must be at least 1, got {quantity}.")
    now = now or _utcnow()
    with uow:
        uow.begin_write()
        order = _owned_order(uow, customer_id, wanted, for_update=True)
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


# --------------------------------------------------------------------------- delivery address

UK_POSTCODE = re.compile(r"\b(GIR ?0AA|[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][ABD-HJLNP-UW-Z]{2})\b", re.IGNORECASE)
#: Any other country's postcode: a token of 4 to 10 letters, digits or hyphens with
#: at least 4 digits (75008, 10115, 00-950, 1012, 100-0001), not first in the address.
GENERIC_POSTCODE = re.compile(r"^(?=(?:[^0-9]*[0-9]){4})[A-Z0-9-]{4,10}$", re.IGNORECASE)
ADDRESS_CHARACTERS = re.compile(r"^[\w\s,.'’/#&()-]{1,1000}$")
ADDRESS_LENGTH = (10, 200)
ADDRESS_MAX_PARTS = 8


def normalise_address(text: str) -> str:
    """A delivery address, checked and tidied, or :class:`InvalidInput` saying what is missing.

    Rules:

    - 10 to 200 characters (after collapsing spaces), at most 8 parts (lines or
      comma-separated parts), only letters, digits, spaces and ``, . ' / # & ( ) -``;
    - a postcode: a UK postcode (``SW1A 1AA``, ``M1 1AE``, ``GIR 0AA``; the space
      is optional) anywhere, or else a token of 4 to 10 letters, digits or hyphens
      with at least 4 digits that is not the first token (house numbers come first):
      ``75008``, ``10115``, ``00-950``, ``1012 AB``;
    - a street line: besides the postcode, at least two words of two or more
      letters (``10 Downing Street``, ``Rose Cottage``).

    Parts are joined with ``", "``; a UK postcode is upper-cased with one space.
    Countries whose postcodes fit neither pattern (e.g. Canada, Ireland's Eircodes
    with fewer than four digits) are refused and go to an agent.

    Examples
    --------
    >>> normalise_address("10 downing street\\nLondon  sw1a2aa")
    '10 downing street, London SW1A 2AA'
    """
    raw = str(text)
    parts = [" ".join(p.split()) for p in re.split(r"[\n,;]+", raw)]
    parts = [p for p in parts if p]
    joined = ", ".join(parts)
    if not joined:
        raise InvalidInput("The address is empty; give the street, town and postcode.")
    if not ADDRESS_LENGTH[0] <= len(joined) <= ADDRESS_LENGTH[1]:
        raise InvalidInput(
            f"An address has {ADDRESS_LENGTH[0]} to {ADDRESS_LENGTH[1]} characters; this one has {len(joined)}."
        )
    if len(parts) > ADDRESS_MAX_PARTS:
        raise InvalidInput(f"An address has at most {ADDRESS_MAX_PARTS} lines; this one has {len(parts)}.")
    if not ADDRESS_CHARACTERS.match(joined):
        raise InvalidInput("An address has only letters, digits, spaces and , . ' / # & ( ) -.")

    uk = list(UK_POSTCODE.finditer(joined))
    if uk:
        found = uk[-1]
        code = found.group(0).replace(" ", "").upper()
        postcode = f"{code[:-3]} {code[-3:]}"
        rest = joined[: found.start()] + joined[found.end() :]
        joined = joined[: found.start()] + postcode + joined[found.end() :]
    else:
        tokens = [t.strip(",.") for t in joined.split()]
        generic = [i for i, t in enumerate(tokens) if i > 0 and GENERIC_POSTCODE.match(t)]
        if not generic:
            raise InvalidInput("The address needs a postcode (for example SW1A 1AA or 75008).")
        rest = " ".join(t for i, t in enumerate(tokens) if i != generic[-1])
    if len(joined) > ADDRESS_LENGTH[1]:  # the space put into a UK postcode made it one too long
        raise InvalidInput(
            f"An address has {ADDRESS_LENGTH[0]} to {ADDRESS_LENGTH[1]} characters; this one has {len(joined)}."
        )
    if len(re.findall(r"[^\W\d_]{2,}", rest)) < 2:
        raise InvalidInput("The address needs a street line, for example '10 Downing Street'.")
    return joined


def change_address(
    uow: SqlAlchemyUnitOfWork, customer_id: int, number: str, address: str, now: Optional[datetime] = None
) -> AddressChangeView:
    """Deliver an order that has not shipped yet to ``address`` (checked by :func:`normalise_address`).

    ``now`` is accepted like every order request's, but nothing here depends on
    the clock: the order's status alone decides (the store keeps no time of change).

    Raises
    ------
    InvalidInput
        The address breaks a rule of :func:`normalise_address` (the message says
        which), or ``number`` cannot be an order number.
    RequestRefused (a NotAllowed)
        ``already_shipped`` once the order has left (the carrier has the parcel),
        ``cancelled`` for a cancelled order.
    OrderNotFound
        No such order of this customer.
    """
    wanted = normalise_order_number(number)
    clean = normalise_address(address)
    with uow:
        uow.begin_write()
        order = _owned_order(uow, customer_id, wanted, for_update=True)
        refused = address_refusal(order.number, order.status.value)
        if refused is not None:
            raise refused
        order.delivery_address = clean
        view = AddressChangeView(
            number=order.number, address=clean, status=order.status.value, estimated_delivery=order.estimated_delivery
        )
        uow.commit()
        return view


# --------------------------------------------------------------------------- products

MATCH_KINDS = ("sku", "exact", "all_words", "some_words")


def _catalog_index(uow: SqlAlchemyUnitOfWork) -> CatalogIndex:
    """A fresh index of the catalogue (the chat's cached one is :func:`analytics.catalog_search.index_for`)."""
    with uow:
        rows = uow.products.listing()
    return CatalogIndex(
        Listing(r.id, r.sku, r.name, r.category, Decimal(r.unit_price), bool(r.active), int(r.order_lines))
        for r in rows
    )


def find_products(uow: SqlAlchemyUnitOfWork, query: str, limit: int = 5) -> list[ProductView]:
    """Products of the catalog that ``query`` names, best first.

    The matching is :class:`analytics.catalog_search.CatalogIndex`'s: case,
    plurals, hyphens and compound spellings do not matter (``bags``/``bag``,
    ``t-light``/``tlight``, ``cake stand``/``cakestand``); a few synonyms are
    known (``tea light`` is the catalog's ``T-Light``); typos of words that
    are not English words are forgiven; filler words of a question (``do you
    have any ... ?``, ``price``, ``stock``) are ignored. A word that is a
    product's SKU (``85123A``; it must contain a digit) finds that product.

    Ranking: SKU match, then the exact name, then names holding every word of
    the query, then names holding at least half of them (by weight: rarer
    words count more). Ties go to names with the query's words side by side,
    then shorter (more specific) names, then better-known products.

    Returns
    -------
    list of ProductView
        At most ``limit`` products; ``in_stock`` is the product's ``active`` flag.

    Raises
    ------
    ProductNotFound
        Nothing matches.
    InvalidInput
        The query names nothing (empty, or only filler words), or ``limit`` is outside 1..50.
    """
    _check_limit(limit)
    skus = [t for t in re.findall(r"[A-Za-z0-9]+", query) if any(c.isdigit() for c in t)]
    if not terms(query).words and not skus:
        raise InvalidInput("Say which product: its name or product code, for example 'lunch bag' or 85123A.")
    linked = _catalog_index(uow).link(query, limit=limit * 4)
    found = [c for c in linked.candidates if c.coverage >= MIN_COVERAGE][:limit]
    if not found:
        raise ProductNotFound(query)
    return [
        ProductView(
            sku=c.listing.sku,
            name=c.listing.name,
            category=c.listing.category,
            price=_money(c.listing.price),
            in_stock=c.listing.in_stock,
            match=c.how,
        )
        for c in found
    ]


def product_info(uow: SqlAlchemyUnitOfWork, query: str) -> ProductView:
    """The one product ``query`` names best (see :func:`find_products` for the matching and errors)."""
    return find_products(uow, query, limit=1)[0]


# --------------------------------------------------------------------------- privacy


def data_summary(uow: SqlAlchemyUnitOfWork, customer_id: int) -> DataSummary:
    """What the shop holds about a customer, for "what data do you have about me?".

    The profile (name, masked e-mail address, country, consents), how many
    orders, returns, behaviour events, conversations, offer assignments and
    privacy requests the store has, the date range of the orders and whether
    derived data (RFM segment, loyalty tier, lifetime value) exists.

    Raises :class:`CustomerNotFound` for an unknown or erased customer.
    """
    with uow:
        customer, score = uow.scores.with_customer(customer_id)
        if customer is None or _is_erased(customer):
            raise CustomerNotFound(customer_id)
        counts = uow.customers.footprint(customer_id)
        open_kinds = sorted({r.kind.value for r in uow.privacy.all_open_for(customer_id)})
        return DataSummary(
            customer_id=customer.id,
            name=customer.name,
            masked_email=mask_email(customer.email),
            country=customer.country,
            customer_since=customer.created_at,
            consent_marketing=customer.consent_marketing,
            consent_profiling=customer.consent_profiling,
            orders=counts.orders,
            returns=counts.returns,
            events=counts.events,
            conversations=counts.conversations,
            offers=counts.offers,
            privacy_requests=counts.privacy_requests,
            first_order_at=counts.first_order_at,
            last_order_at=counts.last_order_at,
            scored=score is not None,
            segment=score.rfm_segment if score is not None else None,
            tier=score.tier if score is not None else None,
            has_clv=score is not None and score.clv_12m is not None,
            scores_as_of=score.as_of if score is not None else None,
            open_requests=tuple(open_kinds),
        )


def _request_view(request: PrivacyRequest, *, existing: bool) -> PrivacyRequestView:
    return PrivacyRequestView(
        id=request.id,
        customer_id=request.customer_id,
        kind=request.kind.value,
        status=request.status.value,
        channel=request.channel,
        requested_at=request.requested_at,
        completed_at=request.completed_at,
        existing=existing,
    )


def _open_request(
    uow: SqlAlchemyUnitOfWork,
    customer_id: int,
    kind: PrivacyRequestKind,
    channel: Optional[str],
    now: Optional[datetime],
) -> PrivacyRequestView:
    channel = (channel or "").strip() or None
    if channel is not None and len(channel) > 32:
        raise InvalidInput(f"channel must be at most 32 characters, got {channel!r}.")
    now = now or _utcnow()
    with uow:
        # The customer row lock (PostgreSQL) or the write lock (SQLite) makes two requests at once create one.
        uow.begin_write()
        _live_customer(uow, customer_id, for_update=True)
        found = uow.privacy.open_for(customer_id, kind)
        if found is not None:
            return _request_view(found, existing=True)
        request = uow.privacy.add(
            PrivacyRequest(
                customer_id=customer_id,
                kind=kind,
                status=PrivacyRequestStatus.REQUESTED,
                channel=channel,
                requested_at=now,
            )
        )
        view = _request_view(request, existing=False)
        uow.commit()
        return view


def request_deletion(
    uow: SqlAlchemyUnitOfWork, customer_id: int, channel: Optional[str] = None, now: Optional[datetime] = None
) -> PrivacyRequestView:
    """Record a verified customer's request to erase their data, for an operator to complete.

    Returns the new request, or the one already open (``existing=True``): asking
    twice does not queue two. Raises :class:`CustomerNotFound` for an unknown
    or erased customer.
    """
    return _open_request(uow, customer_id, PrivacyRequestKind.DELETION, channel, now)


def request_export(
    uow: SqlAlchemyUnitOfWork, customer_id: int, channel: Optional[str] = None, now: Optional[datetime] = None
) -> PrivacyRequestView:
    """Record a verified customer's request for a copy of their data; like :func:`request_deletion`."""
    return _open_request(uow, customer_id, PrivacyRequestKind.EXPORT, channel, now)


def complete_deletion(
    uow: SqlAlchemyUnitOfWork,
    request_id: int,
    now: Optional[datetime] = None,
    *,
    also_senders: Sequence[str] = (),
) -> ErasureReport:
    """Erase the customer of deletion request ``request_id`` (the operator's step), in one transaction.

    ``also_senders``: sender ids of more conversations with the customer that the
    store does not link to them (found in the tracker store by their e-mail
    address, order numbers or signed tokens); their rows are unlinked too.
    ``crm privacy delete`` (:mod:`bot.ops.erasure`) purges the conversations
    themselves, the training data and logs, then calls this.

    What happens:

    - the customer row stays as a tombstone (the request refers to it): name
      ``Erased customer <id>``, e-mail ``erased-<id>@erased.invalid`` (it can
      never verify again), no country, no source customer number, both
      consents off;
    - orders are kept for the accounts as guest orders: unlinked from the
      customer, delivery address and tracking number cleared (lines, amounts,
      dates, status, carrier and the shipping country stay); the next
      analytics refresh no longer sees them as this customer's;
    - returns are kept likewise, unlinked, without the customer's free-text reasons;
    - behaviour events, analytics scores and offer assignments are deleted;
    - conversations are unlinked from the customer, their sender ids (which a
      channel may derive from the customer) replaced by ``erased-<row id>`` and
      the agents' notes on their handoffs cleared; the report lists the old
      sender ids so the chat transcripts can be purged from the Rasa tracker
      store as well;
    - the customer's other open privacy requests are rejected (nothing left to
      export) and this one is marked completed;
    - a tombstone keeps keyed hashes (HMAC-SHA256, the installation's index
      key) of the source customer number and the e-mail address, never the
      values, so re-importing the source file skips the customer.

    Completing a completed request changes nothing and returns it with
    ``existing=True`` and zero counts.

    Raises
    ------
    NotFound
        No privacy request ``request_id``.
    InvalidInput
        The request is not a deletion request.
    RequestRefused (a NotAllowed)
        ``request_rejected``: an operator rejected the request.
    """
    now = now or _utcnow()
    with uow:
        uow.begin_write()
        request = _request_of_kind(uow, request_id, PrivacyRequestKind.DELETION, for_update=True)
        if request.status is PrivacyRequestStatus.COMPLETED:
            return ErasureReport(_request_view(request, existing=True), 0, 0, 0, 0, 0, 0, ())
        customer_id = request.customer_id
        customer = uow.customers.get_for_update(customer_id)
        assert customer is not None  # the request's foreign key cascades deletes
        conversations = {c.id: c for c in uow.conversations.of_customer(customer_id)}
        conversations.update((c.id, c) for c in uow.conversations.by_senders(also_senders))
        senders = tuple(c.sender_id for c in sorted(conversations.values(), key=lambda c: c.id))
        uow.conversations.unlink_customer(sorted(conversations))
        orders = uow.orders.detach_customer(customer_id)
        returns = uow.returns.detach_customer(customer_id)
        events = uow.events.delete_for(customer_id)
        scores = uow.scores.delete(customer_id)
        offers = uow.offers.delete_assignments_of(customer_id)
        rejected = 0
        for other in uow.privacy.all_open_for(customer_id):
            if other.id != request.id:
                other.status = PrivacyRequestStatus.REJECTED
                other.completed_at = now
                other.note = f"The customer's data was erased by request {request.id}."
                rejected += 1
        remembered = 0
        if customer.external_ref:
            remembered += uow.erased.remember("external_ref", customer.external_ref, now)
        if not _is_erased(customer):
            remembered += uow.erased.remember("email", customer.email, now)
        customer.name = f"Erased customer {customer_id}"
        customer.email = f"erased-{customer_id}@{ERASED_DOMAIN}"
        customer.country = None
        customer.external_ref = None
        customer.consent_marketing = False
        customer.consent_profiling = False
        request.status = PrivacyRequestStatus.COMPLETED
        request.completed_at = now
        report = ErasureReport(
            request=_request_view(request, existing=False),
            orders_detached=orders,
            returns_detached=returns,
            events_deleted=events,
            scores_deleted=scores,
            offers_deleted=offers,
            requests_rejected=rejected,
            conversations_unlinked=senders,
            identities_remembered=remembered,
        )
        uow.commit()
        return report


def open_privacy_requests(uow: SqlAlchemyUnitOfWork) -> list[OpenPrivacyRequest]:
    """Every privacy request waiting for an operator, oldest first (e-mail addresses masked)."""
    with uow:
        found = []
        for request in uow.privacy.all_open():
            customer = uow.customers.get(request.customer_id)
            assert customer is not None  # the request's foreign key cascades deletes
            found.append(
                OpenPrivacyRequest(
                    id=request.id,
                    kind=request.kind.value,
                    customer_id=customer.id,
                    customer_name=customer.name,
                    masked_email=mask_email(customer.email),
                    channel=request.channel,
                    requested_at=request.requested_at,
                )
            )
        return found


def _request_of_kind(
    uow: SqlAlchemyUnitOfWork, request_id: int, kind: PrivacyRequestKind, *, for_update: bool = False
) -> PrivacyRequest:
    """Request ``request_id``, checked to be of ``kind`` and not rejected (``for_update``: its row locked)."""
    request = uow.privacy.get_for_update(request_id) if for_update else uow.privacy.get(request_id)
    if request is None:
        raise NotFound(f"No privacy request {request_id} is in the store; `crm privacy list` shows the open ones.")
    if request.kind is not kind:
        article = "an" if kind is PrivacyRequestKind.EXPORT else "a"
        raise InvalidInput(
            f"Privacy request {request_id} is a {request.kind.value} request, not {article} {kind.value} request; "
            f"use `crm privacy {'delete' if request.kind is PrivacyRequestKind.DELETION else 'export'}`."
        )
    if request.status is PrivacyRequestStatus.REJECTED:
        raise RequestRefused("request_rejected", f"Privacy request {request_id} was rejected; it cannot be completed.")
    return request


def privacy_subject(uow: SqlAlchemyUnitOfWork, request_id: int, kind: PrivacyRequestKind) -> PrivacySubject:
    """Who request ``request_id`` is about, checked to be a request of ``kind`` that was not rejected.

    Raises
    ------
    NotFound
        No privacy request ``request_id``.
    InvalidInput
        The request is of the other kind.
    RequestRefused (a NotAllowed)
        ``request_rejected``: an operator rejected the request.
    """
    with uow:
        request = _request_of_kind(uow, request_id, kind)
        customer = uow.customers.get(request.customer_id)
        assert customer is not None  # the request's foreign key cascades deletes
        records = uow.customers.records(customer.id)
        numbers = {o.number for o in records.orders} | {r.number for r in records.returns if r.number}
        return PrivacySubject(
            request=_request_view(request, existing=request.status is PrivacyRequestStatus.COMPLETED),
            customer_id=customer.id,
            external_ref=customer.external_ref,
            name=customer.name,
            email=customer.email,
            order_numbers=tuple(sorted(numbers)),
            senders=tuple(c.sender_id for c in records.conversations),
        )


def _plain(value: object) -> object:
    """A value as JSON holds it: times in ISO 8601, money as a decimal string, enums by value."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _columns(row: object, *skip: str) -> dict[str, object]:
    table = row.__table__  # type: ignore[attr-defined]
    return {c.key: _plain(getattr(row, c.key)) for c in table.columns if c.key not in skip}


def customer_data(uow: SqlAlchemyUnitOfWork, request_id: int, now: Optional[datetime] = None) -> dict[str, object]:
    """Everything the store holds about the customer of export request ``request_id``, as plain JSON data.

    The customer row (decrypted), their orders with lines, returns and
    cancellations, behaviour events, analytics scores, offers made to them,
    conversations with their handoffs, and privacy requests. The tracker
    store's messages are added by ``crm privacy export`` (:mod:`bot.ops.erasure`).

    Raises like :func:`privacy_subject`, and :class:`CustomerNotFound` for a customer erased meanwhile.
    """
    now = now or _utcnow()
    with uow:
        request = _request_of_kind(uow, request_id, PrivacyRequestKind.EXPORT)
        customer = uow.customers.get(request.customer_id)
        if customer is None or _is_erased(customer):
            raise CustomerNotFound(request.customer_id)
        records = uow.customers.records(customer.id)
        return {
            "request": _columns(request),
            "generated_at": now.isoformat(timespec="seconds"),
            "customer": _columns(customer, "email_index"),
            "orders": [
                _columns(order)
                | {
                    "total": str(order.total),
                    "lines": [
                        {
                            "sku": line.product.sku,
                            "product": line.product.name,
                            "quantity": line.quantity,
                            "unit_price": str(line.unit_price),
                            "amount": str(line.amount),
                        }
                        for line in order.lines
                    ],
                }
                for order in records.orders
            ],
            "returns": [_columns(r) for r in records.returns],
            "behaviour_events": [_columns(e) for e in records.events],
            "scores": _columns(records.score) if records.score is not None else None,
            "offers": [
                _columns(assignment) | {"offer": {"code": offer.code, "name": offer.name, "kind": offer.kind.value}}
                for assignment, offer in records.offers
            ],
            "conversations": [
                _columns(c) | {"handoffs": [_columns(h) for h in c.handoffs]} for c in records.conversations
            ],
            "privacy_requests": [_columns(r) for r in records.privacy_requests],
        }


def complete_export(
    uow: SqlAlchemyUnitOfWork, request_id: int, note: str, now: Optional[datetime] = None
) -> PrivacyRequestView:
    """Mark export request ``request_id`` completed (the copy was delivered), with ``note`` saying where.

    Completing a completed request changes nothing and returns it with ``existing=True``.
    Raises like :func:`privacy_subject`.
    """
    now = now or _utcnow()
    with uow:
        uow.begin_write()
        request = _request_of_kind(uow, request_id, PrivacyRequestKind.EXPORT, for_update=True)
        if request.status is PrivacyRequestStatus.COMPLETED:
            return _request_view(request, existing=True)
        request.status = PrivacyRequestStatus.COMPLETED
        request.completed_at = now
        request.note = _clean_text(note, "note", 2000)
        view = _request_view(request, existing=False)
        uow.commit()
        return view
