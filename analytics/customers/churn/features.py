"""The churn question's data: each customer's features at a cutoff date, whether they bought again in
the horizon after it, and the past/future split a model is trained and tested on.

The question is asked at a *cutoff* date. Features describe each customer's
orders placed at or before the cutoff; the label says whether the customer
places another order in the *horizon* after it, ``(cutoff, cutoff + horizon]``.
The two windows never overlap, so nothing after the cutoff leaks into a
feature.

- :func:`customer_features` builds the feature frame (one row per customer).
- :func:`purchase_labels` builds the 0/1 labels ("buys again").
- :func:`time_split` trains on the past and tests on the future: train
  features at ``cutoff - horizon`` with labels in ``(cutoff - horizon,
  cutoff]``; test features at ``cutoff`` with labels in ``(cutoff, cutoff +
  horizon]``.

Everything works on the ``orders`` (and optionally ``lines``) frames of
:mod:`analytics.store.frames`; inputs are checked with
:func:`analytics.store.frames.check_orders`, and bad input raises
:class:`~analytics.core.errors.InvalidInput` with a message that says what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Optional, Union

import numpy as np
import pandas as pd

from analytics.core.errors import InvalidInput
from analytics.store.frames import check_lines, check_orders

DateLike = Union[str, datetime, date, np.datetime64]

WINDOWS = (30, 90, 180)
#: Features :func:`customer_features` returns, in order (``distinct_categories`` only with ``lines``).
FEATURES = (
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "tenure_days",
    "days_since_first_order",
    "gap_mean_days",
    "gap_std_days",
    "orders_30d",
    "orders_90d",
    "orders_180d",
    "spend_30d",
    "spend_90d",
    "spend_180d",
    "spend_trend",
)
CATEGORY_FEATURE = "distinct_categories"
# Orders a little in the future are tolerated: stores keep naive times, and a
# clock a few hours ahead of UTC must not stop a refresh.
_FUTURE_SLACK = pd.Timedelta(days=1)
_DAY = pd.Timedelta(days=1)


# --------------------------------------------------------------------------- validation


def check_cutoff(cutoff: DateLike, name: str = "cutoff") -> pd.Timestamp:
    """``cutoff`` as a naive UTC timestamp, or :class:`InvalidInput` saying what a date looks like."""
    try:
        ts = pd.Timestamp(cutoff)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} {cutoff!r} is not a date; pass a date such as '2011-09-01'.") from exc
    if pd.isna(ts):
        raise InvalidInput(f"{name} is missing (NaT); pass a date such as '2011-09-01'.")
    if ts.tzinfo is not None:  # the store keeps naive UTC
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def check_horizon(horizon_days: object) -> int:
    """``horizon_days`` as an int if it is a whole number of days >= 1, or :class:`InvalidInput`."""
    if isinstance(horizon_days, bool) or not isinstance(horizon_days, (int, np.integer)) or horizon_days < 1:
        raise InvalidInput(f"horizon_days must be a whole number of days >= 1, got {horizon_days!r}.")
    return int(horizon_days)


def check_orders_frame(orders: pd.DataFrame) -> pd.DataFrame:
    """:func:`check_orders`, plus a refusal of orders dated after now (a clock or import error)."""
    frame = check_orders(orders)
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    future = frame["placed_at"] > now + _FUTURE_SLACK
    if future.any():
        raise InvalidInput(
            f"{int(future.sum())} order(s) are dated in the future (latest {frame['placed_at'].max()}, now is "
            f"{now:%Y-%m-%d %H:%M} UTC); fix their placed_at (times are naive UTC) or drop them."
        )
    return frame


def _check_lines(lines: pd.DataFrame) -> pd.DataFrame:
    return check_lines(lines, ("customer_id", "placed_at", "category"))


# --------------------------------------------------------------------------- features and labels


def customer_features(orders: pd.DataFrame, cutoff: DateLike, lines: Optional[pd.DataFrame] = None) -> pd.DataFrame:
    """One row of features per customer, from the orders placed at or before ``cutoff``.

    Orders after ``cutoff`` are ignored, so adding them never changes a
    feature (no leakage into the label window ``(cutoff, cutoff + horizon]``).
    Customers with no order at or before the cutoff get no row.

    Parameters
    ----------
    orders : DataFrame
        The ``orders`` frame of :mod:`analytics.store.frames`.
    cutoff : date-like
        The moment the prediction is made.
    lines : DataFrame, optional
        The ``lines`` frame; when given, adds ``distinct_categories``.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` (sorted), float columns :data:`FEATURES`:

        - ``recency_days``: days from the last order to the cutoff;
        - ``frequency``: number of orders; ``monetary``: total spend;
          ``avg_order_value``: their ratio;
        - ``tenure_days``: days from the first to the last order;
          ``days_since_first_order``: from the first order to the cutoff;
        - ``gap_mean_days``, ``gap_std_days``: mean and (population) standard
          deviation of the days between consecutive orders. A one-order
          customer has no closed gap: the mean is the gap still open (days
          since that order, a lower bound of the first gap) and the std 0;
        - ``orders_{30,90,180}d``, ``spend_{30,90,180}d``: orders and spend in
          the last 30/90/180 days, ``(cutoff - w, cutoff]``;
        - ``spend_trend``: ``(last90 - prev90) / (last90 + prev90)``, from -1
          (spent only in days 91–180 before the cutoff) to +1 (only in the last
          90); 0 when both are zero;
        - ``distinct_categories`` (with ``lines``): product categories bought.

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": [1, 1, 2], "order_id": [1, 2, 3],
    ...     "placed_at": pd.to_datetime(["2011-01-01", "2011-02-01", "2011-01-15"]),
    ...     "amount": [10.0, 30.0, 5.0]})
    >>> customer_features(orders, "2011-03-01").loc[1, ["recency_days", "frequency", "monetary"]].tolist()
    [28.0, 2.0, 40.0]
    """
    frame = check_orders_frame(orders)
    at = check_cutoff(cutoff)
    past = frame[frame["placed_at"] <= at].sort_values(["customer_id", "placed_at", "order_id"])
    if past.empty:
        raise InvalidInput(
            f"no order is placed at or before the cutoff {at}; the first order is on "
            f"{frame['placed_at'].min()}. Pick a later cutoff."
        )
    age = (at - past["placed_at"]) / _DAY  # days before the cutoff, >= 0
    by = past.groupby("customer_id", sort=True)
    first = by["placed_at"].min()
    last = by["placed_at"].max()
    out = pd.DataFrame(index=first.index)
    out["recency_days"] = (at - last) / _DAY
    out["frequency"] = by.size().astype("float64")
    out["monetary"] = by["amount"].sum()
    out["avg_order_value"] = out["monetary"] / out["frequency"]
    out["tenure_days"] = (last - first) / _DAY
    out["days_since_first_order"] = (at - first) / _DAY

    gaps = past.groupby("customer_id")["placed_at"].diff() / _DAY
    gap_by = gaps.groupby(past["customer_id"])
    out["gap_mean_days"] = gap_by.mean().reindex(out.index).fillna(out["recency_days"])
    out["gap_std_days"] = gap_by.std(ddof=0).reindex(out.index).fillna(0.0)

    # "in the last w days" is (cutoff - w, cutoff]: age < w
    for w in WINDOWS:
        inside = age < w
        out[f"orders_{w}d"] = inside.groupby(past["customer_id"]).sum().astype("float64")
        out[f"spend_{w}d"] = past["amount"].where(inside, 0.0).groupby(past["customer_id"]).sum()
    last90 = out["spend_90d"]
    prev90 = out["spend_180d"] - out["spend_90d"]
    total = last90 + prev90
    out["spend_trend"] = ((last90 - prev90) / total.where(total > 0)).fillna(0.0)

    out = out.loc[:, list(FEATURES)]
    if lines is not None:
        checked = _check_lines(lines)
        before = checked[checked["placed_at"] <= at]
        categories = before.groupby("customer_id")["category"].nunique()
        out[CATEGORY_FEATURE] = categories.reindex(out.index).fillna(0).astype("float64")
    out.index.name = "customer_id"
    return out.astype("float64")


def _data_end(frame: pd.DataFrame) -> pd.Timestamp:
    return pd.Timestamp(frame["placed_at"].max())


def _labels(frame: pd.DataFrame, at: pd.Timestamp, horizon: int) -> pd.Series:
    customers = np.sort(frame.loc[frame["placed_at"] <= at, "customer_id"].unique())
    end = at + pd.Timedelta(days=horizon)
    window = frame[(frame["placed_at"] > at) & (frame["placed_at"] <= end)]
    labels = pd.Series(np.isin(customers, window["customer_id"].unique()).astype("int64"), index=customers)
    labels.index.name = "customer_id"
    labels.name = "buys_again"
    return labels


def purchase_labels(orders: pd.DataFrame, cutoff: DateLike, horizon_days: int = 90) -> pd.Series:
    """1 if the customer orders in ``(cutoff, cutoff + horizon_days]``, else 0.

    Only customers with an order at or before ``cutoff`` are labelled (the
    rows of :func:`customer_features` at the same cutoff). Refuses data that
    end before ``cutoff + horizon_days``: a customer would look lapsed only
    because the data stop.

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": [1, 1, 2], "order_id": [1, 2, 3],
    ...     "placed_at": pd.to_datetime(["2011-01-01", "2011-02-01", "2011-04-15"]),
    ...     "amount": [10.0, 30.0, 5.0]})
    >>> purchase_labels(orders, "2011-01-10", horizon_days=90).to_dict()
    {1: 1}
    """
    frame = check_orders_frame(orders)
    at = check_cutoff(cutoff)
    horizon = check_horizon(horizon_days)
    check_covers(frame, at, horizon)
    labels = _labels(frame, at, horizon)
    if labels.empty:
        raise InvalidInput(f"no customer has an order at or before the cutoff {at}; pick a later cutoff.")
    return labels


def check_covers(frame: pd.DataFrame, at: pd.Timestamp, horizon: int) -> None:
    """Refuse a checked orders frame that ends before ``at + horizon`` (labels would be cut short)."""
    end = at + pd.Timedelta(days=horizon)
    data_end = _data_end(frame)
    if data_end < end:
        raise InvalidInput(
            f"the orders end on {data_end:%Y-%m-%d}, before cutoff + horizon ({end:%Y-%m-%d}); labels would call "
            f"customers lapsed only because the data stop. Use a cutoff on or before "
            f"{data_end - pd.Timedelta(days=horizon):%Y-%m-%d} or a shorter horizon."
        )


@dataclass(frozen=True)
class TimeSplit:
    """Train on the past, test on the future (see :func:`time_split`)."""

    X_train: pd.DataFrame
    y_train: pd.Series
    X_test: pd.DataFrame
    y_test: pd.Series
    train_cutoff: pd.Timestamp
    test_cutoff: pd.Timestamp
    horizon_days: int


def time_split(
    orders: pd.DataFrame, cutoff: DateLike, horizon_days: int = 90, lines: Optional[pd.DataFrame] = None
) -> TimeSplit:
    """Out-of-time train and test sets around ``cutoff``.

    Train: features at ``cutoff - horizon``, labels in ``(cutoff - horizon,
    cutoff]``. Test: features at ``cutoff``, labels in ``(cutoff, cutoff +
    horizon]``. The model never sees an order after ``cutoff`` while it
    learns, and it is scored on what happened next.

    Raises :class:`InvalidInput` when the orders end before ``cutoff +
    horizon``, when nobody has history before ``cutoff - horizon``, or when a
    set has only one class.

    Examples
    --------
    >>> split = time_split(orders, "2011-09-01", horizon_days=90)  # doctest: +SKIP
    >>> model = ChurnModel("forest").fit(split.X_train, split.y_train)  # doctest: +SKIP
    """
    frame = check_orders_frame(orders)
    at = check_cutoff(cutoff)
    horizon = check_horizon(horizon_days)
    check_covers(frame, at, horizon)
    train_at = at - pd.Timedelta(days=horizon)
    if not (frame["placed_at"] <= train_at).any():
        raise InvalidInput(
            f"no order is placed at or before {train_at:%Y-%m-%d} (cutoff - horizon), so there is nothing to train "
            f"on; the first order is on {frame['placed_at'].min():%Y-%m-%d}. Pick a later cutoff or a shorter horizon."
        )
    checked_lines = _check_lines(lines) if lines is not None else None
    parts = {}
    for name, when in (("train", train_at), ("test", at)):
        X = customer_features(frame, when, lines=checked_lines)
        y = _labels(frame, when, horizon).reindex(X.index)
        counts = y.value_counts()
        if len(counts) < 2:
            only = "buys again" if counts.index[0] == 1 else "does not buy again"
            raise InvalidInput(
                f"the {name} set ({len(y)} customers at {when:%Y-%m-%d}) has one class only: every customer {only}. "
                "Pick another cutoff or horizon, or load more customers."
            )
        parts[name] = (X, y)
    return TimeSplit(*parts["train"], *parts["test"], train_at, at, horizon)
