"""Reorder and next-order estimates on tiny hand-made histories whose answers are known."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.forecast.replenishment import NextOrderModel, ReorderModel, order_prior, product_prior

MUG, TEA, VASE = 7, 8, 9


def lines(*rows: tuple[int, int, str, int]) -> pd.DataFrame:
    """(customer, product, when, quantity) rows as an order-lines frame."""
    frame = pd.DataFrame(rows, columns=["customer_id", "product_id", "placed_at", "quantity"])
    frame["placed_at"] = pd.to_datetime(frame["placed_at"], format="ISO8601")
    return frame


def weekly(customer: int, product: int, start: str, times: int) -> list[tuple[int, int, str, int]]:
    days = pd.date_range(start, periods=times, freq="7D")
    return [(customer, product, f"{d:%Y-%m-%d} 10:00", 1) for d in days]


def test_a_weekly_buyer_is_due_seven_days_after_the_last_purchase() -> None:
    history = lines(*weekly(1, MUG, "2011-03-01", 5))
    row = ReorderModel().fit(history).predict(datetime(2011, 3, 31, 12)).loc[(1, MUG)]

    assert row["interval_days"] == pytest.approx(7.0)
    assert row["last_purchase"] == pd.Timestamp("2011-03-29")
    assert row["due"] == pd.Timestamp("2011-04-05")
    assert row["expected"] == pd.Timestamp("2011-04-05")
    assert row["window_start"] <= row["expected"] <= row["window_end"]
    assert not row["overdue"]
    assert row["source"] == "own"
    assert row["basis"] == "from your 5 previous orders of it"


def test_one_purchase_takes_the_population_interval_and_says_so() -> None:
    others = weekly(2, TEA, "2011-01-03", 4) + [(3, TEA, d, 1) for d in ("2011-01-05", "2011-01-19", "2011-02-02")]
    history = lines(*others, (1, TEA, "2011-03-01 09:00", 3))
    row = ReorderModel().fit(history).predict("2011-03-02").loc[(1, TEA)]

    # Customer 2 rebuys every 7 days, customer 3 every 14: the population centre is their median, ~9.9 days.
    assert row["interval_days"] == pytest.approx(np.sqrt(7 * 14), rel=1e-6)
    assert row["source"] == "others"
    assert row["basis"].startswith("from what other customers do (2 customers reorder it about every 10 days)")
    assert row["due"] == pd.Timestamp("2011-03-11")


def test_a_product_nobody_rebought_gets_no_invented_date() -> None:
    history = lines(*weekly(2, TEA, "2011-01-03", 3), (1, VASE, "2011-03-01", 1), (2, VASE, "2011-02-01", 1))
    row = ReorderModel().fit(history).predict("2011-03-02").loc[(1, VASE)]

    assert row["source"] == "none"
    assert "nobody has reordered this product yet" in row["basis"]
    assert pd.isna(row["interval_days"]) and pd.isna(row["due"]) and pd.isna(row["expected"])
    assert not row["overdue"]


def test_a_purchase_well_past_the_usual_gaps_is_overdue_and_expected_from_now_on() -> None:
    history = lines(*weekly(1, MUG, "2011-01-03", 6))  # last purchase 7 February
    now = pd.Timestamp("2011-04-01")
    row = ReorderModel().fit(history).predict(now).loc[(1, MUG)]

    assert row["due"] == pd.Timestamp("2011-02-14")
    assert row["overdue"]
    assert now.normalize() <= row["window_start"] <= row["expected"] <= row["window_end"]


def test_returns_are_not_purchases_and_same_day_orders_are_one_purchase() -> None:
    history = lines(
        *weekly(1, MUG, "2011-03-01", 3),
        (1, MUG, "2011-03-15 18:00", 2),  # a second order on the last purchase day
        (1, MUG, "2011-03-18 10:00", -1),  # a return
        (1, MUG, "2011-03-19 10:00", 0),
    )
    model = ReorderModel().fit(history)
    row = model.predict("2011-03-20").loc[(1, MUG)]

    assert row["purchases"] == 3
    assert row["interval_days"] == pytest.approx(7.0)
    assert row["due"] == pd.Timestamp("2011-03-22")
    assert model.notes_ == ["2 line(s) with a zero or negative quantity ignored (returns are not purchases)."]


def test_one_odd_gap_does_not_move_a_regular_rhythm() -> None:
    days = ["2011-01-03", "2011-01-10", "2011-01-17", "2011-01-24", "2011-04-25", "2011-05-02", "2011-05-09"]
    row = ReorderModel(prior_strength=0).fit(lines(*[(1, MUG, d, 1) for d in days])).predict("2011-05-10").iloc[0]

    assert row["interval_days"] == pytest.approx(7.0)


def test_few_own_intervals_are_pulled_toward_the_population() -> None:
    everyone = weekly(2, TEA, "2011-01-03", 9) + weekly(3, TEA, "2011-01-04", 9)
    mine = [(1, TEA, "2011-02-01", 1), (1, TEA, "2011-03-03", 1)]  # one gap of 30 days
    row = ReorderModel(prior_strength=2).fit(lines(*everyone, *mine)).predict("2011-03-04").loc[(1, TEA)]

    # w = 1 / (1 + 2): log interval = log(30) / 3 + 2 log(7) / 3
    assert row["interval_days"] == pytest.approx(30 ** (1 / 3) * 7 ** (2 / 3))
    assert row["source"] == "own+others"
    assert row["basis"] == "from your 2 previous orders of it and what other customers do"


def test_a_separately_fitted_population_is_used_for_one_customer() -> None:
    everyone = lines(*weekly(2, TEA, "2011-01-03", 9), *weekly(3, TEA, "2011-01-04", 9), (1, TEA, "2011-03-01", 1))
    mine = everyone[everyone["customer_id"] == 1]
    row = ReorderModel().fit(mine, population=product_prior(everyone)).predict("2011-03-02").iloc[0]

    assert row["interval_days"] == pytest.approx(7.0)
    assert row["source"] == "others"


def test_next_order_of_a_weekly_customer() -> None:
    history = lines(*weekly(1, MUG, "2011-03-01", 4), *weekly(1, TEA, "2011-03-01", 4))
    row = NextOrderModel().fit(history).predict("2011-03-23").loc[1]

    assert row["interval_days"] == pytest.approx(7.0)
    assert row["expected"] == pd.Timestamp("2011-03-29")
    # three own intervals weigh less than the population's four (the default prior strength)
    assert row["basis"] == "from your 4 previous orders and what other customers do"
    assert 3.0 < row["expected_orders_30d"] < 5.5
    assert row["expected_orders_90d"] > row["expected_orders_30d"]


def test_next_order_of_a_one_order_customer_comes_from_other_customers() -> None:
    everyone = lines(*weekly(2, MUG, "2011-01-03", 5), *weekly(3, MUG, "2011-01-05", 5), (1, TEA, "2011-03-01", 2))
    row = (
        NextOrderModel()
        .fit(everyone[everyone["customer_id"] == 1], population=order_prior(everyone))
        .predict("2011-03-01")
    )

    assert row.loc[1, "source"] == "others"
    assert row.loc[1, "interval_days"] == pytest.approx(7.0)
    assert row.loc[1, "basis"].startswith("from what other customers do")


def test_predict_for_one_customer_only_and_absent_customers() -> None:
    history = lines(*weekly(1, MUG, "2011-03-01", 3), *weekly(2, MUG, "2011-03-02", 3))
    model = NextOrderModel().fit(history)

    assert model.predict("2011-04-01", customer_id=2).index.tolist() == [2]
    assert model.predict("2011-04-01", customer_id=99).empty


def test_nothing_to_learn_from_is_refused_with_what_to_fix() -> None:
    with pytest.raises(InvalidInput, match="empty"):
        ReorderModel().fit(lines())
    with pytest.raises(InvalidInput, match="every line has a zero or negative quantity"):
        ReorderModel().fit(lines((1, MUG, "2011-03-01", -2)))
    with pytest.raises(InvalidInput, match="lacks column"):
        ReorderModel().fit(pd.DataFrame({"customer_id": [1], "placed_at": ["2011-03-01"]}))
    with pytest.raises(InvalidInput, match="missing values in placed_at"):
        NextOrderModel().fit(pd.DataFrame({"customer_id": [1, 1], "placed_at": [pd.Timestamp("2011-03-01"), None]}))
    with pytest.raises(InvalidInput, match="could not be read"):
        NextOrderModel().fit(pd.DataFrame({"customer_id": [1], "placed_at": ["not a date"]}))
    with pytest.raises(InvalidInput, match="prior_strength"):
        ReorderModel(prior_strength=-1).fit(lines(*weekly(1, MUG, "2011-03-01", 3)))
    with pytest.raises(InvalidInput, match="window"):
        ReorderModel(window=1.5).fit(lines(*weekly(1, MUG, "2011-03-01", 3)))


def test_predicting_before_the_last_purchase_or_before_fit_is_refused() -> None:
    model = ReorderModel().fit(lines(*weekly(1, MUG, "2011-03-01", 3)))
    with pytest.raises(InvalidInput, match="before the last purchase"):
        model.predict("2011-03-02")
    with pytest.raises(NotFittedError):
        ReorderModel().predict("2011-03-02")
