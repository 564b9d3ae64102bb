"""Loyalty status per customer on Spark, as :class:`analytics.customers.loyalty.LoyaltyProgram` computes it."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from analytics.customers.loyalty import LoyaltyRules

_MICROS_PER_DAY = 86_400_000_000.0


def _days(micros: Column) -> Column:
    """Microseconds as fractional days (bit for bit what pandas' ``timedelta / Timedelta(days=1)`` gives)."""
    return micros.cast("double") / F.lit(_MICROS_PER_DAY)


def loyalty_table(orders: DataFrame, reference: Column, rules: LoyaltyRules) -> DataFrame:
    """Per customer: ``first_order_at``, ``last_order_at``, ``n_orders``, ``days_since_last_order``,
    ``total_spend``, ``spend_12m``, ``points``, ``tier``, ``next_tier``, ``amount_to_next_tier`` and
    ``lifecycle`` (the rules of :mod:`analytics.customers.loyalty`)."""
    placed = F.unix_micros(F.col("placed_at").cast("timestamp"))
    by_customer = Window.partitionBy("customer_id").orderBy("placed_at", "order_id")
    frame = orders.select(
        "customer_id",
        "order_id",
        "placed_at",
        "amount",
        _days(F.unix_micros(reference) - placed).alias("age"),
        _days(placed - F.lag(placed).over(by_customer)).alias("gap"),
    )
    status = frame.groupBy("customer_id").agg(
        F.min("placed_at").alias("first_order_at"),
        F.max("placed_at").alias("last_order_at"),
        F.countDistinct("order_id").cast("bigint").alias("n_orders"),
        F.max("age").alias("_first_age"),
        F.min("age").alias("_last_age"),
        F.round(F.sum("amount"), 2).alias("total_spend"),
        F.round(F.sum(F.when(F.col("age") < rules.spend_window_days, F.col("amount")).otherwise(0.0)), 2).alias(
            "spend_12m"
        ),
        F.sort_array(F.collect_list("gap")).alias("_gaps"),
        F.min(F.when(F.col("gap") > rules.lapsed_days, F.col("age"))).alias("_comeback_age"),
    )
    # the median of the sorted gaps: the middle one, or the mean of the two middle ones (pandas' median)
    size = F.size("_gaps")
    median_gap = F.when(
        size > 0,
        (F.element_at("_gaps", ((size + 1) / 2).cast("int")) + F.element_at("_gaps", (size / 2 + 1).cast("int")))
        / F.lit(2.0),
    )

    thresholds = [threshold for _, threshold in rules.tiers]
    names = F.array(*[F.lit(name) for name in rules.tier_names])
    level = sum((F.when(F.col("spend_12m") >= t, 1).otherwise(0) for t in thresholds), F.lit(0)) - F.lit(1)
    top = len(thresholds) - 1
    next_level = F.least(level + F.lit(1), F.lit(top))
    next_threshold = F.element_at(F.array(*[F.lit(float(t)) for t in thresholds]), (next_level + 1).cast("int"))

    window = F.least(
        F.greatest(F.coalesce(median_gap * F.lit(rules.active_gap_multiplier), F.lit(float(rules.active_min_days))),
                   F.lit(float(rules.active_min_days))),
        F.lit(float(rules.lapsed_days)),
    )  # fmt: skip
    last_age, first_age = F.col("_last_age"), F.col("_first_age")
    active = last_age <= window
    lifecycle = (
        F.when(first_age <= rules.new_days, "new")
        .when(active & (F.col("_comeback_age") <= rules.won_back_days), "won-back")
        .when(active, "active")
        .when(last_age <= rules.lapsed_days, "at-risk")
        .otherwise("lapsed")
    )
    return status.select(
        "customer_id",
        "first_order_at",
        "last_order_at",
        "n_orders",
        F.floor(last_age).cast("bigint").alias("days_since_last_order"),
        "total_spend",
        "spend_12m",
        F.floor(F.round(F.col("total_spend") * F.lit(rules.points_per_pound), 6)).cast("bigint").alias("points"),
        F.element_at(names, (level + 1).cast("int")).alias("tier"),
        F.when(level < top, F.element_at(names, (next_level + 1).cast("int"))).alias("next_tier"),
        F.when(level < top, F.round(next_threshold - F.col("spend_12m"), 2)).alias("amount_to_next_tier"),
        lifecycle.alias("lifecycle"),
    )
