"""Splits and a small tuning loop for offline evaluation.

The splits follow microsoft/recommenders' ``python_stratified_split``
(every user, or every item, keeps ``ratio`` of its rows in train) and a
plain temporal cut-off for the shop's own data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Optional

import numpy as np
import pandas as pd

from analytics.core.errors import InvalidInput
from analytics.recommend.base import Recommender
from analytics.recommend.interactions import Interactions
from analytics.recommend.metrics import ranking_metrics


def stratified_split(
    frame: pd.DataFrame, ratio: float = 0.75, *, by: str = "user_id", seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-group random split: each value of ``by`` keeps ``round(ratio * n)`` of its rows in train.

    Examples
    --------
    >>> frame = pd.DataFrame({"user_id": [1] * 4 + [2] * 8, "item_id": range(12)})
    >>> train, test = stratified_split(frame, 0.75)
    >>> train.groupby("user_id").size().tolist(), test.groupby("user_id").size().tolist()
    ([3, 6], [1, 2])
    """
    if not 0 < ratio < 1:
        raise InvalidInput(f"ratio must be strictly between 0 and 1, not {ratio!r}.")
    if by not in frame.columns:
        raise InvalidInput(f"frame has no column {by!r} to stratify by.")
    noise = np.random.default_rng(seed).random(len(frame))
    order = np.lexsort((noise, frame[by].to_numpy()))
    shuffled = frame.iloc[order]
    position = shuffled.groupby(by, sort=False).cumcount().to_numpy()
    size = shuffled.groupby(by, sort=False)[by].transform("size").to_numpy()
    in_train = position < np.round(size * ratio)
    return shuffled[in_train].sort_index(), shuffled[~in_train].sort_index()


def temporal_split(
    frame: pd.DataFrame, cutoff: object, *, time: str = "placed_at"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows before ``cutoff`` and rows at or after it."""
    stamp = pd.Timestamp(cutoff)
    before = frame[time] < stamp
    return frame[before], frame[~before]


def evaluate(
    model: Recommender,
    truth: pd.DataFrame,
    *,
    k: int = 10,
    exclude_seen: bool = True,
    user: str = "user_id",
    item: str = "item_id",
) -> dict[str, float]:
    """Ranking metrics of a fitted model against held-out (user, item) pairs.

    Only users the model knows are scored; ``coverage`` is the share of the
    model's catalogue recommended to anyone.
    """
    X = model._check_fitted()
    known = truth[truth[user].map(X.has_user)]
    users = known[user].unique()
    recommended = model.recommend_batch(users, k, exclude_seen=exclude_seen)
    return ranking_metrics(known.rename(columns={user: "user_id", item: "item_id"}), recommended, k, n_items=X.n_items)


def grid_search(
    make: Callable[..., Recommender],
    grid: Iterable[Mapping[str, Any]],
    train: Interactions,
    validation: pd.DataFrame,
    *,
    k: int = 10,
    exclude_seen: bool = True,
    metric: Optional[str] = None,
    max_users: Optional[int] = None,
    seed: int = 0,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Fit ``make(**params)`` for every params of ``grid`` on ``train`` and
    score it on ``validation``; returns the best params and the full table.
    """
    metric = metric or f"ndcg@{k}"
    if max_users is not None:
        users = validation["user_id"].unique()
        if len(users) > max_users:
            keep = np.random.default_rng(seed).choice(users, max_users, replace=False)
            validation = validation[validation["user_id"].isin(keep)]
    rows = []
    for params in grid:
        start = time.perf_counter()
        model = make(**params).fit(train)
        fitted = time.perf_counter() - start
        scores = evaluate(model, validation, k=k, exclude_seen=exclude_seen)
        rows.append({"params": dict(params), **scores, "fit_seconds": fitted})
    if not rows:
        raise InvalidInput("grid is empty.")
    table = pd.DataFrame(rows).sort_values(metric, ascending=False, kind="stable").reset_index(drop=True)
    return dict(table.iloc[0]["params"]), table


def expand_grid(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    """Every combination of the given parameter values.

    Examples
    --------
    >>> expand_grid(k=[10, 20], shrinkage=[0.0])
    [{'k': 10, 'shrinkage': 0.0}, {'k': 20, 'shrinkage': 0.0}]
    """
    names = list(axes)
    combos: list[dict[str, Any]] = [{}]
    for name in names:
        combos = [{**combo, name: value} for combo in combos for value in axes[name]]
    return combos


__all__ = ["evaluate", "expand_grid", "grid_search", "stratified_split", "temporal_split"]
