"""Benchmark: full import of the UCI Online Retail file into SQLite and PostgreSQL.

    .venv/bin/python bench/import_speed.py [--runs 3] [--file PATH] [--postgres URL]

Each run imports the whole file into a fresh, migrated store in a separate
process (so peak memory is that run's alone) and reports raw rows per second
(rows in the file / wall time of read + clean + load + commit) and peak RSS.
Prints the medians as a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT.parent / "shared" / "datasets" / "online_retail_uci" / "online_retail_all_rows.csv.gz"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def worker(url: str, path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from analytics.ingest.online_retail import import_online_retail
    from analytics.store.db import make_engine, make_session_factory
    from analytics.store.migrate import upgrade
    from analytics.store.uow import SqlAlchemyUnitOfWork

    engine = make_engine(url)
    upgrade(engine)
    uow = SqlAlchemyUnitOfWork(make_session_factory(engine))
    start = time.perf_counter()
    result = import_online_retail(uow, path)
    elapsed = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": result.report.rows_read, "seconds": elapsed, "peak_mib": peak_mib}))


def one_run(url: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", url, "--file", str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="admin URL; a throw-away database is created")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.file)
        return
    if not args.file.exists():
        sys.exit(f"error: {args.file} not found; pass --file with the full Online Retail CSV.")

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    results: dict[str, list[dict[str, float]]] = {"SQLite (file)": [], "PostgreSQL (COPY)": []}
    admin = create_engine(make_url(args.postgres).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            results["SQLite (file)"].append(one_run(f"sqlite:///{tmp}/bench.sqlite3", args.file))
        name = f"crm_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(args.postgres).set(drivername="postgresql+psycopg", database=name)
            results["PostgreSQL (COPY)"].append(one_run(url.render_as_string(hide_password=False), args.file))
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        print(f"run {run + 1}/{args.runs} done", file=sys.stderr)

    print(f"\nOnline Retail full import, {date.today()}, {platform.machine()}, median of {args.runs} runs\n")
    print("| store | rows | median seconds | median raw rows/s | runs (rows/s) | peak memory |")
    print("|---|---:|---:|---:|---|---:|")
    summary = {}
    for store, runs in results.items():
        rates = [r["rows"] / r["seconds"] for r in runs]
        median_s = statistics.median(r["seconds"] for r in runs)
        peak = max(r["peak_mib"] for r in runs)
        summary[store] = {"median_rows_per_s": statistics.median(rates), "median_s": median_s, "peak_mib": peak}
        print(
            f"| {store} | {int(runs[0]['rows']):,} | {median_s:.2f} | {statistics.median(rates):,.0f} | "
            f"{', '.join(f'{r:,.0f}' for r in rates)} | {peak:,.0f} MiB |"
        )
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "import_speed.json").write_text(json.dumps({"date": str(date.today()), "runs": results, "summary": summary}))


if __name__ == "__main__":
    main()
