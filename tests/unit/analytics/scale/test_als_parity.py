"""Spark's ALS ranks products as the single-machine ALS does, to a stated tolerance.

The two libraries differ by design (MLlib's confidence is 1 + alpha*w and its
penalty grows with a customer's number of products; see analytics.scale.als),
so the factors differ and the test asks for the same kind of answer: on a
shop of three groups of customers who each buy only their group's products,
both recommend only the group's products, and their top fives share at least
80% of their products on average (0.89 measured with these settings, the lowest customer 0.6).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.recommend import ALSRecommender, Interactions
from analytics.scale.als import ScaleALS
from analytics.scale.source import read_lines

SETTINGS = {"factors": 8, "regularization": 10.0, "alpha": 20.0, "iterations": 10}


def three_groups(seed: int = 5, groups: int = 3, customers: int = 60, products: int = 20) -> pd.DataFrame:
    """Each customer buys 8 of their group's 20 products, popular ones more often, in several quantities."""
    rng = np.random.default_rng(seed)
    popularity = 1 / np.arange(1, products + 1) ** 0.8
    popularity /= popularity.sum()
    rows = []
    for group in range(groups):
        for c in range(customers):
            for product in rng.choice(products, 8, replace=False, p=popularity):
                quantity = int(rng.integers(1, 10))
                day = pd.Timestamp("2026-01-01") + pd.Timedelta(days=int(rng.integers(0, 300)))
                rows.append((group * 1000 + c + 1, len(rows) + 1, day, group * 100 + int(product) + 1, quantity))
    lines = pd.DataFrame(rows, columns=["customer_id", "order_id", "placed_at", "product_id", "quantity"])
    lines["category"] = "Group " + (lines["customer_id"] // 1000).astype(str)
    lines["amount"] = lines["quantity"] * 1.5
    return lines


def group_of_customer(customer_id: int) -> int:
    return (customer_id - 1) // 1000


def group_of_product(product_id: int) -> int:
    return (product_id - 1) // 100


@pytest.fixture(scope="module")
def lines() -> pd.DataFrame:
    return three_groups()


@pytest.fixture(scope="module")
def spark_top5(spark: SparkSession, lines: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("als") / "lines.parquet"
    lines.to_parquet(path, coerce_timestamps="us")
    model = ScaleALS(**SETTINGS, blocks=2).fit(read_lines(spark, path))
    return model.recommend_all(5).toPandas()


@pytest.fixture(scope="module")
def single_top5(lines: pd.DataFrame) -> dict[int, list[int]]:
    model = ALSRecommender(**SETTINGS, num_threads=1, random_state=0).fit(
        Interactions.from_lines(lines, weighting="log1p")
    )
    return {int(c): [int(i) for i in model.recommend(int(c), n=5).item_ids] for c in lines["customer_id"].unique()}


def test_every_customer_gets_five_products_ranked_one_to_five(spark_top5: pd.DataFrame, lines: pd.DataFrame) -> None:
    assert spark_top5["customer_id"].nunique() == lines["customer_id"].nunique()
    assert all(sorted(ranks) == [1, 2, 3, 4, 5] for _, ranks in spark_top5.groupby("customer_id")["rank"])
    assert spark_top5.groupby("customer_id")["score"].apply(lambda s: s.is_monotonic_decreasing).all()


def test_no_customer_is_offered_what_they_already_bought(spark_top5: pd.DataFrame, lines: pd.DataFrame) -> None:
    bought = set(zip(lines["customer_id"], lines["product_id"]))
    assert not any(pair in bought for pair in zip(spark_top5["customer_id"], spark_top5["product_id"]))


def test_both_engines_recommend_only_the_customers_own_group(
    spark_top5: pd.DataFrame, single_top5: dict[int, list[int]]
) -> None:
    spark_groups = spark_top5["product_id"].map(group_of_product)
    assert (spark_groups == spark_top5["customer_id"].map(group_of_customer)).all()
    assert all(group_of_product(p) == group_of_customer(c) for c, items in single_top5.items() for p in items)


def test_the_top_fives_agree_within_the_stated_tolerance(
    spark_top5: pd.DataFrame, single_top5: dict[int, list[int]]
) -> None:
    spark_lists = spark_top5.sort_values(["customer_id", "rank"]).groupby("customer_id")["product_id"].apply(list)
    overlap = [len(set(spark_lists[c]) & set(items)) / 5 for c, items in single_top5.items()]
    assert np.mean(overlap) >= 0.8
    assert min(overlap) >= 0.4


def test_settings_are_checked_and_an_unfitted_model_says_so(spark: SparkSession) -> None:
    with pytest.raises(NotFittedError):
        ScaleALS().recommend_all(5)
    empty = spark.createDataFrame([], "customer_id bigint, product_id bigint, quantity bigint")
    with pytest.raises(InvalidInput, match="factors"):
        ScaleALS(factors=0).fit(empty)


def test_ids_outside_mllibs_range_are_refused_with_what_to_do(spark: SparkSession) -> None:
    big = spark.createDataFrame([(3_000_000_000, 1, 2)], "customer_id bigint, product_id bigint, quantity bigint")
    with pytest.raises(InvalidInput, match="dense range"):
        ScaleALS(factors=2, iterations=1).fit(big)
