"""When will an order arrive? Delivery windows from historical lead times.

:class:`LeadTimeModel` learns, from orders that were delivered, how long the
two legs took: placed -> dispatched (``shipped_at``) and dispatched ->
delivered, per carrier and destination zone (UK, Europe, rest of the world;
:func:`zone_of`). For an open order it predicts a
window of arrival times:

- **processing** (not dispatched), ``e`` hours after it was placed: the
  total lead times of past orders whose dispatch took longer than ``e``,
  minus ``e``;
- **shipped**, ``e`` hours after dispatch: the transit times of past orders
  whose transit took longer than ``e``, minus ``e``.

Conditioning on the time already elapsed keeps the window in the future and
narrows it as the order progresses. The window is the 10th to 90th percentile
of that remaining time and the most likely arrival its median
(``quantiles=(0.1, 0.5, 0.9)``): an 80% window is honest without being so
wide that it says nothing, and the median is what a customer means by
"when".

Which history
-------------
The carrier's orders to the zone when there are at least ``min_history`` of
them; else every carrier's orders to the zone; else the shop's published
rule for the zone (dispatch within 12-36 hours, 2-3 / 3-5 / 5-9 days in
transit, :data:`ZONES`), spread evenly over its
range. ``basis`` says which ("from 1,204 Royal Mail deliveries to the UK").

Late orders
-----------
When fewer than ``min_history // 6`` (at least 5) past orders took longer than
the time already elapsed, history no longer says when it will arrive. The
estimate is then flagged ``late``: a processing order is assumed to be
dispatched now (window = the usual transit times from now), a shipped order
to be due from now on, within the usual spread of transit times.

Bad input
---------
A frame without the needed columns, or with an order missing ``placed_at``,
raises :class:`~analytics.core.errors.InvalidInput`. Rows that are not a usable
delivery (no dispatch or delivery time yet, dispatch before placing, delivery
before dispatch) are left out of the history and counted in ``notes_``; a
history with none left falls back to the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator

from analytics.core.errors import InvalidInput, NotFittedError

#: The shop's delivery zones: the countries each covers is :func:`zone_of`'s rule.
EUROPE = frozenset(
    {
        "Austria",
        "Belgium",
        "Channel Islands",
        "Cyprus",
        "Czech Republic",
        "Denmark",
        "EIRE",
        "European Community",
        "Finland",
        "France",
        "Germany",
        "Greece",
        "Iceland",
        "Italy",
        "Lithuania",
        "Malta",
        "Netherlands",
        "Norway",
        "Poland",
        "Portugal",
        "Spain",
        "Sweden",
        "Switzerland",
    }
)

#: zone -> (carriers, minimum transit days, maximum transit days)
ZONES: dict[str, tuple[tuple[str, ...], int, int]] = {
    "uk": (("Royal Mail", "DPD UK", "Evri"), 2, 3),
    "europe": (("DHL Express", "DPD", "UPS"), 3, 5),
    "world": (("FedEx International", "DHL Express", "UPS Worldwide"), 5, 9),
}


def zone_of(country: Optional[str]) -> str:
    """The delivery zone of a destination country: ``uk``, ``europe`` or ``world`` (unknown countries too)."""
    if country == "United Kingdom":
        return "uk"
    if country in EUROPE:
        return "europe"
    return "world"


FloatArray = NDArray[np.float64]

HISTORY_COLUMNS = ("carrier", "country", "placed_at", "shipped_at", "delivered_at")

ZONE_NAMES = {"uk": "the UK", "europe": "Europe", "world": "the rest of the world"}

#: The shop's dispatch promise, in hours after the order is placed (see analytics.ingest.shipping).
RULE_DISPATCH_HOURS = (12, 36)


@dataclass(frozen=True)
class LeadTimeEstimate:
    """When an open order should arrive.

    ``earliest``, ``most_likely`` and ``latest`` are times (naive UTC), from
    the model's lower, middle and upper quantile. ``late`` is set when the
    order is already slower than almost every order like it.
    """

    earliest: datetime
    most_likely: datetime
    latest: datetime
    late: bool
    zone: str
    basis: str
    history: int


def _check_history(orders: object) -> pd.DataFrame:
    if not isinstance(orders, pd.DataFrame):
        raise InvalidInput(f"orders must be a pandas DataFrame with columns {', '.join(HISTORY_COLUMNS)}.")
    missing = [c for c in HISTORY_COLUMNS if c not in orders.columns]
    if missing:
        raise InvalidInput(f"orders frame lacks column(s) {', '.join(missing)}; it needs {', '.join(HISTORY_COLUMNS)}.")
    if orders["placed_at"].isna().any():
        raise InvalidInput(f"{int(orders['placed_at'].isna().sum())} order(s) have no placed_at; drop or fix them.")
    frame = orders.loc[:, list(HISTORY_COLUMNS)].copy()
    try:
        for column in ("placed_at", "shipped_at", "delivered_at"):
            frame[column] = pd.to_datetime(frame[column])
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"orders frame has times that cannot be read ({exc}); pass datetimes.") from exc
    return frame


def _rule_samples(zone: str) -> tuple[FloatArray, FloatArray]:
    """Dispatch and transit hours spread evenly over the zone's published range (one grid point each)."""
    _, low, high = ZONES[zone]
    dispatch = np.arange(RULE_DISPATCH_HOURS[0], RULE_DISPATCH_HOURS[1] + 1, dtype=np.float64)
    transit = np.arange(low * 24, (high + 1) * 24, 1, dtype=np.float64)
    d, t = np.meshgrid(dispatch, transit)
    return d.ravel(), t.ravel()


class LeadTimeModel(BaseEstimator):
    """Arrival windows for open orders from the lead times of delivered ones.

    Parameters
    ----------
    quantiles : tuple of float, default (0.1, 0.5, 0.9)
        Lower bound, most likely and upper bound of the window, as quantiles
        of the remaining time.
    min_history : int, default 30
        Deliveries a carrier (then a zone) needs before its own history is
        used instead of the broader one (then the rule).

    Attributes
    ----------
    groups_ : dict
        ``(carrier, zone)`` and ``(None, zone)`` -> (dispatch hours, transit hours) arrays.
    counts_ : dict
        Deliveries behind each group.
    notes_ : list of str
        Rows left out of the history and why.

    Examples
    --------
    >>> history = pd.DataFrame({"carrier": ["Royal Mail"] * 40, "country": ["United Kingdom"] * 40,
    ...     "placed_at": pd.Timestamp("2011-01-03 09:00"), "shipped_at": pd.Timestamp("2011-01-04 09:00"),
    ...     "delivered_at": pd.Timestamp("2011-01-06 09:00") + pd.to_timedelta(np.arange(40), unit="h")})
    >>> model = LeadTimeModel().fit(history)
    >>> est = model.estimate("shipped", "Royal Mail", "United Kingdom", datetime(2011, 3, 1, 9),
    ...                      shipped_at=datetime(2011, 3, 2, 9), now=datetime(2011, 3, 2, 10))
    >>> est.most_likely, est.basis
    (datetime.datetime(2011, 3, 5, 4, 30), 'from 40 Royal Mail deliveries to the UK')
    """

    def __init__(self, quantiles: tuple[float, float, float] = (0.1, 0.5, 0.9), min_history: int = 30) -> None:
        self.quantiles = quantiles
        self.min_history = min_history

    def _check_params(self) -> tuple[FloatArray, int]:
        q = np.asarray(self.quantiles, dtype=np.float64)
        if q.shape != (3,) or not (0 <= q[0] <= q[1] <= q[2] <= 1):
            raise InvalidInput(
                "quantiles must be three increasing shares between 0 and 1 (low, most likely, high); "
                f"got {self.quantiles!r}."
            )
        if not isinstance(self.min_history, int) or self.min_history < 1:
            raise InvalidInput(f"min_history must be a positive whole number; got {self.min_history!r}.")
        return q, self.min_history

    def fit(self, orders: pd.DataFrame) -> LeadTimeModel:
        """Learn lead times from ``orders`` (columns :data:`HISTORY_COLUMNS`); undelivered rows are skipped.

        Returns
        -------
        self
        """
        self._check_params()
        frame = _check_history(orders)
        notes: list[str] = []
        done = frame.dropna(subset=["carrier", "shipped_at", "delivered_at"])
        dispatch = (done["shipped_at"] - done["placed_at"]).dt.total_seconds().to_numpy() / 3600
        transit = (done["delivered_at"] - done["shipped_at"]).dt.total_seconds().to_numpy() / 3600
        bad = (dispatch < 0) | (transit < 0)
        if bad.any():
            notes.append(
                f"{int(bad.sum())} delivered order(s) left out: dispatched before being placed or delivered "
                "before being dispatched."
            )
        done = done[~bad]
        dispatch, transit = dispatch[~bad], transit[~bad]
        zones = np.array([zone_of(c) for c in done["country"]], dtype=object)
        carriers = done["carrier"].to_numpy(dtype=object)
        self.groups_: dict[tuple[Optional[str], str], tuple[FloatArray, FloatArray]] = {}
        for zone in ZONES:
            in_zone = zones == zone
            self.groups_[(None, zone)] = (dispatch[in_zone], transit[in_zone])
            for carrier in pd.unique(carriers[in_zone]):
                mine = in_zone & (carriers == carrier)
                self.groups_[(str(carrier), zone)] = (dispatch[mine], transit[mine])
        self.counts_ = {key: len(d) for key, (d, _) in self.groups_.items()}
        if len(done) == 0:
            notes.append("no delivered order to learn from; every estimate uses the delivery rules.")
        self.notes_ = notes
        return self

    def _samples(self, carrier: Optional[str], zone: str) -> tuple[FloatArray, FloatArray, str, int]:
        minimum = self.min_history
        for key, label in (((carrier, zone), carrier), ((None, zone), None)):
            if key in self.groups_ and len(self.groups_[key][0]) >= minimum:
                d, t = self.groups_[key]
                who = f"{label} deliveries" if label else "deliveries"
                return d, t, f"from {len(d):,} {who} to {ZONE_NAMES[zone]}", len(d)
        d, t = _rule_samples(zone)
        _, low, high = ZONES[zone]
        basis = (
            f"from our delivery times to {ZONE_NAMES[zone]} (dispatch within {RULE_DISPATCH_HOURS[0]}-"
            f"{RULE_DISPATCH_HOURS[1]} hours, {low}-{high} days in transit)"
        )
        return d, t, basis, 0

    def estimate(
        self,
        status: str,
        carrier: Optional[str],
        country: Optional[str],
        placed_at: datetime,
        *,
        shipped_at: Optional[datetime] = None,
        now: datetime,
    ) -> LeadTimeEstimate:
        """The arrival window of one open order.

        Parameters
        ----------
        status : {"processing", "shipped"}
            A shipped order without ``shipped_at`` is treated as processing.
        carrier, country : str or None
            As stored on the order.
        placed_at, shipped_at : datetime
            When it was placed and dispatched (naive UTC).
        now : datetime
            The time to estimate from.

        Raises
        ------
        InvalidInput
            Another status (delivered and cancelled orders have no estimate),
            or ``now`` before the order was placed or dispatched.
        """
        if not hasattr(self, "groups_"):
            raise NotFittedError(self)
        q, _ = self._check_params()
        if status not in ("processing", "shipped"):
            raise InvalidInput(f"only processing and shipped orders have a delivery estimate; this one is {status}.")
        zone = zone_of(country)
        dispatch, transit, basis, history = self._samples(carrier, zone)
        if status == "shipped" and shipped_at is not None:
            leg, elapsed = "dispatched", (now - shipped_at).total_seconds() / 3600
            still = transit > elapsed
            remaining = transit[still] - elapsed
            # Later than (nearly) every past transit: due from now on, within the usual spread.
            if_late = transit - np.quantile(transit, q[0])
        else:
            leg, elapsed = "placed", (now - placed_at).total_seconds() / 3600
            still = dispatch > elapsed
            remaining = dispatch[still] + transit[still] - elapsed
            # Not dispatched although (nearly) every past order was by now: assume it leaves now.
            if_late = transit
        if elapsed < 0:
            raise InvalidInput(f"now ({now}) is before the order was {leg}; estimate from a later time.")
        late = len(remaining) < max(5, self.min_history // 6)
        if late:
            remaining = if_late
        low, mid, high = np.quantile(np.maximum(remaining, 0.0), q)
        return LeadTimeEstimate(
            earliest=now + timedelta(hours=float(low)),
            most_likely=now + timedelta(hours=float(mid)),
            latest=now + timedelta(hours=float(high)),
            late=late,
            zone=zone,
            basis=basis,
            history=history,
        )

    def predict(self, orders: pd.DataFrame, now: datetime) -> pd.DataFrame:
        """:meth:`estimate` for each open order of a frame.

        Parameters
        ----------
        orders : pandas.DataFrame
            Columns ``status``, ``carrier``, ``country``, ``placed_at``,
            ``shipped_at``; one row per processing or shipped order.
        now : datetime
            The time to estimate from.

        Returns
        -------
        pandas.DataFrame
            Indexed like ``orders``: ``earliest``, ``most_likely``, ``latest``,
            ``late``, ``zone``, ``basis``, ``history``.
        """
        needed = ("status", "carrier", "country", "placed_at", "shipped_at")
        if not isinstance(orders, pd.DataFrame) or any(c not in orders.columns for c in needed):
            raise InvalidInput(f"orders must be a DataFrame with columns {', '.join(needed)}.")
        rows = [
            self.estimate(
                str(status),
                None if pd.isna(carrier) else str(carrier),
                None if pd.isna(country) else str(country),
                pd.Timestamp(placed).to_pydatetime(),
                shipped_at=None if pd.isna(shipped) else pd.Timestamp(shipped).to_pydatetime(),
                now=now,
            ).__dict__
            for status, carrier, country, placed, shipped in orders.loc[:, list(needed)].itertuples(index=False)
        ]
        return pd.DataFrame(rows, index=orders.index, columns=list(LeadTimeEstimate.__dataclass_fields__))
