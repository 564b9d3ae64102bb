"""Benchmark: next-order and reorder dates in a temporal backtest on Online Retail, and lookup latency.

    .venv/bin/python bench/reorder_eval.py [--file PATH] [--cutoff 2011-09-01] [--prior-strength 2 ...]
                                           [--tune] [--latency] [--lookups 300]

Backtest (no store needed): the cleaned full file is cut at ``--cutoff``; the
models are fitted on what came before and predict, as of the cutoff, each
customer's next order and each customer-product pair's next purchase. They
are compared with what happened up to the end of the data (2011-12-09), on
the customers (pairs) who did buy again: median absolute error in days, and
the share of actual dates inside the predicted 80% window. Baselines: the
customer's mean interval added to the last purchase ("last + mean"), and
the same moved to the cutoff when it falls before it ("clamped"); they need
two purchases, so the one-purchase rows only have the model.

``--tune`` chooses each model's prior strength on validation before the test
is looked at: only the lines before ``--cutoff`` are used, cut again at
``--validation-cutoff`` (default three months earlier); every strength of
``--grid`` is fitted before it and scored on the first purchases between
the two cutoffs (median absolute error over everyone who bought again, the
mean absolute error breaking ties). The validation table is printed, then
the test cutoff is scored once with the chosen strengths.

``--latency`` also imports the full file into a throw-away SQLite store (a
temp file, never ``var/``), refreshes the scores and times ``next_order``,
``reorder_advice`` and ``delivery_estimate`` for random customers / open
orders (p50/p95 wall time, warm caches; the cold first call is reported
separately). Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_FILE = Path(
    os.environ.get(
        "CRM_FULL_DATASET_PATH",
        ROOT.parent / "shared" / "datasets" / "online_retail_uci" / "online_retail_all_rows.csv.gz",
    )
)


def customer_lines(path: Path) -> pd.DataFrame:
    """customer_id, product_id, placed_at, quantity of every sale line with a customer."""
    from analytics.ingest.online_retail import clean, read_online_retail

    tables = clean(read_online_retail(path), source=path.name)
    orders = tables.orders[tables.orders["customer_ref"].fillna("") != ""]
    lines = tables.lines.merge(orders[["number", "customer_ref", "placed_at"]], on="number")
    return pd.DataFrame(
        {
            "customer_id": lines["customer_ref"].astype("int64"),
            "product_id": pd.factorize(lines["sku"])[0].astype("int64"),
            "placed_at": lines["placed_at"],
            "quantity": lines["quantity"],
        }
    )


def first_after(lines: pd.DataFrame, cutoff: pd.Timestamp, keys: list[str]) -> pd.Series:
    later = lines[lines["placed_at"] >= cutoff]
    return later.groupby(keys)["placed_at"].min().dt.normalize()


def mean_gap(days: pd.DataFrame, keys: list[str]) -> pd.Series:
    gaps = days.groupby(keys)["day"].diff().dt.days
    return gaps.groupby([days[k] for k in keys]).mean()


def score(pred: pd.DataFrame, actual: pd.Series, cutoff: pd.Timestamp, naive_gap: pd.Series) -> pd.DataFrame:
    """One row per predicted unit that bought again, with the errors of every method in days."""
    both = pred.join(actual.rename("actual"), how="inner")
    both = both[both["source"] != "none"]
    naive = both["last_purchase"] + pd.to_timedelta(naive_gap.reindex(both.index), unit="D")
    out = pd.DataFrame(index=both.index)
    out["intervals"] = both["purchases"] - 1
    out["model"] = (both["expected"] - both["actual"]).dt.days.abs()
    out["due"] = (both["due"] - both["actual"]).dt.days.abs()
    out["naive"] = (naive - both["actual"]).dt.days.abs()
    out["clamped"] = (naive.clip(lower=cutoff) - both["actual"]).dt.days.abs()
    out["inside"] = (both["window_start"] <= both["actual"]) & (both["actual"] <= both["window_end"])
    return out


def table(title: str, scored: pd.DataFrame) -> str:
    groups = [
        ("one purchase (population)", scored["intervals"] == 0),
        ("2-3 purchases", scored["intervals"].between(1, 2)),
        ("4+ purchases", scored["intervals"] >= 3),
        ("all", scored["intervals"] >= 0),
    ]
    rows = [
        f"**{title}**",
        "",
        "| history | n | model MdAE (days) | in 80% window | 'due' MdAE | last + mean MdAE | clamped MdAE |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, mask in groups:
        part = scored[mask]
        if part.empty:
            continue
        with_naive = part["naive"].notna()

        def fmt(values: pd.Series) -> str:
            return f"{values.median():.0f}" if values.notna().any() else "—"

        naive_note = "" if with_naive.all() or not with_naive.any() else f" (n={int(with_naive.sum())})"
        rows.append(
            f"| {name} | {len(part):,} | {part['model'].median():.0f} | {part['inside'].mean():.0%} | "
            f"{fmt(part['due'])} | {fmt(part['naive'])}{naive_note} | {fmt(part['clamped'])}{naive_note} |"
        )
    return "\n".join(rows)


def run_model(kind: str, lines: pd.DataFrame, cutoff: pd.Timestamp, strength: float) -> tuple[pd.DataFrame, int, int]:
    """Fit ``kind`` ("next" or "reorder") on the lines before ``cutoff`` and score it on the lines after.

    Returns the scored rows, the number of predicted units and how many had no estimate.
    """
    from analytics.forecast.replenishment import NextOrderModel, ReorderModel, check_purchases

    train = lines[lines["placed_at"] < cutoff]
    now = cutoff - pd.Timedelta(seconds=1)
    model = NextOrderModel if kind == "next" else ReorderModel
    keys = ["customer_id"] if kind == "next" else ["customer_id", "product_id"]
    pred = model(prior_strength=strength).fit(train).predict(now)
    days, _ = check_purchases(train, tuple(keys))  # type: ignore[arg-type]
    result = score(pred, first_after(lines, cutoff, keys), cutoff, mean_gap(days, keys))
    return result, len(pred), int((pred["source"] == "none").sum())


def backtest(lines: pd.DataFrame, cutoff: pd.Timestamp, next_strength: float, reorder_strength: float) -> None:
    train = lines[lines["placed_at"] < cutoff]
    end = lines["placed_at"].max()
    print(f"Backtest: fit on {len(train):,} lines before {cutoff.date()}, outcomes to {end.date()}.\n")
    started = time.perf_counter()
    result, n, _ = run_model("next", lines, cutoff, next_strength)
    print(
        table(f"Next order (prior_strength={next_strength:g}; {n:,} customers, {len(result):,} ordered again)", result)
    )
    print()
    result, n, none = run_model("reorder", lines, cutoff, reorder_strength)
    print(
        table(
            f"Reorder (prior_strength={reorder_strength:g}; {n:,} pairs, {none:,} without an estimate, "
            f"{len(result):,} rebought)",
            result,
        )
    )
    print(f"\n(fit + predict on all customers, both models: {time.perf_counter() - started:.1f} s)\n")


def tune(
    lines: pd.DataFrame, cutoff: pd.Timestamp, validation_cutoff: pd.Timestamp, grid: list[float]
) -> tuple[float, float]:
    """Each model's prior strength, chosen on the window between the two cutoffs; the test is never read."""
    if not validation_cutoff < cutoff:
        sys.exit(f"--validation-cutoff {validation_cutoff.date()} must be before --cutoff {cutoff.date()}.")
    seen = lines[lines["placed_at"] < cutoff]
    print(
        f"Validation: fit on lines before {validation_cutoff.date()}, outcomes from then to {cutoff.date()} "
        "(nothing at or after the test cutoff is read). MdAE / MAE in days over everyone who bought again; "
        "the lowest MdAE wins, then the lowest MAE.\n"
    )
    print("| prior strength | next order n | MdAE | MAE | in 80% window | reorder n | MdAE | MAE | in 80% window |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for strength in grid:
        nxt, _, _ = run_model("next", seen, validation_cutoff, strength)
        reo, _, _ = run_model("reorder", seen, validation_cutoff, strength)
        row = {"strength": strength}
        for name, part in (("next", nxt), ("reorder", reo)):
            row |= {f"{name}_n": len(part), f"{name}_mdae": part["model"].median(), f"{name}_mae": part["model"].mean()}
            row[f"{name}_inside"] = part["inside"].mean()
        rows.append(row)
        print(
            f"| {strength:g} | {row['next_n']:,} | {row['next_mdae']:.1f} | {row['next_mae']:.2f} | "
            f"{row['next_inside']:.0%} | {row['reorder_n']:,} | {row['reorder_mdae']:.1f} | "
            f"{row['reorder_mae']:.2f} | {row['reorder_inside']:.0%} |"
        )
    table_ = pd.DataFrame(rows)
    chosen = []
    for name in ("next", "reorder"):
        best = table_.sort_values([f"{name}_mdae", f"{name}_mae"], kind="stable").iloc[0]
        chosen.append(float(best["strength"]))
    print(f"\nChosen on validation: next order prior_strength={chosen[0]:g}, reorder prior_strength={chosen[1]:g}.\n")
    return chosen[0], chosen[1]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def latency(path: Path, lookups: int) -> None:
    from sqlalchemy import select

    from analytics.customers.refresh import refresh_scores
    from analytics.ingest.online_retail import import_online_retail
    from analytics.store.db import make_engine, make_session_factory
    from analytics.store.migrate import upgrade
    from analytics.store.models import Customer, Order, OrderStatus
    from analytics.store.uow import SqlAlchemyUnitOfWork
    from analytics.usecases.forecasts import (
        FORECAST_CACHE_SECONDS,
        clear_forecast_caches,
        delivery_estimate,
        next_order,
        reorder_advice,
    )

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'store.sqlite3'}"
        engine = make_engine(url)
        upgrade(engine)
        uow = SqlAlchemyUnitOfWork(make_session_factory(engine))
        now = datetime.now().replace(microsecond=0)
        started = time.perf_counter()
        import_online_retail(uow, path, shift_to_now=True, now=now)
        refresh_scores(uow)
        print(f"Full store (SQLite, temp file): import + refresh {time.perf_counter() - started:.0f} s.\n")
        with uow:
            customers = list(uow.session.scalars(select(Customer.id)))
            orders = uow.orders.count()
            open_orders = list(
                uow.session.scalars(
                    select(Order.number).where(Order.status.in_([OrderStatus.PROCESSING, OrderStatus.SHIPPED]))
                )
            )
        rng = np.random.default_rng(42)
        sample = [int(c) for c in rng.choice(customers, size=min(lookups, len(customers)), replace=False)]
        cold = {}
        clear_forecast_caches()
        t = time.perf_counter()
        next_order(uow, sample[0], now=now)
        cold["population intervals (first next_order / reorder_advice)"] = time.perf_counter() - t
        t = time.perf_counter()
        delivery_estimate(uow, open_orders[0], now=now)
        cold["lead-time model (first delivery_estimate)"] = time.perf_counter() - t
        names = ("next_order", "reorder_advice", "delivery_estimate")
        timings: dict[str, list[float]] = {name: [] for name in names}
        cpu: dict[str, list[float]] = {name: [] for name in names}

        def timed(name: str, call: Callable[[], object]) -> None:
            wall, used = time.perf_counter(), time.process_time()
            call()
            cpu[name].append((time.process_time() - used) * 1000)
            timings[name].append((time.perf_counter() - wall) * 1000)

        for cid in sample:
            timed("next_order", lambda: next_order(uow, cid, now=now))  # noqa: B023
            timed("reorder_advice", lambda: reorder_advice(uow, cid, now=now))  # noqa: B023
        for i in range(lookups):
            number = open_orders[i % len(open_orders)]
            timed("delivery_estimate", lambda: delivery_estimate(uow, number, now=now))  # noqa: B023
        engine.dispose()
    print(f"{len(customers):,} customers, {orders:,} orders, {len(open_orders)} open; {lookups} lookups each.\n")
    print(
        f"Load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
        "(wall time includes waiting for a CPU).\n"
    )
    print("| service | wall p50 (ms) | wall p95 (ms) | CPU p50 (ms) | CPU p95 (ms) |\n|---|---:|---:|---:|---:|")
    for name, values in timings.items():
        print(
            f"| `{name}` | {percentile(values, 50):.1f} | {percentile(values, 95):.1f} | "
            f"{percentile(cpu[name], 50):.1f} | {percentile(cpu[name], 95):.1f} |"
        )
    print()
    for what, seconds in cold.items():
        print(f"- cold, once per process and {FORECAST_CACHE_SECONDS:.0f} s: {what}: {seconds:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--cutoff", default="2011-09-01")
    parser.add_argument(
        "--prior-strength", type=float, default=None, help="both models' strength (default: the library's)"
    )
    parser.add_argument("--tune", action="store_true", help="choose each model's strength on validation first")
    parser.add_argument("--validation-cutoff", default=None, help="default: three months before --cutoff")
    parser.add_argument("--grid", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0])
    parser.add_argument("--latency", action="store_true", help="also time the services on a full temp store")
    parser.add_argument("--lookups", type=int, default=300)
    args = parser.parse_args()
    if not args.file.exists():
        sys.exit(f"{args.file} not found: pass --file or set CRM_FULL_DATASET_PATH.")
    if args.tune and args.prior_strength is not None:
        sys.exit("--tune chooses the prior strength; drop --prior-strength.")
    if any(not np.isfinite(g) or g < 0 for g in args.grid):
        sys.exit("--grid values must be numbers >= 0.")
    try:
        cutoff = pd.Timestamp(args.cutoff)
        three_months_before = cutoff - pd.DateOffset(months=3)
        validation = pd.Timestamp(args.validation_cutoff) if args.validation_cutoff else three_months_before
    except ValueError as exc:
        sys.exit(f"bad cutoff date ({exc}); use YYYY-MM-DD.")
    from threadpoolctl import threadpool_limits

    from analytics.forecast.replenishment import NextOrderModel, ReorderModel

    with threadpool_limits(1):
        print(f"# Next order and reorder backtest ({datetime.now():%Y-%m-%d})\n")
        lines = customer_lines(args.file)
        if args.tune:
            next_strength, reorder_strength = tune(lines, cutoff, validation, args.grid)
        elif args.prior_strength is not None:
            next_strength = reorder_strength = args.prior_strength
        else:
            next_strength = NextOrderModel().prior_strength
            reorder_strength = ReorderModel().prior_strength
        backtest(lines, cutoff, next_strength, reorder_strength)
        if args.latency:
            latency(args.file, args.lookups)


if __name__ == "__main__":
    main()
