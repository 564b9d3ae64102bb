"""Product suggestions for a customer or a visitor: personal, similar products, bought together.

Answers come from the recommender and basket rules that
:func:`analytics.recommend.serving.refresh_models` publishes; the database is
only asked whether a customer exists and which segment they are in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from analytics.core.errors import CustomerNotFound, InvalidInput, NotFound
from analytics.recommend import InCategories, MaxPerCategory, PriceRange, serving
from analytics.recommend.base import Recommendations
from analytics.recommend.basket import BasketRules
from analytics.recommend.serving import BASKET, RECOMMENDER, RecommenderBundle
from analytics.store.artifacts import ArtifactStore
from analytics.store.uow import SqlAlchemyUnitOfWork


@dataclass(frozen=True)
class ProductSuggestion:
    sku: str
    name: str
    category: str
    price: float
    reason: str


@dataclass(frozen=True)
class SuggestionList:
    items: list[ProductSuggestion]
    #: why the list is empty (or what it is), in words for the customer
    note: Optional[str] = None


def _product(bundle: RecommenderBundle, product_id: Any, reason: str) -> ProductSuggestion:
    row = bundle.catalogue.loc[product_id]
    return ProductSuggestion(
        sku=str(row["sku"]),
        name=str(row["name"]),
        category=str(row["category"]),
        price=float(row["unit_price"]),
        reason=reason,
    )


def _suggestions(bundle: RecommenderBundle, recs: Recommendations) -> SuggestionList:
    return SuggestionList([_product(bundle, rec.item_id, rec.reason) for rec in recs], recs.empty_reason)


def _filters(max_price: Optional[float], category: Optional[str]) -> list[Any]:
    filters: list[Any] = []
    if max_price is not None:
        if max_price <= 0:
            raise InvalidInput(f"a price limit must be positive, not {max_price}.")
        filters.append(PriceRange(max_price=max_price))
    if category:
        filters.append(InCategories(category))
    return filters


def recommend_for(
    uow: SqlAlchemyUnitOfWork,
    customer_id: Optional[int],
    *,
    n: int = 5,
    max_price: Optional[float] = None,
    category: Optional[str] = None,
    mentioned_skus: Sequence[str] = (),
    artifacts: Optional[ArtifactStore] = None,
) -> SuggestionList:
    """Products for a customer (or an anonymous visitor when ``customer_id`` is None).

    Known customers with history get the hybrid's personal list; customers
    without history and visitors get segment/overall popularity blended with
    products similar to what they mentioned. At most two per category.
    """
    bundle: RecommenderBundle = serving.current(artifacts or serving.default_artifacts(), RECOMMENDER)
    filters = [*_filters(max_price, category), MaxPerCategory(2)]
    hybrid = bundle.hybrid
    segment = None
    if customer_id is not None:
        with uow:
            customer, score = uow.scores.with_customer(customer_id)
            if customer is None:
                raise CustomerNotFound(customer_id)
            segment = score.rfm_segment if score is not None else None
        if hybrid.interactions_.has_user(customer_id):
            return _suggestions(bundle, hybrid.recommend(customer_id, n, filters=filters))
    mentioned = [bundle.sku_to_id[s.upper()] for s in mentioned_skus if s.upper() in bundle.sku_to_id]
    recs = hybrid.recommend_for_context(mentioned, n=n, segment=segment, filters=filters)
    return _suggestions(bundle, recs)


def _product_id(bundle: RecommenderBundle, sku: str) -> int:
    pid = bundle.sku_to_id.get(sku.strip().upper())
    if pid is None:
        raise NotFound(f"No product with code {sku!r} in the catalogue.")
    return pid


def similar_to(sku: str, *, n: int = 5, artifacts: Optional[ArtifactStore] = None) -> SuggestionList:
    """Products like ``sku`` ("something like the lunch bag")."""
    bundle: RecommenderBundle = serving.current(artifacts or serving.default_artifacts(), RECOMMENDER)
    return _suggestions(bundle, bundle.hybrid.similar_items(_product_id(bundle, sku), n))


def bought_together(skus: Iterable[str], *, n: int = 5, artifacts: Optional[ArtifactStore] = None) -> SuggestionList:
    """What goes with a product or a basket, from association rules ranked by lift."""
    store = artifacts or serving.default_artifacts()
    bundle: RecommenderBundle = serving.current(store, RECOMMENDER)
    rules: BasketRules = serving.current(store, BASKET)
    ids = [_product_id(bundle, sku) for sku in skus]
    if not ids:
        raise InvalidInput("Name at least one product to find what goes with it.")
    result = rules.for_item(ids[0], n) if len(ids) == 1 else rules.for_basket(ids, n)
    items = [_product(bundle, suggestion.item, suggestion.reason) for suggestion in result]
    return SuggestionList(items, result.reason if not items else None)


def warm_up(artifacts: Optional[ArtifactStore] = None) -> list[str]:
    """Start loading the published recommender, basket rules and next-purchase rules in the background (a
    server calls it as it starts, so its first customers do not wait for them); returns those published."""
    artifacts = artifacts or serving.default_artifacts()
    started = []
    for name in (RECOMMENDER, BASKET, serving.SEQUENCES):
        try:
            serving.current_if_loaded(artifacts, name)
        except NotFound:  # not published yet: the answers that need it say so
            continue
        started.append(name)
    return started
