"""Delivery windows from historical lead times, on hand-made histories with known answers."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.forecast.delivery import LeadTimeModel

PLACED = datetime(2011, 3, 1, 9, 0)


def history(n: int, *, carrier: str = "Royal Mail", country: str = "United Kingdom") -> pd.DataFrame:
    """``n`` delivered orders: dispatch after 12..35 h, then 48..71 h in transit (evenly spread)."""
    dispatch = pd.to_timedelta(12 + np.arange(n) % 24, unit="h")
    transit = pd.to_timedelta(48 + (np.arange(n) * 7) % 24, unit="h")
    placed = pd.Timestamp("2011-01-03 09:00") + pd.to_timedelta(np.arange(n), unit="D")
    return pd.DataFrame(
        {
            "carrier": carrier,
            "country": country,
            "placed_at": placed,
            "shipped_at": placed + dispatch,
            "delivered_at": placed + dispatch + transit,
        }
    )


def test_a_shipped_order_is_expected_within_the_usual_transit_times() -> None:
    model = LeadTimeModel().fit(history(240))
    shipped = PLACED + timedelta(hours=20)
    est = model.estimate("shipped", "Royal Mail", "United Kingdom", PLACED, shipped_at=shipped, now=shipped)

    # Transit takes 48..71 hours: the 10th-90th percentile window is about 50..69 hours after dispatch.
    assert shipped + timedelta(hours=49) <= est.earliest <= shipped + timedelta(hours=52)
    assert shipped + timedelta(hours=58) <= est.most_likely <= shipped + timedelta(hours=61)
    assert shipped + timedelta(hours=67) <= est.latest <= shipped + timedelta(hours=71)
    assert not est.late
    assert est.basis == "from 240 Royal Mail deliveries to the UK"


def test_the_window_narrows_and_moves_forward_as_time_passes() -> None:
    model = LeadTimeModel().fit(history(240))
    shipped = PLACED + timedelta(hours=20)
    early = model.estimate("shipped", "Royal Mail", "United Kingdom", PLACED, shipped_at=shipped, now=shipped)
    later_now = shipped + timedelta(hours=60)
    later = model.estimate("shipped", "Royal Mail", "United Kingdom", PLACED, shipped_at=shipped, now=later_now)

    assert later.earliest >= later_now
    assert later.latest <= shipped + timedelta(hours=71)  # never past the slowest transit seen
    assert later.latest - later.earliest < early.latest - early.earliest


def test_a_processing_order_adds_dispatch_and_transit() -> None:
    model = LeadTimeModel().fit(history(240))
    est = model.estimate("processing", "Royal Mail", "United Kingdom", PLACED, now=PLACED)

    # 12..35 h to dispatch plus 48..71 h in transit.
    assert PLACED + timedelta(hours=60) <= est.earliest
    assert est.latest <= PLACED + timedelta(hours=106)
    assert est.earliest < est.most_likely < est.latest


def test_thin_history_falls_back_to_the_zone_then_to_the_rule() -> None:
    frames = pd.concat([history(40, carrier="DPD UK"), history(5, carrier="Evri"), history(3, country="France")])
    model = LeadTimeModel(min_history=30).fit(frames)
    uk = model.estimate("processing", "Evri", "United Kingdom", PLACED, now=PLACED)
    europe = model.estimate("processing", "DPD", "France", PLACED, now=PLACED)

    assert uk.basis == "from 45 deliveries to the UK"
    assert europe.basis.startswith(
        "from our delivery times to Europe (dispatch within 12-36 hours, 3-5 days in transit)"
    )
    assert europe.history == 0
    # Europe's rule: 12-36 h to dispatch, then 3 to 6 days (5 days and up to 23 hours) in transit.
    assert PLACED + timedelta(days=3) < europe.earliest < europe.latest < PLACED + timedelta(days=7, hours=12)


def test_an_order_slower_than_every_past_one_is_late_and_still_gets_a_future_window() -> None:
    model = LeadTimeModel().fit(history(240))
    shipped = PLACED + timedelta(hours=20)
    now = shipped + timedelta(days=10)
    est = model.estimate("shipped", "Royal Mail", "United Kingdom", PLACED, shipped_at=shipped, now=now)

    assert est.late
    assert now <= est.earliest <= est.most_likely <= est.latest <= now + timedelta(hours=24)


def test_impossible_rows_are_left_out_of_the_history() -> None:
    frame = history(40)
    frame.loc[0, "delivered_at"] = frame.loc[0, "shipped_at"] - pd.Timedelta(hours=1)
    frame.loc[1, "shipped_at"] = frame.loc[1, "placed_at"] - pd.Timedelta(hours=1)
    frame.loc[2, ["shipped_at", "delivered_at"]] = pd.NaT  # not delivered yet: not history
    model = LeadTimeModel().fit(frame)

    assert model.counts_[("Royal Mail", "uk")] == 37
    assert model.notes_ == [
        "2 delivered order(s) left out: dispatched before being placed or delivered before being dispatched."
    ]


def test_no_history_at_all_uses_the_rules() -> None:
    model = LeadTimeModel().fit(history(0))
    est = model.estimate("processing", None, "Japan", PLACED, now=PLACED)

    assert est.zone == "world"
    assert est.basis.startswith("from our delivery times to the rest of the world")
    assert model.notes_ == ["no delivered order to learn from; every estimate uses the delivery rules."]


def test_predict_gives_one_window_per_open_order() -> None:
    model = LeadTimeModel().fit(history(240))
    open_orders = pd.DataFrame(
        {
            "status": ["processing", "shipped"],
            "carrier": ["Royal Mail", "Royal Mail"],
            "country": ["United Kingdom", "United Kingdom"],
            "placed_at": [PLACED, PLACED],
            "shipped_at": [pd.NaT, PLACED + timedelta(hours=20)],
        }
    )
    windows = model.predict(open_orders, now=PLACED + timedelta(hours=21))

    assert list(windows.columns) == ["earliest", "most_likely", "latest", "late", "zone", "basis", "history"]
    assert (windows["earliest"] <= windows["latest"]).all()
    assert windows.loc[1, "latest"] < windows.loc[0, "latest"] + timedelta(hours=1)


def test_bad_calls_are_refused_with_what_to_fix() -> None:
    model = LeadTimeModel().fit(history(40))
    with pytest.raises(InvalidInput, match="only processing and shipped orders"):
        model.estimate("delivered", "Royal Mail", "United Kingdom", PLACED, now=PLACED)
    with pytest.raises(InvalidInput, match="before the order was placed"):
        model.estimate("processing", "Royal Mail", "United Kingdom", PLACED, now=PLACED - timedelta(hours=1))
    with pytest.raises(InvalidInput, match="lacks column"):
        LeadTimeModel().fit(pd.DataFrame({"carrier": ["Royal Mail"]}))
    with pytest.raises(InvalidInput, match="no placed_at"):
        LeadTimeModel().fit(history(2).assign(placed_at=pd.NaT))
    with pytest.raises(InvalidInput, match="quantiles"):
        LeadTimeModel(quantiles=(0.9, 0.5, 0.1)).fit(history(40))
    with pytest.raises(NotFittedError):
        LeadTimeModel().estimate("processing", "Royal Mail", "United Kingdom", PLACED, now=PLACED)
