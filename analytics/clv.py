"""Customer lifetime value: the BG/NBD purchase model and the Gamma-Gamma spend model.

The two models of Fader, Hardie and Lee, written on numpy/scipy:

- :class:`BetaGeoModel` (BG/NBD, "Counting your customers the easy way",
  Marketing Science 2005): while alive, a customer buys as a Poisson process
  with rate ``lambda ~ Gamma(r, alpha)``; after each repeat purchase she
  drops out for good with probability ``p ~ Beta(a, b)``. It predicts how
  many purchases each customer will make and how likely she is still active.
- :class:`GammaGammaModel` ("RFM and CLV: using iso-value curves", Journal of
  Marketing Research 2005, and Fader & Hardie's note "The Gamma-Gamma model of
  monetary value", 2013): a customer's order values are ``Gamma(p, nu)`` with
  ``nu ~ Gamma(q, v)``, independent of her purchase rate. It predicts her
  mean order value, shrinking her observed mean towards the population's.

Both take the per-customer summary that :func:`rfm_summary` builds from the
``orders`` frame (:mod:`analytics.frames`):

``frequency``
    repeat purchase days: distinct days with an order, minus one;
``recency``
    time from the first to the last purchase day (0 when frequency is 0);
``T``
    time from the first purchase day to the reference date;
``monetary_value``
    mean value of the repeat purchase days (the first day is left out;
    0 when frequency is 0).

These are the definitions of the BG/NBD literature (and of the ``lifetimes``
package's ``summary_data_from_transaction_data`` with its default daily
grouping). Times are in days or weeks (``time_unit``); a model predicts in
the unit it was fitted with.

Fitting maximises the log-likelihood over the logarithms of the parameters
(L-BFGS-B with an analytic gradient). Customers with the same history give
the same likelihood term, so the BG/NBD fit first collapses identical
``(frequency, recency, T)`` rows into one row with a weight. Histories
measured in whole days repeat a lot (every one-off customer of a given day
shares one), so a million customers become a few hundred thousand rows and
fit in well under a second; ``bench/clv_speed.py`` compares with ``lifetimes``.

Degenerate data are refused with :class:`~analytics.errors.InvalidInput`
rather than "fitted": a single customer, customers who all share one history
(or, for Gamma-Gamma, one mean order value), and data with no repeat
purchase at all. In each case the likelihood has no maximum (the estimates
run off to zero or infinity), so there is nothing meaningful to return. When
a data set is merely small or odd and the estimates still diverge, the fit
says so and suggests a ``penalizer`` (an L2 penalty on the parameters).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Optional, Union

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, hyp2f1

from analytics.errors import InvalidInput, NotFittedError
from analytics.frames import check_orders

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
_LOG_BOUND = 18.0
_LOG_DIVERGED = 12.0
# Times are rescaled for the optimiser so that the oldest customer's T is this many units.
_TIME_SCALE_TARGET = 10.0


# --------------------------------------------------------------------------- input checks


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _has(n: int) -> str:
    return "has" if n == 1 else "have"


def _as_vector(values: ArrayLike, name: str) -> FloatArray:
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
        raise InvalidInput(f"{_plural(missing, 'customer')} {_has(missing)} a missing (NaN) {name}; drop or fill them.")
    infinite = int(np.isinf(arr).sum())
    if infinite:
        raise InvalidInput(f"{_plural(infinite, 'customer')} {_has(infinite)} an infinite {name}; drop or fix them.")
    negative = int((arr < 0).sum())
    if negative:
        raise InvalidInput(
            f"{_plural(negative, 'customer')} {_has(negative)} a negative {name}; counts and durations cannot be "
            "negative (was the reference date before the first purchase?)."
        )
    return arr


def _same_length(**arrays: FloatArray) -> None:
    lengths = {name: arr.size for name, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise InvalidInput(
            f"{', '.join(lengths)} must have one value per customer, in the same order; got lengths {listed}."
        )


def _check_frequency(frequency: FloatArray) -> None:
    fractional = frequency != np.round(frequency)
    n = int(fractional.sum())
    if n:
        example = frequency[fractional][0]
        raise InvalidInput(
            f"{_plural(n, 'customer')} {_has(n)} a non-integer frequency (e.g. {example:g}); frequency counts repeat "
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
    analytics.errors.InvalidInput: 1 customer has recency larger than T; ...
    """
    x = _as_vector(frequency, "frequency")
    t_x = _as_vector(recency, "recency")
    age = _as_vector(T, "T")
    _same_length(frequency=x, recency=t_x, T=age)
    _check_frequency(x)
    late = t_x > age * (1 + 1e-12)
    n = int(late.sum())
    if n:
        raise InvalidInput(
            f"{_plural(n, 'customer')} {_has(n)} recency larger than T; recency is measured from the first purchase "
            "to the last one and T from the first purchase to the reference date, so recency cannot exceed T. "
            "Check that both use the same time unit and the same reference date."
        )
    stray = (x == 0) & (t_x != 0)
    n = int(stray.sum())
    if n:
        raise InvalidInput(
            f"{_plural(n, 'customer')} {_has(n)} frequency 0 but a non-zero recency; with no repeat purchase the "
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
    analytics.errors.InvalidInput: 1 repeat customer has a monetary value of 0 or less; ...
    """
    x = _as_vector(frequency, "frequency")
    m = _as_vector(monetary_value, "monetary_value")
    _same_length(frequency=x, monetary_value=m)
    _check_frequency(x)
    free = (x > 0) & (m <= 0)
    n = int(free.sum())
    if n:
        raise InvalidInput(
            f"{_plural(n, 'repeat customer')} {_has(n)} a monetary value of 0 or less; the Gamma-Gamma model needs "
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
    return _as_vector(t, "t")


def _refuse_degenerate(n_customers: int, n_distinct: int, what: str) -> None:
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


def _like(values: FloatArray, template: object, name: str) -> Values:
    """Return ``values`` as a Series indexed like ``template`` when that is a Series."""
    if isinstance(template, pd.Series):
        return pd.Series(values, index=template.index, name=name)
    return values


def _check_fitted(model: Any) -> dict[str, float]:
    params = getattr(model, "params_", None)
    if params is None:
        raise NotFittedError(model)
    return dict(params)


# --------------------------------------------------------------------------- RFM summary


def _as_day(value: object, name: str) -> pd.Timestamp:
    try:
        day = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{name} {value!r} is not a date; pass a datetime, a pandas Timestamp or 'YYYY-MM-DD'."
        ) from exc
    if day is pd.NaT or pd.isna(day):
        raise InvalidInput(f"{name} is missing (NaT); pass a date.")
    if day.tzinfo is not None:
        raise InvalidInput(f"{name} has a time zone; the store's times are naive UTC, pass a naive datetime.")
    return day.normalize()


def _summarise_days(days: pd.DataFrame, end: pd.Timestamp, unit_days: float) -> pd.DataFrame:
    """frequency, recency, T and monetary_value from one row per (customer, purchase day), sorted by day."""
    grouped = days.groupby("customer_id", sort=True)
    first = grouped["day"].min()
    last = grouped["day"].max()
    n_days = grouped.size()
    total = grouped["amount"].sum()
    first_amount = grouped["amount"].first()
    frequency = (n_days - 1).astype("int64")
    repeat_total = (total - first_amount).to_numpy()
    monetary = np.divide(
        repeat_total, frequency.to_numpy(), out=np.zeros(len(frequency)), where=frequency.to_numpy() > 0
    )
    return pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (last - first).dt.days.astype("float64") / unit_days,
            "T": (end - first).dt.days.astype("float64") / unit_days,
            "monetary_value": monetary,
        }
    )


def rfm_summary(
    orders: pd.DataFrame,
    reference_date: object,
    *,
    time_unit: TimeUnit = "D",
    calibration_end: Optional[object] = None,
) -> pd.DataFrame:
    """Per-customer frequency, recency, T and monetary value for the CLV models.

    Orders are grouped by calendar day: several orders on one day are one
    purchase, worth their total. A customer's first purchase day starts her
    history and is not a repeat purchase.

    Parameters
    ----------
    orders : pandas.DataFrame
        The ``orders`` frame of :mod:`analytics.frames`.
    reference_date : date-like
        The last day observed (its orders count). ``T`` runs from the first
        purchase day to this day. Orders after it are refused.
    time_unit : {"D", "W"}, default "D"
        Unit of ``recency`` and ``T``: days, or weeks (days / 7). Purchases are
        still counted per day, as in the published CDNOW summaries.
    calibration_end : date-like, optional
        Split the data for a holdout test. The summary columns then describe
        the calibration period (orders up to and including this day; ``T``
        measured to it); only customers who bought by then are kept, and three
        columns describe the holdout period after it up to ``reference_date``:
        ``frequency_holdout`` (purchase days), ``monetary_value_holdout``
        (their mean value, 0 without purchase) and ``duration_holdout``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (sorted): ``frequency`` (int64), ``recency``,
        ``T``, ``monetary_value`` (float64), and the holdout columns when
        ``calibration_end`` is given.

    Raises
    ------
    InvalidInput
        For a malformed orders frame (see :func:`analytics.frames.check_orders`),
        an unknown ``time_unit``, a bad date, orders after ``reference_date`` or
        ``calibration_end`` after ``reference_date``.

    Examples
    --------
    >>> orders = pd.DataFrame({
    ...     "customer_id": [1, 1, 1, 1, 2],
    ...     "order_id": [1, 2, 3, 4, 5],
    ...     "placed_at": pd.to_datetime(["2024-01-01", "2024-01-11", "2024-01-11 18:00", "2024-01-21", "2024-01-05"],
    ...                                 format="ISO8601"),
    ...     "amount": [10.0, 20.0, 5.0, 15.0, 40.0],
    ... })
    >>> rfm_summary(orders, "2024-01-31")  # doctest: +NORMALIZE_WHITESPACE
                 frequency  recency     T  monetary_value
    customer_id
    1                    2     20.0  30.0            20.0
    2                    0      0.0  26.0             0.0
    """
    if time_unit not in DAYS_PER_UNIT:
        raise InvalidInput(f"time_unit must be 'D' (days) or 'W' (weeks), not {time_unit!r}.")
    unit_days = DAYS_PER_UNIT[time_unit]
    frame = check_orders(orders)
    end = _as_day(reference_date, "reference_date")
    frame["day"] = frame["placed_at"].dt.normalize()
    late = frame["day"] > end
    if late.any():
        raise InvalidInput(
            f"{_plural(int(late.sum()), 'order')} {'is' if late.sum() == 1 else 'are'} placed after the reference "
            f"date {end.date()} (the newest on {frame['placed_at'].max()}); pass a later reference_date or drop them."
        )
    days = frame.groupby(["customer_id", "day"], sort=True, as_index=False)["amount"].sum()
    if calibration_end is None:
        return _summarise_days(days, end, unit_days)

    split = _as_day(calibration_end, "calibration_end")
    if split > end:
        raise InvalidInput(
            f"calibration_end {split.date()} is after reference_date {end.date()}; the holdout period runs from "
            "calibration_end to reference_date, so pass an earlier calibration_end."
        )
    in_calibration = days["day"] <= split
    if not in_calibration.any():
        raise InvalidInput(
            f"no order is placed on or before calibration_end {split.date()}; pass a later calibration_end."
        )
    summary = _summarise_days(days[in_calibration], split, unit_days)
    holdout = days[~in_calibration & days["customer_id"].isin(summary.index)]
    grouped = holdout.groupby("customer_id")
    n_holdout = grouped.size().reindex(summary.index, fill_value=0).astype("int64")
    spent = grouped["amount"].sum().reindex(summary.index, fill_value=0.0)
    summary["frequency_holdout"] = n_holdout
    summary["monetary_value_holdout"] = np.divide(
        spent.to_numpy(), n_holdout.to_numpy(), out=np.zeros(len(summary)), where=n_holdout.to_numpy() > 0
    )
    summary["duration_holdout"] = (end - split).days / unit_days
    return summary


# --------------------------------------------------------------------------- optimisation


def _maximise(
    objective: Callable[[FloatArray], tuple[float, FloatArray]], start: FloatArray, names: tuple[str, ...], model: str
) -> FloatArray:
    """Minimise a smooth objective over log-parameters; refuse divergent estimates."""
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(start)
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
    on_bound = np.abs(result.x) >= _LOG_DIVERGED
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


# --------------------------------------------------------------------------- BG/NBD


@dataclass(frozen=True)
class _Histories:
    """Distinct histories with weights, split the way the likelihood uses them."""

    x_levels: FloatArray  # distinct frequencies
    x_weights: FloatArray  # customers per distinct frequency
    T0: FloatArray  # T of the histories with frequency 0
    w0: FloatArray
    x: FloatArray  # histories with frequency > 0
    t_x: FloatArray
    T: FloatArray
    w: FloatArray
    total: float  # number of customers

    @classmethod
    def collapse(cls, x: FloatArray, t_x: FloatArray, T: FloatArray) -> _Histories:
        counts = pd.DataFrame({"x": x, "t_x": t_x, "T": T}).value_counts(sort=False)
        keys = counts.index.to_frame(index=False)
        ux, ut_x, uT = (keys[c].to_numpy(np.float64) for c in ("x", "t_x", "T"))
        w = counts.to_numpy(np.float64)
        per_x = pd.Series(w).groupby(ux).sum()
        zero = ux == 0
        return cls(
            x_levels=per_x.index.to_numpy(np.float64),
            x_weights=per_x.to_numpy(np.float64),
            T0=uT[zero],
            w0=w[zero],
            x=ux[~zero],
            t_x=ut_x[~zero],
            T=uT[~zero],
            w=w[~zero],
            total=float(w.sum()),
        )

    def rescaled(self, scale: float) -> _Histories:
        return _Histories(
            self.x_levels, self.x_weights, self.T0 / scale, self.w0, self.x, self.t_x / scale, self.T / scale, self.w,
            self.total,
        )  # fmt: skip


def _bgnbd_loglik(params: FloatArray, h: _Histories, gradient: bool = True) -> tuple[float, FloatArray]:
    """Total log-likelihood of the BG/NBD model and its gradient in (r, alpha, a, b).

    Per customer (Fader, Hardie & Lee 2005, eq. 6, in logs)::

        ln Γ(r+x) - ln Γ(r) + r ln α + ln B(a, b+x) - ln B(a, b)
        + ln[ (α+T)^-(r+x) + [x>0] a/(b+x-1) (α+t_x)^-(r+x) ]

    The first line depends on x only and is summed over the distinct
    frequencies; the bracket is a log-sum of two exponentials, taken stably.
    """
    r, alpha, a, b = params
    xl, wl = h.x_levels, h.x_weights
    per_x = gammaln(r + xl) - gammaln(r) + gammaln(a + b) + gammaln(b + xl) - gammaln(b) - gammaln(a + b + xl)
    ll = float(wl @ per_x) + h.total * r * np.log(alpha)

    log_age0 = np.log(alpha + h.T0)
    ll -= r * float(h.w0 @ log_age0)

    rx = r + h.x
    log_age = np.log(alpha + h.T)
    log_last = np.log(alpha + h.t_x)
    gone = -rx * log_age  # still alive and silent since the last purchase
    dropped = np.log(a) - np.log(b + h.x - 1) - rx * log_last  # dropped out right after the last purchase
    both = np.logaddexp(gone, dropped)
    ll += float(h.w @ both)
    if not gradient:
        return ll, np.empty(0)

    share = np.exp(dropped - both)  # posterior weight of "dropped out"
    stay = 1.0 - share
    ww = h.w
    d_r = float(wl @ (digamma(r + xl) - digamma(r))) + h.total * np.log(alpha)
    d_r -= float(h.w0 @ log_age0) + float(ww @ (stay * log_age + share * log_last))
    d_alpha = h.total * r / alpha - r * float(h.w0 @ (1.0 / (alpha + h.T0)))
    d_alpha -= float(ww @ (rx * (stay / (alpha + h.T) + share / (alpha + h.t_x))))
    common = digamma(a + b) - digamma(a + b + xl)
    d_a = float(wl @ common) + float(ww @ share) / a
    d_b = float(wl @ (common + digamma(b + xl) - digamma(b))) - float(ww @ (share / (b + h.x - 1)))
    return ll, np.array([d_r, d_alpha, d_a, d_b])


class BetaGeoModel:
    """BG/NBD model of repeat purchases (Fader, Hardie & Lee 2005).

    While active, a customer buys as a Poisson process with rate
    ``lambda ~ Gamma(r, alpha)``; right after each repeat purchase she becomes
    inactive for good with probability ``p ~ Beta(a, b)``. A customer with no
    repeat purchase is active by definition.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty ``penalizer * sum(params**2)`` added to the mean negative
        log-likelihood. The parameters are penalised with time rescaled so that
        the oldest customer's T is 10, so its effect does not depend on the time
        unit. Use a small value (0.001 to 0.1) when the fit diverges on little data.
    log_penalizer : float, default 0.0
        L2 penalty on the log-parameters (a log-normal prior centred on 1, same
        rescaled time). It keeps every estimate away from both 0 and infinity,
        e.g. ``a`` when a biased sample shows no dropout; 0.01 is light.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha`` (in the time unit of the data), ``a``, ``b``.
    log_likelihood_ : float
        Log-likelihood of the data at ``params_``, in the data's time unit
        (without the penalty).
    n_customers_ : int
        Number of customers fitted on.

    Examples
    --------
    On 5,000 customers drawn from the model, each observed for 52 weeks:

    >>> data = simulate_customers(5000, 52.0, r=0.25, alpha=4.0, a=0.8, b=2.5, seed=0)
    >>> model = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
    >>> {name: round(value, 2) for name, value in model.params_.items()}
    {'r': 0.26, 'alpha': 4.25, 'a': 0.76, 'b': 2.34}
    >>> BetaGeoModel().expected_purchases(10)
    Traceback (most recent call last):
    ...
    analytics.errors.NotFittedError: This BetaGeoModel is not fitted yet; call fit(...) first.
    """

    PARAMS = ("r", "alpha", "a", "b")

    def __init__(self, penalizer: float = 0.0, log_penalizer: float = 0.0) -> None:
        self.penalizer = penalizer
        self.log_penalizer = log_penalizer

    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> BetaGeoModel:
        """Estimate ``r, alpha, a, b`` by maximum likelihood.

        Parameters
        ----------
        frequency, recency, T : array_like
            One value per customer (see :func:`rfm_summary`).

        Returns
        -------
        BetaGeoModel
            ``self``, fitted.

        Raises
        ------
        InvalidInput
            For bad inputs (see :func:`check_history`), a negative penalizer, a
            single customer, customers who all share one history, no repeat
            purchase at all, or estimates that diverge (the message suggests a
            penalizer).
        """
        x, t_x, age = check_history(frequency, recency, T)
        penalizer = _check_penalizer(self.penalizer)
        log_penalizer = _check_penalizer(self.log_penalizer)
        histories = _Histories.collapse(x, t_x, age)
        n_distinct = histories.x.size + histories.T0.size
        _refuse_degenerate(x.size, n_distinct, "history (frequency, recency, T)")
        if histories.x.size == 0:
            raise InvalidInput(
                f"none of the {x.size} customers made a repeat purchase (every frequency is 0), so the dropout "
                "process (a, b) cannot be estimated. Fit on a longer period, in which customers come back."
            )

        scale = float(age.max()) / _TIME_SCALE_TARGET
        scaled = histories.rescaled(scale)
        total = scaled.total

        def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
            params = np.exp(log_params)
            ll, grad = _bgnbd_loglik(params, scaled)
            # log_penalizer: a log-normal prior centred on 1 (time-rescaled units); unlike the plain L2
            # penalty it also keeps a parameter from running off to 0 (e.g. a -> 0 when no dropout shows)
            value = -ll / total + penalizer * float(params @ params) + log_penalizer * float(log_params @ log_params)
            gradient = (-grad / total + 2.0 * penalizer * params) * params + 2.0 * log_penalizer * log_params
            return value, gradient

        start = _bgnbd_start(scaled)
        log_params = _maximise(objective, start, self.PARAMS, "BG/NBD")
        r, alpha_scaled, a, b = np.exp(log_params)
        params = np.array([r, alpha_scaled * scale, a, b])
        self.params_ = dict(zip(self.PARAMS, (float(v) for v in params)))
        self.log_likelihood_ = _bgnbd_loglik(params, histories, gradient=False)[0]
        self.n_customers_ = int(x.size)
        return self

    def _unpack(self) -> tuple[float, float, float, float]:
        p = _check_fitted(self)
        return p["r"], p["alpha"], p["a"], p["b"]

    def _log_dropout_odds(
        self, x: FloatArray, t_x: FloatArray, age: FloatArray, r: float, alpha: float, a: float, b: float
    ) -> FloatArray:
        """ln of P(dropped out after the last purchase) / P(still active), 0 odds for x = 0."""
        odds = np.full(x.shape, -np.inf)
        rep = x > 0
        xr = x[rep]
        odds[rep] = np.log(a) - np.log(b + xr - 1) + (r + xr) * (np.log(alpha + age[rep]) - np.log(alpha + t_x[rep]))
        return odds

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> Values:
        """Probability that each customer is still active at T.

        ``1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))``: exactly 1
        for a customer with no repeat purchase (in the BG/NBD a customer can
        only drop out right after a repeat purchase), and for a fixed history
        it falls as T grows, the longer she has been silent.

        Parameters
        ----------
        frequency, recency, T : array_like
            One value per customer, in the time unit of the fit.

        Returns
        -------
        numpy.ndarray or pandas.Series
            One probability per customer; a Series indexed like ``frequency``
            when that is a Series.

        Examples
        --------
        >>> data = simulate_customers(5000, 52.0, r=0.25, alpha=4.0, a=0.8, b=2.5, seed=0)
        >>> model = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
        >>> model.probability_alive([0, 2, 2], [0.0, 30.0, 30.0], [39.0, 39.0, 78.0]).round(2)
        array([1.  , 0.72, 0.38])
        """
        r, alpha, a, b = self._unpack()
        x, t_x, age = check_history(frequency, recency, T)
        return _like(expit(-self._log_dropout_odds(x, t_x, age, r, alpha, a, b)), frequency, "probability_alive")

    def conditional_expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> Values:
        """Expected number of purchases in the next ``t`` time units, given each customer's history.

        Fader, Hardie & Lee (2005), eq. 10::

            (a+b+x-1)/(a-1) * [1 - ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(α+T+t))] * P(alive)

        Parameters
        ----------
        t : float or array_like
            Horizon, in the time unit of the fit (one value, or one per customer).
        frequency, recency, T : array_like
            One value per customer.

        Returns
        -------
        numpy.ndarray or pandas.Series
            Expected purchases per customer.

        Examples
        --------
        >>> data = simulate_customers(5000, 52.0, r=0.25, alpha=4.0, a=0.8, b=2.5, seed=0)
        >>> model = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
        >>> model.conditional_expected_purchases(39.0, [0, 2], [0.0, 30.0], [39.0, 39.0]).round(2)
        array([0.21, 1.23])
        """
        r, alpha, a, b = self._unpack()
        x, t_x, age = check_history(frequency, recency, T)
        horizon = check_horizon(t)
        if horizon.size not in (1, x.size):
            raise InvalidInput(f"t must be one horizon or one per customer ({x.size}); got {horizon.size} values.")
        alive = expit(-self._log_dropout_odds(x, t_x, age, r, alpha, a, b))
        expected = (a + b + x - 1) / (a - 1) * (1.0 - _bgnbd_tail(r, alpha, a, b, x, age, horizon)) * alive
        return _like(expected, frequency, "expected_purchases")

    def expected_purchases(self, t: ArrayLike) -> FloatArray:
        """Expected number of repeat purchases of a new customer within ``t`` time units of her first purchase.

        ``(a+b-1)/(a-1) * [1 - (α/(α+t))^r 2F1(r, b; a+b-1; t/(α+t))]`` (FHL 2005, eq. 9).

        Examples
        --------
        >>> data = simulate_customers(5000, 52.0, r=0.25, alpha=4.0, a=0.8, b=2.5, seed=0)
        >>> model = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
        >>> model.expected_purchases([39.0, 78.0]).round(2)
        array([1.31, 2.03])
        """
        r, alpha, a, b = self._unpack()
        horizon = check_horizon(t)
        tail = _bgnbd_tail(r, alpha, a, b, np.zeros(1), np.zeros(1), horizon)
        return np.asarray((a + b - 1) / (a - 1) * (1.0 - tail), dtype=np.float64)


def _bgnbd_tail(
    r: float, alpha: float, a: float, b: float, x: FloatArray, age: FloatArray, horizon: FloatArray
) -> FloatArray:
    """``((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)`` with ``z = t/(α+T+t)``, the bracket of FHL eq. 9/10.

    Evaluated after Euler's transformation ``2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z)``, which turns
    it into ``(1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)``: the direct form multiplies a vanishing power by a
    hypergeometric value that overflows for frequent buyers and long horizons (0 * inf); this one stays finite.
    """
    log_stay = np.log(alpha + age) - np.log(alpha + age + horizon)  # ln(1 - z)
    z = horizon / (alpha + age + horizon)
    return np.asarray(np.exp((a - 1) * log_stay) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z), dtype=np.float64)


def _check_penalizer(penalizer: object) -> float:
    try:
        value = float(penalizer)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = float("nan")
    if not np.isfinite(value) or value < 0:
        raise InvalidInput(
            f"penalizer must be a number >= 0 (0 for none, e.g. 0.001 for a light one), not {penalizer!r}."
        )
    return value


def _bgnbd_start(h: _Histories) -> FloatArray:
    """A start near the usual optimum: r = 1 with alpha from the mean purchase rate; a = 1, b = 3."""
    repeats = float(h.w @ h.x)
    exposure = float(h.w @ h.T) + float(h.w0 @ h.T0)
    alpha = max(exposure / max(repeats, 1.0), 1e-3)
    return np.log(np.array([1.0, alpha, 1.0, 3.0]))


# --------------------------------------------------------------------------- Gamma-Gamma


@dataclass(frozen=True)
class _Spends:
    """Repeat customers' frequencies and mean spends, with what the likelihood reuses."""

    x: FloatArray
    m: FloatArray
    log_m: FloatArray
    log_x: FloatArray
    x_levels: FloatArray  # distinct frequencies
    x_counts: FloatArray  # customers per distinct frequency

    @classmethod
    def of(cls, x: FloatArray, m: FloatArray) -> _Spends:
        levels, counts = np.unique(x, return_counts=True)
        return cls(x, m, np.log(m), np.log(x), levels, counts.astype(np.float64))


def _gg_loglik(params: FloatArray, s: _Spends, gradient: bool = True) -> tuple[float, FloatArray]:
    """Log-likelihood of the mean spends ``m`` of ``x`` repeat purchases, and its gradient in (p, q, v).

    Per customer (Fader & Hardie's Gamma-Gamma note, eq. 3, in logs)::

        ln Γ(px+q) - ln Γ(px) - ln Γ(q) + q ln v + (px-1) ln m + px ln x - (px+q) ln(v + x m)

    The gamma functions depend on x only and are evaluated once per distinct frequency.
    """
    p, q, v = params
    n = float(s.x.size)
    pl = p * s.x_levels
    px = p * s.x
    pool = v + s.x * s.m
    log_pool = np.log(pool)
    total = float(s.x_counts @ (gammaln(pl + q) - gammaln(pl))) + n * (q * np.log(v) - gammaln(q))
    total += float(((px - 1) * s.log_m + px * s.log_x - (px + q) * log_pool).sum())
    if not gradient:
        return total, np.empty(0)
    psi_all = digamma(pl + q)
    d_p = float((s.x_counts * s.x_levels) @ (psi_all - digamma(pl))) + float(s.x @ (s.log_m + s.log_x - log_pool))
    d_q = float(s.x_counts @ psi_all) + n * (np.log(v) - digamma(q)) - float(log_pool.sum())
    d_v = n * q / v - float(((px + q) / pool).sum())
    return total, np.array([d_p, d_q, d_v])


class GammaGammaModel:
    """Gamma-Gamma model of the mean order value of repeat customers.

    Each order of a customer is worth ``Gamma(p, nu)``; across customers
    ``nu ~ Gamma(q, v)``. Order values are assumed independent of how often a
    customer buys (check that frequency and monetary value are barely
    correlated before using it for CLV).

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty ``penalizer * sum(params**2)`` added to the mean negative
        log-likelihood, with money rescaled so the median monetary value is 1.

    Attributes
    ----------
    params_ : dict
        ``p``, ``q``, ``v`` (``v`` in the currency of the data).
    log_likelihood_ : float
        Log-likelihood of the repeat customers' mean spends at ``params_``.
    n_customers_ : int
        Number of repeat customers fitted on.

    Examples
    --------
    >>> data = simulate_customers(5000, 52.0, r=0.25, alpha=4.0, a=0.8, b=2.5, p=6.0, q=4.0, v=15.0, seed=0)
    >>> spend = GammaGammaModel().fit(data["frequency"], data["monetary_value"])
    >>> {name: round(value, 2) for name, value in spend.params_.items()}
    {'p': 6.36, 'q': 4.04, 'v': 14.15}
    """

    PARAMS = ("p", "q", "v")

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike) -> GammaGammaModel:
        """Estimate ``p, q, v`` by maximum likelihood on the repeat customers.

        Customers with frequency 0 are ignored (they have no repeat purchase to
        average), so the whole :func:`rfm_summary` can be passed.

        Returns
        -------
        GammaGammaModel
            ``self``, fitted.

        Raises
        ------
        InvalidInput
            For bad inputs (see :func:`check_spend`), a negative penalizer, fewer
            than two repeat customers, repeat customers who all share one
            monetary value and frequency, or estimates that diverge.
        """
        x_all, m_all = check_spend(frequency, monetary_value)
        penalizer = _check_penalizer(self.penalizer)
        repeat = x_all > 0
        x, m = x_all[repeat], m_all[repeat]
        if x.size == 0:
            raise InvalidInput(
                f"none of the {x_all.size} customers made a repeat purchase (every frequency is 0); the Gamma-Gamma "
                "model learns from the mean value of repeat purchases. Fit on a longer period."
            )
        n_distinct = len(pd.DataFrame({"x": x, "m": m}).drop_duplicates())
        _refuse_degenerate(x.size, n_distinct, "frequency and monetary value")
        if np.unique(m).size == 1:
            raise InvalidInput(
                f"all {x.size} repeat customers have the same monetary value ({m[0]:g}): with no spread in spend "
                "the Gamma-Gamma estimates run off to infinity. Fit on customers with varied order values."
            )

        scale = float(np.median(m))
        scaled = _Spends.of(x, m / scale)
        n = float(x.size)

        def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
            params = np.exp(log_params)
            ll, grad = _gg_loglik(params, scaled)
            value = -ll / n + penalizer * float(params @ params)
            return value, (-grad / n + 2.0 * penalizer * params) * params

        log_params = _maximise(objective, np.zeros(3), self.PARAMS, "Gamma-Gamma")
        p, q, v_scaled = np.exp(log_params)
        params = np.array([p, q, v_scaled * scale])
        self.params_ = dict(zip(self.PARAMS, (float(val) for val in params)))
        self.log_likelihood_ = _gg_loglik(params, _Spends.of(x, m), gradient=False)[0]
        self.n_customers_ = int(x.size)
        return self

    def conditional_expected_average_profit(self, frequency: ArrayLike, monetary_value: ArrayLike) -> Values:
        """Expected mean order value of each customer, given her repeat purchases.

        ``p (v + x m) / (p x + q - 1)``: a weighted average of the population
        mean ``p v / (q - 1)`` and her own mean ``m``, leaning on ``m`` the more
        repeat purchases she made. Customers with frequency 0 get the
        population mean.

        Raises
        ------
        InvalidInput
            For bad inputs (see :func:`check_spend`), or when the fitted ``q``
            is 1 or less for a customer with no repeat purchase: the population
            mean spend is then infinite.

        Examples
        --------
        >>> data = simulate_customers(5000, 52.0, r=0.25, alpha=4.0, a=0.8, b=2.5, p=6.0, q=4.0, v=15.0, seed=0)
        >>> spend = GammaGammaModel().fit(data["frequency"], data["monetary_value"])
        >>> spend.conditional_expected_average_profit([0, 1, 10], [0.0, 60.0, 60.0]).round(2)
        array([29.61, 50.17, 58.61])
        """
        params = _check_fitted(self)
        p, q, v = params["p"], params["q"], params["v"]
        x, m = check_spend(frequency, monetary_value)
        m = np.where(x > 0, m, 0.0)
        shape = p * x + q - 1
        if (shape <= 0).any():
            raise InvalidInput(
                f"the fitted q = {q:.3g} is 1 or less: the Gamma-Gamma model then has an infinite mean spend for "
                "customers with no (or few) repeat purchases. Refit with a penalizer or on more repeat customers."
            )
        return _like(p * (v + x * m) / shape, frequency, "expected_average_profit")

    def customer_lifetime_value(
        self,
        bgnbd_model: BetaGeoModel,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        monetary_value: ArrayLike,
        *,
        horizon_months: int = 12,
        discount_rate_monthly: float = 0.01,
        time_unit: TimeUnit = "D",
    ) -> Values:
        """Discounted expected value of each customer's purchases over the next months.

        ``sum over months i = 1..H of E[purchases in month i] * E[order value] / (1 + d)^i``,
        where a month is 365.25 / 12 days, the purchases come from ``bgnbd_model``
        (conditional on the history) and the order value from this model.
        (lifetimes counts a month as 30 days, or 4.345 weeks, so its figures
        differ slightly.)

        Parameters
        ----------
        bgnbd_model : BetaGeoModel
            A fitted purchase model, fitted with times in ``time_unit``.
        frequency, recency, T, monetary_value : array_like
            One value per customer, as :func:`rfm_summary` returns them.
        horizon_months : int, default 12
            Number of months ahead.
        discount_rate_monthly : float, default 0.01
            Monthly discount rate (0.01 is about 12.7 % a year); 0 for none.
        time_unit : {"D", "W"}, default "D"
            Unit of ``recency`` and ``T`` (and of the BG/NBD fit).

        Returns
        -------
        numpy.ndarray or pandas.Series
            CLV per customer, in the currency of ``monetary_value``.

        Examples
        --------
        >>> data = simulate_customers(5000, 52.0, r=0.25, alpha=4.0, a=0.8, b=2.5, p=6.0, q=4.0, v=15.0, seed=0)
        >>> purchases = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
        >>> spend = GammaGammaModel().fit(data["frequency"], data["monetary_value"])
        >>> history = dict(frequency=[0, 2], recency=[0.0, 30.0], T=[39.0, 39.0], monetary_value=[0.0, 60.0])
        >>> clv = spend.customer_lifetime_value(purchases, **history, time_unit="W")
        >>> clv.round(2)  # the next 12 months of a one-off buyer and of a regular
        array([ 7.48, 80.17])
        """
        if not isinstance(bgnbd_model, BetaGeoModel):
            raise InvalidInput(f"bgnbd_model must be a fitted BetaGeoModel, not {type(bgnbd_model).__name__}.")
        bgnbd_model._unpack()
        _check_fitted(self)
        if time_unit not in DAYS_PER_UNIT:
            raise InvalidInput(f"time_unit must be 'D' (days) or 'W' (weeks), not {time_unit!r}.")
        if isinstance(horizon_months, bool) or not isinstance(horizon_months, (int, np.integer)) or horizon_months < 1:
            raise InvalidInput(f"horizon_months must be a whole number of months >= 1, not {horizon_months!r}.")
        rate = float(discount_rate_monthly)
        if not np.isfinite(rate) or rate < 0:
            raise InvalidInput(f"discount_rate_monthly must be >= 0 (e.g. 0.01 for 1 % a month), not {rate!r}.")
        x, t_x, age = check_history(frequency, recency, T)
        xm, m = check_spend(frequency, monetary_value)
        spend = np.asarray(self.conditional_expected_average_profit(xm, m), dtype=np.float64)

        month = DAYS_PER_MONTH / DAYS_PER_UNIT[time_unit]
        value: FloatArray = np.zeros(x.size)
        previous: FloatArray = np.zeros(x.size)
        for i in range(1, int(horizon_months) + 1):
            cumulative = np.asarray(bgnbd_model.conditional_expected_purchases(i * month, x, t_x, age), np.float64)
            value += (cumulative - previous) * spend / (1.0 + rate) ** i
            previous = cumulative
        return _like(value, frequency, "clv")


# --------------------------------------------------------------------------- simulation


def simulate_customers(
    n_customers: int,
    T: ArrayLike,
    *,
    r: float,
    alpha: float,
    a: float,
    b: float,
    p: Optional[float] = None,
    q: Optional[float] = None,
    v: Optional[float] = None,
    seed: Optional[int] = None,
) -> pd.DataFrame:
    """Draw customer summaries from the BG/NBD (and optionally Gamma-Gamma) process.

    For tests and benchmarks: data with known parameters. Each customer gets a
    purchase rate ``Gamma(r, alpha)`` and a dropout probability ``Beta(a, b)``;
    she makes ``N ~ Poisson(rate * T)`` purchases in ``(0, T]`` if she never
    drops out, and drops out right after her ``J``-th repeat purchase,
    ``J ~ Geometric(p)``. So ``frequency = min(J, N)`` and ``recency`` is the
    ``frequency``-th of ``N`` uniform purchase times, a ``T * Beta(x, N - x + 1)``
    draw. With ``p, q, v`` given, each repeat customer's mean spend is the
    mean of ``frequency`` ``Gamma(p, nu)`` order values, ``nu ~ Gamma(q, v)``.

    Parameters
    ----------
    n_customers : int
        Number of customers.
    T : float or array_like
        Each customer's age (one value, or one per customer).
    r, alpha, a, b : float
        BG/NBD parameters (``alpha`` in the unit of ``T``).
    p, q, v : float, optional
        Gamma-Gamma parameters; all three or none.
    seed : int, optional
        Seed of the random generator.

    Returns
    -------
    pandas.DataFrame
        ``frequency`` (int64), ``recency``, ``T`` and, with ``p, q, v``,
        ``monetary_value`` (0 for customers with frequency 0).

    Examples
    --------
    >>> sim = simulate_customers(1000, 52.0, r=0.25, alpha=4.0, a=0.8, b=2.5, seed=1)
    >>> list(sim.columns), bool((sim["recency"] <= sim["T"]).all())
    (['frequency', 'recency', 'T'], True)
    """
    rng = np.random.default_rng(seed)
    age = np.broadcast_to(np.asarray(T, dtype=np.float64), (n_customers,)).copy()
    rate = rng.gamma(r, 1.0 / alpha, n_customers)
    dropout = rng.beta(a, b, n_customers)
    possible = rng.poisson(rate * age)
    # a tiny dropout probability would overflow the geometric draw; it only needs to exceed `possible`
    lasting = rng.geometric(np.clip(dropout, 1e-12, 1.0))
    x = np.minimum(lasting, possible)
    recency = np.zeros(n_customers)
    rep = x > 0
    recency[rep] = age[rep] * rng.beta(x[rep], possible[rep] - x[rep] + 1)
    frame = pd.DataFrame({"frequency": x.astype(np.int64), "recency": recency, "T": age})
    spend_params = (p, q, v)
    if any(value is not None for value in spend_params):
        if p is None or q is None or v is None:
            raise InvalidInput("pass all three Gamma-Gamma parameters p, q and v, or none of them.")
        nu = rng.gamma(q, 1.0 / v, n_customers)
        monetary = np.zeros(n_customers)
        # the mean of x Gamma(p, nu) values is Gamma(p x, x nu)
        monetary[rep] = rng.gamma(p * x[rep], 1.0 / (x[rep] * nu[rep]))
        frame["monetary_value"] = monetary
    return frame
