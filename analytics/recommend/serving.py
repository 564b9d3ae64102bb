"""Recommendation services: fit once, save as artifacts, serve from memory.

``crm recommend refresh`` (:func:`refresh_models`) reads the order lines and
the catalogue, fits the hybrid recommender, the basket rules and the
next-purchase rules (:func:`fit_sequences`), and saves them as versioned
artifacts (:mod:`analytics.store.artifacts`). The use cases of
:mod:`analytics.usecases.recommendations` answer from the current artifacts
(:func:`current`), loaded once per process and again when a refresh publishes
a new version.

The production hybrid blends BM25 item-kNN, ALS and content similarity with
z-score fusion: BM25 and ALS were the strongest single models on Online
Retail in ``bench/recommend_eval.py``; content keeps products nobody has
bought yet reachable. Weights are fixed here, not re-tuned on each refresh.

The next-purchase rules use :data:`SEQUENCE_SETTINGS`, chosen by
``bench/sequence_eval.py`` on validation splits of the full Online Retail
file and of the demo shop's sample. A shop where no rule can be learnt yet
(too few returning customers) still gets its recommender and basket rules:
the refresh says why in its result and the previous rules, if any, stay
current.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Optional

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
from analytics.recommend.sequences import SequenceRules, TooManyPatterns
from analytics.store.artifacts import ArtifactStore, data_hash
from analytics.store.frames import load_baskets, load_catalogue, load_lines, load_segments
from analytics.store.uow import SqlAlchemyUnitOfWork

RECOMMENDER = "recommender"
BASKET = "basket"
#: How the production recommender weighs what a customer bought of a product: ``log(1 + total quantity)``
#: (:class:`Interactions` weighting). The Spark fit (:mod:`analytics.scale.als`) weighs by the same name.
WEIGHTING = "log1p"
#: The production ALS leg's settings; :class:`analytics.scale.als.ScaleALS` defaults to the same.
ALS_SETTINGS: dict[str, Any] = {"factors": 64, "regularization": 10.0, "alpha": 20.0}
#: Artifact name of the next-purchase rules (:class:`NextPurchaseBundle`).
SEQUENCES = "sequence_rules"
#: The next-purchase rules' thresholds, chosen by ``bench/sequence_eval.py`` on validation splits
#: (BENCHMARKS.md, "Sequential patterns"): a pattern needs 1% of the customers and at least
#: ``min_customers`` of them; ``max_patterns`` bounds the fit's memory (about 1.3 kB a pattern).
SEQUENCE_SETTINGS: dict[str, Any] = {
    "min_support": 0.01,
    "min_customers": 5,
    "min_confidence": 0.02,
    "min_lift": 1.0,
    "max_len": 3,
    "max_patterns": 200_000,
}
#: How many times a refresh raises ``min_customers`` (by a quarter, at least one) when more than ``max_patterns``
#: patterns reach it, before it gives up with what to change.
_MAX_RAISES = 8
Progress = Callable[[str, int, int], None]

log = logging.getLogger(__name__)


def _no_progress(_step: str, _done: int, _total: int) -> None:
    return None


@dataclass
class RecommenderBundle:
    """What the action server needs, saved as one artifact."""

    hybrid: HybridRecommender
    catalogue: pd.DataFrame  # indexed by product_id: sku, name, category, unit_price
    sku_to_id: dict[str, int]
    fitted_at: datetime


@dataclass
class NextPurchaseBundle:
    """The next-purchase rules and the sku and name of every product they can suggest."""

    rules: SequenceRules
    products: pd.DataFrame  # indexed by product_id: sku, name
    fitted_at: datetime


def fit_sequences(lines: pd.DataFrame, catalogue: pd.DataFrame, **thresholds: Any) -> NextPurchaseBundle:
    """Learn the next-purchase rules from the order lines (:data:`SEQUENCE_SETTINGS`, overridden by ``thresholds``).

    When more than ``max_patterns`` patterns reach the count of customers (a small shop whose few long
    histories hold every combination of their items), ``min_customers`` is raised by a quarter until they do
    not, unless the caller set it; the count used is ``bundle.rules.min_count_``.

    Raises
    ------
    InvalidInput
        For an unknown or bad threshold, or when no rule can be learnt, with why (too few returning
        customers, nothing likely enough) and what to change.
    """
    unknown = set(thresholds) - set(SEQUENCE_SETTINGS)
    if unknown:
        raise InvalidInput(f"unknown threshold(s) {sorted(unknown)}; expected some of {list(SEQUENCE_SETTINGS)}.")
    if lines.empty:
        raise InvalidInput("The store holds no order lines of known customers; import data first (crm seed).")
    settings = SEQUENCE_SETTINGS | thresholds
    for attempt in range(_MAX_RAISES + 1):
        try:
            rules = SequenceRules(**settings).fit(lines, names=catalogue["name"])
            break
        except TooManyPatterns as exc:
            # A shop's longest histories grow with time: raise the count past them rather than exhaust memory.
            raised = max(exc.min_count + 1, math.ceil(exc.min_count * 1.25))
            if attempt == _MAX_RAISES or "min_customers" in thresholds or raised > lines["customer_id"].nunique():
                raise
            settings["min_customers"] = raised
            log.info("next-purchase rules: %s; trying %d customers", exc, settings["min_customers"])
    why = rules.why_no_rules()
    if why is not None:
        raise InvalidInput(f"No next-purchase rule can be learnt from this shop yet: {why}")
    suggested = rules.rules_["consequent"].unique()
    return NextPurchaseBundle(rules, catalogue.loc[catalogue.index.isin(suggested), ["sku", "name"]], utc_now())


def publish_sequences(artifacts: ArtifactStore, bundle: NextPurchaseBundle) -> str:
    """Save the rules as the current :data:`SEQUENCES` artifact; returns its version."""
    rules = bundle.rules
    return artifacts.save(
        SEQUENCES, bundle, {"customers": rules.n_customers_, "min_count": rules.min_count_, "rules": len(rules.rules_)}
    )


def refresh_models(
    uow: SqlAlchemyUnitOfWork, artifacts: ArtifactStore, *, progress: Progress = _no_progress
) -> dict[str, Any]:
    """Refit the recommender, the basket rules and the next-purchase rules and publish them; returns versions
    and timings.

    ``next_purchase`` in the result holds the rules' version and count, or, when none can be learnt yet,
    ``skipped`` with why (the recommender and basket rules are published all the same).
    """
    steps = 5
    started = time.perf_counter()
    progress("loading lines", 0, steps)
    lines = load_lines(uow)
    if lines.empty:
        raise InvalidInput("The store holds no order lines of known customers; import data first (crm seed).")
    catalogue = load_catalogue(uow)
    segments = load_segments(uow)
    baskets = load_baskets(uow)
    products = catalogue.reset_index()[["product_id", "name", "description", "category", "unit_price"]]
    interactions = Interactions.from_lines(lines, weighting=WEIGHTING, products=products)

    progress("fitting recommender", 1, steps)
    hybrid = HybridRecommender(
        [
            ("bm25", ImplicitItemKNN(weighting="bm25", K=400)),
            ("als", ALSRecommender(**ALS_SETTINGS, random_state=0)),
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

    progress("mining sequences", 3, steps)
    next_purchase: dict[str, Any]
    try:
        sequences: Optional[NextPurchaseBundle] = fit_sequences(lines, catalogue)
    except InvalidInput as exc:
        log.warning("next-purchase rules not refreshed: %s", exc)
        sequences, next_purchase = None, {"skipped": str(exc)}
    sequenced = time.perf_counter()

    progress("saving", 4, steps)
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
    if sequences is not None:
        next_purchase = {
            "version": publish_sequences(artifacts, sequences),
            "rules": len(sequences.rules.rules_),
            "min_count": sequences.rules.min_count_,
        }
    progress("done", steps, steps)
    return {
        "recommender": rec_version,
        "basket": basket_version,
        "customers": interactions.n_users,
        "products": interactions.n_items,
        "rules": len(rules.rules_),
        "next_purchase": next_purchase,
        "seconds": {
            "fit": round(fitted - started, 2),
            "baskets": round(mined - fitted, 2),
            "sequences": round(sequenced - mined, 2),
            "total": round(time.perf_counter() - started, 2),
        },
    }


class _Loaded:
    """The current artifacts of one store, reloaded when a new version is published."""

    _lock = threading.Lock()
    _cache: ClassVar[dict[tuple[str, str], tuple[str, Any]]] = {}
    _loading: ClassVar[set[tuple[str, str]]] = set()

    @classmethod
    def _lookup(cls, artifacts: ArtifactStore, name: str) -> tuple[tuple[str, str], str, Any]:
        """The cache key, the current version, and that version's object if it is loaded (else None)."""
        version = artifacts.current(name)
        key = (str(artifacts.root), name)
        cached = cls._cache.get(key)
        return key, version, cached[1] if cached is not None and cached[0] == version else None

    @classmethod
    def get(cls, artifacts: ArtifactStore, name: str) -> Any:
        key, version, obj = cls._lookup(artifacts, name)
        if obj is not None:
            return obj
        obj = artifacts.load(name, version)  # outside the lock: one slow load holds up no other artifact
        with cls._lock:
            cls._cache[key] = (version, obj)
        return obj

    @classmethod
    def if_loaded(cls, artifacts: ArtifactStore, name: str) -> Any:
        """The current version when it is in memory already; otherwise None, and it starts loading in the
        background (for answers that a large artifact's first load must not hold up)."""
        key, _, obj = cls._lookup(artifacts, name)
        if obj is not None:
            return obj
        with cls._lock:
            if key in cls._loading:
                return None
            cls._loading.add(key)
        threading.Thread(target=cls._load_quietly, args=(artifacts, name, key), daemon=True).start()
        return None

    @classmethod
    def _load_quietly(cls, artifacts: ArtifactStore, name: str, key: tuple[str, str]) -> None:
        try:
            cls.get(artifacts, name)
        except Exception:  # the caller goes on without it; the next call tries again
            log.exception("loading artifact %s in the background failed", name)
        finally:
            with cls._lock:
                cls._loading.discard(key)


def default_artifacts() -> ArtifactStore:
    from analytics.core.settings import get_settings

    return ArtifactStore(Path(get_settings().artifacts_dir), keep=5)


def current_if_loaded(artifacts: ArtifactStore, name: str) -> Any:
    """The current version of artifact ``name`` if it is loaded already, else None (and it loads in the
    background): the next-purchase rules take seconds to load the first time, longer than a chat answer may."""
    return _Loaded.if_loaded(artifacts, name)


def current(artifacts: ArtifactStore, name: str) -> Any:
    """The current version of artifact ``name`` (:data:`RECOMMENDER`, :data:`BASKET` or :data:`SEQUENCES`), loaded
    once per version."""
    return _Loaded.get(artifacts, name)
