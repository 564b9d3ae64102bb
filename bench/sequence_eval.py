"""Benchmark: "customers who bought X later bought Y" (sequential patterns) on Online Retail.

    .venv/bin/python bench/sequence_eval.py [--file PATH] [--k 10]
    .venv/bin/python bench/sequence_eval.py --file data/retail/online_retail_sample.csv.gz   # the demo shop

The temporal split of ``bench/recommend_eval.py``: patterns are learnt from
the orders before 2011-09-01 and scored on what the returning customers
bought from 2011-09-01 to the end of the file (2011-12-09). The thresholds
(min_support, min_customers, min_confidence, max_len) are chosen on a
validation split carved from the training period only: learn before
2011-06-01, score June-August; the grid and each setting's validation
figures are printed, so the choice is reproduced by running this script.
The test period is scored once, with the chosen setting refitted on the
whole training period.

A pattern must be held by ``min_support`` of the customers and by at least
``min_customers`` of them, so the grid is over the count they make
together: on the full file (about 2,700 customers before the validation
cutoff) the share sets it, on the demo shop's 300-customer sample the
count does. Run the script on both files: the shop's refresh uses
``analytics.recommend.serving.SEQUENCE_SETTINGS``, whose share comes from
the full file's choice and whose count from the sample's (BENCHMARKS.md,
"Sequential patterns").

Truth per returning customer (bought before the cutoff and after it): the
products bought after the cutoff that they had not bought before (a next
purchase they did not make already); suggestions leave out what they
bought. Every returning customer counts, an empty list as no hit:

- hit rate@k: share of customers with at least one of their new products in the top k;
- precision@k: hits / k, averaged over customers;
- recall@k: hits / their new products, averaged over customers.

Settings tie on validation when a stricter one drops no useful rule; the
first in grid order (the smaller threshold) is kept.

Rows: popularity (most customers before the cutoff, bought items left out),
the sequence rules alone (what ``analytics.usecases.next_purchase`` serves),
and the rules with their list topped up from popularity. Prints Markdown for
BENCHMARKS.md; the gap to popularity gets a 95% paired bootstrap interval
over customers.

Online Retail (UCI, Chen, Sain & Guo 2012, CC BY 4.0).
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.recommend_data import RETAIL_FILE, load_retail_as_of  # noqa: E402

# the cutoffs of bench/recommend_eval.py's Online Retail split
VALIDATION_CUTOFF, TEST_CUTOFF = "2011-06-01", "2011-09-01"
# (min_support, max_len) pairs x min_customers x min_confidence; three-item patterns at 0.5% support take over
# a minute to mine on the full file. Settings with the same count of customers are fitted once.
MINING = ((0.005, 2), (0.01, 2), (0.02, 2), (0.01, 3), (0.02, 3))
MIN_CUSTOMERS = (1, 5, 10, 20, 40)
CONFIDENCES = (0.02, 0.05, 0.1, 0.2)
Lister = Callable[[int, list[list[int]], int], list[int]]


@dataclass(frozen=True)
class Period:
    """Returning customers' histories (baskets by day) before a cutoff and the new products they bought after it."""

    histories: dict[int, list[list[int]]]
    truth: dict[int, set[int]]
    popular: list[int]


def period(before: pd.DataFrame, after: pd.DataFrame) -> Period:
    days = before.assign(day=pd.to_datetime(before["placed_at"]).dt.floor("D"))
    histories: dict[int, list[list[int]]] = {}
    for (customer, _), items in days.groupby(["customer_id", "day"], sort=True)["product_id"]:
        histories.setdefault(int(customer), []).append(sorted(set(items.tolist())))
    bought = before.groupby("customer_id")["product_id"].agg(set)
    truth: dict[int, set[int]] = {}
    for customer, items in after.groupby("customer_id")["product_id"].agg(set).items():
        if customer in bought.index:
            new = set(items) - bought[customer]
            if new:
                truth[int(customer)] = {int(i) for i in new}
    popular = before.groupby("product_id")["customer_id"].nunique().sort_values(ascending=False, kind="stable")
    return Period({c: histories[c] for c in truth}, truth, [int(i) for i in popular.index])


def per_customer(p: Period, lister: Lister, k: int) -> np.ndarray:
    """One row per returning customer: hit (0/1), precision@k, recall@k, non-empty list (0/1)."""
    out = np.zeros((len(p.truth), 4))
    for row, (customer, truth) in enumerate(p.truth.items()):
        shown = lister(customer, p.histories[customer], k)[:k]
        hits = len(truth.intersection(shown))
        out[row] = (hits > 0, hits / k, hits / len(truth), bool(shown))
    return out


def score(p: Period, lister: Lister, k: int) -> dict[str, float]:
    means = per_customer(p, lister, k).mean(axis=0)
    return dict(zip(("hit rate", "precision", "recall", "non-empty"), means.tolist()))


def paired_interval(a: np.ndarray, b: np.ndarray, seed: int = 0, draws: int = 2000) -> tuple[float, float]:
    """95% bootstrap interval (customers resampled) of mean(a) - mean(b), paired by customer."""
    rng = np.random.default_rng(seed)
    diff = a - b
    means = diff[rng.integers(0, len(diff), size=(draws, len(diff)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def popularity(p: Period) -> Lister:
    def lister(_customer: int, history: list[list[int]], k: int) -> list[int]:
        seen = {i for basket in history for i in basket}
        return list(itertools.islice((i for i in p.popular if i not in seen), k))

    return lister


def sequences(model: Any, p: Optional[Period] = None) -> Lister:
    """The rules' list; with ``p``, topped up from that period's popularity."""

    def lister(_customer: int, history: list[list[int]], k: int) -> list[int]:
        shown = model.for_history(history, n=k).item_ids
        if p is None or len(shown) >= k:
            return shown
        seen = {i for basket in history for i in basket} | set(shown)
        return shown + list(itertools.islice((i for i in p.popular if i not in seen), k - len(shown)))

    return lister


def fit(lines: pd.DataFrame, params: dict[str, Any], names: Optional[pd.Series] = None) -> tuple[Any, float]:
    from analytics.recommend.sequences import SequenceRules

    start = time.perf_counter()
    model = SequenceRules(min_lift=1.0, **params).fit(lines, names=names)
    return model, time.perf_counter() - start


def min_count(lines: pd.DataFrame, support: float, customers: int) -> int:
    """The count of customers a pattern needs under ``min_support`` and ``min_customers`` (as the fit reckons)."""
    return max(customers, max(1, math.ceil(support * lines["customer_id"].nunique() - 1e-9)))


def row(label: str, m: dict[str, float]) -> str:
    return f"| {label} | {m['hit rate']:.3f} | {m['precision']:.4f} | {m['recall']:.4f} | {m['non-empty']:.0%} |"


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=RETAIL_FILE)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args(argv)
    if args.k < 1:
        parser.error("--k must be at least 1")
    if not args.file.is_file():
        raise SystemExit(
            f"Online Retail not found at {args.file}; it ships in ../shared/datasets/online_retail_uci/ "
            "(see ../shared/datasets/README.md), or pass --file PATH."
        )

    from analytics.core.errors import InvalidInput

    k = args.k
    which = "full file" if args.file.resolve() == RETAIL_FILE.resolve() else f"file {args.file.name}"
    print(f"Online Retail: importing the {which}", file=sys.stderr)
    start = time.perf_counter()
    lines, catalogues = load_retail_as_of([TEST_CUTOFF], args.file)
    loaded = time.perf_counter() - start
    stamp = pd.to_datetime(lines["placed_at"])
    train = lines[stamp < pd.Timestamp(TEST_CUTOFF)]
    test = lines[stamp >= pd.Timestamp(TEST_CUTOFF)]
    sub = lines[stamp < pd.Timestamp(VALIDATION_CUTOFF)]
    validation = train[pd.to_datetime(train["placed_at"]) >= pd.Timestamp(VALIDATION_CUTOFF)]
    val_period, test_period = period(sub, validation), period(train, test)

    print(f"## Sequential patterns (issue 16) ({date.today():%Y-%m-%d})")
    print()
    print(
        f"`.venv/bin/python bench/sequence_eval.py`; Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores. Online Retail (UCI), {which} imported through the store in {loaded:.0f} s: "
        f"{len(lines):,} lines of {lines['customer_id'].nunique():,} customers. Top {k}; truth: products a "
        "returning customer bought after the cutoff and never before; bought items are never suggested; every "
        "returning customer counts (an empty list is a miss)."
    )
    print()
    print(
        f"Validation (learn before {VALIDATION_CUTOFF}: {sub['customer_id'].nunique():,} customers; score "
        f"{VALIDATION_CUTOFF} to {TEST_CUTOFF}: {len(val_period.truth):,} returning customers). Chosen by recall@{k} "
        "of the rules alone (what is served); min_lift 1."
    )
    print()
    print(
        f"| min_support | min_customers | customers a pattern needs | max_len | min_confidence | rules | fit (s) | "
        f"hit rate@{k} | recall@{k} | non-empty |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    best: Optional[tuple[float, dict[str, Any]]] = None
    fitted: dict[tuple[int, int], Any] = {}  # (customers a pattern needs, max_len) -> model at the lowest confidence
    for (support, max_len), customers in itertools.product(MINING, MIN_CUSTOMERS):
        count = min_count(sub, support, customers)
        params = {"min_support": support, "min_customers": customers, "max_len": max_len}
        head = f"| {support} | {customers} | {count:,} | {max_len} |"
        if (count, max_len) in fitted:
            print(f"{head} | (same count and max_len as a setting above) | | | | | |")
            continue
        try:
            model, seconds = fit(sub, params | {"min_confidence": min(CONFIDENCES)})
        except InvalidInput as exc:
            fitted[(count, max_len)] = None
            print(f"{head} | | refused: {exc} | | | | |")
            continue
        fitted[(count, max_len)] = model
        for confidence in CONFIDENCES:
            stricter = model.with_min_confidence(confidence)
            m = score(val_period, sequences(stricter), k)
            print(
                f"{head} {confidence} | {len(stricter.rules_):,} | {seconds:.1f} | "
                f"{m['hit rate']:.3f} | {m['recall']:.4f} | {m['non-empty']:.0%} |"
            )
            if best is None or m["recall"] > best[0]:
                best = (m["recall"], params | {"min_confidence": confidence})
    if best is None:
        raise SystemExit("no setting of the grid found any pattern on the validation split")
    chosen = best[1]
    print()
    print(
        f"Chosen: min_support {chosen['min_support']}, min_customers {chosen['min_customers']}, "
        f"min_confidence {chosen['min_confidence']}, max_len {chosen['max_len']} "
        f"({min_count(sub, chosen['min_support'], chosen['min_customers']):,} customers a pattern needs)."
    )
    print()

    names = catalogues[TEST_CUTOFF].set_index("product_id")["name"]
    model, seconds = fit(train, chosen, names=names)
    print(
        f"Test (learn before {TEST_CUTOFF}: {train['customer_id'].nunique():,} customers, {len(model.rules_):,} "
        f"rules, fit {seconds:.1f} s; score {TEST_CUTOFF} to the end: {len(test_period.truth):,} returning "
        "customers), scored once:"
    )
    print()
    print(f"| model | hit rate@{k} | precision@{k} | recall@{k} | non-empty lists |")
    print("|---|---:|---:|---:|---:|")
    tables = {
        "popularity": per_customer(test_period, popularity(test_period), k),
        "sequence rules": per_customer(test_period, sequences(model), k),
        "sequence rules, topped up by popularity": per_customer(test_period, sequences(model, test_period), k),
    }
    for label, table in tables.items():
        print(row(label, dict(zip(("hit rate", "precision", "recall", "non-empty"), table.mean(axis=0).tolist()))))
    print()
    rules_only, popular = tables["sequence rules"], tables["popularity"]
    differences = []
    for column, label in ((0, "hit rate"), (1, "precision"), (2, "recall")):
        low, high = paired_interval(rules_only[:, column], popular[:, column])
        differences.append(
            f"{label} {rules_only[:, column].mean() - popular[:, column].mean():+.4f} [{low:+.4f}, {high:+.4f}]"
        )
    print(
        f"Rules minus popularity, with 95% paired bootstrap intervals over customers (seed 0): "
        f"{'; '.join(differences)}."
    )
    print()
    served = []
    for history in list(test_period.histories.values())[:1000]:
        started = time.perf_counter()
        model.for_history(history, n=k)
        served.append(time.perf_counter() - started)
    p50, p95 = np.percentile(np.asarray(served) * 1000, [50, 95])
    print(f"`for_history` over the first 1,000 returning customers: p50 {p50:.2f} ms, p95 {p95:.2f} ms.")
    print()
    print("Strongest rules to a product not in the antecedent (by confidence), learnt before the test cutoff:")
    print()
    print("| bought | later bought | customers (support) | confidence | lift |")
    print("|---|---|---:|---:|---:|")
    fresh = model.rules_[[c not in a for a, c in zip(model.rules_["antecedent"], model.rules_["consequent"])]]
    for rule in fresh.head(8).itertuples(index=False):
        bought = ", then ".join(str(names.get(i, i)) for i in rule[0])
        print(
            f"| {bought} | {names.get(rule[1], rule[1])} | {round(rule.support * model.n_customers_):,} "
            f"({rule.support:.3f}) | {rule.confidence:.2f} | {rule.lift:.1f} |"
        )
    print()


if __name__ == "__main__":
    main()
