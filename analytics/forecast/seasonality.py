"""Seasonality test and classical decomposition, as the M4 benchmarks use them.

ETS and Theta here handle seasonality the way the M4 organisers' benchmark
code does: test for it, divide it out with a classical decomposition, model
the adjusted series, and multiply the forecasts back. That keeps the
smoothing models small (two states instead of ``2 + season_length``), which
matters for weekly data with a 52-week season.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import numpy as np

from analytics.core.errors import InvalidInput

SeasonalityKind = Literal["auto", "multiplicative", "additive"]
SEASONALITY_KINDS = ("auto", "multiplicative", "additive", None)


def acf(values: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocorrelations at lags ``1..max_lag`` (biased estimator, as R's ``acf``)."""
    x = values - values.mean()
    denom = float(np.dot(x, x))
    if denom == 0.0:
        return np.zeros(max_lag)
    n = len(x)
    return np.array([float(np.dot(x[: n - k], x[k:])) / denom if k < n else 0.0 for k in range(1, max_lag + 1)])


def is_seasonal(values: np.ndarray, season_length: int) -> bool:
    """The M4 benchmarks' 90% test: is the autocorrelation at the seasonal lag significant?

    Needs at least three full seasons; ``season_length`` 1 is never seasonal.

    Examples
    --------
    >>> t = np.arange(96)
    >>> is_seasonal(10 + np.sin(2 * np.pi * t / 12), 12), is_seasonal(np.arange(96.0), 12)
    (True, False)
    """
    m = season_length
    if m <= 1 or len(values) < 3 * m:
        return False
    r = acf(values, m)
    limit = 1.645 / np.sqrt(len(values)) * np.sqrt(1.0 + 2.0 * np.sum(r[: m - 1] ** 2))
    return bool(abs(r[m - 1]) > limit)


@dataclass(frozen=True)
class SeasonalFactors:
    """Seasonal indices of a classical decomposition, aligned to the fitted history.

    ``indices[i]`` applies to positions ``t`` with ``t % m == i`` (position 0 is
    the first observation); ``n`` is the history length, so step ``k`` ahead
    (1-based) uses ``indices[(n + k - 1) % m]``.
    """

    kind: str  # "multiplicative" or "additive"
    indices: np.ndarray
    n: int

    def in_sample(self) -> np.ndarray:
        m = len(self.indices)
        return self.indices[np.arange(self.n) % m]

    def future(self, h: int) -> np.ndarray:
        m = len(self.indices)
        return self.indices[(self.n + np.arange(h)) % m]

    def adjust(self, values: np.ndarray) -> np.ndarray:
        s = self.in_sample()
        return values / s if self.kind == "multiplicative" else values - s

    def restore(self, adjusted: np.ndarray) -> np.ndarray:
        s = self.future(len(adjusted))
        return adjusted * s if self.kind == "multiplicative" else adjusted + s

    def scale_sd(self, sd: np.ndarray) -> np.ndarray:
        return sd * self.future(len(sd)) if self.kind == "multiplicative" else sd


def classical_indices(values: np.ndarray, season_length: int, kind: str) -> np.ndarray:
    """Seasonal indices from a centred moving-average trend (R's ``decompose``).

    Multiplicative indices average ``y / trend`` per season position and are
    scaled to mean 1; additive ones average ``y - trend`` and are centred on 0.
    """
    m = season_length
    weights = np.r_[0.5, np.ones(m - 1), 0.5] / m if m % 2 == 0 else np.ones(m) / m
    trend = np.convolve(values, weights, mode="valid")
    start = len(weights) // 2
    pos = np.arange(start, start + len(trend))
    ratio = values[pos] / trend if kind == "multiplicative" else values[pos] - trend
    sums = np.bincount(pos % m, weights=ratio, minlength=m)
    counts = np.bincount(pos % m, minlength=m)
    indices = sums / np.maximum(counts, 1)
    if kind == "multiplicative":
        return indices / indices.mean()
    return indices - indices.mean()


def seasonal_factors(
    values: np.ndarray, season_length: int, seasonality: Optional[str], *, test: bool = True
) -> Optional[SeasonalFactors]:
    """Decide on and estimate seasonality; None when the series is treated as non-seasonal.

    ``seasonality`` "auto" is multiplicative for positive series and
    additive otherwise; None turns it off. With ``test`` the M4 seasonality
    test must pass first. Fewer than two full seasons never count as seasonal.
    """
    if seasonality not in SEASONALITY_KINDS:
        raise InvalidInput(f"seasonality must be 'auto', 'multiplicative', 'additive' or None, not {seasonality!r}.")
    m = season_length
    if seasonality is None or m <= 1 or len(values) < 2 * m:
        return None
    if test and not is_seasonal(values, m):
        return None
    kind = seasonality
    positive = bool(np.all(values > 0))
    if kind == "auto" or (kind == "multiplicative" and not positive):
        kind = "multiplicative" if positive else "additive"
    indices = classical_indices(values, m, kind)
    if not np.all(np.isfinite(indices)) or (kind == "multiplicative" and np.any(indices <= 0)):
        return None
    return SeasonalFactors(kind=kind, indices=indices, n=len(values))


__all__ = ["SeasonalFactors", "acf", "classical_indices", "is_seasonal", "seasonal_factors"]
