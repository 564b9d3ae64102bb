"""Who the customer is: verifying them in a conversation and linking conversations to them.

A conversation is linked to a customer either by the channel (an authenticated
session passes the customer id to :func:`link_conversation`) or by
:func:`verify_identity`: the e-mail address and an order number must belong to
the same customer. A mismatch raises
:class:`~analytics.core.errors.IdentityNotVerified`, whatever part was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from analytics.core.clock import utc_now
from analytics.core.errors import (
    IdentityNotVerified,
    InvalidInput,
)
from analytics.core.text import normalise_email, normalise_order_number
from analytics.security.masking import mask_email
from analytics.security.throttle import Throttle
from analytics.store.models import (
    Customer,
)
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases.common import (
    is_erased,
    live_customer,
)


@dataclass(frozen=True)
class CustomerView:
    id: int
    name: str
    masked_email: str
    country: Optional[str]


@dataclass(frozen=True)
class ConversationLink:
    sender_id: str
    customer_id: Optional[int]
    channel: str
    started_at: datetime
    last_event_at: Optional[datetime]


def customer_view(customer: Customer) -> CustomerView:
    return CustomerView(
        id=customer.id,
        name=customer.name,
        masked_email=mask_email(customer.email),
        country=customer.country,
    )


def verify_identity(
    uow: SqlAlchemyUnitOfWork,
    email: str,
    order_number: str,
    *,
    attempts: Optional[Throttle] = None,
    conversation: Optional[str] = None,
    client: Optional[str] = None,
) -> CustomerView:
    """The customer whose e-mail address is ``email`` and who placed order ``order_number``.

    Parameters
    ----------
    uow : SqlAlchemyUnitOfWork
    email : str
        Compared case-insensitively, surrounding spaces ignored.
    order_number : str
        Normalised like :func:`analytics.core.text.normalise_order_number` (``#536365`` works).
    attempts : Throttle, optional
        Counts failures per conversation, e-mail address, customer (the owner of the
        order number tried) and client address, and refuses the check once any of
        them has had too many (:func:`analytics.security.throttle.identity_throttle`).
    conversation, client : str, optional
        The conversation and the client's network address, as keys of ``attempts``.

    Returns
    -------
    CustomerView
        With the e-mail address masked.

    Raises
    ------
    IdentityNotVerified
        No customer has this address, or the order is not theirs (or does not
        exist): the error does not say which.
    TooManyAttempts
        ``attempts`` refuses: too many failures under one of the keys (checked
        before the store is asked, so a locked-out attacker learns nothing).
    InvalidInput
        ``email`` cannot be an e-mail address or ``order_number`` an order number
        (a typing slip, not a failed verification).
    """
    wanted_email = normalise_email(email)
    number = normalise_order_number(order_number)
    with uow:
        tried_order = uow.orders.by_number(number)
        keys = {
            "conversation": conversation,
            "email": wanted_email,
            "customer": str(tried_order.customer_id) if tried_order is not None else None,
            "client": client,
        }
        if attempts is not None:
            attempts.check(keys)
        customer = uow.customers.by_email(wanted_email)
        if customer is None or is_erased(customer) or tried_order is None or tried_order.customer_id != customer.id:
            if attempts is not None:
                attempts.record(keys)
            raise IdentityNotVerified()
        return customer_view(customer)


def link_conversation(
    uow: SqlAlchemyUnitOfWork,
    sender_id: str,
    customer_id: Optional[int],
    channel: str,
    now: Optional[datetime] = None,
) -> ConversationLink:
    """Record who conversation ``sender_id`` is with, so agents and operators can see it.

    Creates the ``conversations`` row on first contact and updates it after; the
    latest link wins (a shared device verified by someone else moves to them).
    ``customer_id=None`` records an anonymous conversation, or forgets the link.

    Raises
    ------
    CustomerNotFound
        ``customer_id`` is not a customer (or was erased).
    InvalidInput
        ``sender_id`` or ``channel`` is empty or too long (128 / 32 characters).
    """
    sender = str(sender_id).strip()
    if not sender or len(sender) > 128:
        raise InvalidInput(f"sender_id must be 1 to 128 characters, got {sender_id!r}.")
    channel = str(channel).strip()
    if not channel or len(channel) > 32:
        raise InvalidInput(f"channel must be 1 to 32 characters, got {channel!r}.")
    now = now or utc_now()
    with uow:
        if customer_id is not None:
            live_customer(uow, customer_id)
        row = uow.conversations.upsert(sender, customer_id, channel, now)
        link = ConversationLink(
            sender_id=row.sender_id,
            customer_id=row.customer_id,
            channel=row.channel,
            started_at=row.started_at,
            last_event_at=row.last_event_at,
        )
        uow.commit()
        return link


def customer_name(uow: SqlAlchemyUnitOfWork, customer_id: int) -> str:
    """The customer's name, to greet them; :class:`CustomerNotFound` for an unknown or erased customer."""
    with uow:
        return live_customer(uow, customer_id).name


def customer_of_conversation(uow: SqlAlchemyUnitOfWork, sender_id: str) -> Optional[int]:
    """The customer id conversation ``sender_id`` is linked to, or ``None`` (anonymous or unknown)."""
    with uow:
        row = uow.conversations.by_sender(str(sender_id).strip())
        return row.customer_id if row is not None else None
