"""Deterministic, plausible shipping states for demo orders.

The Online Retail data has no fulfilment information. So that a customer can
ask "where is my order?" in a live demo, each imported order gets a shipping
history derived only from its number, country and placing time, relative to a
reference time (the moment of the first import):

* dispatch: 12-36 hours after the order is placed;
* carrier: chosen by destination zone (:func:`analytics.forecast.delivery.zone_of`);
* transit: 2-3 days in the UK, 3-5 days in Europe, 5-9 days elsewhere;
* status: ``processing`` before dispatch, ``shipped`` until the delivery
  time, ``delivered`` after it. A tracking number is derived from a hash of
  the order number.

The same order number, country and times always give the same answer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Optional

from analytics.forecast.delivery import ZONES, zone_of
from analytics.store.models import OrderStatus

_TRACKING_PREFIX = {
    "Royal Mail": "RM",
    "DPD UK": "15",
    "Evri": "H0",
    "DHL Express": "JD",
    "DPD": "05",
    "UPS": "1Z",
    "FedEx International": "FX",
    "UPS Worldwide": "1Z",
}


@dataclass(frozen=True)
class Shipment:
    status: OrderStatus
    carrier: str
    tracking_number: str
    shipped_at: Optional[datetime]
    estimated_delivery: date
    delivered_at: Optional[datetime]


def _digest(number: str) -> int:
    return int.from_bytes(hashlib.sha256(number.encode()).digest()[:8], "big")


def plan_shipment(number: str, country: Optional[str], placed_at: datetime, now: datetime) -> Shipment:
    """The shipping state of order ``number`` as seen at ``now``."""
    h = _digest(number)
    carriers, low, high = ZONES[zone_of(country)]
    carrier = carriers[h % len(carriers)]
    dispatch_after = timedelta(hours=12 + (h >> 8) % 25)
    transit = timedelta(days=low + (h >> 16) % (high - low + 1), hours=(h >> 24) % 8)
    ship_time = placed_at + dispatch_after
    arrival = ship_time + transit
    tracking = f"{_TRACKING_PREFIX[carrier]}{(h >> 4) % 10**10:010d}GB"
    if now < ship_time:
        return Shipment(OrderStatus.PROCESSING, carrier, tracking, None, arrival.date(), None)
    if now < arrival:
        return Shipment(OrderStatus.SHIPPED, carrier, tracking, ship_time, arrival.date(), None)
    return Shipment(OrderStatus.DELIVERED, carrier, tracking, ship_time, arrival.date(), arrival)
