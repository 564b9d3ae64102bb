"""``crm recommend``: product recommendations and frequently bought together."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from analytics.core.errors import CRMError
from analytics.core.settings import get_settings
from bot.cli.common import console, err, fail, open_uow

app = typer.Typer(help="Product recommendations and frequently bought together.", no_args_is_help=True)


@app.command("refresh")
def recommend_refresh() -> None:
    """Refit the recommender, the basket rules and the next-purchase rules and publish them as new artifact
    versions."""
    from analytics.recommend.serving import default_artifacts, refresh_models

    uow = open_uow(get_settings())
    with Progress(
        TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    ) as bar:
        task = bar.add_task("starting", total=5)
        try:
            info = refresh_models(
                uow,
                default_artifacts(),
                progress=lambda step, done, total: bar.update(task, description=step, completed=done),
            )
        except CRMError as exc:
            fail(str(exc))
    console.print(
        f"recommender {info['recommender']} ({info['customers']:,} customers x {info['products']:,} products) and "
        f"basket rules {info['basket']} ({info['rules']:,} rules) published in {info['seconds']['total']:.1f} s"
    )
    console.print(next_purchase_summary(info["next_purchase"]))


def next_purchase_summary(result: dict[str, Any]) -> str:
    """What the refresh did with the next-purchase rules, in one line."""
    if "skipped" in result:
        return f"next-purchase rules not refreshed (the previous ones, if any, stay): {result['skipped']}"
    return (
        f"next-purchase rules {result['version']} ({result['rules']:,} rules, each held by at least "
        f"{result['min_count']:,} customers) published"
    )


@app.command("for")
def recommend_for_cmd(
    customer: Annotated[str, typer.Argument(help="Customer number (as in the source data, e.g. 17850).")],
    n: int = 5,
    max_price: Optional[float] = None,
    category: Optional[str] = None,
) -> None:
    """Show a customer's recommendations with their reasons."""
    from analytics.usecases.operations import customer_id_of
    from analytics.usecases.recommendations import recommend_for

    uow = open_uow(get_settings())
    customer_id = customer_id_of(uow, customer)
    if customer_id is None:
        fail(f"no customer {customer!r} in the store.")
    try:
        result = recommend_for(uow, customer_id, n=n, max_price=max_price, category=category)
    except CRMError as exc:
        fail(str(exc))
    if not result.items:
        console.print(result.note or "nothing to recommend")
    for item in result.items:
        console.print(f"{item.sku:>8}  £{item.price:>7.2f}  {item.name}  [{item.category}]  - {item.reason}")
