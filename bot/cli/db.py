"""``crm db``: the customer store's schema."""

from __future__ import annotations

import typer

from analytics.core.settings import get_settings
from bot.cli.common import console, fail

app = typer.Typer(help="The customer store's schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create the store or migrate it to the newest schema."""
    from analytics.store.bootstrap import store_for_url

    store = store_for_url(get_settings().database_url)
    try:
        store.upgrade(revision)
    except Exception as exc:  # the migration tool's own errors are already clear
        fail(f"could not migrate {store.where()}: {exc}")
    console.print(f"store at {store.where()} is at revision {revision}")
