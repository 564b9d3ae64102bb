"""Account services behind the assistant: identity, orders, products, privacy.

Most tests run on a tiny hand-built shop (two customers, a few orders in every
state) on SQLite and PostgreSQL; a few run on the shipped sample.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from analytics.core.errors import (
    CRMError,
    CustomerNotFound,
    IdentityNotVerified,
    InvalidInput,
    NotAllowed,
    NotFound,
    OrderNotFound,
    ProductNotFound,
)
from analytics.ingest.online_retail import import_online_retail
from analytics.ingest.people import pseudonym
from analytics.security.throttle import AttemptLimits, Throttle, TooManyAttempts
from analytics.store.db import make_engine, make_session_factory
from analytics.store.migrate import upgrade
from analytics.store.models import (
    Base,
    Conversation,
    Customer,
    CustomerEvent,
    CustomerScore,
    EventKind,
    Handoff,
    HandoffStatus,
    Offer,
    OfferAssignment,
    OfferKind,
    Order,
    OrderLine,
    OrderStatus,
    PrivacyRequest,
    Product,
    Return,
    ReturnKind,
    ReturnStatus,
    Variant,
)
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases.addresses import change_address, normalise_address
from analytics.usecases.catalogue import find_products, product_info
from analytics.usecases.common import RequestRefused
from analytics.usecases.identity import customer_name, customer_of_conversation, link_conversation, verify_identity
from analytics.usecases.orders import RETURN_WINDOW, cancel_order, list_orders, order_of
from analytics.usecases.privacy import complete_deletion, data_summary, request_deletion, request_export
from analytics.usecases.returns import AmbiguousItem, ItemNotOnOrder, request_return
from tests.conftest import SAMPLE, postgres_schema_engine

NOW = datetime(2026, 11, 24, 12, 0)

# Jane's personal data, planted in every table that can hold some; none may survive her erasure.
JANE = {
    "name": "Jane Doe",
    "email": "jane.doe@example.com",
    "ref": "90001",
    "address": "10 Downing Street, London, SW1A 2AA",
    "tracking": "JD0001112223",
    "reason": "Arrived broken, Jane Doe, call 07700 900123",
    "note": "Jane Doe was happy with the refund",
    "sender": "web-jane-1",
}


@dataclass(frozen=True)
class Shop:
    jane: int
    ben: int


def _product(sku: str, name: str, price: str, category: str = "Bags", active: bool = True) -> Product:
    return Product(
        sku=sku, name=name, description=name.upper(), category=category, unit_price=Decimal(price), active=active
    )


def _order(number: str, customer: Customer, status: OrderStatus, placed_days_ago: float, **extra: object) -> Order:
    placed = NOW - timedelta(days=placed_days_ago)
    order = Order(
        number=number,
        customer=customer,
        placed_at=placed,
        status=status,
        country="United Kingdom",
        shipping_fee=Decimal("4.95"),
        carrier="Royal Mail",
        estimated_delivery=(placed + timedelta(days=3)).date(),
    )
    if status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
        order.shipped_at = placed + timedelta(days=1)
        order.tracking_number = f"RM{number}"
    if status is OrderStatus.DELIVERED:
        order.delivered_at = placed + timedelta(days=3)
    for key, value in extra.items():
        setattr(order, key, value)
    return order


def _line(product: Product, quantity: int, price: str) -> OrderLine:
    return OrderLine(product=product, quantity=quantity, unit_price=Decimal(price))


def build_shop(uow: SqlAlchemyUnitOfWork) -> Shop:
    """Jane (every kind of data) and Ben (one delivered order), five products.

    Jane's orders: 100001 processing, 100002 shipped, 100003 delivered 2 days
    ago (two lunch bags, and the heart holder on two lines at two prices),
    100004 delivered 37 days ago. Ben's: 200001 delivered yesterday.
    """
    red = _product("20725", "Lunch Bag Red Retrospot", "1.65")
    woodland = _product("20726", "Lunch Bag Woodland", "1.65")
    heart = _product("85123A", "White Hanging Heart T-Light Holder", "2.55", "Candles & Lighting")
    cakestand = _product("22423", "Regency Cakestand 3 Tier", "12.75", "Kitchen")
    mug = _product("99001X", "Discontinued Enamel Mug", "3.00", "Kitchen", active=False)
    with uow:
        jane = Customer(
            external_ref=JANE["ref"],
            name=JANE["name"],
            email=JANE["email"],
            country="United Kingdom",
            consent_marketing=True,
            consent_profiling=True,
            created_at=NOW - timedelta(days=400),
        )
        ben = Customer(
            external_ref="90002",
            name="Ben Smith",
            email="ben.smith@example.com",
            country="France",
            consent_marketing=False,
            consent_profiling=True,
            created_at=NOW - timedelta(days=100),
        )
        o1 = _order("100001", jane, OrderStatus.PROCESSING, 0.5, delivery_address=JANE["address"])
        o1.lines = [_line(red, 2, "1.65"), _line(heart, 6, "2.55")]
        o1.shipped_at = o1.tracking_number = None
        o2 = _order("100002", jane, OrderStatus.SHIPPED, 2, tracking_number=JANE["tracking"])
        o2.lines = [_line(cakestand, 1, "12.75")]
        o3 = _order("100003", jane, OrderStatus.DELIVERED, 5)
        o3.lines = [
            _line(red, 4, "1.65"),
            _line(woodland, 2, "1.65"),
            _line(heart, 6, "2.55"),
            _line(heart, 2, "2.10"),
        ]
        o4 = _order("100004", jane, OrderStatus.DELIVERED, 40)
        o4.lines = [_line(mug, 1, "3.00")]
        b1 = _order("200001", ben, OrderStatus.DELIVERED, 4)
        b1.lines = [_line(cakestand, 2, "12.75")]
        uow.session.add_all([jane, ben, o1, o2, o3, o4, b1])
        uow.session.flush()
        offer = Offer(code="WELCOME10", name="10% off", kind=OfferKind.PERCENT_DISCOUNT, value=Decimal("10"))
        uow.session.add(offer)
        uow.session.flush()
        for customer in (jane, ben):
            uow.session.add_all(
                [
                    CustomerEvent(
                        customer_id=customer.id, product_id=red.id, kind=EventKind.VIEW, occurred_at=NOW, source="web"
                    ),
                    CustomerScore(
                        customer_id=customer.id,
                        as_of=NOW,
                        recency_days=5,
                        frequency=4,
                        monetary=Decimal("60.00"),
                        r_score=5,
                        f_score=4,
                        m_score=3,
                        rfm_segment="Champions",
                        spend_12m=Decimal("60.00"),
                        points=60,
                        tier="Bronze",
                        lifecycle="active",
                        clv_12m=Decimal("80.00"),
                        churn_reasons=[f"last order of {customer.name} 5 days ago"],
                    ),
                    OfferAssignment(
                        offer_id=offer.id, customer_id=customer.id, variant=Variant.TREATMENT, assigned_at=NOW
                    ),
                ]
            )
        chat = Conversation(sender_id=JANE["sender"], customer_id=jane.id, channel="web", started_at=NOW)
        uow.session.add(chat)
        uow.session.flush()
        uow.session.add_all(
            [
                Handoff(
                    conversation_id=chat.id,
                    status=HandoffStatus.RESOLVED,
                    reason="human_requested",
                    requested_at=NOW,
                    agent="agent-7",
                    resolution=JANE["note"],
                ),
                Return(
                    number="100003",
                    kind=ReturnKind.RETURN,
                    status=ReturnStatus.REJECTED,
                    customer_id=jane.id,
                    order_id=o3.id,
                    product_id=woodland.id,
                    quantity=1,
                    amount=Decimal("1.65"),
                    reason=JANE["reason"],
                    created_at=NOW - timedelta(days=1),
                ),
            ]
        )
        uow.commit()
        return Shop(jane=jane.id, ben=ben.id)


@pytest.fixture
def shop(uow: SqlAlchemyUnitOfWork) -> Shop:
    return build_shop(uow)


def returns_of(uow: SqlAlchemyUnitOfWork, number: str, kind: ReturnKind) -> list[tuple[str, int, Decimal]]:
    with uow:
        rows = uow.session.execute(
            select(Product.sku, Return.quantity, Return.amount)
            .join(Product, Product.id == Return.product_id)
            .where(Return.number == number, Return.kind == kind)
            .order_by(Return.id)
        )
        return [(sku, quantity, Decimal(amount)) for sku, quantity, amount in rows]


def status_of(uow: SqlAlchemyUnitOfWork, number: str) -> OrderStatus:
    with uow:
        order = uow.orders.by_number(number)
        assert order is not None
        return order.status


# --------------------------------------------------------------------------- identity


def test_identity_is_verified_by_email_and_an_order_of_that_customer(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    customer = verify_identity(uow, "  Jane.DOE@Example.com ", " #100003")
    assert customer.id == shop.jane
    assert customer.name == "Jane Doe"
    assert customer.masked_email == "j***@example.com"


@pytest.mark.parametrize(
    ("email", "number"),
    [
        ("jane.doe@example.com", "200001"),  # Ben's order
        ("ben.smith@example.com", "100003"),  # Jane's order
        ("jane.doe@example.com", "999999"),  # no such order
        ("nobody@example.com", "100003"),  # no such customer
    ],
)
def test_a_mismatch_is_refused_without_saying_which_part_was_wrong(
    uow: SqlAlchemyUnitOfWork, shop: Shop, email: str, number: str
) -> None:
    with pytest.raises(IdentityNotVerified) as refused:
        verify_identity(uow, email, number)
    assert str(refused.value) == "These details do not match a customer of the shop."


def identity_attempts(**rules: str) -> Throttle:
    limits = {"conversation": "3/hour", "email": "100/hour", "customer": "100/hour", "client": "100/hour", **rules}
    return Throttle("identity-test", AttemptLimits(limits))


def test_a_conversation_gets_three_wrong_tries_then_even_the_right_details_are_refused(
    uow: SqlAlchemyUnitOfWork, shop: Shop
) -> None:
    attempts = identity_attempts()
    for wrong in ("100001", "100002", "999999"):
        with pytest.raises(IdentityNotVerified):
            verify_identity(uow, "ben.smith@example.com", wrong, attempts=attempts, conversation="c1")

    with pytest.raises(TooManyAttempts) as refused:
        verify_identity(uow, "jane.doe@example.com", "100003", attempts=attempts, conversation="c1")

    assert refused.value.scope == "conversation" and 0 < refused.value.retry_after <= 3600
    assert "try again in" in str(refused.value)


def test_a_new_conversation_does_not_reset_the_count_for_the_same_email_or_client(
    uow: SqlAlchemyUnitOfWork, shop: Shop
) -> None:
    attempts = identity_attempts(email="2/hour", client="2/hour")
    for i, wrong in enumerate(("999991", "999992")):
        with pytest.raises(IdentityNotVerified):
            verify_identity(uow, "jane.doe@example.com", wrong, attempts=attempts, conversation=f"new-{i}")
    with pytest.raises(TooManyAttempts, match="try again"):  # a third fresh conversation, same e-mail
        verify_identity(uow, "jane.doe@example.com", "100003", attempts=attempts, conversation="new-3")
    for i, email in enumerate(("a@example.com", "b@example.com")):
        with pytest.raises(IdentityNotVerified):
            verify_identity(uow, email, "100003", attempts=attempts, conversation=f"x-{i}", client="10.0.0.9")
    with pytest.raises(TooManyAttempts) as refused:  # other addresses, new conversations: the same client
        verify_identity(uow, "c@example.com", "100003", attempts=attempts, conversation="x-9", client="10.0.0.9")
    assert refused.value.scope == "client"


def test_guessing_one_customers_order_numbers_is_stopped_whatever_the_email(
    uow: SqlAlchemyUnitOfWork, shop: Shop
) -> None:
    attempts = identity_attempts(customer="2/hour")
    for i in range(2):
        with pytest.raises(IdentityNotVerified):
            verify_identity(uow, f"guess{i}@example.com", "100003", attempts=attempts, conversation=f"g{i}")

    with pytest.raises(TooManyAttempts) as refused:
        verify_identity(uow, "jane.doe@example.com", "100003", attempts=attempts, conversation="jane")

    assert refused.value.scope == "customer"


def test_successful_checks_are_not_counted(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    attempts = identity_attempts(conversation="1/hour")
    for _ in range(3):
        assert verify_identity(uow, "jane.doe@example.com", "100003", attempts=attempts, conversation="c").id

    with pytest.raises(IdentityNotVerified):
        verify_identity(uow, "jane.doe@example.com", "200001", attempts=attempts, conversation="c")


@pytest.mark.parametrize(("email", "number"), [("jane.doe", "100003"), ("jane.doe@example.com", "one two three")])
def test_details_that_cannot_be_an_email_or_an_order_number_are_invalid_input(
    uow: SqlAlchemyUnitOfWork, shop: Shop, email: str, number: str
) -> None:
    with pytest.raises(InvalidInput):
        verify_identity(uow, email, number)


def test_a_conversation_is_linked_to_the_customer_and_the_latest_link_wins(
    uow: SqlAlchemyUnitOfWork, shop: Shop
) -> None:
    assert customer_of_conversation(uow, "rest-42") is None
    first = link_conversation(uow, "rest-42", None, "rest", NOW)
    assert customer_of_conversation(uow, "rest-42") is None
    later = NOW + timedelta(minutes=3)
    linked = link_conversation(uow, "rest-42", shop.ben, "rest", later)
    assert customer_of_conversation(uow, "rest-42") == shop.ben
    assert (linked.started_at, linked.last_event_at) == (first.started_at, later)
    link_conversation(uow, "rest-42", shop.jane, "rest", later)
    assert customer_of_conversation(uow, "rest-42") == shop.jane
    with uow:
        assert uow.session.scalar(select(func.count()).where(Conversation.sender_id == "rest-42")) == 1


def test_a_known_customer_is_greeted_by_name(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    assert customer_name(uow, shop.jane) == "Jane Doe"
    with pytest.raises(CustomerNotFound):
        customer_name(uow, 999_999)


def test_a_conversation_cannot_be_linked_to_an_unknown_customer(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    with pytest.raises(CustomerNotFound):
        link_conversation(uow, "rest-43", 999_999, "rest", NOW)
    assert customer_of_conversation(uow, "rest-43") is None


# --------------------------------------------------------------------------- orders


def test_list_orders_shows_the_customers_own_orders_newest_first(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    orders = list_orders(uow, shop.jane)
    assert [o.number for o in orders] == ["100001", "100002", "100003", "100004"]
    first = orders[0]
    assert (first.status, first.item_count, first.total) == ("processing", 8, Decimal("23.55"))
    assert [o.number for o in list_orders(uow, shop.jane, limit=2)] == ["100001", "100002"]
    assert [o.number for o in list_orders(uow, shop.ben)] == ["200001"]


def test_someone_elses_order_is_not_found_exactly_like_a_missing_one(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    with pytest.raises(OrderNotFound) as theirs:
        order_of(uow, shop.jane, "200001", NOW)
    with pytest.raises(OrderNotFound) as missing:
        order_of(uow, shop.jane, "200009", NOW)
    assert str(theirs.value) == str(missing.value).replace("200009", "200001")
    for attempt in (
        lambda: cancel_order(uow, shop.jane, "200001", NOW),
        lambda: request_return(uow, shop.jane, "200001", "22423", "too big", now=NOW),
        lambda: change_address(uow, shop.jane, "200001", JANE["address"], NOW),
    ):
        with pytest.raises(OrderNotFound):
            attempt()
    assert order_of(uow, shop.ben, "200001", NOW).lines[0].quantity == 2


def test_order_detail_says_what_can_still_be_done(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    processing = order_of(uow, shop.jane, "100001", NOW)
    assert (processing.can_cancel, processing.can_change_address, processing.can_return) == (True, True, False)
    assert processing.delivery_address == JANE["address"]
    delivered = order_of(uow, shop.jane, "100003", NOW)
    assert (delivered.can_cancel, delivered.can_return) == (False, True)
    assert delivered.return_deadline == NOW - timedelta(days=2) + RETURN_WINDOW
    assert [(line.sku, line.quantity) for line in delivered.lines] == [
        ("20725", 4),
        ("20726", 2),
        ("85123A", 6),
        ("85123A", 2),
    ]
    assert order_of(uow, shop.jane, "100004", NOW).can_return is False  # delivered 37 days ago


def test_cancelling_a_processing_order_refunds_every_line_and_the_shipping(
    uow: SqlAlchemyUnitOfWork, shop: Shop
) -> None:
    result = cancel_order(uow, shop.jane, "100001", NOW)
    assert result.status == "cancelled"
    assert [(line.sku, line.quantity, line.amount) for line in result.lines] == [
        ("20725", 2, Decimal("3.30")),
        ("85123A", 6, Decimal("15.30")),
    ]
    assert (result.items_refund, result.shipping_refund, result.refund_total) == (
        Decimal("18.60"),
        Decimal("4.95"),
        Decimal("23.55"),
    )
    assert status_of(uow, "100001") is OrderStatus.CANCELLED
    assert returns_of(uow, "100001", ReturnKind.CANCELLATION) == [
        ("20725", 2, Decimal("3.30")),
        ("85123A", 6, Decimal("15.30")),
    ]


def test_cancelling_twice_never_refunds_twice(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    cancel_order(uow, shop.jane, "100001", NOW)
    with pytest.raises(RequestRefused, match="already cancelled") as refused:
        cancel_order(uow, shop.jane, "100001", NOW + timedelta(minutes=1))
    assert refused.value.code == "already_cancelled"
    assert len(returns_of(uow, "100001", ReturnKind.CANCELLATION)) == 2


def at_once(uow: SqlAlchemyUnitOfWork, calls: int, use_case: Callable[[SqlAlchemyUnitOfWork], Any]) -> list[Any]:
    """Run ``use_case`` in ``calls`` threads released together, each with its own unit of work; the results
    (or the errors raised) in thread order."""
    gate = threading.Barrier(calls)

    def run(_: int) -> Any:
        own = SqlAlchemyUnitOfWork(uow.session_factory)
        gate.wait()
        try:
            return use_case(own)
        except CRMError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=calls) as pool:
        return list(pool.map(run, range(calls)))


def test_two_cancellations_at_once_refund_once(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    results = at_once(uow, 4, lambda own: cancel_order(own, shop.jane, "100001", NOW))

    done = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, RequestRefused)]
    assert len(done) == 1 and len(refused) == 3
    assert {r.code for r in refused} <= {"already_cancelled", "changed_meanwhile"}
    assert len(returns_of(uow, "100001", ReturnKind.CANCELLATION)) == 2  # one refund of the two lines


def test_returns_at_once_never_return_more_than_was_bought(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    bought = 4  # red lunch bags on order 100003

    results = at_once(
        uow, 4, lambda own: request_return(own, shop.jane, "100003", "red lunch bag", "too small", 2, NOW)
    )

    accepted = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(accepted) == 2 and len(refused) == 2
    assert all(isinstance(r, (InvalidInput, RequestRefused)) for r in refused)
    returned = [q for sku, q, _ in returns_of(uow, "100003", ReturnKind.RETURN) if sku == "20725"]
    assert sum(returned) == bought


@pytest.mark.parametrize("number", ["100002", "100003"])
def test_a_shipped_or_delivered_order_cannot_be_cancelled_but_can_be_returned(
    uow: SqlAlchemyUnitOfWork, shop: Shop, number: str
) -> None:
    before = status_of(uow, number)
    with pytest.raises(NotAllowed, match="return items within 30 days of delivery") as refused:
        cancel_order(uow, shop.jane, number, NOW)
    assert isinstance(refused.value, RequestRefused) and refused.value.code == "already_shipped"
    assert status_of(uow, number) is before
    assert returns_of(uow, number, ReturnKind.CANCELLATION) == []


def test_a_return_is_recorded_at_the_price_paid(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    view = request_return(uow, shop.jane, "100003", "the red lunch bags", "  too   small ", quantity=3, now=NOW)
    assert (view.sku, view.product_name, view.quantity, view.refund_amount) == (
        "20725",
        "Lunch Bag Red Retrospot",
        3,
        Decimal("4.95"),
    )
    assert view.status == "requested"
    assert view.send_back_by == (NOW + timedelta(days=14)).date()
    assert f"R{view.return_id}" in view.next_steps
    with uow:
        row = uow.session.get(Return, view.return_id)
        assert row is not None
        assert (row.kind, row.status, row.customer_id, row.reason) == (
            ReturnKind.RETURN,
            ReturnStatus.REQUESTED,
            shop.jane,
            "too small",
        )


def test_a_product_on_several_lines_is_refunded_line_by_line_at_each_price(
    uow: SqlAlchemyUnitOfWork, shop: Shop
) -> None:
    first = request_return(uow, shop.jane, "100003", "85123a", "chipped", quantity=5, now=NOW)
    assert first.refund_amount == Decimal("12.75")  # 5 x 2.55
    rest = request_return(uow, shop.jane, "100003", "heart holder", "chipped", now=NOW)
    assert (rest.quantity, rest.refund_amount) == (3, Decimal("6.75"))  # 1 x 2.55 + 2 x 2.10


def test_a_return_cannot_exceed_what_was_bought_minus_what_is_already_returned(
    uow: SqlAlchemyUnitOfWork, shop: Shop
) -> None:
    with pytest.raises(InvalidInput, match="at most 4"):
        request_return(uow, shop.jane, "100003", "20725", "too small", quantity=5, now=NOW)
    request_return(uow, shop.jane, "100003", "20725", "too small", quantity=3, now=NOW)
    with pytest.raises(InvalidInput, match="3 are already being returned; at most 1"):
        request_return(uow, shop.jane, "100003", "20725", "too small", quantity=2, now=NOW)
    request_return(uow, shop.jane, "100003", "20725", "too small", now=NOW)
    with pytest.raises(RequestRefused, match="already being returned") as refused:
        request_return(uow, shop.jane, "100003", "20725", "too small", now=NOW)
    assert refused.value.code == "already_returned"
    assert [q for sku, q, _ in returns_of(uow, "100003", ReturnKind.RETURN) if sku == "20725"] == [3, 1]


def test_a_rejected_return_does_not_use_up_the_quantity(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    # One Woodland bag was returned before and rejected: both can still be returned.
    view = request_return(uow, shop.jane, "100003", "woodland", "wrong colour", now=NOW)
    assert view.quantity == 2


@pytest.mark.parametrize(
    ("number", "code", "words"),
    [
        ("100004", "return_window_closed", "within 30 days of delivery"),
        ("100001", "not_shipped", "cancel it instead"),
        ("100002", "in_transit", "once it has been delivered"),
    ],
)
def test_returns_are_refused_outside_the_window_and_before_delivery(
    uow: SqlAlchemyUnitOfWork, shop: Shop, number: str, code: str, words: str
) -> None:
    with pytest.raises(RequestRefused, match=words) as refused:
        request_return(uow, shop.jane, number, "mug", "changed my mind", now=NOW)
    assert refused.value.code == code
    assert returns_of(uow, number, ReturnKind.RETURN) == []


def test_the_return_window_ends_thirty_days_after_delivery(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    delivered = NOW - timedelta(days=2)
    request_return(uow, shop.jane, "100003", "20726", "late", quantity=1, now=delivered + timedelta(days=30))
    with pytest.raises(RequestRefused, match="closed on"):
        request_return(
            uow, shop.jane, "100003", "20726", "late", quantity=1, now=delivered + timedelta(days=30, minutes=1)
        )


def test_an_ambiguous_item_lists_the_candidates(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    with pytest.raises(AmbiguousItem) as ambiguous:
        request_return(uow, shop.jane, "100003", "lunch bag", "too small", now=NOW)
    assert [(c.sku, c.name) for c in ambiguous.value.candidates] == [
        ("20725", "Lunch Bag Red Retrospot"),
        ("20726", "Lunch Bag Woodland"),
    ]
    assert "Lunch Bag Red Retrospot (20725)" in str(ambiguous.value)
    assert isinstance(ambiguous.value, InvalidInput)
    assert returns_of(uow, "100003", ReturnKind.RETURN) == [("20726", 1, Decimal("1.65"))]  # the planted one


def test_an_item_that_is_not_on_the_order_is_not_found(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    with pytest.raises(ProductNotFound, match="Order 100003 has nothing matching 'cakestand'"):
        request_return(uow, shop.jane, "100003", "cakestand", "too big", now=NOW)
    with pytest.raises(ItemNotOnOrder):
        request_return(uow, shop.jane, "100003", "22423", "too big", now=NOW)


def test_a_return_needs_a_reason_and_a_positive_quantity(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    with pytest.raises(InvalidInput, match="reason"):
        request_return(uow, shop.jane, "100003", "20725", "   ", now=NOW)
    with pytest.raises(InvalidInput, match="at least 1"):
        request_return(uow, shop.jane, "100003", "20725", "too small", quantity=0, now=NOW)


# --------------------------------------------------------------------------- delivery address


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("10 downing street\nLondon  sw1a2aa", "10 downing street, London SW1A 2AA"),
        ("Flat 2, 5 High St, Manchester m1 1ae", "Flat 2, 5 High St, Manchester M1 1AE"),
        ("Rose Cottage, Lane End, Penzance, TR18 4AA", "Rose Cottage, Lane End, Penzance, TR18 4AA"),
        ("12 rue de Rivoli, 75001 Paris", "12 rue de Rivoli, 75001 Paris"),
        ("Hauptstraße 5, 10115 Berlin", "Hauptstraße 5, 10115 Berlin"),
        ("ul. Marszałkowska 1, 00-950 Warszawa", "ul. Marszałkowska 1, 00-950 Warszawa"),
    ],
)
def test_addresses_with_a_street_line_and_a_postcode_are_accepted_and_tidied(text: str, stored: str) -> None:
    assert normalise_address(text) == stored


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("   ", "empty"),
        ("SW1A 2AA", "10 to 200 characters"),
        ("London SW1A 2AA", "street line"),
        ("10 Downing Street, London", "postcode"),
        ("1600 Pennsylvania Avenue", "postcode"),  # a house number is not a postcode
        ("10 Downing Street <script>, SW1A 2AA", "only letters"),
        ("10 Downing Street, " + "Westminster " * 20 + "SW1A 2AA", "10 to 200 characters"),
        ("1\n2\n3\n4\n5\n6\n7\n8\n9 Downing St SW1A 2AA", "at most 8 lines"),
    ],
)
def test_addresses_missing_a_part_are_refused_with_what_to_fix(text: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        normalise_address(text)


def test_the_address_of_a_processing_order_can_be_changed(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    view = change_address(uow, shop.jane, "100001", "221b baker street\nlondon nw1 6xe", NOW)
    assert (view.address, view.status) == ("221b baker street, london NW1 6XE", "processing")
    assert order_of(uow, shop.jane, "100001", NOW).delivery_address == view.address


def test_a_bad_address_leaves_the_order_as_it_was(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    with pytest.raises(InvalidInput):
        change_address(uow, shop.jane, "100001", "somewhere nice", NOW)
    assert order_of(uow, shop.jane, "100001", NOW).delivery_address == JANE["address"]


def test_the_address_of_a_shipped_or_cancelled_order_cannot_be_changed(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    with pytest.raises(RequestRefused, match="already shipped") as refused:
        change_address(uow, shop.jane, "100002", "221b Baker Street, London NW1 6XE", NOW)
    assert refused.value.code == "already_shipped"
    cancel_order(uow, shop.jane, "100001", NOW)
    with pytest.raises(RequestRefused, match="cancelled"):
        change_address(uow, shop.jane, "100001", "221b Baker Street, London NW1 6XE", NOW)
    assert order_of(uow, shop.jane, "100001", NOW).delivery_address == JANE["address"]


# --------------------------------------------------------------------------- products


def test_products_are_found_by_words_of_their_name_exact_name_first(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    found = find_products(uow, "Lunch Bags Woodland")
    assert [(p.sku, p.match) for p in found] == [("20726", "exact"), ("20725", "some_words")]
    # Both hold every word; the name with fewer other words is the closer match.
    assert [p.sku for p in find_products(uow, "do you have lunch bags?")] == ["20726", "20725"]


def test_a_product_is_found_by_its_sku_with_price_and_availability(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    heart = product_info(uow, "85123a")
    assert (heart.name, heart.category, heart.price, heart.availability, heart.match) == (
        "White Hanging Heart T-Light Holder",
        "Candles & Lighting",
        Decimal("2.55"),
        "in stock",
        "sku",
    )
    mug = product_info(uow, "enamel mug")
    assert (mug.in_stock, mug.availability) == (False, "not available")


@pytest.mark.parametrize("query", ["tea lights", "tealight holder", "T-LIGHT", "t light holders"])
def test_tea_lights_are_what_the_catalog_calls_t_lights(uow: SqlAlchemyUnitOfWork, shop: Shop, query: str) -> None:
    assert product_info(uow, query).sku == "85123A"


def test_an_unknown_product_is_not_found_and_an_empty_question_is_invalid(
    uow: SqlAlchemyUnitOfWork, shop: Shop
) -> None:
    with pytest.raises(ProductNotFound):
        find_products(uow, "garden gnome")
    with pytest.raises(InvalidInput):
        find_products(uow, "do you have any?")


# --------------------------------------------------------------------------- privacy


def test_the_data_summary_counts_what_the_shop_holds(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    summary = data_summary(uow, shop.jane)
    assert (summary.name, summary.masked_email, summary.country) == ("Jane Doe", "j***@example.com", "United Kingdom")
    assert (summary.orders, summary.returns, summary.events, summary.conversations, summary.offers) == (4, 1, 1, 1, 1)
    assert (summary.first_order_at, summary.last_order_at) == (NOW - timedelta(days=40), NOW - timedelta(days=0.5))
    assert (summary.scored, summary.segment, summary.tier, summary.has_clv) == (True, "Champions", "Bronze", True)
    assert summary.open_requests == ()
    assert JANE["email"] not in " ".join(summary.lines())
    request_export(uow, shop.jane, "web", NOW)
    assert data_summary(uow, shop.jane).open_requests == ("export",)


def test_the_data_summary_reads_as_short_lines_without_the_full_email(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    lines = data_summary(uow, shop.ben).lines()
    assert lines == [
        "Profile: Ben Smith, b***@example.com, France, customer since August 2026",
        "Consents: marketing e-mails no, personalised analytics yes",
        "Orders: 1 order (20 Nov 2026 to 20 Nov 2026); returns and cancellations: 0",
        "Activity: 1 product view or rating, 0 conversations with us, 1 offer made to you",
        "Derived from your orders: segment Champions, loyalty tier Bronze, an estimate of your future spend",
    ]


def test_a_deletion_request_is_made_once(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    first = request_deletion(uow, shop.jane, "web", NOW)
    again = request_deletion(uow, shop.jane, "rest", NOW + timedelta(hours=1))
    assert (first.existing, again.existing) == (False, True)
    assert again.id == first.id
    assert (again.kind, again.status, again.channel, again.requested_at) == ("deletion", "requested", "web", NOW)
    export = request_export(uow, shop.jane, "web", NOW)
    assert export.id != first.id and not export.existing
    with uow:
        assert uow.session.scalar(select(func.count()).select_from(PrivacyRequest)) == 2


def _every_value(uow: SqlAlchemyUnitOfWork) -> str:
    """Every value of every row of every table, as one string."""
    with uow:
        return "\n".join(
            repr(tuple(row)) for table in Base.metadata.sorted_tables for row in uow.session.execute(table.select())
        )


def test_a_completed_deletion_leaves_no_personal_data_in_any_table(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    before = _every_value(uow)
    for value in JANE.values():
        assert value in before  # planted, so its absence below means something
    request = request_deletion(uow, shop.jane, "web", NOW)
    export = request_export(uow, shop.jane, "web", NOW)

    report = complete_deletion(uow, request.id, NOW + timedelta(days=1))

    after = _every_value(uow)
    for field, value in JANE.items():
        assert value not in after, field
    for fragment in ("Jane", "jane", "Doe", "Downing", "07700"):
        assert fragment not in after
    assert report.request.status == "completed"
    assert (report.orders_detached, report.returns_detached, report.events_deleted) == (4, 1, 1)
    assert (report.scores_deleted, report.offers_deleted, report.requests_rejected) == (1, 1, 1)
    assert report.conversations_unlinked == ("web-jane-1",)
    with uow:
        jane = uow.customers.get(shop.jane)
        assert jane is not None
        assert (jane.consent_marketing, jane.consent_profiling, jane.country, jane.external_ref) == (
            False,
            False,
            None,
            None,
        )
        orders = uow.session.scalars(select(Order).where(Order.number.like("1%"))).all()
        assert len(orders) == 4 and all(o.customer_id is None and o.delivery_address is None for o in orders)
        assert uow.session.scalar(select(func.count()).select_from(OrderLine)) == 9  # kept for the accounts
        rejected = uow.session.get(PrivacyRequest, export.id)
        assert rejected is not None and rejected.status.value == "rejected"
        chat = uow.session.scalar(select(Conversation))
        assert chat is not None and chat.customer_id is None and chat.sender_id.startswith("erased-")
    with pytest.raises(IdentityNotVerified):
        verify_identity(uow, JANE["email"], "100003")
    with pytest.raises(IdentityNotVerified):
        verify_identity(uow, f"erased-{shop.jane}@erased.invalid", "100003")
    with pytest.raises(CustomerNotFound):
        data_summary(uow, shop.jane)


def test_a_deletion_leaves_other_customers_alone(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    ben_before = data_summary(uow, shop.ben)
    request = request_deletion(uow, shop.jane, "web", NOW)
    complete_deletion(uow, request.id, NOW)
    assert data_summary(uow, shop.ben) == ben_before
    assert verify_identity(uow, "ben.smith@example.com", "200001").id == shop.ben


def test_completing_a_deletion_twice_changes_nothing(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    request = request_deletion(uow, shop.jane, "web", NOW)
    complete_deletion(uow, request.id, NOW)
    before = _every_value(uow)
    again = complete_deletion(uow, request.id, NOW + timedelta(days=3))
    assert again.request.existing and again.request.completed_at == NOW
    assert _every_value(uow) == before


def test_only_an_existing_deletion_request_can_be_completed(uow: SqlAlchemyUnitOfWork, shop: Shop) -> None:
    export = request_export(uow, shop.jane, "web", NOW)
    with pytest.raises(InvalidInput, match="not a deletion"):
        complete_deletion(uow, export.id, NOW)
    with pytest.raises(NotFound):
        complete_deletion(uow, 999_999, NOW)
    assert data_summary(uow, shop.jane).name == "Jane Doe"


# --------------------------------------------------------------------------- on the shipped sample


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sample(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlAlchemyUnitOfWork]:
    """The shipped sample, imported once per engine for the tests below (read-only)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('account') / 'store.sqlite3'}")
    else:
        engine, _ = postgres_schema_engine(request.getfixturevalue("postgres_database"))
    upgrade(engine)
    uow = SqlAlchemyUnitOfWork(make_session_factory(engine))
    import_online_retail(uow, SAMPLE, shift_to_now=True, now=NOW)
    yield uow
    engine.dispose()


def test_a_sample_customer_verifies_with_the_generated_address(sample: SqlAlchemyUnitOfWork) -> None:
    _, email = pseudonym("17850")
    customer = verify_identity(sample, email.upper(), "536365")
    with sample:
        found = sample.customers.by_external_ref("17850")
        assert found is not None
        assert customer.id == found.id
    with pytest.raises(IdentityNotVerified):
        verify_identity(sample, email, "536367")  # another customer's invoice


def test_sample_catalog_lunch_bags(sample: SqlAlchemyUnitOfWork) -> None:
    found = find_products(sample, "lunch bag", limit=10)
    assert len(found) == 10
    assert all(p.name.startswith("Lunch Bag") and p.match == "all_words" for p in found)
    assert product_info(sample, "lunch bag red retrospot").sku == "20725"


def test_sample_catalog_tea_lights(sample: SqlAlchemyUnitOfWork) -> None:
    found = find_products(sample, "tea lights", limit=10)
    assert len(found) == 10
    assert all(any(w in p.name.lower() for w in ("t-light", "tealight", "tea light")) for p in found)


def test_sample_catalog_sku(sample: SqlAlchemyUnitOfWork) -> None:
    heart = product_info(sample, "85123a")
    assert (heart.name, heart.match, heart.in_stock) == ("White Hanging Heart T-Light Holder", "sku", True)
    assert heart.price > 0
