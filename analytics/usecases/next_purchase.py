"""What a customer may buy next: "customers who bought X later bought Y".

:func:`refresh_next_purchase` learns sequential rules
(:class:`analytics.recommend.sequences.SequenceRules`, with the thresholds of
:data:`analytics.recommend.serving.SEQUENCE_SETTINGS`) from every known
customer's purchases and publishes them as the ``sequence_rules`` artifact;
``crm recommend refresh`` and ``crm seed`` publish them with the
recommender (:func:`analytics.recommend.serving.refresh_models`).
:func:`next_purchases_for` reads that customer's purchase days from the
store and returns the products the rules suggest, each with its support,
confidence and lift and a reason in words ("32% of customers who bought X
bought Y later"). Products the customer already bought are left out.
:func:`next_purchase_line` says the strongest one in a sentence for the
assistant, and nothing when there is none or the rules cannot be read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Optional

from analytics.core.errors import CRMError, CustomerNotFound, InvalidInput
from analytics.recommend import serving
from analytics.recommend.ranked import percent
from analytics.recommend.serving import SEQUENCE_SETTINGS, SEQUENCES, NextPurchaseBundle
from analytics.store.artifacts import ArtifactStore
from analytics.store.frames import customer_product_days, load_catalogue, load_lines
from analytics.store.uow import SqlAlchemyUnitOfWork

log = logging.getLogger(__name__)

#: Thresholds a refresh may override (:data:`analytics.recommend.serving.SEQUENCE_SETTINGS`).
THRESHOLDS = tuple(SEQUENCE_SETTINGS)


@dataclass(frozen=True)
class NextPurchaseSuggestion:
    """One product to suggest, with the rule behind it.

    ``after`` names what the customer bought that the rule starts from, in
    time order; ``customers`` is how many customers bought it all in that
    order (the rule's support as a count).
    """

    sku: str
    name: str
    support: float
    confidence: float
    lift: float
    reason: str
    after: tuple[str, ...] = ()
    customers: int = 0


@dataclass(frozen=True)
class NextPurchaseList:
    items: list[NextPurchaseSuggestion]
    #: why the list is empty (or what it is), in words for the customer
    note: Optional[str] = None


def refresh_next_purchase(uow: SqlAlchemyUnitOfWork, artifacts: ArtifactStore, **thresholds: Any) -> dict[str, Any]:
    """Learn the rules from every known customer's purchases and publish them; returns the version and counts.

    ``thresholds`` override :data:`analytics.recommend.serving.SEQUENCE_SETTINGS` (the names in
    :data:`THRESHOLDS`).

    Raises
    ------
    InvalidInput
        An unknown or bad threshold, an empty store, or a shop no rule can be learnt from yet (too few
        returning customers share a "bought X, later bought Y"), saying what to change.
    """
    lines = load_lines(uow)
    bundle = serving.fit_sequences(lines, load_catalogue(uow), **thresholds)
    version = serving.publish_sequences(artifacts, bundle)
    rules = bundle.rules
    return {
        "version": version,
        "customers": rules.n_customers_,
        "min_count": rules.min_count_,
        "rules": len(rules.rules_),
    }


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
    rules = bundle.rules
    result = rules.for_history(history, n)
    items = [
        NextPurchaseSuggestion(
            sku=str(bundle.products.at[s.item, "sku"]),
            name=str(bundle.products.at[s.item, "name"]),
            support=s.support,
            confidence=s.confidence,
            lift=s.lift,
            reason=s.reason,
            after=tuple(rules.label(a) for a in s.antecedent),
            customers=round(s.support * rules.n_customers_),
        )
        for s in result
    ]
    return NextPurchaseList(items, None if items else result.reason)


#: A rule is said in the chat only when at least this share of the customers it covers went on to buy.
SAID_MIN_CONFIDENCE = 0.2


def next_purchase_line(
    uow: SqlAlchemyUnitOfWork, customer_id: int, *, artifacts: Optional[ArtifactStore] = None
) -> Optional[str]:
    """The customer's strongest next-purchase rule in one sentence, or None.

    "Customers who bought Jumbo Bag Red often went on to buy Lunch Bag Red: 32% of them did, 41 customers
    so far." None when no rule applies to what they bought, when they bought nothing yet, and when the
    rules are not published or cannot be read (logged): a recommendation answer never fails for it. Nor does
    it wait for them: until this process has loaded the current rules (in the background, started by the
    first call; seconds for a large shop) there is no line.
    """
    artifacts = artifacts or serving.default_artifacts()
    try:
        if serving.current_if_loaded(artifacts, SEQUENCES) is None:
            return None
        found = next_purchases_for(uow, customer_id, n=1, artifacts=artifacts)
    except InvalidInput:  # nothing bought yet: nothing to go on
        return None
    except CRMError as exc:  # not published yet, saved by an older layout, damaged
        log.warning("no next-purchase line for customer %s: %s", customer_id, exc)
        return None
    if not found.items or found.items[0].confidence < SAID_MIN_CONFIDENCE:
        return None  # "3% of them did" is no reason to suggest it in a chat
    return sentence(found.items[0])


def sentence(suggestion: NextPurchaseSuggestion) -> str:
    """A suggestion said as a person would, with its confidence and support in words.

    Examples
    --------
    >>> sentence(NextPurchaseSuggestion("22384", "Lunch Bag", 0.009, 0.32, 2.1, "", ("Jumbo Bag",), 41))
    'Customers who bought Jumbo Bag often went on to buy Lunch Bag: 32% of them did, 41 customers so far.'
    """
    after = " and then ".join(suggestion.after) or "what you bought"
    share = suggestion.confidence
    how = "most" if share >= 0.5 else "often" if share >= 0.2 else "sometimes"
    people = "customer" if suggestion.customers == 1 else "customers"
    if how == "most":
        return (
            f"Most customers who bought {after} went on to buy {suggestion.name}: {percent(share)} of them, "
            f"{suggestion.customers:,} {people} so far."
        )
    return (
        f"Customers who bought {after} {how} went on to buy {suggestion.name}: {percent(share)} of them did, "
        f"{suggestion.customers:,} {people} so far."
    )


__all__ = [
    "SEQUENCES",
    "THRESHOLDS",
    "NextPurchaseBundle",
    "NextPurchaseList",
    "NextPurchaseSuggestion",
    "next_purchase_line",
    "next_purchases_for",
    "refresh_next_purchase",
    "sentence",
]
