"""The analytics refresh: compute every customer's scores and store them.

``crm analytics refresh`` runs :func:`refresh_scores`: it reads the orders
frames once, fits RFM, behavioural clusters, the loyalty programme, BG/NBD +
Gamma-Gamma and a churn model, and replaces the ``customer_scores`` table in
one transaction, so a chat lookup is a single read and a failed refresh leaves
the previous scores in place. :func:`compute_scores` is the same pipeline on
frames, without a database (the scale benchmark uses it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import delete
from threadpoolctl import threadpool_limits

from analytics.core.errors import InvalidInput
from analytics.customers.churn.features import customer_features, time_split
from analytics.customers.churn.model import ChurnModel
from analytics.customers.clv.bgnbd import BetaGeoModel
from analytics.customers.clv.gamma_gamma import GammaGammaModel
from analytics.customers.clv.summary import rfm_summary
from analytics.customers.loyalty import LoyaltyProgram, LoyaltyRules
from analytics.customers.rfm import RFM, resolve_reference_date
from analytics.customers.segment import CustomerSegmenter
from analytics.store.bulk import bulk_insert
from analytics.store.frames import check_orders, load_lines, load_orders
from analytics.store.models import CustomerScore
from analytics.store.uow import SqlAlchemyUnitOfWork

Progress = Callable[[str, int, int], None]
STEPS = ("load", "rfm", "segments", "loyalty", "clv", "churn", "write")
#: store setting holding the last refresh's summary (segment profiles, metrics, timings)
SUMMARY_KEY = "analytics.last_refresh"


def _no_progress(_step: str, _done: int, _total: int) -> None:
    return None


@dataclass
class RefreshResult:
    scores: pd.DataFrame
    reference_date: pd.Timestamp
    profiles: pd.DataFrame
    cluster_metrics: dict[str, float]
    churn_metrics: dict[str, float]
    clv_params: dict[str, float]
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "reference_date": self.reference_date.isoformat(),
            "customers": len(self.scores),
            "profiles": json.loads(self.profiles.reset_index().to_json(orient="records")),
            "cluster_metrics": self.cluster_metrics,
            "churn_metrics": self.churn_metrics,
            "clv_params": self.clv_params,
            "seconds": self.seconds,
        }


#: the churn model learns from at most this many (customer, cutoff) examples
MAX_CHURN_TRAINING_ROWS = 100_000
#: penalties tried in turn when a model's estimates diverge on few or uniform customers
PENALTIES = (0.0, 0.001, 0.01, 0.1)
Fitted = TypeVar("Fitted")


def _fit_with_penalty(fit: Callable[[float], Fitted]) -> Fitted:
    """Fit unpenalised; if the likelihood has no interior maximum (small or uniform
    data), retry with growing L2 penalties, as the BG/NBD literature suggests."""
    for penalty in PENALTIES[:-1]:
        try:
            return fit(penalty)
        except InvalidInput:
            continue
    return fit(PENALTIES[-1])


def compute_scores(
    orders: pd.DataFrame,
    lines: Optional[pd.DataFrame] = None,
    *,
    reference_date: Optional[object] = None,
    rules: Optional[LoyaltyRules] = None,
    explain: bool = True,
    progress: Progress = _no_progress,
) -> RefreshResult:
    """Every customer's scores from the orders (and lines) frames."""
    seconds: dict[str, float] = {}
    total = len(STEPS)

    def step(name: str) -> None:
        seconds[name] = time.perf_counter()
        progress(name, STEPS.index(name), total)

    def done(name: str) -> None:
        seconds[name] = round(time.perf_counter() - seconds[name], 3)

    orders = check_orders(orders)
    reference = resolve_reference_date(orders, reference_date)
    # one BLAS/OpenMP thread: on the 2-core machines this runs on, OpenMP's spinning threads made the
    # k-means and boosting fits 3x slower whenever anything else ran (measured), and gained little otherwise
    with threadpool_limits(limits=1):
        return _compute(orders, lines, reference, rules, explain, step, done, seconds)


def _compute(
    orders: pd.DataFrame,
    lines: Optional[pd.DataFrame],
    reference: pd.Timestamp,
    rules: Optional[LoyaltyRules],
    explain: bool,
    step: Callable[[str], None],
    done: Callable[[str], None],
    seconds: dict[str, float],
) -> RefreshResult:

    step("rfm")
    rfm = RFM(reference_date=reference).fit(orders)
    table = rfm.table_[["recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "segment"]].rename(
        columns={"segment": "rfm_segment"}
    )
    done("rfm")

    step("segments")
    segmenter = CustomerSegmenter(method="kmeans").fit(orders, lines, reference_date=reference)
    table["cluster"] = segmenter.labels_.reindex(table.index).astype("Int64")
    names = segmenter.profiles_["label"]
    table["cluster_label"] = table["cluster"].map(lambda c: names.get(c) if pd.notna(c) else None)
    done("segments")

    step("loyalty")
    status = LoyaltyProgram(rules).fit(orders, reference_date=reference).status_
    table = table.join(status[["spend_12m", "points", "tier", "next_tier", "amount_to_next_tier", "lifecycle"]])
    done("loyalty")

    step("clv")
    summary = rfm_summary(orders, reference, time_unit="D")
    bgnbd = _fit_with_penalty(
        lambda p: BetaGeoModel(log_penalizer=p).fit(summary["frequency"], summary["recency"], summary["T"])
    )
    f, r, t = summary["frequency"], summary["recency"], summary["T"]
    table["p_alive"] = pd.Series(bgnbd.probability_alive(f, r, t), index=summary.index)
    table["expected_orders_30d"] = pd.Series(bgnbd.conditional_expected_purchases(30, f, r, t), index=summary.index)
    table["expected_orders_90d"] = pd.Series(bgnbd.conditional_expected_purchases(90, f, r, t), index=summary.index)
    repeat = summary["frequency"] > 0
    clv_params = {k: float(v) for k, v in bgnbd.params_.items()}
    if repeat.sum() >= 10:
        gg = _fit_with_penalty(
            lambda p: GammaGammaModel(penalizer=p).fit(
                summary.loc[repeat, "frequency"], summary.loc[repeat, "monetary_value"]
            )
        )
        # one-time buyers get the population's expected spend (the Gamma-Gamma prior mean)
        value = gg.customer_lifetime_value(bgnbd, f, r, t, summary["monetary_value"], horizon_months=12, time_unit="D")
        table["clv_12m"] = pd.Series(np.asarray(value), index=summary.index).round(2)
        clv_params |= {k: float(v) for k, v in gg.params_.items()}
    else:
        table["clv_12m"] = np.nan
    done("clv")

    step("churn")
    churn_metrics: dict[str, float] = {}
    table["churn_risk"] = np.nan
    table["churn_reasons"] = [[] for _ in range(len(table))]
    horizon = 90
    try:
        # the newest labelled quarter ends with the data; its features end one horizon earlier
        last_full = orders["placed_at"].max() - pd.Timedelta(days=horizon)
        split = time_split(orders, last_full, horizon_days=horizon, lines=lines)
    except InvalidInput as exc:
        churn_metrics["skipped"] = 1.0
        churn_metrics["reason"] = str(exc)  # type: ignore[assignment]
    else:
        X_fit = pd.concat([split.X_train, split.X_test])
        y_fit = pd.concat([split.y_train, split.y_test])
        if len(X_fit) > MAX_CHURN_TRAINING_ROWS:  # a seeded sample bounds the fit on very large shops
            rows = np.random.default_rng(0).choice(len(X_fit), MAX_CHURN_TRAINING_ROWS, replace=False)
            X_fit, y_fit = X_fit.iloc[rows], y_fit.iloc[rows]
        model = ChurnModel("boosting", horizon_days=horizon).fit(X_fit, y_fit)
        now_features = customer_features(orders, reference + pd.Timedelta(seconds=1), lines=lines)
        risk = model.churn_risk(now_features)
        table["churn_risk"] = risk.reindex(table.index).round(4)
        if explain:
            at_risk = now_features.loc[risk[risk >= 0.5].index]
            if len(at_risk):
                # the console lists these under the churn risk: only what raises it answers "why at risk?"
                why = model.explain(at_risk, top=3, n_permutations=8, raising_only=True)
                reasons = why.groupby("customer_id")["reason"].agg(list)
                table["churn_reasons"] = reasons.reindex(table.index).map(lambda v: v if isinstance(v, list) else [])
        churn_metrics = {"train_customers": float(len(split.X_train) + len(split.X_test))}
    done("churn")

    table["as_of"] = reference
    return RefreshResult(
        scores=table,
        reference_date=reference,
        profiles=segmenter.profiles_,
        cluster_metrics={k: float(v) for k, v in segmenter.metrics_.items()},
        churn_metrics=churn_metrics,
        clv_params=clv_params,
        seconds=seconds,
    )


def refresh_scores(
    uow: SqlAlchemyUnitOfWork,
    *,
    reference_date: Optional[datetime] = None,
    rules: Optional[LoyaltyRules] = None,
    progress: Progress = _no_progress,
) -> RefreshResult:
    """Recompute and replace every customer's stored scores (all or nothing)."""
    started = time.perf_counter()
    progress("load", 0, len(STEPS))
    # a cancelled order is no purchase: counted, it gave tiers and points for money the customer got back
    # (a Gold member with "£0 in total" on the agents' card, which leaves cancelled orders out too)
    orders = load_orders(uow, until=reference_date, cancelled=False)
    if orders.empty:
        raise InvalidInput("The store holds no orders of known customers; import data first (crm seed).")
    lines = load_lines(uow, until=reference_date, cancelled=False)
    load_seconds = round(time.perf_counter() - started, 3)
    result = compute_scores(orders, lines, reference_date=reference_date, rules=rules, progress=progress)
    result.seconds["load"] = load_seconds

    progress("write", STEPS.index("write"), len(STEPS))
    write_started = time.perf_counter()
    frame = result.scores.reset_index().rename(columns={"index": "customer_id"})
    frame["as_of"] = pd.to_datetime(frame["as_of"])
    frame["amount_to_next_tier"] = frame["amount_to_next_tier"].astype("float64")
    frame["churn_reasons"] = frame["churn_reasons"].map(json.dumps)
    columns = [c.name for c in CustomerScore.__table__.columns]
    with uow:
        conn = uow.connection()
        conn.execute(delete(CustomerScore))
        bulk_insert(conn, CustomerScore.__table__, frame[columns])  # type: ignore[arg-type]
        result.seconds["write"] = round(time.perf_counter() - write_started, 3)
        result.seconds["total"] = round(time.perf_counter() - started, 3)
        uow.settings.set(SUMMARY_KEY, json.dumps(result.summary(), default=str))
        uow.commit()
    progress("done", len(STEPS), len(STEPS))
    return result
