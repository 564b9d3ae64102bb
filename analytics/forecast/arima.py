"""Autoregressive models from statsmodels: AR, ARIMA and seasonal ARIMA.

statsmodels estimates them by exact maximum likelihood in state-space form,
which gives proper prediction intervals; the price is speed (a tenth of a
second for a non-seasonal ARIMA, seconds for a seasonal one with a 24-period
season), so these are candidates for single series, not the M4-scale
workhorses. statsmodels' convergence and starting-value warnings are
silenced: the result is checked for finite forecasts instead, and a model
that fails to fit falls back to the naive forecast with a note.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np
from statsmodels.tsa.ar_model import AutoReg
from statsmodels.tsa.arima.model import ARIMA as _StatsmodelsARIMA
from statsmodels.tsa.arima_process import arma2ma

from analytics.core.errors import InvalidInput
from analytics.forecast.base import BaseForecaster, check_season_length


def _check_order(order: Any, name: str, size: int) -> tuple[int, ...]:
    if (
        not isinstance(order, Sequence)
        or len(order) != size
        or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0 for v in order)
    ):
        raise InvalidInput(f"{name} must be {size} whole numbers >= 0, not {order!r}.")
    return tuple(int(v) for v in order)


class AR(BaseForecaster):
    """Autoregression of order ``p`` with a constant, by least squares (statsmodels ``AutoReg``).

    ``y_t = c + phi_1 y_{t-1} + ... + phi_p y_{t-p} + e_t``. A linear
    trend is extrapolated by ``trend="ct"`` (constant and time trend).
    Intervals from the model's moving-average weights:
    ``sigma * sqrt(sum_{j<step} psi_j^2)``. Needs ``2 * p + 3`` values.

    Parameters
    ----------
    p : int, default 2
    trend : {"c", "ct", "n"}, default "c"
        Constant, constant and linear time trend, or neither.

    Examples
    --------
    >>> y = 10 + 0.5 * np.arange(40.0)
    >>> np.round(AR(p=1, trend="ct").fit(y).predict(2), 3).tolist()
    [30.0, 30.5]
    """

    def __init__(self, p: int = 2, trend: str = "c") -> None:
        self.p = p
        self.trend = trend

    def _min_length(self) -> int:
        return 2 * int(self.p) + 3

    def _check_params(self) -> None:
        if isinstance(self.p, bool) or not isinstance(self.p, (int, np.integer)) or self.p < 1:
            raise InvalidInput(f"p must be a whole number of lags >= 1, not {self.p!r}.")
        if self.trend not in ("c", "ct", "n"):
            raise InvalidInput(f"trend must be 'c', 'ct' or 'n', not {self.trend!r}.")

    def _fit(self, values: np.ndarray) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.result_ = AutoReg(values, lags=int(self.p), trend=self.trend).fit()
        self.sigma_ = float(np.sqrt(self.result_.sigma2))
        self.ar_coefs_ = np.asarray(self.result_.params)[-int(self.p) :]

    def _predict(self, h: int) -> np.ndarray:
        n = self.n_obs_
        return np.asarray(self.result_.predict(start=n, end=n + h - 1), dtype="float64")

    def _predict_sd(self, h: int) -> np.ndarray:
        psi = arma2ma(np.r_[1.0, -self.ar_coefs_], np.array([1.0]), lags=h)
        return self.sigma_ * np.sqrt(np.cumsum(psi**2))


class ARIMA(BaseForecaster):
    """ARIMA(p, d, q), optionally seasonal, by exact maximum likelihood (statsmodels).

    Parameters
    ----------
    order : (p, d, q), default (1, 1, 1)
    seasonal_order : (P, D, Q, m), default (0, 0, 0, 0)
        Seasonal part; ``m`` periods per season.
    trend : {"n", "c", "t", "ct"} or None, default None
        Deterministic terms; None lets statsmodels choose ("c" without
        differencing, none with).
    max_history : int, optional
        Fit on the last ``max_history`` values only: the likelihood costs
        time in proportion to the length (and to the season for SARIMA), and
        decades-old weeks say little about the next quarter. None = all.

    Intervals are statsmodels' (``get_forecast().conf_int``). A series
    shorter than ``2 * (p + q + d + m * (P + D + Q)) + 5`` falls back to naive.

    Examples
    --------
    >>> y = np.cumsum(np.random.default_rng(0).normal(size=60))
    >>> model = ARIMA(order=(0, 1, 0)).fit(y)
    >>> bool(np.allclose(model.predict(3), y[-1]))
    True
    """

    def __init__(
        self,
        order: tuple[int, int, int] = (1, 1, 1),
        seasonal_order: tuple[int, int, int, int] = (0, 0, 0, 0),
        trend: Optional[str] = None,
        max_history: Optional[int] = None,
    ) -> None:
        self.order = order
        self.seasonal_order = seasonal_order
        self.trend = trend
        self.max_history = max_history

    def _orders(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        order = _check_order(self.order, "order", 3)
        seasonal = _check_order(self.seasonal_order, "seasonal_order", 4)
        if any(seasonal[:3]) and seasonal[3] < 2:
            raise InvalidInput(f"seasonal_order needs a season length m >= 2 as its last value, not {seasonal!r}.")
        return order, seasonal

    def _min_length(self) -> int:
        (p, d, q), (sp, sd, sq, m) = self._orders()
        return 2 * (p + d + q + m * (sp + sd + sq)) + 5

    def _check_params(self) -> None:
        self._orders()
        if self.trend not in (None, "n", "c", "t", "ct"):
            raise InvalidInput(f"trend must be None, 'n', 'c', 't' or 'ct', not {self.trend!r}.")
        if self.max_history is not None and (
            isinstance(self.max_history, bool)
            or not isinstance(self.max_history, (int, np.integer))
            or self.max_history < self._min_length()
        ):
            raise InvalidInput(
                f"max_history must be None or a whole number >= {self._min_length()} (what the orders need), "
                f"not {self.max_history!r}."
            )

    def _fit(self, values: np.ndarray) -> None:
        order, seasonal = self._orders()
        if self.max_history is not None:
            values = values[-int(self.max_history) :]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = _StatsmodelsARIMA(values, order=order, seasonal_order=seasonal, trend=self.trend)
                self.result_ = model.fit()
            self.sigma_ = float(np.sqrt(self.result_.params[-1]))
        except (np.linalg.LinAlgError, ValueError) as exc:
            self.sigma_ = float("nan")
            self.error_ = str(exc)

    def _forecast(self, h: int) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.result_.get_forecast(h)

    def _predict(self, h: int) -> np.ndarray:
        if not hasattr(self, "result_"):
            return np.full(h, np.nan)
        return np.asarray(self._forecast(h).predicted_mean, dtype="float64")

    def _predict_sd(self, h: int) -> np.ndarray:
        return np.sqrt(np.asarray(self._forecast(h).var_pred_mean, dtype="float64"))


class SARIMA(ARIMA):
    """Seasonal ARIMA with the airline-like default (1, 0, 1) x (0, 1, 1, m).

    Same as :class:`ARIMA` with a seasonal part required; ``season_length``
    is ``m``. Slow for long seasons (statsmodels' state has about
    ``m * (D + Q)`` elements): seconds per series at m = 24.

    Parameters
    ----------
    season_length : int, default 7
    order : (p, d, q), default (1, 0, 1)
    seasonal_order : (P, D, Q), default (0, 1, 1)
    trend, max_history : as for :class:`ARIMA`

    Examples
    --------
    >>> y = np.tile([1.0, 5.0, 3.0, 2.0], 12) + np.random.default_rng(1).normal(0, 0.01, 48)
    >>> np.round(SARIMA(season_length=4, order=(0, 0, 0)).fit(y).predict(4)).tolist()
    [1.0, 5.0, 3.0, 2.0]
    """

    def __init__(
        self,
        season_length: int = 7,
        order: tuple[int, int, int] = (1, 0, 1),
        seasonal_order: tuple[int, int, int] = (0, 1, 1),
        trend: Optional[str] = None,
        max_history: Optional[int] = None,
    ) -> None:
        self.season_length = season_length
        self.order = order
        self.seasonal_order = seasonal_order  # type: ignore[assignment]
        self.trend = trend
        self.max_history = max_history

    def _orders(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        m = check_season_length(self.season_length)
        if m < 2:
            raise InvalidInput("SARIMA needs season_length >= 2; use ARIMA for non-seasonal series.")
        order = _check_order(self.order, "order", 3)
        seasonal = _check_order(self.seasonal_order, "seasonal_order", 3)
        return order, (*seasonal, m)


__all__ = ["AR", "ARIMA", "SARIMA"]
