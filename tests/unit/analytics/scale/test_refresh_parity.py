"""The Spark refresh gives the single-machine refresh's scores on the same order lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from analytics.core.errors import InvalidInput
from analytics.customers.clv.summary import rfm_summary
from analytics.customers.loyalty import LIFECYCLE_STAGES, LoyaltyRules
from analytics.customers.refresh import compute_scores
from analytics.scale.refresh import SCORE_COLUMNS, scale_scores
from analytics.scale.source import read_lines


def single_machine_orders(lines: pd.DataFrame) -> pd.DataFrame:
    """The orders frame the store's ``load_orders`` gives for these lines (the sum of each order's lines)."""
    return lines.groupby(["customer_id", "order_id", "placed_at"], as_index=False)["amount"].sum()


@pytest.fixture(scope="module")
def single_machine(shop_lines: pd.DataFrame) -> pd.DataFrame:
    result = compute_scores(single_machine_orders(shop_lines), shop_lines, explain=False)
    return result.scores.rename_axis("customer_id")


@pytest.fixture(scope="module")
def written(spark: SparkSession, lines_parquet: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return scale_scores(read_lines(spark, lines_parquet)).write(tmp_path_factory.mktemp("scale-out") / "refresh")


@pytest.fixture(scope="module")
def distributed(written: dict[str, Path]) -> pd.DataFrame:
    return pd.read_parquet(written["scores"]).set_index("customer_id").sort_index()


def test_the_sample_reaches_every_tier_and_lifecycle_stage(single_machine: pd.DataFrame) -> None:
    assert set(single_machine["tier"]) == set(LoyaltyRules.default().tier_names)
    assert set(single_machine["lifecycle"]) == set(LIFECYCLE_STAGES)
    assert single_machine["rfm_segment"].nunique() >= 9


def test_every_customer_gets_the_same_rfm_values_scores_and_segment(
    single_machine: pd.DataFrame, distributed: pd.DataFrame
) -> None:
    columns = ["recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "rfm_segment"]
    expected = single_machine[columns]
    pd.testing.assert_frame_equal(distributed[columns], expected, check_dtype=False)


def test_every_customer_gets_the_same_spend_points_tier_and_lifecycle(
    single_machine: pd.DataFrame, distributed: pd.DataFrame
) -> None:
    columns = ["spend_12m", "points", "tier", "next_tier", "amount_to_next_tier", "lifecycle"]
    expected = single_machine[columns].astype({"next_tier": object})
    got = distributed[columns].astype({"next_tier": object})
    pd.testing.assert_frame_equal(got.fillna(np.nan), expected.fillna(np.nan), check_dtype=False)


def test_the_scores_carry_the_refresh_date_and_the_tables_columns(
    single_machine: pd.DataFrame, distributed: pd.DataFrame
) -> None:
    assert list(distributed.reset_index().columns) == list(SCORE_COLUMNS)
    assert (distributed["as_of"] == single_machine["as_of"].iloc[0]).all()


def test_the_clv_summary_matches_rfm_summary(
    written: dict[str, Path], distributed: pd.DataFrame, shop_lines: pd.DataFrame
) -> None:
    got = pd.read_parquet(written["clv_summary"]).set_index("customer_id").sort_index()
    expected = rfm_summary(single_machine_orders(shop_lines), distributed["as_of"].iloc[0], time_unit="D")
    pd.testing.assert_frame_equal(got[["frequency", "recency", "T"]], expected[["frequency", "recency", "T"]])
    # the mean repeat value sums the same amounts in another order: equal to rounding error
    np.testing.assert_allclose(got["monetary_value"], expected["monetary_value"], rtol=1e-12, atol=1e-9)


def test_csv_lines_are_read_as_the_same_lines_as_parquet(
    spark: SparkSession, shop_lines: pd.DataFrame, lines_parquet: Path, tmp_path: Path
) -> None:
    shop_lines.to_csv(tmp_path / "lines.csv", index=False)
    from_csv = read_lines(spark, tmp_path / "lines.csv")
    from_parquet = read_lines(spark, lines_parquet)
    assert from_csv.schema == from_parquet.schema
    assert from_csv.exceptAll(from_parquet).count() == 0
    assert from_csv.count() == len(shop_lines)


def test_a_given_reference_date_is_used_and_a_date_before_the_newest_order_is_refused(
    spark: SparkSession, lines_parquet: Path, shop_lines: pd.DataFrame
) -> None:
    lines = read_lines(spark, lines_parquet)
    later = scale_scores(lines, reference_date="2027-06-30")
    assert later.reference_date == pd.Timestamp("2027-06-30")
    with pytest.raises(InvalidInput, match="placed after the reference date"):
        scale_scores(lines, reference_date="2026-01-01")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["quantity"]), "lack column"),
        (lambda f: f.assign(amount=f["amount"].where(f.index != 5, -3.0)), "zero, negative or infinite amount"),
        (lambda f: f.assign(customer_id=f["customer_id"].astype(str).where(f.index != 7, "x")), "customer_id"),
        (lambda f: f.iloc[:0], "empty"),
    ],
)
def test_bad_lines_are_refused_with_what_to_fix(
    spark: SparkSession, shop_lines: pd.DataFrame, tmp_path: Path, change, message: str
) -> None:
    change(shop_lines).to_csv(tmp_path / "lines.csv", index=False)
    with pytest.raises(InvalidInput, match=message):
        read_lines(spark, tmp_path / "lines.csv")


def test_a_folder_without_lines_is_refused(spark: SparkSession, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no lines here")
    with pytest.raises(InvalidInput, match=r"\.parquet files or \.csv files"):
        read_lines(spark, tmp_path)
