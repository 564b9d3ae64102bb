"""Recommendation services: fit once, save as artifacts, serve from memory.

``crm recommend refresh`` (:func:`refresh_models`) reads the order lines and
the catalogue, fits the hybrid recommender and the basket rules, and saves
them as versioned artifacts (:mod:`analytics.artifacts`). The action server
calls :func:`recommend_for`, :func:`similar_to` and :func:`bought_together`,
which load the current artifacts once per process (and again when a refresh
publishes a new version) and answer without touching the database, except
to check that a customer exists.

The production hybrid blends BM25 item-kNN, ALS and content similarity with
z-score fusion: BM25 and ALS were the strongest single models on Online
Retail in ``bench/recommend_eval.py``; content keeps products nobody has
bought yet reachable. Weights are fixed here, not re-tuned on each refresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Optional

import pandas as pd
from sqlalchemy import select

from analytics.artifacts import ArtifactStore, data_hash
from analytics.basket import BasketRules
from analytics.errors import CustomerNotFound, InvalidInput, NotFound
from analytics.frames import load_lines
from analytics.recommend import (
    ALSRecommender,
    ContentRecommender,
    HybridRecommender,
    ImplicitItemKNN,
    InCategories,
    Interactions,
    MaxPerCategory,
    PriceRange,
)
from analytics.recommend.base import Recommendations
from analytics.store.models import CustomerScore, OrderLine, Product
from analytics.store.uow import SqlAlchemyUnitOfWork

RECOMMENDER = "recommender"
BASKET = "basket"
Progress = Callable[[str, int, int], None]


def _no_progress(_step: str, _done: int, _total: int) -> None:
    return None


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


@dataclass
class RecommenderBundle:
    """What the action server needs, saved as one artifact."""

    hybrid: HybridRecommender
    catalogue: pd.DataFrame  # indexed by product_id: sku, name, category, unit_price
    sku_to_id: dict[str, int]
    fitted_at: datetime


def _catalogue(uow: SqlAlchemyUnitOfWork) -> pd.DataFrame:
    with uow:
        rows = uow.session.execute(
            select(Product.id, Product.sku, Product.name, Product.description, Product.category, Product.unit_price)
        ).all()
    frame = pd.DataFrame(rows, columns=["product_id", "sku", "name", "description", "category", "unit_price"])
    frame["unit_price"] = frame["unit_price"].astype("float64")
    return frame.set_index("product_id")


def refresh_models(
    uow: SqlAlchemyUnitOfWork, artifacts: ArtifactStore, *, progress: Progress = _no_progress
) -> dict[str, Any]:
    """Refit the recommender and the basket rules and publish them; returns versions and timings."""
    steps = 4
    started = time.perf_counter()
    progress("loading lines", 0, steps)
    lines = load_lines(uow)
    if lines.empty:
        raise InvalidInput("The store holds no order lines of known customers; import data first (crm seed).")
    catalogue = _catalogue(uow)
    with uow:
        segments = {
            cid: seg
            for cid, seg in uow.session.execute(select(CustomerScore.customer_id, CustomerScore.rfm_segment)).all()
        }
        baskets = pd.DataFrame(
            uow.session.execute(select(OrderLine.order_id, OrderLine.product_id)).all(),
            columns=["order_id", "product_id"],
        )
    products = catalogue.reset_index()[["product_id", "name", "description", "category", "unit_price"]]
    interactions = Interactions.from_lines(lines, weighting="log1p", products=products)

    progress("fitting recommender", 1, steps)
    hybrid = HybridRecommender(
        [
            ("bm25", ImplicitItemKNN(weighting="bm25", K=400)),
            ("als", ALSRecommender(factors=64, regularization=10.0, alpha=20.0, random_state=0)),
            ("content", ContentRecommender()),
        ],
        weights=[0.5, 0.3, 0.2],
        fusion="zscore",
        segments=segments or None,
    ).fit(interactions)
    fitted = time.perf_counter()

    progress("mining baskets", 2, steps)
    names = catalogue["name"]
    rules = BasketRules().fit(baskets, names=names)
    mined = time.perf_counter()

    progress("saving", 3, steps)
    bundle = RecommenderBundle(
        hybrid=hybrid,
        catalogue=catalogue[["sku", "name", "category", "unit_price"]],
        sku_to_id={sku: int(pid) for pid, sku in catalogue["sku"].items()},
        fitted_at=datetime.now(),
    )
    meta = {"lines": len(lines), "customers": interactions.n_users, "products": interactions.n_items}
    rec_version = artifacts.save(RECOMMENDER, bundle, meta | {"data_hash": data_hash(lines)})
    basket_version = artifacts.save(
        BASKET, rules, {"baskets": int(baskets["order_id"].nunique()), "rules": len(rules.rules_)}
    )
    progress("done", steps, steps)
    return {
        "recommender": rec_version,
        "basket": basket_version,
        "customers": interactions.n_users,
        "products": interactions.n_items,
        "rules": len(rules.rules_),
        "seconds": {
            "fit": round(fitted - started, 2),
            "baskets": round(mined - fitted, 2),
            "total": round(time.perf_counter() - started, 2),
        },
    }


class _Loaded:
    """The current artifacts of one store, reloaded when a new version is published."""

    _lock = threading.Lock()
    _cache: ClassVar[dict[tuple[str, str], tuple[str, Any]]] = {}

    @classmethod
    def get(cls, artifacts: ArtifactStore, name: str) -> Any:
        version = artifacts.current(name)
        key = (str(artifacts.root), name)
        cached = cls._cache.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        with cls._lock:
            obj = artifacts.load(name, version)
            cls._cache[key] = (version, obj)
        return obj


def default_artifacts() -> ArtifactStore:
    from analytics.settings import get_settings

    return ArtifactStore(Path(get_settings().artifacts_dir), keep=5)


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
    bundle: RecommenderBundle = _Loaded.get(artifacts or default_artifacts(), RECOMMENDER)
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
    bundle: RecommenderBundle = _Loaded.get(artifacts or default_artifacts(), RECOMMENDER)
    return _suggestions(bundle, bundle.hybrid.similar_items(_product_id(bundle, sku), n))


def bought_together(skus: Iterable[str], *, n: int = 5, artifacts: Optional[ArtifactStore] = None) -> SuggestionList:
    """What goes with a product or a basket, from association rules ranked by lift."""
    store = artifacts or default_artifacts()
    bundle: RecommenderBundle = _Loaded.get(store, RECOMMENDER)
    rules: BasketRules = _Loaded.get(store, BASKET)
    ids = [_product_id(bundle, sku) for sku in skus]
    if not ids:
        raise InvalidInput("Name at least one product to find what goes with it.")
    result = rules.for_item(ids[0], n) if len(ids) == 1 else rules.for_basket(ids, n)
    items = [_product(bundle, suggestion.item, suggestion.reason) for suggestion in result]
    return SuggestionList(items, result.reason if not items else None)
