"""``crm support``: handoffs to human agents."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Optional

import typer
from rich.table import Table

from analytics.core.clock import utc_now
from analytics.core.settings import get_settings
from bot.cli.common import console, open_uow

app = typer.Typer(help="Handoffs to human agents.", no_args_is_help=True)


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@app.command("report")
def support_report(
    days: Annotated[float, typer.Option(help="Handoffs requested in the last N days.")] = 7.0,
) -> None:
    """Handoff volumes by reason, status and agent, with average and 90th-percentile waits."""
    from analytics.usecases.support import report

    now = utc_now()
    result = report(open_uow(get_settings()), now - timedelta(days=days), now)
    console.print(f"handoffs requested since {result.since:%Y-%m-%d %H:%M} UTC: {result.total:,}")
    table = Table(show_header=False)
    table.add_column(justify="left")
    table.add_column(justify="right")
    table.add_row("accepted by an agent", f"{result.accepted:,}")
    table.add_row("average wait", _duration(result.average_wait_seconds))
    table.add_row("90th percentile wait", _duration(result.p90_wait_seconds))
    table.add_row("average handling time", _duration(result.average_handling_seconds))
    longest = f" (longest {_duration(result.longest_current_wait_seconds)})" if result.still_waiting else ""
    table.add_row("still waiting", f"{result.still_waiting:,}{longest}")
    console.print(table)
    groups = (("by reason", result.by_reason), ("by status", result.by_status), ("by agent", result.by_agent))
    for title, counts in groups:
        console.print(f"{title}: " + (", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in counts.items()) or "none"))
