"""Popularity, globally or within a customer segment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional, Union

import numpy as np
import pandas as pd
import scipy.sparse as sp

from analytics.core.errors import InvalidInput
from analytics.recommend.base import BEST_SELLER, POPULAR, SEGMENT_LOVES, Recommender
from analytics.recommend.interactions import Interactions

REPEAT = "you bought it before"

Segments = Union[Mapping[Any, Any], pd.Series]


class PopularityRecommender(Recommender):
    """Recommends what most customers bought.

    The score of an item is the share of customers who interacted with it:
    among the user's segment when ``segments`` maps the user to one with at
    least ``min_segment_size`` customers, among everyone otherwise.

    Parameters
    ----------
    segments : mapping or pandas.Series, optional
        user id -> segment label (e.g. the RFM segment).
    min_segment_size : int, default 20
        Smaller segments fall back to the global ranking (too few buyers to
        say what the segment loves).

    Attributes
    ----------
    global_scores_ : numpy.ndarray
        Share of all users per item.
    segment_scores_ : dict
        Segment label -> share of that segment's users per item.

    Examples
    --------
    >>> X = Interactions.from_frame(pd.DataFrame({"user_id": [1, 2, 3, 3], "item_id": ["a", "a", "b", "c"]}))
    >>> top = PopularityRecommender().fit(X).recommend(3, n=1)
    >>> top[0].item_id, top[0].reason
    ('a', 'one of our best sellers')
    """

    label = "popularity"

    def __init__(self, segments: Optional[Segments] = None, min_segment_size: int = 20) -> None:
        self.segments = segments
        self.min_segment_size = min_segment_size

    def _fit(self, interactions: Interactions) -> None:
        if isinstance(self.min_segment_size, bool) or not isinstance(self.min_segment_size, int):
            raise InvalidInput(f"min_segment_size must be a whole number, not {self.min_segment_size!r}.")
        bought = interactions.matrix.copy()
        bought.data[:] = 1.0
        counts = np.asarray(bought.sum(axis=0), dtype="float64").ravel()
        self.global_scores_ = counts / interactions.n_users
        # the best sellers: the top tenth of items by buyers
        self.best_seller_threshold_ = float(np.quantile(counts[counts > 0], 0.9)) / interactions.n_users
        self.segment_scores_: dict[Any, np.ndarray] = {}
        self.segment_sizes_: dict[Any, int] = {}
        self.user_segment_ = np.full(interactions.n_users, -1, dtype=np.int64)
        self.segment_labels_: list[Any] = []
        if self.segments is None:
            return
        mapping = pd.Series(self.segments) if not isinstance(self.segments, pd.Series) else self.segments
        labels = mapping.reindex(interactions.user_ids)
        known = labels.notna().to_numpy()
        codes, uniques = pd.factorize(labels[known])
        indicator = sp.csr_matrix(
            (np.ones(len(codes)), (codes, np.flatnonzero(known))), shape=(len(uniques), interactions.n_users)
        )
        per_segment = np.asarray((indicator @ bought).toarray(), dtype="float64")
        sizes = np.bincount(codes, minlength=len(uniques))
        for code, label in enumerate(uniques):
            self.segment_sizes_[label] = int(sizes[code])
            if sizes[code] >= self.min_segment_size:
                self.segment_scores_[label] = per_segment[code] / sizes[code]
        self.segment_labels_ = list(uniques)
        user_codes = np.full(interactions.n_users, -1, dtype=np.int64)
        user_codes[np.flatnonzero(known)] = codes
        self.user_segment_ = user_codes

    def _segment_of_row(self, row: int) -> Optional[Any]:
        code = self.user_segment_[row]
        if code < 0:
            return None
        label = self.segment_labels_[code]
        return label if label in self.segment_scores_ else None

    def scores_for_segment(self, segment: Optional[Any] = None) -> np.ndarray:
        """Item scores for a segment (global when ``None`` or too small)."""
        self._check_fitted()
        if segment is not None and segment in self.segment_scores_:
            return self.segment_scores_[segment] + 1e-6 * self.global_scores_
        return self.global_scores_.copy()

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return np.vstack([self.scores_for_segment(self._segment_of_row(int(r))) for r in rows])

    def explain_segment(self, segment: Optional[Any], cols: np.ndarray) -> list[tuple[str, int]]:
        """Reasons for items ranked by :meth:`scores_for_segment`."""
        reasons: list[tuple[str, int]] = []
        scores = self.segment_scores_.get(segment) if segment is not None else None
        for col in cols:
            if scores is not None and scores[col] > 0:
                reasons.append((SEGMENT_LOVES.format(segment=segment), -1))
            elif self.global_scores_[col] >= self.best_seller_threshold_:
                reasons.append((BEST_SELLER, -1))
            else:
                reasons.append((POPULAR, -1))
        return reasons

    def _explain(self, row: int, cols: np.ndarray) -> list[tuple[str, int]]:
        return self.explain_segment(self._segment_of_row(row), cols)


class RepeatPurchaseRecommender(Recommender):
    """ "Buy it again": a customer's own items, strongest weight first.

    With recency-decayed, quantity-weighted interactions this ranks what a
    customer buys often and recently. Items they never had are ordered by
    global popularity behind them. Meant for the next-basket use
    (``exclude_seen=False``) and as a hybrid component; with
    ``exclude_seen=True`` it reduces to popularity.

    Examples
    --------
    >>> X = Interactions.from_frame(pd.DataFrame({"user_id": [1, 1, 1, 2], "item_id": ["a", "b", "b", "c"]}),
    ...                             weighting="quantity")
    >>> [(r.item_id, r.reason) for r in RepeatPurchaseRecommender().fit(X).recommend(1, n=2, exclude_seen=False)]
    [('b', 'you bought it before'), ('a', 'you bought it before')]
    """

    label = "buy again"

    def __init__(self) -> None:
        pass

    def _fit(self, interactions: Interactions) -> None:
        self.popularity_ = PopularityRecommender().fit(interactions)
        top = float(interactions.matrix.data.max())
        # popularity stays below the weakest own item
        floor = float(interactions.matrix.data.min())
        self.fill_scale_ = 0.5 * floor / max(top, 1.0)

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        own = self.interactions_.matrix[rows].toarray().astype("float64")
        return own + self.fill_scale_ * self.popularity_.global_scores_

    def _explain(self, row: int, cols: np.ndarray) -> list[tuple[str, int]]:
        own = self.interactions_.matrix[row, cols].toarray().ravel()
        fill = self.popularity_.explain_segment(None, cols)
        return [(REPEAT, int(c)) if w > 0 else reason for c, w, reason in zip(cols, own, fill)]


__all__ = ["PopularityRecommender", "RepeatPurchaseRecommender"]
