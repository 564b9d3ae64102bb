"""``crm order``: one order as the assistant sees it."""

from __future__ import annotations

from analytics.core.errors import CRMError
from analytics.core.settings import get_settings
from bot.cli.common import console, fail, open_uow


def order(number: str) -> None:
    """Show an order's status as the assistant would."""
    from analytics.usecases.orders import order_status

    try:
        view = order_status(open_uow(get_settings()), number)
    except CRMError as exc:
        fail(str(exc))
    for key, value in view.__dict__.items():
        console.print(f"{key:>20}: {value}")
