"""Benchmark: next-quarter spend per customer on the full UCI Online Retail file.

    .venv/bin/python bench/spend_eval.py [--file PATH] [--cutoff 2011-09-01] [--horizon 90]

Loads the file as ``bench/churn_eval.py`` does (a temporary SQLite store, the
original 2010–2011 dates) and runs
:func:`analytics.customers.spend.compare_spend_models`: every setting of the
linear (ridge penalty) and polynomial (degree, ridge penalty) regressions is
fitted on the customer features at cutoff - 180 days and scored by MSE on the
features at cutoff - 90 days against the spend up to the cutoff; the best is
refitted there and scored once on the features at the cutoff against the
spend in the 90 days after it. Baselines: last quarter's spend, and the
training mean. Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.churn_eval import DEFAULT_FILE, load_online_retail  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--cutoff", default="2011-09-01")
    parser.add_argument("--horizon", type=int, default=90)
    args = parser.parse_args()
    orders, lines, loaded = load_online_retail(args.file)

    import sklearn
    from threadpoolctl import threadpool_limits

    from analytics.customers.spend import compare_spend_models

    start = time.perf_counter()
    with threadpool_limits(limits=1):  # a shared two-core machine; the fits are small
        table = compare_spend_models(orders, args.cutoff, horizon_days=args.horizon, lines=lines)
    compared = time.perf_counter() - start
    info = table.attrs

    print(f"## Next-quarter spend (issue 16; {date.today():%Y-%m-%d}, `bench/spend_eval.py`)")
    print()
    print(
        f"Online Retail ({len(orders):,} orders of {orders['customer_id'].nunique():,} customers). Target: each "
        f"customer's spend in the {args.horizon} days after the features' cutoff (0 if they do not come back). "
        f"Settings fitted on features at {info['fit_cutoff']:%Y-%m-%d} ({info['n_fit']:,} customers) and chosen by "
        f"MSE on features at {info['validation_cutoff']:%Y-%m-%d} ({info['n_validation']:,} customers, spend up "
        f"to {info['test_cutoff']:%Y-%m-%d}); refitted there and tested once on features at "
        f"{info['test_cutoff']:%Y-%m-%d} ({info['n_test']:,} customers, {info['test_share_spending']:.1%} spend "
        f"something, mean £{info['test_mean_spend']:,.0f}; training mean £{info['train_mean_spend']:,.0f})."
    )
    print()
    print("| model | chosen settings | validation MSE | test MSE | RMSE (£) | MAE (£) | R² |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, row in table.iterrows():
        print(
            f"| {name} | {row['settings'] or '–'} | {row['val_mse']:,.0f} | {row['mse']:,.0f} | "
            f"{row['rmse']:,.0f} | {row['mae']:,.0f} | {row['r2']:.3f} |"
        )
    print()
    print("Validation scores of every setting tried (the lowest MSE per model was kept):")
    print()
    print("| model | settings | validation MSE | MAE (£) | R² |")
    print("|---|---|---:|---:|---:|")
    for record in info["tuning"]:
        print(
            f"| {record['model']} | {record['settings']} | {record['val_mse']:,.0f} | {record['val_mae']:,.0f} | "
            f"{record['val_r2']:.3f} |"
        )
    print()
    print(
        f"Import and loading the frames {loaded:.1f} s, features + tuning + fits + scoring {compared:.1f} s; "
        f"Python {platform.python_version()}, scikit-learn {sklearn.__version__}, {platform.machine()}, "
        "single-threaded."
    )


if __name__ == "__main__":
    main()
