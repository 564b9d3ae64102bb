"""The interface every recommender shares.

A subclass implements three hooks on matrix positions (rows are users,
columns are items of the fitted :class:`Interactions`):

* ``_fit(interactions)``: learn, setting attributes with a trailing underscore;
* ``_score_rows(rows)``: a dense ``(len(rows), n_items)`` score array, vectorised;
* ``_explain(row, cols)``: one ``(reason, because_col)`` per recommended column,
  where the reason is true for that item under the model.

and may override ``_similar_scores(col)`` (default: cosine of interaction
columns). The base class does the rest the same way for every model: id
lookups and their errors, excluding seen items, candidates, filters and
diversity re-ranking, top-n selection, and the batch path used for
evaluation.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Optional, TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.recommend.filters import Constraint, ItemFilter, Reranker
from analytics.recommend.interactions import Interactions

R = TypeVar("R", bound="Recommender")

BECAUSE_YOU_BOUGHT = "because you bought {name}"
SIMILAR_TO = "similar to {name}"
ALSO_BOUGHT = "customers who bought {name} also bought this"
LIKE_YOU = "popular with customers like you"
SEGMENT_LOVES = "customers in your segment ({segment}) love it"
BEST_SELLER = "one of our best sellers"
#: For an item a model ranks only by the popularity tie-break (no personal signal).
POPULAR = "popular with other customers"


@dataclass(frozen=True)
class Recommendation:
    """One recommended item.

    ``reason`` is a sentence fragment for the shopper ("because you bought
    Jumbo Bag Red Retrospot"); ``because_item_id`` is the item it names, if any.
    """

    item_id: Any
    score: float
    reason: str
    because_item_id: Any = None


class Recommendations(list[Recommendation]):
    """A list of :class:`Recommendation`, best first.

    ``empty_reason`` says why the list is empty when a constraint left
    nothing (``None`` otherwise).
    """

    def __init__(self, items: Iterable[Recommendation] = (), empty_reason: Optional[str] = None) -> None:
        super().__init__(items)
        self.empty_reason = empty_reason

    @property
    def item_ids(self) -> list[Any]:
        return [r.item_id for r in self]


def top_n(scores: np.ndarray, n: int) -> np.ndarray:
    """Columns of the ``n`` best scores per row, best first; ties go to the lower column.

    Deterministic even when ties straddle the cut (``argpartition`` alone
    would pick an arbitrary subset of them), so one user's list does not
    depend on how many users are scored together.
    """
    n_rows, n_cols = scores.shape
    k = min(n, n_cols)
    if k <= 0:
        return np.empty((n_rows, 0), dtype=np.int64)
    if k < n_cols:
        kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]
        above = scores > kth
        ties = scores == kth
        needed = k - above.sum(axis=1, keepdims=True)
        take = above | (ties & (np.cumsum(ties, axis=1) <= needed))
        part: np.ndarray = np.nonzero(take)[1].reshape(n_rows, k)
    else:
        part = np.broadcast_to(np.arange(n_cols), scores.shape).copy()
    values = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -values), axis=-1)
    return np.take_along_axis(part, order, axis=1)


def sparse_rows_times_dense(rows: sp.csr_matrix, dense: np.ndarray) -> np.ndarray:
    """``rows @ dense`` as float64, fast for the one-user case of serving.

    For a few rows, gathering the dense rows named by the non-zeros beats
    scipy's generic product by two orders of magnitude; ``dense`` must have
    the dtype of ``rows`` (a mismatch would copy the whole dense matrix).
    """
    if rows.shape[0] <= 4:
        out = np.zeros((rows.shape[0], dense.shape[1]), dtype="float64")
        for i in range(rows.shape[0]):
            start, end = rows.indptr[i], rows.indptr[i + 1]
            if end > start:
                out[i] = rows.data[start:end].astype(dense.dtype) @ dense[rows.indices[start:end]]
        return out
    return np.asarray(rows.astype(dense.dtype) @ dense, dtype="float64")


def _check_n(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidInput(f"n must be a whole number >= 1, not {n!r}.")
    return int(n)


def check_interactions(interactions: object) -> Interactions:
    """Recommenders are fitted on an :class:`Interactions`, nothing else."""
    if not isinstance(interactions, Interactions):
        raise InvalidInput(
            "fit needs an Interactions object; build one with Interactions.from_lines(lines) "
            "or Interactions.from_frame(frame, user=..., item=...)."
        )
    return interactions


def strongest_contributor(contributions: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a ``(len(seen), n_cols)`` contribution array: the seen column that
    contributes most to each target column, and its contribution."""
    if len(seen) == 0:
        return np.full(contributions.shape[1], -1), np.zeros(contributions.shape[1])
    best = np.argmax(contributions, axis=0)
    return seen[best], contributions[best, np.arange(contributions.shape[1])]


class Recommender:
    """Base class of the recommenders (scikit-learn conventions).

    ``__init__`` stores hyperparameters only; :meth:`fit` validates the data,
    sets learned attributes (trailing underscore) and returns ``self``; every
    other method raises :class:`~analytics.core.errors.NotFittedError` before.

    Examples
    --------
    >>> from analytics.recommend import Interactions, PopularityRecommender
    >>> X = Interactions.from_frame(pd.DataFrame({"user_id": [1, 2, 2, 3], "item_id": ["a", "a", "b", "c"]}))
    >>> [r.item_id for r in PopularityRecommender().fit(X).recommend(3, n=2)]
    ['a', 'b']
    """

    #: Label used in evaluation tables.
    label = "recommender"

    # -- hooks ----------------------------------------------------------------------------------------------------

    def _fit(self, interactions: Interactions) -> None:
        raise NotImplementedError

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _explain(self, row: int, cols: np.ndarray) -> list[tuple[str, int]]:
        return [(LIKE_YOU, -1)] * len(cols)

    def _similar_scores(self, col: int) -> np.ndarray:
        return self._cooccurrence_cosine(col)

    similar_reason = ALSO_BOUGHT

    # -- scikit-learn plumbing ------------------------------------------------------------------------------------

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def set_params(self: R, **params: Any) -> R:
        valid = self.get_params()
        for name, value in params.items():
            if name not in valid:
                raise InvalidInput(f"{type(self).__name__} has no parameter {name!r}; it has {', '.join(valid)}.")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if not isinstance(v, (dict, pd.Series)))
        return f"{type(self).__name__}({args})"

    # -- public API -----------------------------------------------------------------------------------------------

    def fit(self: R, interactions: Interactions) -> R:
        """Learn from ``interactions``; returns ``self``.

        Raises
        ------
        InvalidInput
            If ``interactions`` is not an :class:`Interactions` or a
            hyperparameter is out of range.
        """
        interactions = check_interactions(interactions)
        self._cosine_cache_: Optional[tuple[sp.csr_matrix, np.ndarray]] = None
        self._fit(interactions)
        self.interactions_ = interactions
        return self

    def _check_fitted(self) -> Interactions:
        if not hasattr(self, "interactions_"):
            raise NotFittedError(self)
        return self.interactions_

    def recommend(
        self,
        user_id: Any,
        n: int = 10,
        *,
        exclude_seen: bool = True,
        repeatable_items: Optional[Iterable[Any]] = None,
        candidates: Optional[Iterable[Any]] = None,
        filters: Sequence[Constraint] = (),
    ) -> Recommendations:
        """The ``n`` best items for a known user, each with its reason.

        Parameters
        ----------
        user_id
            A user of the fitted interactions.
        n : int
            At most this many items.
        exclude_seen : bool
            Leave out items the user already interacted with ...
        repeatable_items : iterable, optional
            ... except these (consumables people buy again).
        candidates : iterable, optional
            Rank only these items (unknown ids are ignored).
        filters : sequence of ItemFilter or Reranker
            Price, category and diversity constraints (:mod:`.filters`).

        Returns
        -------
        Recommendations
            Best first; empty with ``empty_reason`` set when the constraints
            leave nothing.

        Raises
        ------
        NotFittedError, UnknownUser, InvalidInput
        """
        X = self._check_fitted()
        n = _check_n(n)
        row = X.user_row(user_id)
        scores = np.asarray(self._score_rows(np.array([row])), dtype="float64")[0]
        seen = X.seen(row) if exclude_seen else np.empty(0, dtype=np.int64)
        if repeatable_items is not None and len(seen):
            seen = np.setdiff1d(seen, X.item_cols(repeatable_items, strict=False))
        return self._select(scores, n, row=row, exclude=seen, candidates=candidates, filters=filters)

    def recommend_batch(self, user_ids: Iterable[Any], n: int = 10, *, exclude_seen: bool = True) -> pd.DataFrame:
        """Top-``n`` of many users at once, for evaluation.

        Returns a long frame ``user_id, item_id, score, rank`` (rank 1 =
        best), the layout the metrics of :mod:`.metrics` take. No
        explanations, filters or candidates: those are per-user concerns.
        The order per user equals :meth:`recommend` with the same
        ``exclude_seen``.
        """
        X = self._check_fitted()
        n = _check_n(n)
        users = list(user_ids)
        rows = np.array([X.user_row(u) for u in users], dtype=np.int64)
        frames = []
        for start in range(0, len(rows), 1024):
            chunk = rows[start : start + 1024]
            scores = np.array(self._score_rows(chunk), dtype="float64")
            scores[~np.isfinite(scores)] = -np.inf
            if exclude_seen:
                seen = X.matrix[chunk]
                scores[np.repeat(np.arange(len(chunk)), np.diff(seen.indptr)), seen.indices] = -np.inf
            cols = top_n(scores, n)
            values = np.take_along_axis(scores, cols, axis=1)
            keep = np.isfinite(values)
            user_pos = np.repeat(np.arange(start, start + len(chunk)), cols.shape[1]).reshape(cols.shape)
            frames.append(
                pd.DataFrame(
                    {
                        "user_pos": user_pos[keep],
                        "item_id": X.item_ids[cols[keep]],
                        "score": values[keep],
                        "rank": np.broadcast_to(np.arange(1, cols.shape[1] + 1), cols.shape)[keep],
                    }
                )
            )
        out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["user_pos", "item_id"])
        out.insert(0, "user_id", np.asarray(users, dtype=object)[out.pop("user_pos").to_numpy(dtype=np.int64)])
        if len(out):
            out["user_id"] = out["user_id"].astype(pd.Series(users).dtype)
        return out

    def similar_items(self, item_id: Any, n: int = 10, *, filters: Sequence[Constraint] = ()) -> Recommendations:
        """Items most like ``item_id`` under this model, with a reason.

        Raises
        ------
        NotFittedError, UnknownItem, InvalidInput
        """
        X = self._check_fitted()
        n = _check_n(n)
        col = X.item_col(item_id)
        scores = np.asarray(self._similar_scores(col), dtype="float64")
        scores[scores <= 0] = -np.inf  # no similarity at all: not a "similar" item
        return self._select(
            scores, n, exclude=np.array([col]), filters=filters, explain=lambda cols: self._similar_reasons(col, cols)
        )

    def _similar_reasons(self, anchor: int, cols: np.ndarray) -> list[tuple[str, int]]:
        reason = self.similar_reason.format(name=self.interactions_.item_name(anchor))
        return [(reason, anchor)] * len(cols)

    # -- shared machinery -----------------------------------------------------------------------------------------

    def _select(
        self,
        scores: np.ndarray,
        n: int,
        *,
        row: Optional[int] = None,
        exclude: np.ndarray = np.empty(0, dtype=np.int64),  # noqa: B008 - never mutated
        candidates: Optional[Iterable[Any]] = None,
        filters: Sequence[Constraint] = (),
        explain: Any = None,
    ) -> Recommendations:
        """Apply the constraints to one score vector, rank, and explain."""
        X = self.interactions_
        allowed = np.isfinite(scores)
        where = ""
        if candidates is not None:
            cand = np.zeros(X.n_items, dtype=bool)
            cand[X.item_cols(candidates, strict=False)] = True
            allowed &= cand
            where = " among the candidates"
            if not allowed.any():
                return Recommendations(empty_reason="none of the candidate items is in the catalogue")
        if len(exclude):
            before = allowed.any()
            allowed[exclude] = False
            if before and not allowed.any():
                return Recommendations(empty_reason=f"every item{where} is one you already have")
            where += " that you do not have yet"
        rerankers: list[Reranker] = []
        for constraint in filters:
            if isinstance(constraint, Reranker):
                rerankers.append(constraint)
            elif isinstance(constraint, ItemFilter):
                allowed &= constraint.mask(X)
                if not allowed.any():
                    return Recommendations(empty_reason=f"no item {constraint.describe()}{where}")
            else:
                raise InvalidInput(f"filters take ItemFilter or Reranker objects, not {constraint!r}.")
        if not allowed.any():
            return Recommendations(empty_reason="no item can be recommended")
        masked = np.where(allowed, scores, -np.inf)
        pool = n * max([r.pool_factor for r in rerankers], default=1)
        cols = top_n(masked[None, :], pool)[0]
        cols = cols[np.isfinite(masked[cols])]
        for reranker in rerankers:
            cols = reranker.rerank(cols, masked[cols], X, n)
        cols = cols[:n]
        reasons = explain(cols) if explain is not None else self._explain(int(row), cols)  # type: ignore[arg-type]
        return Recommendations(
            Recommendation(
                item_id=_plain(X.item_ids[c]),
                score=float(masked[c]),
                reason=reason,
                because_item_id=None if because < 0 else _plain(X.item_ids[because]),
            )
            for c, (reason, because) in zip(cols, reasons)
        )

    def _cooccurrence_cosine(self, col: int) -> np.ndarray:
        """Cosine between item ``col``'s interaction column and every other."""
        if self._cosine_cache_ is None:
            X = self.interactions_.matrix if hasattr(self, "interactions_") else None
            assert X is not None
            XT = X.T.tocsr()
            norms = np.sqrt(np.asarray(XT.multiply(XT).sum(axis=1)).ravel())
            self._cosine_cache_ = (XT, norms)
        XT, norms = self._cosine_cache_
        dots = np.asarray((XT @ XT[col].T).todense()).ravel()
        denominator = norms * norms[col]
        return np.divide(dots, denominator, out=np.zeros_like(dots, dtype="float64"), where=denominator > 0)

    def _because_names(
        self, because: np.ndarray, strength: np.ndarray, template: str = BECAUSE_YOU_BOUGHT
    ) -> list[tuple[str, int]]:
        """Reasons naming the strongest seen item, or :data:`POPULAR` when none contributes."""
        X = self.interactions_
        return [
            (template.format(name=X.item_name(int(b))), int(b)) if b >= 0 and s > 0 else (POPULAR, -1)
            for b, s in zip(because, strength)
        ]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


__all__ = [
    "ALSO_BOUGHT",
    "BECAUSE_YOU_BOUGHT",
    "BEST_SELLER",
    "LIKE_YOU",
    "POPULAR",
    "SEGMENT_LOVES",
    "SIMILAR_TO",
    "Recommendation",
    "Recommendations",
    "Recommender",
    "check_interactions",
    "sparse_rows_times_dense",
    "strongest_contributor",
    "top_n",
]
