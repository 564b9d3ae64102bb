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
app.add_typer(sample_app, name="sample")

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
    """Migrate the store and, if it holds no orders, load the data the demo needs."""
    from analytics.store.db import make_engine
    from analytics.store.migrate import upgrade

    settings = get_settings()
    upgrade(make_engine(settings.database_url))
    uow = _uow(settings)
    with uow:
        orders = uow.orders.count()
    if orders:
        console.print(f"store already holds {orders:,} orders: nothing to seed")
        return
    path = settings.full_dataset_path if full else settings.sample_path
    try:
        run_import(settings, path, shift_to_now=True)
    except CRMError as exc:
        _fail(str(exc))


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
