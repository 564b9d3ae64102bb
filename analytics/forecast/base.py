"""Input checks and the base class every forecaster of :mod:`analytics.forecast` shares.

What a series may be
--------------------
A 1-D array-like of numbers (list, numpy array) or a :class:`pandas.Series`.
A Series with a :class:`~pandas.DatetimeIndex` is put on a regular calendar:
its frequency is the index's ``freq``, else the inferred one, else the most
common step between timestamps.

How awkward series are handled (:func:`check_series`)
-----------------------------------------------------
- **Missing periods** (timestamps absent from a regular calendar) and
  **missing values** (NaN) are filled with 0: for sales, a period that
  nobody recorded is a period without sales. A note says how many were filled.
- **Negative values** are kept: in net sales a period with more returns than
  sales really is negative. Models that need positive data (multiplicative
  seasonality) switch to their additive form. ``AutoForecaster(nonnegative=True)``
  clips forecasts and bounds at 0 for quantities that cannot be negative.
- **Constant series** (all zeros included) forecast the constant, with
  zero-width intervals; no model is fitted, so nothing can divide by a zero
  variance.
- **Too short** for a model (each model states its ``min_length``): the
  model falls back to the naive forecast (last value) and says so in
  ``notes_``.
- Empty series, infinite values, text, 2-D input, unsorted or duplicated
  timestamps raise :class:`~analytics.core.errors.InvalidInput` with what to fix.

Whatever a model does, ``predict`` never returns NaN: a non-finite forecast
is replaced by the naive one and a note is added (and then asserted finite).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.base import BaseEstimator

from analytics.core.errors import InvalidInput, NotFittedError


@dataclass
class SeriesData:
    """A checked series: float values, their regular timestamps (or None) and what was changed."""

    values: np.ndarray
    index: Optional[pd.DatetimeIndex] = None
    notes: list[str] = field(default_factory=list)


def _regular_index(index: pd.DatetimeIndex, name: str) -> pd.DatetimeIndex:
    if index.hasnans:
        raise InvalidInput(f"{name} has missing timestamps (NaT) in its index; drop those rows.")
    if index.has_duplicates:
        raise InvalidInput(f"{name} has duplicated timestamps; sum the values per period first (e.g. resample).")
    if not index.is_monotonic_increasing:
        raise InvalidInput(f"{name} has unsorted timestamps; call .sort_index() first.")
    freq = index.freq
    if freq is None and len(index) >= 3:
        inferred = pd.infer_freq(index)
        freq = pd.tseries.frequencies.to_offset(inferred) if inferred else None
    if freq is None and len(index) >= 2:
        step = pd.Series(index[1:] - index[:-1]).mode().iloc[0]
        freq = pd.tseries.frequencies.to_offset(step)
    if freq is None:
        return index
    regular = pd.date_range(index[0], index[-1], freq=freq)
    if not index.isin(regular).all():
        raise InvalidInput(
            f"{name} has timestamps off a regular {freq.freqstr} calendar; aggregate per period first, "
            f"e.g. series.resample('{freq.freqstr}').sum()."
        )
    return regular


def check_series(y: Any, *, name: str = "y") -> SeriesData:
    """Check a series and return it as floats with the module's gap rules applied.

    Parameters
    ----------
    y : array-like or pandas.Series
        The history, oldest first.
    name : str
        How messages call the series.

    Raises
    ------
    InvalidInput
        Empty, 2-D, non-numeric or infinite input, or a bad datetime index.

    Examples
    --------
    >>> s = pd.Series([3.0, 4.0], index=pd.to_datetime(["2011-01-03", "2011-01-17"]))
    >>> data = check_series(s.asfreq("W-MON"))
    >>> data.values.tolist(), data.notes
    ([3.0, 0.0, 4.0], ['1 missing value(s) filled with 0 (a period without sales).'])
    """
    notes: list[str] = []
    index: Optional[pd.DatetimeIndex] = None
    missing_periods = 0
    if isinstance(y, pd.DataFrame):
        raise InvalidInput(f"{name} must be one series, not a DataFrame; pass one column, e.g. frame['sales'].")
    if isinstance(y, pd.Series):
        series = y
        if isinstance(series.index, pd.DatetimeIndex) and len(series) > 0:
            regular = _regular_index(series.index, name)
            if len(regular) != len(series.index):
                missing_periods = len(regular) - len(series.index)
                notes.append(f"{missing_periods} missing period(s) filled with 0 (a period without sales).")
                series = series.reindex(regular)
            index = regular
        raw: Any = series.to_numpy()
    else:
        raw = y
    try:
        values = np.asarray(raw, dtype="float64")
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} must hold numbers only; convert or drop the non-numeric values.") from exc
    if values.ndim != 1:
        raise InvalidInput(f"{name} must be 1-D (one value per period), got shape {values.shape}.")
    if values.size == 0:
        raise InvalidInput(f"{name} is empty; a forecast needs at least one observed period.")
    if np.isinf(values).any():
        raise InvalidInput(f"{name} has {int(np.isinf(values).sum())} infinite value(s); fix or drop them.")
    nan = np.isnan(values)
    if nan.any():
        values = np.where(nan, 0.0, values)
        if int(nan.sum()) > missing_periods:
            notes.append(f"{int(nan.sum()) - missing_periods} missing value(s) filled with 0 (a period without sales).")
    if (values < 0).any():
        notes.append(f"{int((values < 0).sum())} negative value(s) kept (net of returns).")
    return SeriesData(values=values, index=index, notes=notes)


def check_horizon(h: Any) -> int:
    """``h`` as a positive int, or :class:`InvalidInput`."""
    if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1:
        raise InvalidInput(f"h must be a whole number of periods >= 1, not {h!r}.")
    return int(h)


def check_level(level: Any) -> float:
    """A coverage probability in (0, 1), or :class:`InvalidInput` (80 is not 0.8)."""
    try:
        value = float(level)
    except (TypeError, ValueError):
        raise InvalidInput(f"level must be a probability such as 0.8 or 0.95, not {level!r}.") from None
    if not 0.0 < value < 1.0:
        hint = f" (for {value:g}% pass {value / 100:g})" if 1.0 < value < 100.0 else ""
        raise InvalidInput(f"level must be strictly between 0 and 1, such as 0.8 or 0.95{hint}.")
    return value


def check_season_length(m: Any, name: str = "season_length") -> int:
    """A season length >= 1 as an int, or :class:`InvalidInput`."""
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise InvalidInput(f"{name} must be a whole number of periods >= 1 (1 = no seasonality), not {m!r}.")
    return int(m)


def normal_bounds(point: np.ndarray, sd: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric normal interval ``point +/- z * sd`` of coverage ``level``."""
    z = float(norm.ppf(0.5 + level / 2.0))
    return point - z * sd, point + z * sd


class BaseForecaster(BaseEstimator):
    """Template for the single-series forecasters.

    Subclasses implement ``_fit(values)`` (a checked, non-constant series at
    least :attr:`min_length` long), ``_predict(h)`` and, when they have a
    better formula than the default, ``_predict_sd(h)``. They set
    ``sigma_``, the standard deviation of their one-step in-sample errors.

    Attributes (after ``fit``)
    --------------------------
    n_obs_ : int
        Length of the checked history.
    notes_ : list of str
        What was done to the series or model (filled gaps, fallbacks).
    fallback_ : str or None
        ``"constant"`` or ``"naive"`` when the model was not fitted, else None.
    sigma_ : float
        Standard deviation of one-step in-sample errors.
    """

    #: Shortest history the model can be fitted on; shorter series fall back to naive.
    min_length: int = 1

    def _min_length(self) -> int:
        return self.min_length

    def fit(self, y: Any) -> BaseForecaster:
        """Check ``y`` (see :func:`check_series`) and fit the model.

        Returns
        -------
        self
        """
        data = check_series(y)
        self._check_params()
        values = data.values
        self.index_ = data.index
        self.notes_ = list(data.notes)
        self.n_obs_ = len(values)
        self.last_ = float(values[-1])
        self.fallback_: Optional[str] = None
        self.sigma_ = 0.0
        if np.ptp(values) == 0.0:
            self.fallback_ = "constant"
            what = "all zeros" if values[0] == 0.0 else "constant"
            self.notes_.append(f"series is {what}: forecasting {values[0]:g} with zero-width intervals.")
            return self
        if len(values) < self._min_length():
            self._fit_naive(values, f"series has {len(values)} value(s), fewer than the {self._min_length()} ")
            return self
        self._fit(values)
        if not (np.isfinite(self.sigma_) and np.all(np.isfinite(self._predict(1)))):
            self._fit_naive(values, "the fitted model gives non-finite forecasts; ")
        return self

    def _fit_naive(self, values: np.ndarray, why: str) -> None:
        self.fallback_ = "naive"
        tail = "" if why.endswith("; ") else f"{type(self).__name__} needs; "
        self.notes_.append(f"{why}{tail}using the naive forecast (last value).")
        steps = np.diff(values)
        self.sigma_ = float(np.sqrt(np.mean(steps**2))) if len(steps) else 0.0

    def _check_params(self) -> None:
        """Validate hyperparameters (subclasses); raise InvalidInput."""

    def _fit(self, values: np.ndarray) -> None:
        raise NotImplementedError

    def _predict(self, h: int) -> np.ndarray:
        raise NotImplementedError

    def _predict_sd(self, h: int) -> np.ndarray:
        """Default: one-step error sd growing like a random walk, ``sigma * sqrt(step)``."""
        return self.sigma_ * np.sqrt(np.arange(1, h + 1))

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_obs_"):
            raise NotFittedError(self)

    def predict(self, h: int) -> np.ndarray:
        """Point forecasts for the next ``h`` periods (a finite float array of length ``h``)."""
        self._check_fitted()
        h = check_horizon(h)
        if self.fallback_ is not None:
            return np.full(h, self.last_)
        out = np.asarray(self._predict(h), dtype="float64")
        if not np.all(np.isfinite(out)):
            self.notes_.append("non-finite forecast replaced by the naive forecast (last value).")
            out = np.full(h, self.last_)
        assert np.all(np.isfinite(out)), "forecast must be finite"
        return out

    def predict_interval(self, h: int, level: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of a ``level`` prediction interval for the next ``h`` periods.

        Normal intervals ``point +/- z * sd(step)``; how ``sd`` grows with the
        step is model-specific (see each class). Constant series get
        zero-width intervals.
        """
        level = check_level(level)
        point = self.predict(h)
        if self.fallback_ == "constant":
            return point.copy(), point.copy()
        if self.fallback_ == "naive":
            sd = self.sigma_ * np.sqrt(np.arange(1, h + 1))
        else:
            sd = np.asarray(self._predict_sd(h), dtype="float64")
        if not np.all(np.isfinite(sd)):
            sd = self.sigma_ * np.sqrt(np.arange(1, h + 1))
        sd = np.maximum.accumulate(np.maximum(np.nan_to_num(sd), 0.0))
        return normal_bounds(point, sd, level)


__all__ = [
    "BaseForecaster",
    "SeriesData",
    "check_horizon",
    "check_level",
    "check_season_length",
    "check_series",
    "normal_bounds",
]
