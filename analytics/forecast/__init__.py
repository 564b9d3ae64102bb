"""Demand forecasting: single-series estimators, a global boosting model, backtest-driven selection, M4 metrics.

Every single-series forecaster follows scikit-learn's conventions:
``__init__`` stores hyperparameters, ``fit(y)`` checks the series and returns
``self``, ``predict(h)`` returns ``h`` finite point forecasts and
``predict_interval(h, level=0.8)`` the lower and upper bounds; using one
before ``fit`` raises :class:`~analytics.core.errors.NotFittedError`, bad input
:class:`~analytics.core.errors.InvalidInput`. How gaps, negative values, constant
and too-short series are handled is in :mod:`analytics.forecast.base`.

Single series (``fit(y)``):

- :class:`Naive`, :class:`SeasonalNaive`, :class:`Drift`: last value, value a season ago, naive plus average change;
- :class:`MovingAverage`, :class:`ExponentialMovingAverage`: mean of the last values, ``s_t = a y_t + (1 - a) s_{t-1}``;
- :class:`AR`, :class:`ARIMA`, :class:`SARIMA`: statsmodels (least squares / exact likelihood);
- :class:`ETS`, :class:`Theta`: our own fast code on the seasonally adjusted series (why: :mod:`.smoothing`);
- :class:`CalendarRegression`: least squares on a trend and calendar or season-position features;
- :class:`LagBoosting`: HistGradientBoosting on the lags of one series;
- :class:`AutoForecaster`: choose or combine candidates by a rolling-origin backtest on the history.

Many series (``fit(panel)``, ``predict(h)`` of shape (series, h)):

- :class:`GlobalLagBoosting`: one HistGradientBoosting model learnt from every series;
- :class:`PanelForecaster`: local and global candidates, chosen or combined by backtest.

Scores: :func:`smape`, :func:`mase`, :func:`owa`, :func:`m4_scores` (the M4 definitions).
``bench/m4_eval.py`` runs everything on M4 Weekly and Hourly against statsforecast.

Examples
--------
>>> import numpy as np
>>> y = 100 + 10 * np.tile([0.0, 1.0, 2.0, 1.0], 20)
>>> auto = AutoForecaster([Naive(), SeasonalNaive(season_length=4), ETS()], horizon=4).fit(y)
>>> auto.chosen_, auto.predict(4).tolist()
('SeasonalNaive(season_length=4)', [100.0, 110.0, 120.0, 110.0])
"""

from analytics.forecast.arima import AR, ARIMA, SARIMA
from analytics.forecast.auto import AutoForecaster
from analytics.forecast.base import BaseForecaster, check_series
from analytics.forecast.boosting import GlobalLagBoosting, LagBoosting
from analytics.forecast.metrics import m4_scores, mase, owa, smape
from analytics.forecast.panel import PanelForecaster
from analytics.forecast.regression import CalendarRegression
from analytics.forecast.simple import Drift, ExponentialMovingAverage, MovingAverage, Naive, SeasonalNaive
from analytics.forecast.smoothing import ETS, Theta

__all__ = [
    "AR",
    "ARIMA",
    "ETS",
    "SARIMA",
    "AutoForecaster",
    "BaseForecaster",
    "CalendarRegression",
    "Drift",
    "ExponentialMovingAverage",
    "GlobalLagBoosting",
    "LagBoosting",
    "MovingAverage",
    "Naive",
    "PanelForecaster",
    "SeasonalNaive",
    "Theta",
    "check_series",
    "m4_scores",
    "mase",
    "owa",
    "smape",
]
