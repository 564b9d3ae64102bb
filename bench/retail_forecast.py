"""Benchmark: demand forecasts on Online Retail, our automatic choice against seasonal naive and naive.

    .venv/bin/python bench/retail_forecast.py [--jobs 2] [--skip-full-run]

Data: the full UCI Online Retail file (``CRM_FULL_DATASET_PATH``, by default
``../shared/datasets/online_retail_uci``), imported without a time shift
into a throw-away SQLite store; the script stops with a message if the file
is missing. Series are built from the store by ``analytics.forecast.demand_series`` exactly as
``crm forecast demand`` builds them (net of cancellations, guest orders
included, Saturdays closed and left out of daily series).

Rolling origin: at each origin the history is cut (``as_of`` = the origin,
so only complete periods before it count), ``build_series`` and
``forecast_demand`` run as in production, and the next ``horizon`` periods
are scored against what was sold:

- shop daily revenue: 8 origins 14 days apart (25 Nov 2011 back to 19 Aug),
  horizon 14 days (12 open days);
- shop weekly revenue, category weekly revenue and the weekly units of the
  top 50 products: 5 origins 4 weeks apart (10 Oct 2011 back to 20 June),
  horizon 8 weeks. The top 50 are the products with the most revenue before
  the first origin (among those with enough history to be forecast); at
  every origin products are forecast in the first group of 200 by revenue,
  the group they are in in a full run, so their forecasts are the ones a
  full run gives.

Benchmarks on the same histories: the seasonal naive forecast (a week ago,
daily; a year ago, weekly, which needs 52 weeks of history: with at most 45
weeks before any origin it falls back to naive, so the weekly benchmark is
the naive forecast, as M4 uses for weekly data) and the naive forecast.
MASE divides each window's MAE by the in-sample MAE of the seasonal naive
forecast on its history (a week of open days daily, naive weekly), as the
M4 organisers do; sMAPE is the M4 one. Scores are means over series and
origins.

Then (unless ``--skip-full-run``) one full run per frequency on the whole
store, every product, timed with ``--jobs`` processes (with ``--jobs 1`` the
CPU seconds are shown too: unlike wall time they do not depend on what else
the machine runs). Prints Markdown for
BENCHMARKS.md and writes ``bench/out/retail_forecast.json``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

from analytics.core.settings import get_settings  # noqa: E402
from analytics.forecast import Naive, SeasonalNaive, smape  # noqa: E402
from analytics.forecast.demand import run_demand_forecast  # noqa: E402
from analytics.forecast.demand_forecasters import PRODUCT_GROUP_SIZE, SeriesForecast, forecast_demand, mase_scale_period  # noqa: E402
from analytics.forecast.demand_series import DemandData, build_series, load_sales  # noqa: E402

DAILY_ORIGINS = pd.date_range(end="2011-11-25", periods=8, freq="14D")
WEEKLY_ORIGINS = pd.date_range(end="2011-10-10", periods=5, freq="28D")
HORIZON = {"D": 14, "W": 8}
TOP = 50


@dataclass
class Family:
    """Scores of one family of series: per (key, origin) MASE and sMAPE of each method."""

    name: str
    freq: str
    level: str
    measure: str
    mase: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    smape: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    per_key: dict[str, dict[str, list[float]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    models: Counter[str] = field(default_factory=Counter)
    snaive_fell_back: int = 0


def scale(history: np.ndarray, m: int) -> float:
    lag = m if len(history) > m else 1
    value = float(np.mean(np.abs(history[lag:] - history[:-lag])))
    return value if value > 0 else (float(np.mean(np.abs(history))) or 1.0)


def score(
    family: Family,
    key: str,
    history: pd.Series,
    actual: pd.Series,
    ours: SeriesForecast,
    season: int,
) -> None:
    """Score ours, seasonal naive and naive on the open periods of one window."""
    # the actuals hold open periods only: closed days (0 in our forecast) are not scored
    scored = np.isin(ours.periods, actual.index)
    truth = actual.reindex(ours.periods[scored]).to_numpy()
    steps = len(truth)
    y = history.to_numpy()
    m_season = season if family.freq == "D" else 52
    snaive = SeasonalNaive(season_length=m_season).fit(y)
    family.snaive_fell_back += snaive.fallback_ == "naive"
    forecasts = {
        "ours": ours.point[scored],
        "seasonal naive": snaive.predict(steps),
        "naive": Naive().fit(y).predict(steps),
    }
    denominator = scale(y, mase_scale_period(family.freq, season))
    for method, fc in forecasts.items():
        q = float(np.mean(np.abs(truth - fc))) / denominator
        family.mase[method].append(q)
        family.smape[method].append(smape(truth, fc))
        family.per_key[key][method].append(q)
    family.models[ours.model] += 1


def series_map(data: DemandData) -> dict[tuple[str, str, str], pd.Series]:
    return {(s.level, s.key, s.measure): s.values for s in data.series}


def backtest(
    sales: pd.DataFrame, freq: str, origins: pd.DatetimeIndex, families: list[Family], keys: dict[str, list[str]]
) -> list[float]:
    """Run the rolling origin for one frequency; returns the forecasting seconds per origin."""
    horizon = HORIZON[freq]
    actuals = series_map(build_series(sales, freq, horizon=1, min_periods=1, min_sale_periods=1))
    top = PRODUCT_GROUP_SIZE if any(f.level == "product" for f in families) else 0
    seconds = []
    for origin in origins:
        data = build_series(sales, freq, as_of=origin, horizon=horizon, top_products=top)
        start = time.perf_counter()
        forecasts = forecast_demand(data, horizon)
        seconds.append(time.perf_counter() - start)
        ours = {(f.level, f.key, f.measure): f for f in forecasts}
        history = series_map(data)
        for family in families:
            for key in keys[family.name]:
                found = ours.get((family.level, key, family.measure))
                if found is None:
                    raise SystemExit(f"error: {family.level} {key} was not forecast at origin {origin:%Y-%m-%d}.")
                series_key = (family.level, key, family.measure)
                score(family, key, history[series_key], actuals[series_key], found, data.season_length)
        print(f"  {freq} origin {origin:%Y-%m-%d}: {seconds[-1]:.1f} s", file=sys.stderr, flush=True)
    return seconds


def fmt(values: list[float]) -> str:
    return f"{np.mean(values):.3f}"


def print_family(family: Family, n_origins: int) -> dict[str, Any]:
    n_keys = len(family.per_key)
    snaive = "seasonal naive" + (" (= naive)" if family.snaive_fell_back == len(family.mase["naive"]) else "")
    models = ", ".join(f"{m} ({n})" for m, n in family.models.most_common(3))
    beats = sum(np.mean(v["ours"]) < np.mean(v["seasonal naive"]) for v in family.per_key.values())
    print(
        f"| {family.name} | {n_keys} × {n_origins} | {fmt(family.mase['ours'])} | "
        f"{fmt(family.mase['seasonal naive'])} | {fmt(family.mase['naive'])} | {fmt(family.smape['ours'])} | "
        f"{fmt(family.smape['seasonal naive'])} | {fmt(family.smape['naive'])} | {beats}/{n_keys} |"
    )
    return {
        "family": family.name,
        "series": n_keys,
        "origins": n_origins,
        "mase": {k: float(np.mean(v)) for k, v in family.mase.items()},
        "smape": {k: float(np.mean(v)) for k, v in family.smape.items()},
        "ours_beats_seasonal_naive": int(beats),
        "seasonal_naive_label": snaive,
        "models": models,
    }


def full_run(path: Path, freq: str, jobs: int) -> dict[str, Any]:
    from analytics.store.bootstrap import store_for_url

    uow = store_for_url(f"sqlite:///{path}").unit_of_work()
    load = os.getloadavg()[0]
    cpu = time.process_time()
    result = run_demand_forecast(uow, freq=freq, n_jobs=jobs)
    cpu = time.process_time() - cpu
    products = next(s for s in result.levels if s.level == "product")
    info = {
        "freq": freq,
        "series": result.n_series,
        "products": products.series,
        "skipped_products": products.skipped,
        "seconds": dict(result.seconds),
        "cpu_seconds": cpu if jobs == 1 else None,  # the worker processes' CPU is not counted
        "jobs": jobs,
        "load_average_at_start": load,
    }
    print(f"  full {freq} run: {info}", file=sys.stderr, flush=True)
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="processes for the full runs (default 2)")
    parser.add_argument("--skip-full-run", action="store_true", help="only the rolling-origin backtest")
    args = parser.parse_args()

    source = get_settings().full_dataset_path
    if not source.exists():
        raise SystemExit(
            f"error: the full Online Retail file is not at {source}; put the UCI file there or point "
            "CRM_FULL_DATASET_PATH at it (see README, 'Importing Online Retail')."
        )
    from analytics.ingest.online_retail import import_online_retail
    from analytics.store.bootstrap import store_for_url
    from analytics.store.db import make_engine
    from analytics.store.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="retail_forecast_") as tmp:
        store = Path(tmp) / "store.sqlite3"
        upgrade(make_engine(f"sqlite:///{store}"))
        uow = store_for_url(f"sqlite:///{store}").unit_of_work()
        start = time.perf_counter()
        import_online_retail(uow, source)
        print(f"  imported {source.name} in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
        sales = load_sales(uow)

        daily = [Family("shop daily revenue", "D", "shop", "revenue")]
        daily_seconds = backtest(sales, "D", DAILY_ORIGINS, daily, {"shop daily revenue": ["all"]})

        first = build_series(sales, "W", as_of=WEEKLY_ORIGINS[0], horizon=HORIZON["W"], top_products=TOP)
        top = [s.key for s in first.series if s.level == "product" and s.measure == "units"]
        categories = [s.key for s in first.series if s.level == "category" and s.measure == "revenue"]
        weekly = [
            Family("shop weekly revenue", "W", "shop", "revenue"),
            Family(f"category weekly revenue ({len(categories)})", "W", "category", "revenue"),
            Family(f"top-{len(top)} product weekly units", "W", "product", "units"),
        ]
        keys = {weekly[0].name: ["all"], weekly[1].name: categories, weekly[2].name: top}
        weekly_seconds = backtest(sales, "W", WEEKLY_ORIGINS, weekly, keys)

        full = [] if args.skip_full_run else [full_run(store, freq, args.jobs) for freq in ("D", "W")]

    print(f"### Online Retail demand forecasts, rolling origin ({date.today():%Y-%m-%d})")
    print()
    print(
        "| series | series × origins | ours MASE | seasonal naive | naive | ours sMAPE | seasonal naive | naive "
        "| ours beats seasonal naive |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = [print_family(f, len(DAILY_ORIGINS)) for f in daily] + [print_family(f, len(WEEKLY_ORIGINS)) for f in weekly]
    print()
    for row in rows:
        print(f"- {row['family']}: {row['seasonal_naive_label']}; models chosen: {row['models']}")
    print()
    print(
        f"Forecasting time per origin (one process): daily shop and categories {np.mean(daily_seconds):.1f} s; "
        f"weekly shop, categories and {PRODUCT_GROUP_SIZE} products {np.mean(weekly_seconds):.1f} s."
    )
    if full:
        print()
        print(f"Full runs on the whole store ({os.cpu_count()} cores, --jobs {args.jobs}):")
        print()
        print("| run | series | products (skipped) | load s | forecast s | write s | total s | CPU s | load average |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for info in full:
            s = info["seconds"]
            cpu = "–" if info["cpu_seconds"] is None else f"{info['cpu_seconds']:.1f}"
            print(
                f"| {info['freq']} | {info['series']:,} | {info['products']:,} ({info['skipped_products']:,}) | "
                f"{s['load']:.1f} | {s['forecast']:.1f} | {s['write']:.1f} | {s['total']:.1f} | {cpu} | "
                f"{info['load_average_at_start']:.1f} |"
            )
    OUT.mkdir(parents=True, exist_ok=True)
    payload = {
        "date": f"{date.today():%Y-%m-%d}",
        "families": rows,
        "daily_origins": [f"{o:%Y-%m-%d}" for o in DAILY_ORIGINS],
        "weekly_origins": [f"{o:%Y-%m-%d}" for o in WEEKLY_ORIGINS],
        "seconds_per_origin": {"D": daily_seconds, "W": weekly_seconds},
        "full_runs": full,
    }
    (OUT / "retail_forecast.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
