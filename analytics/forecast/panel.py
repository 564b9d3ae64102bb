"""Forecast many series at once: local and global candidates, chosen by a rolling-origin backtest.

:class:`PanelForecaster` is :class:`~analytics.forecast.auto.AutoForecaster`
for a set of series (all products, all stores) with two additions:

- *global* candidates (:class:`~analytics.forecast.boosting.GlobalLagBoosting`)
  learn from every series at once; in each backtest window they are refitted
  on the panel cut at that window's origin, so they never see the values
  they are scored on;
- the choice can be made for the whole panel (``select="panel"``, the
  default): one choice, or one combination, scored on all series' windows
  together, the way the M4 competition scores a method. Per-series choices
  (``select="series"``) rest on a few windows of one series each and are
  noisy; they are there for comparison.

Errors are pooled as M4 does: sMAPE and MASE (scaled by the in-sample
seasonal-naive error at each window's origin, period ``season_length``)
averaged over series and windows; ``metric="owa"`` is their mean relative
to those of the seasonal naive forecast of the same period (the plain naive
forecast when ``season_length`` is 1) on the same windows. The benchmark
matters: it sets how much a point of sMAPE is worth in MASE. Intervals come from the backtest errors of the
combined forecast of each series, as in ``AutoForecaster``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, clone
from threadpoolctl import threadpool_limits

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.forecast.auto import COMBINES, MAX_COMBINATION, METRICS, backtest_sd, candidate_names, combine_forecasts
from analytics.forecast.base import (
    BaseForecaster,
    check_horizon,
    check_level,
    check_season_length,
    check_series,
    normal_bounds,
)
from analytics.forecast.boosting import GlobalLagBoosting

SELECTS = ("panel", "series")


def _local_job(
    series: list[np.ndarray], candidates: list[BaseForecaster], horizon: int, offsets: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Forecasts (candidates, series, offsets, horizon) of the local candidates, and CPU seconds per candidate."""
    out = np.full((len(candidates), len(series), len(offsets), horizon), np.nan)
    seconds = np.zeros(len(candidates))
    with threadpool_limits(1):
        for c, cand in enumerate(candidates):
            start = time.process_time()
            for s, y in enumerate(series):
                for j, k in enumerate(offsets):
                    if len(y) - k >= 1:
                        out[c, s, j] = clone(cand).fit(y[: len(y) - k]).predict(horizon)
            seconds[c] = time.process_time() - start
    return out, seconds


def _smape(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    denom = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(
        np.abs(actual - forecast), denom, out=np.zeros(np.broadcast(actual, forecast).shape), where=denom > 0
    )
    return np.asarray(200.0 * ratio.mean(axis=-1))


class PanelForecaster(BaseEstimator):
    """Backtest-driven choice or combination of local and global forecasters over a panel of series.

    Parameters
    ----------
    local : list or dict of forecasters, optional
        Single-series candidates (fitted per series, in ``n_jobs`` processes).
    global_models : list or dict of GlobalLagBoosting, optional
        Panel candidates.
    horizon : int, default 7
        Backtest window length and the longest forecast ``predict`` gives.
    n_windows : int, default 1
    combine : {"best", "median", "inverse-error", "best-combination"}, default "best-combination"
        As in :mod:`analytics.forecast.auto`; "best-combination" tries every
        equal-weight mean of up to three candidates.
    select : {"panel", "series"}, default "panel"
    metric : {"owa", "mae", "rmse", "smape"}, default "owa"
        "mae" and "rmse" are scaled per series (MASE-like) before pooling.
    season_length : int, default 1
        Period of the MASE scale and of the seasonal-naive benchmark of
        ``metric="owa"`` (M4: 1 for weekly, 24 for hourly).
    n_jobs : int, default 1
    nonnegative : bool, default False
        Clip forecasts and bounds at 0.

    Attributes
    ----------
    names_ : list of str
    scores_ : pandas.DataFrame
        Backtest sMAPE, MASE and OWA of every candidate (and of the chosen combination, last row).
    weights_ : numpy.ndarray
        (candidates,) for ``select="panel"``, (series, candidates) for "series"; NaN for median.
    chosen_ : str
        Description of what forecasts.
    candidate_forecasts_ : numpy.ndarray
        (candidates, series, horizon) final forecasts of every candidate.
    forecasts_ : numpy.ndarray
        (series, horizon) combined forecasts.
    backtest_errors_ : numpy.ndarray
        (series, windows, horizon) errors of the combined forecast (NaN where a series was too short).
    cpu_seconds_ : dict
        CPU (local) or wall (global) seconds spent on each candidate, all windows included.

    Examples
    --------
    >>> from analytics.forecast.simple import Naive, SeasonalNaive
    >>> panel = [np.tile([1.0, 5.0, 3.0], 10) * k for k in (1, 2, 3)]
    >>> pf = PanelForecaster(local=[Naive(), SeasonalNaive(season_length=3)], horizon=3, combine="best").fit(panel)
    >>> pf.chosen_, pf.predict(3)[1].tolist()
    ('SeasonalNaive(season_length=3)', [2.0, 10.0, 6.0])
    """

    def __init__(
        self,
        local: Any = None,
        global_models: Any = None,
        horizon: int = 7,
        n_windows: int = 1,
        combine: str = "best-combination",
        select: str = "panel",
        metric: str = "owa",
        season_length: int = 1,
        n_jobs: int = 1,
        nonnegative: bool = False,
    ) -> None:
        self.local = local
        self.global_models = global_models
        self.horizon = horizon
        self.n_windows = n_windows
        self.combine = combine
        self.select = select
        self.metric = metric
        self.season_length = season_length
        self.n_jobs = n_jobs
        self.nonnegative = nonnegative

    # -- checks -------------------------------------------------------------------------

    @staticmethod
    def _items(candidates: Any) -> list[Any]:
        if candidates is None:
            return []
        return list(candidates.values()) if isinstance(candidates, Mapping) else list(candidates)

    def _check_params(self) -> tuple[list[Any], list[Any], list[str]]:
        for name in ("horizon", "n_windows", "n_jobs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InvalidInput(f"{name} must be a whole number >= 1, not {value!r}.")
        check_season_length(self.season_length)
        if self.combine not in COMBINES:
            raise InvalidInput(f"combine must be one of {', '.join(COMBINES)}; got {self.combine!r}.")
        if self.select not in SELECTS:
            raise InvalidInput(f"select must be 'panel' or 'series', not {self.select!r}.")
        if self.metric not in METRICS:
            raise InvalidInput(f"metric must be one of {', '.join(METRICS)}; got {self.metric!r}.")
        local, glob = self._items(self.local), self._items(self.global_models)
        if not local and not glob:
            raise InvalidInput("no candidates: pass local forecasters, global models, or both.")
        if any(not isinstance(c, BaseForecaster) for c in local):
            raise InvalidInput("local candidates must be single-series forecasters of analytics.forecast.")
        if any(not isinstance(g, GlobalLagBoosting) for g in glob):
            raise InvalidInput("global_models must be GlobalLagBoosting instances.")
        names = (candidate_names(self.local) if local else []) + (candidate_names(self.global_models) if glob else [])
        if len(set(names)) != len(names):
            raise InvalidInput(f"candidate names must be unique; got {names}. Pass dicts to name them.")
        return local, glob, names

    # -- fitting ------------------------------------------------------------------------

    def _local_forecasts(
        self, local: list[Any], series: list[np.ndarray], offsets: list[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        n_jobs = int(self.n_jobs)
        if n_jobs == 1:
            return _local_job(series, local, int(self.horizon), offsets)
        order = np.argsort([-len(y) for y in series])  # deal long series first, round-robin
        chunks = [order[i :: n_jobs * 4] for i in range(n_jobs * 4)]
        chunks = [c for c in chunks if len(c)]
        results = Parallel(n_jobs=n_jobs, backend="loky")(
            delayed(_local_job)([series[i] for i in chunk], local, int(self.horizon), offsets) for chunk in chunks
        )
        out = np.full((len(local), len(series), len(offsets), int(self.horizon)), np.nan)
        for chunk, (part, _) in zip(chunks, results):
            out[:, chunk] = part
        return out, np.sum([sec for _, sec in results], axis=0)

    def _global_forecasts(
        self, glob: list[Any], series: list[np.ndarray], offsets: list[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        out = np.full((len(glob), len(series), len(offsets), int(self.horizon)), np.nan)
        seconds = np.zeros(len(glob))
        for g, model in enumerate(glob):
            start = time.perf_counter()
            for j, k in enumerate(offsets):
                cut = [y[: max(len(y) - k, 1)] for y in series]
                out[g, :, j] = clone(model).fit(cut).predict(int(self.horizon))
            seconds[g] = time.perf_counter() - start
        return out, seconds

    def fit(self, panel: Sequence[Any]) -> PanelForecaster:
        """Backtest every candidate, choose or combine, and forecast every series ``horizon`` steps.

        Raises
        ------
        InvalidInput
            Bad parameters or candidates, an empty panel or a bad series.
        """
        local, glob, names = self._check_params()
        if isinstance(panel, np.ndarray) and panel.ndim == 1:
            raise InvalidInput("panel must be a sequence of series; wrap a single series in a list: [y].")
        series = [check_series(y, name=f"series {i}").values for i, y in enumerate(panel)]
        if not series:
            raise InvalidInput("panel is empty; pass at least one series.")
        h, w = int(self.horizon), int(self.n_windows)
        offsets = [h * (w - i) for i in range(w)] + [0]  # backtest origins, then the real one
        parts, seconds = [], []
        if local:
            f, s = self._local_forecasts(local, series, offsets)
            parts.append(f)
            seconds.append(s)
        if glob:
            f, s = self._global_forecasts(glob, series, offsets)
            parts.append(f)
            seconds.append(s)
        forecasts = np.concatenate(parts)  # (candidates, series, offsets, horizon)
        self.names_ = names
        self.cpu_seconds_ = dict(zip(names, np.concatenate(seconds).tolist()))
        self._score_and_combine(series, forecasts, offsets[:-1])
        return self

    def _windows(
        self, series: list[np.ndarray], offsets: list[int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Actuals, naive forecasts, MASE scales (series, windows) and the validity mask."""
        h, m = int(self.horizon), int(self.season_length)
        actual = np.full((len(series), len(offsets), h), np.nan)
        naive = np.full_like(actual, np.nan)
        scale = np.ones((len(series), len(offsets)))
        valid = np.zeros((len(series), len(offsets)), dtype=bool)
        for s, y in enumerate(series):
            for j, k in enumerate(offsets):
                origin = len(y) - k
                if origin < 3:
                    continue
                valid[s, j] = True
                actual[s, j] = y[origin : origin + h]
                hist = y[:origin]
                naive[s, j] = np.resize(hist[-m:], h) if origin >= m else hist[-1]
                lag = m if origin > m else 1
                sc = float(np.mean(np.abs(hist[lag:] - hist[:-lag])))
                scale[s, j] = sc if sc > 0 else (float(np.mean(np.abs(hist))) or 1.0)
        return actual, naive, scale, valid

    def _errors(
        self, fc: np.ndarray, actual: np.ndarray, scale: np.ndarray, valid: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Per (series, window) sMAPE, MASE and scaled RMSE of forecasts ``fc`` (..., series, windows, horizon)."""
        with np.errstate(invalid="ignore"):
            sm = _smape(actual, fc)
            ms = np.abs(fc - actual).mean(axis=-1) / scale
            rm = np.sqrt(((fc - actual) ** 2).mean(axis=-1)) / scale
        return {
            "smape": np.where(valid, sm, np.nan),
            "mase": np.where(valid, ms, np.nan),
            "rmse": np.where(valid, rm, np.nan),
        }

    def _score(self, err: dict[str, np.ndarray], naive_err: dict[str, np.ndarray], axis: Any) -> np.ndarray:
        """Pool errors over ``axis`` (series and windows, or windows only) into the metric."""
        if self.metric == "smape":
            return np.asarray(np.nanmean(err["smape"], axis=axis))
        if self.metric == "mae":
            return np.asarray(np.nanmean(err["mase"], axis=axis))
        if self.metric == "rmse":
            return np.asarray(np.nanmean(err["rmse"], axis=axis))
        ns = np.maximum(np.nanmean(naive_err["smape"], axis=axis), 1e-12)
        nm = np.maximum(np.nanmean(naive_err["mase"], axis=axis), 1e-12)
        return np.asarray(0.5 * (np.nanmean(err["smape"], axis=axis) / ns + np.nanmean(err["mase"], axis=axis) / nm))

    def _weights(
        self,
        bt: np.ndarray,
        actual: np.ndarray,
        scale: np.ndarray,
        valid: np.ndarray,
        naive_err: dict[str, np.ndarray],
        axis: Any,
    ) -> np.ndarray:
        """Weights over candidates from backtest forecasts ``bt`` (candidates, series, windows, horizon)."""
        c = bt.shape[0]
        scores = self._score(self._errors(bt, actual, scale, valid), naive_err, axis)
        if self.combine == "median":
            return np.full(scores.shape, np.nan)
        finite = np.isfinite(scores)
        if self.combine == "best":
            return np.asarray(np.eye(c)[np.nanargmin(np.where(finite, scores, np.inf), axis=0)]).T
        if self.combine == "inverse-error":
            inv = np.where(finite, 1.0 / np.maximum(scores, 1e-12), 0.0)
            return np.asarray(inv / np.maximum(inv.sum(axis=0), 1e-300))
        subsets = [s for k in range(1, MAX_COMBINATION + 1) for s in itertools.combinations(range(c), k)]
        sub_scores = np.stack(
            [
                self._score(self._errors(bt[list(s)].mean(axis=0), actual, scale, valid), naive_err, axis)
                for s in subsets
            ]
        )
        best = np.nanargmin(np.where(np.isfinite(sub_scores), sub_scores, np.inf), axis=0)
        weights = np.zeros((c, *np.shape(best)))
        for i, subset in enumerate(subsets):
            hit = best == i
            for j in subset:
                weights[j] = np.where(hit, 1.0 / len(subset), weights[j])
        return weights

    def _score_and_combine(self, series: list[np.ndarray], forecasts: np.ndarray, offsets: list[int]) -> None:
        actual, naive, scale, valid = self._windows(series, offsets)
        bt, final = forecasts[:, :, :-1], forecasts[:, :, -1]
        naive_err = self._errors(naive, actual, scale, valid)
        cand_err = self._errors(bt, actual, scale, valid)
        panel_weights = self._weights(bt, actual, scale, valid, naive_err, axis=(-2, -1))
        if self.select == "panel":
            weights = np.tile(panel_weights, (len(series), 1))
        else:
            weights = self._weights(bt, actual, scale, valid, naive_err, axis=-1).T
            no_window = ~valid.any(axis=1)
            weights[no_window] = panel_weights
        self.weights_ = panel_weights if self.select == "panel" else weights
        combined_bt = np.stack([combine_forecasts(bt[:, s], weights[s]) for s in range(len(series))])
        self.forecasts_ = np.stack([combine_forecasts(final[:, s], weights[s]) for s in range(len(series))])
        self.forecasts_ = self._clip(self.forecasts_)
        self.candidate_forecasts_ = final
        self.backtest_errors_ = actual - combined_bt
        comb_err = self._errors(combined_bt, actual, scale, valid)
        rows = {}
        for i, name in enumerate(self.names_):
            rows[name] = self._summary({k: v[i] for k, v in cand_err.items()}, naive_err)
        self.chosen_ = self._describe(panel_weights)
        rows["chosen: " + self.chosen_] = self._summary(comb_err, naive_err)
        self.scores_ = pd.DataFrame.from_dict(rows, orient="index")
        self.n_series_ = len(series)
        # for series too short for any backtest window: the naive one-step error, grown like a random walk
        self.naive_sigma_ = np.array([float(np.sqrt(np.mean(np.diff(y) ** 2))) if len(y) > 1 else 0.0 for y in series])

    def _summary(self, err: dict[str, np.ndarray], naive_err: dict[str, np.ndarray]) -> dict[str, float]:
        sm, ms = float(np.nanmean(err["smape"])), float(np.nanmean(err["mase"]))
        ns, nm = float(np.nanmean(naive_err["smape"])), float(np.nanmean(naive_err["mase"]))
        return {"smape": sm, "mase": ms, "owa": 0.5 * (sm / max(ns, 1e-12) + ms / max(nm, 1e-12))}

    def _describe(self, panel_weights: np.ndarray) -> str:
        if self.select == "series":
            return f"per-series {self.combine}"
        if np.isnan(panel_weights).any():
            return "median of all"
        used = [(n, w) for n, w in zip(self.names_, panel_weights) if w > 0]
        if len(used) == 1:
            return used[0][0]
        return " + ".join(f"{w:.2f} {n}" for n, w in used)

    # -- output -------------------------------------------------------------------------

    def _clip(self, values: np.ndarray) -> np.ndarray:
        return np.maximum(values, 0.0) if self.nonnegative else values

    def _check_h(self, h: int) -> int:
        if not hasattr(self, "forecasts_"):
            raise NotFittedError(self)
        h = check_horizon(h)
        if h > int(self.horizon):
            raise InvalidInput(f"this panel was forecast {self.horizon} steps ahead; refit with horizon >= {h}.")
        return h

    def predict(self, h: int) -> np.ndarray:
        """Combined forecasts, shape (series, h), ``h <= horizon``; all finite."""
        h = self._check_h(h)
        out = self.forecasts_[:, :h].copy()
        assert np.all(np.isfinite(out)), "forecast must be finite"
        return out

    def predict_interval(self, h: int, level: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
        """Bounds (series, h) from each series' backtest errors of the combined forecast."""
        h = self._check_h(h)
        level = check_level(level)
        sd = np.zeros((self.n_series_, h))
        for s in range(self.n_series_):
            errors = self.backtest_errors_[s]
            errors = errors[~np.isnan(errors).any(axis=1)]
            if len(errors):
                sd[s] = backtest_sd(errors, h)
            else:
                sd[s] = self.naive_sigma_[s] * np.sqrt(np.arange(1, h + 1))
        lower, upper = normal_bounds(self.predict(h), sd, level)
        return self._clip(lower), self._clip(upper)


__all__ = ["SELECTS", "PanelForecaster"]
