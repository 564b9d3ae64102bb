"""Forecast accuracy as the M4 competition scores it.

- ``smape``: ``mean(200 * |y - yhat| / (|y| + |yhat|))``, in percent (0..200).
  A step where both the actual and the forecast are 0 counts as 0 (a
  perfect forecast), not as 0/0.
- ``mase``: mean absolute error divided by the in-sample mean absolute error
  of the seasonal naive forecast with period ``m`` over the training series.
  The M4 organisers use ``m = 1`` for weekly data and ``m = 24`` for hourly;
  with those, these functions reproduce the official Naive (weekly
  9.161 / 2.777) and seasonal naive (hourly 13.912 / 1.193) scores.
- ``owa``: the M4 overall weighted average, the mean of sMAPE and MASE each
  relative to a benchmark's (Naive2 in M4).

Series-level scores are averaged over series with equal weight (the M4 way).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from analytics.core.errors import InvalidInput


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    actual = np.asarray(y_true, dtype="float64")
    forecast = np.asarray(y_pred, dtype="float64")
    if actual.shape != forecast.shape:
        raise InvalidInput(f"y_true and y_pred must have the same shape, got {actual.shape} and {forecast.shape}.")
    if actual.size == 0:
        raise InvalidInput("y_true is empty; score at least one forecast step.")
    if not (np.all(np.isfinite(actual)) and np.all(np.isfinite(forecast))):
        raise InvalidInput("y_true and y_pred must be finite; a NaN forecast cannot be scored.")
    return actual, forecast


def smape(y_true: Any, y_pred: Any) -> float:
    """Symmetric mean absolute percentage error, M4 definition, in percent.

    Examples
    --------
    >>> round(smape([100.0, 200.0], [110.0, 180.0]), 4)  # 200*10/210 and 200*20/380, averaged
    10.0251
    >>> smape([0.0], [0.0])
    0.0
    """
    actual, forecast = _pair(y_true, y_pred)
    denom = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(np.abs(actual - forecast), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(200.0 * ratio.mean())


def seasonal_naive_mae(y_train: Any, m: int = 1) -> float:
    """In-sample mean absolute error of the seasonal naive forecast, ``mean |y_t - y_{t-m}|`` (the MASE scale)."""
    history = np.asarray(y_train, dtype="float64")
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise InvalidInput(f"m must be a whole number of periods >= 1, not {m!r}.")
    if history.ndim != 1 or len(history) <= m:
        raise InvalidInput(f"y_train needs more than m={m} values to compute the MASE scale, got {history.size}.")
    return float(np.mean(np.abs(history[m:] - history[:-m])))


def mase(y_true: Any, y_pred: Any, y_train: Any, m: int = 1) -> float:
    """Mean absolute scaled error: MAE over the in-sample seasonal naive MAE with period ``m``.

    Raises
    ------
    InvalidInput
        If the training series is constant at lag ``m`` (the scale is 0) or too short.

    Examples
    --------
    >>> mase([5.0, 7.0], [6.0, 6.0], [1.0, 2.0, 4.0])  # MAE 1, naive steps 1 and 2 -> scale 1.5
    0.6666666666666666
    """
    actual, forecast = _pair(y_true, y_pred)
    scale = seasonal_naive_mae(y_train, m)
    if scale == 0:
        raise InvalidInput(f"y_train does not change at lag m={m}, so MASE is undefined (division by 0).")
    return float(np.mean(np.abs(actual - forecast)) / scale)


def owa(smape_value: float, mase_value: float, smape_benchmark: float, mase_benchmark: float) -> float:
    """M4 overall weighted average: ``(sMAPE / sMAPE_bench + MASE / MASE_bench) / 2``.

    Examples
    --------
    >>> round(owa(9.0, 2.0, 10.0, 2.5), 6)
    0.85
    """
    return 0.5 * (smape_value / smape_benchmark + mase_value / mase_benchmark)


def m4_scores(train: Sequence[Any], actuals: Sequence[Any], forecasts: Sequence[Any], m: int = 1) -> dict[str, float]:
    """Mean sMAPE and mean MASE over a set of series, each series weighing the same (M4).

    Parameters
    ----------
    train : sequence of 1-D arrays
        The training part of each series (for the MASE scale).
    actuals, forecasts : sequences of 1-D arrays, or 2-D arrays (series x horizon)
    m : int
        MASE period (1 for M4 weekly, 24 for hourly).

    Examples
    --------
    >>> m4_scores([[1.0, 2.0, 3.0]], [[4.0, 5.0]], [[3.0, 3.0]])
    {'smape': 39.285714285714285, 'mase': 1.5}
    """
    if not (len(train) == len(actuals) == len(forecasts)) or len(train) == 0:
        raise InvalidInput(
            f"train, actuals and forecasts must hold the same number (> 0) of series, "
            f"got {len(train)}, {len(actuals)} and {len(forecasts)}."
        )
    s = [smape(a, f) for a, f in zip(actuals, forecasts)]
    q = [mase(a, f, t, m) for t, a, f in zip(train, actuals, forecasts)]
    return {"smape": float(np.mean(s)), "mase": float(np.mean(q))}


__all__ = ["m4_scores", "mase", "owa", "seasonal_naive_mae", "smape"]
