"""Neighbourhood models: item-based and user-based collaborative filtering,
and EASE (a closed-form item-item regression).

Scores are sums over neighbours, so an explanation can name the seen item
that contributed most. Items no neighbour speaks for score 0 and are ordered
by a tiny popularity tie-break; their reason says so.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.linalg.lapack
import scipy.sparse as sp

from analytics.core.errors import InvalidInput
from analytics.recommend.base import (
    BECAUSE_YOU_BOUGHT,
    LIKE_YOU,
    POPULAR,
    Recommender,
    sparse_rows_times_dense,
    strongest_contributor,
)
from analytics.recommend.interactions import Interactions

#: Scale of the popularity tie-break added to model scores (far below any real score difference).
TIE_BREAK = 1e-9


def popularity_tie_break(matrix: sp.csr_matrix) -> np.ndarray:
    """Per item, ``TIE_BREAK`` times its share of the most popular item's users."""
    counts = np.diff(matrix.tocsc().indptr).astype("float64")
    return TIE_BREAK * counts / max(counts.max(), 1.0)


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidInput(f"{name} must be a whole number >= 1, not {value!r}.")
    return int(value)


def _check_non_negative(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise InvalidInput(f"{name} must be a number >= 0, not {value!r}.")
    return float(value)


def keep_top_k(similarity: np.ndarray, k: int, axis: int) -> sp.csr_matrix:
    """Sparse copy of a dense similarity keeping the ``k`` largest positive entries per row (axis=1) or column."""
    dense = similarity if axis == 1 else similarity.T
    k = min(k, dense.shape[1])
    if k < dense.shape[1]:
        idx = np.argpartition(-dense, k - 1, axis=1)[:, :k]
    else:
        idx = np.broadcast_to(np.arange(dense.shape[1]), dense.shape)
    values = np.take_along_axis(dense, idx, axis=1)
    rows = np.repeat(np.arange(dense.shape[0]), idx.shape[1])
    keep = values.ravel() > 0
    out = sp.csr_matrix((values.ravel()[keep], (rows[keep], idx.ravel()[keep])), shape=dense.shape, dtype=np.float32)
    return out if axis == 1 else out.T.tocsr()


class _ItemItemScorer(Recommender):
    """Scores ``X[rows] @ S`` for an item x item matrix ``S`` (``similarity_``)."""

    similarity_: sp.csr_matrix
    tie_break_: np.ndarray

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        scores = (self.interactions_.matrix[rows] @ self.similarity_).toarray().astype("float64")
        return scores + self.tie_break_

    def _explain(self, row: int, cols: np.ndarray) -> list[tuple[str, int]]:
        X = self.interactions_
        seen = X.seen(row)
        weights = X.matrix[row].data.astype("float64")
        contributions = weights[:, None] * self.similarity_[seen][:, cols].toarray()
        because, strength = strongest_contributor(contributions, seen)
        return self._because_names(because, strength, BECAUSE_YOU_BOUGHT)

    def _similar_scores(self, col: int) -> np.ndarray:
        return np.asarray(self.similarity_[col].toarray()).ravel()


class ItemKNNRecommender(_ItemItemScorer):
    """Item-based collaborative filtering with cosine similarity.

    ``sim(i, j) = x_i . x_j / (|x_i| |x_j| + shrinkage)`` over the item
    columns; each item keeps its ``k`` most similar items; a user's score
    for ``i`` is ``sum_j x_uj sim(j, i)`` over their items.

    Parameters
    ----------
    k : int, default 100
        Neighbourhood size.
    shrinkage : float, default 0
        Damps similarities resting on few co-buyers.

    Examples
    --------
    >>> import pandas as pd
    >>> X = Interactions.from_frame(pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": list("ababa")}))
    >>> ItemKNNRecommender(k=5).fit(X).similar_items("a", n=1).item_ids
    ['b']
    """

    label = "item-kNN cosine"

    def __init__(self, k: int = 100, shrinkage: float = 0.0) -> None:
        self.k = k
        self.shrinkage = shrinkage

    def _fit(self, interactions: Interactions) -> None:
        k = _check_positive_int("k", self.k)
        shrinkage = _check_non_negative("shrinkage", self.shrinkage)
        M = interactions.matrix
        gram = np.asarray((M.T @ M).toarray(), dtype="float64")
        norms = np.sqrt(np.diag(gram))
        similarity = gram / (np.outer(norms, norms) + shrinkage + 1e-12)
        np.fill_diagonal(similarity, 0.0)
        # column i holds the neighbours of target item i
        self.similarity_ = keep_top_k(similarity, k, axis=0)
        self.tie_break_ = popularity_tie_break(M)


class EASERecommender(Recommender):
    """EASE: a closed-form item-item regression (Steck 2019).

    ``P = (XᵀX + Λ)⁻¹`` and ``B = I − P / diag(P)`` (column-wise), so
    ``B`` has a zero diagonal and ``X B`` reconstructs each item from the
    others. Strong on dense data like MovieLens.

    The penalty ``Λ`` is ``l2·I`` plus, with ``dropout`` ``p > 0``,
    ``p / (1 − p)·diag(XᵀX)``: the closed form of training with each input
    dropped with probability ``p`` (EDLAE, Steck 2020, "Autoencoders that
    don't overfit towards the identity"), which penalises popular items'
    weights more than rare ones'.

    Parameters
    ----------
    l2 : float, default 500
        Ridge penalty; larger for larger or denser data.
    dropout : float, default 0
        Input dropout probability, in [0, 1); 0 is plain EASE.
    """

    label = "EASE"

    def __init__(self, l2: float = 500.0, dropout: float = 0.0) -> None:
        self.l2 = l2
        self.dropout = dropout

    def _fit(self, interactions: Interactions) -> None:
        l2 = _check_non_negative("l2", self.l2)
        if l2 == 0:
            raise InvalidInput("l2 must be > 0: without it the Gram matrix is usually singular.")
        dropout = _check_non_negative("dropout", self.dropout)
        if dropout >= 1:
            raise InvalidInput(f"dropout must be below 1, not {self.dropout!r}.")
        M = interactions.matrix
        # items nobody interacted with get all-zero weights: leave them out of the inversion
        active = np.flatnonzero(np.diff(M.tocsc().indptr) > 0)
        sub = M[:, active]
        # single precision halves the cost of the inversion; the ridge keeps it well conditioned
        gram = np.asarray((sub.T @ sub).toarray(), dtype=np.float32)
        diagonal = np.diag_indices_from(gram)
        gram[diagonal] += np.float32(l2) + np.float32(dropout / (1.0 - dropout)) * gram[diagonal]
        factor, info = scipy.linalg.lapack.spotrf(gram, lower=False, overwrite_a=True)
        if info == 0:
            precision, info = scipy.linalg.lapack.spotri(factor, lower=False, overwrite_c=True)
        if info != 0:
            raise InvalidInput(f"the regularised Gram matrix is not positive definite (LAPACK info {info}); raise l2.")
        precision = np.triu(precision) + np.triu(precision, 1).T
        block = -precision / np.diag(precision)[None, :]
        np.fill_diagonal(block, 0.0)
        weights = np.zeros((M.shape[1], M.shape[1]), dtype=np.float32)
        weights[np.ix_(active, active)] = block
        self.weights_ = weights
        self.tie_break_ = popularity_tie_break(M)

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        scores = sparse_rows_times_dense(self.interactions_.matrix[rows], self.weights_)
        return scores + self.tie_break_

    def _explain(self, row: int, cols: np.ndarray) -> list[tuple[str, int]]:
        X = self.interactions_
        seen = X.seen(row)
        weights = X.matrix[row].data.astype("float64")
        contributions = weights[:, None] * self.weights_[np.ix_(seen, cols)]
        because, strength = strongest_contributor(contributions, seen)
        return self._because_names(because, strength, BECAUSE_YOU_BOUGHT)

    def _similar_scores(self, col: int) -> np.ndarray:
        return self.weights_[col].astype("float64")


class UserKNNRecommender(Recommender):
    """User-based collaborative filtering.

    Each user keeps their ``k`` most similar users (positive similarity
    only); the score of an item is the similarity-weighted sum of those
    neighbours' interactions with it.

    Parameters
    ----------
    k : int, default 50
        Neighbourhood size.
    similarity : {"cosine", "pearson"}
        Pearson correlates the full user rows (zeros included), which
        discounts heavy buyers.
    shrinkage : float, default 0
        Added to the denominator of the similarity.
    """

    label = "user-kNN"

    def __init__(self, k: int = 50, similarity: str = "cosine", shrinkage: float = 0.0) -> None:
        self.k = k
        self.similarity = similarity
        self.shrinkage = shrinkage

    def _fit(self, interactions: Interactions) -> None:
        k = _check_positive_int("k", self.k)
        shrinkage = _check_non_negative("shrinkage", self.shrinkage)
        if self.similarity not in ("cosine", "pearson"):
            raise InvalidInput(f"similarity must be 'cosine' or 'pearson', not {self.similarity!r}.")
        M = interactions.matrix
        gram = np.asarray((M @ M.T).toarray(), dtype="float64")
        if self.similarity == "cosine":
            norms = np.sqrt(np.diag(gram))
            similarity = gram / (np.outer(norms, norms) + shrinkage + 1e-12)
        else:
            n_items = M.shape[1]
            sums = np.asarray(M.sum(axis=1), dtype="float64").ravel()
            covariance = gram - np.outer(sums, sums) / n_items
            spread = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
            similarity = covariance / (np.outer(spread, spread) + shrinkage + 1e-12)
        np.fill_diagonal(similarity, 0.0)
        self.neighbours_ = keep_top_k(similarity, k, axis=1)
        self.tie_break_ = popularity_tie_break(M)

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        scores = (self.neighbours_[rows] @ self.interactions_.matrix).toarray().astype("float64")
        return scores + self.tie_break_

    def _explain(self, row: int, cols: np.ndarray) -> list[tuple[str, int]]:
        scores = (self.neighbours_[row] @ self.interactions_.matrix[:, cols]).toarray().ravel()
        return [(LIKE_YOU, -1) if s > 0 else (POPULAR, -1) for s in scores]


__all__ = ["EASERecommender", "ItemKNNRecommender", "UserKNNRecommender", "keep_top_k", "popularity_tie_break"]
