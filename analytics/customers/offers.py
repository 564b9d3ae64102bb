"""Segment-aware offers: rules in the store, eligibility, A/B holdout, uplift.

An offer rule (table ``offers``) targets customers by RFM segment, lifecycle
stage and loyalty tier; an empty condition matches everyone. For a customer,
:func:`choose_offer` keeps the rules that are active, valid now, match the
customer's scores and still have room under their limits, and picks the one
with the highest priority (then the largest value). The customer is then
assigned to the rule's treatment or control group with a deterministic hash
of (offer code, customer id), so the same customer always lands in the same
group and ``holdout_share`` of eligible customers never see the offer: they
are the control for the uplift report.

Conversion, for the uplift report, is an order placed within ``window_days``
of the assignment, by treated and control customers alike; uplift is the
difference of the two rates with a Newcombe confidence interval
(``statsmodels.stats.proportion.confint_proportions_2indep``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from analytics.core.errors import CustomerNotFound, InvalidInput, NotAllowed, NotFound, NotScored
from analytics.store.models import CustomerScore, Offer, OfferAssignment, OfferKind, Variant
from analytics.store.uow import SqlAlchemyUnitOfWork

DEFAULT_OFFERS = Path(__file__).resolve().parent / "offers_default.json"


@dataclass(frozen=True)
class OfferDecision:
    code: str
    name: str
    description: str
    kind: str
    value: Optional[Decimal]
    variant: str
    reason: str
    valid_until: Optional[datetime]

    @property
    def shown(self) -> bool:
        """Control-group customers are assigned but never shown the offer."""
        return self.variant == Variant.TREATMENT.value


def assign_variant(offer_code: str, customer_id: int, holdout_share: float) -> Variant:
    """Deterministic A/B assignment: the same pair always gets the same group."""
    if not 0.0 <= holdout_share < 1.0:
        raise InvalidInput(f"holdout_share must be in [0, 1), got {holdout_share}.")
    digest = hashlib.sha256(f"{offer_code}:{customer_id}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") / 2**64
    return Variant.CONTROL if bucket < holdout_share else Variant.TREATMENT


def _matches(offer: Offer, score: CustomerScore) -> bool:
    return (
        (offer.segment is None or offer.segment == score.rfm_segment)
        and (offer.lifecycle is None or offer.lifecycle == score.lifecycle)
        and (offer.tier is None or offer.tier == score.tier)
    )


def _valid(offer: Offer, now: datetime) -> bool:
    return (offer.valid_from is None or offer.valid_from <= now) and (
        offer.valid_until is None or now <= offer.valid_until
    )


def explain(offer: Offer, score: CustomerScore) -> str:
    """Why this customer gets this offer, in words a customer understands."""
    reasons = []
    if offer.tier is not None:
        reasons.append(f"you are a {score.tier} member")
    if offer.lifecycle is not None:
        reasons.append(
            {
                "new": "you are new with us",
                "active": "you shop with us regularly",
                "at-risk": "we have not seen you for a while",
                "lapsed": "we have missed you",
                "won-back": "you are back with us",
            }.get(score.lifecycle, f"your account is {score.lifecycle}")
        )
    if offer.segment is not None:
        reasons.append(f"you are one of our {score.rfm_segment}")
    return "because " + " and ".join(reasons) if reasons else "open to every customer"


def choose_offer(uow: SqlAlchemyUnitOfWork, customer_id: int, now: datetime) -> Optional[OfferDecision]:
    """The best offer for a customer, assigned to an A/B group (inside ``uow``).

    Returns ``None`` when no rule matches. Records the assignment (not the
    showing) the first time; the caller commits.
    """
    customer, score = uow.scores.with_customer(customer_id)
    if customer is None:
        raise CustomerNotFound(customer_id)
    if score is None:
        raise NotScored(customer_id)
    assignments = uow.offers.assignments_of(customer_id)
    candidates = []
    for offer in uow.offers.active():
        if not (_valid(offer, now) and _matches(offer, score)):
            continue
        existing = assignments.get(offer.id)
        used = 1 if existing is not None and existing.accepted_at is not None else 0
        if used >= offer.max_per_customer:
            continue
        if offer.max_redemptions is not None and uow.offers.accepted_count(offer.id) >= offer.max_redemptions:
            continue
        candidates.append(offer)
    if not candidates:
        return None
    best = max(candidates, key=lambda o: (o.priority, o.value or Decimal(0), -o.id))
    assignment = assignments.get(best.id)
    if assignment is None:
        assignment = OfferAssignment(
            offer_id=best.id,
            customer_id=customer_id,
            variant=assign_variant(best.code, customer_id, best.holdout_share),
            assigned_at=now,
        )
        uow.offers.add(assignment)
    return OfferDecision(
        code=best.code,
        name=best.name,
        description=best.description,
        kind=best.kind.value,
        value=best.value,
        variant=assignment.variant.value,
        reason=explain(best, score),
        valid_until=best.valid_until,
    )


def _assignment_for(uow: SqlAlchemyUnitOfWork, customer_id: int, code: str) -> OfferAssignment:
    offer = uow.offers.by_code(code)
    if offer is None:
        raise NotFound(f"No offer with code {code!r}.")
    assignment = uow.offers.assignment(offer.id, customer_id)
    if assignment is None:
        raise InvalidInput(f"Offer {code} was never offered to customer {customer_id}; it cannot be shown or accepted.")
    return assignment


def record_shown(uow: SqlAlchemyUnitOfWork, customer_id: int, code: str, now: datetime) -> None:
    assignment = _assignment_for(uow, customer_id, code)
    if assignment.variant is Variant.CONTROL:
        raise InvalidInput(f"Customer {customer_id} is in the control group of {code}; the offer must not be shown.")
    if assignment.shown_at is None:
        assignment.shown_at = now


def record_accepted(uow: SqlAlchemyUnitOfWork, customer_id: int, code: str, now: datetime) -> None:
    """Record that the customer took offer ``code`` (idempotent), if it is still open to them.

    The rules are checked again here, not only when the offer was chosen: between showing
    and accepting, the offer may have ended or reached its redemption cap. The offer row is
    locked (PostgreSQL; on SQLite the caller begins with ``uow.begin_write()``), so two
    customers accepting the last redemption at once cannot both get it.

    Raises
    ------
    NotAllowed
        The offer has ended, or every redemption is taken.
    InvalidInput
        It was never shown to this customer.
    """
    offer = uow.offers.by_code(code, for_update=True)
    if offer is None:
        raise NotFound(f"No offer with code {code!r}.")
    assignment = _assignment_for(uow, customer_id, code)
    if assignment.shown_at is None:
        raise InvalidInput(f"Offer {code} was not shown to customer {customer_id}, so it cannot be accepted.")
    if assignment.accepted_at is not None:
        return
    if not offer.active or not _valid(offer, now):
        raise NotAllowed(f"Offer {offer.code} has ended.")
    if offer.max_redemptions is not None and uow.offers.accepted_count(offer.id) >= offer.max_redemptions:
        raise NotAllowed(f"Offer {offer.code} has been fully claimed.")
    assignment.accepted_at = now


def seed_offers(uow: SqlAlchemyUnitOfWork, path: Path = DEFAULT_OFFERS) -> int:
    """Insert the offer rules of a JSON file whose codes the store lacks; return how many."""
    try:
        rules: list[dict[str, Any]] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read offer rules ({exc}).") from exc
    added = 0
    for rule in rules:
        code = str(rule["code"]).upper()
        if uow.offers.by_code(code) is not None:
            continue
        try:
            kind = OfferKind(rule["kind"])
        except ValueError as exc:
            allowed = ", ".join(k.value for k in OfferKind)
            raise InvalidInput(f"{path}: offer {code} has kind {rule['kind']!r}; use one of {allowed}.") from exc
        uow.offers.add(
            Offer(
                code=code,
                name=rule["name"],
                description=rule.get("description", ""),
                kind=kind,
                value=Decimal(str(rule["value"])) if rule.get("value") is not None else None,
                segment=rule.get("segment"),
                lifecycle=rule.get("lifecycle"),
                tier=rule.get("tier"),
                priority=int(rule.get("priority", 0)),
                valid_from=datetime.fromisoformat(rule["valid_from"]) if rule.get("valid_from") else None,
                valid_until=datetime.fromisoformat(rule["valid_until"]) if rule.get("valid_until") else None,
                max_per_customer=int(rule.get("max_per_customer", 1)),
                max_redemptions=rule.get("max_redemptions"),
                holdout_share=float(rule.get("holdout_share", 0.1)),
                active=bool(rule.get("active", True)),
            )
        )
        added += 1
    return added


def uplift_report(uow: SqlAlchemyUnitOfWork, *, window_days: int = 30, alpha: float = 0.05) -> pd.DataFrame:
    """Conversion of treated vs control customers per offer, with a CI on the uplift."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    with uow:
        rows = uow.offers.assignment_rows()
        orders = uow.orders.customer_order_times()
    columns = [
        "offer",
        "treated",
        "treated_conversions",
        "control",
        "control_conversions",
        "uplift",
        "ci_low",
        "ci_high",
    ]
    if not rows:
        return pd.DataFrame(columns=columns)
    assigned = pd.DataFrame(rows, columns=["offer", "customer_id", "variant", "assigned_at"])
    placed = pd.DataFrame(orders, columns=["customer_id", "placed_at"])
    merged = assigned.merge(placed, on="customer_id", how="left")
    window = timedelta(days=window_days)
    merged["converted"] = (merged["placed_at"] > merged["assigned_at"]) & (
        merged["placed_at"] <= merged["assigned_at"] + window
    )
    converted = merged.groupby(["offer", "customer_id", "variant"])["converted"].any().reset_index()
    report = []
    for code, group in converted.groupby("offer"):
        t = group[group["variant"] == Variant.TREATMENT]
        c = group[group["variant"] == Variant.CONTROL]
        nt, kt, nc, kc = len(t), int(t["converted"].sum()), len(c), int(c["converted"].sum())
        uplift = low = high = float("nan")
        if nt and nc:
            uplift = kt / nt - kc / nc
            low, high = confint_proportions_2indep(kt, nt, kc, nc, method="newcomb", compare="diff", alpha=alpha)
        report.append([code, nt, kt, nc, kc, uplift, float(low), float(high)])
    return pd.DataFrame(report, columns=columns)
