"""Linear regression on a trend and calendar features.

The features depend on what the series knows about time:

- a :class:`pandas.Series` on a regular :class:`~pandas.DatetimeIndex`
  gets real calendar effects: hour of day and day of week (hourly data),
  day of week and a yearly cycle (daily), a yearly cycle (weekly), month of
  year (monthly); the yearly cycle is ``fourier_terms`` sine/cosine pairs;
- a plain array gets the position in a season of ``season_length``: one
  dummy per position up to 24 positions, sine/cosine pairs beyond.

Fitted by least squares. Intervals: ``sigma * sqrt(1 + x' (X'X)^+ x)``, so
they widen as the trend is extrapolated further.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

from analytics.core.errors import InvalidInput
from analytics.forecast.base import BaseForecaster, check_season_length

_MAX_DUMMIES = 24


def _one_hot(codes: np.ndarray, size: int) -> np.ndarray:
    """Dummies for codes 1..size-1 (code 0 is the baseline absorbed by the intercept)."""
    return (codes[:, None] == np.arange(1, size)[None, :]).astype("float64")


def _fourier(phase: np.ndarray, terms: int) -> np.ndarray:
    """Sine/cosine pairs of ``phase`` (in cycles) for harmonics 1..terms."""
    k = np.arange(1, terms + 1)[None, :]
    angle = 2 * np.pi * phase[:, None] * k
    return np.hstack([np.sin(angle), np.cos(angle)])


class CalendarRegression(BaseForecaster):
    """Least squares on a linear trend and calendar (or seasonal-position) features.

    Parameters
    ----------
    season_length : int, default 1
        Used only for plain arrays: periods per season (1 = no seasonal features).
    trend : bool, default True
        Include a linear time trend.
    fourier_terms : int, default 3
        Sine/cosine pairs for yearly cycles and long seasons.
    max_history : int, optional
        Fit on the last ``max_history`` values only (a straight line through
        decades of history extrapolates badly). None = all.

    Attributes
    ----------
    coef_ : numpy.ndarray
        Intercept, trend slope (if any), then the calendar coefficients.

    Examples
    --------
    >>> y = 2.0 * np.arange(28) + np.tile([0.0, 5.0, 1.0, 1.0, 1.0, 1.0, 1.0], 4)
    >>> np.round(CalendarRegression(season_length=7).fit(y).predict(3), 6).tolist()
    [56.0, 63.0, 61.0]
    """

    def __init__(
        self, season_length: int = 1, trend: bool = True, fourier_terms: int = 3, max_history: Optional[int] = None
    ) -> None:
        self.season_length = season_length
        self.trend = trend
        self.fourier_terms = fourier_terms
        self.max_history = max_history

    def _check_params(self) -> None:
        check_season_length(self.season_length)
        if (
            isinstance(self.fourier_terms, bool)
            or not isinstance(self.fourier_terms, (int, np.integer))
            or self.fourier_terms < 1
        ):
            raise InvalidInput(f"fourier_terms must be a whole number >= 1, not {self.fourier_terms!r}.")
        if self.max_history is not None and (
            isinstance(self.max_history, bool)
            or not isinstance(self.max_history, (int, np.integer))
            or self.max_history < 2
        ):
            raise InvalidInput(f"max_history must be None or a whole number >= 2, not {self.max_history!r}.")

    def _calendar(self, stamps: pd.DatetimeIndex) -> np.ndarray:
        step = (stamps[1] - stamps[0]) if len(stamps) > 1 else pd.Timedelta(days=1)
        terms = int(self.fourier_terms)
        year_phase = (stamps.dayofyear.to_numpy() - 1) / 365.25
        blocks: list[np.ndarray] = []
        if step < pd.Timedelta(days=1):
            blocks += [_one_hot(stamps.hour.to_numpy(), 24), _one_hot(stamps.dayofweek.to_numpy(), 7)]
        elif step == pd.Timedelta(days=1):
            blocks += [_one_hot(stamps.dayofweek.to_numpy(), 7), _fourier(year_phase, terms)]
        elif step <= pd.Timedelta(days=7):
            blocks.append(_fourier(year_phase, terms))
        elif step <= pd.Timedelta(days=31):
            blocks.append(_one_hot(stamps.month.to_numpy() - 1, 12))
        return np.hstack(blocks) if blocks else np.empty((len(stamps), 0))

    def _positional(self, t: np.ndarray) -> np.ndarray:
        m = int(self.season_length)
        if m <= 1:
            return np.empty((len(t), 0))
        if m <= _MAX_DUMMIES:
            return _one_hot(t % m, m)
        return _fourier((t % m) / m, min(int(self.fourier_terms), m // 2))

    def _design(self, t: np.ndarray) -> np.ndarray:
        cols: list[np.ndarray] = [np.ones((len(t), 1))]
        if self.trend:
            cols.append((t / max(self.n_obs_, 1))[:, None])  # on [0, 1] over the history: a well-scaled column
        if self.index_ is not None and self.index_.freq is not None:
            stamps = pd.date_range(self.index_[0], periods=int(t.max()) + 1, freq=self.index_.freq)[t]
            cols.append(self._calendar(stamps))
        else:
            cols.append(self._positional(t))
        return np.hstack(cols)

    def _min_length(self) -> int:
        # enough values for every coefficient plus two degrees of freedom
        return self._design(np.arange(2)).shape[1] + 2

    def _fit(self, values: np.ndarray) -> None:
        # t counts from the first value, so calendar and season positions stay aligned when history is cut
        start = 0 if self.max_history is None else max(len(values) - int(self.max_history), 0)
        self.start_ = start
        values = values[start:]
        x = self._design(np.arange(start, start + len(values)))
        self.coef_, *_ = np.linalg.lstsq(x, values, rcond=None)
        resid = values - x @ self.coef_
        dof = max(len(values) - np.linalg.matrix_rank(x), 1)
        self.sigma_ = float(np.sqrt(resid @ resid / dof))
        self.xtx_pinv_ = np.linalg.pinv(x.T @ x)

    def _future(self, h: int) -> np.ndarray:
        return self._design(np.arange(self.n_obs_, self.n_obs_ + h))

    def _predict(self, h: int) -> np.ndarray:
        return self._future(h) @ self.coef_

    def _predict_sd(self, h: int) -> np.ndarray:
        x = self._future(h)
        leverage = np.einsum("ij,jk,ik->i", x, self.xtx_pinv_, x)
        return self.sigma_ * np.sqrt(1.0 + np.maximum(leverage, 0.0))


__all__ = ["CalendarRegression"]
