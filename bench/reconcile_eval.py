"""Benchmark: product, category and shop demand forecasts before and after reconciliation.

    nice -n 5 .venv/bin/python bench/reconcile_eval.py [--products 200] [--measure units]

Data: the full UCI Online Retail file (``CRM_FULL_DATASET_PATH``) imported
into a throw-away SQLite store; weekly series built by
``analytics.forecast.demand_series`` as ``crm forecast demand`` builds them
(net of cancellations). The hierarchy: the ``--products`` products with the
most revenue before the first validation origin among those sold in the
file's first week (so every product has the whole history and the backtest
windows line up), their categories (sums of those products) and the shop
(the sum of all of them).

At each origin every node is forecast on its own history exactly as the
demand refresh does (:func:`analytics.forecast.reconcile.base_forecasts`:
the products as one group choosing one combination, each category and the
shop their own), 8 weeks ahead; the base forecasts' backtest errors on the
history are the residuals of the ``wls`` and ``mint-shrink`` methods. Each
method of :data:`~analytics.forecast.reconcile.METHODS` reconciles the same
base forecasts, and every node is scored against what was sold: MASE
(scaled by the in-sample naive MAE of the node's history, as
``bench/retail_forecast.py`` does weekly) and the M4 sMAPE, averaged per
level over nodes and origins.

Choice on validation: two origins, 28 March and 25 April 2011, whose 8-week
windows end by the first test origin; the method with the lowest mean over
the three levels of the level's MASE is chosen. Test: the five weekly
origins of ``bench/retail_forecast.py`` (20 June to 10 October 2011, 4 weeks
apart), scored once, every method in the same run so the base forecasts are
shared. Coherence is checked on every reconciled forecast (categories equal
the sums of their products, the shop the sum of the categories).

Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics.core.settings import get_settings  # noqa: E402
from analytics.forecast import smape  # noqa: E402
from analytics.forecast.demand_series import build_series, load_sales  # noqa: E402
from analytics.forecast.reconcile import METHODS, HierarchyReconciler, aggregate, base_forecasts  # noqa: E402

HORIZON = 8
VALIDATION_ORIGINS = pd.DatetimeIndex(["2011-03-28", "2011-04-25"])
#: The weekly origins of bench/retail_forecast.py.
TEST_ORIGINS = pd.date_range(end="2011-10-10", periods=5, freq="28D")
LEVELS = ("shop", "category", "product")
BASE = "base (not reconciled)"


def naive_scale(history: np.ndarray) -> float:
    value = float(np.mean(np.abs(np.diff(history)))) if len(history) > 1 else 0.0
    return value if value > 0 else (float(np.mean(np.abs(history))) or 1.0)


def incoherence(frame: pd.DataFrame, hierarchy: pd.Series) -> float:
    """Largest gap, relative to the shop, between a total and the sum of its parts."""
    products = frame.xs("product", axis=1, level="level")
    categories = frame.xs("category", axis=1, level="level")
    by_category = products.T.groupby(hierarchy.reindex(products.columns).to_numpy()).sum().T
    gaps = [
        (categories[by_category.columns] - by_category).abs().to_numpy().max(),
        float((frame[("shop", "all")] - categories.sum(axis=1)).abs().max()),
    ]
    return float(max(gaps) / max(float(frame[("shop", "all")].abs().mean()), 1e-12))


def run_origins(
    nodes: pd.DataFrame, hierarchy: pd.Series, origins: pd.DatetimeIndex
) -> tuple[dict[str, dict[str, dict[str, list[float]]]], dict[str, float], list[float], list[float]]:
    """Scores per method, level and metric; worst incoherence per method; seconds per origin; MinT shrinkage."""
    scores: dict[str, dict[str, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    worst: dict[str, float] = defaultdict(float)
    seconds, shrinkage = [], []
    for origin in origins:
        history = nodes[nodes.index < origin]
        actual = nodes[(nodes.index >= origin) & (nodes.index < origin + pd.Timedelta(weeks=HORIZON))]
        if len(actual) < HORIZON:
            raise SystemExit(f"error: fewer than {HORIZON} weeks after the origin {origin:%Y-%m-%d}.")
        start = time.perf_counter()
        base, residuals = base_forecasts({node: history[node] for node in nodes.columns}, "W", 1, HORIZON)
        base = base[list(nodes.columns)]
        base.columns = nodes.columns
        results = {BASE: base}
        for method in METHODS:
            model = HierarchyReconciler(method).fit(hierarchy.reset_index(), residuals)
            results[method] = model.transform(base)
            if model.shrinkage_ is not None:
                shrinkage.append(model.shrinkage_)
        seconds.append(time.perf_counter() - start)
        for method, forecast in results.items():
            worst[method] = max(worst[method], incoherence(forecast, hierarchy))
            for node in nodes.columns:
                truth, fc = actual[node].to_numpy(), forecast[node].to_numpy()
                scale = naive_scale(history[node].to_numpy())
                scores[method][node[0]]["mase"].append(float(np.mean(np.abs(truth - fc))) / scale)
                scores[method][node[0]]["smape"].append(smape(truth, fc))
        print(f"  origin {origin:%Y-%m-%d}: {seconds[-1]:.1f} s", file=sys.stderr, flush=True)
    return scores, worst, seconds, shrinkage


def level_means(scores: dict[str, dict[str, list[float]]], metric: str) -> list[float]:
    return [float(np.mean(scores[level][metric])) for level in LEVELS]


def print_table(scores: dict[str, dict[str, dict[str, list[float]]]], worst: dict[str, float], chosen: str) -> None:
    print(
        "| method | shop MASE | category MASE | product MASE | mean MASE | shop sMAPE | category sMAPE "
        "| product sMAPE | largest gap / shop |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for method in [BASE, *METHODS]:
        mase = level_means(scores[method], "mase")
        sm = level_means(scores[method], "smape")
        name = f"**{method}** (chosen)" if method == chosen else method
        print(
            f"| {name} | {' | '.join(f'{v:.3f}' for v in mase)} | {np.mean(mase):.3f} | "
            f"{' | '.join(f'{v:.1f}' for v in sm)} | {worst[method]:.1e} |"
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=200, help="products in the hierarchy (default 200)")
    parser.add_argument("--measure", choices=("units", "revenue"), default="units")
    args = parser.parse_args()
    source = get_settings().full_dataset_path
    if not source.exists():
        raise SystemExit(
            f"error: the full Online Retail file is not at {source}; see README, 'Importing Online Retail'."
        )
    from analytics.ingest.online_retail import import_online_retail
    from analytics.store.bootstrap import store_for_url
    from analytics.store.db import make_engine
    from analytics.store.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="reconcile_eval_") as tmp:
        store = Path(tmp) / "store.sqlite3"
        upgrade(make_engine(f"sqlite:///{store}"))
        uow = store_for_url(f"sqlite:///{store}").unit_of_work()
        start = time.perf_counter()
        import_online_retail(uow, source)
        sales = load_sales(uow)
    print(f"  imported in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)

    full = build_series(sales, "W", horizon=1, min_periods=1, min_sale_periods=1)
    first_week = full.periods[0]
    product_series = {
        (s.key, s.measure): s.values for s in full.series if s.level == "product" and s.values.index[0] == first_week
    }
    revenue = {
        key: float(values[values.index < VALIDATION_ORIGINS[0]].sum())
        for (key, measure), values in product_series.items()
        if measure == "revenue"
    }
    chosen_products = sorted(revenue, key=lambda k: -revenue[k])[: args.products]
    category_of = sales.drop_duplicates("sku").set_index("sku")["category"]
    hierarchy = pd.Series(
        category_of.reindex(chosen_products).to_numpy(),
        index=pd.Index(chosen_products, name="product"),
        name="category",
    )
    bottom = pd.DataFrame({p: product_series[(p, args.measure)] for p in chosen_products}).reindex(full.periods)
    nodes = aggregate(bottom.fillna(0.0), hierarchy.reset_index())
    n_categories = hierarchy.nunique()

    val_scores, val_worst, _, val_shrink = run_origins(nodes, hierarchy, VALIDATION_ORIGINS)
    criterion = {m: float(np.mean(level_means(val_scores[m], "mase"))) for m in METHODS}
    chosen = min(criterion, key=lambda m: criterion[m])
    test_scores, test_worst, seconds, test_shrink = run_origins(nodes, hierarchy, TEST_ORIGINS)

    today = f"{date.today():%Y-%m-%d}"
    print(f"### Reconciliation, validation origins ({today})")
    print()
    print(
        f"Weekly {args.measure}; {len(chosen_products)} products (most revenue before {VALIDATION_ORIGINS[0]:%Y-%m-%d} "
        f"among those sold in the first week), {n_categories} categories, the shop; origins "
        f"{', '.join(f'{o:%Y-%m-%d}' for o in VALIDATION_ORIGINS)}, {HORIZON} weeks ahead. Chosen by the mean of the "
        f"three levels' MASE: **{chosen}**. MinT shrinkage intensity {np.mean(val_shrink):.2f} on average."
    )
    print()
    print_table(val_scores, val_worst, chosen)
    print(f"### Reconciliation, test origins, scored once ({today})")
    print()
    print(
        f"Origins {', '.join(f'{o:%Y-%m-%d}' for o in TEST_ORIGINS)}, {HORIZON} weeks ahead; means over "
        f"nodes × origins (1 shop, {n_categories} categories, {len(chosen_products)} products × {len(TEST_ORIGINS)}). "
        f"Base forecasts and all reconciliations {np.mean(seconds):.1f} s per origin (one process). "
        f"MinT shrinkage intensity {np.mean(test_shrink):.2f} on average. Largest gap: the largest difference "
        "between a total and the sum of its parts, over the shop's mean forecast."
    )
    print()
    print_table(test_scores, test_worst, chosen)


if __name__ == "__main__":
    main()
