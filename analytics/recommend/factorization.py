"""Models from the ``implicit`` library behind the shared interface.

* :class:`ALSRecommender`: implicit-feedback matrix factorisation by
  alternating least squares (Hu, Koren & Volinsky 2008);
* :class:`BaggedALSRecommender`: the mean score of ALS fitted from several
  random starts (less seed-to-seed variance than one ALS);
* :class:`BPRRecommender`: Bayesian personalised ranking (Rendle et al. 2009);
* :class:`ImplicitItemKNN`: implicit's item-kNN with BM25, TF-IDF or cosine
  weighting.

``implicit`` runs its own threads; BLAS is held to one thread while fitting
(implicit warns otherwise, and both would fight over the same cores).
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from analytics.core.errors import InvalidInput
from analytics.recommend.base import BECAUSE_YOU_BOUGHT, LIKE_YOU, Recommender, strongest_contributor
from analytics.recommend.interactions import Interactions
from analytics.recommend.neighbours import _ItemItemScorer, popularity_tie_break


def _threads(num_threads: object) -> int:
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or not 1 <= num_threads <= 64:
        raise InvalidInput(f"num_threads must be a whole number from 1 to 64, not {num_threads!r}.")
    return num_threads


def _fit_quietly(make: Any, matrix: sp.csr_matrix) -> Any:
    """Build and fit an implicit model with BLAS on one thread (implicit checks at construction)."""
    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
        # implicit's BM25/TF-IDF re-weighting hands its own fit a COO matrix and then warns about it
        warnings.filterwarnings("ignore", message="Method expects CSR input", category=Warning)
        model = make()
        model.fit(matrix, show_progress=False)
    return model


class _FactorModel(Recommender):
    """Scores are dot products of user and item factors."""

    user_factors_: np.ndarray
    item_factors_: np.ndarray

    def _store_factors(self, model: Any) -> None:
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        self.item_factors_t_ = np.ascontiguousarray(self.item_factors_.T)
        norms = np.linalg.norm(self.item_factors_, axis=1)
        self.unit_item_factors_ = self.item_factors_ / np.where(norms > 0, norms, 1.0)[:, None]

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) <= 4:
            # one user while serving: a BLAS call would wake its thread pool for half a million flops
            return np.einsum("uf,fi->ui", self.user_factors_[rows], self.item_factors_t_).astype("float64")
        return (self.user_factors_[rows] @ self.item_factors_t_).astype("float64")

    def _similar_scores(self, col: int) -> np.ndarray:
        return (self.unit_item_factors_ @ self.unit_item_factors_[col]).astype("float64")

    similar_reason = "customers who like {name} tend to like this too"


class ALSRecommender(_FactorModel):
    """Alternating least squares on implicit feedback (``implicit``).

    Parameters follow ``implicit.als.AlternatingLeastSquares``: the
    confidence of an interaction is ``alpha * weight``.

    The explanation is exact: ALS's user factor is a linear function of the
    user's items, so a score splits into one contribution per seen item
    (Hu et al. 2008, section 5); the reason names the largest.

    Examples
    --------
    >>> import pandas as pd
    >>> X = Interactions.from_frame(pd.DataFrame({"user_id": [1, 1, 2], "item_id": ["a", "b", "a"]}))
    >>> ALSRecommender(factors=2, iterations=2, num_threads=1).fit(X).recommend(2, n=1).item_ids
    ['b']
    """

    label = "ALS (implicit)"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 1.0,
        iterations: int = 15,
        random_state: Optional[int] = 42,
        num_threads: int = 2,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.num_threads = num_threads

    def _fit(self, interactions: Interactions) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        threads = _threads(self.num_threads)
        model = _fit_quietly(
            lambda: AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=self.random_state,
                num_threads=threads,
            ),
            interactions.matrix,
        )
        self._store_factors(model)
        self.gram_ = (self.item_factors_.T @ self.item_factors_).astype("float64")

    def _contributions(self, row: int, cols: np.ndarray) -> np.ndarray:
        """``(n_seen, len(cols))``: what each seen item adds to each target's score (they sum to it)."""
        X = self.interactions_
        seen = X.seen(row)
        confidence = float(self.alpha) * X.matrix[row].data.astype("float64")
        Y = self.item_factors_.astype("float64")
        seen_factors = Y[seen]
        # W_u^-1 = YᵀY + Yᵀ(C_u - I)Y + λI, the matrix implicit solves for user u
        system = self.gram_ + (seen_factors.T * (confidence - 1.0)) @ seen_factors
        system[np.diag_indices_from(system)] += float(self.regularization)
        weighted = np.linalg.solve(system, Y[cols].T)  # W_u y_i per target
        return np.asarray(confidence[:, None] * (seen_factors @ weighted))

    def _explain(self, row: int, cols: np.ndarray) -> list[tuple[str, int]]:
        return _name_contributors(self.interactions_, row, self._contributions(row, cols))


def _name_contributors(X: Interactions, row: int, contributions: np.ndarray) -> list[tuple[str, int]]:
    because, strength = strongest_contributor(contributions, X.seen(row))
    return [
        (BECAUSE_YOU_BOUGHT.format(name=X.item_name(int(b))), int(b)) if b >= 0 and s > 0 else (LIKE_YOU, -1)
        for b, s in zip(because, strength)
    ]


class BaggedALSRecommender(_FactorModel):
    """The mean score of several ALS models that differ only in their random start.

    ALS's objective is not convex: each random initialisation ends in a
    different local optimum, and on MovieLens-100K one setting's validation
    nDCG@10 moves by about 0.004 from seed to seed. Averaging the scores of
    ``n_models`` fits (seeds ``random_state``, ``random_state + 1``, ...)
    removes most of that variance, as bagging does for any unstable learner.

    The mean of dot products is one dot product of the concatenated factors
    (user side scaled by ``1 / n_models``), so scoring costs what one ALS
    with ``n_models * factors`` factors costs. Each member's score splits
    exactly into one contribution per seen item (see :class:`ALSRecommender`);
    the mean of those splits the mean score, and the reason names the largest.

    Parameters
    ----------
    n_models : int, default 5
        Members of the average.
    factors, regularization, alpha, iterations, num_threads
        As :class:`ALSRecommender`, shared by every member.
    random_state : int, default 42
        Seed of the first member; member ``m`` uses ``random_state + m``.

    Attributes
    ----------
    members_ : list of ALSRecommender
        The fitted members.

    Examples
    --------
    >>> import pandas as pd
    >>> X = Interactions.from_frame(pd.DataFrame({"user_id": [1, 1, 2], "item_id": ["a", "b", "a"]}))
    >>> BaggedALSRecommender(n_models=3, factors=2, iterations=2, num_threads=1).fit(X).recommend(2, n=1).item_ids
    ['b']
    """

    label = "bagged ALS (implicit)"

    def __init__(
        self,
        n_models: int = 5,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 1.0,
        iterations: int = 15,
        random_state: int = 42,
        num_threads: int = 2,
    ) -> None:
        self.n_models = n_models
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.num_threads = num_threads

    def _fit(self, interactions: Interactions) -> None:
        n_models = self.n_models
        if isinstance(n_models, bool) or not isinstance(n_models, (int, np.integer)) or not 1 <= n_models <= 100:
            raise InvalidInput(f"n_models must be a whole number from 1 to 100, not {n_models!r}.")
        seed = self.random_state
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise InvalidInput(f"random_state must be a whole number (the first member's seed), not {seed!r}.")
        self.members_ = [
            ALSRecommender(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=int(seed) + m,
                num_threads=self.num_threads,
            ).fit(interactions)
            for m in range(int(n_models))
        ]
        self.user_factors_ = np.hstack([m.user_factors_ for m in self.members_]) / np.float32(n_models)
        self.item_factors_ = np.hstack([m.item_factors_ for m in self.members_])
        self.item_factors_t_ = np.ascontiguousarray(self.item_factors_.T)
        norms = np.linalg.norm(self.item_factors_, axis=1)
        self.unit_item_factors_ = self.item_factors_ / np.where(norms > 0, norms, 1.0)[:, None]

    def _explain(self, row: int, cols: np.ndarray) -> list[tuple[str, int]]:
        contributions = np.mean([m._contributions(row, cols) for m in self.members_], axis=0)
        return _name_contributors(self.interactions_, row, contributions)


class BPRRecommender(_FactorModel):
    """Bayesian personalised ranking (``implicit``); learns from pairwise
    "bought beats not bought" comparisons, so its reason is the collaborative
    one: popular with customers like you."""

    label = "BPR (implicit)"

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 100,
        random_state: Optional[int] = 42,
        num_threads: int = 2,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.random_state = random_state
        self.num_threads = num_threads

    def _fit(self, interactions: Interactions) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        threads = _threads(self.num_threads)
        model = _fit_quietly(
            lambda: BayesianPersonalizedRanking(
                factors=self.factors,
                learning_rate=self.learning_rate,
                regularization=self.regularization,
                iterations=self.iterations,
                random_state=self.random_state,
                num_threads=threads,
            ),
            interactions.matrix,
        )
        self._store_factors(model)


class ImplicitItemKNN(_ItemItemScorer):
    """implicit's item-item nearest neighbours (``BM25Recommender``,
    ``TFIDFRecommender``, ``CosineRecommender``).

    Parameters
    ----------
    weighting : {"bm25", "tfidf", "cosine"}
    K : int
        Neighbours kept per item.
    K1, B : float
        BM25 parameters (``weighting="bm25"`` only).
    """

    label = "item-kNN (implicit)"

    def __init__(self, weighting: str = "bm25", K: int = 100, K1: float = 1.2, B: float = 0.75, num_threads: int = 2):
        self.weighting = weighting
        self.K = K
        self.K1 = K1
        self.B = B
        self.num_threads = num_threads

    def _fit(self, interactions: Interactions) -> None:
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, TFIDFRecommender

        threads = _threads(self.num_threads)
        makers = {
            "bm25": lambda: BM25Recommender(K=self.K, K1=self.K1, B=self.B, num_threads=threads),
            "tfidf": lambda: TFIDFRecommender(K=self.K, num_threads=threads),
            "cosine": lambda: CosineRecommender(K=self.K, num_threads=threads),
        }
        if self.weighting not in makers:
            raise InvalidInput(f"weighting must be 'bm25', 'tfidf' or 'cosine', not {self.weighting!r}.")
        model = _fit_quietly(makers[self.weighting], interactions.matrix)
        self.similarity_ = sp.csr_matrix(model.similarity, dtype=np.float32)
        self.tie_break_ = popularity_tie_break(interactions.matrix)


__all__ = ["ALSRecommender", "BPRRecommender", "BaggedALSRecommender", "ImplicitItemKNN"]
