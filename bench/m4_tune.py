"""Choose the settings of ``bench/m4_eval.py``'s forecasters on validation, never on the test.

    .venv/bin/python bench/m4_tune.py [--stage global|auto] [--frequency weekly|hourly|all] [--n-jobs 2]

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

``--stage auto`` (run after the global stage; it does not change the global
settings) chooses the automatic forecaster's selection settings: how many
backtest windows it judges candidates on, whether it keeps the best one or
the best equal-weight combination of up to three, and whether it chooses
once for the panel or per series. The forecaster of ``m4_eval.py`` (same
candidates, the tuned global model) is fitted on the training series
without the validation window, so its own backtest windows lie before that
window, and forecasts it; scored as above. The candidates' backtest
forecasts do not depend on these settings, so every candidate is fitted
once per origin and each setting's choice is replayed from those forecasts
by the forecaster's own selection code (its seconds are the sum of the
fits it needs, plus its selection).

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

from sklearn.base import clone  # noqa: E402

from analytics.forecast import GlobalLagBoosting, Naive, PanelForecaster, SeasonalNaive, m4_scores  # noqa: E402
from analytics.forecast.base import check_series  # noqa: E402
from bench.m4_eval import (  # noqa: E402
    AUTO_DEFAULTS,
    M4_DIR,
    SETTINGS_FILE,
    SETUPS,
    Setup,
    auto_forecaster,
    load_m4_train,
    tuned_settings,
)

#: Hourly lags without the weekly cycle, and with it (the library's default for season 24).
HOURLY_DAILY_LAGS = [*range(1, 25), 48, 72, 168]
#: Selection settings the auto stage tries: backtest windows x combination x where the choice is made.
#: In this order, so a tie in validation OWA goes to the simpler and cheaper setting.
AUTO_GRID: list[dict[str, Any]] = [
    {"n_windows": w, "combine": c, "select": s}
    for s in ("panel", "series")
    for c in ("best", "best-combination")
    for w in (1, 2, 3)
]


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


def auto_label(settings: dict[str, Any]) -> str:
    w = settings["n_windows"]
    return f"{w} window{'s' if w > 1 else ''}, {settings['combine']}, per {settings['select']}"


def backtest_forecasts(
    template: PanelForecaster, series: list[np.ndarray], max_windows: int
) -> tuple[list[str], np.ndarray, list[int], dict[int, float]]:
    """Every candidate's forecasts from every origin up to ``max_windows`` horizons back, each fitted once.

    Returns the candidate names, the forecasts (candidates, series, origins, horizon), the origins as
    offsets from the end of each series (the last is 0: the real forecast) and the wall seconds of all
    candidates' fits at each offset.
    """
    local, glob, names = template._check_params()
    h = int(template.horizon)
    offsets = [h * (max_windows - i) for i in range(max_windows)] + [0]
    parts, seconds = [], {}
    for k in offsets:
        start = time.perf_counter()
        at_k = []
        if local:
            at_k.append(template._local_forecasts(local, series, [k])[0])
        if glob:
            at_k.append(template._global_forecasts(glob, series, [k])[0])
        parts.append(np.concatenate(at_k))
        seconds[k] = time.perf_counter() - start
        print(f"  candidates from {k} steps before the end: {seconds[k]:.1f} s", file=sys.stderr, flush=True)
    return names, np.concatenate(parts, axis=2), offsets, seconds


def replay(
    template: PanelForecaster,
    settings: dict[str, Any],
    names: list[str],
    series: list[np.ndarray],
    forecasts: np.ndarray,
    offsets: list[int],
) -> PanelForecaster:
    """The forecaster ``template`` with ``settings``, as ``fit(series)`` would leave it, from forecasts made
    by :func:`backtest_forecasts` (nothing is refitted; the choice is made by the forecaster's own code)."""
    pf = clone(template).set_params(**settings)
    pf._check_params()
    h, w = int(pf.horizon), int(pf.n_windows)
    own = [h * (w - i) for i in range(w)] + [0]
    pf.names_ = names
    pf.cpu_seconds_ = {}
    pf._score_and_combine(series, forecasts[:, :, [offsets.index(k) for k in own]], own[:-1])
    return pf


def validate_auto(setup: Setup, train: list[np.ndarray], n_jobs: int) -> tuple[str, list[dict[str, Any]]]:
    h, m = setup.horizon, setup.mase_m
    fit_part, window = validation_split(train, h)
    ref_fc = np.stack([reference(setup).fit(y).predict(h) for y in fit_part])
    ref = m4_scores(fit_part, window, ref_fc, m=m)
    template = auto_forecaster(setup, n_jobs)
    series = [check_series(y, name=f"series {i}").values for i, y in enumerate(fit_part)]
    max_windows = max(int(g["n_windows"]) for g in AUTO_GRID)
    names, forecasts, offsets, fit_seconds = backtest_forecasts(template, series, max_windows)
    rows: list[dict[str, Any]] = []
    for settings in AUTO_GRID:
        start = time.perf_counter()
        pf = replay(template, settings, names, series, forecasts, offsets)
        fc = pf.predict(h)
        w = int(settings["n_windows"])
        seconds = time.perf_counter() - start + sum(fit_seconds[h * i] for i in range(w + 1))
        s = m4_scores(fit_part, window, fc, m=m)
        owa = 0.5 * (s["smape"] / ref["smape"] + s["mase"] / ref["mase"])
        name = auto_label(settings)
        rows.append({"name": name, "params": settings, "chose": pf.chosen_, **s, "owa": owa, "seconds": seconds})
        print(f"  {name}: {pf.chosen_}, OWA {owa:.4f}", file=sys.stderr, flush=True)
    best = min(rows, key=lambda r: r["owa"])
    global_name = tuned_settings(setup)[0]
    print(f"### M4 {setup.name}: selection settings of the automatic forecaster chosen on validation")
    print(f"({date.today():%Y-%m-%d})")
    print()
    print(
        f"Validation: the last {h} values of each of the {len(train)} training series (the test is not read). "
        f"The automatic forecaster of m4_eval.py (global model: {global_name}) is fitted on the values before "
        f"them, its backtest windows ending where the validation window starts. OWA against "
        f"{type(reference(setup)).__name__} on the same window ({ref['smape']:.3f} / {ref['mase']:.3f}); "
        f"MASE period {m}. Seconds: the candidates' fits the setting needs (shared between settings, each "
        "counted for every setting that needs it) plus its selection."
    )
    print()
    print("| settings | backtest chose | sMAPE | MASE | val. OWA | seconds |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        mark = "**" if r is best else ""
        print(
            f"| {mark}{r['name']}{mark} | {r['chose']} | {r['smape']:.3f} | {r['mase']:.3f} "
            f"| {mark}{r['owa']:.4f}{mark} | {r['seconds']:.0f} |"
        )
    print()
    print("For reference, each candidate alone on the same window (not a setting; not eligible):")
    print()
    print("| candidate | sMAPE | MASE | val. OWA |")
    print("|---|---:|---:|---:|")
    for i, cand in enumerate(names):
        s = m4_scores(fit_part, window, forecasts[i, :, -1], m=m)
        owa = 0.5 * (s["smape"] / ref["smape"] + s["mase"] / ref["mase"])
        print(f"| {cand} | {s['smape']:.3f} | {s['mase']:.3f} | {owa:.4f} |")
    print()
    print(
        f"Chosen: {best['name']}; candidates fitted from {len(offsets)} origins in {sum(fit_seconds.values()):.0f} s."
    )
    print()
    return best["name"], rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--stage",
        choices=["global", "auto"],
        default="global",
        help="global: the global model's settings (default); auto: the automatic forecaster's selection "
        "settings, with the global settings already in the file",
    )
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
        if args.stage == "auto":
            name, rows = validate_auto(setup, train, args.n_jobs)
            chosen = next(r for r in rows if r["name"] == name)
            settings.setdefault("auto", {})[key] = {
                "chosen": name,
                "params": {k: chosen["params"][k] for k in AUTO_DEFAULTS},
                "global": tuned_settings(setup)[0],
                "validation_owa": round(chosen["owa"], 4),
                "tuned": f"{date.today():%Y-%m-%d}",
                "by": "bench/m4_tune.py --stage auto",
            }
            continue
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
