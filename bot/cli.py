"""``crm``: the operator command line.

    crm db upgrade                       create or migrate the store
    crm import retail FILE [--shift-to-now]
    crm seed                             migrate + load the shipped sample if the store is empty
    crm sample build SOURCE              rebuild the shipped sample from the full file
    crm order 536365                     show one order as the bot sees it
    crm serve                            start the action server and the Rasa server

Errors print one line that says what to fix and exit with status 2.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, Optional

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from analytics.errors import CRMError
from analytics.settings import Settings, get_settings

app = typer.Typer(
    help="Shop assistant: store, data and servers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The customer store's schema.", no_args_is_help=True)
import_app = typer.Typer(help="Load data into the store.", no_args_is_help=True)
sample_app = typer.Typer(help="The small dataset shipped with the project.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
analytics_app = typer.Typer(help="Customer analytics: scores, reports.", no_args_is_help=True)
offers_app = typer.Typer(help="Offer rules and their A/B results.", no_args_is_help=True)
recommend_app = typer.Typer(help="Product recommendations and frequently bought together.", no_args_is_help=True)
app.add_typer(sample_app, name="sample")
app.add_typer(analytics_app, name="analytics")
app.add_typer(offers_app, name="offers")
app.add_typer(recommend_app, name="recommend")

if TYPE_CHECKING:
    from analytics.store.uow import SqlAlchemyUnitOfWork

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code=2)


def _uow(settings: Settings) -> SqlAlchemyUnitOfWork:
    """A unit of work on the configured store; fails clearly if it has no schema."""
    from analytics.store.db import make_engine
    from analytics.store.migrate import is_initialised
    from analytics.store.uow import SqlAlchemyUnitOfWork

    engine = make_engine(settings.database_url, echo=settings.sql_echo)
    try:
        ready = is_initialised(engine)
    except SQLAlchemyError as exc:
        where = engine.url.render_as_string(hide_password=True)
        _fail(f"cannot reach the store at {where}: {exc.__class__.__name__}: {getattr(exc, 'orig', None) or exc}")
    if not ready:
        _fail(
            f"the store at {engine.url.render_as_string(hide_password=True)} has no schema yet; "
            "run `crm db upgrade` (or `make store`) first."
        )
    from analytics.store.db import make_session_factory

    return SqlAlchemyUnitOfWork(make_session_factory(engine))


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create the store or migrate it to the newest schema."""
    from analytics.store.db import make_engine
    from analytics.store.migrate import upgrade

    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine, revision)
    except Exception as exc:  # the migration tool's own errors are already clear
        _fail(f"could not migrate {engine.url.render_as_string(hide_password=True)}: {exc}")
    console.print(f"store at {engine.url.render_as_string(hide_password=True)} is at revision {revision}")


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


def run_import(settings: Settings, path: Path, shift_to_now: bool) -> None:
    from analytics.ingest.online_retail import import_online_retail

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task("importing")
        result = import_online_retail(
            _uow(settings),
            path,
            shift_to_now=shift_to_now,
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
        _fail(str(exc))


@app.command()
def seed(
    full: Annotated[bool, typer.Option(help="Load the full Online Retail file instead of the shipped sample.")] = False,
) -> None:
    """Make the store ready for the demo: migrate; if it has no orders, load data;
    add the default offer rules; score customers if they have no scores."""
    from analytics.offers import seed_offers
    from analytics.refresh import refresh_scores
    from analytics.store.db import make_engine
    from analytics.store.migrate import upgrade

    settings = get_settings()
    upgrade(make_engine(settings.database_url))
    uow = _uow(settings)
    with uow:
        orders = uow.orders.count()
    if orders:
        console.print(f"store already holds {orders:,} orders: no data to load")
    else:
        path = settings.full_dataset_path if full else settings.sample_path
        try:
            run_import(settings, path, shift_to_now=True)
        except CRMError as exc:
            _fail(str(exc))
    with uow:
        added = seed_offers(uow)
        scored = uow.scores.count()
        uow.commit()
    if added:
        console.print(f"added {added} default offer rule(s)")
    if not scored:
        result = refresh_scores(uow)
        console.print(f"scored {len(result.scores):,} customers in {result.seconds['total']:.1f} s")
    from analytics.artifacts import ArtifactNotFound
    from analytics.recommendations import RECOMMENDER, default_artifacts, refresh_models

    artifacts = default_artifacts()
    try:
        artifacts.current(RECOMMENDER)
    except ArtifactNotFound:
        info = refresh_models(uow, artifacts)
        console.print(f"published recommender {info['recommender']} in {info['seconds']['total']:.1f} s")


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
        _fail(str(exc))
    console.print(f"wrote {settings.sample_path}: {counts}")


@app.command()
def order(number: str) -> None:
    """Show an order's status as the assistant would."""
    from analytics import services

    try:
        view = services.order_status(_uow(get_settings()), number)
    except CRMError as exc:
        _fail(str(exc))
    for key, value in view.__dict__.items():
        console.print(f"{key:>20}: {value}")


@app.command()
def serve(
    rasa_port: int = 5005,
    actions_port: int = 5055,
    model: Annotated[Optional[Path], typer.Option(help="Model file; default: newest in models/.")] = None,
) -> None:
    """Start the action server and the Rasa server; Ctrl-C stops both."""
    from bot.serve import ServeError, run_forever

    try:
        run_forever(rasa_port=rasa_port, actions_port=actions_port, model=model)
    except ServeError as exc:
        _fail(str(exc))


@analytics_app.command("refresh")
def analytics_refresh(
    as_of: Annotated[
        Optional[datetime], typer.Option(help="Reference date (default: the day after the newest order).")
    ] = None,
) -> None:
    """Recompute every customer's RFM, segment, tier, CLV and churn risk and store them."""
    from rich.progress import BarColumn, MofNCompleteColumn

    from analytics.refresh import STEPS, refresh_scores

    uow = _uow(get_settings())
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
            _fail(str(exc))
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


@analytics_app.command("report")
def analytics_report(
    out: Annotated[Path, typer.Option(help="Folder for report.html and its PNG figures.")] = Path("var/reports"),
) -> None:
    """Write the operators' report (segments, RFM heatmap, CLV distribution)."""
    from analytics.report import write_report

    try:
        path = write_report(_uow(get_settings()), out)
    except CRMError as exc:
        _fail(str(exc))
    console.print(f"wrote {path}")


@offers_app.command("seed")
def offers_seed(
    path: Annotated[
        Optional[Path], typer.Argument(help="JSON file of offer rules (default: the shipped rules).")
    ] = None,
) -> None:
    """Add offer rules whose codes the store does not have yet."""
    from analytics.offers import DEFAULT_OFFERS, seed_offers

    uow = _uow(get_settings())
    try:
        with uow:
            added = seed_offers(uow, path or DEFAULT_OFFERS)
            uow.commit()
    except CRMError as exc:
        _fail(str(exc))
    console.print(f"added {added} offer rule(s)")


@offers_app.command("uplift")
def offers_uplift(window_days: int = 30) -> None:
    """Conversion of treated vs control customers per offer, with a 95% interval."""
    from analytics.offers import uplift_report

    report = uplift_report(_uow(get_settings()), window_days=window_days)
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


@recommend_app.command("refresh")
def recommend_refresh() -> None:
    """Refit the recommender and the basket rules and publish them as new artifact versions."""
    from rich.progress import BarColumn, MofNCompleteColumn

    from analytics.recommendations import default_artifacts, refresh_models

    uow = _uow(get_settings())
    with Progress(
        TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    ) as bar:
        task = bar.add_task("starting", total=4)
        try:
            info = refresh_models(
                uow,
                default_artifacts(),
                progress=lambda step, done, total: bar.update(task, description=step, completed=done),
            )
        except CRMError as exc:
            _fail(str(exc))
    console.print(
        f"recommender {info['recommender']} ({info['customers']:,} customers x {info['products']:,} products) and "
        f"basket rules {info['basket']} ({info['rules']:,} rules) published in {info['seconds']['total']:.1f} s"
    )


@recommend_app.command("for")
def recommend_for_cmd(
    customer: Annotated[str, typer.Argument(help="Customer number (as in the source data, e.g. 17850).")],
    n: int = 5,
    max_price: Optional[float] = None,
    category: Optional[str] = None,
) -> None:
    """Show a customer's recommendations with their reasons."""
    from analytics.recommendations import recommend_for

    uow = _uow(get_settings())
    with uow:
        found = uow.customers.by_external_ref(customer)
        customer_id = found.id if found is not None else None
    if customer_id is None:
        _fail(f"no customer {customer!r} in the store.")
    try:
        result = recommend_for(uow, customer_id, n=n, max_price=max_price, category=category)
    except CRMError as exc:
        _fail(str(exc))
    if not result.items:
        console.print(result.note or "nothing to recommend")
    for item in result.items:
        console.print(f"{item.sku:>8}  £{item.price:>7.2f}  {item.name}  [{item.category}]  - {item.reason}")


# -- crm forecast: demand forecasts (analytics/demand.py, analytics/demand_report.py) --------------------

forecast_app = typer.Typer(help="Demand forecasts for the shop, its categories and its products.", no_args_is_help=True)
app.add_typer(forecast_app, name="forecast")


@forecast_app.command("demand")
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
    from rich.progress import BarColumn, MofNCompleteColumn

    from analytics.demand import FREQ_NAMES, run_demand_forecast

    uow = _uow(get_settings())
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
            _fail(str(exc))
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


@forecast_app.command("report")
def forecast_report_cmd(
    out: Annotated[Path, typer.Option(help="Folder for demand.html and its PNG figures.")] = Path("var/reports/demand"),
    freq: Annotated[Optional[str], typer.Option(help="D or W (default: the newest run of either).")] = None,
    products: Annotated[int, typer.Option(help="Top products by forecast revenue to plot.")] = 10,
    categories: Annotated[int, typer.Option(help="Top categories by forecast revenue to plot.")] = 5,
) -> None:
    """Write the demand report: history, forecast and interval of the shop and its top series."""
    from analytics.demand_report import write_demand_report

    try:
        path = write_demand_report(_uow(get_settings()), out, freq=freq, n_categories=categories, n_products=products)
    except CRMError as exc:
        _fail(str(exc))
    console.print(f"wrote {path}")


# -- end of crm forecast ---------------------------------------------------------------------------------


@app.command()
def chat(
    url: str = "http://127.0.0.1:5005",
    sender: Annotated[Optional[str], typer.Option(help="Conversation id; a new one by default.")] = None,
) -> None:
    """Chat with the running assistant over its REST channel (Ctrl-D to quit)."""
    import uuid

    import requests

    sender = sender or f"cli-{uuid.uuid4().hex[:8]}"
    console.print(f"talking to {url} as {sender}; Ctrl-D to quit")
    while True:
        try:
            text = console.input("[bold]you>[/] ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if not text.strip():
            continue
        try:
            reply = requests.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=30)
            reply.raise_for_status()
        except requests.RequestException as exc:
            _fail(f"the assistant at {url} did not answer ({exc}); is `make run` running?")
        for message in reply.json():
            for key in ("text", "image"):
                if message.get(key):
                    console.print(f"[bold green]bot>[/] {message[key]}", highlight=False)
            for button in message.get("buttons", []):
                console.print(f"      [{button.get('title')}]", highlight=False)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
