"""Content-based recommendations from the product table.

Two products are alike when their words are (TF-IDF over name and
description), when they share a category, and when they sit in the same or
a neighbouring price band. Needs no purchase history for the item, so it is
how new products get recommended and how a visitor who mentions a product
or types a few words gets suggestions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Optional

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from analytics.core.errors import InvalidInput
from analytics.recommend.base import (
    POPULAR,
    SIMILAR_TO,
    Recommender,
    sparse_rows_times_dense,
    strongest_contributor,
)
from analytics.recommend.interactions import Interactions

MATCHES_TEXT = "matches “{text}”"


def price_bands(prices: np.ndarray, n_bands: int) -> np.ndarray:
    """Band 0..n_bands-1 by quantiles of log price; -1 where the price is unknown.

    Examples
    --------
    >>> price_bands(np.array([1.0, 2.0, 10.0, np.nan]), 3).tolist()
    [0, 1, 2, -1]
    """
    bands = np.full(len(prices), -1, dtype=np.int64)
    known = np.isfinite(prices) & (prices > 0)
    if known.sum() == 0:
        return bands
    logs = np.log(prices[known])
    edges = np.quantile(logs, np.linspace(0, 1, n_bands + 1)[1:-1])
    bands[known] = np.searchsorted(edges, logs, side="right")
    return bands


class ContentRecommender(Recommender):
    """Item similarity from text, category and price band.

    ``sim(i, j) = (w_text * cos(tfidf_i, tfidf_j) + w_cat * [same category]
    + w_price * band_closeness) / (w_text + w_cat + w_price)``, where band
    closeness is 1 for the same price band, 0.5 for a neighbouring one. A
    user's score for an item is its mean similarity to the user's items
    (weighted by the interaction weights).

    Needs the item table of the interactions (``Interactions(...,
    products=...)``) with ``name``, ``category`` and ``unit_price``;
    ``description`` is used when present.

    Parameters
    ----------
    text_weight, category_weight, price_weight : float
        Weights of the three parts (>= 0, not all zero).
    n_price_bands : int, default 5

    Examples
    --------
    >>> products = pd.DataFrame({"product_id": [1, 2, 3], "name": ["Red candle", "Blue candle", "Tea towel"],
    ...     "category": ["Candles", "Candles", "Kitchen"], "unit_price": [2.5, 2.9, 3.1]})
    >>> X = Interactions.from_frame(pd.DataFrame({"user_id": [7], "item_id": [1]}), products=products)
    >>> ContentRecommender().fit(X).similar_items(1, n=1)[0].item_id
    2
    """

    label = "content"
    similar_reason = SIMILAR_TO

    def __init__(
        self,
        text_weight: float = 0.6,
        category_weight: float = 0.3,
        price_weight: float = 0.1,
        n_price_bands: int = 5,
    ) -> None:
        self.text_weight = text_weight
        self.category_weight = category_weight
        self.price_weight = price_weight
        self.n_price_bands = n_price_bands

    def _fit(self, interactions: Interactions) -> None:
        weights = np.array([self.text_weight, self.category_weight, self.price_weight], dtype="float64")
        if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() == 0:
            raise InvalidInput("text_weight, category_weight and price_weight must be >= 0 and not all zero.")
        weights = weights / weights.sum()
        names = interactions.item_attribute("name", "ContentRecommender")
        categories = interactions.item_attribute("category", "ContentRecommender")
        prices = interactions.item_attribute("unit_price", "ContentRecommender").astype("float64")
        descriptions = (
            interactions.items["description"].to_numpy()
            if interactions.items is not None and "description" in interactions.items.columns
            else np.full(len(names), "", dtype=object)
        )
        texts = [
            " ".join(str(part) for part in (name, desc) if isinstance(part, str))
            for name, desc in zip(names, descriptions)
        ]
        if not any(t.strip() for t in texts):
            raise InvalidInput("ContentRecommender needs product names or descriptions; every item's text is empty.")
        self.vectorizer_ = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1, stop_words="english")
        self.text_vectors_ = self.vectorizer_.fit_transform(texts).astype(np.float32).tocsr()
        similarity = weights[0] * (self.text_vectors_ @ self.text_vectors_.T).toarray()
        codes, _ = pd.factorize(pd.Series(categories, dtype=object))
        same = (codes[:, None] == codes[None, :]) & (codes[:, None] >= 0)
        similarity += weights[1] * same
        bands = price_bands(prices, int(self.n_price_bands))
        gap = np.abs(bands[:, None] - bands[None, :])
        closeness = (
            np.where(gap == 0, 1.0, np.where(gap == 1, 0.5, 0.0)) * (bands[:, None] >= 0) * (bands[None, :] >= 0)
        )
        similarity += weights[2] * closeness
        np.fill_diagonal(similarity, 0.0)
        self.similarity_ = similarity.astype(np.float32)
        self.text_weight_ = float(weights[0])

    def _user_weights(self, rows: np.ndarray) -> Any:
        M = self.interactions_.matrix[rows]
        totals = np.asarray(M.sum(axis=1), dtype="float64").ravel()
        scale = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
        return M.multiply(scale[:, None]).tocsr()

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return sparse_rows_times_dense(self._user_weights(rows), self.similarity_)

    def _explain(self, row: int, cols: np.ndarray) -> list[tuple[str, int]]:
        X = self.interactions_
        seen = X.seen(row)
        contributions = X.matrix[row].data[:, None].astype("float64") * self.similarity_[np.ix_(seen, cols)]
        because, strength = strongest_contributor(contributions, seen)
        return self._because_names(because, strength, SIMILAR_TO)

    def _similar_scores(self, col: int) -> np.ndarray:
        return self.similarity_[col].astype("float64")

    def context_scores(
        self, mentioned_cols: Iterable[int] = (), text: Optional[str] = None
    ) -> tuple[np.ndarray, Callable[[np.ndarray], list[tuple[str, int]]]]:
        """Scores for a visitor with no history, and a function giving the reasons of chosen columns.

        The score is the mean similarity to the mentioned items plus the
        text part of the similarity to ``text``; an item's reason names
        whichever contributed most to it.
        """
        self._check_fitted()
        mentioned = np.asarray(list(mentioned_cols), dtype=np.int64)
        n_items = self.interactions_.n_items
        parts = []
        if len(mentioned):
            parts.append(self.similarity_[mentioned].astype("float64") / len(mentioned))
        if text:
            query = self.vectorizer_.transform([text])
            parts.append(self.text_weight_ * (query @ self.text_vectors_.T).toarray())
        if not parts:
            return np.zeros(n_items), lambda cols: [(POPULAR, -1)] * len(cols)
        stacked = np.vstack(parts)
        labels = np.concatenate([mentioned, [-2] if text else []]).astype(np.int64)
        X = self.interactions_

        def explain(cols: np.ndarray) -> list[tuple[str, int]]:
            best, strength = strongest_contributor(stacked[:, cols], labels)
            return [
                (POPULAR, -1)
                if s <= 0
                else (MATCHES_TEXT.format(text=text), -1)
                if b == -2
                else (SIMILAR_TO.format(name=X.item_name(int(b))), int(b))
                for b, s in zip(best, strength)
            ]

        return stacked.sum(axis=0), explain


__all__ = ["MATCHES_TEXT", "ContentRecommender", "price_bands"]
