"""RFM scores and segments on hand-made orders whose answer is obvious."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.core.errors import CustomerNotFound, InvalidInput, NotFittedError
from analytics.customers.rfm import RFM, SEGMENT_GRID, SEGMENTS, rank_scores

TODAY = pd.Timestamp("2011-12-10")


def orders_frame(rows: list[tuple[int, int, float]]) -> pd.DataFrame:
    """(customer, days before TODAY, amount) per order."""
    return pd.DataFrame(
        {
            "customer_id": [c for c, _, _ in rows],
            "order_id": range(1, len(rows) + 1),
            "placed_at": [TODAY - pd.Timedelta(days=d) for _, d, _ in rows],
            "amount": [a for _, _, a in rows],
        }
    )


def population() -> pd.DataFrame:
    """Customer 1 bought yesterday, many times, a lot; 2 once long ago for little; 3..12 in between."""
    rows = [(1, d, 400.0) for d in (1, 3, 8, 15, 30, 45, 60, 90)]
    rows += [(2, 360, 5.0)]
    for c in range(3, 13):
        rows += [(c, 10 * c + k * 7, 20.0 * c) for k in range(c % 4 + 1)]
    return orders_frame(rows)


def test_a_frequent_recent_big_spender_is_a_champion_and_a_one_off_long_ago_is_lost() -> None:
    rfm = RFM().fit(population())
    champion = rfm.table_.loc[1]
    assert (champion["r_score"], champion["f_score"], champion["m_score"]) == (5, 5, 5)
    assert rfm.segment_of(1) == "Champions"
    assert rfm.segment_of(2) == "Lost"
    assert rfm.table_.loc[2, "rfm_code"] == "111"


def test_values_are_recency_in_days_orders_and_total_spend() -> None:
    rfm = RFM().fit(population())
    assert rfm.reference_date_ == TODAY  # the day after the newest order (yesterday)
    assert rfm.table_.loc[1, ["recency_days", "frequency", "monetary"]].tolist() == [1, 8, 3200.0]
    assert rfm.table_.loc[2, ["recency_days", "frequency", "monetary"]].tolist() == [360, 1, 5.0]


def test_an_explicit_reference_date_moves_recency() -> None:
    rfm = RFM(reference_date=TODAY + pd.Timedelta(days=30)).fit(population())
    assert rfm.table_.loc[1, "recency_days"] == 31


def test_five_distinct_customers_get_scores_one_to_five() -> None:
    rows = [(c, 50 - 10 * c, 100.0 * c) for c in range(1, 6)]
    table = RFM().fit(orders_frame(rows)).table_
    assert table["r_score"].tolist() == [1, 2, 3, 4, 5]
    assert table["m_score"].tolist() == [1, 2, 3, 4, 5]


def test_tied_customers_share_a_score_and_a_lone_customer_gets_the_middle() -> None:
    rows = [(c, 5 * c, 10.0) for c in range(1, 8)] + [(8, 2, 10.0), (8, 3, 10.0)]
    table = RFM().fit(orders_frame(rows)).table_
    assert table.loc[1:7, "f_score"].nunique() == 1
    assert table.loc[1:7, "m_score"].nunique() == 1
    assert table.loc[8, "f_score"] == 5

    alone = RFM().fit(orders_frame([(9, 4, 80.0)]))
    assert alone.table_.loc[9, ["r_score", "f_score", "m_score"]].tolist() == [3, 3, 3]
    assert alone.segment_of(9) == "Need attention"


def test_rank_scores_follow_quantiles_on_many_customers() -> None:
    scores = rank_scores(pd.Series(np.arange(1000.0)), 5)
    assert scores.value_counts().sort_index().tolist() == [200, 200, 200, 200, 200]
    assert rank_scores(pd.Series([3.0, 1.0]), 5, higher_is_better=False).tolist() == [1, 5]


def test_the_grid_names_every_documented_segment() -> None:
    assert len(SEGMENT_GRID) == 5 and all(len(row) == 5 for row in SEGMENT_GRID)
    assert {name for row in SEGMENT_GRID for name in row} == set(SEGMENTS)
    assert {
        "Champions",
        "Loyal",
        "Potential loyalist",
        "New",
        "Promising",
        "Need attention",
        "About to sleep",
        "At risk",
        "Can't lose",
        "Hibernating",
        "Lost",
    } <= set(SEGMENTS)


def test_a_big_customer_who_stopped_buying_is_cant_lose_and_a_fresh_one_off_is_new() -> None:
    rows = [(1, 300, 900.0), (1, 320, 900.0), (1, 340, 900.0), (1, 350, 900.0)]  # big and frequent, long ago
    rows += [(2, 1, 15.0)]  # one small order yesterday
    rows += [(c, 20 + 10 * c + 5 * k, 50.0) for c in range(3, 12) for k in range(c % 3 + 1)]
    rfm = RFM().fit(orders_frame(rows))
    assert rfm.segment_of(1) == "Can't lose"
    assert rfm.segment_of(2) == "New"


def test_other_bin_counts_score_on_their_scale_and_keep_segments() -> None:
    rfm3 = RFM(n_bins=3).fit(population())
    assert set(rfm3.table_["r_score"]) == {1, 2, 3}
    assert rfm3.segment_of(1) == "Champions"
    assert (rfm3.table_["segment"] == RFM().fit(population()).table_["segment"]).all()


def test_segment_summary_sizes_shares_and_means() -> None:
    rfm = RFM().fit(population())
    summary = rfm.segment_summary()
    assert summary["size"].sum() == 12
    assert summary["share"].sum() == pytest.approx(1.0)
    assert list(summary.index) == [s for s in SEGMENTS if s in summary.index]
    champions = rfm.table_[rfm.table_["segment"] == "Champions"]
    assert summary.loc["Champions", "size"] == len(champions)
    assert summary.loc["Champions", "mean_monetary"] == pytest.approx(champions["monetary"].mean())
    assert {"mean_recency_days", "mean_frequency", "mean_r_score", "mean_f_score", "mean_m_score"} <= set(summary)


def test_unknown_customer_and_unfitted_use_are_clear_errors() -> None:
    with pytest.raises(NotFittedError, match="call fit"):
        RFM().segment_of(1)
    with pytest.raises(NotFittedError):
        RFM().segment_summary()
    with pytest.raises(CustomerNotFound, match="999"):
        RFM().fit(population()).segment_of(999)


@pytest.mark.parametrize(
    ("orders", "message"),
    [
        (orders_frame([]), "empty"),
        (orders_frame([(1, 3, 10.0)]).drop(columns="amount"), "lacks column"),
        (orders_frame([(1, 3, 10.0), (2, 4, float("nan"))]), "missing values in amount"),
        (orders_frame([(1, 3, 10.0), (2, 4, -5.0)]), "negative"),
        (orders_frame([(1, 3, 10.0), (2, 4, 0.0)]), "zero"),
        ("not a frame", "DataFrame"),
    ],
)
def test_bad_orders_say_what_to_fix(orders: pd.DataFrame, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        RFM().fit(orders)


def test_orders_after_the_reference_date_are_future_dated() -> None:
    with pytest.raises(InvalidInput, match=r"1 order\(s\) are placed after the reference date"):
        RFM(reference_date=TODAY - pd.Timedelta(days=2)).fit(population())


@pytest.mark.parametrize(
    ("params", "message"),
    [({"n_bins": 1}, "n_bins"), ({"n_bins": 2.5}, "n_bins"), ({"reference_date": "soon"}, "date")],
)
def test_bad_parameters_fail_in_fit(params: dict[str, object], message: str) -> None:
    rfm = RFM(**params)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=message):
        rfm.fit(population())
