"""Top-k ranking metrics with the definitions of microsoft/recommenders
(``recommenders.evaluation.python_evaluation``), so figures compare with
their published MovieLens benchmark.

Both frames are long: ``truth`` has the relevant (user, item) pairs,
``recommended`` the ranked lists (a ``rank`` column, 1 = best, or a
``score`` column to rank by). Only users present in both count
(``n_users``), and every such user counts, with or without a hit. For a
user with ``hits`` relevant items in the top ``k`` (at ranks ``r_1 < r_2 <
...``) out of ``n_rel`` relevant items:

* precision@k = ``hits / k``
* recall@k = ``hits / n_rel``
* nDCG@k = ``sum_j 1/log2(1 + r_j)`` divided by the ideal
  ``sum_{i=1..min(n_rel, k)} 1/log2(1 + i)`` (binary relevance)
* MAP@k = ``sum_j (j / r_j) / n_rel`` (the recommenders' ``map_at_k`` up to
  version 1.1, used in their published table)

each averaged over the users.

Examples
--------
>>> truth = pd.DataFrame({"user_id": [1, 1, 2], "item_id": ["a", "b", "c"]})
>>> recommended = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": ["a", "x", "y", "c"], "rank": [1, 2, 1, 2]})
>>> round(precision_at_k(truth, recommended, k=2), 3), round(recall_at_k(truth, recommended, k=2), 3)
(0.5, 0.75)
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

from analytics.core.errors import InvalidInput


def _hits(
    truth: pd.DataFrame, recommended: pd.DataFrame, k: int, user: str, item: str
) -> tuple[pd.DataFrame, pd.Series, int]:
    """Hits with their ranks, relevant counts per common user, and the number of common users."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidInput(f"k must be a whole number >= 1, not {k!r}.")
    for name, frame in (("truth", truth), ("recommended", recommended)):
        missing = [c for c in (user, item) if c not in frame.columns]
        if missing:
            raise InvalidInput(f"{name} frame lacks column(s) {', '.join(missing)}.")
    common = np.intersect1d(truth[user].unique(), recommended[user].unique())
    truth = truth[truth[user].isin(common)].drop_duplicates([user, item])
    ranked = recommended[recommended[user].isin(common)]
    if "rank" not in ranked.columns:
        if "score" not in ranked.columns:
            raise InvalidInput("recommended frame needs a rank or a score column.")
        ranked = ranked.sort_values([user, "score"], ascending=[True, False], kind="stable")
        ranked = ranked.assign(rank=ranked.groupby(user).cumcount() + 1)
    ranked = ranked[ranked["rank"] <= k]
    hits = ranked[[user, item, "rank"]].merge(truth[[user, item]], on=[user, item], how="inner")
    relevant = truth.groupby(user).size()
    return hits.sort_values([user, "rank"]), relevant, len(common)


def precision_at_k(
    truth: pd.DataFrame, recommended: pd.DataFrame, k: int = 10, *, user: str = "user_id", item: str = "item_id"
) -> float:
    """Mean share of the top ``k`` that is relevant (the module docstring defines it)."""
    hits, _, n_users = _hits(truth, recommended, k, user, item)
    return float(len(hits) / k / n_users) if n_users else 0.0


def recall_at_k(
    truth: pd.DataFrame, recommended: pd.DataFrame, k: int = 10, *, user: str = "user_id", item: str = "item_id"
) -> float:
    """Mean share of a user's relevant items found in the top ``k``."""
    hits, relevant, n_users = _hits(truth, recommended, k, user, item)
    if not n_users:
        return 0.0
    per_user = hits.groupby(user).size() / relevant.reindex(hits[user].unique())
    return float(per_user.sum() / n_users)


def ndcg_at_k(
    truth: pd.DataFrame, recommended: pd.DataFrame, k: int = 10, *, user: str = "user_id", item: str = "item_id"
) -> float:
    """Mean normalised discounted cumulative gain with binary relevance."""
    hits, relevant, n_users = _hits(truth, recommended, k, user, item)
    if not n_users:
        return 0.0
    dcg = (1.0 / np.log2(hits["rank"].to_numpy(dtype="float64") + 1.0)).astype("float64")
    dcg_per_user = pd.Series(dcg, index=hits[user].to_numpy()).groupby(level=0).sum()
    ideal_table = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    ideal = ideal_table[np.minimum(relevant.reindex(dcg_per_user.index).to_numpy(), k)]
    return float((dcg_per_user.to_numpy() / ideal).sum() / n_users)


def map_at_k(
    truth: pd.DataFrame, recommended: pd.DataFrame, k: int = 10, *, user: str = "user_id", item: str = "item_id"
) -> float:
    """Mean average precision at ``k``, divided by all of a user's relevant items."""
    hits, relevant, n_users = _hits(truth, recommended, k, user, item)
    if not n_users:
        return 0.0
    precision_at_hit = (hits.groupby(user).cumcount() + 1) / hits["rank"]
    per_user = precision_at_hit.groupby(hits[user]).sum() / relevant.reindex(hits[user].unique()).to_numpy()
    return float(per_user.sum() / n_users)


def catalog_coverage(recommended: pd.DataFrame, n_items: int, *, item: str = "item_id") -> float:
    """Share of the catalogue that appears in at least one list."""
    if n_items < 1:
        raise InvalidInput("n_items must be at least 1.")
    return float(recommended[item].nunique() / n_items)


def ranking_metrics(
    truth: pd.DataFrame,
    recommended: pd.DataFrame,
    k: int = 10,
    *,
    n_items: Optional[int] = None,
    user: str = "user_id",
    item: str = "item_id",
) -> dict[str, float]:
    """precision, recall, nDCG and MAP at ``k`` (and coverage with ``n_items``) in one dict."""
    out = {
        f"precision@{k}": precision_at_k(truth, recommended, k, user=user, item=item),
        f"recall@{k}": recall_at_k(truth, recommended, k, user=user, item=item),
        f"ndcg@{k}": ndcg_at_k(truth, recommended, k, user=user, item=item),
        f"map@{k}": map_at_k(truth, recommended, k, user=user, item=item),
    }
    if n_items is not None:
        out["coverage"] = catalog_coverage(recommended, n_items, item=item)
    return out


def ndcg_from_top(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    """nDCG@k from a boolean ``(users, k)`` hit array and relevant counts; same
    definition as :func:`ndcg_at_k`, for fast tuning loops.

    Examples
    --------
    >>> round(ndcg_from_top(np.array([[True, False], [False, True]]), np.array([1, 2]), 2), 4)
    0.6934
    """
    discounts = 1.0 / np.log2(np.arange(2, hits.shape[1] + 2))
    dcg = (hits * discounts).sum(axis=1)
    ideal_table = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    ideal = ideal_table[np.minimum(n_relevant, k)]
    valid = n_relevant > 0
    return float((dcg[valid] / ideal[valid]).sum() / max(valid.sum(), 1))


__all__ = [
    "catalog_coverage",
    "map_at_k",
    "ndcg_at_k",
    "ndcg_from_top",
    "precision_at_k",
    "ranking_metrics",
    "recall_at_k",
]
