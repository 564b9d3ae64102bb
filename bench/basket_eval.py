"""Benchmark: frequently bought together (association rules) on Groceries and Online Retail.

    .venv/bin/python bench/basket_eval.py [--file PATH] [--groceries PATH] [--queries 1000] [--seed 0]
                                          [--repeats 3] [--skip-retail]

Groceries (R arules' Groceries data, Hahsler et al.; 9,835 baskets; the run
stops with a message if the file is missing): the support of the top
itemsets against the figures in the dataset's README, then Apriori,
FP-growth and Eclat fitted side by side (interleaved, median of --repeats
fits, ratio to Eclat's time) and whether their itemsets and rules are
exactly equal, at the default thresholds and at 0.2% support without a
length limit.

Online Retail (UCI, Chen, Sain & Guo 2012, CC BY 4.0): imports the file into
a temporary SQLite store (migrations, then the importer without the demo time
shift), reads every order's lines from ``order_lines`` (guest orders too:
``load_lines`` only returns lines of known customers), then reports fit time
of each miner at the default thresholds (one fit each), the rules, the top 10 by
lift with product names, the artifact round trip and the serving latency of
``for_item`` (random products) and ``for_basket`` (random 3-item baskets).
Prints Markdown for BENCHMARKS.md, with the date.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
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


def fpgrowth_is_slow() -> bool:
    """mlxtend before 0.24 checks every basket once per itemset in its public fpgrowth (rasbt/mlxtend#1130)."""
    import mlxtend

    major, minor = (int(part) for part in mlxtend.__version__.split(".")[:2])
    return (major, minor) < (0, 24)


def read_groceries(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise SystemExit(
            f"Groceries data not found at {path}. It ships in the shared datasets folder "
            "(../shared/datasets/groceries_arules/groceries.csv, see ../shared/datasets/README.md); "
            "pass its location with --groceries PATH."
        )
    with path.open(encoding="utf-8") as fh:
        # Stripped like arules' read.transactions: the file has "cream cheese " with a trailing space.
        baskets = [[i.strip() for i in line.split(",") if i.strip()] for line in fh.read().splitlines()]
    if len(baskets) != GROCERIES_BASKETS:
        raise SystemExit(f"{path} holds {len(baskets):,} baskets, not Groceries' {GROCERIES_BASKETS:,}; wrong file?")
    return baskets


def race(baskets: Any, params: dict[str, Any], algorithms: tuple[str, ...], repeats: int) -> dict[str, Any]:
    """Each miner fitted ``repeats`` times, interleaved so load on the machine hits all alike: model, median s."""
    from analytics.recommend.basket import BasketRules

    times: dict[str, list[float]] = {a: [] for a in algorithms}
    models: dict[str, Any] = {}
    for _ in range(repeats):
        for algorithm in algorithms:
            models[algorithm], seconds = timed(BasketRules(**params, algorithm=algorithm).fit, baskets)
            times[algorithm].append(seconds)
    return {a: (models[a], statistics.median(times[a])) for a in algorithms}


def print_race(label: str, results: dict[str, Any], repeats: int) -> None:
    reference = results["eclat"][1]
    model = results["eclat"][0]
    same = all(m.rules_.equals(model.rules_) and m.itemsets_.equals(model.itemsets_) for m, _ in results.values())
    print(f"{label}: {len(model.itemsets_):,} frequent itemsets, {len(model.rules_):,} rules.")
    print()
    print(f"| miner | fit, median of {repeats} (s) | x Eclat's time |")
    print("|---|---:|---:|")
    for algorithm, (_, seconds) in results.items():
        print(f"| {algorithm} | {seconds:.3f} | {seconds / reference:.1f} |")
    print()
    print(f"Same frequent itemsets and rules (exact equality of both tables): {'yes' if same else 'NO'}.")
    print()


def groceries_section(path: Path, repeats: int) -> None:
    from analytics.recommend.basket import ALGORITHMS, DEFAULTS

    baskets = read_groceries(path)
    print("### Groceries (R arules, 9,835 baskets)")
    print()
    params = {
        "min_support": DEFAULTS.min_support,
        "min_confidence": DEFAULTS.min_confidence,
        "min_lift": DEFAULTS.min_lift,
        "max_len": DEFAULTS.max_len,
    }
    default = race(baskets, params, ALGORITHMS, repeats)
    model = default["eclat"][0]
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
    print_race(
        f"Default thresholds (min_support {DEFAULTS.min_support}, min_confidence {DEFAULTS.min_confidence}, "
        f"min_lift {DEFAULTS.min_lift}, max_len {DEFAULTS.max_len})",
        default,
        repeats,
    )
    wide_params = {"min_support": 0.002, "min_confidence": 0.5, "min_lift": 0.0, "max_len": None}
    algorithms = tuple(a for a in ALGORITHMS if a != "fpgrowth" or not fpgrowth_is_slow())
    print_race(
        "At min_support 0.2%, min_confidence 50%, no lift or length limit",
        race(baskets, wide_params, algorithms, repeats),
        repeats,
    )
    if "fpgrowth" not in algorithms:
        print(
            "fpgrowth left out at 0.2%: mlxtend's public `fpgrowth` before 0.24 checks every basket once per "
            "itemset (rasbt/mlxtend#1130) and takes minutes here; 0.24, which fixed it, needs Python 3.11."
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

    from analytics.recommend.basket import ALGORITHMS, DEFAULTS, BasketRules
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
    algorithms = tuple(a for a in ALGORITHMS if a != "fpgrowth" or not fpgrowth_is_slow())
    fits = {algorithm: timed(BasketRules(algorithm=algorithm).fit, lines, names=names) for algorithm in algorithms}
    model = fits[DEFAULTS.algorithm][0]
    same = all(fitted.rules_.equals(model.rules_) for fitted, _ in fits.values())
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
        f"{', '.join(algorithms)} give the same rules: {'yes' if same else 'NO'} (one fit each"
        f"{'; fpgrowth left out, see Groceries' if 'fpgrowth' not in algorithms else ''}). {covered:,} products "
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
    parser.add_argument("--repeats", type=int, default=3, help="fits per miner on Groceries (median reported)")
    parser.add_argument("--skip-retail", action="store_true", help="Groceries only")
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
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    groceries_section(args.groceries, args.repeats)
    if not args.skip_retail:
        retail_section(args.file, args.queries, args.seed)


if __name__ == "__main__":
    main()
