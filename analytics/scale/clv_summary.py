"""The per-customer summary the CLV models fit on, on Spark, as
:func:`analytics.customers.clv.summary.rfm_summary` builds it (time unit: days)."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def clv_summary(orders: DataFrame, reference: Column) -> DataFrame:
    """Per customer: ``frequency`` (repeat purchase days), ``recency`` and ``T`` (days) and
    ``monetary_value`` (mean value of a repeat purchase day, 0 without one).

    Several orders on one calendar day are one purchase worth their total;
    the first purchase day starts the history and is not a repeat.
    """
    days = orders.groupBy("customer_id", F.to_date("placed_at").alias("day")).agg(F.sum("amount").alias("amount"))
    per_customer = days.groupBy("customer_id").agg(
        F.min("day").alias("_first"),
        F.max("day").alias("_last"),
        F.count(F.lit(1)).alias("_days"),
        F.sum("amount").alias("_total"),
        F.min_by("amount", "day").alias("_first_amount"),
    )
    frequency = F.col("_days") - F.lit(1)
    return per_customer.select(
        "customer_id",
        frequency.cast("bigint").alias("frequency"),
        F.datediff("_last", "_first").cast("double").alias("recency"),
        F.datediff(F.to_date(reference), "_first").cast("double").alias("T"),
        F.when(frequency > 0, (F.col("_total") - F.col("_first_amount")) / frequency).otherwise(0.0)
        .alias("monetary_value"),
    )  # fmt: skip
