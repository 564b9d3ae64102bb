"""What every use case of a customer shares: the live-customer check, refusals, money and limits.

A customer erased by a privacy request stays in the store as a tombstone
(:data:`ERASED_DOMAIN`); :func:`live_customer` treats it as unknown, so no use
case serves it again.
"""

from __future__ import annotations

from decimal import Decimal

from analytics.core.errors import (
    CustomerNotFound,
    InvalidInput,
    NotAllowed,
)
from analytics.store.models import (
    Customer,
)
from analytics.store.uow import SqlAlchemyUnitOfWork

#: Erased customers get an address on this reserved domain (RFC 2606): it can never
#: be a real address, so an erased customer can never be verified again.
ERASED_DOMAIN = "erased.invalid"
MAX_LIMIT = 50


class RequestRefused(NotAllowed):
    """A request the shop's rules refuse, with a stable ``code`` an action can map to a response.

    Codes: ``already_cancelled``, ``already_shipped`` (cancel or change the address
    of a shipped or delivered order), ``not_shipped`` (return an order that has not
    left yet), ``in_transit`` (return an order that has not arrived), ``cancelled``
    (return or re-address a cancelled order), ``return_window_closed``,
    ``already_returned``, ``changed_meanwhile`` (another request changed the order
    while this one ran; asking again gives the right answer), ``request_rejected``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def is_erased(customer: Customer) -> bool:
    return customer.email.endswith("@" + ERASED_DOMAIN)


def live_customer(uow: SqlAlchemyUnitOfWork, customer_id: int, *, for_update: bool = False) -> Customer:
    """Inside ``with uow``: the customer, or :class:`CustomerNotFound` for an unknown or erased one."""
    customer = uow.customers.get_for_update(customer_id) if for_update else uow.customers.get(customer_id)
    if customer is None or is_erased(customer):
        raise CustomerNotFound(customer_id)
    return customer


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}, got {limit}.")


def money(value: Decimal) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def clean_text(value: str, what: str, max_length: int) -> str:
    """``value`` with its spaces collapsed; :class:`InvalidInput` when empty or longer than ``max_length``."""
    cleaned = " ".join(str(value).split())
    if not cleaned:
        raise InvalidInput(f"The {what} is empty; say it in a few words.")
    if len(cleaned) > max_length:
        raise InvalidInput(f"The {what} is {len(cleaned)} characters long; keep it under {max_length}.")
    return cleaned
