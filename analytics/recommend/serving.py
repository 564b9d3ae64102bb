"""Recommendation services: fit once, save as artifacts, serve from memory.

``crm recommend refresh`` (:func:`refresh_models`) reads the order lines and
the catalogue, fits the hybrid recommender and the basket rules, and saves
them as versioned artifacts (:mod:`analytics.store.artifacts`). The use cases of
:mod:`analytics.usecases.recommendations` answer from the current artifacts
(:func:`current`), loaded once per process and again when a refresh publishes
a new version.

The production hybrid blends BM25 item-kNN, ALS and content similarity with
z-score fusion: BM25 and ALS were the strongest single models on Online
Retail in ``bench/recommend_eval.py``; content keeps products nobody has
bought yet reachable. Weights are fixed here, not re-tuned on each refresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from analytics.core.clock import utc_now
from analytics.core.errors import InvalidInput
from analytics.recommend import (
    ALSRecommender,
    ContentRecommender,
    HybridRecommender,
    ImplicitItemKNN,
    Interactions,
)
from analytics.recommend.basket import BasketRules
from analytics.store.artifacts import ArtifactStore, data_hash
from analytics.store.frames import load_baskets, load_catalogue, load_lines, load_segments
from analytics.store.uow import SqlAlchemyUnitOfWork

RECOMMENDER = "recommender"
BASKET = "basket"
Progress = Callable[[str, int, int], None]


def _no_progress(_step: str, _done: int, _total: int) -> None:
    return None


@dataclass
class RecommenderBundle:
    """What the action server needs, saved as one artifact."""

    hybrid: HybridRecommender
    catalogue: pd.DataFrame  # indexed by product_id: sku, name, category, unit_price
    sku_to_id: dict[str, int]
    fitted_at: datetime


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
    catalogue = load_catalogue(uow)
    segments = load_segments(uow)
    baskets = load_baskets(uow)
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
        fitted_at=utc_now(),
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
    from analytics.core.settings import get_settings

    return ArtifactStore(Path(get_settings().artifacts_dir), keep=5)


def current(artifacts: ArtifactStore, name: str) -> Any:
    """The current version of artifact ``name`` (:data:`RECOMMENDER` or :data:`BASKET`), loaded once per version."""
    return _Loaded.get(artifacts, name)
