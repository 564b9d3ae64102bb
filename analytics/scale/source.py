"""Order lines from Parquet or CSV files, checked, and the orders they make.

The lines are the ``lines`` frame of :mod:`analytics.store.frames`, one row
per order line of a purchase (cancelled orders left out, as the refresh's
``load_lines(cancelled=False)`` reads them): ``customer_id``, ``order_id``,
``placed_at`` (naive UTC), ``product_id``, ``category``, ``quantity`` and
``amount`` (quantity x unit price). Parquet is the interchange format at
scale; pandas writes it with
``lines.to_parquet(path, coerce_timestamps="us")`` (Spark reads microseconds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from analytics.core.errors import InvalidInput

LINE_COLUMNS = ("customer_id", "order_id", "placed_at", "product_id", "category", "quantity", "amount")
_TYPES = {
    "customer_id": "bigint",
    "order_id": "bigint",
    "product_id": "bigint",
    "category": "string",
    "quantity": "bigint",
    "amount": "double",
}


def read_lines(spark: SparkSession, path: Union[str, Path]) -> DataFrame:
    """The order lines under ``path`` (a file or a folder of ``.parquet`` or ``.csv`` parts), checked.

    Raises
    ------
    InvalidInput
        The path holds no Parquet or CSV files, cannot be read, or its lines
        fail :func:`check_lines`.
    """
    root = Path(path)
    if not root.exists():
        raise InvalidInput(f"{root} does not exist; pass the file or folder holding the order lines.")
    parts = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.suffix in (".parquet", ".csv"))
    kinds = {p.suffix for p in parts}
    if not parts or len(kinds) != 1 or not kinds <= {".parquet", ".csv"}:
        raise InvalidInput(
            f"{root} must hold .parquet files or .csv files (one kind), found {sorted(kinds) or 'none'}."
        )
    try:
        if kinds == {".parquet"}:
            frame = spark.read.parquet(str(root))
        else:
            frame = spark.read.csv(str(root), header=True, inferSchema=False)
        frame.schema  # noqa: B018 - resolving the schema is where an unreadable file fails
    except AnalysisException as exc:
        hint = (
            " Write the Parquet with microsecond timestamps: lines.to_parquet(path, coerce_timestamps='us')."
            if "NANOS" in str(exc)
            else ""
        )
        raise InvalidInput(f"cannot read the order lines under {root}: {exc.getMessage()}.{hint}") from None
    return check_lines(frame)


def check_lines(frame: DataFrame) -> DataFrame:
    """The line columns with canonical types, or :class:`InvalidInput` saying what to fix.

    One pass over the data counts the rows, missing values, unreadable values
    and non-positive amounts or quantities.
    """
    missing = [c for c in LINE_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"the order lines lack column(s) {', '.join(missing)}; they need {', '.join(LINE_COLUMNS)} "
            "(see analytics.store.frames)."
        )
    # unreadable values become missing ones, counted below, rather than a failed task deep in a job
    typed = frame.select(*[F.col(c).try_cast(_TYPES.get(c, "timestamp")).alias(c) for c in LINE_COLUMNS])
    counts = typed.agg(
        F.count(F.lit(1)).alias("rows"),
        *[F.sum(F.when(typed[c].isNull(), 1).otherwise(0)).alias(f"null_{c}") for c in LINE_COLUMNS],
        F.sum(
            F.when(F.isnan("amount") | (F.col("amount") <= 0) | F.col("amount").isin(float("inf")), 1).otherwise(0)
        ).alias("bad_amount"),
        F.sum(F.when(F.col("quantity") <= 0, 1).otherwise(0)).alias("bad_quantity"),
    ).first()
    assert counts is not None  # an aggregate without grouping always has one row
    if counts["rows"] == 0:
        raise InvalidInput("the order lines are empty; there is nothing to score. Export the lines first.")
    bad = [c for c in LINE_COLUMNS if counts[f"null_{c}"]]
    if bad:
        detail = ", ".join(f"{c} ({counts[f'null_{c}']:,})" for c in bad)
        raise InvalidInput(f"the order lines have missing or unreadable values in {detail}; drop or fix those rows.")
    if counts["bad_amount"]:
        raise InvalidInput(
            f"{counts['bad_amount']:,} order line(s) have a zero, negative or infinite amount; returns belong in "
            "the returns table, not as negative sales."
        )
    if counts["bad_quantity"]:
        raise InvalidInput(f"{counts['bad_quantity']:,} order line(s) have a quantity of 0 or less; drop them.")
    return typed


def orders_from_lines(lines: DataFrame) -> DataFrame:
    """One row per order with its merchandise value, as ``load_orders`` sums it in SQL."""
    return lines.groupBy("customer_id", "order_id", "placed_at").agg(F.sum("amount").alias("amount"))
