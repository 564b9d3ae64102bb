"""The per-customer summary the CLV models take (frequency, recency, T, monetary value), built from orders."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

from analytics.core.errors import InvalidInput
from analytics.customers.clv.common import (
    DAYS_PER_UNIT,
    TimeUnit,
    plural,
)
from analytics.store.frames import check_orders

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
        The ``orders`` frame of :mod:`analytics.store.frames`.
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
        For a malformed orders frame (see :func:`analytics.store.frames.check_orders`),
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
            f"{plural(int(late.sum()), 'order')} {'is' if late.sum() == 1 else 'are'} placed after the reference "
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
