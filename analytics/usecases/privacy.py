"""Privacy use cases: what the shop holds about a customer, export and erasure requests.

:func:`data_summary` says what the shop holds; :func:`request_deletion` /
:func:`request_export` record a request (one open request of each kind per
customer); :func:`complete_deletion` is the operator's step that erases the
customer (see its docstring for exactly what is kept).

Why one long module: one subject, a customer's data-protection requests from asking to done
(summary, request, export, erasure), which share the request records and their checks.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, Optional

from analytics.core.clock import utc_now
from analytics.core.errors import (
    CustomerNotFound,
    InvalidInput,
    NotFound,
)
from analytics.security.masking import mask_email
from analytics.store.models import (
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestStatus,
)
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases.common import (
    ERASED_DOMAIN,
    RequestRefused,
    clean_text,
    is_erased,
    live_customer,
)


@dataclass(frozen=True)
class DataSummary:
    customer_id: int
    name: str
    masked_email: str
    country: Optional[str]
    customer_since: datetime
    consent_marketing: bool
    consent_profiling: bool
    orders: int
    returns: int
    events: int
    conversations: int
    offers: int
    privacy_requests: int
    first_order_at: Optional[datetime]
    last_order_at: Optional[datetime]
    scored: bool
    segment: Optional[str]
    tier: Optional[str]
    has_clv: bool
    scores_as_of: Optional[datetime]
    open_requests: tuple[str, ...]
    """Kinds of the customer's privacy requests still waiting for an operator."""

    def lines(self) -> list[str]:
        """The summary in short sentences, one per kind of data, for a chat answer."""

        def count(n: int, one: str, many: str) -> str:
            return f"{n} {one if n == 1 else many}"

        where = f", {self.country}" if self.country else ""
        orders = count(self.orders, "order", "orders")
        if self.first_order_at is not None and self.last_order_at is not None:
            orders += f" ({self.first_order_at:%d %b %Y} to {self.last_order_at:%d %b %Y})"
        consents = (
            f"marketing e-mails {'yes' if self.consent_marketing else 'no'}, "
            f"personalised analytics {'yes' if self.consent_profiling else 'no'}"
        )
        derived = "none yet"
        if self.scored:
            derived = f"segment {self.segment}, loyalty tier {self.tier}"
            if self.has_clv:
                derived += ", an estimate of your future spend"
        lines = [
            f"Profile: {self.name}, {self.masked_email}{where}, customer since {self.customer_since:%B %Y}",
            f"Consents: {consents}",
            f"Orders: {orders}; returns and cancellations: {self.returns}",
            f"Activity: {count(self.events, 'product view or rating', 'product views and ratings')}, "
            f"{count(self.conversations, 'conversation', 'conversations')} with us, "
            f"{count(self.offers, 'offer', 'offers')} made to you",
            f"Derived from your orders: {derived}",
        ]
        if self.open_requests:
            lines.append("Open privacy requests: " + ", ".join(self.open_requests))
        return lines


@dataclass(frozen=True)
class PrivacyRequestView:
    id: int
    customer_id: int
    kind: str
    status: str
    channel: Optional[str]
    requested_at: datetime
    completed_at: Optional[datetime]
    existing: bool
    """True when the call found this request rather than creating or completing it."""


@dataclass(frozen=True)
class ErasureReport:
    request: PrivacyRequestView
    orders_detached: int
    returns_detached: int
    events_deleted: int
    scores_deleted: int
    offers_deleted: int
    requests_rejected: int
    conversations_unlinked: tuple[str, ...]
    """Sender ids of the unlinked conversations: purge their transcripts from the Rasa tracker store too."""
    identities_remembered: int = 0
    """Tombstones written: keyed hashes of the source customer number and e-mail address, so an import
    of the source data does not bring the customer back."""


@dataclass(frozen=True)
class OpenPrivacyRequest:
    """A privacy request waiting for an operator, as `crm privacy list` shows it."""

    id: int
    kind: str
    customer_id: int
    customer_name: str
    masked_email: str
    channel: Optional[str]
    requested_at: datetime


@dataclass(frozen=True)
class PrivacySubject:
    """Who a privacy request is about, with what identifies them outside the store (the tracker store's
    conversations, operators' files, logs). Read before the request is completed."""

    request: PrivacyRequestView
    customer_id: int
    external_ref: Optional[str]
    name: str
    email: str
    order_numbers: tuple[str, ...]
    """Numbers of their orders, returns and cancellations."""
    senders: tuple[str, ...]
    """Sender ids of the conversations the store links to them."""


def data_summary(uow: SqlAlchemyUnitOfWork, customer_id: int) -> DataSummary:
    """What the shop holds about a customer, for "what data do you have about me?".

    The profile (name, masked e-mail address, country, consents), how many
    orders, returns, behaviour events, conversations, offer assignments and
    privacy requests the store has, the date range of the orders and whether
    derived data (RFM segment, loyalty tier, lifetime value) exists.

    Raises :class:`CustomerNotFound` for an unknown or erased customer.
    """
    with uow:
        customer, score = uow.scores.with_customer(customer_id)
        if customer is None or is_erased(customer):
            raise CustomerNotFound(customer_id)
        counts = uow.customers.footprint(customer_id)
        open_kinds = sorted({r.kind.value for r in uow.privacy.all_open_for(customer_id)})
        return DataSummary(
            customer_id=customer.id,
            name=customer.name,
            masked_email=mask_email(customer.email),
            country=customer.country,
            customer_since=customer.created_at,
            consent_marketing=customer.consent_marketing,
            consent_profiling=customer.consent_profiling,
            orders=counts.orders,
            returns=counts.returns,
            events=counts.events,
            conversations=counts.conversations,
            offers=counts.offers,
            privacy_requests=counts.privacy_requests,
            first_order_at=counts.first_order_at,
            last_order_at=counts.last_order_at,
            scored=score is not None,
            segment=score.rfm_segment if score is not None else None,
            tier=score.tier if score is not None else None,
            has_clv=score is not None and score.clv_12m is not None,
            scores_as_of=score.as_of if score is not None else None,
            open_requests=tuple(open_kinds),
        )


def _request_view(request: PrivacyRequest, *, existing: bool) -> PrivacyRequestView:
    return PrivacyRequestView(
        id=request.id,
        customer_id=request.customer_id,
        kind=request.kind.value,
        status=request.status.value,
        channel=request.channel,
        requested_at=request.requested_at,
        completed_at=request.completed_at,
        existing=existing,
    )


def _open_request(
    uow: SqlAlchemyUnitOfWork,
    customer_id: int,
    kind: PrivacyRequestKind,
    channel: Optional[str],
    now: Optional[datetime],
) -> PrivacyRequestView:
    channel = (channel or "").strip() or None
    if channel is not None and len(channel) > 32:
        raise InvalidInput(f"channel must be at most 32 characters, got {channel!r}.")
    now = now or utc_now()
    with uow:
        # The customer row lock (PostgreSQL) or the write lock (SQLite) makes two requests at once create one.
        uow.begin_write()
        live_customer(uow, customer_id, for_update=True)
        found = uow.privacy.open_for(customer_id, kind)
        if found is not None:
            return _request_view(found, existing=True)
        request = uow.privacy.add(
            PrivacyRequest(
                customer_id=customer_id,
                kind=kind,
                status=PrivacyRequestStatus.REQUESTED,
                channel=channel,
                requested_at=now,
            )
        )
        view = _request_view(request, existing=False)
        uow.commit()
        return view


def request_deletion(
    uow: SqlAlchemyUnitOfWork, customer_id: int, channel: Optional[str] = None, now: Optional[datetime] = None
) -> PrivacyRequestView:
    """Record a verified customer's request to erase their data, for an operator to complete.

    Returns the new request, or the one already open (``existing=True``): asking
    twice does not queue two. Raises :class:`CustomerNotFound` for an unknown
    or erased customer.
    """
    return _open_request(uow, customer_id, PrivacyRequestKind.DELETION, channel, now)


def request_export(
    uow: SqlAlchemyUnitOfWork, customer_id: int, channel: Optional[str] = None, now: Optional[datetime] = None
) -> PrivacyRequestView:
    """Record a verified customer's request for a copy of their data; like :func:`request_deletion`."""
    return _open_request(uow, customer_id, PrivacyRequestKind.EXPORT, channel, now)


def complete_deletion(
    uow: SqlAlchemyUnitOfWork,
    request_id: int,
    now: Optional[datetime] = None,
    *,
    also_senders: Sequence[str] = (),
) -> ErasureReport:
    """Erase the customer of deletion request ``request_id`` (the operator's step), in one transaction.

    ``also_senders``: sender ids of more conversations with the customer that the
    store does not link to them (found in the tracker store by their e-mail
    address, order numbers or signed tokens); their rows are unlinked too.
    ``crm privacy delete`` (:mod:`bot.ops.erasure`) purges the conversations
    themselves, the training data and logs, then calls this.

    What happens:

    - the customer row stays as a tombstone (the request refers to it): name
      ``Erased customer <id>``, e-mail ``erased-<id>@erased.invalid`` (it can
      never verify again), no country, no source customer number, both
      consents off;
    - orders are kept for the accounts as guest orders: unlinked from the
      customer, delivery address and tracking number cleared (lines, amounts,
      dates, status, carrier and the shipping country stay); the next
      analytics refresh no longer sees them as this customer's;
    - returns are kept likewise, unlinked, without the customer's free-text reasons;
    - behaviour events, analytics scores and offer assignments are deleted;
    - conversations are unlinked from the customer, their sender ids (which a
      channel may derive from the customer) replaced by ``erased-<row id>`` and
      the agents' notes on their handoffs cleared; the report lists the old
      sender ids so the chat transcripts can be purged from the Rasa tracker
      store as well;
    - the customer's other open privacy requests are rejected (nothing left to
      export) and this one is marked completed;
    - a tombstone keeps keyed hashes (HMAC-SHA256, the installation's index
      key) of the source customer number and the e-mail address, never the
      values, so re-importing the source file skips the customer.

    Completing a completed request changes nothing and returns it with
    ``existing=True`` and zero counts.

    Raises
    ------
    NotFound
        No privacy request ``request_id``.
    InvalidInput
        The request is not a deletion request.
    RequestRefused (a NotAllowed)
        ``request_rejected``: an operator rejected the request.
    """
    now = now or utc_now()
    with uow:
        uow.begin_write()
        request = _request_of_kind(uow, request_id, PrivacyRequestKind.DELETION, for_update=True)
        if request.status is PrivacyRequestStatus.COMPLETED:
            return ErasureReport(_request_view(request, existing=True), 0, 0, 0, 0, 0, 0, ())
        customer_id = request.customer_id
        customer = uow.customers.get_for_update(customer_id)
        assert customer is not None  # the request's foreign key cascades deletes
        conversations = {c.id: c for c in uow.conversations.of_customer(customer_id)}
        conversations.update((c.id, c) for c in uow.conversations.by_senders(also_senders))
        senders = tuple(c.sender_id for c in sorted(conversations.values(), key=lambda c: c.id))
        uow.conversations.unlink_customer(sorted(conversations))
        orders = uow.orders.detach_customer(customer_id)
        returns = uow.returns.detach_customer(customer_id)
        events = uow.events.delete_for(customer_id)
        scores = uow.scores.delete(customer_id)
        offers = uow.offers.delete_assignments_of(customer_id)
        rejected = 0
        for other in uow.privacy.all_open_for(customer_id):
            if other.id != request.id:
                other.status = PrivacyRequestStatus.REJECTED
                other.completed_at = now
                other.note = f"The customer's data was erased by request {request.id}."
                rejected += 1
        remembered = 0
        if customer.external_ref:
            remembered += uow.erased.remember("external_ref", customer.external_ref, now)
        if not is_erased(customer):
            remembered += uow.erased.remember("email", customer.email, now)
        customer.name = f"Erased customer {customer_id}"
        customer.email = f"erased-{customer_id}@{ERASED_DOMAIN}"
        customer.country = None
        customer.external_ref = None
        customer.consent_marketing = False
        customer.consent_profiling = False
        request.status = PrivacyRequestStatus.COMPLETED
        request.completed_at = now
        report = ErasureReport(
            request=_request_view(request, existing=False),
            orders_detached=orders,
            returns_detached=returns,
            events_deleted=events,
            scores_deleted=scores,
            offers_deleted=offers,
            requests_rejected=rejected,
            conversations_unlinked=senders,
            identities_remembered=remembered,
        )
        uow.commit()
        return report


def open_privacy_requests(uow: SqlAlchemyUnitOfWork) -> list[OpenPrivacyRequest]:
    """Every privacy request waiting for an operator, oldest first (e-mail addresses masked)."""
    with uow:
        found = []
        for request in uow.privacy.all_open():
            customer = uow.customers.get(request.customer_id)
            assert customer is not None  # the request's foreign key cascades deletes
            found.append(
                OpenPrivacyRequest(
                    id=request.id,
                    kind=request.kind.value,
                    customer_id=customer.id,
                    customer_name=customer.name,
                    masked_email=mask_email(customer.email),
                    channel=request.channel,
                    requested_at=request.requested_at,
                )
            )
        return found


def _request_of_kind(
    uow: SqlAlchemyUnitOfWork, request_id: int, kind: PrivacyRequestKind, *, for_update: bool = False
) -> PrivacyRequest:
    """Request ``request_id``, checked to be of ``kind`` and not rejected (``for_update``: its row locked)."""
    request = uow.privacy.get_for_update(request_id) if for_update else uow.privacy.get(request_id)
    if request is None:
        raise NotFound(f"No privacy request {request_id} is in the store; `crm privacy list` shows the open ones.")
    if request.kind is not kind:
        article = "an" if kind is PrivacyRequestKind.EXPORT else "a"
        raise InvalidInput(
            f"Privacy request {request_id} is a {request.kind.value} request, not {article} {kind.value} request; "
            f"use `crm privacy {'delete' if request.kind is PrivacyRequestKind.DELETION else 'export'}`."
        )
    if request.status is PrivacyRequestStatus.REJECTED:
        raise RequestRefused("request_rejected", f"Privacy request {request_id} was rejected; it cannot be completed.")
    return request


def privacy_subject(uow: SqlAlchemyUnitOfWork, request_id: int, kind: Literal["export", "deletion"]) -> PrivacySubject:
    """Who request ``request_id`` is about, checked to be a request of ``kind`` that was not rejected.

    Raises
    ------
    NotFound
        No privacy request ``request_id``.
    InvalidInput
        The request is of the other kind.
    RequestRefused (a NotAllowed)
        ``request_rejected``: an operator rejected the request.
    """
    with uow:
        request = _request_of_kind(uow, request_id, PrivacyRequestKind(kind))
        customer = uow.customers.get(request.customer_id)
        assert customer is not None  # the request's foreign key cascades deletes
        records = uow.customers.records(customer.id)
        numbers = {o.number for o in records.orders} | {r.number for r in records.returns if r.number}
        return PrivacySubject(
            request=_request_view(request, existing=request.status is PrivacyRequestStatus.COMPLETED),
            customer_id=customer.id,
            external_ref=customer.external_ref,
            name=customer.name,
            email=customer.email,
            order_numbers=tuple(sorted(numbers)),
            senders=tuple(c.sender_id for c in records.conversations),
        )


def _plain(value: object) -> object:
    """A value as JSON holds it: times in ISO 8601, money as a decimal string, enums by value."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _columns(row: object, *skip: str) -> dict[str, object]:
    table = row.__table__  # type: ignore[attr-defined]
    return {c.key: _plain(getattr(row, c.key)) for c in table.columns if c.key not in skip}


def customer_data(uow: SqlAlchemyUnitOfWork, request_id: int, now: Optional[datetime] = None) -> dict[str, object]:
    """Everything the store holds about the customer of export request ``request_id``, as plain JSON data.

    The customer row (decrypted), their orders with lines, returns and
    cancellations, behaviour events, analytics scores, offers made to them,
    conversations with their handoffs, and privacy requests. The tracker
    store's messages are added by ``crm privacy export`` (:mod:`bot.ops.erasure`).

    Raises like :func:`privacy_subject`, and :class:`CustomerNotFound` for a customer erased meanwhile.
    """
    now = now or utc_now()
    with uow:
        request = _request_of_kind(uow, request_id, PrivacyRequestKind.EXPORT)
        customer = uow.customers.get(request.customer_id)
        if customer is None or is_erased(customer):
            raise CustomerNotFound(request.customer_id)
        records = uow.customers.records(customer.id)
        return {
            "request": _columns(request),
            "generated_at": now.isoformat(timespec="seconds"),
            "customer": _columns(customer, "email_index"),
            "orders": [
                _columns(order)
                | {
                    "total": str(order.total),
                    "lines": [
                        {
                            "sku": line.product.sku,
                            "product": line.product.name,
                            "quantity": line.quantity,
                            "unit_price": str(line.unit_price),
                            "amount": str(line.amount),
                        }
                        for line in order.lines
                    ],
                }
                for order in records.orders
            ],
            "returns": [_columns(r) for r in records.returns],
            "behaviour_events": [_columns(e) for e in records.events],
            "scores": _columns(records.score) if records.score is not None else None,
            "offers": [
                _columns(assignment) | {"offer": {"code": offer.code, "name": offer.name, "kind": offer.kind.value}}
                for assignment, offer in records.offers
            ],
            "conversations": [
                _columns(c) | {"handoffs": [_columns(h) for h in c.handoffs]} for c in records.conversations
            ],
            "privacy_requests": [_columns(r) for r in records.privacy_requests],
        }


def complete_export(
    uow: SqlAlchemyUnitOfWork, request_id: int, note: str, now: Optional[datetime] = None
) -> PrivacyRequestView:
    """Mark export request ``request_id`` completed (the copy was delivered), with ``note`` saying where.

    Completing a completed request changes nothing and returns it with ``existing=True``.
    Raises like :func:`privacy_subject`.
    """
    now = now or utc_now()
    with uow:
        uow.begin_write()
        request = _request_of_kind(uow, request_id, PrivacyRequestKind.EXPORT, for_update=True)
        if request.status is PrivacyRequestStatus.COMPLETED:
            return _request_view(request, existing=True)
        request.status = PrivacyRequestStatus.COMPLETED
        request.completed_at = now
        request.note = clean_text(note, "note", 2000)
        view = _request_view(request, existing=False)
        uow.commit()
        return view
