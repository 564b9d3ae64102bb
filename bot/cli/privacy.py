"""``crm privacy``: complete customers' export and deletion requests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from analytics.core.errors import CRMError
from analytics.core.settings import PROJECT_ROOT, get_settings
from bot.cli.common import console, fail, open_uow
from bot.ops.project import Project
from bot.ops.tracker import TrackerStoreError

app = typer.Typer(
    help="Customers' privacy requests: list them, export a customer's data, erase a customer everywhere.",
    no_args_is_help=True,
)
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
    from bot.ops.erasure import open_tracker, tracker_url

    project = Project((project_root or PROJECT_ROOT).resolve())
    try:
        url = tracker_url(project, explicit or get_settings().ops.tracker_store_url)
        return project, url.render_as_string(hide_password=True), open_tracker(url)
    except CRMError as exc:
        fail(str(exc))


@app.command("list")
def privacy_list() -> None:
    """The privacy requests waiting for an operator, oldest first."""
    from analytics.usecases.privacy import open_privacy_requests

    try:
        requests = open_privacy_requests(open_uow(get_settings()))
    except CRMError as exc:
        fail(str(exc))
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


@app.command("export")
def privacy_export(
    request_id: RequestIdArgument,
    out: Annotated[
        Optional[Path], typer.Option(help="The JSON file to write (default: var/exports/privacy-request-<id>.json).")
    ] = None,
    tracker_store: TrackerStoreOption = None,
    project: ProjectOption = None,
) -> None:
    """Complete an export request: everything held about the customer in one JSON file (mode 0600)."""
    from analytics.security.tokens import token_secret
    from bot.ops.erasure import export_customer

    settings = get_settings()
    uow = open_uow(settings)
    _, where, tracker = _privacy_tracker(project, tracker_store)
    target = out or Path(settings.exports_dir) / f"privacy-request-{request_id}.json"
    try:
        result = export_customer(uow, request_id, tracker=tracker, out=target, token_secret=token_secret(settings))
    except TrackerStoreError as exc:
        fail(f"cannot read the tracker store {where}: {exc.kind}; nothing was exported")
    except CRMError as exc:
        fail(str(exc))
    rows = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in result.rows.items())
    console.print(f"wrote {result.path} (readable by its owner only): {rows}", highlight=False)
    console.print(
        f"tracker store {where}: {result.tracker_events} event(s) of {result.conversations} conversation(s)"
        + ("" if tracker is not None else " (it holds no conversations yet)"),
        highlight=False,
    )
    done = "was already completed" if result.request.existing else "completed"
    console.print(f"privacy request {request_id} (export, customer {result.request.customer_id}) {done}")


@app.command("delete")
def privacy_delete(
    request_id: RequestIdArgument,
    tracker_store: TrackerStoreOption = None,
    project: ProjectOption = None,
) -> None:
    """Complete a deletion request: erase the customer from the store, the tracker store, the training
    data, triage files and logs (old logs are deleted)."""
    from analytics.security.tokens import token_secret
    from bot.ops.erasure import delete_customer

    settings = get_settings()
    uow = open_uow(settings)
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
    except TrackerStoreError as exc:
        fail(
            f"{exc.kind} while erasing (tracker store {where}); the request is still open and the "
            "store unchanged: fix the cause and run the command again."
        )
    except CRMError as exc:
        fail(str(exc))
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
