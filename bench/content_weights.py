"""Benchmark: the weights of the content recommender's weighted-attribute cosine, chosen on validation.

    nice -n 5 .venv/bin/python bench/content_weights.py [--max-users 1500]

Data and split are ``bench/recommend_eval.py``'s for Online Retail (the full
UCI file through a temporary SQLite store, :mod:`bench.recommend_data`):
train before 2011-09-01, test 2011-09-01 to 2011-12-09 for the returning
customers; the task is discovery (truth: test-period products the customer
had never bought; seen items excluded), where a content model earns its
place. Each training matrix holds only the catalogue known before its cutoff.

Protocol: the validation split is carved from the training period only
(train before 2011-06-01, validate on June-August, catalogue as of
2011-06-01). Every weight combination on a grid of step 0.25 over the four
attributes (text, category, price band, colour/material words: 35 points)
plus today's default is scored on validation by nDCG@10 over
``--max-users`` random validation customers (seed 0). The best is refitted
on the whole train and scored once on the test beside today's default, in
the same run: precision, recall, nDCG at 10 and catalogue coverage.

Prints Markdown for BENCHMARKS.md (validation table, then the test table).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics.recommend import ContentRecommender, Interactions  # noqa: E402
from analytics.recommend.content import ATTRIBUTES, DEFAULT_WEIGHTS  # noqa: E402
from analytics.recommend.evaluation import evaluate, grid_search, temporal_split  # noqa: E402
from bench.recommend_data import RETAIL_FILE, load_retail_as_of  # noqa: E402

K = 10
#: The cutoffs of bench/recommend_eval.py.
VALIDATION_CUTOFF, TEST_CUTOFF = "2011-06-01", "2011-09-01"
STEP = 0.25
#: Today's default before this change: text 0.6, category 0.3, price 0.1, no colour block.
UNWEIGHTED = {"text": 0.6, "category": 0.3, "price": 0.1, "colour": 0.0}


def weight_grid(step: float = STEP) -> list[dict[str, float]]:
    """Every point of the simplex over :data:`ATTRIBUTES` with the given step, then today's default."""
    ticks = round(1 / step)
    grid = [
        {a: t / ticks for a, t in zip(ATTRIBUTES, combo)}
        for combo in itertools.product(range(ticks + 1), repeat=len(ATTRIBUTES))
        if sum(combo) == ticks
    ]
    return [*grid, dict(UNWEIGHTED)]


def pairs(lines: pd.DataFrame) -> pd.DataFrame:
    return (
        lines[["customer_id", "product_id"]]
        .drop_duplicates()
        .rename(columns={"customer_id": "user_id", "product_id": "item_id"})
    )


def new_only(truth: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    merged = truth.merge(pairs(history), how="left", on=["user_id", "item_id"], indicator=True)
    return merged[merged["_merge"] == "left_only"].drop(columns="_merge")


def label(weights: dict[str, Any]) -> str:
    return " / ".join(f"{weights.get(a, 0.0):.2f}" for a in ATTRIBUTES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-users", type=int, default=1500, help="validation customers sampled (default 1500)")
    args = parser.parse_args()
    if not RETAIL_FILE.exists():
        raise SystemExit(f"error: the Online Retail file is not at {RETAIL_FILE}.")

    start = time.perf_counter()
    lines, catalogues = load_retail_as_of([VALIDATION_CUTOFF, TEST_CUTOFF])
    print(f"  loaded in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    train_lines, test_lines = temporal_split(lines, TEST_CUTOFF)
    sub_lines, validation_lines = temporal_split(train_lines, VALIDATION_CUTOFF)
    X_sub = Interactions.from_lines(sub_lines, weighting="log1p", products=catalogues[VALIDATION_CUTOFF])
    X_train = Interactions.from_lines(train_lines, weighting="log1p", products=catalogues[TEST_CUTOFF])
    validation = new_only(pairs(validation_lines), sub_lines)
    test = new_only(pairs(test_lines), train_lines)

    grid = [{"weights": w} for w in weight_grid()]
    start = time.perf_counter()
    best, table = grid_search(ContentRecommender, grid, X_sub, validation, k=K, max_users=args.max_users)
    tuning = time.perf_counter() - start
    chosen = best["weights"]
    print(f"  grid of {len(grid)} in {tuning:.0f} s; chosen {chosen}", file=sys.stderr, flush=True)

    today = f"{date.today():%Y-%m-%d}"
    n_val_users = validation["user_id"].map(X_sub.has_user).pipe(lambda s: validation.loc[s, "user_id"].nunique())
    print(f"### Content weights on validation ({today})")
    print()
    print(
        f"Online Retail, discovery task; train before {VALIDATION_CUTOFF} ({X_sub.n_users:,} customers x "
        f"{X_sub.n_items:,} products of the catalogue as of then), validate on June-August "
        f"({min(args.max_users, n_val_users):,} of {n_val_users:,} returning customers, seed 0). "
        f"Weights text / category / price / colour; {len(grid)} combinations in {tuning:.0f} s. "
        "Top 10 and today's default:"
    )
    print()
    print("| rank | weights (text / category / price / colour) | P@10 | R@10 | nDCG@10 | coverage |")
    print("|---:|---|---:|---:|---:|---:|")
    table["rank"] = range(1, len(table) + 1)
    is_default = table["params"].map(lambda p: p["weights"] == UNWEIGHTED)
    shown = table[(table["rank"] <= 10) | is_default]
    for _, row in shown.iterrows():
        weights = row["params"]["weights"]
        name = label(weights) + (" (today's default)" if weights == UNWEIGHTED else "")
        print(
            f"| {row['rank']} | {name} | {row[f'precision@{K}']:.4f} | {row[f'recall@{K}']:.4f} "
            f"| {row[f'ndcg@{K}']:.4f} | {row['coverage']:.3f} |"
        )
    print()

    rows = []
    for name, weights in (("today's default", UNWEIGHTED), ("chosen on validation", chosen)):
        start = time.perf_counter()
        model = ContentRecommender(weights=weights).fit(X_train)
        fit = time.perf_counter() - start
        rows.append((name, weights, evaluate(model, test, k=K), fit))
    n_test_users = test["user_id"].map(X_train.has_user).pipe(lambda s: test.loc[s, "user_id"].nunique())
    print(f"### Content weights on the test, scored once ({today})")
    print()
    print(
        f"Train before {TEST_CUTOFF} ({X_train.n_users:,} customers x {X_train.n_items:,} products of the catalogue "
        f"as of then), test {TEST_CUTOFF} to 2011-12-09, discovery, all {n_test_users:,} returning customers."
    )
    print()
    print("| content model | weights (text / category / price / colour) | P@10 | R@10 | nDCG@10 | coverage | fit (s) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, weights, m, fit in rows:
        print(
            f"| {name} | {label(weights)} | {m[f'precision@{K}']:.4f} | {m[f'recall@{K}']:.4f} "
            f"| {m[f'ndcg@{K}']:.4f} | {m['coverage']:.3f} | {fit:.1f} |"
        )
    print()
    print(f"Library default (`DEFAULT_WEIGHTS`) at the time of the run: {label(dict(DEFAULT_WEIGHTS))}.")


if __name__ == "__main__":
    main()
