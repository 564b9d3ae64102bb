"""Benchmark: "buys again in the next 90 days" on the full UCI Online Retail file.

    .venv/bin/python bench/churn_eval.py [--file PATH] [--cutoff 2011-09-01] [--horizon 90]

Imports the file into a temporary SQLite store (migrations, then the importer
without the demo time shift, so dates are the original 2010–2011 ones), loads
the ``orders`` and ``lines`` frames and runs
:func:`analytics.customers.churn.compare.compare_models` at three cutoffs one
horizon apart: every model's settings (``GRIDS``) are fitted on features at
cutoff - 180 days and chosen by ROC-AUC on features at cutoff - 90 days
(labels up to the cutoff), the decision threshold of every model and baseline
is the one with the best F1 there, and the chosen model is refitted on the
cutoff - 90 days set and scored once on features at the cutoff with labels in
the 90 days after it (the data end on 2011-12-09). Prints Markdown for
BENCHMARKS.md: the test table, the validation scores of every setting tried,
and an example explanation.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT.parent / "shared" / "datasets" / "online_retail_uci" / "online_retail_all_rows.csv.gz"


def load_online_retail(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """The ``orders`` and ``lines`` frames of the file, through a temporary SQLite store; and the seconds taken."""
    if not path.exists():
        sys.exit(
            f"error: {path} not found. This benchmark needs the full UCI Online Retail file "
            "(../shared/datasets/online_retail_uci/online_retail_all_rows.csv.gz, see its README.txt); "
            "pass its path with --file."
        )
    sys.path.insert(0, str(ROOT))
    from analytics.ingest.online_retail import import_online_retail
    from analytics.store.db import make_engine, make_session_factory
    from analytics.store.frames import load_lines, load_orders
    from analytics.store.migrate import upgrade
    from analytics.store.uow import SqlAlchemyUnitOfWork

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/retail.sqlite3")
        upgrade(engine)
        uow = SqlAlchemyUnitOfWork(make_session_factory(engine))
        import_online_retail(uow, path)
        orders = load_orders(uow)
        lines = load_lines(uow)
        engine.dispose()
    return orders, lines, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--cutoff", default="2011-09-01")
    parser.add_argument("--horizon", type=int, default=90)
    args = parser.parse_args()
    orders, lines, loaded = load_online_retail(args.file)

    import numpy as np
    import sklearn

    from analytics.core.errors import InvalidInput
    from analytics.customers.churn.compare import compare_models
    from analytics.customers.churn.features import time_split
    from analytics.customers.churn.model import ChurnModel
    from analytics.customers.clv.bgnbd import BetaGeoModel
    from analytics.customers.clv.summary import rfm_summary

    fitted: dict[pd.Timestamp, tuple[pd.DataFrame, BetaGeoModel]] = {}

    def bgnbd_at(at: pd.Timestamp) -> tuple[pd.DataFrame, BetaGeoModel]:
        """BG/NBD fitted on the orders up to ``at`` only (cached per cutoff). Unpenalised first; if the
        estimates diverge (six months of data can be too few), the lightest log-penalty that converges,
        as the analytics refresh does."""
        if at not in fitted:
            summary = rfm_summary(orders[orders["placed_at"] <= at], at, time_unit="D")
            for penalty in (0.0, 0.001, 0.01, 0.1):
                try:
                    model = BetaGeoModel(log_penalizer=penalty)
                    fitted[at] = summary, model.fit(summary["frequency"], summary["recency"], summary["T"])
                    break
                except InvalidInput:
                    continue
            else:
                sys.exit(f"error: BG/NBD does not converge on the orders up to {at:%Y-%m-%d}, even penalised.")
        return fitted[at]

    def bgnbd_p_alive(X: pd.DataFrame, at: pd.Timestamp) -> np.ndarray:
        """P(alive) of each customer at ``at``."""
        summary, model = bgnbd_at(at)
        s = summary.reindex(X.index)
        return np.asarray(model.probability_alive(s["frequency"], s["recency"], s["T"]), dtype=float)

    def bgnbd_expected(X: pd.DataFrame, at: pd.Timestamp) -> np.ndarray:
        """The same model's expected purchases in the horizon, as P(at least one) = 1 - exp(-E[N])."""
        summary, model = bgnbd_at(at)
        s = summary.reindex(X.index)
        expected = model.conditional_expected_purchases(args.horizon, s["frequency"], s["recency"], s["T"])
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
        f"Settings fitted on features at {info['fit_cutoff']:%Y-%m-%d} ({info['n_fit']:,} customers, "
        f"{info['fit_positive_rate']:.1%} buy again) and chosen by ROC-AUC on features at "
        f"{info['validation_cutoff']:%Y-%m-%d} ({info['n_validation']:,} customers, "
        f"{info['train_positive_rate']:.1%} buy again), where each threshold is the one with the best F1. "
        f"Refitted there and tested once on features at {info['test_cutoff']:%Y-%m-%d} "
        f"({info['n_test']:,} customers, {info['test_positive_rate']:.1%} buy again). "
        "Metrics for the class 'buys again'; PR-AUC is average precision."
    )
    print()
    print("| model | chosen settings | threshold | accuracy | precision | recall | F1 | ROC-AUC | PR-AUC | fit (s) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in table.iterrows():
        fit = "–" if row["fit_seconds"] != row["fit_seconds"] else f"{row['fit_seconds']:.2f}"
        print(
            f"| {name} | {row['settings'] or '–'} | {row['threshold']:.3f} | {row['accuracy']:.3f} | "
            f"{row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | {row['roc_auc']:.3f} | "
            f"{row['pr_auc']:.3f} | {fit} |"
        )
    split = time_split(orders, args.cutoff, horizon_days=args.horizon, lines=lines)
    from sklearn.metrics import f1_score

    fixed = f1_score(split.y_test, (split.X_test["recency_days"] <= args.horizon).astype(int))
    rule = table.loc["recency rule"]
    models = table.loc[[n for n in table.index if n in {"logistic", "tree", "forest", "boosting", "svm"}]]
    best_f1, best_auc = models["f1"].idxmax(), models["roc_auc"].idxmax()
    print()
    print(
        f"Recency rule at its natural threshold (bought in the last {args.horizon} days): F1 {fixed:.3f}. "
        f"Best model F1: {best_f1} {models.loc[best_f1, 'f1']:.3f} vs the rule's {rule['f1']:.3f} "
        f"({'beats' if models.loc[best_f1, 'f1'] > rule['f1'] else 'does not beat'} it); best ROC-AUC: {best_auc} "
        f"{models.loc[best_auc, 'roc_auc']:.3f} vs {rule['roc_auc']:.3f} "
        f"({'beats' if models.loc[best_auc, 'roc_auc'] > rule['roc_auc'] else 'does not beat'} it)."
    )
    penalties = ", ".join(f"{at:%Y-%m-%d}: {m.log_penalizer}" for at, (_, m) in sorted(fitted.items()))
    print()
    print(f"BG/NBD log-penalty used per cutoff (0 = none): {penalties}.")
    print()
    print("Validation ROC-AUC of every setting tried (the best per model was kept):")
    print()
    print("| model | settings | validation ROC-AUC |")
    print("|---|---|---:|")
    for record in info["tuning"]:
        print(f"| {record['model']} | {record['settings']} | {record['val_roc_auc']:.3f} |")
    print()
    print(
        f"Import into SQLite and loading the frames {loaded:.1f} s, features + tuning + fits + scoring "
        f"{compared:.1f} s; Python {platform.python_version()}, scikit-learn {sklearn.__version__}, "
        f"{platform.machine()}, single-threaded."
    )

    # One worked explanation: the test customer the forest finds most at risk, among those with 5+ orders.
    model = ChurnModel("forest", horizon_days=args.horizon, model_params=info["chosen_settings"]["forest"])
    model.fit(split.X_train, split.y_train)
    regulars = split.X_test[split.X_test["frequency"] >= 5]
    customer = model.churn_risk(regulars).idxmax()
    risk = float(model.churn_risk(regulars.loc[[customer]]).iloc[0])
    start = time.perf_counter()
    reasons = model.explain(regulars.loc[[customer]], top=3, raising_only=True)["reason"].tolist()
    explained = time.perf_counter() - start
    print()
    print(
        f"Example (forest, explained in {explained * 1000:.0f} ms): customer {customer}, churn risk {risk:.2f}: "
        + "; ".join(reasons)
        + "."
    )


if __name__ == "__main__":
    main()
