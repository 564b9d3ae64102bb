"""Benchmark forecasters: naive, seasonal naive, drift, moving average and exponential moving average.

They are the yardsticks every other model must beat, and the fallbacks when
a series is too short for anything else. Intervals are normal, with the
standard deviation of the model's in-sample one-step errors growing with the
step as each docstring says.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from analytics.core.errors import InvalidInput
from analytics.forecast.base import BaseForecaster, check_season_length


class Naive(BaseForecaster):
    """Every future value equals the last one (a random walk).

    Intervals: ``sigma * sqrt(step)``, ``sigma`` the root mean square of the
    one-step changes.

    Examples
    --------
    >>> Naive().fit([3.0, 5.0, 4.0]).predict(2).tolist()
    [4.0, 4.0]
    """

    min_length = 1

    def __init__(self) -> None:
        pass

    def _fit(self, values: np.ndarray) -> None:
        self.sigma_ = float(np.sqrt(np.mean(np.diff(values) ** 2))) if len(values) > 1 else 0.0

    def _predict(self, h: int) -> np.ndarray:
        return np.full(h, self.last_)


class SeasonalNaive(BaseForecaster):
    """Every future value equals the value one season earlier.

    Needs one full season (``season_length`` values), else falls back to naive.
    Intervals: ``sigma * sqrt(full seasons ahead)``, ``sigma`` the root mean
    square of the seasonal differences.

    Parameters
    ----------
    season_length : int, default 7
        Periods per season (7 for daily data with a weekly cycle, 24 hourly, 52 weekly).

    Examples
    --------
    >>> SeasonalNaive(season_length=3).fit([1.0, 2.0, 3.0, 1.0, 2.0, 4.0]).predict(4).tolist()
    [1.0, 2.0, 4.0, 1.0]
    """

    def __init__(self, season_length: int = 7) -> None:
        self.season_length = season_length

    def _min_length(self) -> int:
        return int(self.season_length)

    def _check_params(self) -> None:
        check_season_length(self.season_length)

    def _fit(self, values: np.ndarray) -> None:
        m = int(self.season_length)
        self.season_ = values[-m:].copy()
        diffs = values[m:] - values[:-m]
        self.sigma_ = float(np.sqrt(np.mean(diffs**2))) if len(diffs) else float(np.std(values))

    def _predict(self, h: int) -> np.ndarray:
        return np.resize(self.season_, h)

    def _predict_sd(self, h: int) -> np.ndarray:
        seasons_ahead = np.arange(h) // int(self.season_length) + 1
        return self.sigma_ * np.sqrt(seasons_ahead)


class Drift(BaseForecaster):
    """Naive plus the average change per period (the line through the first and last values).

    Intervals: ``sigma * sqrt(step * (1 + step / (n - 1)))`` (Hyndman & Athanasopoulos, FPP3 5.5).

    Examples
    --------
    >>> Drift().fit([1.0, 2.0, 3.0]).predict(2).tolist()
    [4.0, 5.0]
    """

    min_length = 2

    def __init__(self) -> None:
        pass

    def _fit(self, values: np.ndarray) -> None:
        self.slope_ = float((values[-1] - values[0]) / (len(values) - 1))
        steps = np.diff(values) - self.slope_
        self.sigma_ = float(np.sqrt(np.mean(steps**2)))

    def _predict(self, h: int) -> np.ndarray:
        return self.last_ + self.slope_ * np.arange(1, h + 1)

    def _predict_sd(self, h: int) -> np.ndarray:
        k = np.arange(1, h + 1)
        return self.sigma_ * np.sqrt(k * (1 + k / (self.n_obs_ - 1)))


class MovingAverage(BaseForecaster):
    """Every future value equals the mean of the last ``window`` values.

    Shorter series use the mean of what there is (no fallback needed).
    Intervals: ``sigma * sqrt(step)``, ``sigma`` the root mean square of the
    in-sample one-step errors of the moving average.

    Parameters
    ----------
    window : int, default 4

    Examples
    --------
    >>> MovingAverage(window=2).fit([1.0, 2.0, 4.0]).predict(2).tolist()
    [3.0, 3.0]
    """

    min_length = 1

    def __init__(self, window: int = 4) -> None:
        self.window = window

    def _check_params(self) -> None:
        if isinstance(self.window, bool) or not isinstance(self.window, (int, np.integer)) or self.window < 1:
            raise InvalidInput(f"window must be a whole number of periods >= 1, not {self.window!r}.")

    def _fit(self, values: np.ndarray) -> None:
        w = int(self.window)
        self.mean_ = float(values[-w:].mean())
        if len(values) > w:
            past = np.convolve(values, np.ones(w) / w, mode="valid")[:-1]
            errors = values[w:] - past
            self.sigma_ = float(np.sqrt(np.mean(errors**2)))
        else:
            self.sigma_ = float(np.std(values))

    def _predict(self, h: int) -> np.ndarray:
        return np.full(h, self.mean_)


class ExponentialMovingAverage(BaseForecaster):
    """Exponentially weighted moving average with a fixed weight ``alpha``.

    ``s_0 = y_0`` and ``s_t = alpha * y_t + (1 - alpha) * s_{t-1}``; every
    future value equals the last ``s``. (With ``alpha`` estimated from the
    data this is simple exponential smoothing: ``ETS(trend=None)``.)
    Intervals: those of simple exponential smoothing,
    ``sigma * sqrt(1 + alpha^2 (step - 1))``.

    Parameters
    ----------
    alpha : float, default 0.3
        Weight of the newest value, in (0, 1].

    Attributes
    ----------
    smoothed_ : numpy.ndarray
        ``s_t`` for every period of the history.

    Examples
    --------
    >>> ExponentialMovingAverage(alpha=0.5).fit([2.0, 4.0, 8.0]).smoothed_.tolist()
    [2.0, 3.0, 5.5]
    """

    min_length = 1

    def __init__(self, alpha: float = 0.3) -> None:
        self.alpha = alpha

    def _check_params(self) -> None:
        try:
            ok = 0.0 < float(self.alpha) <= 1.0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise InvalidInput(f"alpha must be a weight in (0, 1] (0.3 is usual), not {self.alpha!r}.")

    def _fit(self, values: np.ndarray) -> None:
        a = float(self.alpha)
        # s_t = a y_t + (1 - a) s_{t-1}, started at s_0 = y_0: a first-order IIR filter
        zi = np.array([(1 - a) * values[0]])
        smoothed, _ = lfilter([a], [1.0, -(1 - a)], values[1:], zi=zi) if len(values) > 1 else (np.array([]), None)
        self.smoothed_ = np.r_[values[0], smoothed]
        errors = values[1:] - self.smoothed_[:-1]
        self.sigma_ = float(np.sqrt(np.mean(errors**2))) if len(errors) else 0.0

    def _predict(self, h: int) -> np.ndarray:
        return np.full(h, float(self.smoothed_[-1]))

    def _predict_sd(self, h: int) -> np.ndarray:
        a = float(self.alpha)
        return self.sigma_ * np.sqrt(1 + a**2 * np.arange(h))


__all__ = ["Drift", "ExponentialMovingAverage", "MovingAverage", "Naive", "SeasonalNaive"]
