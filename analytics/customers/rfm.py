"""RFM scoring: recency, frequency and monetary value per customer, scored
1..5 and mapped to named segments.

Scores
------
Each of recency (days since the last order, lower is better), frequency
(number of orders) and monetary value (total spend) is turned into a score
from 1 to ``n_bins`` by rank, 5 being best (recent, frequent, big spender).
A customer's percentile is ``p = (rank - 1) / (n - 1)`` with tied customers
sharing their average rank, and the score is ``1 + floor(p * n_bins)``
(``p = 1`` gets ``n_bins``). So scores are quantile bins that work with ties
(every one-order customer gets the same F score) and with a handful of
customers (five distinct customers get 1, 2, 3, 4 and 5). Because a tie
takes its average rank, a value most customers share sits mid-table: if
nine customers in ten had one order, they would all score 3 on F. A single
customer, or a column where every customer ties, gets the middle score
(3 of 5): there is nobody to compare with.

Segments
--------
Segments come from the recency score R and the combined frequency-monetary
score ``FM = ceil((F + M) / 2)``, both on the five-level scale (when
``n_bins`` is not 5 they are recomputed on five levels from the same
percentiles, so the map below always applies)::

    R \\ FM |      1        |        2          |        3          |      4       |      5
    -------+---------------+-------------------+-------------------+--------------+--------------
       5   | New           | Potential loyalist| Potential loyalist| Champions    | Champions
       4   | Promising     | Potential loyalist| Potential loyalist| Loyal        | Loyal
       3   | About to sleep| About to sleep    | Need attention    | Loyal        | Loyal
       2   | Hibernating   | Hibernating       | At risk           | At risk      | Can't lose
       1   | Lost          | Lost              | At risk           | At risk      | Can't lose

It is the usual R x FM grid of CRM practice, with the bottom-left corner
split into Lost (the least recent fifth, low value) and Hibernating (the
next fifth).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from analytics.core.errors import CustomerNotFound, InvalidInput, NotFittedError
from analytics.store.frames import check_orders

#: The segment names, from best to worst; ``segment_summary`` lists them in this order.
SEGMENTS: tuple[str, ...] = (
    "Champions",
    "Loyal",
    "Potential loyalist",
    "New",
    "Promising",
    "Need attention",
    "About to sleep",
    "Can't lose",
    "At risk",
    "Hibernating",
    "Lost",
)

#: ``SEGMENT_GRID[r - 1][fm - 1]`` is the segment of recency score r and frequency-monetary score fm.
SEGMENT_GRID: tuple[tuple[str, ...], ...] = (
    ("Lost", "Lost", "At risk", "At risk", "Can't lose"),
    ("Hibernating", "Hibernating", "At risk", "At risk", "Can't lose"),
    ("About to sleep", "About to sleep", "Need attention", "Loyal", "Loyal"),
    ("Promising", "Potential loyalist", "Potential loyalist", "Loyal", "Loyal"),
    ("New", "Potential loyalist", "Potential loyalist", "Champions", "Champions"),
)


def default_reference_date(orders: pd.DataFrame) -> pd.Timestamp:
    """The day after the newest order (midnight), the usual RFM reference."""
    return pd.Timestamp(orders["placed_at"].max()).normalize() + pd.Timedelta(days=1)


def resolve_reference_date(orders: pd.DataFrame, reference_date: object) -> pd.Timestamp:
    """Validate ``reference_date`` against a checked orders frame.

    ``None`` gives :func:`default_reference_date`. Orders placed after the
    reference date are future-dated and raise :class:`InvalidInput`.
    """
    if reference_date is None:
        return default_reference_date(orders)
    try:
        reference = pd.Timestamp(reference_date)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"reference_date {reference_date!r} is not a date; pass a datetime, a pandas Timestamp or 'YYYY-MM-DD'."
        ) from exc
    if reference is pd.NaT or pd.isna(reference):
        raise InvalidInput("reference_date is missing (NaT); pass a date or None for the day after the newest order.")
    if reference.tzinfo is not None:
        raise InvalidInput("reference_date has a time zone; the store's times are naive UTC, pass a naive datetime.")
    future = orders["placed_at"] > reference
    if future.any():
        raise InvalidInput(
            f"{int(future.sum())} order(s) are placed after the reference date {reference} "
            f"(the newest on {orders['placed_at'].max()}); pass a later reference_date or drop future-dated orders."
        )
    return reference


def rank_scores(values: pd.Series, n_bins: int, *, higher_is_better: bool = True) -> pd.Series:
    """Rank-based scores 1..``n_bins`` (``n_bins`` = best), ties sharing a score.

    Examples
    --------
    >>> rank_scores(pd.Series([10, 20, 30, 40, 50]), 5).tolist()
    [1, 2, 3, 4, 5]
    >>> rank_scores(pd.Series([7.0]), 5).tolist()
    [3]
    """
    n = len(values)
    if n <= 1:
        return pd.Series(np.full(n, (n_bins + 1) // 2, dtype="int64"), index=values.index)
    ranks = values.rank(method="average", ascending=higher_is_better)
    pct = (ranks - 1.0) / (n - 1)
    scores = np.minimum(np.floor(pct.to_numpy() * n_bins).astype("int64") + 1, n_bins)
    return pd.Series(scores, index=values.index)


def rfm_values(orders: pd.DataFrame, reference: pd.Timestamp) -> pd.DataFrame:
    """Recency (whole days), frequency and monetary value per customer of a checked orders frame."""
    per_customer = orders.groupby("customer_id").agg(
        last_order=("placed_at", "max"),
        frequency=("order_id", "nunique"),
        monetary=("amount", "sum"),
    )
    recency = (reference.normalize() - per_customer["last_order"].dt.normalize()).dt.days
    return pd.DataFrame(
        {
            "recency_days": recency.astype("int64"),
            "frequency": per_customer["frequency"].astype("int64"),
            "monetary": per_customer["monetary"].round(2),
        }
    )


class RFM(BaseEstimator):
    """Recency-frequency-monetary scores and segments per customer.

    Parameters
    ----------
    reference_date : datetime-like, optional
        The "today" of the analysis. Default: the day after the newest order.
        Orders placed after it are rejected.
    n_bins : int, default 5
        Number of score levels (2..10); ``n_bins`` is the best score.

    Attributes
    ----------
    reference_date_ : pandas.Timestamp
        The reference date used.
    table_ : pandas.DataFrame
        Indexed by ``customer_id``: ``recency_days`` (whole days between the
        last order's date and the reference date), ``frequency`` (orders),
        ``monetary`` (total amount), ``r_score``, ``f_score``, ``m_score``
        (1..n_bins), ``rfm_code`` (e.g. ``"545"``) and ``segment``.

    Examples
    --------
    >>> orders = pd.DataFrame({
    ...     "customer_id": [1, 1, 1, 2],
    ...     "order_id": [10, 11, 12, 13],
    ...     "placed_at": pd.to_datetime(["2011-12-01", "2011-12-05", "2011-12-08", "2011-01-02"]),
    ...     "amount": [120.0, 80.0, 200.0, 15.0],
    ... })
    >>> rfm = RFM().fit(orders)
    >>> rfm.segment_of(1), rfm.segment_of(2)
    ('Champions', 'Lost')
    >>> int(rfm.table_.loc[1, "recency_days"])
    1
    """

    def __init__(self, reference_date: Optional[object] = None, n_bins: int = 5) -> None:
        self.reference_date = reference_date
        self.n_bins = n_bins

    def fit(self, orders: pd.DataFrame) -> RFM:
        """Compute the RFM table of every customer in ``orders``.

        Parameters
        ----------
        orders : pandas.DataFrame
            The ``orders`` frame of :mod:`analytics.store.frames`.

        Returns
        -------
        RFM
            ``self``, fitted.

        Raises
        ------
        InvalidInput
            For a malformed or empty frame, missing values, non-positive
            amounts, orders after ``reference_date``, or a bad ``n_bins``.
        """
        if (
            isinstance(self.n_bins, bool)
            or not isinstance(self.n_bins, (int, np.integer))
            or not 2 <= self.n_bins <= 10
        ):
            raise InvalidInput(f"n_bins must be a whole number from 2 to 10 (5 gives quintiles), not {self.n_bins!r}.")
        n_bins = int(self.n_bins)
        frame = check_orders(orders)
        reference = resolve_reference_date(frame, self.reference_date)
        table = rfm_values(frame, reference)
        table["r_score"] = rank_scores(table["recency_days"], n_bins, higher_is_better=False)
        table["f_score"] = rank_scores(table["frequency"], n_bins)
        table["m_score"] = rank_scores(table["monetary"], n_bins)
        table["rfm_code"] = (
            table["r_score"].astype(str) + table["f_score"].astype(str) + table["m_score"].astype(str)
            if n_bins < 10
            else table["r_score"].astype(str) + "-" + table["f_score"].astype(str) + "-" + table["m_score"].astype(str)
        )
        if n_bins == 5:
            r5, f5, m5 = table["r_score"], table["f_score"], table["m_score"]
        else:
            r5 = rank_scores(table["recency_days"], 5, higher_is_better=False)
            f5 = rank_scores(table["frequency"], 5)
            m5 = rank_scores(table["monetary"], 5)
        fm5 = np.ceil((f5 + m5) / 2).astype("int64")
        grid = np.array(SEGMENT_GRID, dtype=object)
        table["segment"] = grid[r5.to_numpy() - 1, fm5.to_numpy() - 1]
        table.index.name = "customer_id"
        self.reference_date_ = reference
        self.table_ = table
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "table_"):
            raise NotFittedError(self)

    def segment_of(self, customer_id: int) -> str:
        """The segment name of one customer.

        Raises
        ------
        CustomerNotFound
            If the customer had no order in the fitted frame.

        Examples
        --------
        >>> orders = pd.DataFrame({"customer_id": [7], "order_id": [1],
        ...                        "placed_at": [pd.Timestamp("2011-05-01")], "amount": [9.5]})
        >>> RFM().fit(orders).segment_of(7)  # one customer: middle scores everywhere
        'Need attention'
        """
        self._check_fitted()
        try:
            return str(self.table_.at[customer_id, "segment"])
        except KeyError:
            raise CustomerNotFound(customer_id) from None

    def segment_summary(self) -> pd.DataFrame:
        """Size, share and mean recency/frequency/monetary values and scores per segment.

        Rows are the segments present, in the order of :data:`SEGMENTS`
        (best first); ``share`` is the fraction of customers.

        Examples
        --------
        >>> orders = pd.DataFrame({"customer_id": [1, 2], "order_id": [1, 2],
        ...                        "placed_at": pd.to_datetime(["2011-12-01", "2011-01-01"]),
        ...                        "amount": [500.0, 10.0]})
        >>> RFM().fit(orders).segment_summary()["size"].to_dict()
        {'Champions': 1, 'Lost': 1}
        """
        self._check_fitted()
        grouped = self.table_.groupby("segment")
        summary = grouped[["recency_days", "frequency", "monetary", "r_score", "f_score", "m_score"]].mean()
        summary.columns = [f"mean_{c}" for c in summary.columns]
        summary.insert(0, "size", grouped.size().astype("int64"))
        summary.insert(1, "share", summary["size"] / len(self.table_))
        order = [s for s in SEGMENTS if s in summary.index]
        summary = summary.loc[order]
        summary.index.name = "segment"
        return summary


__all__ = ["RFM", "SEGMENTS", "SEGMENT_GRID", "default_reference_date", "rank_scores", "resolve_reference_date"]
