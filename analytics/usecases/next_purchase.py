"""What a customer may buy next: "customers who bought X later bought Y".

:func:`refresh_next_purchase` learns sequential rules
(:class:`analytics.recommend.sequences.SequenceRules`) from every known
customer's purchases and publishes them as the ``sequence_rules`` artifact;
:func:`next_purchases_for` reads that customer's purchase days from the
store and returns the products the rules suggest, each with its support,
confidence and lift and a reason in words ("32% of customers who bought X
bought Y later"). Products the customer already bought are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

import pandas as pd

from analytics.core.clock import utc_now
from analytics.core.errors import CustomerNotFound, InvalidInput
from analytics.recommend import serving
from analytics.recommend.sequences import SequenceRules
from analytics.store.artifacts import ArtifactStore
from analytics.store.frames import customer_product_days, load_catalogue, load_lines
from analytics.store.uow import SqlAlchemyUnitOfWork

#: Artifact name of the published rules.
SEQUENCES = "sequence_rules"
#: Thresholds a refresh may override; the defaults are SequenceRules's, chosen by ``bench/sequence_eval.py``
#: (``max_patterns`` bounds the fit's memory; a refresh past it is refused with what to change).
THRESHOLDS = ("min_support", "min_confidence", "min_lift", "max_len", "max_patterns")


@dataclass(frozen=True)
class NextPurchaseSuggestion:
    """One product to suggest, with the rule behind it."""

    sku: str
    name: str
    support: float
    confidence: float
    lift: float
    reason: str


@dataclass(frozen=True)
class NextPurchaseList:
    items: list[NextPurchaseSuggestion]
    #: why the list is empty (or what it is), in words for the customer
    note: Optional[str] = None


@dataclass
class NextPurchaseBundle:
    """The published rules and the sku and name of every product they can suggest."""

    rules: SequenceRules
    products: pd.DataFrame  # indexed by product_id: sku, name
    fitted_at: datetime


def refresh_next_purchase(uow: SqlAlchemyUnitOfWork, artifacts: ArtifactStore, **thresholds: Any) -> dict[str, Any]:
    """Learn the rules from every known customer's purchases and publish them; returns the version and counts.

    ``thresholds`` override :class:`SequenceRules`'s defaults (the names in
    :data:`THRESHOLDS`).
    """
    unknown = set(thresholds) - set(THRESHOLDS)
    if unknown:
        raise InvalidInput(f"unknown threshold(s) {sorted(unknown)}; expected some of {list(THRESHOLDS)}.")
    lines = load_lines(uow)
    if lines.empty:
        raise InvalidInput("The store holds no order lines of known customers; import data first (crm seed).")
    catalogue = load_catalogue(uow)
    rules = SequenceRules(**thresholds).fit(lines, names=catalogue["name"])
    suggested = rules.rules_["consequent"].unique()
    bundle = NextPurchaseBundle(rules, catalogue.loc[catalogue.index.isin(suggested), ["sku", "name"]], utc_now())
    version = artifacts.save(SEQUENCES, bundle, {"customers": rules.n_customers_, "rules": len(rules.rules_)})
    return {"version": version, "customers": rules.n_customers_, "rules": len(rules.rules_)}


def next_purchases_for(
    uow: SqlAlchemyUnitOfWork, customer_id: int, *, n: int = 5, artifacts: Optional[ArtifactStore] = None
) -> NextPurchaseList:
    """Products the customer may buy next, from what customers with the same earlier purchases bought later.

    Raises
    ------
    CustomerNotFound
        If there is no such customer.
    InvalidInput
        If the customer has bought nothing yet (there is nothing to go on)
        or ``n`` is not a whole number >= 1.
    """
    bundle: NextPurchaseBundle = serving.current(artifacts or serving.default_artifacts(), SEQUENCES)
    with uow:
        if uow.customers.get(customer_id) is None:
            raise CustomerNotFound(customer_id)
        history = customer_product_days(uow, customer_id)
    if history.empty:
        raise InvalidInput(
            f"customer {customer_id} has bought nothing yet, so there is no earlier purchase to suggest a next "
            "one from; suggest popular products instead."
        )
    result = bundle.rules.for_history(history, n)
    items = [
        NextPurchaseSuggestion(
            sku=str(bundle.products.at[s.item, "sku"]),
            name=str(bundle.products.at[s.item, "name"]),
            support=s.support,
            confidence=s.confidence,
            lift=s.lift,
            reason=s.reason,
        )
        for s in result
    ]
    return NextPurchaseList(items, None if items else result.reason)


__all__ = [
    "SEQUENCES",
    "THRESHOLDS",
    "NextPurchaseBundle",
    "NextPurchaseList",
    "NextPurchaseSuggestion",
    "next_purchases_for",
    "refresh_next_purchase",
]
