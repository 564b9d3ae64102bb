"""What every ``crm`` command shares: the two consoles, the one-line failure, the store."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console

from analytics.core.settings import Settings

if TYPE_CHECKING:
    from analytics.store.uow import SqlAlchemyUnitOfWork

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code=2)


def open_uow(settings: Settings) -> SqlAlchemyUnitOfWork:
    """A unit of work on the configured store; fails clearly if it cannot be reached or has no schema."""
    from analytics.store.bootstrap import open_store
    from analytics.usecases.operations import StoreNotReady, checked_store

    try:
        return checked_store(open_store(settings, batch=True)).unit_of_work()
    except StoreNotReady as exc:
        fail(str(exc))
