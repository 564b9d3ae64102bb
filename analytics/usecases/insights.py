"""What the shop knows about a customer from the last analytics refresh: loyalty, segment, offers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Optional

from analytics.core.clock import utc_now
from analytics.core.errors import (
    CustomerNotFound,
    NotScored,
)
from analytics.customers.offers import OfferDecision, choose_offer, record_accepted, record_shown
from analytics.customers.wording import tier_progress
from analytics.store.models import (
    Customer,
    CustomerScore,
)
from analytics.store.uow import SqlAlchemyUnitOfWork


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
        amount = None if self.amount_to_next_tier is None else float(self.amount_to_next_tier)
        return tier_progress(self.tier, self.next_tier, amount, float(self.spend_12m)) + "."


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
        decision = choose_offer(uow, customer_id, now or utc_now())
        if uow.has_new_rows():  # a first assignment to record
            uow.commit()
        return decision


def offer_shown(uow: SqlAlchemyUnitOfWork, customer_id: int, code: str, now: Optional[datetime] = None) -> None:
    with uow:
        record_shown(uow, customer_id, code, now or utc_now())
        uow.commit()


def offer_accepted(uow: SqlAlchemyUnitOfWork, customer_id: int, code: str, now: Optional[datetime] = None) -> None:
    with uow:
        uow.begin_write()
        record_accepted(uow, customer_id, code, now or utc_now())
        uow.commit()
