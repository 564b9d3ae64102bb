"""Benchmark: top-10 recommendations on MovieLens-100K and on the full Online Retail file.

    .venv/bin/python bench/recommend_eval.py [--dataset movielens|retail|all] [--validation-only]

Protocol
--------
Every model, including the hybrid, is tuned with the same small grid on a
validation split carved out of the training data only; the chosen
parameters are then refitted on the whole training data and scored once on
the test split. Metrics: precision, recall, nDCG and MAP at 10 with the
definitions of microsoft/recommenders (:mod:`analytics.recommend.metrics`).

* MovieLens-100K (read at run time from the RecBole 1.2.1 wheel, never
  stored): every rating is an implicit interaction; two stratified 75/25
  splits (seed 42), per user and per item (the split of
  microsoft/recommenders' published table); validation: the same
  stratification, 80/20, inside train.
* Online Retail (UCI, full file, imported into a temporary SQLite store):
  train before 2011-09-01, test after, for customers seen in train;
  validation: train before 2011-06-01, validate on June-August. Each
  training matrix carries only the catalogue known before its cutoff
  (names, descriptions, categories, prices from earlier rows): a product
  first sold later cannot be recommended by any model, and stays in the
  truth as a miss for all. Two tasks:
  "next basket" (everything the customer bought in the test period, items
  they bought before allowed) and "discovery" (only items new to the
  customer, seen items excluded). Component hyperparameters are tuned once
  on the discovery validation; the hybrid's weights per task.

``--validation-only`` (MovieLens) tunes as usual and prints each model's
best validation nDCG@10 instead of scoring the test: for trying models
without looking at the test.

Prints one Markdown table per dataset/split (date, data, fit times), the
serving latency of the fitted Online Retail hybrid (top-10 with
explanations for one customer, over 1,000 random customers) and the total
fit time of all models on Online Retail.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics.recommend import (  # noqa: E402
    ALSRecommender,
    BaggedALSRecommender,
    BPRRecommender,
    ContentRecommender,
    EASERecommender,
    HybridRecommender,
    ImplicitItemKNN,
    Interactions,
    ItemKNNRecommender,
    PopularityRecommender,
    Recommender,
    RepeatPurchaseRecommender,
    UserKNNRecommender,
    tune_weights,
)
from analytics.recommend.evaluation import (  # noqa: E402
    evaluate,
    expand_grid,
    grid_search,
    stratified_split,
    temporal_split,
)
from analytics.recommend.graph import GFCFRecommender, RP3betaRecommender  # noqa: E402
from bench.recommend_data import RETAIL_FILE, load_movielens, load_retail_as_of  # noqa: E402

K = 10
THREADS = 2


@dataclass
class Spec:
    """A model to tune: a factory and the grid of its parameters."""

    name: str
    make: Callable[..., Recommender]
    grid: list[dict[str, Any]] = field(default_factory=lambda: [{}])


def movielens_specs() -> list[Spec]:
    return [
        Spec("popularity", PopularityRecommender),
        Spec("item-kNN cosine", ItemKNNRecommender, expand_grid(k=[50, 100, 200, 400], shrinkage=[0.0, 20.0])),
        Spec("user-kNN cosine", UserKNNRecommender, expand_grid(k=[25, 50, 100, 200], similarity=["cosine"])),
        Spec("user-kNN Pearson", UserKNNRecommender, expand_grid(k=[25, 50, 100, 200], similarity=["pearson"])),
        Spec(
            "ALS (implicit)",
            ALSRecommender,
            expand_grid(factors=[64, 128], regularization=[10.0, 30.0, 60.0, 100.0], alpha=[5.0, 10.0, 20.0]),
        ),
        Spec(
            "bagged ALS (implicit)",
            BaggedALSRecommender,
            expand_grid(n_models=[5], factors=[64, 128], regularization=[30.0, 60.0, 100.0], alpha=[5.0, 10.0, 20.0]),
        ),
        Spec(
            "BPR (implicit)",
            BPRRecommender,
            expand_grid(factors=[64, 128], learning_rate=[0.01, 0.05], regularization=[0.001, 0.01]),
        ),
        Spec("BM25 item-kNN (implicit)", ImplicitItemKNN, expand_grid(weighting=["bm25"], K=[100, 200, 400, 800])),
        Spec("TF-IDF item-kNN (implicit)", ImplicitItemKNN, expand_grid(weighting=["tfidf"], K=[100, 200, 400, 800])),
        Spec("EASE", EASERecommender, expand_grid(l2=[100.0, 200.0, 400.0, 800.0, 1600.0], dropout=[0.0, 0.25, 0.5])),
        Spec(
            "RP3beta",
            RP3betaRecommender,
            expand_grid(k=[100, 400], alpha=[0.5, 0.75, 1.0], beta=[0.0, 0.25, 0.5, 0.65]),
        ),
        Spec("GF-CF", GFCFRecommender, expand_grid(k=[16, 32, 64], alpha=[0.3, 1.0])),
    ]


def retail_specs() -> list[Spec]:
    return [
        Spec("popularity", PopularityRecommender),
        Spec("buy again", RepeatPurchaseRecommender),
        Spec("item-kNN cosine", ItemKNNRecommender, expand_grid(k=[50, 200], shrinkage=[0.0, 20.0])),
        Spec("user-kNN cosine", UserKNNRecommender, expand_grid(k=[25, 100], similarity=["cosine"])),
        Spec("user-kNN Pearson", UserKNNRecommender, expand_grid(k=[25, 100], similarity=["pearson"])),
        Spec(
            "ALS (implicit)",
            ALSRecommender,
            expand_grid(factors=[64, 128], regularization=[1.0, 10.0], alpha=[5.0, 20.0]),
        ),
        Spec("BPR (implicit)", BPRRecommender, expand_grid(factors=[64, 128], learning_rate=[0.01, 0.05])),
        Spec("BM25 item-kNN (implicit)", ImplicitItemKNN, expand_grid(weighting=["bm25"], K=[100, 400, 1000])),
        Spec("TF-IDF item-kNN (implicit)", ImplicitItemKNN, expand_grid(weighting=["tfidf"], K=[100, 400])),
        Spec("EASE", EASERecommender, expand_grid(l2=[500.0, 2000.0, 5000.0])),
        Spec(
            "content",
            ContentRecommender,
            # the default (text alone, chosen by bench/content_weights.py) and the weighting it replaced
            [{}, {"weights": {"text": 0.6, "category": 0.3, "price": 0.1}}],
        ),
    ]


def _with_threads(spec: Spec) -> Callable[..., Recommender]:
    def make(**params: Any) -> Recommender:
        model = spec.make(**params)
        if "num_threads" in model.get_params():
            model.set_params(num_threads=THREADS)
        return model

    return make


@dataclass
class Tuned:
    name: str
    params: dict[str, Any]
    model: Recommender
    fit_seconds: float
    tune_seconds: float
    validation: float = float("nan")  # the best validation nDCG@K of the tuning


def tune_and_refit(
    specs: list[Spec], sub_train: Interactions, validation: pd.DataFrame, train: Interactions, *, max_users: int
) -> list[Tuned]:
    """Pick each model's parameters on validation, then refit on the whole train."""
    out = []
    for spec in specs:
        make = _with_threads(spec)
        start = time.perf_counter()
        params, table = grid_search(make, spec.grid, sub_train, validation, k=K, max_users=max_users)
        tuned = time.perf_counter() - start
        best = float(table.iloc[0][f"ndcg@{K}"])
        start = time.perf_counter()
        model = make(**params).fit(train)
        out.append(Tuned(spec.name, params, model, time.perf_counter() - start, tuned, best))
        print(f"  tuned {spec.name}: {params}, validation nDCG@{K} {best:.4f} ({tuned:.1f} s)", file=sys.stderr)
    return out


def hybrid_step(n_models: int) -> float:
    return {1: 1.0, 2: 0.1, 3: 0.1, 4: 0.125, 5: 0.125}.get(n_models, 0.2)


def tune_hybrid(
    components: list[Tuned],
    sub_train: Interactions,
    validation: pd.DataFrame,
    train: Interactions,
    *,
    exclude_seen: bool = True,
    max_users: int = 3000,
    cold_start: Optional[Tuned] = None,
    **hybrid_params: Any,
) -> Tuned:
    """Weights and fusion of the hybrid on validation (components refitted on the sub-train), then blend
    the components fitted on the whole train. ``cold_start`` (the content model) joins with weight 0: it
    only serves new products and new customers."""
    start = time.perf_counter()
    fitted = {t.name: _with_threads(Spec(t.name, type(t.model)))(**t.params).fit(sub_train) for t in components}
    weights, fusion, table = tune_weights(
        fitted, validation, k=K, step=hybrid_step(len(fitted)), exclude_seen=exclude_seen, max_users=max_users
    )
    tuned = time.perf_counter() - start
    # the components are already fitted on the whole train: blend them as they are
    if cold_start is not None:
        components = [*components, cold_start]
        weights = np.append(weights, 0.0)
    hybrid = HybridRecommender.from_fitted(
        {t.name: t.model for t in components},
        weights=list(weights),
        fusion=fusion,
        normalise_unseen=exclude_seen,
        **hybrid_params,
    )
    fit = sum(t.fit_seconds for t in components)
    params = {"fusion": fusion, "weights": {t.name: round(float(w), 3) for t, w in zip(components, weights)}}
    if cold_start is not None:
        params["cold start"] = cold_start.name
    best = float(table.iloc[0]["ndcg"])
    print(f"  tuned hybrid: {params}, validation nDCG@{K} {best:.4f} ({tuned:.1f} s)", file=sys.stderr)
    return Tuned("hybrid", params, hybrid, fit, tuned, best)


def short_params(params: dict[str, Any]) -> str:
    if "weights" in params:
        parts = [f"{name} {w:g}" for name, w in params["weights"].items() if w > 0]
        extra = f"; new items via {params['cold start']}" if "cold start" in params else ""
        return f"{params['fusion']}: " + ", ".join(parts) + extra
    keep = {k: v for k, v in params.items() if k not in ("num_threads", "random_state")}
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in keep.items()) or "–"


def print_table(title: str, note: str, rows: list[tuple[Tuned, dict[str, float]]], coverage: bool = False) -> None:
    print(f"### {title} ({date.today():%Y-%m-%d})")
    print()
    print(note)
    print()
    header = "| model | chosen on validation | P@10 | R@10 | nDCG@10 | MAP@10 |"
    rule = "|---|---|---:|---:|---:|---:|"
    if coverage:
        header += " coverage |"
        rule += "---:|"
    print(header + " fit (s) |")
    print(rule + "---:|")
    best_single = max(m[f"ndcg@{K}"] for t, m in rows if t.name != "hybrid")
    for tuned, m in rows:
        ndcg = f"{m[f'ndcg@{K}']:.3f}"
        if tuned.name == "hybrid" and m[f"ndcg@{K}"] > best_single:
            ndcg = f"**{ndcg}**"
        line = (
            f"| {tuned.name} | {short_params(tuned.params)} | {m[f'precision@{K}']:.3f} | {m[f'recall@{K}']:.3f} "
            f"| {ndcg} | {m[f'map@{K}']:.3f} |"
        )
        if coverage:
            line += f" {m['coverage']:.3f} |"
        print(line + f" {tuned.fit_seconds:.2f} |")
    print()


# -- MovieLens ---------------------------------------------------------------------------------------------------------


def print_validation_table(title: str, tuned: list[Tuned]) -> None:
    print(f"### {title}: validation only ({date.today():%Y-%m-%d})")
    print()
    print(f"Best validation nDCG@{K} of each model's tuning (the 80/20 split inside train); the test is not scored.")
    print()
    print(f"| model | chosen on validation | validation nDCG@{K} |")
    print("|---|---|---:|")
    for t in tuned:
        print(f"| {t.name} | {short_params(t.params)} | {t.validation:.4f} |")
    print()


def run_movielens(validation_only: bool = False) -> None:
    ratings = load_movielens()
    pairs = ratings[["user_id", "item_id"]]
    for by, label in (("user_id", "per-user"), ("item_id", "per-item")):
        print(f"MovieLens-100K, {label} split", file=sys.stderr)
        train, test = stratified_split(pairs, 0.75, by=by, seed=42)
        sub, validation = stratified_split(train, 0.8, by=by, seed=42)
        X_sub, X_train = Interactions.from_frame(sub), Interactions.from_frame(train)
        start = time.perf_counter()
        tuned = tune_and_refit(movielens_specs(), X_sub, validation, X_train, max_users=5000)
        by_name = {t.name: t for t in tuned}
        hybrid = tune_hybrid(
            [
                by_name[n]
                for n in ("ALS (implicit)", "BM25 item-kNN (implicit)", "EASE", "user-kNN Pearson", "RP3beta", "GF-CF")
            ],
            X_sub,
            validation,
            X_train,
        )
        tuned.append(hybrid)
        total = time.perf_counter() - start
        if validation_only:
            print_validation_table(f"MovieLens-100K, {label} split", tuned)
            continue
        rows = [(t, evaluate(t.model, test, k=K)) for t in tuned]
        note = (
            f"MovieLens-100K (Harper & Konstan 2015; read from the RecBole 1.2.1 wheel), every rating an implicit "
            f"interaction; {label} stratified 75/25 split, seed 42: {len(train):,} train / {len(test):,} test "
            f"pairs, {test['user_id'].nunique():,} test users. Validation: {label} 80/20 inside train. Tuning "
            f"and fitting everything took {total:.0f} s on {platform.processor() or platform.machine()} "
            f"({THREADS} threads); a hybrid's fit time is the sum of its components'."
        )
        print_table(f"MovieLens-100K, {label} split", note, rows)


# -- Online Retail -----------------------------------------------------------------------------------------------------


def _pairs(lines: pd.DataFrame) -> pd.DataFrame:
    return (
        lines[["customer_id", "product_id"]]
        .drop_duplicates()
        .rename(columns={"customer_id": "user_id", "product_id": "item_id"})
    )


def _new_only(truth: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    merged = truth.merge(_pairs(history), how="left", on=["user_id", "item_id"], indicator=True)
    return merged[merged["_merge"] == "left_only"].drop(columns="_merge")


def serving_latency(hybrid: Recommender, users: np.ndarray, n_users: int = 1000) -> tuple[float, float]:
    rng = np.random.default_rng(7)
    chosen = rng.choice(users, size=min(n_users, len(users)), replace=False)
    for user in chosen[:20]:  # warm caches
        hybrid.recommend(user, n=K)
    times = []
    for user in chosen:
        start = time.perf_counter()
        result = hybrid.recommend(user, n=K)
        times.append(time.perf_counter() - start)
        assert all(r.reason for r in result)
    ms = np.asarray(times) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


VALIDATION_CUTOFF, TEST_CUTOFF = "2011-06-01", "2011-09-01"


def run_retail(path: Path, weighting: str = "log1p") -> None:
    print("Online Retail: importing the full file", file=sys.stderr)
    start = time.perf_counter()
    lines, catalogues = load_retail_as_of([VALIDATION_CUTOFF, TEST_CUTOFF], path)
    loaded = time.perf_counter() - start
    train_lines, test_lines = temporal_split(lines, TEST_CUTOFF)
    sub_lines, validation_lines = temporal_split(train_lines, VALIDATION_CUTOFF)
    X_sub = Interactions.from_lines(sub_lines, weighting=weighting, products=catalogues[VALIDATION_CUTOFF])
    X_train = Interactions.from_lines(train_lines, weighting=weighting, products=catalogues[TEST_CUTOFF])
    val_repeat = _pairs(validation_lines)
    val_new = _new_only(val_repeat, sub_lines)
    test_repeat = _pairs(test_lines)
    test_new = _new_only(test_repeat, train_lines)
    start = time.perf_counter()
    tuned = tune_and_refit(retail_specs(), X_sub, val_new, X_train, max_users=1500)
    by_name = {t.name: t for t in tuned}
    discovery = tune_hybrid(
        [by_name[n] for n in ("BM25 item-kNN (implicit)", "EASE", "ALS (implicit)", "item-kNN cosine")],
        X_sub,
        val_new,
        X_train,
        max_users=1000,
        cold_start=by_name["content"],
    )
    basket = tune_hybrid(
        [by_name[n] for n in ("buy again", "BM25 item-kNN (implicit)", "user-kNN Pearson", "ALS (implicit)")],
        X_sub,
        val_repeat,
        X_train,
        exclude_seen=False,
        max_users=1000,
        cold_start=by_name["content"],
    )
    total = time.perf_counter() - start
    singles = [t for t in tuned]
    repeat_rows = [(t, evaluate(t.model, test_repeat, k=K, exclude_seen=False)) for t in [*singles, basket]]
    new_rows = [(t, evaluate(t.model, test_new, k=K)) for t in [*singles, discovery]]
    n_test_users = test_repeat["user_id"].map(X_train.has_user).pipe(lambda s: test_repeat.loc[s, "user_id"].nunique())
    scored = test_repeat[test_repeat["user_id"].map(X_train.has_user)]
    future = ~scored["item_id"].isin(X_train.item_ids)
    base_note = (
        f"Online Retail (UCI, Chen, Sain & Guo 2012; full file, imported in {loaded:.0f} s): "
        f"{len(lines):,} lines of {lines['customer_id'].nunique():,} customers; train before 2011-09-01 "
        f"({X_train.n_users:,} customers x {X_train.n_items:,} products incl. never-bought ones, "
        f"{weighting} of quantity), test 2011-09-01 to 2011-12-09 for the {n_test_users:,} returning customers. "
        f"Validation: train before 2011-06-01, validate June-August. Catalogue as of each cutoff: "
        f"{scored.loc[future, 'item_id'].nunique():,} products first sold after 2011-09-01 cannot be recommended "
        f"and are misses for every model ({future.mean():.1%} of the returning customers' test pairs). "
        f"Tuning and fitting everything: {total:.0f} s; a hybrid's fit time is the sum of its components'."
    )
    print_table(
        "Online Retail, next basket (items bought before allowed)",
        base_note + " Truth: every product the customer bought in the test period.",
        repeat_rows,
        coverage=True,
    )
    print_table(
        "Online Retail, discovery (new items only)",
        base_note + " Truth: test-period products the customer had never bought; seen items excluded.",
        new_rows,
        coverage=True,
    )
    p50, p95 = serving_latency(discovery.model, X_train.user_ids)
    c50, c95 = serving_latency_context(discovery.model, X_train.item_ids)
    fit_total = sum(t.fit_seconds for t in singles)
    print(f"### Online Retail serving and fitting ({date.today():%Y-%m-%d})")
    print()
    print("| what | figure | goal |")
    print("|---|---:|---:|")
    print(f"| top-10 with explanations, discovery hybrid, p50 over 1,000 customers | {p50:.2f} ms | |")
    print(f"| same, p95 | {p95:.2f} ms | <= 5 ms |")
    print(f"| new visitor, `recommend_for_context` (2 mentioned products), p50 / p95 | {c50:.2f} / {c95:.2f} ms | |")
    print(
        f"| fit of all {len(singles)} models on the full train (the hybrids blend these fitted models) "
        f"| {fit_total:.1f} s | < 60 s |"
    )
    print()
    sample = X_train.user_ids[0]
    print(f"Example, customer {sample}:")
    print()
    for rec in discovery.model.recommend(sample, n=5):
        name = X_train.item_name(X_train.item_col(rec.item_id))
        print(f"- {name} — {rec.reason}")
    print()


def serving_latency_context(hybrid: Any, item_ids: np.ndarray, n_calls: int = 1000) -> tuple[float, float]:
    rng = np.random.default_rng(11)
    times = []
    for _ in range(n_calls):
        mentioned = rng.choice(item_ids, size=2, replace=False).tolist()
        start = time.perf_counter()
        hybrid.recommend_for_context(mentioned, n=K)
        times.append(time.perf_counter() - start)
    ms = np.asarray(times) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["movielens", "retail", "all"], default="all")
    parser.add_argument("--file", type=Path, default=RETAIL_FILE, help="the full Online Retail CSV")
    parser.add_argument(
        "--validation-only",
        action="store_true",
        help="MovieLens: tune and print validation scores, never score the test",
    )
    args = parser.parse_args(argv)
    if args.validation_only and args.dataset != "movielens":
        parser.error("--validation-only needs --dataset movielens")
    print(f"## Recommendations, top-{K} ({date.today():%Y-%m-%d})")
    print()
    if args.dataset in ("movielens", "all"):
        run_movielens(validation_only=args.validation_only)
    if args.dataset in ("retail", "all"):
        if not args.file.exists():
            sys.exit(f"error: {args.file} not found; pass --file with the full Online Retail CSV.")
        run_retail(args.file)


if __name__ == "__main__":
    main()
