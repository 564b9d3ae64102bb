"""When will a customer order again, and when is a product due for a reorder?

Two estimators on the order lines of :mod:`analytics.store.frames` (only the columns
``customer_id``, ``placed_at``, and for reorders ``product_id``, are needed;
``quantity`` is used when present):

- :class:`ReorderModel`: per customer and product, the usual time between
  two purchases of that product, the date it is due again, a plausible window
  and whether it is overdue ("you usually reorder Jumbo Bag Red Retrospot
  every ~5 weeks; next around 12 Dec").
- :class:`NextOrderModel`: per customer, the usual time between two orders
  and the expected date of the next one.

Purchases and intervals
-----------------------
A purchase is a calendar day with at least one line of positive quantity:
lines with a zero or negative quantity (returns, corrections) are ignored and
counted in ``notes_``, and several orders on one day are one purchase (the
same rule as the BG/NBD summary of :mod:`analytics.customers.clv`). Intervals are the
whole days between consecutive purchase days, so they are at least 1.

The estimate: shrinkage on the log scale
----------------------------------------
Intervals are skewed (mostly a few weeks, sometimes a year), so the model works
with ``log(interval)``. For a customer with ``k`` intervals ``g_1..g_k``:

- her own centre is ``c = median(log g)`` (robust to one odd gap) and her own
  spread ``v = var(log g)`` (needs ``k >= 2``);
- the population centre ``m`` is the median, over the customers with at least
  one interval, of their own centres (each customer counts once, so one
  heavy buyer does not set the norm); for reorders it is per product, for
  the next order it is over all customers. ``sigma_w`` is the pooled
  within-customer spread of log intervals and ``tau`` the spread of the
  customers' centres around ``m`` (less their own sampling noise);
- the estimate is the normal-normal (empirical-Bayes) compromise::

      w  = k / (k + kappa)
      mu = w * c + (1 - w) * m
      s2 = (k * v + kappa * sigma_w**2) / (k + kappa)     (v = sigma_w**2 when k < 2)

  ``kappa`` (``prior_strength``) is the number of intervals the population
  counts for: ``sigma_w**2 / tau**2`` in the textbook estimate. On Online
  Retail that moment estimate is about 10 for products and under 1 for
  orders. The default, 4 for both models, was chosen on a validation cutoff
  before the test one (``bench/reorder_eval.py --tune``: fit before
  2011-06-01, scored on June-August): median errors tie from 0.5 to 4 and
  4 has the lowest mean error; four own intervals weigh as much as the
  population;
- a customer with one purchase (``k = 0``) gets the population: ``mu = m``,
  ``s2 = sigma_w**2 + tau**2`` (her own pace is unknown too);
- a product nobody has bought twice has no population centre: a customer
  who bought it once gets no estimate (``source == "none"``, dates NaT) and a
  ``basis`` that says so, rather than an invented number.

The typical interval is ``exp(mu)`` days (the median of a log-normal gap).

Dates
-----
Given a reference time ``now`` and the last purchase day, with
``e = now - last`` days already elapsed:

- ``due = last + exp(mu)``: when the usual rhythm says the next purchase
  falls;
- ``overdue``: ``e`` is past the upper end of the usual gaps,
  ``exp(mu + z s)``, where ``z`` is the normal quantile of the ``window``
  (0.8 -> the 10th-90th percentile);
- ``expected`` and the window ``window_start``/``window_end``: the median
  and the central ``window`` of the next gap *given that it is longer than
  e* (the purchase has not happened yet), so they never lie in the past. For
  a log-normal gap ``G`` the ``p`` quantile of ``G | G > e`` is
  ``exp(mu + s * isf((1 - p) * P(G > e)))``.

The expected number of orders in the next ``h`` days
(:class:`NextOrderModel`, for customers the CLV model has not scored) is
``P(next gap ends within h) + max(0, h - t_med) / mean gap``: the chance of a
first order plus later ones at the usual pace (``t_med`` is the median wait,
the mean gap ``exp(mu + s2 / 2)``).

Bad input
---------
Not a DataFrame, missing columns, an empty frame, missing values or
unparseable times raise :class:`~analytics.core.errors.InvalidInput` saying what to
fix; so does a frame whose every line has a non-positive quantity, and a
``now`` before the last purchase. A customer with no usable purchase is
simply absent from ``predict`` (the service says there is no history).

Why one long module: the reorder and next-order models are one interval model (:class:`_IntervalModel`)
with two keys, sharing the population priors and the lognormal gap arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.special import ndtr, ndtri
from sklearn.base import BaseEstimator

from analytics.core.errors import InvalidInput, NotFittedError

FloatArray = NDArray[np.float64]

#: Log-interval spread used when the data has no customer with two intervals to measure one from
#: (about the pooled within-customer spread of Online Retail, for both orders and products).
DEFAULT_LOG_SPREAD = 0.8

PREDICT_COLUMNS = (
    "purchases",
    "last_purchase",
    "interval_days",
    "due",
    "expected",
    "window_start",
    "window_end",
    "overdue",
    "source",
    "basis",
)


# --------------------------------------------------------------------------- input


def check_purchases(lines: Any, keys: tuple[str, ...]) -> tuple[pd.DataFrame, list[str]]:
    """Distinct purchase days per ``keys`` from a lines (or orders) frame.

    Parameters
    ----------
    lines : pandas.DataFrame
        Needs ``keys`` and ``placed_at``; ``quantity`` is optional (rows with a
        zero or negative quantity are ignored as purchases).
    keys : tuple of str
        ``("customer_id",)`` or ``("customer_id", "product_id")``.

    Returns
    -------
    days : pandas.DataFrame
        ``keys`` and ``day`` (midnight of the purchase day), one row per
        distinct purchase day, sorted.
    notes : list of str
        What was ignored.

    Raises
    ------
    InvalidInput
        Not a DataFrame, missing columns, no rows, missing values, times that
        cannot be read, or no line with a positive quantity.

    Examples
    --------
    >>> frame = pd.DataFrame({"customer_id": [1, 1, 1], "quantity": [2, 1, -1],
    ...                       "placed_at": ["2011-01-03 09:00", "2011-01-03 17:00", "2011-01-10"]})
    >>> days, notes = check_purchases(frame, ("customer_id",))
    >>> days["day"].dt.strftime("%Y-%m-%d").tolist(), notes
    (['2011-01-03'], ['1 line(s) with a zero or negative quantity ignored (returns are not purchases).'])
    """
    needed = (*keys, "placed_at")
    if not isinstance(lines, pd.DataFrame):
        raise InvalidInput(
            f"lines must be a pandas DataFrame with columns {', '.join(needed)} (see analytics.store.frames)."
        )
    missing = [c for c in needed if c not in lines.columns]
    if missing:
        raise InvalidInput(f"lines frame lacks column(s) {', '.join(missing)}; it needs {', '.join(needed)}.")
    if lines.empty:
        raise InvalidInput("lines frame is empty: there are no purchases to learn intervals from.")
    # Plain numpy from here: at chat time this runs on one customer, where pandas' fixed costs dominate.
    values = {c: lines[c].to_numpy() for c in needed}
    bad = [c for c, v in values.items() if pd.isna(v).any()]
    if bad:
        raise InvalidInput(f"lines frame has missing values in {', '.join(bad)}; drop or fill those rows.")
    notes: list[str] = []
    keep: Optional[NDArray[np.bool_]] = None
    if "quantity" in lines.columns:
        quantity = pd.to_numeric(lines["quantity"], errors="coerce").to_numpy(dtype=np.float64)
        if not np.isfinite(quantity).all():
            raise InvalidInput(
                "lines frame has a quantity that is missing or not a finite number; fix or drop those rows."
            )
        keep = quantity > 0
        if not keep.all():
            notes.append(
                f"{int((~keep).sum())} line(s) with a zero or negative quantity ignored (returns are not purchases)."
            )
        if not keep.any():
            raise InvalidInput(
                "every line has a zero or negative quantity: there is no purchase to learn from (returns and "
                "corrections are not purchases)."
            )
    placed = lines["placed_at"]
    if isinstance(placed.dtype, pd.DatetimeTZDtype):
        raise InvalidInput("placed_at has a time zone; the store's times are naive UTC, pass naive times.")
    try:
        if not pd.api.types.is_datetime64_dtype(placed):
            placed = pd.to_datetime(placed, format="ISO8601")
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"placed_at must hold datetimes or ISO 8601 text; it could not be read ({exc}).") from exc
    if isinstance(placed.dtype, pd.DatetimeTZDtype):
        raise InvalidInput("placed_at has a time zone; the store's times are naive UTC, pass naive times.")
    try:
        columns_ = [np.asarray(values[k]).astype(np.int64) for k in keys]
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{', '.join(keys)} must be whole numbers (ids) ({exc}).") from exc
    day_values = placed.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    if keep is not None:
        columns_ = [c[keep] for c in columns_]
        day_values = day_values[keep]
    order = np.lexsort((day_values, *reversed(columns_)))
    columns_ = [c[order] for c in columns_]
    day_values = day_values[order]
    changed = np.ones(len(order), dtype=bool)
    changed[1:] = day_values[1:] != day_values[:-1]
    for c in columns_:
        changed[1:] |= c[1:] != c[:-1]
    days = pd.DataFrame({k: c[changed] for k, c in zip(keys, columns_)})
    days["day"] = day_values[changed].astype("datetime64[ns]")
    return days, notes


def _as_now(now: object) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(now)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"now {now!r} is not a time; pass a datetime or 'YYYY-MM-DD'.") from exc
    if pd.isna(stamp):
        raise InvalidInput("now is missing (NaT); pass the time to predict from.")
    if stamp.tzinfo is not None:
        raise InvalidInput("now has a time zone; the store's times are naive UTC, pass a naive datetime.")
    return stamp


def _check_window(window: object) -> float:
    if not isinstance(window, (int, float)) or not 0 < float(window) < 1:
        raise InvalidInput(f"window must be a share between 0 and 1 (0.8 = 10th to 90th percentile); got {window!r}.")
    return float(window)


def _check_strength(prior_strength: object) -> float:
    if not isinstance(prior_strength, (int, float)) or not np.isfinite(prior_strength) or prior_strength < 0:
        raise InvalidInput(
            f"prior_strength must be a number >= 0 (intervals the population counts for); got {prior_strength!r}."
        )
    return float(prior_strength)


# --------------------------------------------------------------------------- the population


def unit_intervals(days: pd.DataFrame, keys: tuple[str, ...]) -> pd.DataFrame:
    """Per ``keys`` unit: purchase days, last day, number of intervals, and centre and spread of log intervals.

    ``days`` is the sorted, distinct output of :func:`check_purchases`.
    ``center`` is the median log interval (NaN without an interval) and
    ``spread2`` its variance (ddof 1; NaN with fewer than two intervals).
    Written with numpy rather than a pandas group-by: at chat time this runs
    on one customer, where pandas' fixed costs would dominate.
    """
    key_values = [days[k].to_numpy(dtype=np.int64) for k in keys]
    day = days["day"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    n = len(day)
    new_unit = np.zeros(n, dtype=bool)
    if n:
        new_unit[0] = True
        for c in key_values:
            new_unit[1:] |= c[1:] != c[:-1]
    unit = np.cumsum(new_unit) - 1
    n_units = int(unit[-1]) + 1 if n else 0
    first = np.flatnonzero(new_unit)
    purchases = np.bincount(unit, minlength=n_units)
    last_index = np.append(first[1:], n) - 1
    # Log gaps of the rows that continue a unit, sorted by unit and value for the medians.
    cont = ~new_unit
    gap_unit = unit[cont]
    log_gap = np.log(day[cont] - day[np.flatnonzero(cont) - 1]).astype(np.float64)
    order = np.lexsort((log_gap, gap_unit))
    gap_unit, log_gap = gap_unit[order], log_gap[order]
    intervals = purchases - 1
    gap_start = np.concatenate(([0], np.cumsum(intervals)[:-1])).astype(np.int64) if n_units else np.zeros(0, np.int64)
    center = np.full(n_units, np.nan)
    has = intervals > 0
    low = gap_start[has] + (intervals[has] - 1) // 2
    high = gap_start[has] + intervals[has] // 2
    center[has] = (log_gap[low] + log_gap[high]) / 2
    sums = np.bincount(gap_unit, weights=log_gap, minlength=n_units)
    squares = np.bincount(gap_unit, weights=(log_gap - center[gap_unit]) ** 2, minlength=n_units)
    spread2 = np.full(n_units, np.nan)
    several = intervals >= 2
    mean = np.divide(sums, intervals, out=np.zeros(n_units), where=has)
    # Variance about the mean, from squares about the median: sum (x - m)^2 = sum (x - c)^2 - k (mean - c)^2.
    spread2[several] = (squares[several] - intervals[several] * (mean[several] - center[several]) ** 2) / (
        intervals[several] - 1
    )
    index_arrays = [c[first] for c in key_values]
    index = (
        pd.MultiIndex.from_arrays(index_arrays, names=list(keys))
        if len(keys) > 1
        else pd.Index(index_arrays[0], name=keys[0])
    )
    return pd.DataFrame(
        {
            "purchases": purchases.astype(np.int64),
            "last": day[last_index].astype("datetime64[D]").astype("datetime64[ns]"),
            "intervals": intervals.astype(np.int64),
            "center": center,
            "spread2": np.maximum(spread2, 0.0),
        },
        index=index,
    )


@dataclass(frozen=True)
class IntervalPrior:
    """What the population's intervals say: a centre per group and the two spreads.

    Attributes
    ----------
    centers : pandas.Series
        Median over customers of their median log interval, per group (a
        product id; ``0`` for the customer-level order rhythm). Groups nobody
        bought twice are absent.
    customers : pandas.Series
        How many customers with at least one interval each centre rests on.
    sigma_within : float
        Pooled within-customer standard deviation of log intervals.
    tau_between : float
        Standard deviation of customers' true centres around their group's
        centre: the observed spread of their centres less the part their own
        sampling noise explains (``sigma_within**2 * mean(1 / k)``), floored at 0.
    """

    centers: pd.Series
    customers: pd.Series
    sigma_within: float
    tau_between: float

    @classmethod
    def from_stats(cls, stats: pd.DataFrame, group: str) -> IntervalPrior:
        """Build from :func:`unit_intervals` output whose index has a ``group`` level (or is the group)."""
        with_gap = stats[stats["intervals"] > 0]
        groups = with_gap.index.get_level_values(group) if group in with_gap.index.names else np.zeros(len(with_gap))
        by_group = with_gap["center"].groupby(groups)
        centers = by_group.median()
        customers = by_group.size().astype("int64")
        several = stats[stats["intervals"] >= 2]
        if len(several):
            dof = several["intervals"] - 1
            sigma = float(np.sqrt((several["spread2"] * dof).sum() / dof.sum()))
        else:
            sigma = DEFAULT_LOG_SPREAD
        deviation = with_gap["center"].to_numpy() - centers.reindex(groups).to_numpy()
        # Method of moments: the spread of the customers' centres, less what their own sampling noise explains.
        noise = sigma**2 * float(np.mean(1.0 / with_gap["intervals"].to_numpy())) if len(with_gap) else 0.0
        tau = float(np.sqrt(max(np.mean(deviation**2) - noise, 0.0))) if len(deviation) > 1 else 0.0
        return cls(centers=centers, customers=customers, sigma_within=sigma, tau_between=tau)


def product_prior(lines: pd.DataFrame) -> IntervalPrior:
    """Reorder intervals of every product, from all customers' lines (the population of :class:`ReorderModel`)."""
    days, _ = check_purchases(lines, ("customer_id", "product_id"))
    return IntervalPrior.from_stats(unit_intervals(days, ("customer_id", "product_id")), "product_id")


def order_prior(lines: pd.DataFrame) -> IntervalPrior:
    """Order intervals of all customers (the population of :class:`NextOrderModel`); group ``0``."""
    days, _ = check_purchases(lines, ("customer_id",))
    return IntervalPrior.from_stats(unit_intervals(days, ("customer_id",)), "__all__")


# --------------------------------------------------------------------------- the shared estimate


def _lognormal_estimate(
    stats: pd.DataFrame, prior_center: FloatArray, prior: IntervalPrior, kappa: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``mu``, ``s`` and the weight ``w`` of her own intervals for each unit (``mu`` NaN where there is no basis).

    Without a population centre (nobody else's intervals) her own intervals
    are used alone (``w = 1``).
    """
    k = stats["intervals"].to_numpy(dtype=np.float64)
    own = np.nan_to_num(stats["center"].to_numpy(dtype=np.float64))
    sigma2 = prior.sigma_within**2
    own_var = np.where(k >= 2, np.nan_to_num(stats["spread2"].to_numpy(dtype=np.float64)), sigma2)
    has_prior = np.isfinite(prior_center)
    w = np.zeros_like(k)
    np.divide(k, k + kappa, out=w, where=k > 0)
    w = np.where(has_prior | (k == 0), w, 1.0)
    mu = np.where(k > 0, w * own + (1 - w) * np.nan_to_num(prior_center), prior_center)
    s2 = np.where(k > 0, w * own_var + (1 - w) * sigma2, sigma2 + prior.tau_between**2)
    return mu, np.sqrt(np.maximum(s2, 1e-6)), w


def conditional_gap_quantiles(mu: FloatArray, s: FloatArray, elapsed: FloatArray, probs: FloatArray) -> FloatArray:
    """Quantiles ``probs`` of a log-normal gap given that it exceeds ``elapsed`` days.

    Returns an array of shape ``(len(mu), len(probs))``, never below
    ``elapsed``. Deep in the tail (the customer is very late) every quantile
    tends to ``elapsed``: "any day now".

    Examples
    --------
    >>> q = conditional_gap_quantiles(np.log([7.0]), np.array([0.3]), np.array([0.0]), np.array([0.5]))
    >>> round(float(q[0, 0]), 6)
    7.0
    """
    with np.errstate(divide="ignore"):
        z_e = (np.log(np.maximum(elapsed, 1e-9)) - mu) / s
    survive = ndtr(-z_e)
    tail = (1.0 - probs)[None, :] * survive[:, None]
    with np.errstate(over="ignore"):
        gaps = np.exp(mu[:, None] + s[:, None] * -ndtri(tail))
    gaps = np.where(np.isfinite(gaps), gaps, elapsed[:, None])
    return np.maximum(gaps, elapsed[:, None])


class _IntervalModel(BaseEstimator):
    """What :class:`ReorderModel` and :class:`NextOrderModel` share."""

    keys: tuple[str, ...] = ("customer_id",)
    group: str = "__all__"

    def __init__(self, prior_strength: float = 4.0, window: float = 0.8) -> None:
        self.prior_strength = prior_strength
        self.window = window

    def fit(self, lines: pd.DataFrame, population: Optional[IntervalPrior] = None) -> Any:
        """Learn each unit's intervals from ``lines``.

        Parameters
        ----------
        lines : pandas.DataFrame
            Order lines (or orders) of one or many customers.
        population : IntervalPrior, optional
            What the whole shop's customers do (:func:`product_prior` /
            :func:`order_prior` over all lines). Default: computed from
            ``lines`` itself, which is right when ``lines`` holds everyone.

        Returns
        -------
        self
        """
        kappa = _check_strength(self.prior_strength)
        _check_window(self.window)
        days, notes = check_purchases(lines, self.keys)
        self.stats_ = unit_intervals(days, self.keys)
        if population is None:
            population = IntervalPrior.from_stats(self.stats_, self.group)
        elif not isinstance(population, IntervalPrior):
            raise InvalidInput("population must be an IntervalPrior (from product_prior or order_prior).")
        self.population_ = population
        if self.group in self.stats_.index.names:
            groups = self.stats_.index.get_level_values(self.group)
        else:
            groups = pd.Index(np.zeros(len(self.stats_), dtype="int64"))
        prior_center = population.centers.reindex(groups).to_numpy(dtype=np.float64)
        self.prior_customers_ = population.customers.reindex(groups).fillna(0).to_numpy(dtype=np.int64)
        self.mu_, self.s_, self.weight_ = _lognormal_estimate(self.stats_, prior_center, population, kappa)
        self.notes_ = notes
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "stats_"):
            raise NotFittedError(self)

    def _basis(self, purchases: int, intervals: int, weight: float, customers: int, typical: float) -> tuple[str, str]:
        raise NotImplementedError

    def predict(self, now: object, customer_id: Optional[int] = None) -> pd.DataFrame:
        """Due date, window and basis of every unit (or one customer's), as of ``now``.

        Parameters
        ----------
        now : datetime-like
            The reference time (naive UTC). It may not be before a unit's last purchase.
        customer_id : int, optional
            Only this customer's rows (an empty frame if she has no purchase).

        Returns
        -------
        pandas.DataFrame
            Indexed like the model's units (``customer_id`` [, ``product_id``]),
            columns :data:`PREDICT_COLUMNS`: ``purchases`` (purchase days),
            ``last_purchase``, ``interval_days`` (typical interval, float),
            ``due``, ``expected``, ``window_start``, ``window_end`` (midnight
            Timestamps), ``overdue`` (bool), ``source`` (``"own"``,
            ``"own+others"``, ``"others"`` or ``"none"``) and ``basis`` (a
            sentence). Rows with ``source == "none"`` have NaN/NaT estimates
            and a basis that says why.
        """
        self._check_fitted()
        stamp = _as_now(now)
        stats, mu, s, weight, customers = self.stats_, self.mu_, self.s_, self.weight_, self.prior_customers_
        if customer_id is not None:
            rows = np.flatnonzero(stats.index.get_level_values("customer_id") == customer_id)
            stats, mu, s, weight, customers = stats.iloc[rows], mu[rows], s[rows], weight[rows], customers[rows]
        today = stamp.normalize().to_datetime64().astype("datetime64[D]")
        last = stats["last"].to_numpy(dtype="datetime64[D]")
        if len(last) and last.max() > today:
            raise InvalidInput(
                f"now ({stamp}) is before the last purchase ({pd.Timestamp(last.max()).date()}); "
                "predict from a later time."
            )
        elapsed = (today - last).astype(np.float64)
        ok = np.isfinite(mu)
        z = float(ndtri(0.5 + _check_window(self.window) / 2))
        typical = np.exp(mu)
        probs = np.array([(1 - self.window) / 2, 0.5, (1 + self.window) / 2])
        gaps = np.full((len(mu), 3), np.nan)
        if ok.any():
            gaps[ok] = conditional_gap_quantiles(mu[ok], s[ok], elapsed[ok], probs)
        wait = gaps - elapsed[:, None]

        def dates(start: NDArray[np.datetime64], days: FloatArray) -> NDArray[np.datetime64]:
            shifted = start + np.round(np.nan_to_num(days)).astype("timedelta64[D]")
            return np.where(ok, shifted, np.datetime64("NaT")).astype("datetime64[ns]")

        bases = [
            self._basis(int(p), int(k), float(w), int(c), float(t))
            for p, k, w, c, t in zip(stats["purchases"], stats["intervals"], weight, customers, typical)
        ]
        result = pd.DataFrame(
            {
                "purchases": stats["purchases"].to_numpy(),
                "last_purchase": last.astype("datetime64[ns]"),
                "interval_days": typical,
                "due": dates(last, typical),
                "expected": dates(np.full(len(last), today), wait[:, 1]),
                "window_start": dates(np.full(len(last), today), wait[:, 0]),
                "window_end": dates(np.full(len(last), today), wait[:, 2]),
                "overdue": ok & (elapsed > np.exp(mu + z * s)),
                "source": [b[0] for b in bases],
                "basis": [b[1] for b in bases],
                **self._extra_columns(mu, s, elapsed),
            },
            index=stats.index,
        )
        return result

    def _extra_columns(self, mu: FloatArray, s: FloatArray, elapsed: FloatArray) -> dict[str, FloatArray]:
        return {}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class ReorderModel(_IntervalModel):
    """Per customer and product: how often she rebuys it, and when it is due again.

    Parameters
    ----------
    prior_strength : float, default 4.0
        ``kappa``: how many of her own intervals the product's population
        interval counts for (see the module docstring). 0 uses her own
        intervals alone whenever she has one.
    window : float, default 0.8
        Central share of the plausible window (0.8: 10th to 90th percentile).

    Attributes
    ----------
    stats_ : pandas.DataFrame
        Per (customer_id, product_id): purchases, last, intervals, center, spread2.
    population_ : IntervalPrior
        Product intervals of the population.
    mu_, s_, weight_ : numpy.ndarray
        Log-normal centre and spread of each pair's gap, and the weight of her own data.
    notes_ : list of str
        What the input checks ignored.

    Examples
    --------
    >>> lines = pd.DataFrame({"customer_id": [1] * 6, "product_id": [7] * 6, "quantity": [1] * 6,
    ...                       "placed_at": pd.date_range("2011-03-01", periods=6, freq="7D")})
    >>> row = ReorderModel().fit(lines).predict("2011-04-07").iloc[0]
    >>> row["due"].date(), row["basis"]
    (datetime.date(2011, 4, 12), 'from your 6 previous orders of it')
    """

    keys = ("customer_id", "product_id")
    group = "product_id"

    def _basis(self, purchases: int, intervals: int, weight: float, customers: int, typical: float) -> tuple[str, str]:
        if not np.isfinite(typical):
            return "none", "nobody has reordered this product yet, so there is no reorder rhythm to go on"
        if intervals == 0:
            return "others", (
                f"from what other customers do ({_plural(customers, 'customer')} reorder it about every "
                f"{typical:.0f} days); you have bought it once"
            )
        if weight >= 0.5:
            return "own", f"from your {purchases} previous orders of it"
        return "own+others", f"from your {purchases} previous orders of it and what other customers do"


class NextOrderModel(_IntervalModel):
    """Per customer: the usual time between two orders and the expected date of the next.

    Same parameters and attributes as :class:`ReorderModel`, on the
    customer's order days; ``predict`` adds ``expected_orders_30d`` and
    ``expected_orders_90d`` from the intervals (the services use the BG/NBD
    figures of the last refresh instead when the customer is scored).

    Examples
    --------
    >>> days = pd.date_range("2011-01-01", periods=6, freq="14D")
    >>> orders = pd.DataFrame({"customer_id": [5] * 6, "placed_at": days})
    >>> row = NextOrderModel().fit(orders).predict("2011-03-14").iloc[0]
    >>> row["interval_days"].round(1), row["basis"]
    (np.float64(14.0), 'from your 6 previous orders')
    """

    keys = ("customer_id",)
    group = "__all__"

    def _basis(self, purchases: int, intervals: int, weight: float, customers: int, typical: float) -> tuple[str, str]:
        if not np.isfinite(typical):
            return "none", "no customer has ordered twice yet, so there is no rhythm to go on"
        if intervals == 0:
            return "others", (
                f"from what other customers do (they order again about every {typical:.0f} days); you have ordered once"
            )
        if weight >= 0.5:
            return "own", f"from your {purchases} previous orders"
        return "own+others", f"from your {purchases} previous orders and what other customers do"

    def _extra_columns(self, mu: FloatArray, s: FloatArray, elapsed: FloatArray) -> dict[str, FloatArray]:
        return {f"expected_orders_{h}d": expected_orders(mu, s, elapsed, float(h)) for h in (30, 90)}


def expected_orders(mu: FloatArray, s: FloatArray, elapsed: FloatArray, horizon: float) -> FloatArray:
    """Expected orders in the next ``horizon`` days under a log-normal gap (see the module docstring).

    NaN where ``mu`` is NaN (no basis).
    """
    out = np.full(len(mu), np.nan)
    ok = np.isfinite(mu)
    if not ok.any():
        return out
    m, sd, e = mu[ok], s[ok], elapsed[ok]
    with np.errstate(divide="ignore"):
        sf_now = ndtr(-(np.log(np.maximum(e, 1e-9)) - m) / sd)
    sf_then = ndtr(-(np.log(e + horizon) - m) / sd)
    with np.errstate(invalid="ignore", divide="ignore"):
        first = np.where(sf_now > 0, 1 - sf_then / sf_now, 1.0)
    median_wait = conditional_gap_quantiles(m, sd, e, np.array([0.5]))[:, 0] - e
    later = np.maximum(0.0, horizon - median_wait) / np.exp(m + sd**2 / 2)
    out[ok] = np.clip(first, 0.0, 1.0) + later
    return out
