"""Benchmark: the analytics refresh and chat-time lookups on the real store.

    .venv/bin/python bench/analytics_store.py [--runs 3] [--lookups 1000] [--file PATH] [--postgres URL]

For SQLite and PostgreSQL: import the full Online Retail file into a fresh
store, run `refresh_scores` --runs times (median), then time `loyalty_status`,
`segment_of` and `best_offer` for --lookups random customers (p50/p95, one
client, warm connection pool). Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_FILE = ROOT.parent / "shared" / "datasets" / "online_retail_uci" / "online_retail_all_rows.csv.gz"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(url: str, path: Path, runs: int, lookups: int) -> dict[str, object]:
    from sqlalchemy import select

    from analytics.customers.offers import seed_offers
    from analytics.customers.refresh import refresh_scores
    from analytics.ingest.online_retail import import_online_retail
    from analytics.store.db import make_engine, make_session_factory
    from analytics.store.migrate import upgrade
    from analytics.store.models import CustomerScore
    from analytics.store.uow import SqlAlchemyUnitOfWork
    from analytics.usecases.insights import best_offer, loyalty_status, segment_of

    engine = make_engine(url)
    upgrade(engine)
    uow = SqlAlchemyUnitOfWork(make_session_factory(engine))
    import_online_retail(uow, path, shift_to_now=True)
    with uow:
        seed_offers(uow)
        uow.commit()
    refreshes = []
    result = None
    for _ in range(runs):
        started = time.perf_counter()
        result = refresh_scores(uow)
        refreshes.append(time.perf_counter() - started)
    assert result is not None
    with uow:
        ids = list(uow.session.scalars(select(CustomerScore.customer_id)))
    rng = random.Random(42)
    sample = [rng.choice(ids) for _ in range(lookups)]
    timings: dict[str, list[float]] = {"loyalty_status": [], "segment_of": [], "best_offer": []}
    for cid in sample[:20]:
        loyalty_status(uow, cid)
    for cid in sample:
        for name, call in (
            ("loyalty_status", loyalty_status),
            ("segment_of", segment_of),
            ("best_offer", best_offer),
        ):
            started = time.perf_counter()
            call(uow, cid)  # type: ignore[operator]
            timings[name].append((time.perf_counter() - started) * 1000)
    engine.dispose()
    return {
        "customers": len(result.scores),
        "refresh_median_s": statistics.median(refreshes),
        "refresh_runs": refreshes,
        "steps": result.seconds,
        "lookups": {k: (statistics.median(v), percentile(v, 0.95)) for k, v in timings.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    if not args.file.exists():
        sys.exit(f"error: {args.file} not found; pass --file with the full Online Retail CSV.")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite"] = measure(f"sqlite:///{tmp}/store.sqlite3", args.file, args.runs, args.lookups)
    admin = create_engine(make_url(args.postgres).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    name = f"crm_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(args.postgres).set(drivername="postgresql+psycopg", database=name)
        results["PostgreSQL"] = measure(url.render_as_string(hide_password=False), args.file, args.runs, args.lookups)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    print(f"\nAnalytics refresh and lookups on the full Online Retail store, {date.today()}\n")
    print("| store | customers | refresh median s (runs) | load | rfm | segments | loyalty | clv | churn | write |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for store, r in results.items():
        steps = r["steps"]
        runs = ", ".join(f"{v:.1f}" for v in r["refresh_runs"])  # type: ignore[attr-defined]
        cells = " | ".join(
            f"{steps.get(k, 0):.2f}" for k in ("load", "rfm", "segments", "loyalty", "clv", "churn", "write")
        )  # type: ignore[attr-defined]
        print(f"| {store} | {r['customers']:,} | {r['refresh_median_s']:.1f} ({runs}) | {cells} |")
    print(f"\n| store | lookup | p50 ms | p95 ms |  ({args.lookups:,} random customers, one client)")
    print("|---|---|---:|---:|")
    for store, r in results.items():
        for name, (p50, p95) in r["lookups"].items():  # type: ignore[attr-defined]
            print(f"| {store} | {name} | {p50:.2f} | {p95:.2f} |")


if __name__ == "__main__":
    main()
