"""Forecasts that add up: product, category and shop forecasts reconciled over their hierarchy.

Forecasting every product, every category and the shop on its own gives
numbers that do not add up: the categories' forecasts are not the sums of
their products', nor the shop's the sum of the categories'. Reconciling
replaces them by coherent ones, ``y~ = S G y^``, where ``S`` sums the
products into every node (shop, categories, products) and ``G`` maps the
base forecasts ``y^`` of every node to product forecasts
(Wickramasuriya, Athanasopoulos & Hyndman 2019, "Optimal forecast
reconciliation for hierarchical and grouped time series through trace
minimization", JASA 114(526)):

- ``"bottom-up"``: the products' own forecasts, summed up (``G`` picks the products);
- ``"ols"``: ``G = (S'S)^-1 S'``, every node trusted alike;
- ``"wls"``: ``G = (S'W^-1 S)^-1 S'W^-1`` with ``W`` the diagonal of the
  base forecasts' error variances (the better a node is forecast, the less
  it moves);
- ``"mint-shrink"``: the same with ``W`` the error covariance, shrunk
  towards its diagonal with the Schäfer & Strimmer (2005) intensity, since
  a few dozen backtest errors cannot estimate the covariance of hundreds
  of series.

The variances come from ``residuals``: base forecast errors of every node,
one row per (backtest window, step). With ``nonnegative`` (the default,
demand is never negative), negative product forecasts after reconciling
are set to 0 and the rest summed up again, so the result stays coherent.

Why our own code and not ``hierarchicalforecast`` (1.5.3 installs with our
pins): the method is a few lines of linear algebra on a matrix of a few
hundred rows, it works on the forecasts and backtest errors this package
already has, and the application environment gains no packages.

Examples
--------
>>> hierarchy = pd.DataFrame({"product": ["A", "B"], "category": ["Candles", "Candles"]})
>>> base = pd.DataFrame({("shop", "all"): [12.0], ("category", "Candles"): [12.0],
...                      ("product", "A"): [4.0], ("product", "B"): [4.0]})
>>> HierarchyReconciler("ols").fit(hierarchy).transform(base).round(2).values.tolist()
[[11.2, 11.2, 5.6, 5.6]]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional, Union

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.forecast.demand_forecasters import make_forecaster
from analytics.forecast.demand_series import SHOP_KEY, check_count, check_freq

METHODS = ("bottom-up", "ols", "wls", "mint-shrink")
#: Methods that need the base forecasts' errors.
NEEDS_RESIDUALS = ("wls", "mint-shrink")
Hierarchy = Union[pd.DataFrame, Mapping[Any, Any]]


def check_hierarchy(hierarchy: Hierarchy) -> pd.Series:
    """Product -> category as a Series (products in the given order), or :class:`InvalidInput`.

    ``hierarchy`` is a frame with ``product`` and ``category`` columns (one
    row per product) or a mapping product -> category.
    """
    if isinstance(hierarchy, Mapping):
        frame = pd.DataFrame({"product": list(hierarchy.keys()), "category": list(hierarchy.values())})
    elif isinstance(hierarchy, pd.DataFrame):
        missing = [c for c in ("product", "category") if c not in hierarchy.columns]
        if missing:
            raise InvalidInput(f"the hierarchy needs columns product and category; it has no {', '.join(missing)}.")
        frame = hierarchy[["product", "category"]]
    else:
        raise InvalidInput(
            "the hierarchy must be a frame with product and category columns, or a dict product -> category."
        )
    if frame.empty:
        raise InvalidInput("the hierarchy has no products.")
    if frame["product"].isna().any():
        raise InvalidInput("the hierarchy has a row without a product; drop it.")
    no_category = frame.loc[frame["category"].isna() | (frame["category"].astype(str).str.strip() == ""), "product"]
    if len(no_category):
        shown = ", ".join(map(str, no_category.tolist()[:5]))
        raise InvalidInput(
            f"{len(no_category)} product(s) have no category ({shown}); give every product one "
            "(for example 'Other') so the category forecasts can add up."
        )
    twice = frame.loc[frame["product"].duplicated(), "product"]
    if len(twice):
        raise InvalidInput(f"product(s) listed twice in the hierarchy: {', '.join(map(str, twice.unique()[:5]))}.")
    return pd.Series(frame["category"].to_numpy(), index=pd.Index(frame["product"].to_numpy(), name="product"))


def summing_matrix(categories: pd.Series) -> tuple[pd.MultiIndex, np.ndarray]:
    """The nodes (``(level, key)``: the shop, the categories sorted, the products) and ``S`` (nodes x products)."""
    products = categories.index
    names = sorted(categories.unique(), key=str)
    nodes = pd.MultiIndex.from_tuples(
        [("shop", SHOP_KEY)] + [("category", c) for c in names] + [("product", p) for p in products],
        names=["level", "key"],
    )
    codes = pd.Index(names).get_indexer(categories.to_numpy())
    S = np.vstack(
        [
            np.ones((1, len(products))),
            (codes[None, :] == np.arange(len(names))[:, None]).astype("float64"),
            np.eye(len(products)),
        ]
    )
    return nodes, S


def _node_frame(
    frame: pd.DataFrame, nodes: pd.MultiIndex, what: str, needed: Optional[pd.MultiIndex] = None
) -> np.ndarray:
    """The columns ``nodes`` of ``frame`` (columns ``(level, key)`` tuples) as floats; 0 for nodes not needed."""
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput(f"{what} must be a DataFrame with one column per node, labelled (level, key).")
    columns = pd.Index(list(frame.columns))
    needed = nodes if needed is None else needed
    missing = [n for n in needed if n not in columns]
    if missing:
        shown = ", ".join(f"{level} {key!r}" for level, key in missing[:5])
        raise InvalidInput(f"{what} has no column for {len(missing)} node(s) of the hierarchy: {shown}.")
    out = np.zeros((len(frame), len(nodes)))
    for j, node in enumerate(nodes):
        if node in columns:
            out[:, j] = pd.to_numeric(frame[node], errors="coerce").to_numpy(dtype="float64")
    return out


def shrunk_covariance(residuals: np.ndarray) -> tuple[np.ndarray, float]:
    """The errors' covariance shrunk towards its diagonal, and the intensity (0 = sample, 1 = diagonal).

    Uncentred (forecast errors should average 0), with the Schäfer & Strimmer
    (2005) intensity ``sum Var(r_ij) / sum r_ij^2`` over the off-diagonal
    sample correlations, clipped to [0, 1]. A series whose errors are all 0
    gets a tiny variance so the matrix can be inverted.
    """
    n = residuals.shape[0]
    sample = residuals.T @ residuals / n
    variances = np.maximum(np.diag(sample), max(float(np.diag(sample).max()) * 1e-9, 1e-12))
    scaled = residuals / np.sqrt(variances)
    correlation = scaled.T @ scaled / n
    # Var(r_ij) = n / (n - 1)^3 * sum_k (x_ki x_kj - r_ij)^2, for every pair at once
    spread = n / (n - 1) ** 3 * ((scaled**2).T @ scaled**2 - n * correlation**2)
    off = ~np.eye(len(variances), dtype=bool)
    total = float((correlation[off] ** 2).sum())
    intensity = 1.0 if total == 0 else float(np.clip(spread[off].sum() / total, 0.0, 1.0))
    shrunk = (1 - intensity) * sample
    np.fill_diagonal(shrunk, variances)
    return shrunk, intensity


class HierarchyReconciler(BaseEstimator):
    """Make product, category and shop forecasts add up (module docstring).

    Parameters
    ----------
    method : {"bottom-up", "ols", "wls", "mint-shrink"}, default "mint-shrink"
    nonnegative : bool, default True
        Set negative product forecasts to 0 after reconciling (and sum up again).

    Attributes
    ----------
    nodes_ : pandas.MultiIndex
        ``(level, key)`` of every node: ``("shop", "all")``, the categories, the products.
    summing_ : numpy.ndarray
        ``S``, nodes x products.
    mapping_ : numpy.ndarray
        ``G``, products x nodes.
    shrinkage_ : float or None
        The shrinkage intensity of ``"mint-shrink"``.

    Examples
    --------
    See the module docstring.
    """

    def __init__(self, method: str = "mint-shrink", nonnegative: bool = True) -> None:
        self.method = method
        self.nonnegative = nonnegative

    def fit(self, hierarchy: Hierarchy, residuals: Optional[pd.DataFrame] = None) -> HierarchyReconciler:
        """Learn ``G`` from the hierarchy and, for ``"wls"`` and ``"mint-shrink"``, the base forecasts' errors.

        Parameters
        ----------
        hierarchy : DataFrame or dict
            Product -> category (:func:`check_hierarchy`).
        residuals : DataFrame, optional
            One column per node, labelled ``(level, key)`` as in ``nodes_``;
            one row per error (rows with a missing value are dropped).
        """
        if self.method not in METHODS:
            raise InvalidInput(f"method must be one of {', '.join(METHODS)}, not {self.method!r}.")
        if not isinstance(self.nonnegative, bool):
            raise InvalidInput(f"nonnegative must be True or False, not {self.nonnegative!r}.")
        nodes, S = summing_matrix(check_hierarchy(hierarchy))
        n_products = S.shape[1]
        self.shrinkage_: Optional[float] = None
        if self.method == "bottom-up":
            G = np.hstack([np.zeros((n_products, len(nodes) - n_products)), np.eye(n_products)])
        elif self.method == "ols":
            G = np.linalg.solve(S.T @ S, S.T)
        else:
            if residuals is None:
                raise InvalidInput(f"method {self.method!r} needs residuals: the base forecasts' errors per node.")
            errors = _node_frame(residuals, nodes, "residuals")
            errors = errors[np.isfinite(errors).all(axis=1)]
            if len(errors) < 2:
                raise InvalidInput("residuals need at least 2 rows without missing values for every node.")
            if self.method == "wls":
                W = np.diag(np.maximum((errors**2).mean(axis=0), max(float((errors**2).mean()) * 1e-9, 1e-12)))
            else:
                W, self.shrinkage_ = shrunk_covariance(errors)
            W_inv_S = np.linalg.solve(W, S)
            G = np.linalg.solve(S.T @ W_inv_S, W_inv_S.T)
        self.nodes_, self.summing_, self.mapping_ = nodes, S, G
        return self

    def transform(self, forecasts: pd.DataFrame) -> pd.DataFrame:
        """Coherent forecasts: a frame with the rows of ``forecasts`` and the columns ``nodes_``.

        ``forecasts`` has one column per node labelled ``(level, key)`` (for
        ``"bottom-up"`` the products suffice) and one row per horizon step.
        """
        if not hasattr(self, "mapping_"):
            raise NotFittedError(self)
        products = self.nodes_[self.nodes_.get_level_values("level") == "product"]
        needed = products if self.method == "bottom-up" else self.nodes_
        base = _node_frame(forecasts, self.nodes_, "forecasts", needed)
        if not np.isfinite(base).all():
            raise InvalidInput("forecasts must be finite numbers; fill or drop the missing ones first.")
        bottom = base @ self.mapping_.T
        if self.nonnegative:
            bottom = np.maximum(bottom, 0.0)
        return pd.DataFrame(bottom @ self.summing_.T, index=forecasts.index, columns=self.nodes_)


def aggregate(bottom: pd.DataFrame, hierarchy: Hierarchy) -> pd.DataFrame:
    """Every node's values from the products' (columns: product keys; missing values count as 0).

    Examples
    --------
    >>> frame = aggregate(pd.DataFrame({"A": [1.0, 2.0], "B": [3.0, 4.0]}), {"A": "Candles", "B": "Candles"})
    >>> frame[("shop", "all")].tolist()
    [4.0, 6.0]
    """
    categories = check_hierarchy(hierarchy)
    missing = [p for p in categories.index if p not in bottom.columns]
    if missing:
        raise InvalidInput(
            f"no values for {len(missing)} product(s) of the hierarchy: {', '.join(map(str, missing[:5]))}."
        )
    nodes, S = summing_matrix(categories)
    values = bottom[list(categories.index)].fillna(0.0).to_numpy(dtype="float64")
    return pd.DataFrame(values @ S.T, index=bottom.index, columns=nodes)


def base_forecasts(
    histories: Mapping[tuple[str, str], pd.Series], freq: str, season_length: int, horizon: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every node's own forecast and its backtest errors, as ``crm forecast demand`` makes them.

    ``histories`` maps ``(level, key)`` to the node's history (all ending
    with the same period); ``horizon`` counts steps of the histories' own
    calendar (open days for daily series). Each level is forecast by
    :func:`~analytics.forecast.demand_forecasters.make_forecaster` (the
    products as one group). Returns the forecasts (``horizon`` rows) and the
    errors of the combined forecast in the backtest windows (one row per
    window and step, NaN where a series was too short), both with one
    column per node, ready for :class:`HierarchyReconciler`.
    """
    horizon = check_count(horizon, "horizon", 1)
    freq = check_freq(freq)
    if not histories:
        raise InvalidInput("no histories to forecast.")
    forecasts: dict[tuple[str, str], np.ndarray] = {}
    errors: dict[tuple[str, str], np.ndarray] = {}
    for level in ("shop", "category", "product"):
        nodes = [node for node in histories if node[0] == level]
        if not nodes:
            continue
        forecaster = make_forecaster(freq, season_length, level, horizon)
        forecaster.fit([np.asarray(histories[node], dtype="float64") for node in nodes])
        point = forecaster.predict(horizon)
        for i, node in enumerate(nodes):
            forecasts[node] = point[i]
            errors[node] = forecaster.backtest_errors_[i].ravel()
    return pd.DataFrame(forecasts), pd.DataFrame(errors)


__all__ = [
    "METHODS",
    "HierarchyReconciler",
    "aggregate",
    "base_forecasts",
    "check_hierarchy",
    "shrunk_covariance",
    "summing_matrix",
]
