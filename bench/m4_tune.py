"""Choose the global lag-boosting settings for ``bench/m4_eval.py`` on validation, never on the test.

    .venv/bin/python bench/m4_tune.py [--frequency weekly|hourly|all] [--n-jobs 2]

Validation: the last ``horizon`` values of each M4 *training* series (13
weeks, 48 hours). Every candidate is fitted on the training series without
that window and forecasts it; the M4 test files are never opened. Candidates
are scored by sMAPE and MASE (the organisers' MASE periods) and by their OWA
against the naive forecast of the same window (seasonal naive, period 24,
for Hourly): the benchmark the automatic forecaster uses, since Naive2 is not
implemented here. The lowest OWA wins.

The grid is small on purpose (each frequency runs in about 1-3 minutes on
two cores): the settings ``m4_eval.py`` used to hard-code, then one change at
a time along each axis that ``GlobalLagBoosting`` documents (scaling and its
level window, training rows per series, lags, mean windows, tree size,
boosting rounds, direct against recursive for Weekly). A full product of
these axes would be hundreds of fits and would mostly tune to noise in one
window.

Prints the validation table and writes the winners to
``bench/m4_settings.json``, which ``bench/m4_eval.py`` reads; the test is
then scored once, by ``m4_eval.py``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics.forecast import GlobalLagBoosting, Naive, SeasonalNaive, m4_scores  # noqa: E402
from bench.m4_eval import M4_DIR, SETTINGS_FILE, SETUPS, Setup, load_m4_train  # noqa: E402

#: Hourly lags without the weekly cycle, and with it (the library's default for season 24).
HOURLY_DAILY_LAGS = [*range(1, 25), 48, 72, 168]


def candidates(setup: Setup) -> dict[str, dict[str, Any]]:
    """The settings m4_eval.py hard-coded before this script existed, then one change at a time."""
    if setup.name == "Weekly":
        base: dict[str, Any] = {
            "season_length": 52,
            "scaling": "window",
            "strategy": "direct",
            "horizon": setup.horizon,
            "max_rows_per_series": 200,
            "max_features": 0.5,
        }
        return {
            "previous: window(4) scaling, direct, 200 rows, lags 1-52": base,
            "level window 13": base | {"window": 13},
            "series scaling": base | {"scaling": "series"},
            "400 rows per series": base | {"max_rows_per_series": 400},
            "lags 1-13, 26, 52": base | {"lags": [*range(1, 14), 26, 52]},
            "smaller trees (15 leaves, 40 per leaf)": base | {"max_leaf_nodes": 15, "min_samples_leaf": 40},
            "200 rounds at rate 0.05": base | {"max_iter": 200, "learning_rate": 0.05},
            "recursive": base | {"strategy": "recursive", "horizon": None, "max_features": 1.0},
        }
    base = {
        "season_length": 24,
        "max_rows_per_series": 400,
        "max_iter": 300,
        "max_leaf_nodes": 63,
        "min_samples_leaf": 50,
    }
    return {
        "previous: series scaling, 400 rows, 300 rounds, 63 leaves": base,
        "window scaling, level of the last 24 h": base | {"scaling": "window", "window": 24},
        "window scaling, level of the last 168 h": base | {"scaling": "window", "window": 168},
        "800 rows per series": base | {"max_rows_per_series": 800},
        "daily lags only (1-24, 48, 72, 168)": base | {"lags": HOURLY_DAILY_LAGS},
        "mean windows 24 and 168": base | {"mean_windows": [24, 168]},
        "smaller trees (31 leaves, 20 per leaf)": base | {"max_leaf_nodes": 31, "min_samples_leaf": 20},
        "600 rounds at rate 0.05": base | {"max_iter": 600, "learning_rate": 0.05},
    }


def reference(setup: Setup) -> Any:
    """The benchmark of the validation OWA: naive for Weekly, seasonal naive (24) for Hourly."""
    return Naive() if setup.mase_m == 1 else SeasonalNaive(season_length=setup.mase_m)


def validation_split(train: list[np.ndarray], horizon: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Each training series without its last ``horizon`` values, and those values (series x horizon)."""
    short = [i for i, y in enumerate(train) if len(y) <= horizon]
    if short:
        raise SystemExit(f"error: series {short[:5]} have no more than {horizon} values; nothing is left to fit on.")
    return [y[:-horizon] for y in train], np.array([y[-horizon:] for y in train])


def validate(setup: Setup, train: list[np.ndarray], n_jobs: int) -> tuple[str, list[dict[str, Any]]]:
    h, m = setup.horizon, setup.mase_m
    fit_part, window = validation_split(train, h)
    ref_fc = np.stack([reference(setup).fit(y).predict(h) for y in fit_part])
    ref = m4_scores(fit_part, window, ref_fc, m=m)
    rows = []
    for name, params in candidates(setup).items():
        start = time.perf_counter()
        workers = n_jobs if params.get("strategy") == "direct" else 1
        fc = GlobalLagBoosting(**params, n_jobs=workers).fit(fit_part).predict(h)
        seconds = time.perf_counter() - start
        s = m4_scores(fit_part, window, fc, m=m)
        owa = 0.5 * (s["smape"] / ref["smape"] + s["mase"] / ref["mase"])
        rows.append({"name": name, "params": params, **s, "owa": owa, "seconds": seconds})
        print(f"  {name}: OWA {owa:.4f} ({seconds:.1f} s)", file=sys.stderr, flush=True)
    best = min(rows, key=lambda r: r["owa"])
    print(f"### M4 {setup.name}: global lag boosting chosen on validation ({date.today():%Y-%m-%d})")
    print()
    print(
        f"Validation: the last {h} values of each of the {len(train)} training series; fitted on the values before "
        f"them (the test is not read). OWA against {type(reference(setup)).__name__} on the same window "
        f"({ref['smape']:.3f} / {ref['mase']:.3f}); MASE period {m}."
    )
    print()
    print("| candidate | sMAPE | MASE | OWA | fit + predict (s) |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        mark = "**" if r is best else ""
        print(
            f"| {mark}{r['name']}{mark} | {r['smape']:.3f} | {r['mase']:.3f} | {mark}{r['owa']:.4f}{mark} "
            f"| {r['seconds']:.1f} |"
        )
    print()
    print(f"Chosen: {best['name']}; total {sum(r['seconds'] for r in rows):.0f} s.")
    print()
    return best["name"], rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frequency", choices=["weekly", "hourly", "all"], default="all")
    parser.add_argument("--n-jobs", type=int, default=2, help="processes for the direct models (default 2)")
    parser.add_argument("--out", type=Path, default=SETTINGS_FILE, help="where m4_eval.py reads the settings")
    args = parser.parse_args(argv)
    if args.n_jobs < 1:
        sys.exit("error: --n-jobs must be at least 1.")
    if not M4_DIR.is_dir():
        sys.exit(f"error: {M4_DIR} not found; the shared datasets folder must be beside the clone.")
    keys = ["weekly", "hourly"] if args.frequency == "all" else [args.frequency]
    settings = json.loads(args.out.read_text()) if args.out.exists() else {}
    for key in keys:
        setup = SETUPS[key]
        _, train = load_m4_train(setup)
        name, rows = validate(setup, train, args.n_jobs)
        chosen = next(r for r in rows if r["name"] == name)
        settings[key] = {
            "chosen": name,
            "params": chosen["params"],
            "validation_owa": round(chosen["owa"], 4),
            "tuned": f"{date.today():%Y-%m-%d}",
            "by": "bench/m4_tune.py",
        }
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(settings, indent=2) + "\n")
    tmp.replace(args.out)
    print(f"Wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}.")


if __name__ == "__main__":
    main()
