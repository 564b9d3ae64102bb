"""Graph models: item-item scores from the user-item graph.

RP3beta: item-item scores from a three-step random walk on the user-item graph.

Paudel, Christoffel, Mendez & Bernstein (2017), "Updatable, accurate,
diverse, and scalable recommendations for interactive applications", ACM
TiiS 7(1); found strong on MovieLens by Dacrema, Cremonesi & Jannach (2019),
"Are we really making much progress?".

A walk starts at an item the user has, steps to a random customer who has
that item, then to a random item of that customer. The probability of
landing on item ``j`` from item ``i`` is the item-item weight; dividing it by
``popularity(j) ** beta`` keeps the walk from always ending on best sellers.

GF-CF: a graph filter without training, Shen et al. (2021), "How Powerful
is Graph Convolution for Recommendation?", CIKM; see :class:`GFCFRecommender`.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from analytics.core.errors import InvalidInput
from analytics.recommend.base import BECAUSE_YOU_BOUGHT, Recommender, sparse_rows_times_dense, strongest_contributor
from analytics.recommend.interactions import Interactions
from analytics.recommend.neighbours import (
    _check_non_negative,
    _check_positive_int,
    _ItemItemScorer,
    keep_top_k,
    popularity_tie_break,
)


def _row_stochastic(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Each row divided by its sum (empty rows stay empty)."""
    sums = np.asarray(matrix.sum(axis=1), dtype="float64").ravel()
    scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    return sp.csr_matrix(sp.diags(scale) @ matrix)


class RP3betaRecommender(_ItemItemScorer):
    """Graph random walk with a popularity penalty (RP3beta).

    With ``P_ui`` the user-item matrix and ``P_iu`` the item-user matrix,
    each made row-stochastic and raised element-wise to ``alpha``, the
    weight from a seen item ``i`` to a target ``j`` is
    ``(P_iu P_ui)[i, j] / popularity(j) ** beta``; each seen item keeps its
    ``k`` strongest targets. A user's score for ``j`` is
    ``sum_i x_ui w(i, j)`` over their items, so the reason names the seen
    item that contributed most.

    Parameters
    ----------
    k : int, default 100
        Targets kept per seen item.
    alpha : float, default 1
        Exponent on the transition probabilities (1 is the plain walk;
        below 1 flattens them).
    beta : float, default 0.5
        Popularity penalty: 0 is the plain walk (P3alpha), larger values
        favour less popular items.

    Examples
    --------
    >>> import pandas as pd
    >>> X = Interactions.from_frame(pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": list("ababa")}))
    >>> RP3betaRecommender(k=5).fit(X).recommend(3, n=1).item_ids
    ['b']
    """

    label = "RP3beta"

    def __init__(self, k: int = 100, alpha: float = 1.0, beta: float = 0.5) -> None:
        self.k = k
        self.alpha = alpha
        self.beta = beta

    def _fit(self, interactions: Interactions) -> None:
        k = _check_positive_int("k", self.k)
        alpha = _check_non_negative("alpha", self.alpha)
        beta = _check_non_negative("beta", self.beta)
        if alpha == 0:
            raise InvalidInput("alpha must be > 0: at 0 every transition would weigh the same.")
        M = sp.csr_matrix(interactions.matrix, dtype="float64")
        user_to_item = _row_stochastic(M)
        item_to_user = _row_stochastic(sp.csr_matrix(M.T))
        if alpha != 1:
            user_to_item = user_to_item.power(alpha)
            item_to_user = item_to_user.power(alpha)
        walk = np.asarray((item_to_user @ user_to_item).toarray(), dtype="float64")
        degree = np.diff(M.tocsc().indptr).astype("float64")
        penalty = np.power(np.maximum(degree, 1.0), -beta)
        walk *= penalty[None, :]
        np.fill_diagonal(walk, 0.0)
        # row i holds the targets reached from seen item i
        self.similarity_ = keep_top_k(walk, k, axis=1)
        self.tie_break_ = popularity_tie_break(M)


class GFCFRecommender(Recommender):
    """GF-CF: a linear low-pass filter on the normalised user-item graph, no training.

    With ``R`` the user-item matrix and ``D_U``, ``D_I`` its user and item
    degrees, ``R̃ = D_U^-1/2 R D_I^-1/2``. The item-item weight matrix is

    ``W = R̃ᵀR̃ + alpha · D_I^-1/2 V Vᵀ D_I^1/2``

    where ``V`` holds the ``k`` leading right singular vectors of ``R̃`` (the
    eigenvectors of ``R̃ᵀR̃`` with the largest eigenvalues). The first term is
    a one-step smoothing of the graph (a normalised co-occurrence); the second
    an "ideal" low-pass filter that keeps only the ``k`` smoothest graph
    signals, like a truncated SVD. A user's score for ``j`` is
    ``sum_i x_ui W[i, j]`` over their items, so the reason names the seen item
    that contributed most. Fitting is one dense eigendecomposition of the
    item-item matrix: cheap for a few thousand items.

    Parameters
    ----------
    k : int, default 32
        Singular vectors kept by the ideal filter (at most the number of items).
    alpha : float, default 0.3
        Weight of the ideal filter; 0 keeps the smoothing term alone.

    Examples
    --------
    >>> import pandas as pd
    >>> X = Interactions.from_frame(pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": list("ababa")}))
    >>> GFCFRecommender(k=1).fit(X).recommend(3, n=1).item_ids
    ['b']
    """

    label = "GF-CF"

    def __init__(self, k: int = 32, alpha: float = 0.3) -> None:
        self.k = k
        self.alpha = alpha

    def _fit(self, interactions: Interactions) -> None:
        k = _check_positive_int("k", self.k)
        alpha = _check_non_negative("alpha", self.alpha)
        M = sp.csr_matrix(interactions.matrix, dtype="float64")
        user_degree = np.asarray(M.sum(axis=1), dtype="float64").ravel()
        item_degree = np.asarray(M.sum(axis=0), dtype="float64").ravel()
        inv_sqrt_user = np.divide(1.0, np.sqrt(user_degree), out=np.zeros_like(user_degree), where=user_degree > 0)
        inv_sqrt_item = np.divide(1.0, np.sqrt(item_degree), out=np.zeros_like(item_degree), where=item_degree > 0)
        normalised = sp.csr_matrix(sp.diags(inv_sqrt_user) @ M @ sp.diags(inv_sqrt_item))
        gram = np.asarray((normalised.T @ normalised).toarray(), dtype="float64")
        weights = gram.copy()
        if alpha > 0:
            n_items = gram.shape[0]
            k = min(k, n_items)
            # the top-k eigenvectors of R̃ᵀR̃ are R̃'s leading right singular vectors; eigh is deterministic
            _, vectors = scipy.linalg.eigh(gram, subset_by_index=[n_items - k, n_items - 1])
            ideal = (inv_sqrt_item[:, None] * vectors) @ (vectors.T * np.sqrt(item_degree)[None, :])
            weights += alpha * ideal
        self.weights_ = weights.astype(np.float32)
        self.tie_break_ = popularity_tie_break(M)

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        scores = sparse_rows_times_dense(self.interactions_.matrix[rows], self.weights_)
        return scores + self.tie_break_

    def _explain(self, row: int, cols: np.ndarray) -> list[tuple[str, int]]:
        X = self.interactions_
        seen = X.seen(row)
        contributions = X.matrix[row].data.astype("float64")[:, None] * self.weights_[np.ix_(seen, cols)]
        because, strength = strongest_contributor(contributions, seen)
        return self._because_names(because, strength, BECAUSE_YOU_BOUGHT)

    def _similar_scores(self, col: int) -> np.ndarray:
        scores = self.weights_[col].astype("float64")
        scores[col] = 0.0
        return scores


__all__ = ["GFCFRecommender", "RP3betaRecommender"]
