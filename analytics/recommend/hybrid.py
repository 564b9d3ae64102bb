"""The hybrid: several recommenders blended, with cold start handled.

Blending
--------
Each component's scores for a user are normalised per user (``fusion``):

* ``"zscore"``: minus the mean, divided by the standard deviation over items;
* ``"max"``: divided by the largest score;
* ``"rank"``: reciprocal-rank fusion, ``1 / (60 + rank)``.

and summed with the component weights. :func:`tune_weights` picks weights
and fusion on a validation split.

Cold start
----------
* A new customer (unknown to the collaborative models) gets
  :meth:`HybridRecommender.recommend_for_context`: popularity in their
  segment (or overall) blended with content similarity to the products they
  mention or the words they type.
* A new product (no interactions yet) takes its score from the content
  component, scaled by ``cold_item_weight``, so it can be recommended to
  customers who bought similar things, and :meth:`similar_items` reaches it.

Explanations come from the component that contributed most to each item.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

import numpy as np
import pandas as pd

from analytics.core.errors import InvalidInput
from analytics.recommend.base import ALSO_BOUGHT, POPULAR, SIMILAR_TO, Recommendations, Recommender, _check_n, top_n
from analytics.recommend.content import ContentRecommender
from analytics.recommend.filters import Constraint
from analytics.recommend.interactions import Interactions
from analytics.recommend.metrics import ndcg_from_top
from analytics.recommend.popularity import PopularityRecommender, Segments

FUSIONS = ("zscore", "max", "rank")
RRF_K = 60.0


def normalise(scores: np.ndarray, fusion: str, ignore: Optional[np.ndarray] = None) -> np.ndarray:
    """Per-row normalisation of a ``(users, items)`` score array (module docstring).

    ``ignore`` (same shape, boolean) marks items left out of the statistics,
    typically what each user already has: a model that scores seen items
    high would otherwise squash the scale of the items that can actually be
    recommended. Ignored items are still transformed (ranked last for
    ``"rank"``).
    """
    scores = np.asarray(scores, dtype="float64")
    if fusion == "rank":
        ranked = scores if ignore is None else np.where(ignore, -np.inf, scores)
        ranks = np.empty_like(scores)
        order = np.argsort(-ranked, axis=1, kind="stable")
        np.put_along_axis(ranks, order, np.arange(scores.shape[1], dtype="float64")[None, :], axis=1)
        return 1.0 / (RRF_K + 1.0 + ranks)
    if fusion not in FUSIONS:
        raise InvalidInput(f"fusion must be one of {', '.join(FUSIONS)}, not {fusion!r}.")
    keep = np.ones_like(scores, dtype=bool) if ignore is None else ~ignore
    count = np.maximum(keep.sum(axis=1, keepdims=True), 1)
    if fusion == "zscore":
        kept = np.where(keep, scores, 0.0)
        mean = kept.sum(axis=1, keepdims=True) / count
        spread = np.sqrt(np.maximum((kept * kept).sum(axis=1, keepdims=True) / count - mean * mean, 0.0))
        return (scores - mean) / np.where(spread > 0, spread, 1.0)
    top = np.where(keep, np.abs(scores), 0.0).max(axis=1, keepdims=True)
    return scores / np.where(top > 0, top, 1.0)


def seen_mask(interactions: Interactions, rows: np.ndarray) -> np.ndarray:
    """Boolean ``(len(rows), n_items)``: what each user already has."""
    seen = interactions.matrix[rows]
    mask = np.zeros((len(rows), interactions.n_items), dtype=bool)
    mask[np.repeat(np.arange(len(rows)), np.diff(seen.indptr)), seen.indices] = True
    return mask


def clone(model: Recommender) -> Recommender:
    """An unfitted copy with the same hyperparameters."""
    return type(model)(**model.get_params())


class HybridRecommender(Recommender):
    """A weighted blend of recommenders that also serves new customers and products.

    Parameters
    ----------
    models : sequence of (name, Recommender)
        The components; they are cloned and fitted by :meth:`fit`. Include a
        :class:`~analytics.recommend.content.ContentRecommender` to reach new
        products and to match what a new customer mentions.
    weights : sequence of float, optional
        One per component (normalised to sum 1); default equal.
    fusion : {"zscore", "max", "rank"}
    segments : mapping, optional
        user id -> segment, for the popularity used in cold start.
    cold_item_weight : float, default 0.5
        Scale of a new product's content score in the blend.
    context_weight : float, default 0.6
        Share of content similarity (vs popularity) in
        :meth:`recommend_for_context`.
    normalise_unseen : bool, default True
        Normalise each user's scores over the items they do not have yet
        (right when seen items are excluded); ``False`` for "buy again"
        lists, where seen items compete.

    Attributes
    ----------
    models_ : dict
        name -> fitted component.
    weights_ : numpy.ndarray
    popularity_ : PopularityRecommender
    cold_items_ : numpy.ndarray
        Columns with no interaction.

    Examples
    --------
    >>> from analytics.recommend import EASERecommender, ItemKNNRecommender
    >>> X = Interactions.from_frame(pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": list("ababa")}))
    >>> hybrid = HybridRecommender([("knn", ItemKNNRecommender()), ("ease", EASERecommender(l2=1.0))])
    >>> hybrid.fit(X).recommend(3, n=1).item_ids
    ['b']
    """

    label = "hybrid"

    def __init__(
        self,
        models: Sequence[tuple[str, Recommender]],
        weights: Optional[Sequence[float]] = None,
        fusion: str = "zscore",
        segments: Optional[Segments] = None,
        cold_item_weight: float = 0.5,
        context_weight: float = 0.6,
        normalise_unseen: bool = True,
    ) -> None:
        self.models = models
        self.weights = weights
        self.fusion = fusion
        self.segments = segments
        self.cold_item_weight = cold_item_weight
        self.context_weight = context_weight
        self.normalise_unseen = normalise_unseen

    # -- fitting ----------------------------------------------------------------------------------------------------

    def _check_params(self) -> np.ndarray:
        if not self.models:
            raise InvalidInput("HybridRecommender needs at least one (name, recommender) pair.")
        names = [name for name, _ in self.models]
        if len(set(names)) != len(names):
            raise InvalidInput(f"component names must be distinct: {names}.")
        for name, model in self.models:
            if not isinstance(model, Recommender) or isinstance(model, HybridRecommender):
                raise InvalidInput(f"component {name!r} must be a Recommender (not a hybrid), not {model!r}.")
        if self.fusion not in FUSIONS:
            raise InvalidInput(f"fusion must be one of {', '.join(FUSIONS)}, not {self.fusion!r}.")
        weights = np.ones(len(self.models)) if self.weights is None else np.asarray(self.weights, dtype="float64")
        if weights.shape != (len(self.models),) or not np.isfinite(weights).all() or (weights < 0).any():
            raise InvalidInput(f"weights must be {len(self.models)} non-negative numbers, one per model.")
        if weights.sum() == 0:
            raise InvalidInput("at least one weight must be positive.")
        for name, value in (("cold_item_weight", self.cold_item_weight), ("context_weight", self.context_weight)):
            if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise InvalidInput(f"{name} must be between 0 and 1, not {value!r}.")
        return weights / weights.sum()

    def _fit(self, interactions: Interactions) -> None:
        self.weights_ = self._check_params()
        self.models_: dict[str, Recommender] = {name: clone(model).fit(interactions) for name, model in self.models}
        self._finish_fit(interactions)

    def _finish_fit(self, interactions: Interactions) -> None:
        self._last_parts_: Optional[tuple[tuple[int, ...], list[np.ndarray]]] = None
        self.popularity_ = PopularityRecommender(segments=self.segments).fit(interactions)
        self.content_: Optional[ContentRecommender] = next(
            (m for m in self.models_.values() if isinstance(m, ContentRecommender)), None
        )
        self.cold_items_ = np.flatnonzero(np.diff(interactions.matrix.tocsc().indptr) == 0)

    @classmethod
    def from_fitted(
        cls, models: Mapping[str, Recommender], weights: Optional[Sequence[float]] = None, **params: Any
    ) -> HybridRecommender:
        """A fitted hybrid over components already fitted on the same interactions."""
        fitted = list(models.items())
        hybrid = cls(fitted, weights=weights, **params)
        hybrid.weights_ = hybrid._check_params()
        interactions = fitted[0][1]._check_fitted()
        if any(m._check_fitted() is not interactions for _, m in fitted):
            raise InvalidInput("all components must be fitted on the same Interactions object.")
        hybrid.models_ = dict(fitted)
        hybrid._cosine_cache_ = None
        hybrid._finish_fit(interactions)
        hybrid.interactions_ = interactions
        return hybrid

    # -- scoring ----------------------------------------------------------------------------------------------------

    def _ignore(self, rows: np.ndarray) -> Optional[np.ndarray]:
        return seen_mask(self.interactions_, rows) if self.normalise_unseen else None

    def _parts(self, rows: np.ndarray) -> list[np.ndarray]:
        key = tuple(rows.tolist()) if len(rows) == 1 else None
        memo = getattr(self, "_last_parts_", None)
        if key is not None and memo is not None and memo[0] == key:
            return memo[1]  # recommend() scores, then _explain() asks again for the same user
        ignore = self._ignore(rows)
        parts = [
            w * normalise(model._score_rows(rows), self.fusion, ignore) if w > 0 else np.zeros((len(rows), 1))
            for w, model in zip(self.weights_, self.models_.values())
        ]
        if key is not None:
            self._last_parts_ = (key, parts)
        return parts

    def _blend(self, parts: list[np.ndarray], rows: np.ndarray) -> np.ndarray:
        scores = np.zeros((len(rows), self.interactions_.n_items))
        for part in parts:
            scores += part
        if self.content_ is not None and len(self.cold_items_):
            content = normalise(self.content_._score_rows(rows), self.fusion, self._ignore(rows))
            scores[:, self.cold_items_] = self.cold_item_weight * content[:, self.cold_items_]
        return scores

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return self._blend(self._parts(rows), rows)

    def _explain(self, row: int, cols: np.ndarray) -> list[tuple[str, int]]:
        rows = np.array([row])
        parts = np.vstack([np.broadcast_to(p[0], (self.interactions_.n_items,))[cols] for p in self._parts(rows)])
        leader = np.argmax(parts, axis=0)
        models = list(self.models_.values())
        cold = set(self.cold_items_.tolist())
        reasons: list[tuple[str, int]] = [("", -1)] * len(cols)
        for index in range(len(models)):
            chosen = [i for i in range(len(cols)) if leader[i] == index and int(cols[i]) not in cold]
            if chosen:
                for i, reason in zip(chosen, models[index]._explain(row, cols[chosen])):
                    reasons[i] = reason
        cold_positions = [i for i in range(len(cols)) if int(cols[i]) in cold]
        if cold_positions and self.content_ is not None:
            for i, reason in zip(cold_positions, self.content_._explain(row, cols[cold_positions])):
                reasons[i] = reason
        return reasons

    def _similar_scores(self, col: int) -> np.ndarray:
        if self.content_ is not None and col in set(self.cold_items_.tolist()):
            return self.content_._similar_scores(col)
        parts = [
            w * normalise(np.asarray(m._similar_scores(col))[None, :], self.fusion)[0]
            for w, m in zip(self.weights_, self.models_.values())
        ]
        scores = np.sum(parts, axis=0)
        if self.content_ is not None and len(self.cold_items_):
            content = normalise(self.content_._similar_scores(col)[None, :], self.fusion)[0]
            scores[self.cold_items_] = self.cold_item_weight * content[self.cold_items_]
        return scores

    def _similar_reasons(self, anchor: int, cols: np.ndarray) -> list[tuple[str, int]]:
        name = self.interactions_.item_name(anchor)
        cold = set(self.cold_items_.tolist()) if self.content_ is not None else set()
        if anchor in cold:
            return [(SIMILAR_TO.format(name=name), anchor)] * len(cols)
        return [
            (SIMILAR_TO.format(name=name) if int(c) in cold else ALSO_BOUGHT.format(name=name), anchor) for c in cols
        ]

    # -- cold start -------------------------------------------------------------------------------------------------

    def recommend_for_context(
        self,
        mentioned_item_ids: Iterable[Any] = (),
        text: Optional[str] = None,
        n: int = 10,
        *,
        segment: Optional[Any] = None,
        candidates: Optional[Iterable[Any]] = None,
        filters: Sequence[Constraint] = (),
    ) -> Recommendations:
        """Recommendations for someone with no history (a new customer or a visitor).

        Popularity in ``segment`` (or overall) blended with similarity to the
        products they mention (unknown ids are ignored) and to ``text``. The
        mentioned products themselves are left out.

        Without a content component, mentioned products are matched by the
        components' own item similarity, and ``text`` is refused.

        Raises
        ------
        NotFittedError, InvalidInput
        """
        X = self._check_fitted()
        n = _check_n(n)
        mentioned = X.item_cols(mentioned_item_ids, strict=False)
        popular = self.popularity_.scores_for_segment(segment)
        known_segment = segment if segment in self.popularity_.segment_scores_ else None
        if text and self.content_ is None:
            raise InvalidInput("matching free text needs a ContentRecommender among the hybrid's models.")
        if self.content_ is not None and (len(mentioned) or text):
            similar, explain_similar = self.content_.context_scores(mentioned, text)
        elif len(mentioned):
            per_item = np.vstack([self._similar_scores(int(c)) for c in mentioned])
            similar = per_item.mean(axis=0)

            def explain_similar(cols: np.ndarray) -> list[tuple[str, int]]:
                best = mentioned[np.argmax(per_item[:, cols], axis=0)]
                return [(f"goes with {X.item_name(int(b))}", int(b)) for b in best]

        else:
            similar = np.zeros(X.n_items)

            def explain_similar(cols: np.ndarray) -> list[tuple[str, int]]:
                return [(POPULAR, -1)] * len(cols)  # not reached: with nothing mentioned, popularity decides

        share = self.context_weight if (len(mentioned) or text) else 0.0
        part_similar = share * normalise(similar[None, :], "max")[0]
        part_popular = (1 - share) * normalise(popular[None, :], "max")[0]
        use_similar = (part_similar > part_popular) & (similar > 0)

        def explain(cols: np.ndarray) -> list[tuple[str, int]]:
            from_similar = explain_similar(cols) if use_similar[cols].any() else []
            from_popular = self.popularity_.explain_segment(known_segment, cols)
            return [from_similar[i] if use_similar[c] else from_popular[i] for i, c in enumerate(cols.tolist())]

        return self._select(
            part_similar + part_popular,
            n,
            exclude=mentioned,
            candidates=candidates,
            filters=filters,
            explain=explain,
        )


def _simplex(n_models: int, step: float) -> list[np.ndarray]:
    ticks = round(1 / step)
    grid = []
    for combo in itertools.product(range(ticks + 1), repeat=n_models):
        if sum(combo) == ticks:
            grid.append(np.asarray(combo, dtype="float64") / ticks)
    return grid


def tune_weights(
    models: Mapping[str, Recommender],
    validation: pd.DataFrame,
    *,
    k: int = 10,
    step: float = 0.1,
    fusions: Sequence[str] = FUSIONS,
    exclude_seen: bool = True,
    max_users: Optional[int] = 3000,
    seed: int = 0,
    user: str = "user_id",
    item: str = "item_id",
) -> tuple[np.ndarray, str, pd.DataFrame]:
    """Pick blend weights and fusion that maximise nDCG@k on a validation split.

    ``models`` are fitted on the same training :class:`Interactions`;
    ``validation`` holds the held-out (user, item) pairs. With
    ``exclude_seen`` the scores are normalised over unseen items (as
    ``HybridRecommender(normalise_unseen=True)`` does). Every point of a
    grid of step ``step`` on the weight simplex is tried with every fusion;
    component scores are computed once.

    Returns
    -------
    weights, fusion, table
        The best weights (sum 1), the best fusion, and a frame of every
        trial (``fusion``, ``weights``, ``ndcg``) sorted best first.
    """
    fitted = list(models.values())
    if not fitted:
        raise InvalidInput("tune_weights needs at least one fitted model.")
    X = fitted[0]._check_fitted()
    truth = validation[validation[user].map(X.has_user)]
    users = truth[user].unique()
    if max_users is not None and len(users) > max_users:
        users = np.random.default_rng(seed).choice(users, max_users, replace=False)
    rows = np.array([X.user_row(u) for u in users], dtype=np.int64)
    position = pd.Series(np.arange(len(users)), index=users)
    truth = truth[truth[user].isin(position.index)]
    relevant_cols = X.item_cols(truth[item], strict=False)
    known = truth[item].map(lambda i: i in X._item_index).to_numpy()
    relevant = np.zeros((len(users), X.n_items), dtype=bool)
    relevant[position[truth[user][known]].to_numpy(), relevant_cols] = True
    n_relevant = np.bincount(position[truth[user]].to_numpy(), minlength=len(users))
    seen = X.matrix[rows]
    seen_rows = np.repeat(np.arange(len(rows)), np.diff(seen.indptr))
    trials = []
    ignore = seen_mask(X, rows) if exclude_seen else None
    for fusion in fusions:
        parts = [normalise(m._score_rows(rows), fusion, ignore) for m in fitted]
        for weights in _simplex(len(fitted), step):
            blended = np.tensordot(weights, np.asarray(parts), axes=1)
            if exclude_seen:
                blended[seen_rows, seen.indices] = -np.inf
            hits = np.take_along_axis(relevant, top_n(blended, k), axis=1)
            trials.append({"fusion": fusion, "weights": tuple(weights), "ndcg": ndcg_from_top(hits, n_relevant, k)})
    table = pd.DataFrame(trials).sort_values("ndcg", ascending=False, kind="stable").reset_index(drop=True)
    best = table.iloc[0]
    return np.asarray(best["weights"]), str(best["fusion"]), table


__all__ = ["FUSIONS", "HybridRecommender", "clone", "normalise", "tune_weights"]
