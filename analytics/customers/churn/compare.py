"""Comparing the churn models: :func:`compare_models` tunes the models of
:class:`~analytics.customers.churn.model.ChurnModel` and the decision thresholds on a validation split
carved from the past, then scores them and any baselines (e.g. :func:`recency_rule`) once on the future.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Optional

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)

from analytics.core.errors import InvalidInput
from analytics.customers.churn.features import DateLike, TimeSplit, check_horizon, time_split
from analytics.customers.churn.model import MODELS, ChurnModel

#: A baseline scores customers from their features at a cutoff (and the cutoff itself, for baselines that
#: refit on the orders up to it): one probability of buying again per row.
Baseline = Callable[[pd.DataFrame, pd.Timestamp], np.ndarray]

#: The settings :func:`compare_models` tries per model on the validation split; the first is the default.
#: Kept small: each one is a fit on the validation split, on a two-core machine.
GRIDS: dict[str, tuple[dict[str, Any], ...]] = {
    "logistic": ({"C": 1.0}, {"C": 0.1}, {"C": 10.0}),
    "tree": ({"max_depth": 5}, {"max_depth": 3}, {"max_depth": 8}),
    "forest": ({"min_samples_leaf": 10}, {"min_samples_leaf": 3}, {"min_samples_leaf": 30}),
    "boosting": (
        {"learning_rate": 0.05, "max_iter": 100},
        {"learning_rate": 0.05, "max_iter": 300},
        {"learning_rate": 0.02, "max_iter": 200, "max_leaf_nodes": 15},
    ),
    "svm": (
        {"kernel": "rbf", "C": 1.0},
        {"kernel": "rbf", "C": 0.1},
        {"kernel": "rbf", "C": 10.0},
        {"kernel": "linear", "C": 0.1},
        {"kernel": "linear", "C": 1.0},
    ),
}


def recency_rule(horizon_days: int = 90) -> Baseline:
    """Baseline: "a customer who bought in the last ``horizon_days`` buys again".

    Scores ``2 ** (-recency_days / horizon_days)``: 1 for an order today, 0.5
    exactly at the horizon, so thresholding at 0.5 is the rule, and ROC-AUC
    ranks customers by recency. (:func:`compare_models` chooses its threshold
    on validation like every model's, i.e. the number of days that works best.)
    """
    horizon = check_horizon(horizon_days)

    def score(X: pd.DataFrame, _at: Optional[pd.Timestamp] = None) -> np.ndarray:
        return np.asarray(np.exp2(-X["recency_days"].to_numpy(dtype="float64") / horizon))

    return score


def best_f1_threshold(y: np.ndarray, proba: np.ndarray) -> float:
    """The probability threshold with the highest F1 for "buys again" on ``(y, proba)``.

    Examples
    --------
    >>> best_f1_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.35
    """
    precision, recall, thresholds = precision_recall_curve(y, proba)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)[:-1]
    return float(thresholds[int(np.argmax(f1))])


def _scores(y: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, float]:
    predicted = (proba >= threshold).astype("int64")
    return {
        "threshold": threshold,
        "accuracy": float(accuracy_score(y, predicted)),
        "precision": float(precision_score(y, predicted, zero_division=0)),
        "recall": float(recall_score(y, predicted, zero_division=0)),
        "f1": float(f1_score(y, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(y, proba)),
        "pr_auc": float(average_precision_score(y, proba)),
    }


def _baseline_proba(name: str, baseline: Baseline, X: pd.DataFrame, at: pd.Timestamp) -> np.ndarray:
    proba = np.asarray(baseline(X.copy(), at), dtype="float64").reshape(-1)
    if len(proba) != len(X) or not np.isfinite(proba).all() or (proba < 0).any() or (proba > 1).any():
        raise InvalidInput(
            f"baseline {name!r} must return one probability in [0, 1] per row of the features "
            f"({len(X)} rows), got {len(proba)} value(s)."
        )
    return proba


def _settings_text(settings: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items())


def compare_models(
    orders: pd.DataFrame,
    cutoff: DateLike,
    horizon_days: int = 90,
    lines: Optional[pd.DataFrame] = None,
    baselines: Optional[Mapping[str, Baseline]] = None,
    random_state: Optional[int] = 0,
    grids: Optional[Mapping[str, Sequence[Mapping[str, Any]]]] = None,
) -> pd.DataFrame:
    """Tune each model on the past, then score models and baselines once on the future.

    Three cutoffs one horizon apart, ending at ``cutoff``: *fit* (features at
    ``cutoff - 2 x horizon``), *validation* (features at ``cutoff - horizon``)
    and *test* (features at ``cutoff``), each labelled by the horizon after
    it. Validation labels end at ``cutoff``, so nothing after it is seen
    while choosing.

    1. Every setting of ``grids[model]`` (default :data:`GRIDS`) is fitted on
       the fit set; the one with the best validation ROC-AUC is kept.
    2. The decision threshold is the one with the best validation F1 for that
       model (:func:`best_f1_threshold`); baselines get theirs the same way.
    3. The chosen model is refitted on the validation set (the newest labelled
       past, the train set of :func:`time_split`) and scored on the test set,
       once.

    Besides the models there is a built-in ``recency rule``
    (:func:`recency_rule`) and one row per ``baselines`` entry: a function of
    the feature frame at a cutoff and that cutoff, returning the probability
    of buying again (e.g. a BG/NBD P(alive) fitted on the orders up to it).

    Returns
    -------
    DataFrame
        Indexed by model name, columns ``settings`` (the chosen ones, as text;
        empty for baselines), ``val_roc_auc``, ``threshold``, ``accuracy``,
        ``precision``, ``recall``, ``f1`` (at the threshold, class "buys
        again"), ``roc_auc``, ``pr_auc`` (average precision), ``fit_seconds``
        (NaN for baselines) and ``predict_seconds``. ``attrs`` holds the
        cutoffs, sizes and positive rates, ``tuning`` (one record per
        (model, setting) tried, with its validation ROC-AUC) and
        ``chosen_settings`` (model name to the chosen ``model_params``).
    """
    split = time_split(orders, cutoff, horizon_days=horizon_days, lines=lines)
    # the validation split: its train set is one horizon earlier, its test set is split's train set
    inner = time_split(orders, split.train_cutoff, horizon_days=split.horizon_days, lines=lines)
    chosen_grids = dict(GRIDS if grids is None else grids)
    unknown = set(chosen_grids) - set(MODELS)
    if unknown:
        raise InvalidInput(f"grids name unknown model(s) {sorted(unknown)}; the models are {', '.join(MODELS)}.")
    rows: dict[str, dict[str, Any]] = {}
    tuning: list[dict[str, Any]] = []
    chosen: dict[str, dict[str, Any]] = {}
    for name in MODELS:
        settings, val_auc, threshold = _tune(name, chosen_grids.get(name, ({},)), inner, random_state, tuning)
        chosen[name] = settings
        model = ChurnModel(name, split.horizon_days, random_state, model_params=settings, threshold=threshold)
        start = time.perf_counter()
        model.fit(split.X_train, split.y_train)
        fitted = time.perf_counter() - start
        start = time.perf_counter()
        proba = model.predict_proba(split.X_test)
        predicted = time.perf_counter() - start
        rows[name] = {"settings": _settings_text(settings), "val_roc_auc": val_auc}
        rows[name] |= _scores(split.y_test.to_numpy(), proba, threshold)
        rows[name] |= {"fit_seconds": fitted, "predict_seconds": predicted}

    all_baselines: dict[str, Baseline] = {"recency rule": recency_rule(split.horizon_days)}
    all_baselines.update(baselines or {})
    for name, baseline in all_baselines.items():
        if name in rows:
            raise InvalidInput(f"baseline name {name!r} is taken by a model; rename the baseline.")
        y_val = inner.y_test.to_numpy()
        val_proba = _baseline_proba(name, baseline, inner.X_test, inner.test_cutoff)
        threshold = best_f1_threshold(y_val, val_proba)
        start = time.perf_counter()
        proba = _baseline_proba(name, baseline, split.X_test, split.test_cutoff)
        predicted = time.perf_counter() - start
        rows[name] = {"settings": "", "val_roc_auc": float(roc_auc_score(y_val, val_proba))}
        rows[name] |= _scores(split.y_test.to_numpy(), proba, threshold)
        rows[name] |= {"fit_seconds": float("nan"), "predict_seconds": predicted}

    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    table.attrs.update(
        {
            "fit_cutoff": inner.train_cutoff,
            "validation_cutoff": inner.test_cutoff,
            "train_cutoff": split.train_cutoff,
            "test_cutoff": split.test_cutoff,
            "horizon_days": split.horizon_days,
            "n_fit": len(inner.y_train),
            "n_validation": len(inner.y_test),
            "n_train": len(split.y_train),
            "n_test": len(split.y_test),
            "fit_positive_rate": float(inner.y_train.mean()),
            "train_positive_rate": float(split.y_train.mean()),
            "test_positive_rate": float(split.y_test.mean()),
            "tuning": tuning,
            "chosen_settings": chosen,
        }
    )
    return table


def _tune(
    name: str,
    grid: Sequence[Mapping[str, Any]],
    inner: TimeSplit,
    random_state: Optional[int],
    tuning: list[dict[str, Any]],
) -> tuple[dict[str, Any], float, float]:
    """The setting of ``grid`` with the best validation ROC-AUC, that AUC, and its best-F1 threshold."""
    if not grid:
        raise InvalidInput(f"the grid of {name!r} is empty; give at least one setting (an empty dict: defaults).")
    y_val = inner.y_test.to_numpy()
    best: Optional[tuple[float, dict[str, Any], np.ndarray]] = None
    for settings in grid:
        model = ChurnModel(name, inner.horizon_days, random_state, model_params=dict(settings))
        proba = model.fit(inner.X_train, inner.y_train).predict_proba(inner.X_test)
        auc = float(roc_auc_score(y_val, proba))
        tuning.append({"model": name, "settings": _settings_text(settings), "val_roc_auc": auc})
        if best is None or auc > best[0]:
            best = (auc, dict(settings), proba)
    assert best is not None
    return best[1], best[0], best_f1_threshold(y_val, best[2])


__all__ = ["GRIDS", "Baseline", "best_f1_threshold", "compare_models", "recency_rule"]
