"""Customer segmentation on hand-made customers whose groups are obvious."""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import numpy as np
import pandas as pd
import pytest

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.customers.segment import METHODS, CustomerSegmenter, compare_methods, customer_features

TODAY = pd.Timestamp("2011-12-10")
COLUMNS = ["customer_id", "order_id", "placed_at", "amount"]
Change = Callable[[pd.DataFrame, pd.DataFrame], tuple[pd.DataFrame, Optional[pd.DataFrame]]]
LINE_COLUMNS = ["customer_id", "order_id", "placed_at", "product_id", "category", "quantity", "amount"]


def two_groups(n_per_group: int = 15, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customers 1..n: recent, frequent big spenders on kitchenware; n+1..2n: one small garden order long ago."""
    rng = np.random.default_rng(seed)
    orders, lines = [], []
    order_id = 0
    for c in range(1, n_per_group + 1):
        start = rng.uniform(1, 5)
        for k in range(7):
            order_id += 1
            when = TODAY - pd.Timedelta(days=start + 9 * k + rng.uniform(0, 3))
            amount = rng.uniform(380, 520)
            orders.append((c, order_id, when, amount))
            lines.append((c, order_id, when, 1, "Kitchen & Dining", 2, amount * 0.7))
            lines.append((c, order_id, when, 2, "Home Decor", 1, amount * 0.3))
    for c in range(n_per_group + 1, 2 * n_per_group + 1):
        order_id += 1
        when = TODAY - pd.Timedelta(days=rng.uniform(300, 390))
        amount = rng.uniform(10, 16)
        orders.append((c, order_id, when, amount))
        lines.append((c, order_id, when, 3, "Garden & Outdoor", 1, amount))
    return pd.DataFrame(orders, columns=COLUMNS), pd.DataFrame(lines, columns=LINE_COLUMNS)


def assert_splits_the_two_groups(labels: pd.Series, n_per_group: int = 15) -> None:
    truth = labels.index.map(lambda customer: 0 if customer <= n_per_group else 1)
    assert pd.crosstab(labels, truth).gt(0).sum(axis=1).eq(1).all(), "a cluster mixes the two groups"
    assert labels.nunique() == 2


def test_kmeans_finds_the_two_obvious_groups_with_a_high_silhouette() -> None:
    orders, _ = two_groups()
    seg = CustomerSegmenter("kmeans", k_range=(2, 6)).fit(orders)
    assert seg.n_clusters_ == 2
    assert seg.k_scores_.idxmax() == 2
    assert seg.metrics_["silhouette"] > 0.7
    assert_splits_the_two_groups(seg.labels_)
    assert sorted(seg.profiles_["label"]) == ["lapsed one-timers", "recent big spenders"]


def test_agglomerative_finds_them_too() -> None:
    orders, lines = two_groups()
    seg = CustomerSegmenter("agglomerative", k_range=(2, 5)).fit(orders, lines)
    assert seg.metrics_["n_clusters"] == 2
    assert_splits_the_two_groups(seg.labels_)


@pytest.mark.parametrize("seed", range(4))
def test_dbscan_finds_them_with_little_noise(seed: int) -> None:
    orders, lines = two_groups(seed=seed)
    seg = CustomerSegmenter("dbscan").fit(orders, lines)
    assert seg.metrics_["n_clusters"] == 2
    assert seg.metrics_["noise_share"] <= 0.1
    assert_splits_the_two_groups(seg.labels_[seg.labels_ != -1])
    if seg.metrics_["noise_share"] > 0:
        assert seg.profiles_.loc[-1, "label"] == "unusual customers (noise)"


def test_profiles_describe_each_cluster() -> None:
    orders, lines = two_groups()
    seg = CustomerSegmenter(k_range=(2, 4)).fit(orders, lines)
    profiles = seg.profiles_.set_index("label")
    big = profiles.loc["recent big spenders"]
    assert big["size"] == 15 and big["share"] == pytest.approx(0.5)
    assert big["top_categories"] == ["Kitchen & Dining", "Home Decor"]
    assert big["mean_recency_days"] < 10 < big["mean_frequency"] * 2
    assert profiles.loc["lapsed one-timers", "top_categories"] == ["Garden & Outdoor"]
    assert profiles.loc["lapsed one-timers", "mean_frequency"] == 1.0
    assert set(seg.metrics_) == {
        "n_clusters",
        "silhouette",
        "davies_bouldin",
        "mean_intra_distance",
        "mean_inter_centroid_distance",
        "noise_share",
    }
    assert seg.metrics_["mean_inter_centroid_distance"] > seg.metrics_["mean_intra_distance"]


def test_features_have_the_documented_values() -> None:
    orders = pd.DataFrame(
        [
            (1, 1, TODAY - pd.Timedelta(days=21), 10.0),
            (1, 2, TODAY - pd.Timedelta(days=1), 30.0),
            (2, 3, TODAY - pd.Timedelta(days=40), 50.0),
        ],
        columns=COLUMNS,
    )
    lines = pd.DataFrame(
        [
            (1, 1, TODAY, 1, "Bags", 1, 10.0),
            (1, 2, TODAY, 2, "Toys & Games", 1, 30.0),
            (2, 3, TODAY, 1, "Bags", 5, 50.0),
        ],
        columns=LINE_COLUMNS,
    )
    features = customer_features(orders, lines)
    one = features.loc[1]
    assert one[["recency_days", "frequency", "monetary", "avg_basket", "tenure_days", "mean_gap_days"]].tolist() == [
        1,
        2,
        40.0,
        20.0,
        21,
        20.0,
    ]
    assert one["n_categories"] == 2
    assert one["share_Toys & Games"] == pytest.approx(0.75)
    assert features.loc[2, "mean_gap_days"] == features.loc[2, "tenure_days"] == 40  # a one-timer: gap >= tenure
    assert list(features.columns[-2:]) == ["share_Bags", "share_Toys & Games"]  # biggest spend first


def test_predict_puts_new_customers_with_their_look_alikes() -> None:
    orders, _ = two_groups()
    for method in METHODS:
        seg = CustomerSegmenter(method, k_range=(2, 4)).fit(orders)
        assert (seg.predict(seg.features_) == seg.labels_).all(), method
        new = pd.DataFrame(
            [(100, 1, TODAY - pd.Timedelta(days=310), 13.0)]
            + [(101, 2 + k, TODAY - pd.Timedelta(days=3 + 9 * k), 450.0) for k in range(7)],
            columns=COLUMNS,
        )
        predicted = seg.predict(new)
        assert predicted.loc[100] == seg.labels_.loc[16:].mode()[0], method
        assert predicted.loc[101] == seg.labels_.loc[:15].mode()[0], method


def test_predict_with_lines_needs_lines_and_known_feature_columns() -> None:
    orders, lines = two_groups()
    seg = CustomerSegmenter(k_range=(2, 3)).fit(orders, lines)
    with pytest.raises(InvalidInput, match="pass lines= as well"):
        seg.predict(orders)
    assert (seg.predict(orders, lines) == seg.labels_).all()
    with pytest.raises(InvalidInput, match="lacks column"):
        seg.predict(seg.features_.drop(columns="monetary"))
    broken = seg.features_.copy()
    broken.iloc[0, 0] = np.nan
    with pytest.raises(InvalidInput, match="missing or infinite values in recency_days"):
        seg.predict(broken)


def test_large_customer_counts_take_the_sampled_paths() -> None:
    orders, lines = two_groups(n_per_group=20)
    for method in METHODS:
        seg = CustomerSegmenter(method, k_range=(2, 3), large_n=20, sample_size=25).fit(orders, lines)
        assert len(seg.labels_) == 40, method
        assert_splits_the_two_groups(seg.labels_[seg.labels_ != -1], n_per_group=20)


def test_compare_methods_tabulates_the_three_methods() -> None:
    orders, lines = two_groups()
    table = compare_methods(orders, lines, k_range=(2, 4))
    assert list(table.index) == list(METHODS)
    assert list(table.columns) == [
        "n_clusters",
        "silhouette",
        "davies_bouldin",
        "mean_intra_distance",
        "mean_inter_centroid_distance",
        "noise_share",
        "fit_seconds",
    ]
    assert (table["silhouette"] > 0.5).all()


def test_predict_before_fit_is_not_fitted() -> None:
    with pytest.raises(NotFittedError, match="CustomerSegmenter is not fitted"):
        CustomerSegmenter().predict(two_groups()[0])


def test_fewer_customers_than_clusters_is_a_clear_error() -> None:
    orders = pd.DataFrame(
        [(1, 1, TODAY - pd.Timedelta(days=3), 10.0), (2, 2, TODAY - pd.Timedelta(days=30), 99.0)], columns=COLUMNS
    )
    with pytest.raises(InvalidInput, match="at least 3 customers"):
        CustomerSegmenter().fit(orders)
    with pytest.raises(InvalidInput, match="at least 3 customers"):
        CustomerSegmenter().fit(orders.iloc[:1])


def test_identical_customers_cannot_be_segmented() -> None:
    orders = pd.DataFrame([(c, c, TODAY - pd.Timedelta(days=5), 20.0) for c in range(1, 11)], columns=COLUMNS)
    with pytest.raises(InvalidInput, match="all 10 customers have identical features"):
        CustomerSegmenter().fit(orders)


def test_too_few_distinct_customers_for_the_smallest_k() -> None:
    rows = [(c, c, TODAY - pd.Timedelta(days=5 if c % 2 else 50), 20.0) for c in range(1, 11)]
    orders = pd.DataFrame(rows, columns=COLUMNS)
    with pytest.raises(InvalidInput, match="only 2 distinct customer profile"):
        CustomerSegmenter(k_range=(3, 5)).fit(orders)
    assert CustomerSegmenter(k_range=(2, 5)).fit(orders).n_clusters_ == 2  # k capped at the distinct profiles


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda o, ln: (o.iloc[:0], None), "empty"),
        (lambda o, ln: (o.assign(amount=o["amount"].where(o.index != 3)), None), "missing values in amount"),
        (lambda o, ln: (o.assign(amount=-o["amount"]), None), "negative"),
        (lambda o, ln: (o, ln.iloc[:0]), "lines frame is empty"),
        (lambda o, ln: (o, ln.assign(category=None)), "missing values in category"),
        (lambda o, ln: (o, ln.assign(amount=0.0)), "zero"),
        (lambda o, ln: (o[o["customer_id"] != 1], ln), "no order"),
        (lambda o, ln: (o, ln.drop(columns="category")), "lacks column"),
    ],
)
def test_bad_frames_say_what_to_fix(change: Change, message: str) -> None:
    orders, lines = change(*two_groups())
    with pytest.raises(InvalidInput, match=message):
        CustomerSegmenter().fit(orders, lines)


def test_future_dated_orders_are_rejected() -> None:
    orders, _ = two_groups()
    with pytest.raises(InvalidInput, match="placed after the reference date"):
        CustomerSegmenter().fit(orders, reference_date=TODAY - pd.Timedelta(days=5))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"method": "kmedoids"}, "method must be one of"),
        ({"k_range": (1, 4)}, "2 <= smallest"),
        ({"k_range": (5, 3)}, "2 <= smallest"),
        ({"k_range": 4}, "two whole numbers"),
        ({"sample_size": 0}, "sample_size"),
    ],
)
def test_bad_parameters_fail_in_fit(params: dict[str, object], message: str) -> None:
    seg = CustomerSegmenter(**params)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=message):
        seg.fit(two_groups()[0])
