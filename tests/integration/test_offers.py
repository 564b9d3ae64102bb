"""Segment-aware offers: eligibility, explanation, A/B holdout, recording, uplift."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from analytics.core.errors import CustomerNotFound, InvalidInput, NotAllowed
from analytics.customers.offers import (
    NotScored,
    assign_variant,
    choose_offer,
    record_accepted,
    record_shown,
    seed_offers,
    uplift_report,
)
from analytics.store.models import (
    Customer,
    CustomerScore,
    Offer,
    OfferAssignment,
    OfferKind,
    Order,
    OrderStatus,
    Variant,
)
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases.insights import offer_accepted

NOW = datetime(2026, 11, 24, 12, 0)


def add_customer(
    uow: SqlAlchemyUnitOfWork, cid: int, *, segment: str = "Loyal", lifecycle: str = "active", tier: str = "Silver"
) -> None:
    uow.session.add(Customer(id=cid, name=f"C{cid}", email=f"c{cid}@example.com", created_at=NOW - timedelta(days=400)))
    uow.session.flush()
    uow.session.add(
        CustomerScore(
            customer_id=cid,
            as_of=NOW,
            recency_days=10,
            frequency=5,
            monetary=Decimal("500"),
            r_score=4,
            f_score=4,
            m_score=4,
            rfm_segment=segment,
            spend_12m=Decimal("500"),
            points=500,
            tier=tier,
            lifecycle=lifecycle,
        )
    )


def offer(code: str, *, priority: int = 0, holdout: float = 0.0, **target: object) -> Offer:
    return Offer(
        code=code,
        name=code.title(),
        description="",
        kind=OfferKind.PERCENT_DISCOUNT,
        value=Decimal("10"),
        priority=priority,
        holdout_share=holdout,
        max_per_customer=1,
        active=True,
        **target,
    )


@pytest.fixture
def shop(uow: SqlAlchemyUnitOfWork) -> SqlAlchemyUnitOfWork:
    with uow:
        add_customer(uow, 1, lifecycle="lapsed", tier="Gold")
        add_customer(uow, 2, segment="Champions", lifecycle="active", tier="Platinum")
        add_customer(uow, 3, lifecycle="active", tier="Bronze")
        uow.session.add_all(
            [
                offer("WINBACK", priority=50, lifecycle="lapsed"),
                offer("GOLD", priority=20, tier="Gold"),
                offer("CHAMP", priority=35, segment="Champions"),
                offer("EVERYONE", priority=0),
                offer("EXPIRED", priority=99, valid_until=NOW - timedelta(days=1)),
                offer("INACTIVE", priority=99),
            ]
        )
        uow.session.flush()
        inactive = uow.offers.by_code("INACTIVE")
        assert inactive is not None
        inactive.active = False
        uow.commit()
    return uow


def test_the_highest_priority_matching_offer_wins_and_says_why(shop: SqlAlchemyUnitOfWork) -> None:
    with shop:
        lapsed = choose_offer(shop, 1, NOW)
        champion = choose_offer(shop, 2, NOW)
        plain = choose_offer(shop, 3, NOW)
    assert lapsed is not None and lapsed.code == "WINBACK"
    assert lapsed.reason == "because we have missed you"
    assert champion is not None and champion.code == "CHAMP"
    assert champion.reason == "because you are one of our Champions"
    assert plain is not None and plain.code == "EVERYONE"
    assert plain.reason == "open to every customer"


def test_expired_and_inactive_offers_are_never_chosen(shop: SqlAlchemyUnitOfWork) -> None:
    with shop:
        chosen = {choose_offer(shop, cid, NOW).code for cid in (1, 2, 3)}  # type: ignore[union-attr]
    assert not chosen & {"EXPIRED", "INACTIVE"}


def test_an_accepted_offer_is_not_offered_again_beyond_its_limit(shop: SqlAlchemyUnitOfWork) -> None:
    with shop:
        first = choose_offer(shop, 1, NOW)
        assert first is not None and first.code == "WINBACK"
        record_shown(shop, 1, "WINBACK", NOW)
        record_accepted(shop, 1, "WINBACK", NOW + timedelta(minutes=1))
        shop.commit()
    with shop:
        second = choose_offer(shop, 1, NOW + timedelta(days=1))
    assert second is not None and second.code == "GOLD"


def test_ab_assignment_is_deterministic_and_respects_the_holdout_share() -> None:
    groups = Counter(assign_variant("WINBACK15", cid, 0.2) for cid in range(20_000))
    assert assign_variant("WINBACK15", 42, 0.2) == assign_variant("WINBACK15", 42, 0.2)
    assert 0.19 < groups[Variant.CONTROL] / 20_000 < 0.21
    assert assign_variant("ANY", 1, 0.0) is Variant.TREATMENT
    with pytest.raises(InvalidInput, match="holdout_share"):
        assign_variant("ANY", 1, 1.5)


def test_control_customers_are_assigned_but_never_shown(uow: SqlAlchemyUnitOfWork) -> None:
    with uow:
        uow.session.add(offer("HALF", holdout=0.5))
        for cid in range(1, 41):
            add_customer(uow, cid)
        uow.commit()
    with uow:
        decisions = [choose_offer(uow, cid, NOW) for cid in range(1, 41)]
        uow.commit()
    control = [cid for cid, d in zip(range(1, 41), decisions, strict=True) if d is not None and not d.shown]
    assert 5 < len(control) < 35
    with uow, pytest.raises(InvalidInput, match="control group"):
        record_shown(uow, control[0], "HALF", NOW)


def test_accepting_needs_showing_first(shop: SqlAlchemyUnitOfWork) -> None:
    with shop:
        choose_offer(shop, 3, NOW)
        with pytest.raises(InvalidInput, match="not shown"):
            record_accepted(shop, 3, "EVERYONE", NOW)


def test_unknown_and_unscored_customers_are_clear_errors(uow: SqlAlchemyUnitOfWork) -> None:
    with uow:
        uow.session.add(Customer(id=7, name="New", email="new@example.com", created_at=NOW))
        uow.commit()
    with uow, pytest.raises(CustomerNotFound):
        choose_offer(uow, 999, NOW)
    with uow, pytest.raises(NotScored, match="crm analytics refresh"):
        choose_offer(uow, 7, NOW)


def test_the_default_offer_rules_load_once(uow: SqlAlchemyUnitOfWork) -> None:
    with uow:
        added = seed_offers(uow)
        uow.commit()
    with uow:
        assert seed_offers(uow) == 0
    assert added == 7


def test_uplift_compares_treated_and_control_conversion_with_a_confidence_interval(uow: SqlAlchemyUnitOfWork) -> None:
    with uow:
        uow.session.add(offer("TEST", holdout=0.5))
        uow.session.flush()
        test_offer = uow.offers.by_code("TEST")
        assert test_offer is not None
        number = 0
        for cid in range(1, 401):
            uow.session.add(Customer(id=cid, name=f"C{cid}", email=f"c{cid}@example.com", created_at=NOW))
            uow.session.flush()
            variant = Variant.TREATMENT if cid % 2 else Variant.CONTROL
            uow.session.add(OfferAssignment(offer_id=test_offer.id, customer_id=cid, variant=variant, assigned_at=NOW))
            # treated convert 30% of the time, control 10%: a real, detectable uplift
            converts = cid % 20 < (7 if variant is Variant.TREATMENT else 2)
            if converts:
                number += 1
                uow.session.add(
                    Order(
                        number=f"T{number}",
                        customer_id=cid,
                        placed_at=NOW + timedelta(days=3),
                        status=OrderStatus.PROCESSING,
                    )
                )
        uow.commit()
    report = uplift_report(uow, window_days=30).set_index("offer").loc["TEST"]
    assert report["treated"] == 200 and report["control"] == 200
    assert report["treated_conversions"] == 60 and report["control_conversions"] == 20
    assert report["uplift"] == pytest.approx(0.2)
    assert 0 < report["ci_low"] < 0.2 < report["ci_high"] < 0.4


def show_everyone(shop: SqlAlchemyUnitOfWork, code: str, customers: tuple[int, ...]) -> None:
    with shop:
        for cid in customers:
            assert choose_offer(shop, cid, NOW) is not None
            record_shown(shop, cid, code, NOW)
        shop.commit()


def test_an_offer_that_ended_after_it_was_shown_cannot_be_accepted(shop: SqlAlchemyUnitOfWork) -> None:
    show_everyone(shop, "EVERYONE", (3,))
    with shop:
        everyone = shop.offers.by_code("EVERYONE")
        assert everyone is not None
        everyone.valid_until = NOW + timedelta(hours=1)
        shop.commit()

    with pytest.raises(NotAllowed, match="has ended"):
        offer_accepted(shop, 3, "EVERYONE", NOW + timedelta(hours=2))


def test_the_last_redemption_goes_to_one_customer_only_when_several_accept_at_once(
    uow: SqlAlchemyUnitOfWork,
) -> None:
    customers = (11, 12, 13, 14)
    with uow:
        for cid in customers:
            add_customer(uow, cid)
        uow.session.add(offer("LAST", priority=10, max_redemptions=1))
        uow.commit()
    show_everyone(uow, "LAST", customers)
    gate = threading.Barrier(len(customers))

    def accept(cid: int) -> str:
        own = SqlAlchemyUnitOfWork(uow.session_factory)
        gate.wait()
        try:
            offer_accepted(own, cid, "LAST", NOW + timedelta(minutes=1))
        except NotAllowed as exc:
            return str(exc)
        return "accepted"

    with ThreadPoolExecutor(max_workers=len(customers)) as pool:
        results = list(pool.map(accept, customers))

    assert results.count("accepted") == 1
    assert all("fully claimed" in r for r in results if r != "accepted")
    with uow:
        last = uow.offers.by_code("LAST")
        assert last is not None and uow.offers.accepted_count(last.id) == 1
