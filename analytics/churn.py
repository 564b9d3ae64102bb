"""Will this customer buy again in the next 90 days? Features, labels and models.

The question is asked at a *cutoff* date. Features describe each customer's
orders placed at or before the cutoff; the label says whether the customer
places another order in the *horizon* after it, ``(cutoff, cutoff + horizon]``.
The two windows never overlap, so nothing after the cutoff leaks into a
feature.

- :func:`customer_features` builds the feature frame (one row per customer).
- :func:`purchase_labels` builds the 0/1 labels ("buys again").
- :func:`time_split` trains on the past and tests on the future: train
  features at ``cutoff - horizon`` with labels in ``(cutoff - horizon,
  cutoff]``; test features at ``cutoff`` with labels in ``(cutoff, cutoff +
  horizon]``.
- :class:`ChurnModel` wraps four scikit-learn classifiers behind one
  interface, with model-agnostic explanations.
- :func:`compare_models` scores the four models and any baselines on one
  split.

Everything works on the ``orders`` (and optionally ``lines``) frames of
:mod:`analytics.frames`; inputs are checked with
:func:`analytics.frames.check_orders`, and bad input raises
:class:`~analytics.errors.InvalidInput` with a message that says what to fix.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Optional, Union

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from analytics.errors import InvalidInput, NotFittedError
from analytics.frames import check_lines, check_orders

DateLike = Union[str, datetime, date, np.datetime64]
Baseline = Callable[[pd.DataFrame], np.ndarray]

MODELS = ("logistic", "tree", "forest", "boosting")
WINDOWS = (30, 90, 180)
#: Features :func:`customer_features` returns, in order (``distinct_categories`` only with ``lines``).
FEATURES = (
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "tenure_days",
    "days_since_first_order",
    "gap_mean_days",
    "gap_std_days",
    "orders_30d",
    "orders_90d",
    "orders_180d",
    "spend_30d",
    "spend_90d",
    "spend_180d",
    "spend_trend",
)
CATEGORY_FEATURE = "distinct_categories"
#: Probability at or above which a customer is predicted to buy again.
THRESHOLD = 0.5
# Orders a little in the future are tolerated: stores keep naive times, and a
# clock a few hours ahead of UTC must not stop a refresh.
_FUTURE_SLACK = pd.Timedelta(days=1)
_DAY = pd.Timedelta(days=1)
# Contributions smaller than this (in churn probability) are not worth a sentence.
_MIN_EFFECT = 1e-3
# Training customers kept as starting points of the explanations.
_BACKGROUND_SIZE = 100


# --------------------------------------------------------------------------- validation


def _check_cutoff(cutoff: DateLike, name: str = "cutoff") -> pd.Timestamp:
    try:
        ts = pd.Timestamp(cutoff)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} {cutoff!r} is not a date; pass a date such as '2011-09-01'.") from exc
    if pd.isna(ts):
        raise InvalidInput(f"{name} is missing (NaT); pass a date such as '2011-09-01'.")
    if ts.tzinfo is not None:  # the store keeps naive UTC
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def _check_horizon(horizon_days: object) -> int:
    if isinstance(horizon_days, bool) or not isinstance(horizon_days, (int, np.integer)) or horizon_days < 1:
        raise InvalidInput(f"horizon_days must be a whole number of days >= 1, got {horizon_days!r}.")
    return int(horizon_days)


def _check_orders_frame(orders: pd.DataFrame) -> pd.DataFrame:
    """:func:`check_orders`, plus a refusal of orders dated after now (a clock or import error)."""
    frame = check_orders(orders)
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    future = frame["placed_at"] > now + _FUTURE_SLACK
    if future.any():
        raise InvalidInput(
            f"{int(future.sum())} order(s) are dated in the future (latest {frame['placed_at'].max()}, now is "
            f"{now:%Y-%m-%d %H:%M} UTC); fix their placed_at (times are naive UTC) or drop them."
        )
    return frame


def _check_lines(lines: pd.DataFrame) -> pd.DataFrame:
    return check_lines(lines, ("customer_id", "placed_at", "category"))


def _check_X(X: Any, columns: Optional[list[str]] = None) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise InvalidInput("X must be a pandas DataFrame of features; build it with customer_features(orders, cutoff).")
    if X.empty:
        raise InvalidInput("X is empty: there are no customers to score. Check the cutoff and the orders frame.")
    if columns is not None:
        missing = [c for c in columns if c not in X.columns]
        if missing:
            raise InvalidInput(
                f"X lacks feature(s) {', '.join(missing)} the model was fitted on; build X the same way as for fit "
                "(customer_features with or without lines)."
            )
        X = X.loc[:, columns]
    try:
        values = X.to_numpy(dtype="float64")
    except (TypeError, ValueError) as exc:
        raise InvalidInput("X must hold numbers only; drop text or date columns.") from exc
    if not np.isfinite(values).all():
        bad = X.columns[~np.isfinite(values).all(axis=0)].tolist()
        raise InvalidInput(f"X has missing or infinite values in {', '.join(map(str, bad))}; fill or drop them.")
    return pd.DataFrame(values, index=X.index, columns=X.columns)


def _check_y(y: object, X: pd.DataFrame) -> np.ndarray:
    if isinstance(y, pd.Series) and not y.index.equals(X.index):
        if set(y.index) != set(X.index):
            raise InvalidInput("y and X describe different customers; build both with time_split or from one cutoff.")
        y = y.reindex(X.index)
    values = np.asarray(y)
    if values.ndim != 1 or len(values) != len(X):
        raise InvalidInput(f"y must be one label per row of X ({len(X)}), got shape {values.shape}.")
    if pd.isna(values).any() or not np.isin(values, (0, 1)).all():
        raise InvalidInput("y must hold 0 (no order in the horizon) or 1 (buys again) only.")
    values = values.astype("int64")
    if len(np.unique(values)) < 2:
        only = "buys again" if values[0] == 1 else "does not buy again"
        raise InvalidInput(
            f"y has one class only (every customer {only}); pick a cutoff or horizon where both outcomes occur."
        )
    return values


# --------------------------------------------------------------------------- features and labels


def customer_features(orders: pd.DataFrame, cutoff: DateLike, lines: Optional[pd.DataFrame] = None) -> pd.DataFrame:
    """One row of features per customer, from the orders placed at or before ``cutoff``.

    Orders after ``cutoff`` are ignored, so adding them never changes a
    feature (no leakage into the label window ``(cutoff, cutoff + horizon]``).
    Customers with no order at or before the cutoff get no row.

    Parameters
    ----------
    orders : DataFrame
        The ``orders`` frame of :mod:`analytics.frames`.
    cutoff : date-like
        The moment the prediction is made.
    lines : DataFrame, optional
        The ``lines`` frame; when given, adds ``distinct_categories``.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` (sorted), float columns :data:`FEATURES`:

        - ``recency_days``: days from the last order to the cutoff;
        - ``frequency``: number of orders; ``monetary``: total spend;
          ``avg_order_value``: their ratio;
        - ``tenure_days``: days from the first to the last order;
          ``days_since_first_order``: from the first order to the cutoff;
        - ``gap_mean_days``, ``gap_std_days``: mean and (population) standard
          deviation of the days between consecutive orders. A one-order
          customer has no closed gap: the mean is the gap still open (days
          since that order, a lower bound of the first gap) and the std 0;
        - ``orders_{30,90,180}d``, ``spend_{30,90,180}d``: orders and spend in
          the last 30/90/180 days, ``(cutoff - w, cutoff]``;
        - ``spend_trend``: ``(last90 - prev90) / (last90 + prev90)``, from -1
          (spent only in days 91–180 before the cutoff) to +1 (only in the last
          90); 0 when both are zero;
        - ``distinct_categories`` (with ``lines``): product categories bought.

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": [1, 1, 2], "order_id": [1, 2, 3],
    ...     "placed_at": pd.to_datetime(["2011-01-01", "2011-02-01", "2011-01-15"]),
    ...     "amount": [10.0, 30.0, 5.0]})
    >>> customer_features(orders, "2011-03-01").loc[1, ["recency_days", "frequency", "monetary"]].tolist()
    [28.0, 2.0, 40.0]
    """
    frame = _check_orders_frame(orders)
    at = _check_cutoff(cutoff)
    past = frame[frame["placed_at"] <= at].sort_values(["customer_id", "placed_at", "order_id"])
    if past.empty:
        raise InvalidInput(
            f"no order is placed at or before the cutoff {at}; the first order is on "
            f"{frame['placed_at'].min()}. Pick a later cutoff."
        )
    age = (at - past["placed_at"]) / _DAY  # days before the cutoff, >= 0
    by = past.groupby("customer_id", sort=True)
    first = by["placed_at"].min()
    last = by["placed_at"].max()
    out = pd.DataFrame(index=first.index)
    out["recency_days"] = (at - last) / _DAY
    out["frequency"] = by.size().astype("float64")
    out["monetary"] = by["amount"].sum()
    out["avg_order_value"] = out["monetary"] / out["frequency"]
    out["tenure_days"] = (last - first) / _DAY
    out["days_since_first_order"] = (at - first) / _DAY

    gaps = past.groupby("customer_id")["placed_at"].diff() / _DAY
    gap_by = gaps.groupby(past["customer_id"])
    out["gap_mean_days"] = gap_by.mean().reindex(out.index).fillna(out["recency_days"])
    out["gap_std_days"] = gap_by.std(ddof=0).reindex(out.index).fillna(0.0)

    # "in the last w days" is (cutoff - w, cutoff]: age < w
    for w in WINDOWS:
        inside = age < w
        out[f"orders_{w}d"] = inside.groupby(past["customer_id"]).sum().astype("float64")
        out[f"spend_{w}d"] = past["amount"].where(inside, 0.0).groupby(past["customer_id"]).sum()
    last90 = out["spend_90d"]
    prev90 = out["spend_180d"] - out["spend_90d"]
    total = last90 + prev90
    out["spend_trend"] = ((last90 - prev90) / total.where(total > 0)).fillna(0.0)

    out = out.loc[:, list(FEATURES)]
    if lines is not None:
        checked = _check_lines(lines)
        before = checked[checked["placed_at"] <= at]
        categories = before.groupby("customer_id")["category"].nunique()
        out[CATEGORY_FEATURE] = categories.reindex(out.index).fillna(0).astype("float64")
    out.index.name = "customer_id"
    return out.astype("float64")


def _data_end(frame: pd.DataFrame) -> pd.Timestamp:
    return pd.Timestamp(frame["placed_at"].max())


def _labels(frame: pd.DataFrame, at: pd.Timestamp, horizon: int) -> pd.Series:
    customers = np.sort(frame.loc[frame["placed_at"] <= at, "customer_id"].unique())
    end = at + pd.Timedelta(days=horizon)
    window = frame[(frame["placed_at"] > at) & (frame["placed_at"] <= end)]
    labels = pd.Series(np.isin(customers, window["customer_id"].unique()).astype("int64"), index=customers)
    labels.index.name = "customer_id"
    labels.name = "buys_again"
    return labels


def purchase_labels(orders: pd.DataFrame, cutoff: DateLike, horizon_days: int = 90) -> pd.Series:
    """1 if the customer orders in ``(cutoff, cutoff + horizon_days]``, else 0.

    Only customers with an order at or before ``cutoff`` are labelled (the
    rows of :func:`customer_features` at the same cutoff). Refuses data that
    end before ``cutoff + horizon_days``: a customer would look lapsed only
    because the data stop.

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": [1, 1, 2], "order_id": [1, 2, 3],
    ...     "placed_at": pd.to_datetime(["2011-01-01", "2011-02-01", "2011-04-15"]),
    ...     "amount": [10.0, 30.0, 5.0]})
    >>> purchase_labels(orders, "2011-01-10", horizon_days=90).to_dict()
    {1: 1}
    """
    frame = _check_orders_frame(orders)
    at = _check_cutoff(cutoff)
    horizon = _check_horizon(horizon_days)
    _check_covers(frame, at, horizon)
    labels = _labels(frame, at, horizon)
    if labels.empty:
        raise InvalidInput(f"no customer has an order at or before the cutoff {at}; pick a later cutoff.")
    return labels


def _check_covers(frame: pd.DataFrame, at: pd.Timestamp, horizon: int) -> None:
    end = at + pd.Timedelta(days=horizon)
    data_end = _data_end(frame)
    if data_end < end:
        raise InvalidInput(
            f"the orders end on {data_end:%Y-%m-%d}, before cutoff + horizon ({end:%Y-%m-%d}); labels would call "
            f"customers lapsed only because the data stop. Use a cutoff on or before "
            f"{data_end - pd.Timedelta(days=horizon):%Y-%m-%d} or a shorter horizon."
        )


@dataclass(frozen=True)
class TimeSplit:
    """Train on the past, test on the future (see :func:`time_split`)."""

    X_train: pd.DataFrame
    y_train: pd.Series
    X_test: pd.DataFrame
    y_test: pd.Series
    train_cutoff: pd.Timestamp
    test_cutoff: pd.Timestamp
    horizon_days: int


def time_split(
    orders: pd.DataFrame, cutoff: DateLike, horizon_days: int = 90, lines: Optional[pd.DataFrame] = None
) -> TimeSplit:
    """Out-of-time train and test sets around ``cutoff``.

    Train: features at ``cutoff - horizon``, labels in ``(cutoff - horizon,
    cutoff]``. Test: features at ``cutoff``, labels in ``(cutoff, cutoff +
    horizon]``. The model never sees an order after ``cutoff`` while it
    learns, and it is scored on what happened next.

    Raises :class:`InvalidInput` when the orders end before ``cutoff +
    horizon``, when nobody has history before ``cutoff - horizon``, or when a
    set has only one class.

    Examples
    --------
    >>> split = time_split(orders, "2011-09-01", horizon_days=90)  # doctest: +SKIP
    >>> model = ChurnModel("forest").fit(split.X_train, split.y_train)  # doctest: +SKIP
    """
    frame = _check_orders_frame(orders)
    at = _check_cutoff(cutoff)
    horizon = _check_horizon(horizon_days)
    _check_covers(frame, at, horizon)
    train_at = at - pd.Timedelta(days=horizon)
    if not (frame["placed_at"] <= train_at).any():
        raise InvalidInput(
            f"no order is placed at or before {train_at:%Y-%m-%d} (cutoff - horizon), so there is nothing to train "
            f"on; the first order is on {frame['placed_at'].min():%Y-%m-%d}. Pick a later cutoff or a shorter horizon."
        )
    checked_lines = _check_lines(lines) if lines is not None else None
    parts = {}
    for name, when in (("train", train_at), ("test", at)):
        X = customer_features(frame, when, lines=checked_lines)
        y = _labels(frame, when, horizon).reindex(X.index)
        counts = y.value_counts()
        if len(counts) < 2:
            only = "buys again" if counts.index[0] == 1 else "does not buy again"
            raise InvalidInput(
                f"the {name} set ({len(y)} customers at {when:%Y-%m-%d}) has one class only: every customer {only}. "
                "Pick another cutoff or horizon, or load more customers."
            )
        parts[name] = (X, y)
    return TimeSplit(*parts["train"], *parts["test"], train_at, at, horizon)


# --------------------------------------------------------------------------- the model


def _make_pipeline(model: str, random_state: Optional[int]) -> Pipeline:
    if model == "logistic":
        return Pipeline(
            [
                ("scale", StandardScaler()),
                ("model", LogisticRegression(class_weight="balanced", max_iter=2000)),
            ]
        )
    if model == "tree":
        clf: Any = DecisionTreeClassifier(
            max_depth=5, min_samples_leaf=0.01, class_weight="balanced", random_state=random_state
        )
    elif model == "forest":
        clf = RandomForestClassifier(
            n_estimators=200, min_samples_leaf=10, class_weight="balanced", n_jobs=1, random_state=random_state
        )
    elif model == "boosting":
        clf = HistGradientBoostingClassifier(
            learning_rate=0.05, max_iter=100, class_weight="balanced", random_state=random_state
        )
    else:
        raise InvalidInput(f"model must be one of {', '.join(MODELS)}, got {model!r}.")
    return Pipeline([("model", clf)])


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _describe(feature: str, value: float) -> str:
    """A few words a customer-service agent can read: 'last order 210 days ago'."""
    n = f"{value:,.0f}"
    for w in WINDOWS:
        if feature == f"orders_{w}d":
            return f"{n} order(s) in the last {w} days"
        if feature == f"spend_{w}d":
            return f"{_money(value)} spent in the last {w} days"
    texts = {
        "recency_days": f"last order {n} days ago",
        "frequency": f"{n} order(s) so far",
        "monetary": f"{_money(value)} spent in total",
        "avg_order_value": f"average order of {_money(value)}",
        "tenure_days": f"{n} days between first and last order",
        "days_since_first_order": f"first order {n} days ago",
        "gap_mean_days": f"{n} days between orders on average",
        "gap_std_days": f"order gaps varying by {n} days",
        "spend_trend": (
            "spending up on the previous 90 days"
            if value > 0
            else "spending down on the previous 90 days"
            if value < 0
            else "spending flat on the previous 90 days"
        )
        + f" (trend {value:+.2f})",
        CATEGORY_FEATURE: f"bought from {n} categor{'y' if value == 1 else 'ies'}",
    }
    return texts.get(feature, f"{feature} = {value:g}")


class ChurnModel:
    """Probability that a customer buys again within the horizon, and why.

    Parameters
    ----------
    model : {"logistic", "tree", "forest", "boosting"}
        ``logistic``: standard scaling, then L2 logistic regression;
        ``tree``: a decision tree of depth 5 with leaves of at least 1% of the
        customers; ``forest``: 200 trees with leaves of at least 10
        customers; ``boosting``: ``HistGradientBoostingClassifier`` (learning
        rate 0.05, 100 iterations). Each is a scikit-learn ``Pipeline`` fitted
        with ``class_weight="balanced"``, so 0.5 separates the classes as if
        they were equally common.
    horizon_days : int
        The horizon the labels were built with (the probability is "buys
        within ``horizon_days``"); stored for the caller, not used in fitting.
    random_state : int or None
        Seed of the tree-based models.

    Attributes
    ----------
    pipeline_ : sklearn.pipeline.Pipeline
    feature_names_in_ : ndarray of str
    n_features_in_ : int
    medians_ : Series
        Training median of each feature (what a typical customer looks like).
    background_ : DataFrame
        Up to 100 training customers, the reference of :meth:`contributions`.
    base_rate_ : float
        Share of training customers who bought again.

    Notes
    -----
    :meth:`predict_proba` returns the probability of the positive class
    ("buys again") as a 1-d array, not scikit-learn's two-column array.

    Examples
    --------
    >>> split = time_split(orders, "2011-09-01")  # doctest: +SKIP
    >>> model = ChurnModel("logistic").fit(split.X_train, split.y_train)  # doctest: +SKIP
    >>> model.churn_risk(split.X_test).head()  # doctest: +SKIP
    >>> model.explain(split.X_test.loc[[12346]])  # doctest: +SKIP
    """

    def __init__(self, model: str = "logistic", horizon_days: int = 90, random_state: Optional[int] = 0) -> None:
        self.model = model
        self.horizon_days = horizon_days
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: Union[pd.Series, np.ndarray]) -> ChurnModel:
        """Fit on features ``X`` (from :func:`customer_features`) and 0/1 labels ``y``."""
        if self.model not in MODELS:
            raise InvalidInput(f"model must be one of {', '.join(MODELS)}, got {self.model!r}.")
        _check_horizon(self.horizon_days)
        X = _check_X(X)
        labels = _check_y(y, X)
        pipeline = _make_pipeline(self.model, self.random_state)
        pipeline.fit(X, labels)
        self.pipeline_ = pipeline
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.medians_ = X.median()
        self.base_rate_ = float(labels.mean())
        sample = np.random.default_rng(self.random_state).permutation(len(X))[:_BACKGROUND_SIZE]
        self.background_ = X.iloc[np.sort(sample)]
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "pipeline_"):
            raise NotFittedError(self)

    def _proba(self, X: pd.DataFrame) -> np.ndarray:
        classes = list(self.pipeline_.classes_)
        return np.asarray(self.pipeline_.predict_proba(X)[:, classes.index(1)], dtype="float64")

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probability that each customer (row of ``X``) buys again within the horizon, shape ``(n,)``."""
        self._check_fitted()
        return self._proba(_check_X(X, list(self.feature_names_in_)))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 (buys again) where :meth:`predict_proba` is at least :data:`THRESHOLD` (0.5), else 0."""
        return (self.predict_proba(X) >= THRESHOLD).astype("int64")

    def churn_risk(self, X: pd.DataFrame) -> pd.Series:
        """``1 - predict_proba(X)``, indexed like ``X`` (by customer)."""
        self._check_fitted()
        checked = _check_X(X, list(self.feature_names_in_))
        return pd.Series(1.0 - self._proba(checked), index=checked.index, name="churn_risk")

    def contributions(self, X: pd.DataFrame, n_permutations: int = 64) -> pd.DataFrame:
        """Each feature's signed share of each customer's churn risk, against the average customer.

        Method (the same for every model): take a training customer as the
        starting point, move their features to this customer's values one at
        a time in a random order, and record how much each step changes the
        predicted churn risk. A feature's contribution is its average step
        over ``n_permutations`` (order, training customer) pairs, half of the
        orders being the reverse of the other half. This estimates the
        interventional Shapley value against the training data, the quantity
        SHAP's permutation explainer estimates; the sample is drawn with the
        model's ``random_state``, so it is repeatable.

        Why not plain occlusion (one feature at a time back to its median):
        when several features say the same thing (a lapsed customer has a long
        recency *and* no orders in the last 30, 90 and 180 days) resetting any
        one leaves the others, a confident model does not move, and occlusion
        credits nothing. Averaging over orders shares the credit between
        them. For the logistic regression the log-odds terms would be exact,
        but on the probability scale they do not add up, so it gets the same
        treatment as the trees.

        Returns
        -------
        DataFrame
            Indexed like ``X``, one column per feature; positive raises churn
            risk. Each row sums exactly to ``churn risk of the customer -
            attrs["reference_risk"]`` (the mean churn risk of the sampled
            training customers, close to the average customer's); only the
            split between features is estimated.
        """
        self._check_fitted()
        if isinstance(n_permutations, bool) or not isinstance(n_permutations, (int, np.integer)) or n_permutations < 2:
            raise InvalidInput(f"n_permutations must be a whole number >= 2, got {n_permutations!r}.")
        checked = _check_X(X, list(self.feature_names_in_))
        names = list(self.feature_names_in_)
        d = len(names)
        rng = np.random.default_rng(self.random_state)
        half = [rng.permutation(d) for _ in range(n_permutations // 2)]
        orders = np.array(half + [p[::-1] for p in half])  # antithetic pairs
        n_pairs = len(orders)
        background = self.background_.to_numpy(dtype="float64")
        starts = background[np.tile(rng.choice(len(background), size=len(half)), 2)]  # (pairs, d)
        # masks[o, k] says which features hold the customer's value after k steps of order o
        masks = np.zeros((n_pairs, d + 1, d), dtype=bool)
        for o, order in enumerate(orders):
            for k in range(1, d + 1):
                masks[o, k, order[:k]] = True
        values = checked.to_numpy(dtype="float64")
        effects = np.zeros((len(values), d))
        chunk = max(1, 50_000 // (n_pairs * (d + 1)))  # bound the rows of one predict call
        for first in range(0, len(values), chunk):
            block = values[first : first + chunk]
            points = np.where(masks[None], block[:, None, None, :], starts[None, :, None, :])
            frame = pd.DataFrame(points.reshape(-1, d), columns=names)
            risk = (1.0 - self._proba(frame)).reshape(len(block), n_pairs, d + 1)
            steps = np.diff(risk, axis=2)  # step k of pair o sets feature orders[o, k]
            for o, order in enumerate(orders):
                effects[first : first + len(block), order] += steps[:, o, :]
        effects /= n_pairs
        result = pd.DataFrame(effects, index=checked.index, columns=names)
        result.attrs["reference_risk"] = float(np.mean(1.0 - self._proba(pd.DataFrame(starts, columns=names))))
        return result

    def explain(self, X: pd.DataFrame, top: int = 3, n_permutations: int = 64) -> pd.DataFrame:
        """The ``top`` features that move each customer's churn risk most, in words.

        Contributions come from :meth:`contributions` (Shapley values against
        the training customers, the same method for every model).
        Features whose contribution is below 0.001 in absolute value are left
        out, so a customer close to the typical one may get fewer than ``top``
        rows, or none.

        Returns
        -------
        DataFrame
            One row per (customer, rank) with columns ``customer_id``,
            ``rank`` (1 = largest effect), ``feature``, ``value``, ``median``,
            ``contribution`` (signed change in churn risk) and ``reason``, e.g.
            "last order 210 days ago (raises churn risk)".

        Examples
        --------
        >>> model.explain(X.loc[[17850]], top=2)["reason"].tolist()  # doctest: +SKIP
        ['last order 281 days ago (raises churn risk)', '0 order(s) in the last 180 days (raises churn risk)']
        """
        self._check_fitted()
        if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
            raise InvalidInput(f"top must be a whole number >= 1, got {top!r}.")
        effects = self.contributions(X, n_permutations=n_permutations)
        checked = _check_X(X, list(self.feature_names_in_))
        names = list(effects.columns)
        rows = []
        for customer, values, contribution in zip(checked.index, checked.to_numpy(), effects.to_numpy()):
            order = np.argsort(-np.abs(contribution), kind="stable")[:top]
            kept = [j for j in order if abs(contribution[j]) >= _MIN_EFFECT]
            for rank, j in enumerate(kept, start=1):
                c = float(contribution[j])
                direction = "raises churn risk" if c > 0 else "lowers churn risk"
                rows.append(
                    {
                        "customer_id": customer,
                        "rank": rank,
                        "feature": names[j],
                        "value": float(values[j]),
                        "median": float(self.medians_[names[j]]),
                        "contribution": c,
                        "reason": f"{_describe(names[j], float(values[j]))} ({direction})",
                    }
                )
        columns = ["customer_id", "rank", "feature", "value", "median", "contribution", "reason"]
        return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------- comparison


def recency_rule(horizon_days: int = 90) -> Baseline:
    """Baseline: "a customer who bought in the last ``horizon_days`` buys again".

    Scores ``2 ** (-recency_days / horizon_days)``: 1 for an order today, 0.5
    exactly at the horizon, so thresholding at 0.5 is the rule, and ROC-AUC
    ranks customers by recency.
    """
    horizon = _check_horizon(horizon_days)

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
