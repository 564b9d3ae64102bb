"""What the CLV models share: the time units, the input checks that say how to fix a call, and the
log-likelihood optimiser that refuses divergent estimates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Union

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize

from analytics.core.errors import InvalidInput, NotFittedError

TimeUnit = Literal["D", "W"]
FloatArray = NDArray[np.float64]
#: What the predictions return: a Series (indexed like the ``frequency`` input) when that input is one.
Values = Union[FloatArray, pd.Series]

#: Length of a time unit in days.
DAYS_PER_UNIT: dict[str, float] = {"D": 1.0, "W": 7.0}
#: An average calendar month, in days (365.25 / 12).
DAYS_PER_MONTH = 365.25 / 12

# Log-parameters are kept in [-18, 18]. With time and money rescaled (below), sensible estimates lie well
# within e^+-12 (6e-6 .. 1.6e5); an estimate beyond that is running off to 0 or infinity.
LOG_BOUND = 18.0
LOG_DIVERGED = 12.0
# Times are rescaled for the optimiser so that the oldest customer's T is this many units.
TIME_SCALE_TARGET = 10.0


# --------------------------------------------------------------------------- input checks


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def has(n: int) -> str:
    return "has" if n == 1 else "have"


def as_vector(values: ArrayLike, name: str) -> FloatArray:
    """One float per customer, or InvalidInput saying why not."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{name} must hold numbers, one per customer; it could not be read as numbers ({exc})."
        ) from exc
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise InvalidInput(
            f"{name} must be one-dimensional, one value per customer; got an array of shape {arr.shape}."
        )
    if arr.size == 0:
        raise InvalidInput(
            f"{name} is empty: pass one value per customer (rfm_summary(orders, reference_date) builds them)."
        )
    missing = int(np.isnan(arr).sum())
    if missing:
        raise InvalidInput(f"{plural(missing, 'customer')} {has(missing)} a missing (NaN) {name}; drop or fill them.")
    infinite = int(np.isinf(arr).sum())
    if infinite:
        raise InvalidInput(f"{plural(infinite, 'customer')} {has(infinite)} an infinite {name}; drop or fix them.")
    negative = int((arr < 0).sum())
    if negative:
        raise InvalidInput(
            f"{plural(negative, 'customer')} {has(negative)} a negative {name}; counts and durations cannot be "
            "negative (was the reference date before the first purchase?)."
        )
    return arr


def same_length(**arrays: FloatArray) -> None:
    lengths = {name: arr.size for name, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise InvalidInput(
            f"{', '.join(lengths)} must have one value per customer, in the same order; got lengths {listed}."
        )


def check_frequency(frequency: FloatArray) -> None:
    fractional = frequency != np.round(frequency)
    n = int(fractional.sum())
    if n:
        example = frequency[fractional][0]
        raise InvalidInput(
            f"{plural(n, 'customer')} {has(n)} a non-integer frequency (e.g. {example:g}); frequency counts repeat "
            "purchase days and must be a whole number. Pass the count itself, not a rate or an average."
        )


def check_history(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate purchase histories for :class:`BetaGeoModel` and return them as float arrays.

    Parameters
    ----------
    frequency, recency, T : array_like
        One value per customer, as :func:`rfm_summary` defines them.

    Returns
    -------
    tuple of numpy.ndarray
        ``frequency``, ``recency`` and ``T`` as 1-d float64 arrays.

    Raises
    ------
    InvalidInput
        With a message that says what to fix: empty input, NaN or infinite
        values, negative values, different lengths, a non-integer frequency,
        recency larger than T, or a non-zero recency with frequency 0.

    Examples
    --------
    >>> x, t_x, T = check_history([0, 2], [0.0, 10.0], [30.0, 30.0])
    >>> check_history([1], [40.0], [30.0])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    analytics.core.errors.InvalidInput: 1 customer has recency larger than T; ...
    """
    x = as_vector(frequency, "frequency")
    t_x = as_vector(recency, "recency")
    age = as_vector(T, "T")
    same_length(frequency=x, recency=t_x, T=age)
    check_frequency(x)
    late = t_x > age * (1 + 1e-12)
    n = int(late.sum())
    if n:
        raise InvalidInput(
            f"{plural(n, 'customer')} {has(n)} recency larger than T; recency is measured from the first purchase "
            "to the last one and T from the first purchase to the reference date, so recency cannot exceed T. "
            "Check that both use the same time unit and the same reference date."
        )
    stray = (x == 0) & (t_x != 0)
    n = int(stray.sum())
    if n:
        raise InvalidInput(
            f"{plural(n, 'customer')} {has(n)} frequency 0 but a non-zero recency; with no repeat purchase the "
            "first purchase is the last one, so recency must be 0. Was frequency counted without subtracting the "
            "first purchase?"
        )
    return x, t_x, age


def check_spend(frequency: ArrayLike, monetary_value: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Validate spend summaries for :class:`GammaGammaModel` and return them as float arrays.

    Customers with frequency 0 may carry any non-negative monetary value (it
    is not used); repeat customers must have a positive one.

    Parameters
    ----------
    frequency, monetary_value : array_like
        One value per customer, as :func:`rfm_summary` defines them.

    Returns
    -------
    tuple of numpy.ndarray
        ``frequency`` and ``monetary_value`` as 1-d float64 arrays.

    Raises
    ------
    InvalidInput
        With a message that says what to fix: empty input, NaN or infinite
        values, negative values, different lengths, a non-integer frequency,
        or a zero monetary value for a repeat customer.

    Examples
    --------
    >>> x, m = check_spend([0, 3], [0.0, 25.5])
    >>> check_spend([2], [0.0])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    analytics.core.errors.InvalidInput: 1 repeat customer has a monetary value of 0 or less; ...
    """
    x = as_vector(frequency, "frequency")
    m = as_vector(monetary_value, "monetary_value")
    same_length(frequency=x, monetary_value=m)
    check_frequency(x)
    free = (x > 0) & (m <= 0)
    n = int(free.sum())
    if n:
        raise InvalidInput(
            f"{plural(n, 'repeat customer')} {has(n)} a monetary value of 0 or less; the Gamma-Gamma model needs "
            "the positive mean value of the repeat purchases. Drop customers whose repeat orders were all free, "
            "or check that monetary_value is the mean order value and not a margin that can be zero."
        )
    return x, m


def check_horizon(t: ArrayLike) -> FloatArray:
    """Validate a prediction horizon (one value, or one per customer).

    Examples
    --------
    >>> check_horizon(39.0)
    array([39.])
    """
    return as_vector(t, "t")


def refuse_degenerate(n_customers: int, n_distinct: int, what: str) -> None:
    """Refuse data from which no maximum-likelihood estimate exists: one customer, or one shared history."""
    if n_customers == 1:
        raise InvalidInput(
            "fit needs at least two customers, got one: the model describes how customers differ, which one "
            f"{what} cannot show. Fit on the whole customer base, then predict for this customer."
        )
    if n_distinct == 1:
        raise InvalidInput(
            f"all {n_customers} customers have the same {what}: the likelihood then has no maximum (the estimates "
            "run off to zero or infinity), so the model cannot be estimated. Fit on customers with varied "
            "histories, e.g. a longer period or the whole customer base."
        )


def like(values: FloatArray, template: object, name: str) -> Values:
    """Return ``values`` as a Series indexed like ``template`` when that is a Series."""
    if isinstance(template, pd.Series):
        return pd.Series(values, index=template.index, name=name)
    return values


def check_fitted(model: Any) -> dict[str, float]:
    params = getattr(model, "params_", None)
    if params is None:
        raise NotFittedError(model)
    return dict(params)


def check_penalizer(penalizer: object) -> float:
    try:
        value = float(penalizer)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = float("nan")
    if not np.isfinite(value) or value < 0:
        raise InvalidInput(
            f"penalizer must be a number >= 0 (0 for none, e.g. 0.001 for a light one), not {penalizer!r}."
        )
    return value


# --------------------------------------------------------------------------- optimisation


def maximise(
    objective: Callable[[FloatArray], tuple[float, FloatArray]], start: FloatArray, names: tuple[str, ...], model: str
) -> FloatArray:
    """Minimise a smooth objective over log-parameters; refuse divergent estimates."""
    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(start)
    result = minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9},
    )
    if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
        raise InvalidInput(
            f"the {model} likelihood could not be evaluated on these data; check them for extreme values "
            "or pass a penalizer (e.g. penalizer=0.001)."
        )
    on_bound = np.abs(result.x) >= LOG_DIVERGED
    if on_bound.any():
        diverged = ", ".join(name for name, hit in zip(names, on_bound) if hit)
        raise InvalidInput(
            f"the {model} estimates of {diverged} diverge (run off to 0 or infinity) on these data: they hold too "
            "little variety to identify the model. Fit on more customers or a longer period, or pass a penalizer "
            "(e.g. penalizer=0.001)."
        )
    # a line search that stalls at the optimum (float precision) reports failure with a tiny gradient: that is fine
    if not result.success and float(np.abs(result.jac).max()) > 1e-6:
        raise InvalidInput(
            f"the {model} fit did not converge ({result.message}); pass a penalizer (e.g. penalizer=0.001) "
            "or fit on more customers."
        )
    return np.asarray(result.x, dtype=np.float64)
