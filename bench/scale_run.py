"""Benchmark (issue 16, "Past one machine"): the customer-scores refresh and the ALS fit on Spark
(local mode) beside the single-machine path, on the same synthetic order lines in the same run.

    nice -n 10 .venv/bin/python bench/scale_run.py --sizes 50 --spark-first --als-sizes 1 --als-iterations 5

Sizes are millions of order lines. The lines come from bench/synthetic.py
(customers with BG/NBD-like buying, ~10 lines each, 12 categories, 12,000
products), generated once in Parquet parts of about 5M lines (500,000
customers each) under ``--data``; a size is the first parts that hold it.

Each (engine, size) runs in its own process, so its peak memory is its own:
the parent samples the resident memory of the worker and its children (the
JVM, for Spark) every 0.2 s and reports the peak of the sum.

- refresh, single machine: pandas reads the lines, sums them into orders and
  runs RFM, the loyalty programme and the CLV summary
  (analytics.customers.{rfm,loyalty,clv.summary}), writing Parquet.
- refresh, Spark: analytics.scale (read_lines, scale_scores(...).write) with
  ``local[2]`` and ``--spark-memory`` of driver heap, writing the same tables.
- ALS: analytics.recommend.ALSRecommender (implicit, 2 threads) against
  analytics.scale.als.ScaleALS (MLlib) on the same first ``--als-sizes``
  million lines of the first part, 64 factors, ``--als-iterations`` iterations.

Data and scratch live under /tmp/h9 (``--data``), never in the repository.
A worker above ``--memory-cap-gb`` (14) is stopped and reported as such: the
machine is shared.

Rows/s is order lines per second of the worker's wall time from reading to
written output (JVM start-up excluded, reported apart).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHUNK_CUSTOMERS = 500_000
LINES_PER_CUSTOMER = 10.0


# --------------------------------------------------------------------------- data


def generate(data: Path, million_lines: float) -> list[Path]:
    """Parquet parts of synthetic lines until they hold ``million_lines`` (kept between runs)."""

    from bench.synthetic import synthetic_shop

    parts_dir = data / "parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    manifest_file = data / "manifest.json"
    manifest: list[dict[str, Any]] = json.loads(manifest_file.read_text()) if manifest_file.exists() else []
    while sum(p["lines"] for p in manifest) < million_lines * 1e6:
        k = len(manifest)
        started = time.perf_counter()
        orders, lines = synthetic_shop(CHUNK_CUSTOMERS, LINES_PER_CUSTOMER, seed=1000 + k)
        order_offset = sum(p["orders"] for p in manifest)
        lines["customer_id"] += k * CHUNK_CUSTOMERS
        lines["order_id"] += order_offset
        lines["category"] = lines["category"].astype(str).astype("category")
        path = parts_dir / f"part-{k:05d}.parquet"
        lines.to_parquet(path, coerce_timestamps="us", index=False)
        manifest.append({"part": path.name, "lines": len(lines), "orders": len(orders)})
        manifest_file.write_text(json.dumps(manifest, indent=1))
        print(f"  part {k}: {len(lines):,} lines in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return [parts_dir / p["part"] for p in manifest]


def subset(data: Path, million_lines: float) -> tuple[Path, int]:
    """A folder of links to the first parts that hold ``million_lines``, and its line count."""
    manifest = json.loads((data / "manifest.json").read_text())
    chosen, total = [], 0
    for part in manifest:
        if total >= million_lines * 1e6:
            break
        chosen.append(part)
        total += part["lines"]
    folder = data / f"lines-{len(chosen)}parts"
    folder.mkdir(exist_ok=True)
    for part in chosen:
        link = folder / part["part"]
        if not link.exists():
            link.symlink_to(data / "parts" / part["part"])
    return folder, total


# --------------------------------------------------------------------------- workers (one process each)


def _orders(lines: Any) -> Any:
    return lines.groupby(["customer_id", "order_id", "placed_at"], as_index=False, observed=True)["amount"].sum()


def work_single_refresh(path: Path, out: Path) -> dict[str, Any]:
    import pandas as pd

    from analytics.customers.clv.summary import rfm_summary
    from analytics.customers.loyalty import LoyaltyProgram
    from analytics.customers.rfm import RFM, default_reference_date

    started = time.perf_counter()
    lines = pd.read_parquet(path)
    orders = _orders(lines)
    del lines
    reference = default_reference_date(orders)
    rfm = RFM(reference_date=reference).fit(orders).table_
    status = LoyaltyProgram().fit(orders, reference_date=reference).status_
    summary = rfm_summary(orders, reference, time_unit="D")
    scores = rfm.drop(columns="rfm_code").rename(columns={"segment": "rfm_segment"})
    scores = scores.join(status[["spend_12m", "points", "tier", "next_tier", "amount_to_next_tier", "lifecycle"]])
    scores["as_of"] = reference
    out.mkdir(parents=True, exist_ok=True)
    scores.to_parquet(out / "scores.parquet")
    summary.to_parquet(out / "clv_summary.parquet")
    return {"seconds": time.perf_counter() - started, "customers": len(scores)}


def _spark(memory: str) -> Any:
    from analytics.scale.session import spark_session

    return spark_session(master="local[2]", driver_memory=memory, local_dir="/tmp/h9/spark-local")


def work_spark_refresh(path: Path, out: Path, memory: str) -> dict[str, Any]:
    from analytics.scale.refresh import scale_scores
    from analytics.scale.source import read_lines

    started = time.perf_counter()
    spark = _spark(memory)
    startup = time.perf_counter() - started
    started = time.perf_counter()
    written = scale_scores(read_lines(spark, path)).write(out)
    seconds = time.perf_counter() - started
    customers = spark.read.parquet(str(written["scores"])).count()
    return {"seconds": seconds, "startup": startup, "customers": customers}


def work_single_als(path: Path, iterations: int, limit: int) -> dict[str, Any]:
    import pandas as pd

    from analytics.recommend import ALSRecommender, Interactions

    started = time.perf_counter()
    lines = pd.read_parquet(path, columns=["customer_id", "order_id", "placed_at", "product_id", "quantity"])
    lines = lines.iloc[:limit]
    interactions = Interactions.from_lines(lines, weighting="log1p")
    del lines
    ALSRecommender(factors=64, regularization=10.0, alpha=20.0, iterations=iterations, num_threads=2).fit(interactions)
    return {"seconds": time.perf_counter() - started, "cells": int(interactions.matrix.nnz)}


def work_spark_als(path: Path, iterations: int, limit: int, memory: str) -> dict[str, Any]:
    from analytics.scale.als import ScaleALS
    from analytics.scale.source import read_lines

    started = time.perf_counter()
    spark = _spark(memory)
    startup = time.perf_counter() - started
    started = time.perf_counter()
    lines = read_lines(spark, path).limit(limit)  # the first lines of the one part, as pandas reads them
    model = ScaleALS(factors=64, regularization=10.0, alpha=20.0, iterations=iterations).fit(lines)
    n_items = model.item_factors().count()
    return {"seconds": time.perf_counter() - started, "startup": startup, "items": n_items}


# --------------------------------------------------------------------------- parent


def _descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        p = stack.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    children = [int(c) for c in fh.read().split()]
                    found.extend(children)
                    stack.extend(children)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def _cpu_seconds(pids: list[int], seen: dict[int, float]) -> None:
    """Record each process's user + system CPU seconds so far (from /proc/<pid>/stat) in ``seen``."""
    tick = os.sysconf("SC_CLK_TCK")
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        seen[p] = max(seen.get(p, 0.0), (int(fields[11]) + int(fields[12])) / tick)


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its descendants (from /proc)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def run_worker(args: list[str], timeout: float, memory_cap_gb: float) -> dict[str, Any]:
    """Run one worker, sampling its memory; its JSON result plus wall time and peak memory."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--worker", *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    peak, cpu = 0, dict[int, float]()
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        _cpu_seconds([proc.pid, *_descendants(proc.pid)], cpu)
        over = (
            f"stopped after {timeout:.0f} s"
            if time.perf_counter() - started > timeout
            else f"stopped above {memory_cap_gb:g} GB"
            if peak > memory_cap_gb * 1e9
            else None
        )
        if over:
            for child in _descendants(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
            proc.kill()
            proc.wait()
            return {"failed": over, "peak_gb": peak / 1e9}
        time.sleep(0.2)
    output = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        return {"failed": f"exit code {proc.returncode}", "peak_gb": peak / 1e9}
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    result["cpu_seconds"] = sum(cpu.values())  # sampled every 0.2 s: the last fraction of a second is missed
    result["peak_gb"] = peak / 1e9
    return result


def _row(task: str, engine: str, lines: int, r: dict[str, Any]) -> str:
    if "failed" in r:
        return f"| {task} | {engine} | {lines / 1e6:.1f}M | {r['failed']} | | | | {r['peak_gb']:.1f} |"
    startup = f"{r['startup']:.0f}" if "startup" in r else "-"
    return (
        f"| {task} | {engine} | {lines / 1e6:.1f}M | {r['seconds']:.0f} | {lines / r['seconds']:,.0f} | "
        f"{r['cpu_seconds']:.0f} | {startup} | {r['peak_gb']:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("/tmp/h9/data"))
    parser.add_argument("--sizes", default="5,50", help="refresh sizes, millions of lines (comma-separated)")
    parser.add_argument("--single-max", type=float, default=50.0, help="largest size the single-machine path runs")
    parser.add_argument("--spark-first", action="store_true", help="run Spark before the single machine at each size")
    parser.add_argument("--als-sizes", default="1", help="ALS sizes, millions of lines, at most 5 ('' for none)")
    parser.add_argument("--als-iterations", type=int, default=10)
    parser.add_argument("--spark-memory", default="8g")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds before a worker is stopped")
    parser.add_argument(
        "--memory-cap-gb", type=float, default=14.0, help="a worker above this is stopped (the machine is shared)"
    )
    parser.add_argument("--out", type=Path, default=Path("/tmp/h9/scale_run.json"))
    parser.add_argument("--worker", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        kind, path, *rest = args.worker
        if kind == "single-refresh":
            result = work_single_refresh(Path(path), Path(rest[0]))
        elif kind == "spark-refresh":
            result = work_spark_refresh(Path(path), Path(rest[0]), rest[1])
        elif kind == "single-als":
            result = work_single_als(Path(path), int(rest[0]), int(rest[1]))
        else:
            result = work_spark_als(Path(path), int(rest[0]), int(rest[1]), rest[2])
        print(json.dumps(result))
        return

    sizes = [float(s) for s in args.sizes.split(",") if s]
    als_sizes = [float(s) for s in args.als_sizes.split(",") if s]
    generate(args.data, max([*sizes, 5.0]))
    rows, results = [], []
    scratch = Path("/tmp/h9/scale-out")
    for size in sizes:
        path, n = subset(args.data, size)
        engines = [("Spark local[2]", ["spark-refresh", str(path), str(scratch / f"spark-{n}"), args.spark_memory])]
        if size <= args.single_max:
            single = ("single machine (pandas)", ["single-refresh", str(path), str(scratch / f"single-{n}")])
            engines.insert(len(engines) if args.spark_first else 0, single)
        for engine, worker in engines:
            print(f"refresh, {engine}, {n:,} lines ...", file=sys.stderr, flush=True)
            r = run_worker(worker, args.timeout, args.memory_cap_gb)
            print(f"  {r}", file=sys.stderr, flush=True)
            rows.append(_row("refresh", engine, n, r))
            results.append({"task": "refresh", "engine": engine, "lines": n, **r})
    for size in als_sizes:
        path, _ = subset(args.data, 1)  # the first part
        n = int(size * 1e6)
        iterations = str(args.als_iterations)
        for engine, worker in [
            ("single machine (implicit)", ["single-als", str(path), iterations, str(n)]),
            ("Spark MLlib local[2]", ["spark-als", str(path), iterations, str(n), args.spark_memory]),
        ]:
            print(f"ALS, {engine}, {n:,} lines ...", file=sys.stderr, flush=True)
            r = run_worker(worker, args.timeout, args.memory_cap_gb)
            print(f"  {r}", file=sys.stderr, flush=True)
            rows.append(_row(f"ALS fit ({args.als_iterations} it.)", engine, n, r))
            results.append({"task": "als", "engine": engine, "lines": n, **r})
    args.out.write_text(json.dumps(results, indent=1))
    print("| task | engine | order lines | wall s | lines/s | CPU s (all processes) | JVM start s | peak memory GB |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
