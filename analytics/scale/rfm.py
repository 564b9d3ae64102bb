"""RFM values, scores and segments per customer on Spark, as :class:`analytics.customers.rfm.RFM` computes them."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from analytics.customers.rfm import SEGMENT_GRID


def rfm_values(orders: DataFrame, reference: Column) -> DataFrame:
    """``customer_id``, ``recency_days`` (whole days), ``frequency`` (orders) and ``monetary`` (total, to the penny)."""
    per_customer = orders.groupBy("customer_id").agg(
        F.max("placed_at").alias("last_order"),
        F.countDistinct("order_id").alias("frequency"),
        F.round(F.sum("amount"), 2).alias("monetary"),
    )
    return per_customer.select(
        "customer_id",
        F.datediff(F.to_date(reference), F.to_date("last_order")).cast("bigint").alias("recency_days"),
        F.col("frequency").cast("bigint").alias("frequency"),
        "monetary",
    )


def with_rank_score(table: DataFrame, column: str, name: str, n_bins: int, *, higher_is_better: bool) -> DataFrame:
    """``table`` with ``name``: the score 1..``n_bins`` of :func:`analytics.customers.rfm.rank_scores`.

    Tied customers share their average rank, so the score of a value depends
    only on how many customers have a smaller and an equal value: one row per
    distinct value is ranked (a single window over the distinct values, small
    beside the customers: days, order counts, amounts in pennies) and joined
    back.
    """
    values = table.groupBy(column).agg(F.count(F.lit(1)).alias("_ties"))
    ordered = Window.orderBy(F.col(column).asc() if higher_is_better else F.col(column).desc()).rowsBetween(
        Window.unboundedPreceding, Window.currentRow
    )
    ranked = values.select(
        column,
        (F.sum("_ties").over(ordered) - F.col("_ties")).alias("_before"),
        "_ties",
        F.sum("_ties").over(Window.partitionBy()).alias("_n"),
    )
    rank = F.col("_before") + (F.col("_ties") + F.lit(1)) / F.lit(2.0)
    pct = (rank - F.lit(1.0)) / (F.col("_n") - F.lit(1)).cast("double")
    score = F.when(F.col("_n") <= 1, F.lit((n_bins + 1) // 2)).otherwise(
        F.least(F.floor(pct * F.lit(float(n_bins))).cast("bigint") + F.lit(1), F.lit(n_bins))
    )
    scores = ranked.select(column, score.cast("bigint").alias(name))
    return table.join(F.broadcast(scores), on=column, how="left")


def rfm_table(orders: DataFrame, reference: Column, n_bins: int = 5) -> DataFrame:
    """Per customer: the values, ``r_score``, ``f_score``, ``m_score`` and ``rfm_segment`` (the R x FM grid)."""
    table = rfm_values(orders, reference)
    table = with_rank_score(table, "recency_days", "r_score", n_bins, higher_is_better=False)
    table = with_rank_score(table, "frequency", "f_score", n_bins, higher_is_better=True)
    table = with_rank_score(table, "monetary", "m_score", n_bins, higher_is_better=True)
    if n_bins == 5:
        r5, f5, m5 = F.col("r_score"), F.col("f_score"), F.col("m_score")
    else:
        table = with_rank_score(table, "recency_days", "_r5", 5, higher_is_better=False)
        table = with_rank_score(table, "frequency", "_f5", 5, higher_is_better=True)
        table = with_rank_score(table, "monetary", "_m5", 5, higher_is_better=True)
        r5, f5, m5 = F.col("_r5"), F.col("_f5"), F.col("_m5")
    fm5 = F.ceil((f5 + m5) / F.lit(2.0)).cast("bigint")
    grid = F.array(*[F.lit(name) for row in SEGMENT_GRID for name in row])
    segment = F.element_at(grid, ((r5 - F.lit(1)) * F.lit(5) + fm5).cast("int"))
    return table.withColumn("rfm_segment", segment).select(
        "customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "rfm_segment"
    )
