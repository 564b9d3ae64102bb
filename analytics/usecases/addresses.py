"""Delivery addresses: what counts as one, and changing an order's address before it ships."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Optional

from analytics.core.errors import (
    InvalidInput,
)
from analytics.core.text import normalise_order_number
from analytics.store.models import (
    OrderStatus,
)
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases.common import (
    RequestRefused,
)
from analytics.usecases.orders import customer_order


@dataclass(frozen=True)
class AddressChangeView:
    number: str
    address: str
    status: str
    estimated_delivery: Optional[date]


def address_refusal(number: str, status: str) -> Optional[RequestRefused]:
    """Why an order's delivery address cannot change any more (``None``: it can)."""
    if status == OrderStatus.CANCELLED.value:
        return RequestRefused("cancelled", f"Order {number} is cancelled; there is nothing to deliver.")
    if status != OrderStatus.PROCESSING.value:
        left = "shipped" if status == OrderStatus.SHIPPED.value else "been delivered"
        return RequestRefused(
            "already_shipped", f"Order {number} has already {left}, so its address can no longer be changed."
        )
    return None


UK_POSTCODE = re.compile(r"\b(GIR ?0AA|[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][ABD-HJLNP-UW-Z]{2})\b", re.IGNORECASE)
#: Any other country's postcode: a token of 4 to 10 letters, digits or hyphens with
#: at least 4 digits (75008, 10115, 00-950, 1012, 100-0001), not first in the address.
GENERIC_POSTCODE = re.compile(r"^(?=(?:[^0-9]{0,9}[0-9]){4})[A-Z0-9-]{4,10}$", re.IGNORECASE)
ADDRESS_CHARACTERS = re.compile(r"^[\w\s,.'’/#&()-]{1,1000}$")
ADDRESS_LENGTH = (10, 200)
ADDRESS_MAX_PARTS = 8


def normalise_address(text: str) -> str:
    """A delivery address, checked and tidied, or :class:`InvalidInput` saying what is missing.

    Rules:

    - 10 to 200 characters (after collapsing spaces), at most 8 parts (lines or
      comma-separated parts), only letters, digits, spaces and ``, . ' / # & ( ) -``;
    - a postcode: a UK postcode (``SW1A 1AA``, ``M1 1AE``, ``GIR 0AA``; the space
      is optional) anywhere, or else a token of 4 to 10 letters, digits or hyphens
      with at least 4 digits that is not the first token (house numbers come first):
      ``75008``, ``10115``, ``00-950``, ``1012 AB``;
    - a street line: besides the postcode, at least two words of two or more
      letters (``10 Downing Street``, ``Rose Cottage``).

    Parts are joined with ``", "``; a UK postcode is upper-cased with one space.
    Countries whose postcodes fit neither pattern (e.g. Canada, Ireland's Eircodes
    with fewer than four digits) are refused and go to an agent.

    Examples
    --------
    >>> normalise_address("10 downing street\\nLondon  sw1a2aa")
    '10 downing street, London SW1A 2AA'
    """
    raw = str(text)
    parts = [" ".join(p.split()) for p in re.split(r"[\n,;]+", raw)]
    parts = [p for p in parts if p]
    joined = ", ".join(parts)
    if not joined:
        raise InvalidInput("The address is empty; give the street, town and postcode.")
    if not ADDRESS_LENGTH[0] <= len(joined) <= ADDRESS_LENGTH[1]:
        raise InvalidInput(
            f"An address has {ADDRESS_LENGTH[0]} to {ADDRESS_LENGTH[1]} characters; this one has {len(joined)}."
        )
    if len(parts) > ADDRESS_MAX_PARTS:
        raise InvalidInput(f"An address has at most {ADDRESS_MAX_PARTS} lines; this one has {len(parts)}.")
    if not ADDRESS_CHARACTERS.match(joined):
        raise InvalidInput("An address has only letters, digits, spaces and , . ' / # & ( ) -.")

    uk = list(UK_POSTCODE.finditer(joined))
    if uk:
        found = uk[-1]
        code = found.group(0).replace(" ", "").upper()
        postcode = f"{code[:-3]} {code[-3:]}"
        rest = joined[: found.start()] + joined[found.end() :]
        joined = joined[: found.start()] + postcode + joined[found.end() :]
    else:
        tokens = [t.strip(",.") for t in joined.split()]
        generic = [i for i, t in enumerate(tokens) if i > 0 and GENERIC_POSTCODE.match(t)]
        if not generic:
            raise InvalidInput("The address needs a postcode (for example SW1A 1AA or 75008).")
        rest = " ".join(t for i, t in enumerate(tokens) if i != generic[-1])
    if len(joined) > ADDRESS_LENGTH[1]:  # the space put into a UK postcode made it one too long
        raise InvalidInput(
            f"An address has {ADDRESS_LENGTH[0]} to {ADDRESS_LENGTH[1]} characters; this one has {len(joined)}."
        )
    if len(re.findall(r"[^\W\d_]{2,}", rest)) < 2:
        raise InvalidInput("The address needs a street line, for example '10 Downing Street'.")
    return joined


def change_address(
    uow: SqlAlchemyUnitOfWork, customer_id: int, number: str, address: str, now: Optional[datetime] = None
) -> AddressChangeView:
    """Deliver an order that has not shipped yet to ``address`` (checked by :func:`normalise_address`).

    ``now`` is accepted like every order request's, but nothing here depends on
    the clock: the order's status alone decides (the store keeps no time of change).

    Raises
    ------
    InvalidInput
        The address breaks a rule of :func:`normalise_address` (the message says
        which), or ``number`` cannot be an order number.
    RequestRefused (a NotAllowed)
        ``already_shipped`` once the order has left (the carrier has the parcel),
        ``cancelled`` for a cancelled order.
    OrderNotFound
        No such order of this customer.
    """
    wanted = normalise_order_number(number)
    clean = normalise_address(address)
    with uow:
        uow.begin_write()
        order = customer_order(uow, customer_id, wanted, for_update=True)
        refused = address_refusal(order.number, order.status.value)
        if refused is not None:
            raise refused
        order.delivery_address = clean
        view = AddressChangeView(
            number=order.number, address=clean, status=order.status.value, estimated_delivery=order.estimated_delivery
        )
        uow.commit()
        return view
