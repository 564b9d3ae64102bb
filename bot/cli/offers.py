"""``crm offers``: offer rules and their A/B results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from analytics.core.errors import CRMError
from analytics.core.settings import get_settings
from bot.cli.common import console, fail, open_uow

app = typer.Typer(help="Offer rules and their A/B results.", no_args_is_help=True)


@app.command("seed")
def offers_seed(
    path: Annotated[
        Optional[Path], typer.Argument(help="JSON file of offer rules (default: the shipped rules).")
    ] = None,
) -> None:
    """Add offer rules whose codes the store does not have yet."""
    from analytics.customers.offers import DEFAULT_OFFERS, seed_offers

    uow = open_uow(get_settings())
    try:
        with uow:
            added = seed_offers(uow, path or DEFAULT_OFFERS)
            uow.commit()
    except CRMError as exc:
        fail(str(exc))
    console.print(f"added {added} offer rule(s)")


@app.command("uplift")
def offers_uplift(window_days: int = 30) -> None:
    """Conversion of treated vs control customers per offer, with a 95% interval."""
    from analytics.customers.offers import uplift_report

    report = uplift_report(open_uow(get_settings()), window_days=window_days)
    if report.empty:
        console.print("no offer has been assigned yet")
        return
    table = Table(title=f"Offer uplift (conversion = an order within {window_days} days)")
    for column in ("offer", "treated", "converted", "control", "converted", "uplift", "95% interval"):
        table.add_column(column, justify="right")
    for row in report.itertuples():
        table.add_row(
            row.offer, f"{row.treated:,}", f"{row.treated_conversions:,}", f"{row.control:,}",
            f"{row.control_conversions:,}", f"{row.uplift:+.1%}", f"[{row.ci_low:+.1%}, {row.ci_high:+.1%}]",
        )  # fmt: skip
    console.print(table)
