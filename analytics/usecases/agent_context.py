"""What an agent sees about the customer of a handoff, in one read, and the offer they can apply.

:func:`context_card` gathers the profile, recent orders, scores, the current
offer and product suggestions; :func:`apply_offer` applies the customer's
current offer on the agent's behalf. Times are naive UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Optional

from analytics.core.errors import CustomerNotFound, InvalidInput, NotAllowed
from analytics.customers.offers import OfferDecision, choose_offer, record_accepted, record_shown
from analytics.security.masking import mask_email
from analytics.store.artifacts import ArtifactNotFound, ArtifactOutdated, ArtifactStore
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases.recommendations import ProductSuggestion, recommend_for


@dataclass(frozen=True)
class OrderLineSummary:
    number: str
    placed_at: datetime
    status: str
    items: int
    total: Decimal
    carrier: Optional[str]
    tracking_number: Optional[str]


@dataclass(frozen=True)
class OfferCard:
    code: str
    name: str
    description: str
    reason: str
    #: ``False`` for customers in the offer's A/B control group: the agent must not offer it
    may_offer: bool
    accepted: bool


@dataclass(frozen=True)
class AcceptedOffer:
    code: str
    name: str
    accepted_at: datetime


@dataclass(frozen=True)
class ContextCard:
    """What an agent sees about the customer of a conversation."""

    customer_id: int
    external_ref: Optional[str]
    name: str
    masked_email: str
    country: Optional[str]
    customer_since: datetime
    scored: bool
    rfm_segment: Optional[str]
    cluster_label: Optional[str]
    lifecycle: Optional[str]
    tier: Optional[str]
    points: Optional[int]
    next_tier: Optional[str]
    amount_to_next_tier: Optional[Decimal]
    clv_12m: Optional[Decimal]
    churn_risk: Optional[float]
    churn_reasons: list[str]
    order_count: int
    total_spent: Decimal
    recent_orders: list[OrderLineSummary]
    offer: Optional[OfferCard]
    #: offers the customer took, newest first (at most three)
    accepted_offers: list[AcceptedOffer] = field(default_factory=list)
    recommendations: list[ProductSuggestion] = field(default_factory=list)
    recommendations_note: Optional[str] = None


def _recent_orders(uow: SqlAlchemyUnitOfWork, customer_id: int, limit: int) -> list[OrderLineSummary]:
    return [
        OrderLineSummary(
            number=o.number,
            placed_at=o.placed_at,
            status=o.status.value,
            items=o.items,
            total=(o.amount + Decimal(o.shipping_fee or 0)).quantize(Decimal("0.01")),
            carrier=o.carrier,
            tracking_number=o.tracking_number,
        )
        for o in uow.orders.recent_with_totals(customer_id, limit)
    ]


def _offer_card(uow: SqlAlchemyUnitOfWork, customer_id: int, now: datetime) -> Optional[OfferCard]:
    # choose_offer adds the A/B assignment to the session on first use; the caller never commits
    # it, so looking at the card does not enrol anyone in an experiment.
    decision = choose_offer(uow, customer_id, now)
    if decision is None:
        return None
    with uow.no_autoflush():
        existing = uow.offers.by_code(decision.code)
        assignment = uow.offers.assignment(existing.id, customer_id) if existing is not None else None
    return OfferCard(
        code=decision.code,
        name=decision.name,
        description=decision.description,
        reason=decision.reason,
        may_offer=decision.shown,
        accepted=assignment is not None and assignment.accepted_at is not None,
    )


def context_card(
    uow: SqlAlchemyUnitOfWork,
    customer_id: int,
    now: datetime,
    *,
    orders: int = 10,
    recommendations: int = 5,
    artifacts: Optional[ArtifactStore] = None,
) -> ContextCard:
    """Everything an agent needs about a customer, read without changing anything.

    Parameters
    ----------
    uow : SqlAlchemyUnitOfWork
    customer_id : int
    now : datetime
        For the offer's validity.
    orders : int
        How many recent orders to list (totals of all orders are always given).
    recommendations : int
        How many products to suggest (0: none; the recommender is not loaded).
    artifacts : ArtifactStore, optional
        Where the recommender is published (default: the settings').

    Raises
    ------
    CustomerNotFound
        An unknown (or erased) customer.
    """
    if not 1 <= orders <= 50:
        raise InvalidInput(f"orders must be between 1 and 50, got {orders}.")
    with uow:
        customer, score = uow.scores.with_customer(customer_id)
        if customer is None or customer.email.endswith("@erased.invalid"):
            raise CustomerNotFound(customer_id)
        count, spent = uow.orders.count_and_spent(customer_id)
        recent = _recent_orders(uow, customer_id, orders)
        accepted = [
            AcceptedOffer(code=code, name=name, accepted_at=at)
            for code, name, at in uow.offers.accepted_by(customer_id, 3)
        ]
        offer = _offer_card(uow, customer_id, now) if score is not None else None
        card = ContextCard(
            customer_id=customer.id,
            external_ref=customer.external_ref,
            name=customer.name,
            masked_email=mask_email(customer.email),
            country=customer.country,
            customer_since=customer.created_at,
            scored=score is not None,
            rfm_segment=score.rfm_segment if score else None,
            cluster_label=score.cluster_label if score else None,
            lifecycle=score.lifecycle if score else None,
            tier=score.tier if score else None,
            points=score.points if score else None,
            next_tier=score.next_tier if score else None,
            amount_to_next_tier=score.amount_to_next_tier if score else None,
            clv_12m=score.clv_12m if score else None,
            churn_risk=score.churn_risk if score else None,
            churn_reasons=list(score.churn_reasons or []) if score else [],
            order_count=count,
            total_spent=spent.quantize(Decimal("0.01")),
            recent_orders=recent,
            offer=offer,
            accepted_offers=accepted,
        )
        # leaving the block rolls back the offer assignment choose_offer may have added
    if recommendations <= 0:
        return card
    try:
        suggestions = recommend_for(uow, customer_id, n=recommendations, artifacts=artifacts)
    except ArtifactOutdated:
        return replace(
            card, recommendations_note="the recommender was built by older code: rebuild it (crm recommend refresh)"
        )
    except ArtifactNotFound:
        return replace(card, recommendations_note="no recommender is published yet (crm recommend refresh)")
    return replace(card, recommendations=list(suggestions.items), recommendations_note=suggestions.note)


def apply_offer(uow: SqlAlchemyUnitOfWork, customer_id: int, code: str, now: datetime) -> OfferDecision:
    """Apply the customer's current best offer ``code`` for them (an agent's click): shown and accepted at once.

    Raises
    ------
    NotAllowed
        ``code`` is not the customer's current offer any more, or the customer
        is in its control group (applying it would spoil the A/B comparison).
    CustomerNotFound, NotScored
        From the offer rules.
    """
    with uow:
        uow.begin_write()
        decision = choose_offer(uow, customer_id, now)
        if decision is None or decision.code != code:
            raise NotAllowed(f"offer {code} is no longer available to this customer.")
        if not decision.shown:
            raise NotAllowed(f"this customer is in the control group of {code}; it must not be offered.")
        uow.flush()
        record_shown(uow, customer_id, code, now)
        record_accepted(uow, customer_id, code, now)
        uow.commit()
        return decision
