"""The scale jobs from a shell: ``python -m analytics.scale`` on one machine, ``spark-submit`` on a cluster.

    python -m analytics.scale refresh --lines lines/ --out out/refresh [--as-of 2026-12-01]
    python -m analytics.scale recommend --lines lines/ --out out/recommendations [--n 10]
    PYSPARK_PYTHON=.venv/bin/python spark-submit --master yarn analytics/scale/__main__.py refresh ...

``refresh`` writes ``scores/`` and ``clv_summary/`` (:meth:`ScaleScores.write
<analytics.scale.refresh.ScaleScores.write>`); ``recommend`` fits
:class:`~analytics.scale.als.ScaleALS` with its defaults and writes the
``n`` best products per customer. Either replaces ``--out`` only once its
new contents are complete, and refuses a folder that already holds files
unless given ``--overwrite``.

spark-submit runs this file as a script, so it imports the package by its
full name: the driver's Python (``PYSPARK_PYTHON``) needs the package
installed (``pip install ".[scale]"``). The executors run no Python of ours
(the jobs are DataFrame expressions), only Spark. Under spark-submit the
master is spark-submit's unless ``--master`` is given; otherwise it is
``local[2]``. Paths are read and written through the local file system
(a shared mount on a cluster), as :func:`~analytics.scale.source.read_lines` does.

Exit status: 0 when written; 2 for arguments or order lines to fix (one line
on stderr, nothing written); 1 for anything else (a failed Spark job: its
traceback, the previous outputs left as they were).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Optional

from pyspark.sql import DataFrame

from analytics.core.errors import InvalidInput
from analytics.scale.als import ScaleALS
from analytics.scale.refresh import scale_scores
from analytics.scale.session import spark_session
from analytics.scale.source import read_lines

PROG = "python -m analytics.scale"


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write it as YYYY-MM-DD") from None


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def parser() -> argparse.ArgumentParser:
    """The command line: ``refresh`` and ``recommend``, each from ``--lines`` to ``--out``."""
    main_parser = argparse.ArgumentParser(
        prog=PROG, description="The scale jobs on Spark: order lines in, Parquet out."
    )
    commands = main_parser.add_subparsers(dest="command", required=True)
    refresh = commands.add_parser("refresh", help="customer scores and the CLV summary, as Parquet")
    recommend = commands.add_parser("recommend", help="the n best products per customer from ALS, as Parquet")
    for command in (refresh, recommend):
        command.add_argument("--lines", type=Path, required=True, help="a .parquet or .csv file, or a folder of them")
        command.add_argument("--out", type=Path, required=True, help="the folder to write")
        command.add_argument("--overwrite", action="store_true", help="replace an --out folder that holds files")
        command.add_argument("--master", help="Spark master URL (default: spark-submit's, else local[2])")
    refresh.add_argument("--as-of", type=_day, help="the refresh date, YYYY-MM-DD (default: after the newest order)")
    recommend.add_argument("--n", type=_at_least_one, default=10, help="products per customer (default: 10)")
    return main_parser


def check_out(out: Path, lines: Path, overwrite: bool) -> None:
    """Refuse an ``--out`` that would lose data: a file, the lines' own folder, or (without overwrite) files."""
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"--out {out} is a file; pass a folder to write the tables into.")
    where, source = out.resolve(), lines.resolve()
    if where == source or where in source.parents or source in where.parents:
        raise InvalidInput(f"--out {out} holds or lies inside --lines {lines}; write to a folder of its own.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise InvalidInput(f"--out {out} already holds files; pass --overwrite to replace them, or a new folder.")


def master(given: Optional[str]) -> str:
    """The master to build the session with; "" keeps the one spark-submit was given."""
    if given is not None:
        return given
    # spark-submit starts the JVM before Python and hands it the gateway's port
    return "" if "PYSPARK_GATEWAY_PORT" in os.environ else "local[2]"


def write_parquet(frame: DataFrame, out: Path) -> None:
    """Write ``frame`` to ``out`` all or nothing, as :meth:`ScaleScores.write` writes its tables."""
    staging = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        frame.write.parquet(str(staging))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.old")
    if out.exists():
        out.rename(old)
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def main(argv: Optional[list[str]] = None) -> int:
    """Run one command; the exit status (argparse itself exits with 2 on a malformed command line)."""
    args = parser().parse_args(argv)
    started = time.monotonic()
    try:
        check_out(args.out, args.lines, args.overwrite)
        out = args.out.resolve()  # "." gets a name to stage beside; a link to a folder keeps pointing at it
        spark = spark_session(master=master(args.master), app_name=f"shop-analytics-{args.command}")
        lines = read_lines(spark, args.lines)
        rows = lines.count()
        if args.command == "refresh":
            scores = scale_scores(lines, reference_date=args.as_of).write(out)["scores"]
            customers = spark.read.parquet(str(scores)).count()
        else:
            write_parquet(ScaleALS().fit(lines).recommend_all(args.n), out)
            customers = spark.read.parquet(str(out)).select("customer_id").distinct().count()
    except InvalidInput as exc:
        print(f"{PROG} {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    seconds = time.monotonic() - started
    print(
        f"{args.command}: {rows:,} order lines read, {customers:,} customers written to {args.out} in {seconds:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
