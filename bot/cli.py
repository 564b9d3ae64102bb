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
from datetime import datetime, timezone
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


def run_import(settings: Settings, path: Path, shift_to_now: bool, now: Optional[datetime] = None) -> None:
    from analytics.ingest.online_retail import import_online_retail

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task("importing")
        result = import_online_retail(
            _uow(settings),
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
        _fail(str(exc))


def _seed_clock(clock: Optional[str]) -> Optional[datetime]:
    """Today (UTC) at ``clock`` (``HH:MM``), naive like the store's times; ``None`` for the real time."""
    if clock is None:
        return None
    try:
        at = datetime.strptime(clock.strip(), "%H:%M").time()
    except ValueError:
        _fail(f"--clock {clock!r} is not a time of day: give HH:MM in UTC, e.g. 06:00.")
    return datetime.combine(datetime.now(timezone.utc).date(), at)


@app.command()
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
            run_import(settings, path, shift_to_now=True, now=_seed_clock(clock))
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


# -- crm users / crm support: agent console accounts and handoffs (analytics/agents.py, analytics/support.py) --

users_app = typer.Typer(help="Staff accounts of the agent console.", no_args_is_help=True)
support_app = typer.Typer(help="Handoffs to human agents.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(support_app, name="support")


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Lower-case letters, digits, '.', '_' or '-'.")],
    role: Annotated[str, typer.Option(help="agent or operator (operators also see reports).")] = "agent",
    password: Annotated[
        Optional[str],
        typer.Option(help="Default: asked for twice without echo. On the command line it lands in shell history."),
    ] = None,
    display_name: Annotated[
        Optional[str],
        typer.Option(help="The name customers see in the chat (e.g. 'Alice'); without one they see 'Our team'."),
    ] = None,
) -> None:
    """Create an account for the agent console."""
    from analytics.agents import create_user

    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(_uow(get_settings()), username, password, role=role, display_name=display_name)
    except CRMError as exc:
        _fail(str(exc))
    console.print(f"created {user.role} {user.username!r}")


@users_app.command("list")
def users_list() -> None:
    """List the console's accounts."""
    from analytics.agents import list_users

    table = Table(title="Agent console accounts")
    for column in ("user", "role", "active", "created"):
        table.add_column(column)
    for user in list_users(_uow(get_settings())):
        table.add_row(user.username, user.role, "yes" if user.active else "no", f"{user.created_at:%Y-%m-%d %H:%M}")
    console.print(table)


@users_app.command("disable")
def users_disable(username: str) -> None:
    """Disable an account: it cannot log in, and its open sessions stop working."""
    from analytics.agents import set_active

    try:
        set_active(_uow(get_settings()), username, False)
    except CRMError as exc:
        _fail(str(exc))
    console.print(f"disabled {username!r}")


@users_app.command("enable")
def users_enable(username: str) -> None:
    """Enable a disabled account again."""
    from analytics.agents import set_active

    try:
        set_active(_uow(get_settings()), username, True)
    except CRMError as exc:
        _fail(str(exc))
    console.print(f"enabled {username!r}")


@users_app.command("rename")
def users_rename(
    username: str,
    display_name: Annotated[str, typer.Argument(help="The name customers see; '' for none ('Our team').")],
) -> None:
    """Set the name customers see for an account (never its login name)."""
    from analytics.agents import set_display_name

    try:
        set_display_name(_uow(get_settings()), username, display_name)
    except CRMError as exc:
        _fail(str(exc))
    console.print(f"customers now see {username!r} as {display_name or 'Our team'!r}")


@users_app.command("passwd")
def users_passwd(username: str) -> None:
    """Set a new password (asked for twice without echo)."""
    from analytics.agents import set_password

    password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    try:
        set_password(_uow(get_settings()), username, password)
    except CRMError as exc:
        _fail(str(exc))
    console.print(f"password of {username!r} changed")


@users_app.command("demo")
def users_demo() -> None:
    """Create the demo accounts (alice, agent; olivia, operator) if missing. Their passwords are in the README.

    Only with the demo flag (``CRM_DEMO=1``, which ``make run`` sets); never in production."""
    from analytics.agents import ensure_demo_users

    settings = get_settings()
    if not settings.demo:
        _fail("the demo accounts have published passwords: they are created only for the local demo (CRM_DEMO=1).")
    created = ensure_demo_users(_uow(settings))
    if created:
        console.print("created demo accounts: " + ", ".join(f"{u.username} ({u.role})" for u in created))
    else:
        console.print("the demo accounts exist already")


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@support_app.command("report")
def support_report(
    days: Annotated[float, typer.Option(help="Handoffs requested in the last N days.")] = 7.0,
) -> None:
    """Handoff volumes by reason, status and agent, with average and 90th-percentile waits."""
    from datetime import timedelta, timezone

    from analytics.support import report

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    result = report(_uow(get_settings()), now - timedelta(days=days), now)
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


# -- end of crm users / crm support --------------------------------------------------------------------------

# -- crm nlu: retrain the NLU from real conversations, gated, hot-swapped (bot/ops/) -------------------------

nlu_app = typer.Typer(
    help="Triage what the bot misunderstood, annotate, train, gate, publish without a restart, roll back.",
    no_args_is_help=True,
)
app.add_typer(nlu_app, name="nlu")
OperatorOption = Annotated[Optional[str], typer.Option(help="Who is acting (default: the OS user); logged.")]


@nlu_app.callback()
def nlu_main(
    ctx: typer.Context,
    project: Annotated[
        Optional[Path], typer.Option(help="The Rasa project folder (default: this repository).", hidden=True)
    ] = None,
) -> None:
    """The NLU loop on this project (or another folder with the same layout, for tests)."""
    from analytics.settings import PROJECT_ROOT
    from bot.ops.project import Project

    ctx.obj = Project((project or PROJECT_ROOT).resolve())


@nlu_app.command("triage")
def nlu_triage(
    ctx: typer.Context,
    out: Annotated[
        Optional[Path], typer.Option(help="The annotation file to write (default: var/nlu/triage.yml, not versioned).")
    ] = None,
    since: Annotated[Optional[str], typer.Option(help="Only messages since: 7d, 12h, 30m or an ISO date.")] = None,
    min_confidence: Annotated[float, typer.Option(help="Messages below this intent confidence.")] = 0.6,
    similarity: Annotated[float, typer.Option(help="Cosine similarity that puts two messages in one group.")] = 0.5,
    rephrase_seconds: Annotated[float, typer.Option(help="A message this soon after a misunderstood one.")] = 120.0,
    handoff_seconds: Annotated[float, typer.Option(help="Misunderstood this long before a handoff.")] = 300.0,
    tracker_store: Annotated[
        Optional[str], typer.Option(help="SQLAlchemy URL of the tracker store (default: from endpoints.yml).")
    ] = None,
    names_file: Annotated[Optional[Path], typer.Option(help="More names to mask, one per line.")] = None,
) -> None:
    """List the customer messages the bot misunderstood, grouped by similarity, into an annotation file."""
    from sqlalchemy import create_engine

    from bot.ops.console import triage_table
    from bot.ops.project import project_of
    from bot.ops.settings import get_ops_settings
    from bot.ops.triage import TriageOptions, parse_since, triage, write_triage

    project = project_of(ctx.obj)
    ops = get_ops_settings()
    try:
        url = project.tracker_store_url(explicit=tracker_store or ops.tracker_store_url)
        if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
            _fail(f"no tracker store at {url.database}: the assistant has not run with the SQL tracker store yet.")
        names = _nlu_names(names_file or ops.names_file)
        options = TriageOptions(
            min_confidence=min_confidence,
            since=parse_since(since),
            rephrase_seconds=rephrase_seconds,
            handoff_seconds=handoff_seconds,
            similarity=similarity,
            names=names,
        )
        engine = create_engine(url)
        report = triage(engine, options, source=url.render_as_string(hide_password=True))
    except CRMError as exc:
        _fail(str(exc))
    except SQLAlchemyError as exc:
        _fail(f"cannot read the tracker store: {exc.__class__.__name__}: {getattr(exc, 'orig', None) or exc}")
    out = out or project.var / "nlu" / "triage.yml"
    write_triage(report, out)
    console.print(triage_table(report))
    console.print(f"wrote {out}: label the groups there, then `crm nlu annotate {out}`")


def _nlu_uow() -> SqlAlchemyUnitOfWork:
    """The store, checked to hold the model registry (migration 0005)."""
    from sqlalchemy import inspect

    uow = _uow(get_settings())
    if not inspect(uow.engine).has_table("model_versions"):
        _fail("the store has no model registry yet; run `crm db upgrade` first.")
    return uow


def _nlu_names(names_file: Optional[Path]) -> tuple[str, ...]:
    """Customers' names from the store (if there is one) and the names file, for masking."""
    from analytics.store.db import make_engine
    from analytics.store.migrate import is_initialised
    from analytics.store.uow import SqlAlchemyUnitOfWork
    from bot.ops.annotate import Names

    settings = get_settings()
    try:
        engine = make_engine(settings.database_url)
        if is_initialised(engine):
            return Names.from_store(SqlAlchemyUnitOfWork.for_url(settings.database_url), names_file).names
    except SQLAlchemyError:
        err.print(
            "[yellow]warning:[/] the store is unreachable: customers' names are not masked, only the names file's"
        )
    return Names.load(names_file=names_file).names


@nlu_app.command("annotate")
def nlu_annotate(
    ctx: typer.Context,
    triage_file: Annotated[Path, typer.Argument(help="The file `crm nlu triage` wrote.")],
    labels: Annotated[
        Optional[Path],
        typer.Option(help="Labels without prompts: {groups: {1: intent}, examples: {event_id: intent}}."),
    ] = None,
    interactive: Annotated[bool, typer.Option(help="Ask for the labels of unlabelled groups.")] = True,
    names_file: Annotated[Optional[Path], typer.Option(help="More names to mask, one per line.")] = None,
    operator: OperatorOption = None,
) -> None:
    """Merge labelled messages into data/nlu/from_conversations.yml (masked, no duplicates, with their source)."""
    from analytics.store.models import ModelAction
    from bot.ops import annotate, registry
    from bot.ops.project import current_operator, project_of
    from bot.ops.settings import get_ops_settings

    project = project_of(ctx.obj)
    who = current_operator(operator)
    uow = _nlu_uow()  # before anything is written: the merge is logged there
    try:
        doc = annotate.read_triage(triage_file)
        if labels is not None:
            doc = annotate.apply_labels_file(doc, labels)
        intents = project.intents()
        if labels is None and interactive and sys.stdin.isatty():
            doc = annotate.label_interactively(
                doc,
                intents,
                ask=lambda prompt: console.input(prompt),
                say=lambda line: console.print(line, highlight=False),
                save=lambda d: annotate.write_labels_into(d, triage_file),
            )
        found, problems = annotate.labelled_examples(doc, intents)
        if problems:
            _fail("; ".join(problems) + ". `crm nlu annotate` lists the intents at its prompt (?).")
        result = annotate.merge_labels(
            project, found, operator=who, names=_nlu_names(names_file or get_ops_settings().names_file)
        )
    except CRMError as exc:
        _fail(str(exc))
    for text, why in result.skipped:
        console.print(f"  skipped {text!r}: {why}", highlight=False)
    added = ", ".join(f"{intent} {n}" for intent, n in sorted(result.by_intent.items())) or "nothing"
    where = project.relative(result.path)
    console.print(f"added {len(result.added)} example(s) to {where} ({added}); {result.total} there in all")
    if result.added:
        registry.record(
            uow,
            ModelAction.ANNOTATE,
            operator=who,
            detail={"added": len(result.added), "skipped": len(result.skipped), "by_intent": result.by_intent,
                    "triage_file": triage_file.name},
        )  # fmt: skip
        console.print("next: `crm nlu train`")


@nlu_app.command("train")
def nlu_train(
    ctx: typer.Context,
    config: Annotated[Optional[Path], typer.Option(help="Pipeline to train with (default: config.yml).")] = None,
    name: Annotated[Optional[str], typer.Option(help="Model name (default: nlu-<UTC time>).")] = None,
    operator: OperatorOption = None,
) -> None:
    """`rasa data validate`, then `rasa train` with progress; the model is registered as a candidate."""
    from rich.progress import BarColumn, MofNCompleteColumn

    from bot.ops import registry
    from bot.ops.project import current_operator, project_of
    from bot.ops.train import train_model

    project = project_of(ctx.obj)
    who = current_operator(operator)
    uow = _nlu_uow()
    with Progress(
        SpinnerColumn(), TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("starting Rasa", total=None)
        try:
            trained = train_model(
                project,
                config=config,
                name=name,
                progress=lambda what, done, total: bar.update(task, description=what, completed=done or 0, total=total),
            )
        except CRMError as exc:
            _fail(str(exc))
    info = registry.register_model(
        uow, project, trained.path, operator=who, data_hash=trained.data_hash, config=trained.config, trained=True,
        detail={"seconds": trained.seconds},
    )  # fmt: skip
    console.print(
        f"trained {info.name} in {trained.seconds:.0f} s: {project.relative(trained.path)} "
        f"(data hash {(info.data_hash or '?')[:12]})"
    )
    console.print(f"next: `crm nlu evaluate {info.name}`, then `crm nlu publish {info.name}`")


@nlu_app.command("evaluate")
def nlu_evaluate(
    ctx: typer.Context,
    candidate: Annotated[str, typer.Argument(help="Model name or file.")],
    against: Annotated[str, typer.Option(help="`current` (the live model), another model, or `none`.")] = "current",
    fresh: Annotated[bool, typer.Option(help="Evaluate again even if the test sets did not change.")] = False,
    operator: OperatorOption = None,
) -> None:
    """Per-intent precision/recall/F1 and the confusion matrix on the held-out set; conversation tests; the verdict."""
    from bot.ops import publish, registry
    from bot.ops.console import comparison_table, decision_lines
    from bot.ops.gate import decide
    from bot.ops.project import current_operator, project_of
    from bot.ops.settings import get_ops_settings

    project = project_of(ctx.obj)
    who = current_operator(operator)
    uow = _nlu_uow()
    say = lambda line: err.print(line, highlight=False)  # noqa: E731
    try:
        model = publish.resolve_model(uow, project, candidate, operator=who)
        other = None
        if against == "current":
            other = registry.live_model(uow)
        elif against != "none":
            other = publish.resolve_model(uow, project, against, operator=who)
        model, cand_eval = publish.ensure_evaluation(uow, project, model, operator=who, say=say, fresh=fresh)
        other_eval = None
        if other is not None and other.id != model.id:
            other, other_eval = publish.ensure_evaluation(uow, project, other, operator=who, say=say, fresh=fresh)
    except CRMError as exc:
        _fail(str(exc))
    console.print(comparison_table(model.name, cand_eval, other.name if other_eval and other else None, other_eval))
    console.print(
        f"held-out: {cand_eval.examples} messages, accuracy {cand_eval.accuracy:.3f}; the assistant would not "
        f"understand (nlu_fallback) {cand_eval.fallbacks} of them"
    )
    conv = cand_eval.conversations
    console.print(f"conversation tests: {f'{conv.passed}/{conv.total} pass' if conv.ran else 'skipped: ' + conv.note}")
    for story in conv.failed:
        console.print(f"  [red]✗[/] {story}", highlight=False)
    console.print(f"confusion matrix: {cand_eval.confusion_png}; reports: {cand_eval.report_dir}")
    for line in decision_lines(decide(cand_eval, other_eval, max_drop=get_ops_settings().max_macro_f1_drop)):
        console.print(line, highlight=False)


@nlu_app.command("publish")
def nlu_publish(
    ctx: typer.Context,
    candidate: Annotated[str, typer.Argument(help="Model name or file.")],
    force: Annotated[bool, typer.Option(help="Publish even if the gate refuses (needs --reason; logged).")] = False,
    reason: Annotated[Optional[str], typer.Option(help="Why (required with --force); logged.")] = None,
    operator: OperatorOption = None,
) -> None:
    """Gate the candidate against the live model, then load it into the running servers without a restart."""
    from bot.ops.console import decision_lines
    from bot.ops.project import current_operator, project_of
    from bot.ops.publish import PublishRefused, publish_model
    from bot.ops.settings import admin_token, get_ops_settings
    from bot.ops.swap import SwitchClient

    project = project_of(ctx.obj)
    ops = get_ops_settings()
    try:
        switch = SwitchClient(ops.admin_url, admin_token(ops))
        outcome = publish_model(
            _nlu_uow(), project, candidate, operator=current_operator(operator),
            max_drop=ops.max_macro_f1_drop, switch=switch, force=force, reason=reason,
            say=lambda line: err.print(line, highlight=False),
        )  # fmt: skip
    except PublishRefused as exc:
        for line in decision_lines(exc.decision):
            err.print(line, highlight=False)
        _fail(f'{exc} (override: --force --reason "...", which is logged)')
    except CRMError as exc:
        _fail(str(exc))
    for line in decision_lines(outcome.decision):
        console.print(line, highlight=False)
    if outcome.forced:
        console.print(f"[bold red]published past the gate[/] by {outcome.model.published_by}: {reason}")
    if outcome.swap:
        swap = outcome.swap
        console.print(
            f"{outcome.model.name} is live: loaded in {swap['load_seconds']:.1f} s, warmed up in "
            f"{swap['warmup_seconds']:.1f} s, switched at {swap['switched_at']}; old server drained in "
            f"{swap.get('drain_seconds') or 0:.1f} s"
        )
    else:
        console.print(f"{outcome.model.name} is live in the registry; no switchboard answers at {ops.admin_url}, "
                      "so it loads at the next `crm nlu serve`")  # fmt: skip


@nlu_app.command("rollback")
def nlu_rollback(
    ctx: typer.Context,
    reason: Annotated[Optional[str], typer.Option(help="Why; logged.")] = None,
    operator: OperatorOption = None,
) -> None:
    """Put back the model the live one replaced (no restart, no gate)."""
    from bot.ops.project import current_operator, project_of
    from bot.ops.publish import rollback_model
    from bot.ops.settings import admin_token, get_ops_settings
    from bot.ops.swap import SwitchClient

    ops = get_ops_settings()
    try:
        outcome = rollback_model(
            _nlu_uow(), project_of(ctx.obj), operator=current_operator(operator),
            switch=SwitchClient(ops.admin_url, admin_token(ops)), reason=reason,
            say=lambda line: err.print(line, highlight=False),
        )  # fmt: skip
    except CRMError as exc:
        _fail(str(exc))
    live = "switched the running servers" if outcome.swap else "registry only: no switchboard is running"
    console.print(f"rolled back from {outcome.previous.name} to {outcome.model.name} ({live})")


@nlu_app.command("models")
def nlu_models() -> None:
    """Every model with its status, data hash, held-out macro-F1, conversation tests, who and when."""
    from bot.ops import registry
    from bot.ops.console import models_table

    console.print(models_table(registry.list_models(_nlu_uow())))


@nlu_app.command("audit")
def nlu_audit(limit: Annotated[int, typer.Option(help="How many entries.")] = 30) -> None:
    """Who trained, evaluated, published, refused or rolled back what, and when."""
    from bot.ops import registry
    from bot.ops.console import audit_table

    console.print(audit_table(registry.audit_log(_nlu_uow(), limit=limit)))


@nlu_app.command("serve")
def nlu_serve(
    ctx: typer.Context,
    rasa_port: Annotated[
        int, typer.Option(help="The public port (the proxy): the channels only, e.g. /webhooks/rest/webhook.")
    ] = 5005,
    api_port: Annotated[
        int, typer.Option(help="Loopback port of Rasa's HTTP API for the back ends (the web app); 0: a free one.")
    ] = 5007,
    actions_port: Annotated[int, typer.Option(help="The action server's port; 0: do not start one.")] = 5055,
    admin_port: Annotated[
        Optional[int], typer.Option(help="Loopback port for swaps (default: CRM_OPS_ADMIN_URL).")
    ] = None,
    model: Annotated[
        Optional[Path], typer.Option(help="Model file (default: the live model, else the newest).")
    ] = None,
    endpoints: Annotated[Optional[Path], typer.Option(help="Endpoints file (default: the project's).")] = None,
    log_dir: Annotated[Optional[Path], typer.Option(help="Logs (default: var/log/switchboard).")] = None,
    web_port: Annotated[int, typer.Option(help="The web app (chat page, agent console); 0: do not start it.")] = 8000,
) -> None:
    """Like `crm serve`, with a switch in front of Rasa so `crm nlu publish` swaps models without a stall."""
    import asyncio
    from urllib.parse import urlsplit

    from analytics.store.uow import SqlAlchemyUnitOfWork
    from bot.ops.project import project_of
    from bot.ops.publish import live_model_file
    from bot.ops.registry import file_resolver
    from bot.ops.settings import admin_token, get_ops_settings
    from bot.ops.swap import Readiness, SwitchboardConfig, free_port, serve_switchboard
    from bot.serve import ServeError, newest_model

    project = project_of(ctx.obj)
    ops = get_ops_settings()
    try:
        token = _nlu_rasa_token()
        ops_token = admin_token(ops)
    except CRMError as exc:
        _fail(str(exc))
    if model is None:
        try:
            model = live_model_file(project, get_settings().database_url) or newest_model(project.root / "models")
        except ServeError as exc:
            _fail(str(exc))
    if not model.is_file():
        _fail(f"no model file at {model}: give --model an existing .tar.gz (see `crm nlu models`).")
    try:
        config = SwitchboardConfig(
            cwd=project.root, model=model.resolve(), endpoints=(endpoints or project.endpoints).resolve(),
            credentials=project.credentials, log_dir=(log_dir or project.var / "log" / "switchboard").resolve(),
            admin_token=ops_token,
            # swaps load registered models only, whose file still has its hash (bot/ops/registry.py)
            resolve_model=file_resolver(SqlAlchemyUnitOfWork.for_url(get_settings().database_url), project),
            port=rasa_port, api_port=api_port or free_port(),
            admin_port=admin_port or urlsplit(ops.admin_url).port or 5006, actions_port=actions_port or None,
            lock_store_url=ops.lock_store_url, drain_seconds=ops.drain_seconds,
            load_timeout=ops.load_timeout_seconds, load_niceness=ops.load_niceness,
            tracker_url=project.sql_tracker_or_none(endpoints), web_port=web_port or None, rasa_token=token,
        )  # fmt: skip
    except CRMError as exc:
        _fail(str(exc))

    token_source = "CRM_OPS_TOKEN" if ops.admin_token else str(Path(get_settings().var_dir) / "admin-token")

    def ready(readiness: Readiness) -> None:
        web = f"  web chat     : http://127.0.0.1:{web_port}/ (agent console: /console)\n" if web_port else ""
        console.print(
            f"\nThe assistant is up (model {model.name}).\n"
            f"{web}"
            f"  channels     : http://{config.host}:{rasa_port}/ (public port: /webhooks/..., /socket.io/ only), "
            f"e.g. POST /webhooks/rest/webhook\n"
            f"  Rasa HTTP API: http://127.0.0.1:{config.api_port}/status (loopback, for the back ends; JWT signed "
            "with var/rasa-token or CRM_RASA_TOKEN)\n"
            f"  swaps        : http://127.0.0.1:{config.admin_port}/status (loopback; `crm nlu publish`; "
            f"Authorization: Bearer <token in {token_source}>)\n"
            f"  logs         : {config.log_dir}\n"
            + "".join(f"  note         : {n}\n" for n in readiness.notes)
            + "".join(f"  [yellow]swaps refused[/]: {p}\n" for p in readiness.problems)
            + "Press Ctrl-C to stop.",
            highlight=False,
        )

    try:
        asyncio.run(serve_switchboard(config, on_ready=ready))
    except CRMError as exc:
        _fail(str(exc))


def _nlu_rasa_token() -> Optional[str]:
    """The token of Rasa's HTTP API, as `crm serve` uses it (bot/web/keys.py), if that module is there."""
    try:
        from bot.web.keys import rasa_token
    except ImportError:
        return None
    return rasa_token(get_settings()) or None


# -- end of crm nlu ------------------------------------------------------------------------------------------


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


# -- crm privacy: complete customers' export and deletion requests (analytics/account.py, bot/ops/erasure.py) --

privacy_app = typer.Typer(
    help="Customers' privacy requests: list them, export a customer's data, erase a customer everywhere.",
    no_args_is_help=True,
)
app.add_typer(privacy_app, name="privacy")
RequestIdArgument = Annotated[int, typer.Argument(help="The request's id, as `crm privacy list` shows it.")]
TrackerStoreOption = Annotated[
    Optional[str],
    typer.Option(help="SQLAlchemy URL of Rasa's SQL tracker store (default: CRM_TRACKER_STORE_URL or endpoints.yml)."),
]
ProjectOption = Annotated[
    Optional[Path], typer.Option(help="The Rasa project folder (default: this repository).", hidden=True)
]


def _privacy_tracker(project_root: Optional[Path], explicit: Optional[str]):  # type: ignore[no-untyped-def]
    """The tracker store's URL (without its password, to print) and an engine on it, or ``None`` when
    the store holds no conversation yet."""
    from analytics.settings import PROJECT_ROOT
    from bot.ops.erasure import open_tracker, tracker_url
    from bot.ops.project import Project
    from bot.ops.settings import get_ops_settings

    project = Project((project_root or PROJECT_ROOT).resolve())
    try:
        url = tracker_url(project, explicit or get_ops_settings().tracker_store_url)
        return project, url.render_as_string(hide_password=True), open_tracker(url)
    except CRMError as exc:
        _fail(str(exc))
    except SQLAlchemyError as exc:
        _fail(f"cannot read the tracker store: {exc.__class__.__name__}: {getattr(exc, 'orig', None) or exc}")


@privacy_app.command("list")
def privacy_list() -> None:
    """The privacy requests waiting for an operator, oldest first."""
    from analytics.account import open_privacy_requests

    try:
        requests = open_privacy_requests(_uow(get_settings()))
    except CRMError as exc:
        _fail(str(exc))
    if not requests:
        console.print("no open privacy requests")
        return
    table = Table(title=f"{len(requests)} open privacy request(s)")
    for column in ("id", "kind", "customer", "name", "e-mail", "channel", "requested (UTC)"):
        table.add_column(column, justify="right" if column in ("id", "customer") else "left")
    for r in requests:
        table.add_row(
            str(r.id), r.kind, str(r.customer_id), r.customer_name, r.masked_email, r.channel or "",
            f"{r.requested_at:%Y-%m-%d %H:%M}",
        )  # fmt: skip
    console.print(table)
    console.print("complete one with `crm privacy export <id>` or `crm privacy delete <id>`")


@privacy_app.command("export")
def privacy_export(
    request_id: RequestIdArgument,
    out: Annotated[
        Optional[Path], typer.Option(help="The JSON file to write (default: var/exports/privacy-request-<id>.json).")
    ] = None,
    tracker_store: TrackerStoreOption = None,
    project: ProjectOption = None,
) -> None:
    """Complete an export request: everything held about the customer in one JSON file (mode 0600)."""
    from analytics.tokens import token_secret
    from bot.ops.erasure import export_customer

    settings = get_settings()
    uow = _uow(settings)
    _, where, tracker = _privacy_tracker(project, tracker_store)
    target = out or Path(settings.exports_dir) / f"privacy-request-{request_id}.json"
    try:
        result = export_customer(uow, request_id, tracker=tracker, out=target, token_secret=token_secret(settings))
    except CRMError as exc:
        _fail(str(exc))
    except SQLAlchemyError as exc:
        _fail(f"cannot read the tracker store {where}: {exc.__class__.__name__}; nothing was exported")
    rows = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in result.rows.items())
    console.print(f"wrote {result.path} (readable by its owner only): {rows}", highlight=False)
    console.print(
        f"tracker store {where}: {result.tracker_events} event(s) of {result.conversations} conversation(s)"
        + ("" if tracker is not None else " (it holds no conversations yet)"),
        highlight=False,
    )
    done = "was already completed" if result.request.existing else "completed"
    console.print(f"privacy request {request_id} (export, customer {result.request.customer_id}) {done}")


@privacy_app.command("delete")
def privacy_delete(
    request_id: RequestIdArgument,
    tracker_store: TrackerStoreOption = None,
    project: ProjectOption = None,
) -> None:
    """Complete a deletion request: erase the customer from the store, the tracker store, the training
    data, triage files and logs (old logs are deleted)."""
    from analytics.tokens import token_secret
    from bot.ops.erasure import delete_customer

    settings = get_settings()
    uow = _uow(settings)
    the_project, where, tracker = _privacy_tracker(project, tracker_store)
    var = Path(settings.var_dir)
    try:
        result = delete_customer(
            uow,
            request_id,
            tracker=tracker,
            project=the_project,
            token_secret=token_secret(settings),
            triage_dir=var / "nlu",
            log_dir=var / "log",
            log_retention_days=settings.log_retention_days,
        )
    except CRMError as exc:
        _fail(str(exc))
    except SQLAlchemyError as exc:
        _fail(
            f"{exc.__class__.__name__} while erasing (tracker store {where}); the request is still open and the "
            "store unchanged: fix the cause and run the command again."
        )
    customer = result.request.customer_id
    if result.already_completed:
        done = "was already completed: nothing to do"
        console.print(f"privacy request {request_id} (deletion, customer {customer}) {done}")
        return
    report = result.store
    assert report is not None
    why = sorted({reason for reasons in result.conversations.values() for reason in reasons})
    console.print(
        f"tracker store {where}: {len(result.conversations)} conversation(s) of the customer "
        f"({', '.join(why) or 'none'}), {result.tracker_events_deleted} event(s) deleted",
        highlight=False,
    )
    console.print(
        f"store: {report.orders_detached} order(s) and {report.returns_detached} return(s) kept without the "
        f"customer; {report.events_deleted} behaviour event(s), {report.scores_deleted} score row(s) and "
        f"{report.offers_deleted} offer assignment(s) deleted; {len(report.conversations_unlinked)} conversation(s) "
        f"unlinked; {report.requests_rejected} other request(s) closed; {report.identities_remembered} "
        "identifier hash(es) kept so an import does not bring the customer back",
        highlight=False,
    )
    console.print(
        f"training data: {result.training_examples_removed} example(s) removed from "
        f"{the_project.relative(the_project.from_conversations)}",
        highlight=False,
    )
    triage = ", ".join(f"{n} from {path}" for path, n in result.triage_examples_removed.items()) or "none"
    console.print(f"triage files: example(s) removed: {triage}", highlight=False)
    logs = result.logs
    console.print(
        f"logs under {var / 'log'}: {len(logs.deleted)} file(s) older than {settings.log_retention_days:g} days "
        f"deleted, {logs.lines_blanked} line(s) naming the customer blanked in {len(logs.files_changed)} file(s)",
        highlight=False,
    )
    console.print(f"privacy request {request_id} (deletion, customer {customer}) completed")


# -- end of crm privacy --------------------------------------------------------------------------------------


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
