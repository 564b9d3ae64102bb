"""The churn model: :class:`ChurnModel` wraps five scikit-learn classifiers behind one interface
(will this customer buy again in the horizon?), with model-agnostic explanations.

It takes the features and labels of :mod:`analytics.customers.churn.features`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional, Union

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.customers.churn.features import CATEGORY_FEATURE, WINDOWS, check_horizon
from analytics.customers.wording import ago, count, money, period, the_last

MODELS = ("logistic", "tree", "forest", "boosting", "svm")
#: Default probability at or above which a customer is predicted to buy again.
THRESHOLD = 0.5
# Contributions smaller than this (in churn probability) are not worth a sentence.
_MIN_EFFECT = 1e-3
# Training customers kept as starting points of the explanations.
_BACKGROUND_SIZE = 100


# --------------------------------------------------------------------------- input checks


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
    elif model == "svm":
        # margins depend on distances, so the features are scaled; probability=True adds Platt scaling
        # (fitted by internal cross-validation) so that the SVM gives probabilities like the others
        svc = SVC(kernel="rbf", C=1.0, probability=True, class_weight="balanced", random_state=random_state)
        return Pipeline([("scale", StandardScaler()), ("model", svc)])
    else:
        raise InvalidInput(f"model must be one of {', '.join(MODELS)}, got {model!r}.")
    return Pipeline([("model", clf)])


def describe(feature: str, value: float) -> str:
    """What a feature's value says about the customer, as an agent would put it.

    Counts agree with their noun, money is in pounds, and windows and gaps are
    in months or weeks when they are whole ones (see :mod:`analytics.customers.wording`).

    Examples
    --------
    >>> describe("orders_180d", 0), describe("spend_90d", 0), describe("frequency", 1)
    ('no orders in the last 6 months', '£0 spent in the last 3 months', '1 order so far')
    """
    days = round(value)
    for w in WINDOWS:
        if feature == f"orders_{w}d":
            return f"{'no orders' if days == 0 else count(days, 'order')} in {the_last(w)}"
        if feature == f"spend_{w}d":
            return f"{money(value)} spent in {the_last(w)}"
    if feature == "spend_trend":
        if abs(value) < 0.05:
            return "spent about the same in the last 3 months as in the 3 months before"
        return f"spent {'more' if value > 0 else 'less'} in the last 3 months than in the 3 months before"
    texts = {
        "recency_days": f"last order {ago(days)}",
        "frequency": f"{count(days, 'order')} so far",
        "monetary": f"{money(value)} spent in total",
        "avg_order_value": f"{money(value)} per order on average",
        "tenure_days": "all orders on one day" if days == 0 else f"first and last orders {period(days)} apart",
        "days_since_first_order": f"first order {ago(days)}",
        "gap_mean_days": f"{period(days)} between orders on average",
        "gap_std_days": f"gaps between orders varying by {period(days)}",
        CATEGORY_FEATURE: f"bought from {count(days, 'category', 'categories')}",
    }
    return texts.get(feature, f"{feature} = {value:g}")


class ChurnModel(BaseEstimator):
    """Probability that a customer buys again within the horizon, and why.

    Parameters
    ----------
    model : {"logistic", "tree", "forest", "boosting", "svm"}
        ``logistic``: standard scaling, then L2 logistic regression;
        ``tree``: a decision tree of depth 5 with leaves of at least 1% of the
        customers; ``forest``: 200 trees with leaves of at least 10
        customers; ``boosting``: ``HistGradientBoostingClassifier`` (learning
        rate 0.05, 100 iterations); ``svm``: standard scaling, then an RBF
        support vector classifier (C = 1) with Platt-scaled probabilities.
        Each is a scikit-learn ``Pipeline`` fitted with
        ``class_weight="balanced"``, so 0.5 separates the classes as if they
        were equally common.
    horizon_days : int
        The horizon the labels were built with (the probability is "buys
        within ``horizon_days``"); stored for the caller, not used in fitting.
    random_state : int or None
        Seed of the tree-based models and of the SVM's probability calibration.
    model_params : mapping, optional
        Settings of the classifier that replace the defaults above, e.g.
        ``{"C": 10.0, "kernel": "linear"}`` for ``svm`` or
        ``{"min_samples_leaf": 25}`` for ``forest`` (any parameter of the
        scikit-learn class). :func:`~analytics.customers.churn.compare.compare_models`
        chooses them on a validation split.
    threshold : float, default 0.5
        :meth:`predict` says "buys again" where the probability is at least this.

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

    def __init__(
        self,
        model: str = "logistic",
        horizon_days: int = 90,
        random_state: Optional[int] = 0,
        model_params: Optional[Mapping[str, Any]] = None,
        threshold: float = THRESHOLD,
    ) -> None:
        self.model = model
        self.horizon_days = horizon_days
        self.random_state = random_state
        self.model_params = model_params
        self.threshold = threshold

    def fit(self, X: pd.DataFrame, y: Union[pd.Series, np.ndarray]) -> ChurnModel:
        """Fit on features ``X`` (from :func:`customer_features`) and 0/1 labels ``y``."""
        if self.model not in MODELS:
            raise InvalidInput(f"model must be one of {', '.join(MODELS)}, got {self.model!r}.")
        check_horizon(self.horizon_days)
        X = _check_X(X)
        labels = _check_y(y, X)
        threshold = self.threshold
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
            raise InvalidInput(f"threshold must be a probability from 0 to 1, got {self.threshold!r}.")
        pipeline = _make_pipeline(self.model, self.random_state)
        settings = dict(self.model_params or {})
        try:
            pipeline.named_steps["model"].set_params(**settings)
            pipeline.fit(X, labels)
        except ValueError as exc:
            if not settings:
                raise
            raise InvalidInput(f"model_params {settings} do not suit the {self.model} model: {exc}") from None
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
        """1 (buys again) where :meth:`predict_proba` is at least ``threshold``, else 0."""
        return (self.predict_proba(X) >= self.threshold).astype("int64")

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

    def explain(
        self, X: pd.DataFrame, top: int = 3, n_permutations: int = 64, *, raising_only: bool = False
    ) -> pd.DataFrame:
        """The ``top`` features that move each customer's churn risk most, in words.

        Contributions come from :meth:`contributions` (Shapley values against
        the training customers, the same method for every model).
        Features whose contribution is below 0.001 in absolute value are left
        out, so a customer close to the typical one may get fewer than ``top``
        rows, or none. With ``raising_only``, only the features that raise the
        risk are kept: the answer to "why is this customer at risk?".

        Returns
        -------
        DataFrame
            One row per (customer, rank) with columns ``customer_id``,
            ``rank`` (1 = largest effect), ``feature``, ``value``, ``median``,
            ``contribution`` (signed change in churn risk), ``effect``
            ("raises churn risk" or "lowers churn risk") and ``reason``, what
            the value says in an agent's words, e.g. "last order 7 months ago"
            or "no orders in the last 6 months".

        Examples
        --------
        >>> model.explain(X.loc[[17850]], top=2)["reason"].tolist()  # doctest: +SKIP
        ['last order 281 days ago', 'no orders in the last 6 months']
        """
        self._check_fitted()
        if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
            raise InvalidInput(f"top must be a whole number >= 1, got {top!r}.")
        effects = self.contributions(X, n_permutations=n_permutations)
        checked = _check_X(X, list(self.feature_names_in_))
        names = list(effects.columns)
        rows = []
        for customer, values, contribution in zip(checked.index, checked.to_numpy(), effects.to_numpy()):
            effect = contribution if raising_only else np.abs(contribution)
            kept = [j for j in np.argsort(-effect, kind="stable")[:top] if effect[j] >= _MIN_EFFECT]
            for rank, j in enumerate(kept, start=1):
                c = float(contribution[j])
                rows.append(
                    {
                        "customer_id": customer,
                        "rank": rank,
                        "feature": names[j],
                        "value": float(values[j]),
                        "median": float(self.medians_[names[j]]),
                        "contribution": c,
                        "effect": "raises churn risk" if c > 0 else "lowers churn risk",
                        "reason": describe(names[j], float(values[j])),
                    }
                )
        columns = ["customer_id", "rank", "feature", "value", "median", "contribution", "effect", "reason"]
        return pd.DataFrame(rows, columns=columns)
