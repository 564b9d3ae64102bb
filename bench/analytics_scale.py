"""Benchmark: the whole analytics refresh on a synthetic 1M-customer shop.

    .venv/bin/python bench/analytics_scale.py [--customers 1000000] [--lines-per-customer 10]

Generates orders and lines (bench/synthetic.py: 1M customers, ~10M order
lines), then runs the refresh pipeline in memory (analytics.customers.refresh.compute_scores:
RFM, k-means segments, loyalty tiers, BG/NBD + Gamma-Gamma, churn model fit
and scoring; churn explanations off) and prints the time of each step and the
process's peak memory.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--lines-per-customer", type=float, default=10.0)
    args = parser.parse_args()

    from analytics.customers.refresh import compute_scores
    from bench.synthetic import synthetic_shop

    started = time.perf_counter()
    orders, lines = synthetic_shop(args.customers, args.lines_per_customer)
    generated = time.perf_counter() - started
    print(f"generated {len(orders):,} orders and {len(lines):,} lines in {generated:.1f} s", file=sys.stderr)

    started = time.perf_counter()
    result = compute_scores(
        orders, lines, explain=False, progress=lambda step, *_: print(f"  {step} ...", file=sys.stderr)
    )
    total = time.perf_counter() - started
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    steps = {k: v for k, v in result.seconds.items() if k != "load"}
    print(f"\nAnalytics refresh at scale, {date.today()}: {args.customers:,} customers, {len(orders):,} orders, "
          f"{len(lines):,} order lines\n")  # fmt: skip
    print("| step | seconds |")
    print("|---|---:|")
    for step, seconds in steps.items():
        print(f"| {step} | {seconds:.1f} |")
    print(f"| **total (excl. data generation)** | **{total:.1f}** |")
    print(f"\npeak memory (whole process, incl. the generated data): {peak_gib:.2f} GiB")
    print(f"k-means chose k={int(result.cluster_metrics.get('n_clusters', 0))}; BG/NBD params {result.clv_params}")


if __name__ == "__main__":
    main()
