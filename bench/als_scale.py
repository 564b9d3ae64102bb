"""Benchmark: ALS on a synthetic 1M customers x 100k products x 20M interactions.

    .venv/bin/python bench/als_scale.py [--users 1000000] [--items 100000] [--nnz 20000000] [--factors 64]

Interactions follow a Zipf-like product popularity and a long-tailed number of
purchases per customer (seeded). Fits analytics.recommend.ALSRecommender (implicit's
CPU ALS, 15 iterations, 2 threads) through the project's Interactions class and
reports wall time per phase and the process's peak memory. Goal: under 5 minutes.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--nnz", type=int, default=20_000_000)
    parser.add_argument("--factors", type=int, default=64)
    args = parser.parse_args()

    from analytics.recommend import ALSRecommender, Interactions

    rng = np.random.default_rng(11)
    started = time.perf_counter()
    item_weights = 1.0 / np.arange(1, args.items + 1) ** 0.9
    item_weights /= item_weights.sum()
    user_weights = rng.pareto(1.5, args.users) + 1.0
    user_weights /= user_weights.sum()
    users = rng.choice(args.users, size=args.nnz, p=user_weights).astype(np.int32)
    items = rng.choice(args.items, size=args.nnz, p=item_weights).astype(np.int32)
    values = np.log1p(rng.integers(1, 13, args.nnz)).astype(np.float32)
    matrix = sp.csr_matrix((values, (users, items)), shape=(args.users, args.items))
    generated = time.perf_counter() - started

    started = time.perf_counter()
    interactions = Interactions(matrix, np.arange(args.users), np.arange(args.items))
    built = time.perf_counter() - started

    started = time.perf_counter()
    model = ALSRecommender(factors=args.factors, regularization=10.0, alpha=20.0, iterations=15, num_threads=2)
    model.fit(interactions)
    fitted = time.perf_counter() - started

    started = time.perf_counter()
    batch = model.recommend_batch(np.arange(1000), 10)
    served = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

    shape = f"{args.users:,} users x {args.items:,} items"
    nnz = f"{interactions.matrix.nnz:,} distinct interactions ({args.nnz:,} drawn)"
    print(f"\nALS at scale, {date.today()}: {shape}, {nnz}, {args.factors} factors\n")
    print("| phase | seconds |")
    print("|---|---:|")
    print(f"| generate the matrix | {generated:.1f} |")
    print(f"| build Interactions (id maps, checks) | {built:.1f} |")
    print(f"| **ALS fit, 15 iterations** | **{fitted:.1f}** |")
    print(f"| top-10 for 1,000 users (batch) | {served:.2f} |")
    print(f"\npeak memory: {peak:.2f} GiB; {len(batch):,} recommendations in the batch")


if __name__ == "__main__":
    main()
