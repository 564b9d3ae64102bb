"""Benchmark: demand forecasting on M4 Weekly and Hourly, ours and statsforecast side by side.

    .venv/bin/python bench/m4_tune.py                 # once: global-model settings chosen on validation
    .venv/bin/python bench/m4_tune.py --stage auto    # then: the automatic forecaster's selection settings
    .venv/bin/python bench/m4_eval.py [--frequency weekly|hourly|all] [--n-jobs 2] [--skip-peer]

Data: the M4 competition's Weekly (359 series, horizon 13) and Hourly (414
series, horizon 48) train/test files (Makridakis, Spiliotis & Assimakopoulos
2020; github.com/Mcompetitions/M4-methods), from ``../shared/datasets/m4_hourly_weekly``.

1. Checks the metric code first: the naive forecast must reproduce the
   official Weekly Naive (sMAPE 9.161, MASE 2.777) and the seasonal naive
   the official Hourly sNaive (13.912, 1.193). MASE is scaled by the
   in-sample seasonal-naive error with period 1 (weekly) and 24 (hourly),
   as the organisers did.
2. Runs every model of ``analytics.forecast`` on every series (local models
   in ``--n-jobs`` processes, one thread each), then the automatic
   ``PanelForecaster``: candidates chosen or combined by a rolling-origin
   backtest on the last ``n_windows`` horizons of the *training* part only;
   the test part is used for scoring and nothing else. The global model's
   settings and the automatic forecaster's selection settings (backtest
   windows, how candidates are combined, panel or per-series choice) are
   read from ``bench/m4_settings.json``, written by ``bench/m4_tune.py``
   on a validation window cut from the end of the training part.
3. Runs statsforecast (the peer named by the issue) on the same series in
   the same run: SeasonalNaive, Theta, AutoETS, AutoARIMA (weekly only:
   seasonal ARIMA on 414 hourly series would take hours) and their
   equal-weight ensemble.

4. Ranks our automatic forecaster, the tuned global model and the best
   statsforecast model by OWA among every official M4 row of the frequency
   (the valid submissions and the organisers' benchmarks), with the best
   entry and the neighbours above and below.

Prints Markdown tables (with the date) for BENCHMARKS.md and writes
``bench/out/m4_eval_<frequency>.json``. OpenMP/BLAS are limited to one
thread per process for everyone: on a shared machine, threads that wait for
each other made HistGradientBoosting 40 times slower.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Optional  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
M4_DIR = ROOT.parent / "shared" / "datasets" / "m4_hourly_weekly"
OUT = ROOT / "bench" / "out"
SETTINGS_FILE = ROOT / "bench" / "m4_settings.json"
#: Selection settings of the automatic forecaster when ``m4_tune.py --stage auto`` has not chosen them.
AUTO_DEFAULTS: dict[str, Any] = {"n_windows": 1, "combine": "best-combination", "select": "panel"}

sys.path.insert(0, str(ROOT))

from analytics.forecast import (  # noqa: E402
    AR,
    ARIMA,
    ETS,
    SARIMA,
    CalendarRegression,
    Drift,
    ExponentialMovingAverage,
    GlobalLagBoosting,
    LagBoosting,
    MovingAverage,
    Naive,
    PanelForecaster,
    SeasonalNaive,
    Theta,
    m4_scores,
)
from analytics.forecast.base import BaseForecaster  # noqa: E402


@dataclass(frozen=True)
class Setup:
    name: str  # file prefix in the M4 folder
    horizon: int
    mase_m: int  # the organisers' MASE period
    season: int  # the season our seasonal models use
    check: tuple[str, float, float]  # official benchmark the metric code must reproduce
    goal: tuple[float, float]  # the goal: sMAPE, MASE at most
    speed_goal: float  # seconds for the automatic forecaster
    sarima_every: int  # SARIMA runs on every k-th series (seconds per series)


SETUPS = {
    "weekly": Setup("Weekly", 13, 1, 52, ("Naive", 9.161, 2.777), (7.4, 2.15), 60.0, 24),
    "hourly": Setup("Hourly", 48, 24, 24, ("sNaive", 13.912, 1.193), (12.0, 1.0), 180.0, 12),
}
#: Official rows shown for reference (the "Point Forecasts-Frequency" sheet); 118 = Smyl, 245 = Montero-Manso.
OFFICIAL = {"Naive": "Naive", "sNaive": "sNaive", "Naive2": "Naive2", "Theta": "Theta", "Com": "Comb (S-H-D)"}
OFFICIAL_TEAMS = {"118": "#1 Smyl (ES-RNN)", "245": "#2 Montero-Manso (FFORMA)"}
#: The default hourly lags reach back 504 h; a model of one series of 700-960 values needs fewer.
HOURLY_LOCAL_LAGS = [*range(1, 25), 48, 167, 168, 169]


@dataclass
class Result:
    model: str
    by: str
    smape: float
    mase: float
    seconds: Optional[float]
    note: str = ""
    forecasts: Optional[np.ndarray] = field(default=None, repr=False)


def load_m4_train(setup: Setup) -> tuple[list[str], list[np.ndarray]]:
    """Series ids and training values only (what tuning may read)."""
    train = pd.read_csv(M4_DIR / f"{setup.name}-train.csv")
    values = train.drop(columns="V1").to_numpy("float64")
    return train["V1"].astype(str).tolist(), [row[~np.isnan(row)] for row in values]


def load_m4(setup: Setup) -> tuple[list[str], list[np.ndarray], np.ndarray]:
    ids, train = load_m4_train(setup)
    test = pd.read_csv(M4_DIR / f"{setup.name}-test.csv")
    if ids != test["V1"].astype(str).tolist():
        raise SystemExit(f"error: {setup.name} train and test list different series.")
    return ids, train, test.drop(columns="V1").to_numpy("float64")


def official_scores(setup: Setup) -> dict[str, tuple[float, float]]:
    table = pd.read_csv(M4_DIR / "m4_official_all_methods_point_by_frequency.csv", dtype={"Method": str})
    rows = {
        str(r["Method"]): (float(r[f"sMAPE_{setup.name}"]), float(r[f"MASE_{setup.name}"])) for _, r in table.iterrows()
    }
    return rows


def official_table(setup: Setup) -> pd.DataFrame:
    """Every official row with scores for this frequency: label, sMAPE, MASE, OWA (the organisers' column)."""
    table = pd.read_csv(M4_DIR / "m4_official_all_methods_point_by_frequency.csv", dtype={"Method": str})
    cols = [f"sMAPE_{setup.name}", f"MASE_{setup.name}", f"OWA_{setup.name}"]
    table = table.dropna(subset=["Method", *cols])
    return pd.DataFrame(
        {
            "entry": [official_label(m) for m in table["Method"]],
            "submission": table["Method"].str.isdigit().to_numpy(),
            "smape": table[cols[0]].astype(float),
            "mase": table[cols[1]].astype(float),
            "owa": table[cols[2]].astype(float),
        }
    ).reset_index(drop=True)


def official_label(method: str) -> str:
    if method in OFFICIAL_TEAMS:
        return OFFICIAL_TEAMS[method].split(" ", 1)[1] + f" (entry {method})"
    return f"entry {method}" if method.isdigit() else f"{OFFICIAL.get(method, method)} (benchmark)"


def owa_of(smape: float, mase: float, naive2: tuple[float, float]) -> float:
    return 0.5 * (smape / naive2[0] + mase / naive2[1])


def rank_lines(setup: Setup, ours: list[Result], naive2: tuple[float, float]) -> list[str]:
    """Markdown: where each of ``ours`` ranks by OWA among all official rows, with the best and the neighbours."""
    table = official_table(setup).sort_values("owa", kind="stable").reset_index(drop=True)
    n_entries = int(table["submission"].sum())
    best = table.iloc[0]
    lines = [
        f"Rank by OWA among the {len(table)} official rows with {setup.name} scores ({n_entries} submissions and "
        f"{len(table) - n_entries} benchmarks; OWA against Naive2 {naive2[0]:.3f} / {naive2[1]:.3f}). Best: "
        f"{best['entry']}, {best['smape']:.3f} / {best['mase']:.3f}, OWA {best['owa']:.3f}.",
        "",
        "| ours | sMAPE | MASE | OWA | rank | OWA / best | entry above (OWA) | entry below (OWA) |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in ours:
        owa = owa_of(r.smape, r.mase, naive2)
        rank, above, below = rank_among(table, owa)
        up = f"{above['entry']} ({above['owa']:.3f})" if above is not None else "—"
        down = f"{below['entry']} ({below['owa']:.3f})" if below is not None else "—"
        lines.append(
            f"| {r.model.strip('*')} ({r.by}) | {r.smape:.3f} | {r.mase:.3f} | {owa:.3f} | {rank} of "
            f"{len(table) + 1} | {owa / best['owa']:.3f} | {up} | {down} |"
        )
    return lines


def rank_among(table: pd.DataFrame, owa: float) -> tuple[int, Optional[pd.Series], Optional[pd.Series]]:
    """Our rank by OWA among the rows of ``table`` (1 = best; a tie ranks us behind the entry), and the rows
    just above and just below us."""
    ordered = table.sort_values("owa", kind="stable").reset_index(drop=True)
    ahead = ordered[ordered["owa"] <= owa]
    behind = ordered[ordered["owa"] > owa]
    return (
        len(ahead) + 1,
        ahead.iloc[-1] if len(ahead) else None,
        behind.iloc[0] if len(behind) else None,
    )


def tuned_settings(setup: Setup) -> tuple[str, dict[str, Any]]:
    """The global-model settings ``bench/m4_tune.py`` chose on validation for this frequency."""
    key = setup.name.lower()
    try:
        settings = json.loads(SETTINGS_FILE.read_text())[key]
        return str(settings["chosen"]), dict(settings["params"])
    except (OSError, ValueError, KeyError) as exc:
        raise SystemExit(
            f"error: no tuned {key} settings in {SETTINGS_FILE} ({exc!r}); run "
            f".venv/bin/python bench/m4_tune.py --frequency {key} first."
        ) from exc


def auto_settings(setup: Setup) -> tuple[str, dict[str, Any], Optional[str]]:
    """The automatic forecaster's selection settings ``m4_tune.py --stage auto`` chose, else ``AUTO_DEFAULTS``.

    Returns a description, the settings, and the global-model settings they were chosen with (None if untuned).
    """
    key = setup.name.lower()
    try:
        chosen = json.loads(SETTINGS_FILE.read_text())["auto"][key]
        params = {name: chosen["params"][name] for name in AUTO_DEFAULTS}
        return str(chosen["chosen"]), params, str(chosen["global"])
    except (OSError, ValueError, KeyError, TypeError):
        return "not tuned: " + ", ".join(f"{k}={v}" for k, v in AUTO_DEFAULTS.items()), dict(AUTO_DEFAULTS), None


# -- running our models ---------------------------------------------------------------------------------


def _local_chunk(model: BaseForecaster, series: list[np.ndarray], h: int) -> np.ndarray:
    from sklearn.base import clone
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.stack([clone(model).fit(y).predict(h) for y in series])


def run_local(model: BaseForecaster, train: list[np.ndarray], h: int, n_jobs: int) -> tuple[np.ndarray, float]:
    """Fit and forecast every series; returns forecasts (series, h) and wall seconds."""
    from joblib import Parallel, delayed

    start = time.perf_counter()
    order = np.argsort([-len(y) for y in train])
    chunks = [c for c in (order[i :: n_jobs * 4] for i in range(n_jobs * 4)) if len(c)]
    parts = Parallel(n_jobs=n_jobs, backend="loky")(
        delayed(_local_chunk)(model, [train[i] for i in chunk], h) for chunk in chunks
    )
    out = np.empty((len(train), h))
    for chunk, part in zip(chunks, parts):
        out[chunk] = part
    return out, time.perf_counter() - start


def local_models(setup: Setup) -> dict[str, BaseForecaster]:
    m = setup.season
    if setup.name == "Weekly":
        return {
            "Naive": Naive(),
            "SeasonalNaive(52)": SeasonalNaive(season_length=m),
            "Drift": Drift(),
            "MovingAverage(4)": MovingAverage(window=4),
            "ExponentialMovingAverage(0.3)": ExponentialMovingAverage(alpha=0.3),
            "AR(4)": AR(p=4),
            "ARIMA(1,1,1)": ARIMA(order=(1, 1, 1)),
            "ETS(52), trend by AICc": ETS(season_length=m),
            "ETS(52), damped": ETS(trend="damped", season_length=m),
            "Theta(52)": Theta(season_length=m),
            "CalendarRegression(52), last 3 years": CalendarRegression(season_length=m, max_history=156),
            "LagBoosting(52), local": LagBoosting(season_length=m, max_iter=50),
        }
    return {
        "Naive": Naive(),
        "SeasonalNaive(24)": SeasonalNaive(season_length=24),
        "SeasonalNaive(168)": SeasonalNaive(season_length=168),
        "Drift": Drift(),
        "MovingAverage(24)": MovingAverage(window=24),
        "ExponentialMovingAverage(0.3)": ExponentialMovingAverage(alpha=0.3),
        "AR(48)": AR(p=48),
        "ARIMA(2,0,1)": ARIMA(order=(2, 0, 1)),
        "ETS(24), trend by AICc": ETS(season_length=m),
        "Theta(24)": Theta(season_length=m),
        "Theta(168)": Theta(season_length=168),
        "CalendarRegression(24), last 4 weeks": CalendarRegression(season_length=m, max_history=672),
        "LagBoosting(24), local": LagBoosting(season_length=m, lags=HOURLY_LOCAL_LAGS, max_iter=50),
    }


def global_models(setup: Setup, n_jobs: int) -> dict[str, GlobalLagBoosting]:
    """The global model with the settings chosen on validation by ``bench/m4_tune.py``."""
    chosen, params = tuned_settings(setup)
    workers = n_jobs if params.get("strategy") == "direct" else 1
    return {f"GlobalLagBoosting, tuned ({chosen})": GlobalLagBoosting(**params, n_jobs=workers)}


def auto_forecaster(setup: Setup, n_jobs: int) -> PanelForecaster:
    """The automatic forecaster: a few strong local candidates, the global model, and the selection settings
    chosen on validation (:func:`auto_settings`)."""
    m = setup.season
    if setup.name == "Weekly":
        local: dict[str, BaseForecaster] = {
            "naive": Naive(),
            "drift": Drift(),
            "theta": Theta(season_length=m),
            "ses": ETS(trend=None, season_length=m),
            "holt": ETS(trend="additive", season_length=m),
            "damped": ETS(trend="damped", season_length=m),
        }
    else:
        local = {
            "snaive24": SeasonalNaive(season_length=24),
            "snaive168": SeasonalNaive(season_length=168),
            "theta24": Theta(season_length=24),
            "theta168": Theta(season_length=168),
            "ar48": AR(p=48),
            "local-boosting": LagBoosting(season_length=24, lags=HOURLY_LOCAL_LAGS, max_iter=50),
        }
    glob = {"global": next(iter(global_models(setup, n_jobs).values()))}
    return PanelForecaster(
        local=local,
        global_models=glob,
        horizon=setup.horizon,
        **auto_settings(setup)[1],
        season_length=setup.mase_m,
        n_jobs=n_jobs,
    )


# -- statsforecast --------------------------------------------------------------------------------------


def run_peer(setup: Setup, ids: list[str], train: list[np.ndarray], n_jobs: int) -> list[Result]:
    import statsforecast
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS
    from statsforecast.models import SeasonalNaive as SFSeasonalNaive
    from statsforecast.models import Theta as SFTheta

    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(ids, [len(y) for y in train]),
            "ds": np.concatenate([np.arange(len(y)) for y in train]),
            "y": np.concatenate(train),
        }
    )
    m = setup.season
    models: dict[str, Any] = {
        f"SeasonalNaive({m})": SFSeasonalNaive(season_length=m),
        f"Theta({m})": SFTheta(season_length=m),
        f"AutoETS({m})": AutoETS(season_length=m),
    }
    if setup.name == "Weekly":
        models["AutoARIMA(1)"] = AutoARIMA(season_length=1)
    version = f"statsforecast {statsforecast.__version__}"
    out: dict[str, tuple[np.ndarray, float]] = {}
    for name, model in models.items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fc = StatsForecast(models=[model], freq=1, n_jobs=n_jobs).forecast(df=frame, h=setup.horizon)
        seconds = time.perf_counter() - start
        column = next(c for c in fc.columns if c not in ("unique_id", "ds"))
        wide = fc.assign(step=fc.groupby("unique_id").cumcount()).pivot(
            index="unique_id", columns="step", values=column
        )
        out[name] = (wide.loc[ids].to_numpy("float64"), seconds)
        print(f"  peer {name}: {seconds:.1f} s", file=sys.stderr, flush=True)
    results = [Result(name, version, 0.0, 0.0, sec, forecasts=fc) for name, (fc, sec) in out.items()]
    members = [n for n in out if not n.startswith("SeasonalNaive")]
    ensemble = np.mean([out[n][0] for n in members], axis=0)
    label = "Ensemble " + "+".join(n.split("(")[0].replace("Auto", "") for n in members)
    results.append(Result(label, version, 0.0, 0.0, sum(out[n][1] for n in members), "sum of members", ensemble))
    return results


# -- report ---------------------------------------------------------------------------------------------


def score(results: list[Result], train: list[np.ndarray], test: np.ndarray, m: int) -> None:
    for r in results:
        if r.forecasts is None:
            continue
        if not np.all(np.isfinite(r.forecasts)):
            bad = int((~np.isfinite(r.forecasts)).any(axis=1).sum())
            r.note = (r.note + "; " if r.note else "") + f"{bad} series with non-finite forecasts scored as naive"
            naive = np.array([np.full(test.shape[1], y[-1]) for y in train])
            r.forecasts = np.where(np.isfinite(r.forecasts), r.forecasts, naive)
        s = m4_scores(train, test, r.forecasts, m=m)
        r.smape, r.mase = s["smape"], s["mase"]


def fmt_seconds(seconds: Optional[float]) -> str:
    return "–" if seconds is None else (f"{seconds:.1f}" if seconds < 100 else f"{seconds:.0f}")


def print_table(results: list[Result], naive2: tuple[float, float]) -> None:
    print("| model | by | sMAPE | MASE | OWA | wall time (s) | note |")
    print("|---|---|---:|---:|---:|---:|---|")
    for r in results:
        owa = 0.5 * (r.smape / naive2[0] + r.mase / naive2[1])
        print(
            f"| {r.model} | {r.by} | {r.smape:.3f} | {r.mase:.3f} | {owa:.3f} | {fmt_seconds(r.seconds)} | {r.note} |"
        )


def evaluate(key: str, n_jobs: int, skip_peer: bool) -> dict[str, Any]:
    load_at_start = os.getloadavg()[0]
    setup = SETUPS[key]
    ids, train, test = load_m4(setup)
    h, m = setup.horizon, setup.mase_m
    official = official_scores(setup)
    print(f"[{setup.name}] {len(train)} series, horizon {h}", file=sys.stderr, flush=True)

    # 1. the metric code must reproduce the organisers' figure
    check_name, check_smape, check_mase = setup.check
    reference = SeasonalNaive(season_length=24) if check_name == "sNaive" else Naive()
    reference_fc, _ = run_local(reference, train, h, 1)
    s = m4_scores(train, test, reference_fc, m=m)
    assert (round(s["smape"], 3), round(s["mase"], 3)) == (check_smape, check_mase), s
    print(f"  metric check: {check_name} {s['smape']:.3f} / {s['mase']:.3f} = official", file=sys.stderr, flush=True)

    # 2. ours
    ours: list[Result] = []
    run_local(Naive(), train[:4], h, n_jobs)  # start the worker processes before timing anything
    for name, model in local_models(setup).items():
        fc, sec = run_local(model, train, h, n_jobs)
        ours.append(Result(name, "ours", 0.0, 0.0, sec, forecasts=fc))
        print(f"  {name}: {sec:.1f} s", file=sys.stderr, flush=True)
    for name, g in global_models(setup, n_jobs).items():
        start = time.perf_counter()
        fc = g.fit(train).predict(h)
        sec = time.perf_counter() - start
        ours.append(Result(name, "ours", 0.0, 0.0, sec, forecasts=fc))
        print(f"  {name}: {sec:.1f} s", file=sys.stderr, flush=True)
    auto = auto_forecaster(setup, n_jobs)
    auto_chosen, auto_params, auto_global = auto_settings(setup)
    if auto_global is not None and auto_global != tuned_settings(setup)[0]:
        print(
            f"  warning: the auto settings were chosen with the global model '{auto_global}', not the current "
            f"'{tuned_settings(setup)[0]}'; re-run bench/m4_tune.py --stage auto --frequency {key}.",
            file=sys.stderr,
            flush=True,
        )
    start = time.perf_counter()
    auto.fit(train)
    auto_seconds = time.perf_counter() - start
    auto_result = Result(
        f"**PanelForecaster (auto): {auto.chosen_}**",
        "ours",
        0.0,
        0.0,
        auto_seconds,
        "backtest + refit",
        auto.predict(h),
    )
    ours.append(auto_result)
    print(f"  auto: {auto.chosen_} in {auto_seconds:.1f} s", file=sys.stderr, flush=True)

    # SARIMA is seconds per series: a fixed subset
    subset = np.arange(0, len(train), setup.sarima_every)
    # weekly: the last 5 years only (a 52-week season costs seconds per fit even then)
    history = 260 if setup.name == "Weekly" else None
    sarima = SARIMA(season_length=setup.season, order=(1, 0, 0), seasonal_order=(0, 1, 1), max_history=history)
    sub_train = [train[i] for i in subset]
    sarima_fc, sarima_sec = run_local(sarima, sub_train, h, n_jobs)
    print(f"  SARIMA on {len(subset)} series: {sarima_sec:.1f} s", file=sys.stderr, flush=True)

    # 3. the peer
    peer = [] if skip_peer else run_peer(setup, ids, train, n_jobs)

    score(ours + peer, train, test, m)
    sub_results = [
        Result(
            f"SARIMA(1,0,0)(0,1,1,{setup.season})" + (", last 260 weeks" if history else ""),
            "ours",
            0.0,
            0.0,
            sarima_sec,
            forecasts=sarima_fc,
        ),
        Result("Naive, same series", "ours", 0.0, 0.0, None, forecasts=reference_fc[subset]),
    ]
    score(sub_results, sub_train, test[subset], m)

    naive2 = official["Naive2"]
    print(f"### M4 {setup.name}: {len(train)} series, horizon {h} ({date.today():%Y-%m-%d})")
    print()
    print(
        f"sMAPE and MASE as the M4 organisers score them (MASE period {m}); OWA against the official "
        f"Naive2 ({naive2[0]:.3f} / {naive2[1]:.3f}). Metric check: {check_name} reproduces the official "
        f"{check_smape:.3f} / {check_mase:.3f}. Our seasonal models use season {setup.season}. "
        f"Wall times on {os.cpu_count()} cores with --n-jobs {n_jobs} (1-minute load average "
        f"{load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end)."
    )
    print()
    official_rows = [
        Result(label, "M4 official", *official[key_], None)
        for key_, label in {**OFFICIAL, **OFFICIAL_TEAMS}.items()
        if key_ in official
    ]
    if setup.name == "Weekly":
        official_rows = [r for r in official_rows if r.model != "sNaive"]
    print_table(ours + peer + official_rows, naive2)
    print()
    print(
        f"SARIMA (statsmodels, exact likelihood) takes seconds per series, so it ran on every "
        f"{setup.sarima_every}th series ({len(subset)} of {len(train)}):"
    )
    print()
    print_table(sub_results, naive2)
    print()
    ranked = [auto_result, *[r for r in ours if r.model.startswith("GlobalLagBoosting")]]
    if peer:
        ranked.append(min(peer, key=lambda r: owa_of(r.smape, r.mase, naive2)))
    print("\n".join(rank_lines(setup, ranked, naive2)))
    print()
    source = "chosen by m4_tune.py --stage auto" if auto_global else "defaults"
    print(
        f"Automatic forecaster, selection settings {auto_chosen} ({source}); its backtest on the training part "
        "(what chose the forecast):"
    )
    print()
    print(
        "| candidate | backtest sMAPE | backtest MASE | backtest OWA vs seasonal naive "
        "| seconds, all fits (CPU if local) |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, row in auto.scores_.iterrows():
        sec = auto.cpu_seconds_.get(str(name))
        print(f"| {name} | {row['smape']:.3f} | {row['mase']:.3f} | {row['owa']:.3f} | {fmt_seconds(sec)} |")
    print()

    goal_smape, goal_mase = setup.goal
    met_accuracy = auto_result.smape <= goal_smape and auto_result.mase <= goal_mase
    ahead = all(auto_result.smape < p.smape and auto_result.mase < p.mase for p in peer)
    fast = auto_seconds <= setup.speed_goal
    auto_owa = owa_of(auto_result.smape, auto_result.mase, naive2)
    rank, _, _ = rank_among(official_table(setup), auto_owa)
    print(
        f"Goal (sMAPE <= {goal_smape}, MASE <= {goal_mase}): {'met' if met_accuracy else 'NOT met'} "
        f"({auto_result.smape:.3f} / {auto_result.mase:.3f}); ahead of every statsforecast model and ensemble on "
        f"both: {'yes' if ahead else 'no' if peer else 'not run'}; all series with selection in "
        f"{auto_seconds:.1f} s (goal {setup.speed_goal:.0f} s): {'met' if fast else 'NOT met'}; first by OWA "
        f"among all official rows: {'yes' if rank == 1 else f'no, rank {rank}'} (OWA {auto_owa:.3f})."
    )
    print()
    OUT.mkdir(exist_ok=True)
    summary = {
        "date": f"{date.today():%Y-%m-%d}",
        "frequency": setup.name,
        "python": platform.python_version(),
        "n_jobs": n_jobs,
        "results": [
            {"model": r.model, "by": r.by, "smape": r.smape, "mase": r.mase, "seconds": r.seconds, "note": r.note}
            for r in ours + peer + sub_results
        ],
        "auto_choice": auto.chosen_,
        "global_settings": tuned_settings(setup)[1],
        "auto_settings": auto_params,
        "owa": auto_owa,
        "rank_by_owa": rank,
        "goal_met": bool(met_accuracy),
        "ahead_of_peer": bool(ahead) if peer else None,
        "speed_met": bool(fast),
    }
    (OUT / f"m4_eval_{key}.json").write_text(json.dumps(summary, indent=2))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frequency", choices=["weekly", "hourly", "all"], default="all")
    parser.add_argument("--n-jobs", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--skip-peer", action="store_true", help="do not run statsforecast")
    args = parser.parse_args()
    if not M4_DIR.is_dir():
        sys.exit(f"error: {M4_DIR} not found; the shared datasets folder must be beside the clone.")
    keys = ["weekly", "hourly"] if args.frequency == "all" else [args.frequency]
    for key in keys:
        evaluate(key, args.n_jobs, args.skip_peer)


if __name__ == "__main__":
    main()
