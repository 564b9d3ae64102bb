"""``crm import``, ``crm sample`` and ``crm seed``: loading data into the store."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from analytics.core.errors import CRMError
from analytics.core.settings import Settings, get_settings
from bot.cli.common import console, err, fail, open_uow

import_app = typer.Typer(help="Load data into the store.", no_args_is_help=True)
sample_app = typer.Typer(help="The small dataset shipped with the project.", no_args_is_help=True)


def _print_import(result) -> None:  # type: ignore[no-untyped-def]
    report = result.report
    table = Table(title=f"Cleaning report: {report.source}", show_lines=False)
    table.add_column("rows", justify="right")
    table.add_column("what")
    table.add_row(f"{report.rows_read:,}", "read")
    table.add_row(f"{report.sale_lines_kept:,}", "kept as sale lines")
    table.add_row(f"{report.cancellation_lines_kept:,}", "kept as cancellations")
    for reason, n in sorted(report.dropped.items(), key=lambda kv: -kv[1]):
        table.add_row(f"-{n:,}", f"dropped: {reason}")
    for what, n in sorted(report.transformed.items(), key=lambda kv: -kv[1]):
        table.add_row(f"{n:,}", f"transformed: {what}")
    console.print(table)
    totals = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in report.totals.items())
    console.print(f"cleaned data: {totals}")
    loaded = result.loaded
    if loaded.changed:
        console.print(
            f"written: {loaded.products:,} products, {loaded.customers:,} customers, {loaded.orders:,} orders, "
            f"{loaded.order_lines:,} order lines, {loaded.returns:,} cancellation lines "
            f"(dates shifted by {loaded.time_shift_days:,} days)"
        )
    else:
        console.print("the store already holds everything in this file: nothing written")


def run_import(settings: Settings, path: Path, shift_to_now: bool, now: Optional[datetime] = None) -> None:
    from analytics.ingest.online_retail import import_online_retail

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task("importing")
        result = import_online_retail(
            open_uow(settings),
            path,
            shift_to_now=shift_to_now,
            now=now,
            progress=lambda stage: bar.update(task, description=f"importing: {stage}"),
        )
    _print_import(result)


@import_app.command("retail")
def import_retail(
    path: Annotated[Path, typer.Argument(help="Online Retail CSV, plain or .gz (UCI column names).")],
    shift_to_now: Annotated[
        bool,
        typer.Option(
            help="Move all dates so the newest order is recent (demo). A store keeps its first import's shift."
        ),
    ] = False,
) -> None:
    """Import an Online Retail file. Idempotent; all-or-nothing."""
    try:
        run_import(get_settings(), path, shift_to_now)
    except CRMError as exc:
        fail(str(exc))


def _seed_clock(clock: Optional[str]) -> Optional[datetime]:
    """Today (UTC) at ``clock`` (``HH:MM``), naive like the store's times; ``None`` for the real time."""
    if clock is None:
        return None
    try:
        at = datetime.strptime(clock.strip(), "%H:%M").time()
    except ValueError:
        fail(f"--clock {clock!r} is not a time of day: give HH:MM in UTC, e.g. 06:00.")
    return datetime.combine(datetime.now(timezone.utc).date(), at)


def seed(
    full: Annotated[bool, typer.Option(help="Load the full Online Retail file instead of the shipped sample.")] = False,
    clock: Annotated[
        Optional[str],
        typer.Option(
            help="Seed as if it were this time of today, HH:MM in UTC (orders' states follow the hour of the seed; "
            "tests and benchmarks use a fixed one). Default: now."
        ),
    ] = None,
) -> None:
    """Make the store ready for the demo: migrate; if it has no orders, load data;
    add the default offer rules; score customers if they have no scores."""
    from analytics.customers.offers import seed_offers
    from analytics.customers.refresh import refresh_scores
    from analytics.store.bootstrap import store_for_url
    from analytics.usecases import operations

    settings = get_settings()
    store_for_url(settings.database_url).upgrade()
    uow = open_uow(settings)
    orders = operations.order_count(uow)
    if orders:
        console.print(f"store already holds {orders:,} orders: no data to load")
    else:
        path = settings.full_dataset_path if full else settings.sample_path
        try:
            run_import(settings, path, shift_to_now=True, now=_seed_clock(clock))
        except CRMError as exc:
            fail(str(exc))
    with uow:
        added = seed_offers(uow)
        uow.commit()
    scored = operations.scored_customer_count(uow)
    if added:
        console.print(f"added {added} default offer rule(s)")
    if not scored:
        result = refresh_scores(uow)
        console.print(f"scored {len(result.scores):,} customers in {result.seconds['total']:.1f} s")
    from analytics.recommend.serving import RECOMMENDER, SEQUENCES, default_artifacts, refresh_models
    from analytics.store.artifacts import ArtifactNotFound
    from analytics.usecases.next_purchase import refresh_next_purchase
    from bot.cli.recommend import next_purchase_summary

    artifacts = default_artifacts()
    try:
        artifacts.current(RECOMMENDER)
    except ArtifactNotFound:
        info = refresh_models(uow, artifacts)
        console.print(f"published recommender {info['recommender']} in {info['seconds']['total']:.1f} s")
        console.print(next_purchase_summary(info["next_purchase"]))
        return
    try:
        artifacts.current(SEQUENCES)
    except ArtifactNotFound:  # a store seeded before the next-purchase rules were part of the refresh
        try:
            published = refresh_next_purchase(uow, artifacts)
        except CRMError as exc:
            published = {"skipped": str(exc)}
        console.print(next_purchase_summary(published))


@sample_app.command("build")
def sample_build(
    source: Annotated[Optional[Path], typer.Argument(help="The full Online Retail file.")] = None,
    customers: int = 300,
    seed: int = 42,
) -> None:
    """Rebuild the shipped sample from the full file (deterministic)."""
    from analytics.ingest.sample import build_sample

    settings = get_settings()
    try:
        counts = build_sample(
            source or settings.full_dataset_path, settings.sample_path, customers=customers, seed=seed
        )
    except CRMError as exc:
        fail(str(exc))
    console.print(f"wrote {settings.sample_path}: {counts}")
