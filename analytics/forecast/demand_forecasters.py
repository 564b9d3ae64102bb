"""Choosing and fitting a forecaster per demand series (:func:`forecast_demand`).

How they are forecast
---------------------
With :class:`~analytics.forecast.PanelForecaster`, candidates scored by a
rolling-origin backtest of ``n_windows`` windows of the horizon
(:data:`N_WINDOWS`) on the history, by MASE (``metric="mae"``, errors scaled
per series):

- the shop and each category choose their own combination (``select="series"``,
  ``combine="best-combination"``: the equal-weight mean of the one to three
  candidates with the lowest backtest error);
- products are forecast in groups of :data:`PRODUCT_GROUP_SIZE`, in order of
  revenue, and each group chooses one combination for all its products
  (``select="panel"``). One intermittent product's few windows are a noisy
  basis for a choice: on Online Retail (the 600 best sellers' daily units,
  three origins in September and October 2011) a choice per product scored
  MASE 1.33-1.38 against 1.24 for one choice for all; groups of 150 by
  revenue did about as well as one choice for all (1.40 against 1.38 on
  1,200 products daily, equal weekly) and let the progress bar move. These
  origins overlap those of ``bench/retail_forecast.py``.

Candidates (:func:`candidates`) are cheap, robust models fit for the
frequency and for one year of data: daily, seasonal naive, SES, ETS
(aggregates), Theta, a moving average of a week, an exponential moving
average, naive and a calendar regression, all with a season of one week of
open days; weekly, naive, a 4-week moving average, an exponential moving
average, SES, Theta, drift and ETS (aggregates), with a yearly season (and a
yearly seasonal naive) only once the history holds two years. A global
boosting model was tried on products and never chosen by the backtest, so it
is not run. Intervals (``interval_level``, default 80%) come from each
series' backtest errors of the combined forecast; forecasts and bounds are
clipped at 0. The backtest MASE stored per series is the mean over its
windows of the mean absolute error divided by the in-sample MAE of the
seasonal naive forecast (a week of open days daily, the naive forecast
weekly) at each window's origin.

"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from analytics.forecast.demand_series import (
    DEFAULT_HORIZON,
    LEVELS,
    MEASURES,
    DemandData,
    DemandSeries,
    check_count,
    check_freq,
)

if TYPE_CHECKING:
    from analytics.forecast import BaseForecaster, PanelForecaster

Progress = Callable[[str, int, int], None]

#: Backtest windows of one horizon each.
N_WINDOWS = {"D": 4, "W": 3}
#: Products are forecast in groups of this many, in order of revenue; each group chooses its combination.
PRODUCT_GROUP_SIZE = 200


def no_progress(_step: str, _done: int, _total: int) -> None:
    """The default progress callback: report nothing."""
    return None


def candidates(freq: str, season_length: int, level: str) -> dict[str, BaseForecaster]:
    """The candidate models of a level (module docstring), named as they appear in the store."""
    # the engine (statsmodels and all) loads with the first forecast, not with the chat-time reads below
    from analytics.forecast import (
        ETS,
        CalendarRegression,
        Drift,
        ExponentialMovingAverage,
        MovingAverage,
        Naive,
        SeasonalNaive,
        Theta,
    )

    freq, m = check_freq(freq), int(season_length)
    aggregate = level != "product"
    out: dict[str, BaseForecaster] = {}
    if freq == "D":
        out["seasonal naive"] = SeasonalNaive(season_length=m)
        out["SES"] = ETS(trend=None, season_length=m)
        if aggregate:
            out["ETS"] = ETS(season_length=m)
        out["Theta"] = Theta(season_length=m)
        out[f"moving average ({m})"] = MovingAverage(window=m)
        out["EMA (0.2)"] = ExponentialMovingAverage(alpha=0.2)
        out["naive"] = Naive()
        out["calendar regression"] = CalendarRegression(season_length=m, max_history=16 * m)
        return out
    if m > 1:
        out[f"seasonal naive ({m})"] = SeasonalNaive(season_length=m)
    out["naive"] = Naive()
    out["moving average (4)"] = MovingAverage(window=4)
    out["EMA (0.2)"] = ExponentialMovingAverage(alpha=0.2)
    out["SES"] = ETS(trend=None, season_length=52)
    out["Theta"] = Theta(season_length=52)
    if aggregate:
        out["drift"] = Drift()
        out["ETS"] = ETS(season_length=52)
    return out


def mase_scale_period(freq: str, season_length: int) -> int:
    """Period of the seasonal naive forecast that scales MASE: a week of open days (daily), 1 (weekly)."""
    return int(season_length) if check_freq(freq) == "D" else 1


def make_forecaster(
    freq: str, season_length: int, level: str, model_horizon: int, *, n_jobs: int = 1
) -> PanelForecaster:
    """The forecaster of one level, as :func:`forecast_demand` and the benchmark use it."""
    from analytics.forecast import PanelForecaster

    freq = check_freq(freq)
    return PanelForecaster(
        local=candidates(freq, season_length, level),
        horizon=model_horizon,
        n_windows=N_WINDOWS[freq],
        combine="best-combination",
        select="panel" if level == "product" else "series",
        metric="mae",
        season_length=mase_scale_period(freq, season_length),
        n_jobs=n_jobs,
        nonnegative=True,
    )


@dataclass(frozen=True, eq=False)
class SeriesForecast:
    """One series' forecast over the calendar horizon (closed days included, at 0)."""

    level: str
    key: str
    name: str
    measure: str
    model: str
    backtest_mase: Optional[float]
    n_observations: int
    periods: pd.DatetimeIndex
    point: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def describe(names: Sequence[str], weights: np.ndarray) -> str:
    """``"SES"`` or ``"0.50 SES + 0.50 Theta"`` for candidate weights (NaN: the median of all).

    Examples
    --------
    >>> describe(["naive", "SES", "Theta"], np.array([0.0, 0.5, 0.5]))
    '0.50 SES + 0.50 Theta'
    """
    if np.isnan(weights).any():
        return "median of " + ", ".join(names)
    used = [(n, float(w)) for n, w in zip(names, weights) if w > 0]
    if len(used) == 1:
        return used[0][0]
    return " + ".join(f"{w:.2f} {n}" for n, w in used)


def backtest_mase(y: np.ndarray, errors: np.ndarray, horizon: int, m: int) -> Optional[float]:
    """Mean over the valid backtest windows of MAE / in-sample seasonal-naive MAE at the window's origin.

    ``errors`` is (windows, horizon) as :class:`PanelForecaster` keeps them
    (NaN rows: windows the series was too short for); None when no window
    was valid. The windows end where the history ends, one ``horizon`` apart.
    """
    n_windows = errors.shape[0]
    values = []
    for j in range(n_windows):
        origin = len(y) - horizon * (n_windows - j)
        if origin < 3 or np.isnan(errors[j]).any():
            continue
        hist = y[:origin]
        lag = m if origin > m else 1
        scale = float(np.mean(np.abs(hist[lag:] - hist[:-lag])))
        if not scale > 0:
            scale = float(np.mean(np.abs(hist))) or 1.0
        values.append(float(np.mean(np.abs(errors[j]))) / scale)
    return float(np.mean(values)) if values else None


def _groups(data: DemandData) -> list[tuple[str, str, list[DemandSeries], str]]:
    """(level, measure, series, label) in the order they are forecast; products in revenue-ranked groups."""
    out: list[tuple[str, str, list[DemandSeries], str]] = []
    for level in LEVELS:
        for measure in MEASURES:
            chosen = [s for s in data.series if s.level == level and s.measure == measure]
            if level != "product":
                out.append((level, measure, chosen, f"{level} {measure}"))
                continue
            for start in range(0, len(chosen), PRODUCT_GROUP_SIZE):
                group = chosen[start : start + PRODUCT_GROUP_SIZE]
                label = f"products {start + 1}-{start + len(group)} of {len(chosen)}, {measure}"
                out.append((level, measure, group, label))
    return [g for g in out if g[2]]


def forecast_demand(
    data: DemandData,
    horizon: Optional[int] = None,
    *,
    interval_level: float = 0.8,
    n_jobs: int = 1,
    progress: Progress = no_progress,
) -> list[SeriesForecast]:
    """Forecast every series of ``data`` ``horizon`` calendar periods ahead (module docstring).

    Progress is reported as ``(what, series done, series in all)`` after each
    group. Forecasts and bounds are finite and non-negative, with
    ``lower <= point <= upper``; closed days get 0, 0, 0.
    """
    horizon = check_count(DEFAULT_HORIZON[data.freq] if horizon is None else horizon, "horizon", 1)
    n_jobs = check_count(n_jobs, "n_jobs", 1)
    stamps, open_mask = data.future(horizon)
    model_h = data.model_horizon(horizon)
    m = mase_scale_period(data.freq, data.season_length)
    total = len(data.series)
    out: list[SeriesForecast] = []
    done = 0
    # one BLAS/OpenMP thread, as the refresh: on 2 shared cores, spinning threads only slow everyone down
    with threadpool_limits(limits=1):
        for level, measure, group, label in _groups(data):
            jobs = n_jobs if level == "product" else 1  # one or a few aggregate series: no process to start
            forecaster = make_forecaster(data.freq, data.season_length, level, model_h, n_jobs=jobs)
            forecaster.fit([s.values.to_numpy() for s in group])
            point = forecaster.predict(model_h)
            lower, upper = forecaster.predict_interval(model_h, level=interval_level)
            weights = np.atleast_2d(forecaster.weights_)
            for i, s in enumerate(group):
                row_weights = weights[i] if forecaster.select == "series" else weights[0]
                full = [np.zeros(horizon), np.zeros(horizon), np.zeros(horizon)]
                for arr, values in zip(full, (point[i], lower[i], upper[i])):
                    arr[open_mask] = values[: int(open_mask.sum())]
                if not all(np.all(np.isfinite(a)) for a in full):  # the engine guarantees it; never store a NaN
                    raise RuntimeError(f"the {level} {s.key!r} {measure} forecast is not finite")
                p = np.maximum(full[0], 0.0)
                lo = np.clip(full[1], 0.0, p)
                hi = np.maximum(full[2], p)
                out.append(
                    SeriesForecast(
                        level=level,
                        key=s.key,
                        name=s.name,
                        measure=measure,
                        model=describe(forecaster.names_, row_weights),
                        backtest_mase=backtest_mase(s.values.to_numpy(), forecaster.backtest_errors_[i], model_h, m),
                        n_observations=len(s.values),
                        periods=stamps,
                        point=p,
                        lower=lo,
                        upper=hi,
                    )
                )
            done += len(group)
            progress(label, done, total)
    return out
