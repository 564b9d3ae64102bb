"""Benchmark: our BG/NBD and Gamma-Gamma (analytics/customers/clv/) against lifetimes 0.11.3, side by side.

    .venv/bin/python bench/clv_speed.py [--customers 1000000] [--repeats 3] [--seed 2026]

Two data sets: the CDNOW calibration summary of Fader, Hardie & Lee (2,357
customers, weeks; from ../shared) and a synthetic base of --customers customers
drawn from BG/NBD and Gamma-Gamma processes with known parameters (CDNOW's, in
days; ages of 1-546 whole days, recency rounded up to whole days as
rfm_summary gives it). On each, both libraries fit both models --repeats
times (median fit time), then predict with their own estimates; a second
comparison feeds our estimates to lifetimes, so the formulas are compared
alone.

lifetimes does not import with pandas 2 / numpy 2, so it runs in its own
virtual environment, bench/.venv-lifetimes (created on first use from the
Python that .venv was made from, with old pins: LIFETIMES_PINS below), in a
subprocess; data go over as .npz files in a temporary folder. Prints a
Markdown table for BENCHMARKS.md with the date and writes
bench/out/clv_speed.json. Exits non-zero with a message when anything fails.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
LIFETIMES_ENV = ROOT / "bench" / ".venv-lifetimes"
# lifetimes 0.11.3 (2020) needs the numpy < 1.24 / pandas 1.x era; these are the newest of that era with
# Python 3.10 wheels, and autograd 1.5 is the last release that still imports with them.
LIFETIMES_PINS = (
    "lifetimes==0.11.3",
    "numpy==1.23.5",
    "pandas==1.5.3",
    "scipy==1.10.1",
    "autograd==1.5",
    "dill==0.3.6",
)
CDNOW = ROOT.parent / "shared" / "datasets" / "cdnow" / "cdnow_customers_summary_with_transactions.csv"
OUT = ROOT / "bench" / "out" / "clv_speed.json"

# CDNOW's published BG/NBD and Gamma-Gamma estimates, alpha converted from weeks to days.
TRUTH = {"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426, "p": 6.25, "q": 3.74, "v": 15.44}
BG, GG = ("r", "alpha", "a", "b"), ("p", "q", "v")

# Run inside bench/.venv-lifetimes: argv = input .npz, output .npz, repeats.
WORKER = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd, scipy, lifetimes
from lifetimes import BetaGeoFitter, GammaGammaFitter

data = np.load(sys.argv[1])
repeats = int(sys.argv[3])
x, t_x, T, m, horizon = data["frequency"], data["recency"], data["T"], data["monetary_value"], float(data["horizon"])
rep = x > 0
bg_times, gg_times = [], []
for _ in range(repeats):
    start = time.perf_counter()
    bg = BetaGeoFitter().fit(x, t_x, T)
    bg_times.append(time.perf_counter() - start)
for _ in range(repeats):
    start = time.perf_counter()
    gg = GammaGammaFitter().fit(x[rep], m[rep])
    gg_times.append(time.perf_counter() - start)

def predict(bg, gg):
    return (
        np.asarray(bg.conditional_expected_number_of_purchases_up_to_time(horizon, x, t_x, T), dtype=float),
        np.asarray(bg.conditional_probability_alive(x, t_x, T), dtype=float),
        np.asarray(gg.conditional_expected_average_profit(pd.Series(x[rep]), pd.Series(m[rep])), dtype=float),
    )

own = predict(bg, gg)
bg_params, gg_params = bg.params_.to_numpy(float), gg.params_.to_numpy(float)
bg.params_ = pd.Series(data["ours_bg"], index=["r", "alpha", "a", "b"])
gg.params_ = pd.Series(data["ours_gg"], index=["p", "q", "v"])
same = predict(bg, gg)
np.savez(
    sys.argv[2],
    bg_times=bg_times, gg_times=gg_times,
    bg_params=bg_params, gg_params=gg_params,
    expected=own[0], alive=own[1], profit=own[2],
    expected_same=same[0], alive_same=same[1], profit_same=same[2],
    versions=json.dumps({"lifetimes": lifetimes.__version__, "numpy": np.__version__,
                         "pandas": pd.__version__, "scipy": scipy.__version__}),
)
"""


class BenchError(Exception):
    """Something the benchmark needs failed; the message says what."""


def run(cmd: list[str], what: str, timeout: float = 1800) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise BenchError(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def base_python() -> Path:
    """The interpreter the running virtual environment was made from."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for name in (f"python{version}", "python3", "python"):
        candidate = Path(sys.base_prefix) / "bin" / name
        if candidate.exists():
            return candidate
    raise BenchError(f"cannot find the base Python {version} under {sys.base_prefix} to create {LIFETIMES_ENV}.")


def lifetimes_python() -> Path:
    """bench/.venv-lifetimes/bin/python, creating the environment when it is missing or has other pins."""
    python = LIFETIMES_ENV / "bin" / "python"
    marker = LIFETIMES_ENV / "bench-pins.txt"
    wanted = "\n".join(LIFETIMES_PINS) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    base = base_python()
    print(f"creating {LIFETIMES_ENV} with {base} and {' '.join(LIFETIMES_PINS)} ...", file=sys.stderr)
    run([str(base), "-m", "venv", "--clear", str(LIFETIMES_ENV)], f"creating the virtual environment {LIFETIMES_ENV}")
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-q"]
    run([*pip, *LIFETIMES_PINS], f"installing {' '.join(LIFETIMES_PINS)} into {LIFETIMES_ENV}")
    run([str(python), "-W", "ignore", "-c", "import lifetimes, autograd"], "importing lifetimes in its environment")
    marker.write_text(wanted)
    return python


def load_cdnow() -> dict[str, np.ndarray]:
    if not CDNOW.exists():
        raise BenchError(f"{CDNOW} not found: the CDNOW rows need the shared folder beside the clone.")
    import pandas as pd

    frame = pd.read_csv(CDNOW)
    return {
        "frequency": frame["x"].to_numpy(np.float64),
        "recency": frame["t_x"].to_numpy(np.float64),
        "T": frame["T"].to_numpy(np.float64),
        "monetary_value": frame["zbar"].to_numpy(np.float64),
    }


def synthetic(n: int, seed: int) -> dict[str, np.ndarray]:
    from analytics.customers.clv.simulate import simulate_customers

    ages = np.random.default_rng(seed).integers(1, 547, n).astype(np.float64)
    frame = simulate_customers(n, ages, **TRUTH, seed=seed + 1)
    frame["recency"] = np.ceil(frame["recency"])  # whole days, as rfm_summary measures them
    return {c: frame[c].to_numpy(np.float64) for c in ("frequency", "recency", "T", "monetary_value")}


def ours(data: dict[str, np.ndarray], horizon: float, repeats: int) -> dict[str, Any]:
    from analytics.customers.clv.bgnbd import BetaGeoModel
    from analytics.customers.clv.gamma_gamma import GammaGammaModel

    x, t_x, T, m = data["frequency"], data["recency"], data["T"], data["monetary_value"]
    bg_times, gg_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        bg = BetaGeoModel().fit(x, t_x, T)
        bg_times.append(time.perf_counter() - start)
    for _ in range(repeats):
        start = time.perf_counter()
        gg = GammaGammaModel().fit(x, m)
        gg_times.append(time.perf_counter() - start)
    rep = x > 0
    return {
        "bg_times": bg_times,
        "gg_times": gg_times,
        "bg_params": [bg.params_[k] for k in BG],
        "gg_params": [gg.params_[k] for k in GG],
        "expected": np.asarray(bg.conditional_expected_purchases(horizon, x, t_x, T)),
        "alive": np.asarray(bg.probability_alive(x, t_x, T)),
        "profit": np.asarray(gg.conditional_expected_average_profit(x[rep], m[rep])),
    }


def theirs(python: Path, data: dict[str, np.ndarray], horizon: float, repeats: int, mine: dict[str, Any]) -> dict:
    with tempfile.TemporaryDirectory(prefix="clv-bench-") as tmp:
        folder = Path(tmp)
        script = folder / "worker.py"
        script.write_text(WORKER)
        arrays: dict[str, Any] = {
            **data,
            "horizon": np.float64(horizon),
            "ours_bg": np.array(mine["bg_params"]),
            "ours_gg": np.array(mine["gg_params"]),
        }
        np.savez(folder / "in.npz", **arrays)
        run([str(python), str(script), str(folder / "in.npz"), str(folder / "out.npz"), str(repeats)], "lifetimes")
        if not (folder / "out.npz").exists():
            raise BenchError("the lifetimes worker finished without writing its results.")
        with np.load(folder / "out.npz") as out:
            result = {key: out[key] for key in out.files}
    result["versions"] = json.loads(str(result["versions"]))
    return result


def compare(name: str, data: dict[str, np.ndarray], horizon: float, unit: str, python: Path, repeats: int) -> dict:
    mine = ours(data, horizon, repeats)
    their = theirs(python, data, horizon, repeats, mine)
    their_bg, their_gg = their["bg_params"], their["gg_params"]
    return {
        "data": name,
        "customers": int(data["frequency"].size),
        "repeat_customers": int((data["frequency"] > 0).sum()),
        "horizon": f"{horizon:g} {unit}",
        "bg": {
            "ours_s": statistics.median(mine["bg_times"]),
            "lifetimes_s": statistics.median(their["bg_times"].tolist()),
            "ours_params": dict(zip(BG, mine["bg_params"])),
            "lifetimes_params": dict(zip(BG, their_bg.tolist())),
            "max_rel_param_diff": float(np.max(np.abs(np.array(mine["bg_params"]) / their_bg - 1))),
            "max_abs_diff_expected": float(np.max(np.abs(mine["expected"] - their["expected"]))),
            "max_abs_diff_alive": float(np.max(np.abs(mine["alive"] - their["alive"]))),
            "same_params_max_abs_diff_expected": float(np.max(np.abs(mine["expected"] - their["expected_same"]))),
            "same_params_max_abs_diff_alive": float(np.max(np.abs(mine["alive"] - their["alive_same"]))),
        },
        "gg": {
            "ours_s": statistics.median(mine["gg_times"]),
            "lifetimes_s": statistics.median(their["gg_times"].tolist()),
            "ours_params": dict(zip(GG, mine["gg_params"])),
            "lifetimes_params": dict(zip(GG, their_gg.tolist())),
            "max_rel_param_diff": float(np.max(np.abs(np.array(mine["gg_params"]) / their_gg - 1))),
            "max_abs_diff_profit": float(np.max(np.abs(mine["profit"] - their["profit"]))),
            "same_params_max_abs_diff_profit": float(np.max(np.abs(mine["profit"] - their["profit_same"]))),
        },
        "lifetimes_versions": their["versions"],
    }


def report(rows: list[dict], repeats: int) -> str:
    import numpy
    import pandas
    import scipy

    versions = rows[0]["lifetimes_versions"]
    lines = [
        f"{date.today().isoformat()}, {platform.machine()}, Python {platform.python_version()}; "
        f"ours on numpy {numpy.__version__}, scipy {scipy.__version__}, pandas {pandas.__version__}; "
        f"lifetimes {versions['lifetimes']} on numpy {versions['numpy']}, scipy {versions['scipy']}, "
        f"pandas {versions['pandas']}. Fit seconds are the median of {repeats} runs.",
        "",
        "| data | customers | model | ours (s) | lifetimes (s) | lifetimes / ours "
        "| max rel. param diff | max abs diff, own fits | max abs diff, same params |",
        "|---|---:|---|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        bg, gg = row["bg"], row["gg"]
        lines.append(
            f"| {row['data']} | {row['customers']:,} | BG/NBD | {bg['ours_s']:.3f} | {bg['lifetimes_s']:.3f} "
            f"| {bg['lifetimes_s'] / bg['ours_s']:.1f}x | {bg['max_rel_param_diff']:.1e} "
            f"| E[purchases, {row['horizon']}] {bg['max_abs_diff_expected']:.1e}; "
            f"P(alive) {bg['max_abs_diff_alive']:.1e} "
            f"| {bg['same_params_max_abs_diff_expected']:.1e}; {bg['same_params_max_abs_diff_alive']:.1e} |"
        )
        lines.append(
            f"| {row['data']} | {row['repeat_customers']:,} repeat | Gamma-Gamma | {gg['ours_s']:.3f} "
            f"| {gg['lifetimes_s']:.3f} | {gg['lifetimes_s'] / gg['ours_s']:.1f}x | {gg['max_rel_param_diff']:.1e} "
            f"| E[spend] {gg['max_abs_diff_profit']:.1e} | {gg['same_params_max_abs_diff_profit']:.1e} |"
        )
    lines += ["", "| data | model | ours | lifetimes | truth |", "|---|---|---|---|---|"]
    for row in rows:
        for model, names in (("bg", BG), ("gg", GG)):
            fit = row[model]
            truth = (
                ", ".join(f"{k}={TRUTH[k]:.4g}" for k in names)
                if row["data"] != "CDNOW"
                else "published: "
                + ("r=0.243, alpha=4.414, a=0.793, b=2.426" if model == "bg" else "p=6.25, q=3.74, v=15.44")
            )
            lines.append(
                f"| {row['data']} | {'BG/NBD' if model == 'bg' else 'Gamma-Gamma'} "
                f"| {', '.join(f'{k}={v:.4g}' for k, v in fit['ours_params'].items())} "
                f"| {', '.join(f'{k}={v:.4g}' for k, v in fit['lifetimes_params'].items())} | {truth} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    if args.customers < 1000 or args.repeats < 1:
        parser.error("--customers must be at least 1000 and --repeats at least 1")
    sys.path.insert(0, str(ROOT))
    try:
        python = lifetimes_python()
        rows = [compare("CDNOW", load_cdnow(), 39.0, "weeks", python, args.repeats)]
        start = time.perf_counter()
        data = synthetic(args.customers, args.seed)
        print(f"simulated {args.customers:,} customers in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        rows.append(compare(f"synthetic (seed {args.seed})", data, 90.0, "days", python, args.repeats))
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"date": date.today().isoformat(), "rows": rows}, indent=2) + "\n")
    print(report(rows, args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
