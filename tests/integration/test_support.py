"""Human support in the store: the handoff queue, accepting, picking up, handing back,
the report, and the context card an agent sees.

The lifecycle and the report run on SQLite and PostgreSQL with a hand-built
shop; the context card of a real customer runs on the shipped sample with a
published recommender.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from analytics.core.errors import CustomerNotFound, InvalidInput, NotAllowed, NotFound
from analytics.customers.refresh import refresh_scores
from analytics.ingest.online_retail import import_online_retail
from analytics.recommend.serving import refresh_models
from analytics.security.throttle import AttemptLimits, Throttle, TooManyAttempts
from analytics.store.artifacts import ArtifactStore
from analytics.store.db import make_engine, make_session_factory
from analytics.store.migrate import upgrade
from analytics.store.models import (
    Customer,
    CustomerScore,
    Handoff,
    HandoffStatus,
    Offer,
    OfferAssignment,
    OfferKind,
    Order,
    OrderLine,
    OrderStatus,
    Product,
)
from analytics.store.repositories.handoffs import HandoffRepository
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases import agent_context, support
from tests.conftest import SAMPLE

NOW = datetime(2026, 11, 24, 12, 0)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def add_customer(uow: SqlAlchemyUnitOfWork, cid: int, name: str, *, scored: bool = True) -> None:
    with uow:
        uow.session.add(Customer(id=cid, name=name, email=f"c{cid}@example.com", created_at=NOW - timedelta(days=400)))
        uow.session.flush()
        if scored:
            uow.session.add(
                CustomerScore(
                    customer_id=cid,
                    as_of=NOW,
                    recency_days=200,
                    frequency=3,
                    monetary=Decimal("320.00"),
                    r_score=1,
                    f_score=3,
                    m_score=3,
                    rfm_segment="At risk",
                    cluster_label="lapsed regulars",
                    spend_12m=Decimal("120.00"),
                    points=320,
                    tier="Bronze",
                    next_tier="Silver",
                    amount_to_next_tier=Decimal("380.00"),
                    lifecycle="lapsed",
                    p_alive=0.3,
                    clv_12m=Decimal("85.50"),
                    churn_risk=0.72,
                    churn_reasons=["last order 200 days ago (raises churn risk)"],
                )
            )
        uow.commit()


def request(
    uow: SqlAlchemyUnitOfWork, sender: str, at: datetime, customer: int | None = None, reason: str = "customer_request"
) -> int:
    return support.request_handoff(
        uow, sender_id=sender, channel="socketio", customer_id=customer, reason=reason, now=at
    ).id


@pytest.fixture
def shop(uow: SqlAlchemyUnitOfWork) -> SqlAlchemyUnitOfWork:
    add_customer(uow, 1, "Jane Doe")
    add_customer(uow, 2, "Ben Smith", scored=False)
    return uow


# --------------------------------------------------------------------------- queue and lifecycle


def test_the_queue_lists_waiting_handoffs_longest_wait_first_with_their_waits(shop: SqlAlchemyUnitOfWork) -> None:
    request(shop, "web-b", NOW - minutes(2), customer=2)
    request(shop, "web-a", NOW - minutes(9), customer=1, reason="complaint")
    request(shop, "web-c", NOW - minutes(1))

    queue = support.queue(shop, NOW)

    assert [h.sender_id for h in queue.waiting] == ["web-a", "web-b", "web-c"]
    assert [h.wait_seconds for h in queue.waiting] == [540.0, 120.0, 60.0]
    assert [h.customer_name for h in queue.waiting] == ["Jane Doe", "Ben Smith", None]
    assert queue.waiting[0].reason == "complaint"
    assert queue.active == []


def test_accepting_records_who_and_when_and_stops_the_wait(shop: SqlAlchemyUnitOfWork) -> None:
    handoff = request(shop, "web-a", NOW - minutes(5), customer=1)

    accepted = support.accept(shop, handoff, "alice", NOW - minutes(2))
    later = support.queue(shop, NOW)

    assert (accepted.status, accepted.agent, accepted.accepted_at) == ("active", "alice", NOW - minutes(2))
    assert accepted.wait_seconds == 180.0
    assert later.waiting == []
    assert [(h.sender_id, h.agent, h.wait_seconds) for h in later.active] == [("web-a", "alice", 180.0)]


def test_a_handoff_goes_to_the_first_agent_who_accepts_it(shop: SqlAlchemyUnitOfWork) -> None:
    handoff = request(shop, "web-a", NOW - minutes(5))
    support.accept(shop, handoff, "alice", NOW)

    again = support.accept(shop, handoff, "alice", NOW + minutes(1))
    with pytest.raises(NotAllowed, match="alice is already talking"):
        support.accept(shop, handoff, "bob", NOW + minutes(1))

    assert again.accepted_at == NOW  # accepting one's own handoff again changes nothing


def test_handing_back_records_the_resolution_and_the_handling_time(shop: SqlAlchemyUnitOfWork) -> None:
    handoff = request(shop, "web-a", NOW - minutes(10), customer=1)
    support.accept(shop, handoff, "alice", NOW - minutes(8))

    done = support.hand_back(shop, handoff, "alice", "  replacement   sent ", NOW)

    assert (done.status, done.resolution, done.resolved_at) == ("resolved", "replacement sent", NOW)
    assert (done.wait_seconds, done.handling_seconds) == (120.0, 480.0)
    with shop:
        row = shop.session.get(Handoff, handoff)
        assert row is not None
        assert (row.agent, row.accepted_at, row.resolved_at) == ("alice", NOW - minutes(8), NOW)
    assert support.queue(shop, NOW).active == []
    assert support.open_handoff_of(shop, "web-a", NOW) is None


def test_only_the_agent_who_has_it_hands_a_conversation_back_unless_overridden(shop: SqlAlchemyUnitOfWork) -> None:
    handoff = request(shop, "web-a", NOW - minutes(10))
    with pytest.raises(NotAllowed, match="not been accepted"):
        support.hand_back(shop, handoff, "alice", "done", NOW)
    support.accept(shop, handoff, "alice", NOW - minutes(9))

    with pytest.raises(NotAllowed, match="only alice"):
        support.hand_back(shop, handoff, "bob", "done", NOW)
    with pytest.raises(InvalidInput, match="resolution"):
        support.hand_back(shop, handoff, "alice", "   ", NOW)
    closed = support.hand_back(shop, handoff, "olivia", "closed by the operator", NOW, override=True)

    assert closed.status == "resolved"
    with pytest.raises(NotAllowed, match="already handed back"):
        support.hand_back(shop, handoff, "alice", "done", NOW)


def test_an_agent_can_pick_up_a_live_conversation_without_a_handoff(shop: SqlAlchemyUnitOfWork) -> None:
    support.touch_conversation(shop, "web-live", channel="socketio", customer_id=1, now=NOW - minutes(3))
    assert [c.sender_id for c in support.queue(shop, NOW).live] == ["web-live"]

    picked = support.pick_up(shop, "web-live", "alice", NOW)
    queue = support.queue(shop, NOW)

    assert (picked.reason, picked.status, picked.agent, picked.wait_seconds) == ("agent_pickup", "active", "alice", 0.0)
    assert picked.customer_id == 1
    assert [h.sender_id for h in queue.active] == ["web-live"]
    assert queue.live == []  # a conversation with an agent is not "live with the assistant"
    with pytest.raises(NotAllowed):
        support.pick_up(shop, "web-live", "bob", NOW)


def test_picking_up_a_waiting_conversation_accepts_its_handoff(shop: SqlAlchemyUnitOfWork) -> None:
    handoff = request(shop, "web-a", NOW - minutes(4), reason="misunderstanding")

    picked = support.pick_up(shop, "web-a", "alice", NOW)

    assert (picked.id, picked.reason, picked.wait_seconds) == (handoff, "misunderstanding", 240.0)


def test_quiet_conversations_drop_off_the_live_list(shop: SqlAlchemyUnitOfWork) -> None:
    support.touch_conversation(shop, "web-old", channel="socketio", customer_id=None, now=NOW - minutes(45))
    support.touch_conversation(shop, "web-new", channel="socketio", customer_id=None, now=NOW - minutes(5))

    assert [c.sender_id for c in support.queue(shop, NOW).live] == ["web-new"]


def test_an_anonymous_page_view_never_unlinks_a_verified_conversation(shop: SqlAlchemyUnitOfWork) -> None:
    support.touch_conversation(shop, "web-a", channel="socketio", customer_id=1, now=NOW - minutes(2))
    support.touch_conversation(shop, "web-a", channel="socketio", customer_id=None, now=NOW)

    assert support.conversation_customer(shop, "web-a") == 1
    assert support.conversation_exists(shop, "web-a")
    assert not support.conversation_exists(shop, "web-never-seen")


def test_unknown_handoffs_and_bad_names_are_clear_errors(shop: SqlAlchemyUnitOfWork) -> None:
    with pytest.raises(NotFound):
        support.accept(shop, 999, "alice", NOW)
    with pytest.raises(InvalidInput):
        support.pick_up(shop, "", "alice", NOW)
    with pytest.raises(InvalidInput):
        support.pick_up(shop, "web-a", " ", NOW)


# --------------------------------------------------------------------------- report


def test_the_report_counts_volumes_and_averages_the_waits(shop: SqlAlchemyUnitOfWork) -> None:
    # waits: 1, 2, 3 and 10 minutes; one pick-up (no wait); one still waiting for 30 minutes
    for sender, wait, reason in (
        ("a", 1, "customer_request"),
        ("b", 2, "customer_request"),
        ("c", 3, "complaint"),
        ("d", 10, "misunderstanding"),
    ):
        requested = NOW - minutes(60)
        handoff = request(shop, sender, requested, reason=reason)
        support.accept(shop, handoff, "alice" if sender != "d" else "bob", requested + minutes(wait))
        if sender in ("a", "b"):
            support.hand_back(shop, handoff, "alice", "answered", requested + minutes(wait + 4))
    support.touch_conversation(shop, "e", channel="socketio", customer_id=None, now=NOW - minutes(20))
    support.pick_up(shop, "e", "alice", NOW - minutes(20))
    request(shop, "f", NOW - minutes(30))
    request(shop, "too-old", NOW - timedelta(days=8))

    report = support.report(shop, NOW - timedelta(days=7), NOW)

    assert report.total == 6
    assert report.by_reason == {"customer_request": 3, "complaint": 1, "misunderstanding": 1, "agent_pickup": 1}
    assert report.by_status == {"waiting": 1, "active": 3, "resolved": 2}
    assert report.by_agent == {"alice": 4, "bob": 1}
    assert report.accepted == 5
    assert report.average_wait_seconds == pytest.approx((60 + 120 + 180 + 600 + 0) / 5)
    assert report.p90_wait_seconds == 600.0
    assert report.average_handling_seconds == 240.0
    assert (report.still_waiting, report.longest_current_wait_seconds) == (1, 1800.0)


def test_an_empty_report_has_no_averages(uow: SqlAlchemyUnitOfWork) -> None:
    report = support.report(uow, NOW - timedelta(days=7), NOW)

    assert (report.total, report.accepted, report.still_waiting) == (0, 0, 0)
    assert report.average_wait_seconds is None and report.p90_wait_seconds is None


# --------------------------------------------------------------------------- context card, hand-built


def _orders(uow: SqlAlchemyUnitOfWork, customer: int, count: int) -> None:
    with uow:
        product = Product(
            sku="20725", name="Lunch Bag Red", description="LUNCH BAG RED", category="Bags", unit_price=Decimal("1.65")
        )
        uow.session.add(product)
        for n in range(count):
            order = Order(
                number=f"{500000 + n}",
                customer_id=customer,
                placed_at=NOW - timedelta(days=count - n),
                status=OrderStatus.CANCELLED if n == 0 else OrderStatus.DELIVERED,
                shipping_fee=Decimal("1.00"),
                carrier="Evri",
            )
            order.lines.append(OrderLine(product=product, quantity=2, unit_price=Decimal("1.50")))
            uow.session.add(order)
        uow.session.add(
            Offer(
                code="WINBACK",
                name="10% to welcome you back",
                description="10% off your next order.",
                kind=OfferKind.PERCENT_DISCOUNT,
                value=Decimal("10"),
                lifecycle="lapsed",
                priority=50,
                holdout_share=0.0,
                max_per_customer=1,
                active=True,
            )
        )
        uow.commit()


def test_the_context_card_shows_a_customers_value_orders_and_offer(shop: SqlAlchemyUnitOfWork, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _orders(shop, 1, 100)

    card = agent_context.context_card(shop, 1, NOW, orders=10, artifacts=ArtifactStore(tmp_path / "empty"))

    assert (card.name, card.rfm_segment, card.cluster_label, card.lifecycle) == (
        "Jane Doe",
        "At risk",
        "lapsed regulars",
        "lapsed",
    )
    assert (card.tier, card.points, card.next_tier, card.amount_to_next_tier) == (
        "Bronze",
        320,
        "Silver",
        Decimal("380.00"),
    )
    assert (card.clv_12m, card.churn_risk) == (Decimal("85.50"), 0.72)
    assert card.churn_reasons == ["last order 200 days ago (raises churn risk)"]
    assert card.masked_email == "c***@example.com"
    assert (card.order_count, card.total_spent) == (99, Decimal("297.00"))  # the cancelled order is not spending
    assert [o.number for o in card.recent_orders] == [f"{500000 + n}" for n in range(99, 89, -1)]
    newest = card.recent_orders[0]
    assert (newest.status, newest.items, newest.total, newest.carrier) == ("delivered", 2, Decimal("4.00"), "Evri")
    assert card.offer is not None
    assert (card.offer.code, card.offer.may_offer, card.offer.accepted) == ("WINBACK", True, False)
    assert card.offer.reason == "because we have missed you"
    assert card.recommendations == [] and card.recommendations_note is not None


def test_looking_at_the_card_does_not_enrol_the_customer_in_an_ab_test(shop: SqlAlchemyUnitOfWork, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _orders(shop, 1, 3)

    agent_context.context_card(shop, 1, NOW, recommendations=0)

    with shop:
        assert shop.session.scalar(select(func.count()).select_from(OfferAssignment)) == 0


def test_an_agent_applies_the_customers_offer_once(shop: SqlAlchemyUnitOfWork) -> None:
    _orders(shop, 1, 3)

    decision = agent_context.apply_offer(shop, 1, "WINBACK", NOW)

    assert decision.code == "WINBACK"
    card = agent_context.context_card(shop, 1, NOW + minutes(1), recommendations=0)
    assert [(o.code, o.accepted_at) for o in card.accepted_offers] == [("WINBACK", NOW)]
    assert card.offer is None  # one per customer: nothing else to offer
    with shop:
        assignment = shop.session.scalars(select(OfferAssignment)).one()
        assert (assignment.shown_at, assignment.accepted_at) == (NOW, NOW)
    with pytest.raises(NotAllowed, match="no longer available"):
        agent_context.apply_offer(shop, 1, "WINBACK", NOW + minutes(1))


def test_a_card_for_an_unscored_or_unknown_customer(shop: SqlAlchemyUnitOfWork) -> None:
    card = agent_context.context_card(shop, 2, NOW, recommendations=0)

    assert (card.name, card.scored, card.tier, card.offer, card.order_count) == ("Ben Smith", False, None, None, 0)
    with pytest.raises(CustomerNotFound):
        agent_context.context_card(shop, 404, NOW, recommendations=0)


# --------------------------------------------------------------------------- context card on the shipped sample


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SqlAlchemyUnitOfWork, ArtifactStore]]:
    root = tmp_path_factory.mktemp("support-sample")
    engine = make_engine(f"sqlite:///{root / 'store.sqlite3'}")
    upgrade(engine)
    uow = SqlAlchemyUnitOfWork(make_session_factory(engine))
    import_online_retail(uow, SAMPLE, shift_to_now=True, now=NOW)
    refresh_scores(uow)
    artifacts = ArtifactStore(root / "artifacts")
    refresh_models(uow, artifacts)
    yield uow, artifacts
    engine.dispose()


@pytest.mark.slow
def test_the_card_of_a_customer_with_many_orders(sample: tuple[SqlAlchemyUnitOfWork, ArtifactStore]) -> None:
    uow, artifacts = sample
    with uow:
        customer = uow.customers.by_external_ref("12748")
        assert customer is not None
        cid, name = customer.id, customer.name
        placed = list(
            uow.session.scalars(
                select(Order.number).where(Order.customer_id == cid).order_by(Order.placed_at.desc(), Order.id.desc())
            )
        )
        score = uow.scores.get(cid)
        assert score is not None
        expected = (score.tier, score.points, score.rfm_segment)

    card = agent_context.context_card(uow, cid, NOW, orders=10, recommendations=5, artifacts=artifacts)

    assert len(placed) > 100
    assert card.name == name and card.external_ref == "12748"
    assert (card.tier, card.points, card.rfm_segment) == expected
    assert [o.number for o in card.recent_orders] == placed[:10]
    assert all(o.items > 0 and o.total > 0 for o in card.recent_orders)
    assert len(card.recommendations) == 5
    assert all(r.reason and r.name and r.price > 0 for r in card.recommendations)


# --------------------------------------------------------------------------- floods and races (issue 13)


def test_requests_for_a_person_at_once_make_one_handoff(
    shop: SqlAlchemyUnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier = request(shop, "web-existing", NOW - minutes(5))
    support.accept(shop, earlier, "alice", NOW - minutes(4))
    support.hand_back(shop, earlier, "alice", "done", NOW - minutes(3))
    gate = threading.Barrier(6)
    look = HandoffRepository.open_for

    def look_slowly(*args: Any) -> Any:  # widen the window between "is there one?" and "add one"
        found = look(*args)
        time.sleep(0.2)
        return found

    monkeypatch.setattr(HandoffRepository, "open_for", look_slowly)

    def ask(sender: str) -> int:
        own = SqlAlchemyUnitOfWork(shop.session_factory)
        gate.wait()
        return request(own, sender, NOW)

    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = list(pool.map(ask, ["web-existing"] * 3 + ["web-brand-new"] * 3))

    assert len(set(ids[:3])) == 1 and len(set(ids[3:])) == 1
    waiting = [h.sender_id for h in support.queue(shop, NOW).waiting]
    assert sorted(waiting) == ["web-brand-new", "web-existing"]


def test_one_client_cannot_flood_the_queue_from_many_conversations(shop: SqlAlchemyUnitOfWork) -> None:
    attempts = Throttle("handoff-test", AttemptLimits({"client": "3/hour"}))

    def ask(sender: str) -> support.HandoffView:
        return support.request_handoff(
            shop, sender_id=sender, channel="rest", customer_id=None, reason="customer_request", now=NOW,
            attempts=attempts, client="203.0.113.9",
        )  # fmt: skip

    first = [ask(f"flood-{i}") for i in range(3)]
    again = ask("flood-0")  # asking again in the same conversation is not a new request
    with pytest.raises(TooManyAttempts):
        ask("flood-9")

    assert all(h.created for h in first) and not again.created
    assert len(support.queue(shop, NOW).waiting) == 3


def test_a_full_queue_asks_the_customer_to_write_instead(shop: SqlAlchemyUnitOfWork) -> None:
    for i in range(2):
        support.request_handoff(
            shop, sender_id=f"q-{i}", channel="rest", customer_id=None, reason="customer_request", now=NOW, queue_max=2
        )
    with pytest.raises(support.QueueFull, match="2 conversations are waiting"):
        support.request_handoff(
            shop, sender_id="q-9", channel="rest", customer_id=None, reason="customer_request", now=NOW, queue_max=2
        )


def test_agents_picking_up_while_the_customer_asks_leave_one_open_handoff(
    shop: SqlAlchemyUnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    look = HandoffRepository.open_for

    def look_slowly(*args: Any) -> Any:
        found = look(*args)
        time.sleep(0.2)
        return found

    monkeypatch.setattr(HandoffRepository, "open_for", look_slowly)
    gate = threading.Barrier(3)

    def act(who: str) -> str:
        own = SqlAlchemyUnitOfWork(shop.session_factory)
        gate.wait()
        try:
            if who == "customer":
                request(own, "web-busy", NOW)
            else:
                support.pick_up(own, "web-busy", who, NOW)
        except NotAllowed as exc:
            return f"{who}: refused ({exc})"
        return f"{who}: done"

    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = list(pool.map(act, ["customer", "alice", "bob"]))

    with shop:
        open_ones = shop.session.scalars(
            select(Handoff).where(Handoff.status.in_([HandoffStatus.WAITING, HandoffStatus.ACTIVE]))
        ).all()
    assert len(open_ones) == 1, outcomes
    assert sum("refused" in o for o in outcomes) <= 1  # at most one agent is told the other has it
