"""Benchmark: "buys again in the next 90 days" on the full UCI Online Retail file.

    .venv/bin/python bench/churn_eval.py [--file PATH] [--cutoff 2011-09-01] [--horizon 90]

Imports the file into a temporary SQLite store (migrations, then the importer
without the demo time shift, so dates are the original 2010–2011 ones), loads
the ``orders`` and ``lines`` frames and runs
:func:`analytics.customers.churn.compare_models`: train on features at cutoff - 90 days
with labels in the 90 days up to the cutoff, test on features at the cutoff
with labels in the 90 days after it (the data end on 2011-12-09). Prints a
Markdown table for BENCHMARKS.md, with the date, and an example explanation.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT.parent / "shared" / "datasets" / "online_retail_uci" / "online_retail_all_rows.csv.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--cutoff", default="2011-09-01")
    parser.add_argument("--horizon", type=int, default=90)
    args = parser.parse_args()
    if not args.file.exists():
        sys.exit(f"error: {args.file} not found; pass --file with the full Online Retail CSV.")

    sys.path.insert(0, str(ROOT))
    import numpy as np
    import pandas as pd
    import sklearn

    from analytics.customers.churn.compare import compare_models
    from analytics.customers.churn.features import time_split
    from analytics.customers.churn.model import ChurnModel
    from analytics.ingest.online_retail import import_online_retail
    from analytics.store.db import make_engine, make_session_factory
    from analytics.store.frames import load_lines, load_orders
    from analytics.store.migrate import upgrade
    from analytics.store.uow import SqlAlchemyUnitOfWork

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/churn.sqlite3")
        upgrade(engine)
        uow = SqlAlchemyUnitOfWork(make_session_factory(engine))
        start = time.perf_counter()
        import_online_retail(uow, args.file)
        imported = time.perf_counter() - start
        start = time.perf_counter()
        orders = load_orders(uow)
        lines = load_lines(uow)
        loaded = time.perf_counter() - start
        engine.dispose()

    from analytics.customers.clv.bgnbd import BetaGeoModel
    from analytics.customers.clv.summary import rfm_summary

    cutoff = pd.Timestamp(args.cutoff)

    before = orders[orders["placed_at"] <= cutoff]
    summary = rfm_summary(before, cutoff, time_unit="D")
    bgnbd = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])

    def bgnbd_p_alive(X: pd.DataFrame) -> np.ndarray:
        """BG/NBD fitted on the orders up to the cutoff: P(alive) of each test customer."""
        s = summary.reindex(X.index)
        return np.asarray(bgnbd.probability_alive(s["frequency"], s["recency"], s["T"]), dtype=float)

    def bgnbd_expected(X: pd.DataFrame) -> np.ndarray:
        """The same model's expected purchases in the horizon, as P(at least one) = 1 - exp(-E[N])."""
        s = summary.reindex(X.index)
        expected = bgnbd.conditional_expected_purchases(args.horizon, s["frequency"], s["recency"], s["T"])
        return 1.0 - np.exp(-np.asarray(expected, dtype=float))

    start = time.perf_counter()
    table = compare_models(
        orders,
        args.cutoff,
        horizon_days=args.horizon,
        lines=lines,
        baselines={"BG/NBD P(alive)": bgnbd_p_alive, "BG/NBD expected purchases": bgnbd_expected},
    )
    compared = time.perf_counter() - start
    info = table.attrs

    print(f"## Churn: buys again within {args.horizon} days ({date.today():%Y-%m-%d})")
    print()
    print(
        f"Online Retail ({len(orders):,} orders of {orders['customer_id'].nunique():,} customers, "
        f"{orders['placed_at'].min():%Y-%m-%d} to {orders['placed_at'].max():%Y-%m-%d}). "
        f"Train: features at {info['train_cutoff']:%Y-%m-%d}, {info['n_train']:,} customers, "
        f"{info['train_positive_rate']:.1%} buy again. Test: features at {info['test_cutoff']:%Y-%m-%d}, "
        f"{info['n_test']:,} customers, {info['test_positive_rate']:.1%} buy again. "
        "Threshold 0.5 on P(buys again); metrics for the class 'buys again'."
    )
    print()
    print("| model | accuracy | precision | recall | F1 | ROC-AUC | fit (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, row in table.iterrows():
        fit = "–" if row["fit_seconds"] != row["fit_seconds"] else f"{row['fit_seconds']:.2f}"
        print(
            f"| {name} | {row['accuracy']:.3f} | {row['precision']:.3f} | {row['recall']:.3f} | "
            f"{row['f1']:.3f} | {row['roc_auc']:.3f} | {fit} |"
        )
    print()
    print(
        f"Import into SQLite {imported:.1f} s, loading the frames {loaded:.1f} s, features + fits + scoring "
        f"{compared:.1f} s; Python {platform.python_version()}, scikit-learn {sklearn.__version__}, "
        f"{platform.machine()}, single-threaded."
    )

    # One worked explanation: the test customer the forest finds most at risk, among those with 5+ orders.
    split = time_split(orders, args.cutoff, horizon_days=args.horizon, lines=lines)
    model = ChurnModel("forest", horizon_days=args.horizon).fit(split.X_train, split.y_train)
    regulars = split.X_test[split.X_test["frequency"] >= 5]
    customer = model.churn_risk(regulars).idxmax()
    risk = float(model.churn_risk(regulars.loc[[customer]]).iloc[0])
    start = time.perf_counter()
    reasons = model.explain(regulars.loc[[customer]], top=3)["reason"].tolist()
    explained = time.perf_counter() - start
    print()
    print(
        f"Example (forest, explained in {explained * 1000:.0f} ms): customer {customer}, churn risk {risk:.2f}: "
        + "; ".join(reasons)
        + "."
    )


if __name__ == "__main__":
    main()
