"""RP3beta: item-item scores from a three-step random walk on the user-item graph.

Paudel, Christoffel, Mendez & Bernstein (2017), "Updatable, accurate,
diverse, and scalable recommendations for interactive applications", ACM
TiiS 7(1); found strong on MovieLens by Dacrema, Cremonesi & Jannach (2019),
"Are we really making much progress?".

A walk starts at an item the user has, steps to a random customer who has
that item, then to a random item of that customer. The probability of
landing on item ``j`` from item ``i`` is the item-item weight; dividing it by
``popularity(j) ** beta`` keeps the walk from always ending on best sellers.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from analytics.core.errors import InvalidInput
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


__all__ = ["RP3betaRecommender"]
