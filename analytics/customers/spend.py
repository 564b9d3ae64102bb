"""How much will each customer spend next quarter? Labels, the regression model and its honest comparison.

The question is asked at a cutoff, like the churn question
(:mod:`analytics.customers.churn.features`): the features are the same
:func:`~analytics.customers.churn.features.customer_features` of the orders
placed at or before the cutoff, and the target is the customer's spend in the
horizon after it, ``(cutoff, cutoff + horizon]`` (0 for customers who do not
come back).

- :func:`future_spend` builds the targets, :func:`spend_split` the past/future split;
- :class:`SpendModel` is a linear or polynomial (ridge) regression on the features;
- :func:`compare_spend_models` chooses the degree and the penalty on a validation
  split carved from the past and scores the models and two naive baselines once
  on the future (MSE, MAE, R²).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.customers.churn.features import (
    DateLike,
    TimeSplit,
    check_covers,
    check_cutoff,
    check_horizon,
    check_orders_frame,
    customer_features,
)

MODELS = ("linear", "polynomial")
#: ``log``: counts, amounts and day counts log1p-transformed; ``raw``: as they are.
FEATURE_SCALES = ("log", "raw")
#: The settings :func:`compare_spend_models` tries per model on the validation split.
GRIDS: dict[str, tuple[dict[str, Any], ...]] = {
    "linear": tuple({"features": f, "alpha": alpha} for f in FEATURE_SCALES for alpha in (0.0, 1.0, 10.0, 100.0)),
    "polynomial": tuple(
        {"features": f, "degree": degree, "alpha": alpha}
        for f in FEATURE_SCALES
        for degree in (2, 3)
        for alpha in (1.0, 10.0, 100.0, 1000.0)
    ),
}
#: Features kept on their own scale; every other one is a count, an amount or a number of days.
_SIGNED = ("spend_trend",)


# --------------------------------------------------------------------------- targets and split


def future_spend(orders: pd.DataFrame, cutoff: DateLike, horizon_days: int = 90) -> pd.Series:
    """Each customer's spend in ``(cutoff, cutoff + horizon_days]``, 0 if they do not order.

    Only customers with an order at or before ``cutoff`` get a value (the rows
    of ``customer_features`` at the same cutoff). Refuses data that end before
    ``cutoff + horizon_days``: spend would look low only because the data stop.

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": [1, 1, 2, 3], "order_id": [1, 2, 3, 4],
    ...     "placed_at": pd.to_datetime(["2011-01-01", "2011-02-01", "2011-01-05", "2011-05-01"]),
    ...     "amount": [10.0, 30.0, 5.0, 7.0]})
    >>> future_spend(orders, "2011-01-10", horizon_days=90).to_dict()
    {1: 30.0, 2: 0.0}
    """
    frame = check_orders_frame(orders)
    at = check_cutoff(cutoff)
    horizon = check_horizon(horizon_days)
    check_covers(frame, at, horizon)
    return _future_spend(frame, at, horizon)


def _future_spend(frame: pd.DataFrame, at: pd.Timestamp, horizon: int) -> pd.Series:
    customers = np.sort(frame.loc[frame["placed_at"] <= at, "customer_id"].unique())
    if len(customers) == 0:
        raise InvalidInput(f"no customer has an order at or before the cutoff {at}; pick a later cutoff.")
    window = frame[(frame["placed_at"] > at) & (frame["placed_at"] <= at + pd.Timedelta(days=horizon))]
    spend = window.groupby("customer_id")["amount"].sum().reindex(customers, fill_value=0.0)
    spend.index.name = "customer_id"
    spend.name = "future_spend"
    return spend.astype("float64")


#: Train on the past, test on the future (see :func:`spend_split`): the churn split's shape, spend as the label.
SpendSplit = TimeSplit


def spend_split(
    orders: pd.DataFrame, cutoff: DateLike, horizon_days: int = 90, lines: Optional[pd.DataFrame] = None
) -> SpendSplit:
    """Out-of-time train and test sets around ``cutoff``, with spend as the target.

    Train: features at ``cutoff - horizon``, spend in ``(cutoff - horizon,
    cutoff]``. Test: features at ``cutoff``, spend in ``(cutoff, cutoff +
    horizon]``. Nothing after ``cutoff`` is seen while learning.
    """
    frame = check_orders_frame(orders)
    at = check_cutoff(cutoff)
    horizon = check_horizon(horizon_days)
    check_covers(frame, at, horizon)
    train_at = at - pd.Timedelta(days=horizon)
    if not (frame["placed_at"] <= train_at).any():
        raise InvalidInput(
            f"no order is placed at or before {train_at:%Y-%m-%d} (cutoff - horizon), so there is nothing to train "
            f"on; the first order is on {frame['placed_at'].min():%Y-%m-%d}. Pick a later cutoff or a shorter horizon."
        )
    X_train = customer_features(frame, train_at, lines=lines)
    X_test = customer_features(frame, at, lines=lines)
    y_train = _future_spend(frame, train_at, horizon).reindex(X_train.index)
    y_test = _future_spend(frame, at, horizon).reindex(X_test.index)
    return SpendSplit(X_train, y_train, X_test, y_test, train_at, at, horizon)


# --------------------------------------------------------------------------- the model


def _check_X(X: Any, columns: Optional[list[str]] = None) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise InvalidInput("X must be a pandas DataFrame of features; build it with customer_features(orders, cutoff).")
    if X.empty:
        raise InvalidInput("X is empty: there are no customers. Check the cutoff and the orders frame.")
    if columns is not None:
        missing = [c for c in columns if c not in X.columns]
        if missing:
            raise InvalidInput(f"X lacks feature(s) {', '.join(missing)} the model was fitted on; build X as for fit.")
        X = X.loc[:, columns]
    try:
        values = X.to_numpy(dtype="float64")
    except (TypeError, ValueError) as exc:
        raise InvalidInput("X must hold numbers only; drop text or date columns.") from exc
    if not np.isfinite(values).all():
        bad = X.columns[~np.isfinite(values).all(axis=0)].tolist()
        raise InvalidInput(f"X has missing or infinite values in {', '.join(map(str, bad))}; fill or drop them.")
    return pd.DataFrame(values, index=X.index, columns=X.columns)


def _check_whole(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InvalidInput(f"{name} must be a whole number >= {low}, got {value!r}.")
    return int(value)


class SpendModel(RegressorMixin, BaseEstimator):
    """Expected spend of each customer in the horizon after the features' cutoff.

    Counts, amounts and day counts are right-skewed (a few wholesale buyers
    spend a hundred times the median). With ``features="log"`` every feature
    except ``spend_trend`` is log1p-transformed, which tames them; with
    ``"raw"`` they are kept as they are, so that a past spend can carry over
    pound for pound. Either way all are then standardised. The target stays in
    pounds, so the errors are in pounds too.

    Parameters
    ----------
    model : {"linear", "polynomial"}
        ``linear``: a linear regression on the transformed features;
        ``polynomial``: the same after :class:`~sklearn.preprocessing.PolynomialFeatures`
        of ``degree`` (all products of up to ``degree`` features), scaled again.
    degree : int, default 2
        Degree of the polynomial (``polynomial`` only).
    alpha : float, default 0.0
        Ridge penalty on the coefficients; 0 is ordinary least squares.
    features : {"log", "raw"}, default "log"
        How the features enter the regression (above).

    Attributes
    ----------
    pipeline_ : sklearn.pipeline.Pipeline
    feature_names_in_ : ndarray of str
    n_features_in_ : int

    Examples
    --------
    >>> split = spend_split(orders, "2011-09-01")  # doctest: +SKIP
    >>> model = SpendModel("polynomial", degree=2, alpha=10.0).fit(split.X_train, split.y_train)  # doctest: +SKIP
    >>> model.predict(split.X_test)  # doctest: +SKIP
    """

    def __init__(self, model: str = "linear", degree: int = 2, alpha: float = 0.0, features: str = "log") -> None:
        self.model = model
        self.degree = degree
        self.alpha = alpha
        self.features = features

    def _pipeline(self) -> Pipeline:
        if self.model not in MODELS:
            raise InvalidInput(f"model must be one of {', '.join(MODELS)}, got {self.model!r}.")
        if self.features not in FEATURE_SCALES:
            raise InvalidInput(f"features must be one of {', '.join(FEATURE_SCALES)}, got {self.features!r}.")
        alpha = self.alpha
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not np.isfinite(alpha) or alpha < 0:
            raise InvalidInput(f"alpha must be a number >= 0 (0: no penalty), got {alpha!r}.")
        regression = LinearRegression() if alpha == 0 else Ridge(alpha=float(alpha))
        steps: list[tuple[str, Any]] = [("scale", StandardScaler())]
        if self.model == "polynomial":
            degree = _check_whole(self.degree, "degree", 2)
            steps += [("poly", PolynomialFeatures(degree, include_bias=False)), ("rescale", StandardScaler())]
        return Pipeline([*steps, ("regression", regression)])

    def _transformed(self, X: pd.DataFrame) -> np.ndarray:
        if self.features == "raw":
            return X.to_numpy(dtype="float64")
        logged = X.copy()
        for column in X.columns:
            if column not in _SIGNED:
                logged[column] = np.log1p(X[column].clip(lower=0))
        return logged.to_numpy(dtype="float64")

    def fit(self, X: pd.DataFrame, y: Any) -> SpendModel:
        """Fit on features ``X`` (from ``customer_features``) and spends ``y`` (from :func:`future_spend`)."""
        pipeline = self._pipeline()
        X = _check_X(X)
        if isinstance(y, pd.Series) and not y.index.equals(X.index):
            if set(y.index) != set(X.index):
                raise InvalidInput("y and X describe different customers; build both with spend_split.")
            y = y.reindex(X.index)
        target = np.asarray(y, dtype="float64")
        if target.ndim != 1 or len(target) != len(X):
            raise InvalidInput(f"y must be one spend per row of X ({len(X)}), got shape {target.shape}.")
        if not np.isfinite(target).all():
            raise InvalidInput("y has missing or infinite spends; fill or drop them.")
        pipeline.fit(self._transformed(X), target)
        self.pipeline_ = pipeline
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Expected spend per row of ``X``, in the currency of the training target; never below 0."""
        if not hasattr(self, "pipeline_"):
            raise NotFittedError(self)
        checked = _check_X(X, list(self.feature_names_in_))
        return np.clip(np.asarray(self.pipeline_.predict(self._transformed(checked)), dtype="float64"), 0.0, None)


# --------------------------------------------------------------------------- comparison


def _metrics(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {
        "mse": float(mean_squared_error(y, predicted)),
        "mae": float(mean_absolute_error(y, predicted)),
        "r2": float(r2_score(y, predicted)),
    }


def compare_spend_models(
    orders: pd.DataFrame,
    cutoff: DateLike,
    horizon_days: int = 90,
    lines: Optional[pd.DataFrame] = None,
    grids: Optional[Mapping[str, Sequence[Mapping[str, Any]]]] = None,
) -> pd.DataFrame:
    """Choose each model's settings on the past, then score models and baselines once on the future.

    Three cutoffs one horizon apart, as in
    :func:`~analytics.customers.churn.compare.compare_models`: every setting
    of ``grids[model]`` (default :data:`GRIDS`) is fitted on features at
    ``cutoff - 2 x horizon`` and scored (MSE) on features at ``cutoff -
    horizon`` with the spend up to ``cutoff``; the best is refitted there and
    scored once on features at ``cutoff`` with the spend in the horizon after.

    Baselines: ``last quarter's spend`` predicts the spend of the
    ``horizon_days`` before the cutoff (``spend_90d`` scaled to the horizon),
    ``training mean`` the mean spend of the training customers.

    Returns
    -------
    DataFrame
        Indexed by model name: ``settings`` (text), ``val_mse``, and on the
        test set ``mse``, ``rmse``, ``mae`` and ``r2``. ``attrs`` holds the
        cutoffs, sizes, mean spends, ``tuning`` (every setting with its
        validation MSE, MAE and R²) and ``chosen_settings``.
    """
    split = spend_split(orders, cutoff, horizon_days=horizon_days, lines=lines)
    inner = spend_split(orders, split.train_cutoff, horizon_days=split.horizon_days, lines=lines)
    chosen_grids = dict(GRIDS if grids is None else grids)
    unknown = set(chosen_grids) - set(MODELS)
    if unknown:
        raise InvalidInput(f"grids name unknown model(s) {sorted(unknown)}; the models are {', '.join(MODELS)}.")
    y_val, y_test = inner.y_test.to_numpy(), split.y_test.to_numpy()
    rows: dict[str, dict[str, Any]] = {}
    tuning: list[dict[str, Any]] = []
    chosen: dict[str, dict[str, Any]] = {}
    for name in MODELS:
        grid = chosen_grids.get(name, ({},))
        if not grid:
            raise InvalidInput(f"the grid of {name!r} is empty; give at least one setting (an empty dict: defaults).")
        best: Optional[tuple[float, dict[str, Any]]] = None
        for settings in grid:
            model = SpendModel(name, **settings).fit(inner.X_train, inner.y_train)
            scores = _metrics(y_val, model.predict(inner.X_test))
            text = ", ".join(f"{k}={v}" for k, v in settings.items())
            tuning.append({"model": name, "settings": text} | {f"val_{k}": v for k, v in scores.items()})
            if best is None or scores["mse"] < best[0]:
                best = (scores["mse"], dict(settings))
        assert best is not None
        chosen[name] = best[1]
        final = SpendModel(name, **best[1]).fit(split.X_train, split.y_train)
        rows[name] = {"settings": ", ".join(f"{k}={v}" for k, v in best[1].items()), "val_mse": best[0]}
        rows[name] |= _metrics(y_test, final.predict(split.X_test))

    scale = split.horizon_days / 90
    baselines = {
        "last quarter's spend": (
            inner.X_test["spend_90d"].to_numpy() * scale,
            split.X_test["spend_90d"].to_numpy() * scale,
        ),
        "training mean": (
            np.full(len(y_val), inner.y_train.mean()),
            np.full(len(y_test), split.y_train.mean()),
        ),
    }
    for name, (val_prediction, test_prediction) in baselines.items():
        rows[name] = {"settings": "", "val_mse": _metrics(y_val, val_prediction)["mse"]}
        rows[name] |= _metrics(y_test, test_prediction)

    table = pd.DataFrame.from_dict(rows, orient="index")
    table.insert(table.columns.get_loc("mse") + 1, "rmse", np.sqrt(table["mse"]))
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
            "n_test": len(split.y_test),
            "train_mean_spend": float(split.y_train.mean()),
            "test_mean_spend": float(split.y_test.mean()),
            "test_share_spending": float((split.y_test > 0).mean()),
            "tuning": tuning,
            "chosen_settings": chosen,
        }
    )
    return table


__all__ = ["GRIDS", "MODELS", "SpendModel", "SpendSplit", "compare_spend_models", "future_spend", "spend_split"]
