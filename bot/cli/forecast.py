"""``crm forecast``: demand forecasts for the shop, its categories and its products."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from analytics.core.errors import CRMError
from analytics.core.settings import get_settings
from bot.cli.common import console, err, fail, open_uow

app = typer.Typer(help="Demand forecasts for the shop, its categories and its products.", no_args_is_help=True)


@app.command("demand")
def forecast_demand_cmd(
    freq: Annotated[str, typer.Option(help="D (daily) or W (weekly).")] = "W",
    horizon: Annotated[Optional[int], typer.Option(help="Periods ahead (default: 14 days or 8 weeks).")] = None,
    top_products: Annotated[
        Optional[int],
        typer.Option(help="Only the N products with the most revenue over the last year (default: every product)."),
    ] = None,
    jobs: Annotated[int, typer.Option(help="Processes fitting the product models.")] = 1,
) -> None:
    """Forecast units and revenue of the shop, every category and every product, and store the run."""
    from analytics.forecast.demand import run_demand_forecast
    from analytics.forecast.demand_series import FREQ_NAMES

    uow = open_uow(get_settings())
    with Progress(
        TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    ) as bar:
        task = bar.add_task("loading sales", total=None)
        try:
            result = run_demand_forecast(
                uow,
                freq=freq,
                horizon=horizon,
                top_products=top_products,
                n_jobs=jobs,
                progress=lambda step, done, total: bar.update(
                    task, description=step, completed=done, total=total or None
                ),
            )
        except CRMError as exc:
            fail(str(exc))
    unit = "days" if result.freq == "D" else "weeks"
    table = Table(
        title=f"Demand forecast run {result.run_id}: {FREQ_NAMES[result.freq]}, {result.horizon} {unit} ahead"
    )
    for column in ("level", "measure", "series", "skipped", "model (most frequent)", "backtest MASE", "forecast"):
        table.add_column(column, justify="left" if column.startswith(("level", "measure", "model")) else "right")
    for row in result.levels:
        mase = "–" if row.median_mase is None else f"{row.median_mase:.2f}"
        total = ""
        if row.level == "shop":
            total = f"£{row.forecast_total:,.0f}" if row.measure == "revenue" else f"{row.forecast_total:,.0f} units"
        table.add_row(row.level, row.measure, f"{row.series:,}", f"{row.skipped:,}", row.model, mase, total)
    console.print(table)
    closed = ", ".join(result.closed_weekdays) or "none"
    outside = f"; {result.outside_top:,} products left out by --top-products" if result.outside_top else ""
    console.print(
        f"{result.n_series:,} series with history to {result.history_end:%Y-%m-%d} (closed weekdays: {closed}) "
        f"written in {result.seconds.get('total', 0):.1f} s{outside}. Skipped: too little history; "
        "backtest MASE: the median over the level's series."
    )


@app.command("report")
def forecast_report_cmd(
    out: Annotated[Path, typer.Option(help="Folder for demand.html and its PNG figures.")] = Path("var/reports/demand"),
    freq: Annotated[Optional[str], typer.Option(help="D or W (default: the newest run of either).")] = None,
    products: Annotated[int, typer.Option(help="Top products by forecast revenue to plot.")] = 10,
    categories: Annotated[int, typer.Option(help="Top categories by forecast revenue to plot.")] = 5,
) -> None:
    """Write the demand report: history, forecast and interval of the shop and its top series."""
    from analytics.forecast.demand_report import write_demand_report

    try:
        path = write_demand_report(
            open_uow(get_settings()), out, freq=freq, n_categories=categories, n_products=products
        )
    except CRMError as exc:
        fail(str(exc))
    console.print(f"wrote {path}")
