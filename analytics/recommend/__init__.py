"""Personalised recommendations: one interface, several models, a hybrid.

>>> from analytics.recommend import Interactions, HybridRecommender, EASERecommender, ALSRecommender
>>> # X = Interactions.from_lines(lines, weighting="log1p", products=products)
>>> # hybrid = HybridRecommender([("ease", EASERecommender()), ("als", ALSRecommender())]).fit(X)
>>> # hybrid.recommend(customer_id, n=5, filters=[PriceRange(max_price=20)])

Modules: :mod:`.interactions` (the matrix and its weighting), :mod:`.base`
(the interface, :class:`Recommendation`), :mod:`.filters` (price, category,
diversity), the models (:mod:`.popularity`, :mod:`.neighbours`,
:mod:`.factorization`, :mod:`.graph`, :mod:`.content`, :mod:`.hybrid`), :mod:`.metrics` and
:mod:`.evaluation`.
"""

from __future__ import annotations

from analytics.recommend.base import Recommendation, Recommendations, Recommender
from analytics.recommend.content import ContentRecommender
from analytics.recommend.errors import UnknownItem, UnknownUser
from analytics.recommend.factorization import ALSRecommender, BaggedALSRecommender, BPRRecommender, ImplicitItemKNN
from analytics.recommend.filters import (
    CategoryMMR,
    ExcludeItems,
    InCategories,
    ItemFilter,
    MaxPerCategory,
    PriceRange,
    Reranker,
)
from analytics.recommend.graph import GFCFRecommender, RP3betaRecommender
from analytics.recommend.hybrid import HybridRecommender, tune_weights
from analytics.recommend.interactions import Interactions
from analytics.recommend.neighbours import EASERecommender, ItemKNNRecommender, UserKNNRecommender
from analytics.recommend.popularity import PopularityRecommender, RepeatPurchaseRecommender

__all__ = [
    "ALSRecommender",
    "BPRRecommender",
    "BaggedALSRecommender",
    "CategoryMMR",
    "ContentRecommender",
    "EASERecommender",
    "ExcludeItems",
    "GFCFRecommender",
    "HybridRecommender",
    "ImplicitItemKNN",
    "InCategories",
    "Interactions",
    "ItemFilter",
    "ItemKNNRecommender",
    "MaxPerCategory",
    "PopularityRecommender",
    "PriceRange",
    "RP3betaRecommender",
    "Recommendation",
    "Recommendations",
    "Recommender",
    "RepeatPurchaseRecommender",
    "Reranker",
    "UnknownItem",
    "UnknownUser",
    "UserKNNRecommender",
    "tune_weights",
]
