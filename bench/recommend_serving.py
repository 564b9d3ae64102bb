"""Benchmark: serving latency of the recommendation services on the full store.

    .venv/bin/python bench/recommend_serving.py [--file PATH] [--customers 1000]

Imports the full Online Retail file into a temporary SQLite store, scores
customers, publishes the production models (`refresh_models`), then times
`recommend_for` (top-5 with reasons, diversity filter, customer check in the
store), `similar_to` and `bought_together` for random customers/products:
p50/p95 in milliseconds, one client, models already loaded.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_FILE = ROOT.parent / "shared" / "datasets" / "online_retail_uci" / "online_retail_all_rows.csv.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--customers", type=int, default=1000)
    args = parser.parse_args()
    if not args.file.exists():
        sys.exit(f"error: {args.file} not found; pass --file with the full Online Retail CSV.")

    from analytics.customers.refresh import refresh_scores
    from analytics.ingest.online_retail import import_online_retail
    from analytics.recommend.serving import refresh_models
    from analytics.store.artifacts import ArtifactStore
    from analytics.store.db import make_engine, make_session_factory
    from analytics.store.migrate import upgrade
    from analytics.store.uow import SqlAlchemyUnitOfWork
    from analytics.usecases.recommendations import bought_together, recommend_for, similar_to

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/store.sqlite3")
        upgrade(engine)
        uow = SqlAlchemyUnitOfWork(make_session_factory(engine))
        import_online_retail(uow, args.file)
        refresh_scores(uow)
        artifacts = ArtifactStore(Path(tmp) / "artifacts")
        info = refresh_models(uow, artifacts)
        bundle_customers = list(range(1, 4363))
        skus = list(uow_skus(uow))
        rng = random.Random(42)
        customers = [rng.choice(bundle_customers) for _ in range(args.customers)]
        picked = [rng.choice(skus) for _ in range(args.customers)]
        recommend_for(uow, customers[0], artifacts=artifacts)  # load the artifacts once
        timings: dict[str, list[float]] = {"recommend_for": [], "similar_to": [], "bought_together": []}
        for cid, sku in zip(customers, picked):
            start = time.perf_counter()
            recommend_for(uow, cid, n=5, artifacts=artifacts)
            timings["recommend_for"].append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            similar_to(sku, n=5, artifacts=artifacts)
            timings["similar_to"].append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            bought_together([sku], n=5, artifacts=artifacts)
            timings["bought_together"].append((time.perf_counter() - start) * 1000)
        engine.dispose()

    print(f"\nRecommendation serving on the full Online Retail store, {date.today()} (SQLite; models fitted in "
          f"{info['seconds']['fit']:.1f} s, basket rules in {info['seconds']['baskets']:.1f} s)\n")  # fmt: skip
    print("| service | p50 ms | p95 ms |")
    print("|---|---:|---:|")
    for name, values in timings.items():
        print(f"| {name} | {np.percentile(values, 50):.2f} | {np.percentile(values, 95):.2f} |")


def uow_skus(uow: object) -> list[str]:
    from sqlalchemy import select

    from analytics.store.models import Product

    with uow:  # type: ignore[attr-defined]
        return list(uow.session.scalars(select(Product.sku)))  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
