"""Choose or combine forecasters per series by a rolling-origin backtest on the history.

The backtest never looks past the history given to ``fit``: with
``n_windows`` windows of ``horizon`` steps, window ``i`` trains every
candidate on the values before ``n - horizon * (n_windows - i)`` and scores
its forecast of the next ``horizon`` values. Candidates are then

- ``combine="best"``: the one with the lowest mean backtest error is kept;
- ``combine="median"``: all kept, the forecast is their step-wise median;
- ``combine="inverse-error"``: all kept, weighted by ``1 / error``;
- ``combine="best-combination"``: the equal-weight mean of the one, two or
  three candidates whose combined backtest error is lowest.

The error (``metric``) is the M4 one by default: ``"owa"``, the mean of
sMAPE and MAE each relative to those of the seasonal naive forecast (period
``season_length``; plain naive when it is 1) on the same windows, so a
model is judged by how much it beats "same as last time"; "mae", "rmse"
and "smape" are the alternatives.

Prediction intervals (``interval="backtest"``, the default) come from the
backtest errors of the *combined* forecast: at step ``k`` the standard
deviation is the root mean square of those errors at steps ``1..k`` over the
windows, made non-decreasing, and grown like ``sqrt(k)`` beyond ``horizon``.
They are out-of-sample errors, so they are honest where a model's own
intervals are often too narrow; with few windows they are rough.
``interval="model"`` instead combines the candidates' own bounds with the
same weights (median for ``combine="median"``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import numpy as np
import pandas as pd
from sklearn.base import clone

from analytics.core.errors import InvalidInput
from analytics.forecast.base import BaseForecaster, check_level, check_season_length
from analytics.forecast.simple import Drift, Naive, SeasonalNaive
from analytics.forecast.smoothing import ETS, Theta

COMBINES = ("best", "median", "inverse-error", "best-combination")
METRICS = ("owa", "mae", "rmse", "smape")
INTERVALS = ("backtest", "model")
#: Largest equal-weight combination ``combine="best-combination"`` tries.
MAX_COMBINATION = 3

Candidates = Union[Sequence[BaseForecaster], Mapping[str, BaseForecaster], None]


def candidate_names(candidates: Any) -> list[str]:
    """Names for candidates: the mapping's keys, else each estimator's repr (made unique)."""
    if isinstance(candidates, Mapping):
        return [str(k) for k in candidates]
    names: list[str] = []
    for est in candidates:
        name = repr(est).replace("\n", "").replace(" ", "")
        names.append(name if name not in names else f"{name}#{len(names)}")
    return names


def smape_array(actual: np.ndarray, forecast: np.ndarray, axis: Any = -1) -> np.ndarray:
    """sMAPE along ``axis`` (0/0 counts as 0)."""
    denom = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(
        np.abs(actual - forecast), denom, out=np.zeros(np.broadcast(actual, forecast).shape), where=denom > 0
    )
    return np.asarray(200.0 * ratio.mean(axis=axis))


def window_scores(
    actual: np.ndarray, forecasts: np.ndarray, naive: np.ndarray, metric: str, scale: Optional[np.ndarray] = None
) -> np.ndarray:
    """Backtest error of each candidate, pooled over windows.

    ``actual`` and ``naive`` are (windows, horizon); ``forecasts`` is
    (candidates, windows, horizon). ``scale`` (windows,) divides absolute
    errors per window (MASE); None leaves them in the data's units.
    """
    errors = forecasts - actual[None]
    scaled = np.abs(errors) if scale is None else np.abs(errors) / scale[None, :, None]
    if metric == "mae":
        return np.asarray(scaled.mean(axis=(1, 2)))
    if metric == "rmse":
        return np.sqrt((errors**2).mean(axis=(1, 2)))
    sm = smape_array(actual[None], forecasts, axis=(1, 2))
    if metric == "smape":
        return sm
    naive_abs = np.abs(naive - actual) if scale is None else np.abs(naive - actual) / scale[:, None]
    naive_mae = max(float(naive_abs.mean()), 1e-12)
    naive_smape = max(float(smape_array(actual, naive, axis=(0, 1))), 1e-12)
    return np.asarray(0.5 * (sm / naive_smape + scaled.mean(axis=(1, 2)) / naive_mae))


def combination_weights(
    scores: np.ndarray,
    combine: str,
    forecasts: Optional[np.ndarray] = None,
    actual: Optional[np.ndarray] = None,
    naive: Optional[np.ndarray] = None,
    metric: str = "owa",
) -> np.ndarray:
    """Weights over candidates for ``combine`` (NaN for "median": not a weighted mean).

    ``best-combination`` needs the backtest ``forecasts``, ``actual`` and
    ``naive`` to score the equal-weight combinations.
    """
    c = len(scores)
    finite = np.isfinite(scores)
    if not finite.any():
        return np.full(c, 1.0 / c)
    w: np.ndarray
    if combine == "best":
        w = np.zeros(c)
        w[int(np.nanargmin(np.where(finite, scores, np.inf)))] = 1.0
        return w
    if combine == "median":
        return np.full(c, np.nan)
    if combine == "inverse-error":
        safe = np.where(finite, scores, np.inf)
        w = (safe <= 0).astype("float64") if np.any(safe <= 0) else 1.0 / safe
        return np.asarray(w / w.sum())
    assert forecasts is not None and actual is not None and naive is not None
    usable = [i for i in range(c) if finite[i]]
    subsets = [s for k in range(1, MAX_COMBINATION + 1) for s in itertools.combinations(usable, k)]
    means = np.stack([forecasts[list(s)].mean(axis=0) for s in subsets])
    subset_scores = window_scores(actual, means, naive, metric)
    best = subsets[int(np.argmin(subset_scores))]
    w = np.zeros(c)
    w[list(best)] = 1.0 / len(best)
    return w


def combine_forecasts(forecasts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean over axis 0, or the median when the weights are NaN (``combine="median"``)."""
    if np.isnan(weights).any():
        return np.asarray(np.median(forecasts, axis=0))
    return np.asarray(np.tensordot(weights, forecasts, axes=1))


def backtest_sd(errors: np.ndarray, h: int) -> np.ndarray:
    """Step-wise sd from backtest errors (windows, horizon), cumulative RMS, non-decreasing, sqrt-grown beyond."""
    horizon = errors.shape[-1]
    sq = (errors**2).mean(axis=0)
    cumulative = np.sqrt(np.cumsum(sq) / np.arange(1, horizon + 1))
    sd = np.maximum.accumulate(np.maximum(np.sqrt(sq), cumulative))
    if h <= horizon:
        return sd[:h]
    beyond = sd[-1] * np.sqrt(np.arange(horizon + 1, h + 1) / horizon)
    return np.r_[sd, beyond]


def default_candidates(season_length: int) -> dict[str, BaseForecaster]:
    """Naive, drift, ETS and Theta, plus seasonal naive when there is a season."""
    out: dict[str, BaseForecaster] = {"naive": Naive(), "drift": Drift()}
    if season_length > 1:
        out["seasonal-naive"] = SeasonalNaive(season_length=season_length)
    out["ets"] = ETS(season_length=season_length)
    out["theta"] = Theta(season_length=season_length)
    return out


class AutoForecaster(BaseForecaster):
    """Pick or combine candidate forecasters by a rolling-origin backtest on the history (module docstring).

    Parameters
    ----------
    candidates : list or dict of forecasters, optional
        Unfitted estimators of this package (a dict names them). Default:
        :func:`default_candidates` for ``season_length``.
    n_windows : int, default 3
        Backtest windows; fewer are used when the series is too short
        (each window's training part needs at least 3 values).
    horizon : int, default 7
        Steps per backtest window, normally the forecast horizon.
    combine : {"best", "median", "inverse-error", "best-combination"}, default "best"
    metric : {"owa", "mae", "rmse", "smape"}, default "owa"
    interval : {"backtest", "model"}, default "backtest"
    season_length : int, default 1
        Period of the seasonal-naive benchmark of ``metric="owa"`` (1 = the
        naive forecast) and of the default candidates.
    nonnegative : bool, default False
        Clip forecasts and bounds at 0 (units sold cannot be negative).

    Attributes
    ----------
    names_ : list of str
    scores_ : dict
        Backtest error of each candidate (lower is better).
    weights_ : dict
        Weight of each candidate in the forecast (NaN for median).
    chosen_ : str
        The best candidate by backtest.
    models_ : dict
        Candidates refitted on the whole history (those with a weight).
    backtest_errors_ : numpy.ndarray
        (windows, horizon) errors of the combined forecast.

    A series shorter than ``horizon + 3`` cannot be backtested and gets the
    naive forecast with a note.

    Examples
    --------
    >>> y = np.tile([10.0, 20.0, 30.0, 20.0], 12)
    >>> auto = AutoForecaster([Naive(), SeasonalNaive(season_length=4)], n_windows=2, horizon=4).fit(y)
    >>> auto.chosen_, auto.predict(4).tolist()
    ('SeasonalNaive(season_length=4)', [10.0, 20.0, 30.0, 20.0])
    """

    def __init__(
        self,
        candidates: Candidates = None,
        n_windows: int = 3,
        horizon: int = 7,
        combine: str = "best",
        metric: str = "owa",
        interval: str = "backtest",
        season_length: int = 1,
        nonnegative: bool = False,
    ) -> None:
        self.candidates = candidates
        self.n_windows = n_windows
        self.horizon = horizon
        self.combine = combine
        self.metric = metric
        self.interval = interval
        self.season_length = season_length
        self.nonnegative = nonnegative

    def _min_length(self) -> int:
        return int(self.horizon) + 3

    def _check_params(self) -> None:
        for name in ("n_windows", "horizon"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InvalidInput(f"{name} must be a whole number >= 1, not {value!r}.")
        if self.combine not in COMBINES:
            raise InvalidInput(f"combine must be one of {', '.join(COMBINES)}; got {self.combine!r}.")
        if self.metric not in METRICS:
            raise InvalidInput(f"metric must be one of {', '.join(METRICS)}; got {self.metric!r}.")
        if self.interval not in INTERVALS:
            raise InvalidInput(f"interval must be 'backtest' or 'model', not {self.interval!r}.")
        m = check_season_length(self.season_length)
        cands = default_candidates(m) if self.candidates is None else self.candidates
        items = list(cands.values()) if isinstance(cands, Mapping) else list(cands)
        if not items:
            raise InvalidInput("candidates is empty; pass at least one forecaster, e.g. [Naive(), ETS()].")
        bad = [type(c).__name__ for c in items if not isinstance(c, BaseForecaster)]
        if bad:
            raise InvalidInput(f"candidates must be forecasters of analytics.forecast, not {', '.join(bad)}.")
        self._items = items
        self._names = candidate_names(cands)

    def _slice(self, values: np.ndarray, stop: int) -> Any:
        """The history up to ``stop``, with its timestamps when the series had them."""
        if self.index_ is None:
            return values[:stop]
        return pd.Series(values[:stop], index=self.index_[:stop])

    def _fit(self, values: np.ndarray) -> None:
        n, horizon = len(values), int(self.horizon)
        origins = [n - horizon * (int(self.n_windows) - i) for i in range(int(self.n_windows))]
        origins = [o for o in origins if o >= 3]
        if len(origins) < int(self.n_windows):
            self.notes_.append(f"series allows {len(origins)} backtest window(s) of {horizon}, not {self.n_windows}.")
        actual = np.stack([values[o : o + horizon] for o in origins])
        m = int(self.season_length)
        naive = np.stack(
            [np.resize(values[o - m : o], horizon) if o >= m else np.full(horizon, values[o - 1]) for o in origins]
        )
        forecasts = np.stack(
            [np.stack([clone(c).fit(self._slice(values, o)).predict(horizon) for o in origins]) for c in self._items]
        )
        scores = window_scores(actual, forecasts, naive, self.metric)
        weights = combination_weights(scores, self.combine, forecasts, actual, naive, self.metric)
        self.names_ = self._names
        self.scores_ = dict(zip(self._names, scores.tolist()))
        self.weights_ = dict(zip(self._names, weights.tolist()))
        self.chosen_ = self._names[int(np.argmin(scores))]
        keep = np.isnan(weights) | (weights > 0)
        self.models_ = {
            name: clone(c).fit(self._slice(values, n)) for name, c, k in zip(self._names, self._items, keep) if k
        }
        self._weights = weights[keep]
        combined = combine_forecasts(forecasts[keep], self._weights)
        self.backtest_errors_ = actual - combined
        self.sigma_ = float(np.sqrt(np.mean(self.backtest_errors_[:, 0] ** 2)))
        used = ", ".join(f"{k} ({w:.2f})" for k, w in self.weights_.items() if w != 0)
        self.notes_.append(f"{self.combine} by {len(origins)}-window backtest ({self.metric}): {used}.")

    def _clip(self, values: np.ndarray) -> np.ndarray:
        return np.maximum(values, 0.0) if self.nonnegative else values

    def _predict(self, h: int) -> np.ndarray:
        stacked = np.stack([m.predict(h) for m in self.models_.values()])
        return combine_forecasts(stacked, self._weights)

    def predict(self, h: int) -> np.ndarray:
        """Point forecasts for the next ``h`` periods (clipped at 0 with ``nonnegative``)."""
        return self._clip(super().predict(h))

    def _predict_sd(self, h: int) -> np.ndarray:
        return backtest_sd(self.backtest_errors_, h)

    def predict_interval(self, h: int, level: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of a ``level`` interval; see the module docstring for ``interval``."""
        if self.interval == "backtest" or getattr(self, "fallback_", None) is not None:
            lower, upper = super().predict_interval(h, level)
            return self._clip(lower), self._clip(upper)
        level = check_level(level)
        self.predict(h)
        bounds = [m.predict_interval(h, level) for m in self.models_.values()]
        lower = combine_forecasts(np.stack([b[0] for b in bounds]), self._weights)
        upper = combine_forecasts(np.stack([b[1] for b in bounds]), self._weights)
        return self._clip(lower), self._clip(upper)


__all__ = [
    "COMBINES",
    "INTERVALS",
    "METRICS",
    "AutoForecaster",
    "backtest_sd",
    "candidate_names",
    "combination_weights",
    "combine_forecasts",
    "default_candidates",
    "window_scores",
]
