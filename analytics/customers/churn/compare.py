"""Comparing the churn models: :func:`compare_models` scores the four models of
:class:`~analytics.customers.churn.model.ChurnModel` and any baselines (e.g. :func:`recency_rule`)
on one past/future split.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Optional

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from analytics.core.errors import InvalidInput
from analytics.customers.churn.features import DateLike, check_horizon, time_split
from analytics.customers.churn.model import MODELS, THRESHOLD, ChurnModel

Baseline = Callable[[pd.DataFrame], np.ndarray]


# --------------------------------------------------------------------------- comparison


def recency_rule(horizon_days: int = 90) -> Baseline:
    """Baseline: "a customer who bought in the last ``horizon_days`` buys again".

    Scores ``2 ** (-recency_days / horizon_days)``: 1 for an order today, 0.5
    exactly at the horizon, so thresholding at 0.5 is the rule, and ROC-AUC
    ranks customers by recency.
    """
    horizon = check_horizon(horizon_days)

    def score(X: pd.DataFrame) -> np.ndarray:
        return np.asarray(np.exp2(-X["recency_days"].to_numpy(dtype="float64") / horizon))

    return score


def _scores(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    predicted = (proba >= THRESHOLD).astype("int64")
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "precision": float(precision_score(y, predicted, zero_division=0)),
        "recall": float(recall_score(y, predicted, zero_division=0)),
        "f1": float(f1_score(y, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(y, proba)),
    }


def compare_models(
    orders: pd.DataFrame,
    cutoff: DateLike,
    horizon_days: int = 90,
    lines: Optional[pd.DataFrame] = None,
    baselines: Optional[Mapping[str, Baseline]] = None,
    random_state: Optional[int] = 0,
) -> pd.DataFrame:
    """Score the four models and the baselines on one out-of-time split.

    The split is :func:`time_split` at ``cutoff``. Each model is fitted on the
    train set and scored on the test set. Besides the four models there is a
    built-in ``recency rule`` (:func:`recency_rule`) and one row per
    ``baselines`` entry: a function from the test feature frame to the
    probability of buying again (e.g. a BG/NBD P(alive)).

    Metrics are for the positive class "buys again". Accuracy, precision,
    recall and F1 predict "buys again" where the probability is >= 0.5
    (:data:`THRESHOLD`); ROC-AUC uses the probabilities themselves, so it
    does not depend on the threshold.

    Returns
    -------
    DataFrame
        Indexed by model name, columns ``accuracy``, ``precision``,
        ``recall``, ``f1``, ``roc_auc``, ``fit_seconds`` (NaN for baselines)
        and ``predict_seconds``. ``attrs`` holds the split's sizes, dates and
        positive rates.
    """
    split = time_split(orders, cutoff, horizon_days=horizon_days, lines=lines)
    y_test = split.y_test.to_numpy()
    rows: dict[str, dict[str, float]] = {}
    for name in MODELS:
        model = ChurnModel(name, horizon_days=split.horizon_days, random_state=random_state)
        start = time.perf_counter()
        model.fit(split.X_train, split.y_train)
        fitted = time.perf_counter() - start
        start = time.perf_counter()
        proba = model.predict_proba(split.X_test)
        predicted = time.perf_counter() - start
        rows[name] = _scores(y_test, proba) | {"fit_seconds": fitted, "predict_seconds": predicted}

    all_baselines: dict[str, Baseline] = {"recency rule": recency_rule(split.horizon_days)}
    all_baselines.update(baselines or {})
    for name, baseline in all_baselines.items():
        if name in rows:
            raise InvalidInput(f"baseline name {name!r} is taken by a model; rename the baseline.")
        start = time.perf_counter()
        proba = np.asarray(baseline(split.X_test.copy()), dtype="float64").reshape(-1)
        predicted = time.perf_counter() - start
        if len(proba) != len(y_test) or not np.isfinite(proba).all() or (proba < 0).any() or (proba > 1).any():
            raise InvalidInput(
                f"baseline {name!r} must return one probability in [0, 1] per row of the test features "
                f"({len(y_test)} rows), got {len(proba)} value(s)."
            )
        rows[name] = _scores(y_test, proba) | {"fit_seconds": float("nan"), "predict_seconds": predicted}

    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    table.attrs.update(
        {
            "train_cutoff": split.train_cutoff,
            "test_cutoff": split.test_cutoff,
            "horizon_days": split.horizon_days,
            "n_train": len(split.y_train),
            "n_test": len(split.y_test),
            "train_positive_rate": float(split.y_train.mean()),
            "test_positive_rate": float(split.y_test.mean()),
        }
    )
    return table
