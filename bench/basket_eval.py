"""Benchmark: frequently bought together (association rules) on Groceries and Online Retail.

    .venv/bin/python bench/basket_eval.py [--file PATH] [--groceries PATH] [--queries 1000] [--seed 0]

Groceries (R arules' Groceries data, Hahsler et al.; 9,835 baskets): the
support of the top itemsets against the figures in the dataset's README, fit
time of both algorithms and the number of rules at the default thresholds.

Online Retail (UCI, Chen, Sain & Guo 2012, CC BY 4.0): imports the file into
a temporary SQLite store (migrations, then the importer without the demo time
shift), reads every order's lines from ``order_lines`` (guest orders too:
``load_lines`` only returns lines of known customers), then reports fit time
of fpgrowth and apriori at the default thresholds, the rules, the top 10 by
lift with product names, the artifact round trip and the serving latency of
``for_item`` (random products) and ``for_basket`` (random 3-item baskets).
Prints Markdown for BENCHMARKS.md, with the date.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"
DEFAULT_FILE = SHARED / "online_retail_uci" / "online_retail_all_rows.csv.gz"
DEFAULT_GROCERIES = SHARED / "groceries_arules" / "groceries.csv"
# datasets/groceries_arules/README.txt: baskets holding each of the three most frequent items.
GROCERIES_PUBLISHED = {"whole milk": 2513, "other vegetables": 1903, "rolls/buns": 1809}
GROCERIES_BASKETS = 9835


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def percentiles_ms(seconds: list[float]) -> tuple[float, float]:
    import numpy as np

    return float(np.percentile(seconds, 50) * 1000), float(np.percentile(seconds, 95) * 1000)


def groceries_section(path: Path) -> None:
    from analytics.recommend.basket import DEFAULTS, BasketRules

    print("### Groceries (R arules, 9,835 baskets)")
    print()
    if not path.exists():
        print(f"Skipped: {path} not found.")
        print()
        return
    with path.open(encoding="utf-8") as fh:
        # Stripped like arules' read.transactions: the file has "cream cheese " with a trailing space.
        baskets = [[i.strip() for i in line.split(",") if i.strip()] for line in fh.read().splitlines()]
    fits = {}
    for algorithm in ("fpgrowth", "apriori"):
        runs = [timed(BasketRules(algorithm=algorithm).fit, baskets) for _ in range(3)]
        fits[algorithm] = (runs[0][0], sorted(t for _, t in runs)[1])
    model = fits["apriori"][0]
    n = model.n_baskets_
    print(f"{n:,} baskets, {len(model.item_counts_)} items. Top itemsets by support:")
    print()
    print("| itemset | baskets | support | published (README) |")
    print("|---|---:|---:|---:|")
    for row in model.itemsets_.head(5).itertuples():
        item = ", ".join(sorted(row.itemsets))
        published = GROCERIES_PUBLISHED.get(item)
        ref = f"{published:,} ({published / GROCERIES_BASKETS:.4f})" if published else "–"
        print(f"| {item} | {round(row.support * n):,} | {row.support:.4f} | {ref} |")
    print()
    same = fits["fpgrowth"][0].rules_.equals(fits["apriori"][0].rules_)
    print(
        f"Default thresholds (min_support {DEFAULTS.min_support}, min_confidence {DEFAULTS.min_confidence}, "
        f"min_lift {DEFAULTS.min_lift}, max_len {DEFAULTS.max_len}): {len(model.itemsets_):,} frequent itemsets, "
        f"{len(model.rules_):,} rules; fit fpgrowth {fits['fpgrowth'][1]:.2f} s, apriori {fits['apriori'][1]:.2f} s "
        f"(median of 3; same rules: {'yes' if same else 'NO'})."
    )
    wide, seconds = timed(BasketRules(min_support=0.001, min_confidence=0.8, min_lift=0.0, max_len=None).fit, baskets)
    print(
        f"At min_support 0.1%, min_confidence 80%, no lift or length limit: {len(wide.itemsets_):,} itemsets, "
        f"{len(wide.rules_):,} rules with one consequent ({seconds:.2f} s)."
    )
    print()


def read_retail(path: Path) -> tuple[Any, Any, int, float, float]:
    """All order lines (guest orders too) and product names, from a fresh SQLite store."""
    import pandas as pd
    from sqlalchemy import select

    from analytics.ingest.online_retail import import_online_retail
    from analytics.store.db import make_engine, make_session_factory
    from analytics.store.frames import load_lines
    from analytics.store.migrate import upgrade
    from analytics.store.models import OrderLine, Product
    from analytics.store.uow import SqlAlchemyUnitOfWork

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/baskets.sqlite3")
        upgrade(engine)
        uow = SqlAlchemyUnitOfWork(make_session_factory(engine))
        _, imported = timed(import_online_retail, uow, path)
        start = time.perf_counter()
        with engine.connect() as conn:
            lines = pd.DataFrame(
                conn.execute(select(OrderLine.order_id, OrderLine.product_id)).all(), columns=["order_id", "product_id"]
            )
            products = pd.DataFrame(conn.execute(select(Product.id, Product.name)).all(), columns=["id", "name"])
        read = time.perf_counter() - start
        known_orders = int(load_lines(uow)["order_id"].nunique())
        engine.dispose()
    return lines, products.set_index("id")["name"], known_orders, imported, read


def retail_section(path: Path, queries: int, seed: int) -> None:
    import numpy as np

    from analytics.recommend.basket import DEFAULTS, BasketRules
    from analytics.store.artifacts import ArtifactStore, data_hash

    print("### Online Retail (UCI, all orders)")
    print()
    if not path.exists():
        print(f"Skipped: {path} not found; pass --file with the full Online Retail CSV.")
        print()
        return
    lines, names, known_orders, imported, read = read_retail(path)
    n_orders = lines["order_id"].nunique()
    print(
        f"{len(lines):,} order lines, {n_orders:,} orders ({n_orders - known_orders:,} guest orders, which "
        f"`load_lines` leaves out), {lines['product_id'].nunique():,} products. Import into SQLite {imported:.1f} s, "
        f"reading the lines {read:.2f} s."
    )
    print()
    fits = {
        algorithm: timed(BasketRules(algorithm=algorithm).fit, lines, names=names)
        for algorithm in ("fpgrowth", "apriori")
    }
    model = fits[DEFAULTS.algorithm][0]
    same = fits["fpgrowth"][0].rules_.equals(fits["apriori"][0].rules_)
    frequent = int((model.item_counts_ >= DEFAULTS.min_support * model.n_baskets_).sum())
    covered = model.rules_.loc[model.rules_["antecedents"].map(len) == 1, "antecedents"].nunique()
    print(
        f"Default thresholds (min_support {DEFAULTS.min_support}, min_confidence {DEFAULTS.min_confidence}, "
        f"min_lift {DEFAULTS.min_lift}, max_len {DEFAULTS.max_len}):"
    )
    print()
    print("| algorithm | fit (s) | frequent items | itemsets | rules |")
    print("|---|---:|---:|---:|---:|")
    for algorithm, (fitted, seconds) in fits.items():
        print(f"| {algorithm} | {seconds:.2f} | {frequent:,} | {len(fitted.itemsets_):,} | {len(fitted.rules_):,} |")
    print()
    print(
        f"Both algorithms give the same rules: {'yes' if same else 'NO'}. {covered:,} products "
        f"({covered / lines['product_id'].nunique():.0%}) get at least one `for_item` suggestion."
    )
    print()
    print("Top 10 rules by lift:")
    print()
    print("| if the order holds | suggest | support | confidence | lift |")
    print("|---|---|---:|---:|---:|")
    for rule in model.rules_.head(10).itertuples():
        antecedent = " + ".join(sorted(names.get(i, str(i)) for i in rule.antecedents))
        (consequent,) = rule.consequents
        print(
            f"| {antecedent} | {names.get(consequent, consequent)} | {rule.support:.4f} | {rule.confidence:.2f} | "
            f"{rule.lift:.1f} |"
        )
    print()

    with tempfile.TemporaryDirectory() as tmp:
        store = ArtifactStore(Path(tmp))
        _, saved = timed(store.save, "basket_rules", model, {"data_hash": data_hash(lines)})
        served, loaded = timed(store.load, "basket_rules")
        size = store.metadata("basket_rules")["size_bytes"]

    rng = np.random.default_rng(seed)
    counts = model.item_counts_
    products = counts.index.to_numpy()
    print(
        f"Artifact: {size / 1e6:.1f} MB joblib, save {saved:.2f} s, load {loaded:.2f} s. "
        f"Serving the loaded model, {queries:,} queries per row (seed {seed}); products drawn uniformly "
        "(most have no rule) or in proportion to their orders (as shoppers meet them):"
    )
    print()
    print("| query | products drawn | p50 (ms) | p95 (ms) | non-empty answers |")
    print("|---|---|---:|---:|---:|")
    for drawn, weights in (("uniformly", None), ("by orders", (counts / counts.sum()).to_numpy())):
        item_times, item_hits = [], 0
        for item in rng.choice(products, size=queries, p=weights):
            answer, seconds = timed(served.for_item, int(item))
            item_times.append(seconds)
            item_hits += bool(answer.items)
        basket_times, basket_hits = [], 0
        for _ in range(queries):
            basket = [int(i) for i in rng.choice(products, size=3, replace=False, p=weights)]
            answer, seconds = timed(served.for_basket, basket)
            basket_times.append(seconds)
            basket_hits += bool(answer.items)
        for label, times, hits in (
            ("`for_item` (1 product)", item_times, item_hits),
            ("`for_basket` (3 products)", basket_times, basket_hits),
        ):
            p50, p95 = percentiles_ms(times)
            print(f"| {label} | {drawn} | {p50:.4f} | {p95:.4f} | {hits / queries:.0%} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--groceries", type=Path, default=DEFAULT_GROCERIES)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import mlxtend

    print(f"## Frequently bought together: association rules ({date.today():%Y-%m-%d})")
    print()
    print(
        f"`bench/basket_eval.py`; Python {platform.python_version()}, mlxtend {mlxtend.__version__}, "
        f"{platform.machine()}, {os.cpu_count()} cores (single-threaded), one run unless stated."
    )
    print()
    groceries_section(args.groceries)
    retail_section(args.file, args.queries, args.seed)


if __name__ == "__main__":
    main()
