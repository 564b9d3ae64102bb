"""Gradient boosting on lags: one model for many series (global) or for one (local).

A :class:`~sklearn.ensemble.HistGradientBoostingRegressor` learns future
values from past ones. Series of very different sizes share one model
because each is normalised first:

``scaling="series"``
    ``z = (y - level) / scale``, ``level`` the mean of the series' last
    ``season_length`` values and ``scale`` its in-sample seasonal-naive mean
    absolute error (the MASE denominator), fixed per series. Squared error on
    ``z`` is then a squared MASE, so no series dominates the loss. Right for
    series whose level is stable over the history (M4 hourly). Any sign.
``scaling="window"``
    Each row is divided by its own level, the mean of the ``window`` values
    before its forecast origin, on a log scale: ``z = log(y / level)``.
    Right for long series that drift a lot (M4 weekly: some cover 50 years).
    Needs positive values.

Two ways to forecast ``h`` steps:

``strategy="recursive"``
    one model for the next value, fed its own predictions ``h`` times;
``strategy="direct"``
    one model per step ``1..horizon``, all from the same origin (no error
    feedback, ``horizon`` times the fitting cost).

Features at an origin: ``z`` at each lag and the means of ``z`` over a few
windows (:func:`default_lags`, :func:`default_mean_windows`). Training
rows are the last ``max_rows_per_series`` origins of each series; shorter
series are padded at the start with their first value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.forecast.base import BaseForecaster, check_horizon, check_season_length, check_series

SCALINGS = ("series", "window")
STRATEGIES = ("recursive", "direct")


def default_lags(season_length: int) -> list[int]:
    """Lags ``1..max(season_length, 8)``; hourly data (m = 24) also gets the lags of the weekly cycle.

    These defaults, and :func:`default_mean_windows`, are checked on the last
    window of the M4 training series (a validation split; never the test) by
    ``bench/m4_tune.py``, against shorter lag sets and other mean windows.

    Examples
    --------
    >>> default_lags(4)
    [1, 2, 3, 4, 5, 6, 7, 8]
    """
    m = season_length
    lags = set(range(1, max(m, 8) + 1))
    if m == 24:  # hourly: the weekly cycle matters as much as the daily one
        lags.update({36, 48, 72, 96, 120, 144, 167, 168, 169, 192, 335, 336, 337, 504})
    return sorted(lags)


def default_mean_windows(season_length: int) -> list[int]:
    """Windows whose mean is a feature: 4, 13, m and 2m; none for hourly data, where they did worse."""
    m = season_length
    return [] if m == 24 else sorted({w for w in (4, 13, m, 2 * m) if w >= 2})


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidInput(f"{name} must be a whole number >= {minimum}, not {value!r}.")
    return int(value)


def _fit_one(params: dict[str, Any], x: np.ndarray, target: np.ndarray) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(early_stopping=False, **params).fit(x, target)


class GlobalLagBoosting(BaseEstimator):
    """One gradient-boosting model on lags, trained on a panel of series.

    Parameters
    ----------
    season_length : int, default 1
        Periods per season; sets the default lags and mean windows, the level
        window of ``scaling="series"`` and its MASE scale.
    lags : sequence of int, optional
        Lags used as features (default :func:`default_lags`).
    mean_windows : sequence of int, optional
        Windows whose mean of ``z`` is a feature (default
        :func:`default_mean_windows`; ``()`` for none).
    scaling : {"series", "window"}, default "series"
        How series are normalised (module docstring).
    window : int, default 4
        Level window of ``scaling="window"``.
    strategy : {"recursive", "direct"}, default "recursive"
    horizon : int, optional
        Steps modelled by ``strategy="direct"`` (required there); ``predict``
        may not ask for more.
    max_rows_per_series : int, default 400
        Training origins taken from the end of each series.
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization, max_features
        Passed to HistGradientBoostingRegressor (``max_features`` < 1 samples
        features per split: faster, and a little diversity between direct models).
    n_jobs : int, default 1
        CPU cores: OpenMP threads of the one recursive model, or processes
        fitting the direct models side by side (one thread each: on a busy
        machine, OpenMP threads that wait for each other are far slower).
    random_state : int, default 0

    Attributes
    ----------
    models_ : list of HistGradientBoostingRegressor
        One (recursive) or one per step (direct).
    n_series_ : int

    Examples
    --------
    >>> t = np.arange(200)
    >>> panel = [10 + np.sin(2 * np.pi * (t + k) / 12) for k in range(5)]
    >>> model = GlobalLagBoosting(season_length=12, max_iter=50).fit(panel)
    >>> bool(np.abs(model.predict(12)[0] - panel[0][-12:]).max() < 0.1)
    True
    """

    def __init__(
        self,
        season_length: int = 1,
        lags: Optional[Sequence[int]] = None,
        mean_windows: Optional[Sequence[int]] = None,
        scaling: str = "series",
        window: int = 4,
        strategy: str = "recursive",
        horizon: Optional[int] = None,
        max_rows_per_series: int = 400,
        max_iter: int = 100,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 20,
        l2_regularization: float = 0.0,
        max_features: float = 1.0,
        n_jobs: int = 1,
        random_state: int = 0,
    ) -> None:
        self.season_length = season_length
        self.lags = lags
        self.mean_windows = mean_windows
        self.scaling = scaling
        self.window = window
        self.strategy = strategy
        self.horizon = horizon
        self.max_rows_per_series = max_rows_per_series
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_features = max_features
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- parameters -----------------------------------------------------------------------

    def _check_params(self) -> None:
        m = check_season_length(self.season_length)
        lags = default_lags(m) if self.lags is None else list(self.lags)
        if not lags:
            raise InvalidInput("lags is empty; pass whole numbers >= 1 such as [1, 2, 7].")
        self.lags_ = np.array(sorted({_check_int(lag, "each lag", 1) for lag in lags}))
        if self.scaling not in SCALINGS:
            raise InvalidInput(f"scaling must be 'series' or 'window', not {self.scaling!r}.")
        if self.strategy not in STRATEGIES:
            raise InvalidInput(f"strategy must be 'recursive' or 'direct', not {self.strategy!r}.")
        _check_int(self.window, "window", 1)
        _check_int(self.max_rows_per_series, "max_rows_per_series", 1)
        _check_int(self.n_jobs, "n_jobs", 1)
        if self.strategy == "direct":
            if self.horizon is None:
                raise InvalidInput("strategy='direct' needs horizon, the number of steps to model.")
            _check_int(self.horizon, "horizon", 1)
        windows = default_mean_windows(m) if self.mean_windows is None else self.mean_windows
        self.mean_windows_ = sorted({_check_int(w, "each mean window", 1) for w in windows if w >= 2})
        self.width_ = int(max(self.lags_.max(), max(self.mean_windows_, default=1), int(self.window)))

    def _hgb_params(self, seed: int) -> dict[str, Any]:
        return {
            "max_iter": self.max_iter,
            "learning_rate": self.learning_rate,
            "max_leaf_nodes": self.max_leaf_nodes,
            "min_samples_leaf": self.min_samples_leaf,
            "l2_regularization": self.l2_regularization,
            "max_features": self.max_features,
            "random_state": seed,
        }

    # -- normalisation and features ---------------------------------------------------------

    def _series_norm(self, y: np.ndarray) -> tuple[float, float]:
        m = int(self.season_length)
        level = float(np.mean(y[-m:]))
        k = m if len(y) > m else 1
        scale = float(np.mean(np.abs(y[k:] - y[:-k]))) if len(y) > k else 0.0
        if not scale > 0:
            scale = float(np.mean(np.abs(y - level))) or float(np.mean(np.abs(y))) or 1.0
        return level, scale

    def _norm(self, hist: np.ndarray, series_norm: np.ndarray) -> np.ndarray:
        """(level, scale) per row of ``hist`` (raw values, newest last)."""
        if self.scaling == "series":
            return series_norm
        level = hist[:, -int(self.window) :].mean(axis=1)
        return np.column_stack([level, np.ones_like(level)])

    def _to_z(self, values: np.ndarray, norm: np.ndarray) -> np.ndarray:
        if self.scaling == "series":
            return (values - norm[:, :1]) / norm[:, 1:]
        return np.log(values / norm[:, :1])

    def _from_z(self, z: np.ndarray, norm: np.ndarray) -> np.ndarray:
        if self.scaling == "series":
            return z * norm[:, 1] + norm[:, 0]
        return np.exp(np.minimum(z, 50.0)) * norm[:, 0]

    def _features(self, hist: np.ndarray, norm: np.ndarray) -> np.ndarray:
        z = self._to_z(hist, norm)
        cols = [z[:, -lag] for lag in self.lags_] + [z[:, -w:].mean(axis=1) for w in self.mean_windows_]
        return np.column_stack(cols)

    def _pad(self, y: np.ndarray, extra: int) -> np.ndarray:
        return np.r_[np.full(max(self.width_ + extra - len(y), 0), y[0]), y]

    def _rows(self, series: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Training features and targets (one column per step for direct, one for recursive)."""
        steps = int(self.horizon) if self.strategy == "direct" and self.horizon is not None else 1
        xs, ys = [], []
        for i, y in enumerate(series):
            padded = self._pad(y, steps)
            n = len(padded)
            # an origin o is the number of values seen: features from padded[o - width:o]
            origins = np.arange(max(self.width_, n - steps + 1 - int(self.max_rows_per_series)), n - steps + 1)
            windows = np.lib.stride_tricks.sliding_window_view(padded, self.width_)[origins - self.width_]
            norm = self._norm(windows, np.tile(self.norm_[i], (len(origins), 1)))
            targets = np.column_stack([padded[origins + k] for k in range(steps)])
            xs.append(self._features(windows, norm))
            ys.append(self._to_z(targets, norm))
        return np.vstack(xs), np.vstack(ys)

    # -- API ----------------------------------------------------------------------------

    def fit(self, panel: Sequence[Any]) -> GlobalLagBoosting:
        """Fit on every series of ``panel`` (a sequence of 1-D series, each checked with ``check_series``).

        Raises
        ------
        InvalidInput
            Bad parameters, an empty panel, a bad series, or a non-positive
            series with ``scaling="window"``.
        """
        self._check_params()
        if isinstance(panel, np.ndarray) and panel.ndim == 1:
            raise InvalidInput("panel must be a sequence of series; wrap a single series in a list: [y].")
        series = [check_series(y, name=f"series {i}").values for i, y in enumerate(panel)]
        if not series:
            raise InvalidInput("panel is empty; pass at least one series.")
        if self.scaling == "window":
            bad = [i for i, y in enumerate(series) if np.any(y <= 0)]
            if bad:
                raise InvalidInput(
                    f"scaling='window' needs positive values; series {bad[:5]} have zeros or negatives. "
                    "Use scaling='series'."
                )
        self.norm_ = np.array([self._series_norm(y) for y in series])
        x, targets = self._rows(series)
        n_jobs = int(self.n_jobs)
        if self.strategy == "recursive":
            with threadpool_limits(n_jobs):
                self.models_ = [_fit_one(self._hgb_params(self.random_state), x, targets[:, 0])]
        elif n_jobs == 1:
            with threadpool_limits(1):
                self.models_ = [
                    _fit_one(self._hgb_params(self.random_state + k), x, targets[:, k]) for k in range(targets.shape[1])
                ]
        else:
            self.models_ = Parallel(n_jobs=n_jobs, backend="loky", inner_max_num_threads=1)(
                delayed(_fit_one)(self._hgb_params(self.random_state + k), x, targets[:, k])
                for k in range(targets.shape[1])
            )
        self.tails_ = np.vstack([self._pad(y, 0)[-self.width_ :] for y in series])
        self.n_series_ = len(series)
        return self

    def predict(self, h: int) -> np.ndarray:
        """Forecasts of every fitted series: an array of shape (n_series, h), all finite.

        A non-finite value (an overflow on a wild series) is replaced by the
        series' last value.
        """
        if not hasattr(self, "models_"):
            raise NotFittedError(self)
        h = check_horizon(h)
        if self.strategy == "direct":
            if self.horizon is not None and h > int(self.horizon):
                raise InvalidInput(f"this model was fitted for horizon={self.horizon}; refit with horizon >= {h}.")
            norm = self._norm(self.tails_, self.norm_)
            x = self._features(self.tails_, norm)
            with threadpool_limits(int(self.n_jobs)):
                out = np.column_stack([self._from_z(model.predict(x), norm) for model in self.models_[:h]])
        else:
            hist = self.tails_.copy()
            out = np.empty((len(hist), h))
            with threadpool_limits(int(self.n_jobs)):
                for step in range(h):
                    norm = self._norm(hist, self.norm_)
                    out[:, step] = self._from_z(self.models_[0].predict(self._features(hist, norm)), norm)
                    hist = np.column_stack([hist[:, 1:], out[:, step]])
        bad = ~np.isfinite(out)
        if bad.any():
            out[bad] = np.broadcast_to(self.tails_[:, -1:], out.shape)[bad]
        return out


class LagBoosting(BaseForecaster):
    """Gradient boosting on the lags of one series (the local, recursive form of :class:`GlobalLagBoosting`).

    Needs ``2 * max(lag) + 10`` values, else falls back to naive. Intervals:
    the in-sample one-step error sd times ``sqrt(step)``.

    Parameters
    ----------
    season_length : int, default 1
    lags : sequence of int, optional
        Default :func:`default_lags`.
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, random_state
        Passed to HistGradientBoostingRegressor (smaller trees than the
        global model: one series has few rows).

    Examples
    --------
    >>> y = 5 + np.tile([0.0, 1.0, 3.0, 1.0], 30)
    >>> np.round(LagBoosting(season_length=4, max_iter=50).fit(y).predict(4), 1).tolist()
    [5.0, 6.0, 8.0, 6.0]
    """

    def __init__(
        self,
        season_length: int = 1,
        lags: Optional[Sequence[int]] = None,
        max_iter: int = 100,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 5,
        random_state: int = 0,
    ) -> None:
        self.season_length = season_length
        self.lags = lags
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state

    def _global(self) -> GlobalLagBoosting:
        model = GlobalLagBoosting(
            season_length=self.season_length,
            lags=self.lags,
            max_rows_per_series=100_000,
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            random_state=self.random_state,
        )
        model._check_params()
        return model

    def _min_length(self) -> int:
        return 2 * int(self._global().lags_.max()) + 10

    def _check_params(self) -> None:
        self._global()

    def _fit(self, values: np.ndarray) -> None:
        self.model_ = self._global().fit([values])
        model = self.model_
        padded = model._pad(values, 1)
        origins = np.arange(max(model.width_, len(padded) - 100), len(padded))
        windows = np.lib.stride_tricks.sliding_window_view(padded, model.width_)[origins - model.width_]
        norm = model._norm(windows, np.tile(model.norm_[0], (len(origins), 1)))
        fitted = model._from_z(model.models_[0].predict(model._features(windows, norm)), norm)
        self.sigma_ = float(np.sqrt(np.mean((padded[origins] - fitted) ** 2)))

    def _predict(self, h: int) -> np.ndarray:
        return np.asarray(self.model_.predict(h)[0])


__all__ = ["SCALINGS", "STRATEGIES", "GlobalLagBoosting", "LagBoosting", "default_lags", "default_mean_windows"]
