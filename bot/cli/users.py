"""``crm users``: staff accounts of the agent console."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from analytics.core.errors import CRMError
from analytics.core.settings import get_settings
from bot.cli.common import console, fail, open_uow

app = typer.Typer(help="Staff accounts of the agent console.", no_args_is_help=True)


@app.command("add")
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
    from analytics.usecases.staff import create_user

    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(open_uow(get_settings()), username, password, role=role, display_name=display_name)
    except CRMError as exc:
        fail(str(exc))
    console.print(f"created {user.role} {user.username!r}")


@app.command("list")
def users_list() -> None:
    """List the console's accounts."""
    from analytics.usecases.staff import list_users

    table = Table(title="Agent console accounts")
    for column in ("user", "role", "active", "created"):
        table.add_column(column)
    for user in list_users(open_uow(get_settings())):
        table.add_row(user.username, user.role, "yes" if user.active else "no", f"{user.created_at:%Y-%m-%d %H:%M}")
    console.print(table)


@app.command("disable")
def users_disable(username: str) -> None:
    """Disable an account: it cannot log in, and its open sessions stop working."""
    from analytics.usecases.staff import set_active

    try:
        set_active(open_uow(get_settings()), username, False)
    except CRMError as exc:
        fail(str(exc))
    console.print(f"disabled {username!r}")


@app.command("enable")
def users_enable(username: str) -> None:
    """Enable a disabled account again."""
    from analytics.usecases.staff import set_active

    try:
        set_active(open_uow(get_settings()), username, True)
    except CRMError as exc:
        fail(str(exc))
    console.print(f"enabled {username!r}")


@app.command("rename")
def users_rename(
    username: str,
    display_name: Annotated[str, typer.Argument(help="The name customers see; '' for none ('Our team').")],
) -> None:
    """Set the name customers see for an account (never its login name)."""
    from analytics.usecases.staff import set_display_name

    try:
        set_display_name(open_uow(get_settings()), username, display_name)
    except CRMError as exc:
        fail(str(exc))
    console.print(f"customers now see {username!r} as {display_name or 'Our team'!r}")


@app.command("passwd")
def users_passwd(username: str) -> None:
    """Set a new password (asked for twice without echo)."""
    from analytics.usecases.staff import set_password

    password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    try:
        set_password(open_uow(get_settings()), username, password)
    except CRMError as exc:
        fail(str(exc))
    console.print(f"password of {username!r} changed")


@app.command("demo")
def users_demo() -> None:
    """Create the demo accounts (alice, agent; olivia, operator) if missing. Their passwords are in the README.

    Only with the demo flag (``CRM_DEMO=1``, which ``make run`` sets); never in production."""
    from analytics.usecases.staff import ensure_demo_users

    settings = get_settings()
    if not settings.demo:
        fail("the demo accounts have published passwords: they are created only for the local demo (CRM_DEMO=1).")
    created = ensure_demo_users(open_uow(settings))
    if created:
        console.print("created demo accounts: " + ", ".join(f"{u.username} ({u.role})" for u in created))
    else:
        console.print("the demo accounts exist already")
