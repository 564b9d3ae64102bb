"""Next-order, reorder and delivery answers for real customers of the sample store, on both engines."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, select

from analytics.core.errors import CustomerNotFound, InvalidInput, OrderNotFound, ProductNotFound
from analytics.forecast.delivery import ZONES, zone_of
from analytics.store.models import Customer, CustomerScore, Order, OrderLine, OrderStatus, Product
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases.forecasts import clear_forecast_caches, delivery_estimate, next_order, reorder_advice
from tests.integration.test_refresh import NOW, customer_id, scored  # noqa: F401  (scored is a fixture)

# 17841 ordered on 112 days of the year; Chilli Lights (79321) on 63 of them.
REGULAR = "17841"


def test_a_regular_customer_gets_a_next_order_date_and_the_purchase_model_counts(
    scored: SqlAlchemyUnitOfWork,  # noqa: F811
) -> None:
    cid = customer_id(scored, REGULAR)
    view = next_order(scored, cid, now=NOW)
    with scored:
        score = scored.scores.get(cid)
        assert score is not None
        expected_30d, as_of = score.expected_orders_30d, score.as_of

    assert view.orders > 100
    assert view.source == "own"
    assert view.basis == f"from your {view.orders} previous orders"
    assert view.typical_interval_days is not None and 1 <= view.typical_interval_days <= 7
    assert view.expected_next_order is not None and view.window_start is not None and view.window_end is not None
    assert NOW.date() <= view.window_start <= view.expected_next_order <= view.window_end
    assert view.counts_source == "scores" and view.scores_as_of == as_of
    assert view.expected_orders_30d == expected_30d
    # Consistent: a customer the purchase model expects to order several times this month orders within it.
    assert view.expected_orders_30d is not None and view.expected_orders_30d > 1
    assert view.expected_next_order <= NOW.date() + timedelta(days=30)


def test_reorder_advice_for_a_product_named_in_words(scored: SqlAlchemyUnitOfWork) -> None:  # noqa: F811
    cid = customer_id(scored, REGULAR)
    for words in ("chilli lights", "Chilli Light", "79321"):
        views = reorder_advice(scored, cid, product=words, now=NOW)
        assert [v.sku for v in views] == ["79321"], words
    view = views[0]

    assert view.product_name == "Chilli Lights"
    assert view.purchases == 63
    assert view.source == "own"
    assert view.basis == "from your 63 previous orders of it"
    assert view.typical_interval_days is not None and 2 <= view.typical_interval_days <= 10
    assert view.expected is not None and view.window_start is not None and view.window_end is not None
    assert NOW.date() <= view.window_start <= view.expected <= view.window_end
    assert view.due is not None and view.due > view.last_purchased


def test_reorder_advice_lists_what_she_rebuys_soonest_first(scored: SqlAlchemyUnitOfWork) -> None:  # noqa: F811
    views = reorder_advice(scored, customer_id(scored, REGULAR), now=NOW, limit=5)

    assert len(views) == 5
    assert all(v.source == "own" for v in views)
    expected = [v.expected for v in views]
    assert expected == sorted(expected)  # type: ignore[type-var]


def test_unknown_customers_and_products_are_domain_errors(scored: SqlAlchemyUnitOfWork) -> None:  # noqa: F811
    cid = customer_id(scored, REGULAR)
    with pytest.raises(ProductNotFound):
        reorder_advice(scored, cid, product="garden gnome", now=NOW)
    with pytest.raises(CustomerNotFound):
        next_order(scored, 10_000_000, now=NOW)
    with pytest.raises(CustomerNotFound):
        reorder_advice(scored, 10_000_000, now=NOW)
    with pytest.raises(InvalidInput):
        reorder_advice(scored, cid, product="  ", now=NOW)


def test_open_orders_get_a_window_that_fits_their_shipping_state(scored: SqlAlchemyUnitOfWork) -> None:  # noqa: F811
    with scored:
        open_orders = scored.session.execute(
            select(Order.number, Order.status, Order.country, Order.shipped_at, Order.estimated_delivery).where(
                Order.status.in_([OrderStatus.PROCESSING, OrderStatus.SHIPPED])
            )
        ).all()
    assert len(open_orders) > 20
    inside = 0
    for number, status, country, shipped_at, arrival in open_orders:
        view = delivery_estimate(scored, number, now=NOW)
        assert view.status == status.value
        assert view.earliest is not None and view.most_likely is not None and view.latest is not None
        assert NOW.date() <= view.earliest <= view.most_likely <= view.latest
        assert view.basis.startswith("from ") and "deliveries to" in view.basis
        assert view.carrier_estimate == arrival
        _, _, slowest = ZONES[zone_of(country)]
        if status == OrderStatus.SHIPPED:  # never later than the slowest transit the shop has seen
            assert view.latest <= (shipped_at + timedelta(days=slowest + 1)).date()
        inside += view.earliest <= arrival <= view.latest
    # In the demo store the true arrival is known; the 80% windows should hold most of them.
    assert inside / len(open_orders) >= 0.7


def test_a_delivered_order_gives_its_delivery_date(scored: SqlAlchemyUnitOfWork) -> None:  # noqa: F811
    view = delivery_estimate(scored, "536365", now=NOW)

    assert view.status == "delivered"
    assert view.delivered_at is not None
    assert view.earliest is view.latest is None
    assert view.basis == f"delivered on {view.delivered_at:%A %d %B %Y}"


def test_another_customers_order_is_not_revealed(scored: SqlAlchemyUnitOfWork) -> None:  # noqa: F811
    owner, stranger = customer_id(scored, "12748"), customer_id(scored, REGULAR)
    with scored:
        number = scored.session.scalar(select(Order.number).where(Order.customer_id == owner).limit(1))
    assert number is not None

    assert delivery_estimate(scored, number, customer_id=owner, now=NOW).number == number
    with pytest.raises(OrderNotFound) as theirs:
        delivery_estimate(scored, number, customer_id=stranger, now=NOW)
    with pytest.raises(OrderNotFound) as missing:
        delivery_estimate(scored, "999999", customer_id=stranger, now=NOW)
    assert str(theirs.value) == str(missing.value).replace("999999", number)


def test_the_store_wide_history_is_read_once_per_process(scored: SqlAlchemyUnitOfWork) -> None:  # noqa: F811
    clear_forecast_caches()
    cid = customer_id(scored, REGULAR)
    with scored:
        number = scored.session.scalar(select(Order.number).where(Order.status == OrderStatus.SHIPPED).limit(1))
    assert number is not None
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(scored.engine, "before_cursor_execute", record)
    try:
        for _ in range(3):
            next_order(scored, cid, now=NOW)
            reorder_advice(scored, cid, now=NOW)
            delivery_estimate(scored, number, now=NOW)
    finally:
        event.remove(scored.engine, "before_cursor_execute", record)
    one_row = re.compile(r"\b(customer_id|number)\s*=")  # one customer's or one order's rows
    store_wide = [s for s in statements if re.search(r"\bFROM orders\b", s) and not one_row.search(s)]
    assert len(store_wide) == 2  # every customer's lines, and the delivered orders: once each


def test_a_hand_made_store_without_history(uow: SqlAlchemyUnitOfWork) -> None:
    placed = NOW - timedelta(days=3)
    with uow:
        newcomer = Customer(name="New Comer", email="new@example.com", created_at=placed)
        buyer = Customer(name="Ann Buyer", email="ann@example.com", created_at=placed)
        vase = Product(sku="V1", name="Blue Vase", description="BLUE VASE", category="Home", unit_price=Decimal("5"))
        uow.session.add_all([newcomer, buyer, vase])
        uow.session.flush()
        order = Order(number="900001", customer_id=buyer.id, placed_at=placed, status=OrderStatus.CANCELLED)
        order.lines.append(OrderLine(product_id=vase.id, quantity=1, unit_price=Decimal("5")))
        uow.session.add(order)
        uow.commit()
        newcomer_id, buyer_id = newcomer.id, buyer.id
    clear_forecast_caches()

    nothing = next_order(uow, newcomer_id, now=NOW)
    assert nothing.orders == 0 and nothing.expected_next_order is None and nothing.source == "none"
    assert nothing.basis == "no orders yet, so there is no order rhythm to go on"
    assert reorder_advice(uow, newcomer_id, now=NOW) == []

    once = next_order(uow, buyer_id, now=NOW)
    assert once.orders == 1 and once.source == "none" and once.counts_source == "intervals"
    assert once.expected_orders_30d is None  # nobody has ordered twice: no rhythm to count with
    [vase_view] = reorder_advice(uow, buyer_id, product="blue vases", now=NOW)
    assert vase_view.source == "none" and vase_view.due is None
    assert reorder_advice(uow, buyer_id, now=NOW) == []

    cancelled = delivery_estimate(uow, "900001", customer_id=buyer_id, now=NOW)
    assert cancelled.status == "cancelled" and cancelled.earliest is None
    assert cancelled.basis == "the order was cancelled, so it will not be delivered"
    with uow:
        assert uow.session.get(CustomerScore, buyer_id) is None
