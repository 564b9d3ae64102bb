"""Exponential smoothing (ETS) and Theta, written here rather than taken from statsmodels.

Why our own code: the forecasting benchmark fits these models thousands of
times (every series, every backtest window), and statsmodels' ETS takes tens
of milliseconds per fit and a 54-state model for a 52-week season. Here a fit
takes about a millisecond: with fixed smoothing parameters the additive
models are linear filters of the data, so the one-step forecasts of a whole
series come from two :func:`scipy.signal.lfilter` calls, the initial states
are solved by least squares (the forecasts are linear in them) and only the
smoothing parameters go through the optimiser. Seasonality is handled the
way the M4 benchmarks do it (:mod:`analytics.forecast.seasonality`): test,
divide out a classical decomposition, smooth, multiply back.

Models (additive errors, error-correction form; ``e_t = y_t - yhat_t``)::

    SES     yhat_t = l_{t-1};            l_t = l_{t-1} + alpha e_t
    Holt    yhat_t = l_{t-1} + b_{t-1};  l_t = yhat_t + alpha e_t; b_t = b_{t-1} + beta e_t
    Damped  yhat_t = l_{t-1} + phi b_{t-1}; l_t = yhat_t + alpha e_t; b_t = phi b_{t-1} + beta e_t

with 0 < beta <= alpha < 1 and 0.8 <= phi <= 0.98, parameters minimising the
sum of squared one-step errors. Interval variances are the textbook ones for
these models (Hyndman et al. 2008, class 1): ``sigma^2 (1 + sum_{j<h} c_j^2)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from scipy.signal import lfilter

from analytics.core.errors import InvalidInput
from analytics.forecast.base import BaseForecaster, check_season_length
from analytics.forecast.seasonality import SEASONALITY_KINDS, SeasonalFactors, seasonal_factors

TRENDS = (None, "additive", "damped")
_A_MIN, _A_MAX = 1e-4, 0.9999
_PHI_MIN, _PHI_MAX = 0.8, 0.98


@dataclass(frozen=True)
class SmoothingFit:
    """A fitted SES/Holt/damped model: parameters, final states and fit statistics."""

    trend: Optional[str]
    alpha: float
    beta: float
    phi: float
    level: float
    slope: float
    sse: float
    n: int

    @property
    def n_params(self) -> int:
        """Smoothing parameters plus initial states."""
        return {None: 2, "additive": 4, "damped": 5}[self.trend]

    @property
    def sigma(self) -> float:
        return float(np.sqrt(self.sse / self.n))

    @property
    def aicc(self) -> float:
        k = self.n_params + 1
        n = self.n
        aic = n * np.log(max(self.sse, 1e-300) / n) + 2 * k
        return float(aic + 2 * k * (k + 1) / (n - k - 1)) if n - k - 1 > 0 else float("inf")

    def forecast(self, h: int) -> np.ndarray:
        steps = np.arange(1, h + 1)
        if self.trend is None:
            return np.full(h, self.level)
        if self.trend == "additive":
            return self.level + steps * self.slope
        return self.level + np.cumsum(self.phi**steps) * self.slope

    def sd(self, h: int) -> np.ndarray:
        j = np.arange(1, h)
        c: np.ndarray
        if self.trend is None:
            c = np.full(h - 1, self.alpha)
        elif self.trend == "additive":
            c = self.alpha + self.beta * j
        else:
            c = self.alpha + self.beta * self.phi * (1 - self.phi**j) / (1 - self.phi)
        return self.sigma * np.sqrt(1.0 + np.r_[0.0, np.cumsum(c**2)])


def _shift(x: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros_like(x)
    out[k:] = x[: len(x) - k]
    return out


def _ses_sse(y: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """SSE, initial level and final level of SES with smoothing ``alpha``."""
    n = len(y)
    decay = 1.0 - alpha
    p = lfilter([1.0], [1.0, -decay], y)
    zero_state = alpha * _shift(p, 1)  # forecasts with l_0 = 0
    basis = decay ** np.arange(n)  # effect of the initial level
    resid = y - zero_state
    l0 = float(np.dot(resid, basis) / np.dot(basis, basis))
    err = resid - l0 * basis
    level = float(alpha * p[-1] + l0 * decay**n)
    return float(np.dot(err, err)), l0, level


def _trend_sse(y: np.ndarray, alpha: float, beta: float, phi: float) -> tuple[float, np.ndarray, np.ndarray]:
    """SSE, initial and final state (level, slope) of Holt/damped with the given parameters.

    The one-step forecasts are ``zero_state + basis @ x0``: ``zero_state``
    filters the data from a zero initial state, ``basis`` is the response to
    each initial state, both from the filter's denominator (the
    characteristic polynomial of ``D = F - g w'``). ``x0`` solves the 2x2
    normal equations.
    """
    n = len(y)
    d11, d12, d21, d22 = 1 - alpha, phi * (1 - alpha), -beta, phi * (1 - beta)
    den = [1.0, -(d11 + d22), d11 * d22 - d12 * d21]
    # w = (1, phi), g = (alpha, beta), M = adj(zI - D) - zI = [[-d22, d12], [d21, -d11]]
    wg = alpha + phi * beta
    wm0, wm1 = -d22 + phi * d21, d12 - phi * d11
    wmg = wm0 * alpha + wm1 * beta
    p = lfilter([1.0], den, y)
    resid = y.copy()
    resid[1:] -= wg * p[:-1]
    resid[2:] -= wmg * p[:-2]
    impulse = np.zeros(n + 1)
    impulse[0] = 1.0
    q = lfilter([1.0], den, impulse)
    u1 = q[:n] * 1.0
    u1[1:] += wm0 * q[: n - 1]
    u2 = q[:n] * phi
    u2[1:] += wm1 * q[: n - 1]
    g11, g12, g22 = float(u1 @ u1), float(u1 @ u2), float(u2 @ u2)
    r1, r2 = float(u1 @ resid), float(u2 @ resid)
    det = g11 * g22 - g12 * g12
    if det > 1e-12 * max(g11 * g22, 1e-300):
        x0 = np.array([(g22 * r1 - g12 * r2) / det, (g11 * r2 - g12 * r1) / det])
    else:
        x0 = np.array([r1 / g11 if g11 > 0 else 0.0, 0.0])
    sse = max(float(resid @ resid) - (r1 * x0[0] + r2 * x0[1]), 0.0)
    mg = (-d22 * alpha + d12 * beta, d21 * alpha - d11 * beta)
    mx0 = (-d22 * x0[0] + d12 * x0[1], d21 * x0[0] - d11 * x0[1])
    p2 = p[n - 2] if n > 1 else 0.0
    g = (alpha, beta)
    final = np.array([g[i] * p[n - 1] + mg[i] * p2 + x0[i] * q[n] + mx0[i] * q[n - 1] for i in (0, 1)])
    return sse, x0, final


def fit_smoothing(y: np.ndarray, trend: Optional[str] = None) -> SmoothingFit:
    """Fit SES (``trend=None``), Holt (``"additive"``) or damped Holt (``"damped"``) by least squares.

    Examples
    --------
    >>> fit = fit_smoothing(np.arange(20.0), "additive")
    >>> np.round(fit.forecast(3), 6).tolist()
    [20.0, 21.0, 22.0]
    """
    n = len(y)
    if trend is None:
        res = minimize_scalar(lambda a: _ses_sse(y, a)[0], bounds=(_A_MIN, _A_MAX), method="bounded")
        alpha = float(res.x)
        sse, _, level = _ses_sse(y, alpha)
        return SmoothingFit(None, alpha, 0.0, 1.0, level, 0.0, sse, n)

    damped = trend == "damped"

    def unpack(theta: np.ndarray) -> tuple[float, float, float]:
        alpha = float(theta[0])
        return alpha, alpha * float(theta[1]), float(theta[2]) if damped else 1.0

    def objective(theta: np.ndarray) -> float:
        sse = _trend_sse(y, *unpack(theta))[0]
        return sse if np.isfinite(sse) else 1e300

    scale = float(np.dot(y, y)) or 1.0
    starts = [
        np.array([a, b, p]) for a in (0.2, 0.5, 0.9) for b in (0.05, 0.3) for p in ((0.9, 0.98) if damped else (1.0,))
    ]
    best = min(starts, key=objective)
    bounds = [(_A_MIN, _A_MAX), (_A_MIN, _A_MAX), (_PHI_MIN, _PHI_MAX) if damped else (1.0, 1.0)]
    res = minimize(lambda t: objective(t) / scale, best, method="L-BFGS-B", bounds=bounds, options={"maxiter": 60})
    theta = res.x if objective(res.x) <= objective(best) else best
    alpha, beta, phi = unpack(theta)
    sse, _, final = _trend_sse(y, alpha, beta, phi)
    return SmoothingFit(trend, alpha, beta, phi, float(final[0]), float(final[1]), sse, n)


class _SeasonallyAdjusted(BaseForecaster):
    """Shared by ETS and Theta: check the season parameters and divide the season out."""

    season_length: int
    seasonality: Optional[str]

    def _check_season(self) -> None:
        check_season_length(self.season_length)
        if self.seasonality not in SEASONALITY_KINDS:
            raise InvalidInput(
                f"seasonality must be 'auto', 'multiplicative', 'additive' or None, not {self.seasonality!r}."
            )

    def _adjust(self, values: np.ndarray) -> np.ndarray:
        self.seasonal_: Optional[SeasonalFactors] = seasonal_factors(values, int(self.season_length), self.seasonality)
        return values if self.seasonal_ is None else self.seasonal_.adjust(values)

    def _restore(self, adjusted: np.ndarray) -> np.ndarray:
        return adjusted if self.seasonal_ is None else self.seasonal_.restore(adjusted)

    def _restore_sd(self, sd: np.ndarray) -> np.ndarray:
        return sd if self.seasonal_ is None else self.seasonal_.scale_sd(sd)


class ETS(_SeasonallyAdjusted):
    """Exponential smoothing with additive errors: SES, Holt or damped Holt, on the seasonally adjusted series.

    Parameters
    ----------
    trend : {"auto", None, "additive", "damped"}, default "auto"
        "auto" fits all three and keeps the lowest AICc (only SES below 10 values).
    season_length : int, default 1
        Periods per season (52 for weekly, 24 or 168 for hourly); 1 = none.
    seasonality : {"auto", "multiplicative", "additive", None}, default "auto"
        How a season that passes the M4 90% autocorrelation test is divided
        out (classical decomposition; "auto" is multiplicative for positive
        data, else additive).

    Attributes
    ----------
    model_ : SmoothingFit
        The fitted smoothing model on the adjusted series.
    seasonal_ : SeasonalFactors or None
        The seasonal indices, None when no season was found.

    Prediction intervals use the model's analytic variance, multiplied by the
    seasonal index in the multiplicative case.

    Examples
    --------
    >>> model = ETS(trend="additive").fit(np.arange(1.0, 31.0))
    >>> np.round(model.predict(2), 3).tolist()
    [31.0, 32.0]
    """

    min_length = 3

    def __init__(
        self, trend: Optional[str] = "auto", season_length: int = 1, seasonality: Optional[str] = "auto"
    ) -> None:
        self.trend = trend
        self.season_length = season_length
        self.seasonality = seasonality

    def _check_params(self) -> None:
        if self.trend != "auto" and self.trend not in TRENDS:
            raise InvalidInput(f"trend must be 'auto', None, 'additive' or 'damped', not {self.trend!r}.")
        self._check_season()

    def _fit(self, values: np.ndarray) -> None:
        adjusted = self._adjust(values)
        if self.trend == "auto":
            trends: tuple[Optional[str], ...] = TRENDS if len(values) >= 10 else (None,)
            fits = [fit_smoothing(adjusted, t) for t in trends]
            self.model_ = min(fits, key=lambda f: f.aicc)
        else:
            self.model_ = fit_smoothing(adjusted, self.trend)
        self.sigma_ = self.model_.sigma

    def _predict(self, h: int) -> np.ndarray:
        return self._restore(self.model_.forecast(h))

    def _predict_sd(self, h: int) -> np.ndarray:
        return self._restore_sd(self.model_.sd(h))


class Theta(_SeasonallyAdjusted):
    """The standard Theta method (Assimakopoulos & Nikolopoulos 2000), the M4 benchmark.

    On the seasonally adjusted series: simple exponential smoothing plus half
    the slope of a linear trend, as in Hyndman & Billah (2003)::

        yhat_{n+h} = l_n + b/2 * (h - 1 + (1 - (1 - alpha)^n) / alpha)

    where ``b`` is the least-squares slope over time. Intervals are those of
    SES (the usual approximation).

    Parameters
    ----------
    season_length : int, default 1
    seasonality : {"auto", "multiplicative", "additive", None}, default "auto"
        As for :class:`ETS`.

    Examples
    --------
    >>> model = Theta().fit(np.arange(1.0, 41.0))
    >>> bool(model.predict(5)[-1] > 40)
    True
    """

    min_length = 3

    def __init__(self, season_length: int = 1, seasonality: Optional[str] = "auto") -> None:
        self.season_length = season_length
        self.seasonality = seasonality

    def _check_params(self) -> None:
        self._check_season()

    def _fit(self, values: np.ndarray) -> None:
        adjusted = self._adjust(values)
        self.model_ = fit_smoothing(adjusted, None)
        t = np.arange(len(adjusted), dtype="float64")
        self.slope_ = float(np.polyfit(t, adjusted, 1)[0])
        self.sigma_ = self.model_.sigma

    def _predict(self, h: int) -> np.ndarray:
        alpha, n = self.model_.alpha, self.model_.n
        drift = 0.5 * self.slope_ * (np.arange(h) + (1 - (1 - alpha) ** n) / alpha)
        return self._restore(self.model_.forecast(h) + drift)

    def _predict_sd(self, h: int) -> np.ndarray:
        return self._restore_sd(self.model_.sd(h))


__all__ = ["ETS", "TRENDS", "SmoothingFit", "Theta", "fit_smoothing"]
