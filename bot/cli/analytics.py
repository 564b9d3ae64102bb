"""``crm analytics``: customers' scores and the operators' report."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from analytics.core.errors import CRMError
from analytics.core.settings import get_settings
from bot.cli.common import console, err, fail, open_uow

app = typer.Typer(help="Customer analytics: scores, reports.", no_args_is_help=True)


@app.command("refresh")
def analytics_refresh(
    as_of: Annotated[
        Optional[datetime], typer.Option(help="Reference date (default: the day after the newest order).")
    ] = None,
) -> None:
    """Recompute every customer's RFM, segment, tier, CLV and churn risk and store them."""
    from analytics.customers.refresh import STEPS, refresh_scores

    uow = open_uow(get_settings())
    with Progress(
        TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    ) as bar:
        task = bar.add_task("loading orders", total=len(STEPS))
        try:
            result = refresh_scores(
                uow,
                reference_date=as_of,
                progress=lambda step, done, total: bar.update(task, description=step, completed=done),
            )
        except CRMError as exc:
            fail(str(exc))
    scores = result.scores
    console.print(
        f"scored {len(scores):,} customers as of {result.reference_date:%Y-%m-%d} "
        f"in {result.seconds.get('total', 0):.1f} s"
    )
    table = Table(title="Customers by RFM segment, tier and lifecycle")
    table.add_column("RFM segment")
    table.add_column("n", justify="right")
    for name, n in scores["rfm_segment"].value_counts().items():
        table.add_row(str(name), f"{n:,}")
    console.print(table)
    console.print("tiers: " + ", ".join(f"{k} {v:,}" for k, v in scores["tier"].value_counts().items()))
    console.print("lifecycle: " + ", ".join(f"{k} {v:,}" for k, v in scores["lifecycle"].value_counts().items()))
    console.print("clusters: " + "; ".join(f"{row.label} ({row.size:,})" for row in result.profiles.itertuples()))


@app.command("report")
def analytics_report(
    out: Annotated[Path, typer.Option(help="Folder for report.html and its PNG figures.")] = Path("var/reports"),
) -> None:
    """Write the operators' report (segments, RFM heatmap, CLV distribution)."""
    from analytics.customers.report import write_report

    try:
        path = write_report(open_uow(get_settings()), out)
    except CRMError as exc:
        fail(str(exc))
    console.print(f"wrote {path}")
