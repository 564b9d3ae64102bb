"""The customer-scores refresh on Spark: order lines in, the scores and CLV summary tables out.

It computes the columns of the ``customer_scores`` table that are
aggregates of the order history (RFM values, scores and segment; 12-month
spend, points, tier and lifecycle) and the summary the CLV models fit on,
equal to what :func:`analytics.customers.refresh.compute_scores` gives on
the same orders. The fitted-model columns (k-means cluster, BG/NBD and
Gamma-Gamma, churn risk) are not computed here: those models fit on the
per-customer rows this job writes, one row per customer instead of tens of
rows per customer.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from analytics.core.errors import InvalidInput
from analytics.customers.loyalty import LoyaltyRules
from analytics.scale.clv_summary import clv_summary
from analytics.scale.loyalty import loyalty_table
from analytics.scale.rfm import rfm_table
from analytics.scale.source import orders_from_lines

#: the columns of ``customer_scores`` this job fills, in the table's order
SCORE_COLUMNS = (
    "customer_id",
    "as_of",
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
    "rfm_segment",
    "spend_12m",
    "points",
    "tier",
    "next_tier",
    "amount_to_next_tier",
    "lifecycle",
)


@dataclass
class ScaleScores:
    """The refresh's outputs as (lazy) Spark DataFrames; :meth:`write` runs the job."""

    scores: DataFrame
    clv_summary: DataFrame
    reference_date: pd.Timestamp
    orders: DataFrame

    def write(self, out: Union[str, Path]) -> dict[str, Path]:
        """Write ``scores/`` and ``clv_summary/`` Parquet folders under ``out``, all or nothing.

        Both tables are written into a new folder beside ``out`` first and
        moved into place only when both are complete, so a failed run leaves
        the previous outputs untouched. (On a local or POSIX file system; on
        object stores, write to a new prefix per run instead.)
        """
        target = Path(out)
        staging = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        self.orders.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            self.scores.write.parquet(str(staging / "scores"))
            self.clv_summary.write.parquet(str(staging / "clv_summary"))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            self.orders.unpersist()
        old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
        if target.exists():
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
        return {"scores": target / "scores", "clv_summary": target / "clv_summary"}


def resolve_reference(lines: DataFrame, reference_date: Optional[object]) -> pd.Timestamp:
    """The refresh's "today": the given date, or the day after the newest order (midnight).

    Raises :class:`InvalidInput` for a date that is not one, has a time zone,
    or is before the newest order (the single-machine refresh's rules).
    """
    newest = lines.agg(F.max("placed_at").alias("newest")).first()
    assert newest is not None
    last = pd.Timestamp(newest["newest"])
    if reference_date is None:
        return last.normalize() + pd.Timedelta(days=1)
    try:
        reference = pd.Timestamp(reference_date)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"reference_date {reference_date!r} is not a date; pass a datetime, a pandas Timestamp or 'YYYY-MM-DD'."
        ) from exc
    if pd.isna(reference):
        raise InvalidInput("reference_date is missing (NaT); pass a date or None for the day after the newest order.")
    if reference.tzinfo is not None:
        raise InvalidInput("reference_date has a time zone; the store's times are naive UTC, pass a naive datetime.")
    if last > reference:
        raise InvalidInput(
            f"some orders are placed after the reference date {reference} (the newest on {last}); "
            "pass a later reference_date or drop future-dated orders."
        )
    return reference


def scale_scores(
    lines: DataFrame,
    *,
    reference_date: Optional[object] = None,
    rules: Optional[LoyaltyRules] = None,
    n_bins: int = 5,
) -> ScaleScores:
    """The scores and CLV summary of every customer in checked ``lines`` (:func:`~analytics.scale.source.read_lines`).

    Parameters
    ----------
    lines : pyspark.sql.DataFrame
        Order lines of purchases.
    reference_date : date-like, optional
        As in :func:`analytics.customers.refresh.compute_scores`.
    rules : LoyaltyRules, optional
        Default: the shipped rules.
    n_bins : int, default 5
        RFM score levels.
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or not 2 <= n_bins <= 10:
        raise InvalidInput(f"n_bins must be a whole number from 2 to 10 (5 gives quintiles), not {n_bins!r}.")
    rules = LoyaltyRules.default() if rules is None else rules
    if not isinstance(rules, LoyaltyRules):
        raise InvalidInput(f"rules must be a LoyaltyRules (e.g. LoyaltyRules.from_toml(path)), not {rules!r}.")
    reference = resolve_reference(lines, reference_date)
    when = F.to_timestamp(F.lit(reference.isoformat(sep=" ")))
    orders = orders_from_lines(lines)
    rfm = rfm_table(orders, when, n_bins)
    loyalty = loyalty_table(orders, when, rules)
    scores = (
        rfm.join(loyalty, on="customer_id")
        .withColumn("as_of", when)
        .select(*SCORE_COLUMNS)
    )  # fmt: skip
    return ScaleScores(scores=scores, clv_summary=clv_summary(orders, when), reference_date=reference, orders=orders)
