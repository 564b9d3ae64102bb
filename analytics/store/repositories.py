"""Repositories: the queries services need, in one place per aggregate."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple, Optional

from sqlalchemy import Delete, ScalarSelect, String, cast, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from analytics.store.crypto import email_index, identity_digest, keys_for
from analytics.store.models import (
    Conversation,
    Customer,
    CustomerEvent,
    CustomerScore,
    ErasedIdentity,
    Handoff,
    Offer,
    OfferAssignment,
    Order,
    OrderLine,
    OrderStatus,
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestStatus,
    Product,
    Return,
    ReturnKind,
    ReturnStatus,
    StoreSetting,
)


class ProductListing(NamedTuple):
    """One product as the chat's catalogue search shows it, with how many order lines hold it."""

    id: int
    sku: str
    name: str
    category: str
    unit_price: Decimal
    active: bool
    order_lines: int


class CustomerFootprint(NamedTuple):
    """How many rows of each kind the store holds about one customer."""

    orders: int
    returns: int
    events: int
    conversations: int
    offers: int
    privacy_requests: int
    first_order_at: Optional[datetime]
    last_order_at: Optional[datetime]


class CustomerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, customer_id: int) -> Optional[Customer]:
        return self.session.get(Customer, customer_id)

    def by_external_ref(self, ref: str) -> Optional[Customer]:
        return self.session.scalar(select(Customer).where(Customer.external_ref == ref))

    def by_email(self, email: str) -> Optional[Customer]:
        """The customer with this address (any case), found by its blind index: the column itself is encrypted."""
        index = email_index(keys_for(self.session.get_bind()), email)
        return self.session.scalar(select(Customer).where(Customer.email_index == index))

    def get_for_update(self, customer_id: int) -> Optional[Customer]:
        """The customer, row-locked until the end of the transaction (PostgreSQL; SQLite locks on write)."""
        return self.session.scalar(
            select(Customer)
            .where(Customer.id == customer_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    def footprint(self, customer_id: int) -> CustomerFootprint:
        """Counts of the customer's rows in every table that refers to them, in one round trip."""

        def count(column: InstrumentedAttribute[Optional[int]] | InstrumentedAttribute[int]) -> ScalarSelect[int]:
            return select(func.count()).where(column == customer_id).scalar_subquery()

        row = self.session.execute(
            select(
                count(Order.customer_id),
                count(Return.customer_id),
                count(CustomerEvent.customer_id),
                count(Conversation.customer_id),
                count(OfferAssignment.customer_id),
                count(PrivacyRequest.customer_id),
                select(func.min(Order.placed_at)).where(Order.customer_id == customer_id).scalar_subquery(),
                select(func.max(Order.placed_at)).where(Order.customer_id == customer_id).scalar_subquery(),
            )
        ).one()
        return CustomerFootprint(*row)

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Customer)) or 0

    def records(self, customer_id: int) -> CustomerRecords:
        """Every row the store holds about the customer, for a copy of their data."""
        session = self.session
        return CustomerRecords(
            orders=list(
                session.scalars(
                    select(Order)
                    .where(Order.customer_id == customer_id)
                    .order_by(Order.placed_at, Order.id)
                    .options(selectinload(Order.lines).selectinload(OrderLine.product))
                )
            ),
            returns=list(session.scalars(select(Return).where(Return.customer_id == customer_id).order_by(Return.id))),
            events=list(
                session.scalars(
                    select(CustomerEvent).where(CustomerEvent.customer_id == customer_id).order_by(CustomerEvent.id)
                )
            ),
            score=session.get(CustomerScore, customer_id),
            offers=list(
                session.execute(
                    select(OfferAssignment, Offer)
                    .join(Offer, Offer.id == OfferAssignment.offer_id)
                    .where(OfferAssignment.customer_id == customer_id)
                    .order_by(OfferAssignment.id)
                ).tuples()
            ),
            conversations=list(
                session.scalars(
                    select(Conversation)
                    .where(Conversation.customer_id == customer_id)
                    .order_by(Conversation.id)
                    .options(selectinload(Conversation.handoffs))
                )
            ),
            privacy_requests=list(
                session.scalars(
                    select(PrivacyRequest).where(PrivacyRequest.customer_id == customer_id).order_by(PrivacyRequest.id)
                )
            ),
        )


class CustomerRecords(NamedTuple):
    """The store's rows about one customer (see :meth:`CustomerRepository.records`)."""

    orders: list[Order]
    returns: list[Return]
    events: list[CustomerEvent]
    score: Optional[CustomerScore]
    offers: list[tuple[OfferAssignment, Offer]]
    conversations: list[Conversation]
    privacy_requests: list[PrivacyRequest]


class ProductRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_sku(self, sku: str) -> Optional[Product]:
        return self.session.scalar(select(Product).where(Product.sku == sku.strip().upper()))

    def listing(self) -> list[ProductListing]:
        """Every product with its price, category and popularity (order lines holding it), for the chat's search."""
        sold = select(OrderLine.product_id, func.count().label("lines")).group_by(OrderLine.product_id).subquery()
        rows = self.session.connection().execute(
            select(
                Product.id,
                Product.sku,
                Product.name,
                Product.category,
                Product.unit_price,
                Product.active,
                func.coalesce(sold.c.lines, 0),
            ).outerjoin(sold, sold.c.product_id == Product.id)
        )
        return list(map(ProductListing._make, rows.tuples().all()))

    def by_ids(self, ids: Sequence[int]) -> dict[int, Product]:
        if not ids:
            return {}
        return {p.id: p for p in self.session.scalars(select(Product).where(Product.id.in_(ids)))}

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Product)) or 0


class OrderRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_number(self, number: str) -> Optional[Order]:
        return self.session.scalar(
            select(Order)
            .where(Order.number == number.strip())
            .options(selectinload(Order.lines).selectinload(OrderLine.product))
        )

    def of_customer(self, customer_id: int, number: str, *, for_update: bool = False) -> Optional[Order]:
        """Order ``number`` if it belongs to ``customer_id`` (``None`` otherwise), with its lines and products.

        ``for_update`` locks the order row until the end of the transaction, so two
        requests changing one order run one after the other (PostgreSQL; SQLite
        serialises writers anyway).
        """
        stmt = (
            select(Order)
            .where(Order.number == number.strip(), Order.customer_id == customer_id)
            .options(selectinload(Order.lines).selectinload(OrderLine.product))
        )
        if for_update:
            stmt = stmt.with_for_update(of=Order).execution_options(populate_existing=True)
        return self.session.scalar(stmt)

    def recent_for_customer(self, customer_id: int, limit: int = 5) -> list[Order]:
        return list(
            self.session.scalars(
                select(Order)
                .where(Order.customer_id == customer_id)
                .order_by(Order.placed_at.desc(), Order.id.desc())
                .limit(limit)
                .options(selectinload(Order.lines))
            )
        )

    def change_status(self, order: Order, expected: OrderStatus, new: OrderStatus) -> bool:
        """Move ``order`` from ``expected`` to ``new`` in one conditional UPDATE; ``False`` if it was no
        longer ``expected`` (another transaction got there first, whatever the engine's locking)."""
        result = self.session.execute(
            update(Order).where(Order.id == order.id, Order.status == expected).values(status=new)
        )
        changed = int(result.rowcount) == 1  # type: ignore[attr-defined]
        if changed:
            order.status = new
        return changed

    def detach_customer(self, customer_id: int) -> int:
        """Turn the customer's orders into guest orders with no delivery address or
        tracking number; return how many."""
        result = self.session.execute(
            update(Order)
            .where(Order.customer_id == customer_id)
            .values(customer_id=None, delivery_address=None, tracking_number=None)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Order)) or 0


class StoreSettingRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, key: str) -> Optional[str]:
        row = self.session.get(StoreSetting, key)
        return row.value if row else None

    def set(self, key: str, value: str) -> None:
        row = self.session.get(StoreSetting, key)
        if row is None:
            self.session.add(StoreSetting(key=key, value=value))
        else:
            row.value = value


class ScoreRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, customer_id: int) -> Optional[CustomerScore]:
        return self.session.get(CustomerScore, customer_id)

    def with_customer(self, customer_id: int) -> tuple[Optional[Customer], Optional[CustomerScore]]:
        """The customer and their scores in one round trip (either may be missing)."""
        row = self.session.execute(
            select(Customer, CustomerScore)
            .outerjoin(CustomerScore, CustomerScore.customer_id == Customer.id)
            .where(Customer.id == customer_id)
        ).first()
        return (row[0], row[1]) if row is not None else (None, None)

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(CustomerScore)) or 0

    def delete(self, customer_id: int) -> int:
        """Delete the customer's scores; return how many rows (0 or 1)."""
        return _delete_where(self.session, delete(CustomerScore).where(CustomerScore.customer_id == customer_id))


class OfferRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_code(self, code: str, *, for_update: bool = False) -> Optional[Offer]:
        query = select(Offer).where(Offer.code == code.strip().upper())
        return self.session.scalar(query.with_for_update() if for_update else query)

    def active(self) -> list[Offer]:
        return list(self.session.scalars(select(Offer).where(Offer.active.is_(True)).order_by(Offer.id)))

    def assignments_of(self, customer_id: int) -> dict[int, OfferAssignment]:
        """This customer's assignments, by offer id."""
        rows = self.session.scalars(select(OfferAssignment).where(OfferAssignment.customer_id == customer_id))
        return {a.offer_id: a for a in rows}

    def assignment(self, offer_id: int, customer_id: int) -> Optional[OfferAssignment]:
        return self.session.scalar(
            select(OfferAssignment).where(
                OfferAssignment.offer_id == offer_id, OfferAssignment.customer_id == customer_id
            )
        )

    def delete_assignments_of(self, customer_id: int) -> int:
        """Delete the customer's offer assignments; return how many."""
        return _delete_where(self.session, delete(OfferAssignment).where(OfferAssignment.customer_id == customer_id))

    def accepted_count(self, offer_id: int) -> int:
        return (
            self.session.scalar(
                select(func.count())
                .select_from(OfferAssignment)
                .where(OfferAssignment.offer_id == offer_id, OfferAssignment.accepted_at.is_not(None))
            )
            or 0
        )


class ReturnRepository:
    """Cancellations and returns (table ``returns``)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: Return) -> Return:
        self.session.add(row)
        self.session.flush()
        return row

    def for_order(self, order_id: int, kind: ReturnKind) -> list[Return]:
        return list(
            self.session.scalars(
                select(Return).where(Return.order_id == order_id, Return.kind == kind).order_by(Return.id)
            )
        )

    def returned_quantities(self, order_id: int) -> dict[int, int]:
        """Units of each product of an order already being returned or returned (rejected returns do not count)."""
        rows = self.session.execute(
            select(Return.product_id, func.sum(Return.quantity))
            .where(
                Return.order_id == order_id,
                Return.kind == ReturnKind.RETURN,
                Return.status != ReturnStatus.REJECTED,
                Return.product_id.is_not(None),
            )
            .group_by(Return.product_id)
        )
        return {int(product_id): int(quantity) for product_id, quantity in rows}

    def detach_customer(self, customer_id: int) -> int:
        """Unlink the customer's returns and drop their free-text reasons; return how many."""
        result = self.session.execute(
            update(Return)
            .where(Return.customer_id == customer_id)
            .values(customer_id=None, reason=None)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


class ConversationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_sender(self, sender_id: str) -> Optional[Conversation]:
        return self.session.scalar(
            select(Conversation).where(Conversation.sender_id == sender_id).execution_options(populate_existing=True)
        )

    def upsert(self, sender_id: str, customer_id: Optional[int], channel: str, now: datetime) -> Conversation:
        """Create the conversation of ``sender_id`` or point it at ``customer_id``, atomically.

        One ``INSERT ... ON CONFLICT (sender_id) DO UPDATE`` (both engines), so two
        messages of a new conversation arriving together cannot both insert.
        """
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(Conversation).values(
            sender_id=sender_id, customer_id=customer_id, channel=channel, started_at=now, last_event_at=now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[Conversation.sender_id],
            set_={"customer_id": customer_id, "channel": channel, "last_event_at": now},
        )
        self.session.execute(stmt)
        conversation = self.by_sender(sender_id)
        assert conversation is not None
        return conversation

    def get_or_create(
        self, sender_id: str, customer_id: Optional[int], channel: str, now: datetime, *, lock: bool = False
    ) -> Conversation:
        """The conversation of ``sender_id``, created if missing (``INSERT ... ON CONFLICT DO NOTHING``: two
        at once make one row; an existing one keeps its link); ``lock``: locked until the transaction ends."""
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(Conversation).values(
            sender_id=sender_id, customer_id=customer_id, channel=channel, started_at=now, last_event_at=now
        )
        self.session.execute(stmt.on_conflict_do_nothing(index_elements=[Conversation.sender_id]))
        query = select(Conversation).where(Conversation.sender_id == sender_id)
        return self.session.scalars(query.with_for_update() if lock else query).one()

    def of_customer(self, customer_id: int) -> list[Conversation]:
        return list(
            self.session.scalars(
                select(Conversation).where(Conversation.customer_id == customer_id).order_by(Conversation.id)
            )
        )

    def by_senders(self, sender_ids: Sequence[str]) -> list[Conversation]:
        if not sender_ids:
            return []
        return list(
            self.session.scalars(
                select(Conversation).where(Conversation.sender_id.in_(list(sender_ids))).order_by(Conversation.id)
            )
        )

    def unlink_customer(self, conversation_ids: Sequence[int]) -> None:
        """Forget who these conversations were with: no customer, the sender id replaced by
        ``erased-<id>``, no agents' free-text notes on their handoffs."""
        if not conversation_ids:
            return
        self.session.execute(
            update(Conversation)
            .where(Conversation.id.in_(conversation_ids))
            .values(customer_id=None, sender_id="erased-" + cast(Conversation.id, String))
            .execution_options(synchronize_session=False)
        )
        self.session.execute(
            update(Handoff)
            .where(Handoff.conversation_id.in_(conversation_ids))
            .values(resolution=None)
            .execution_options(synchronize_session=False)
        )


class PrivacyRequestRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_for_update(self, request_id: int) -> Optional[PrivacyRequest]:
        return self.session.scalar(
            select(PrivacyRequest)
            .where(PrivacyRequest.id == request_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    def open_for(self, customer_id: int, kind: PrivacyRequestKind) -> Optional[PrivacyRequest]:
        """The customer's oldest request of ``kind`` still waiting for an operator, if any."""
        return self.session.scalar(
            select(PrivacyRequest)
            .where(
                PrivacyRequest.customer_id == customer_id,
                PrivacyRequest.kind == kind,
                PrivacyRequest.status == PrivacyRequestStatus.REQUESTED,
            )
            .order_by(PrivacyRequest.id)
            .limit(1)
        )

    def all_open_for(self, customer_id: int) -> list[PrivacyRequest]:
        return list(
            self.session.scalars(
                select(PrivacyRequest)
                .where(
                    PrivacyRequest.customer_id == customer_id,
                    PrivacyRequest.status == PrivacyRequestStatus.REQUESTED,
                )
                .order_by(PrivacyRequest.id)
            )
        )

    def add(self, request: PrivacyRequest) -> PrivacyRequest:
        self.session.add(request)
        self.session.flush()
        return request

    def get(self, request_id: int) -> Optional[PrivacyRequest]:
        return self.session.get(PrivacyRequest, request_id)

    def all_open(self) -> list[PrivacyRequest]:
        """Every request still waiting for an operator, oldest first."""
        return list(
            self.session.scalars(
                select(PrivacyRequest)
                .where(PrivacyRequest.status == PrivacyRequestStatus.REQUESTED)
                .order_by(PrivacyRequest.requested_at, PrivacyRequest.id)
            )
        )

    def of_customer(self, customer_id: int) -> list[PrivacyRequest]:
        return list(
            self.session.scalars(
                select(PrivacyRequest).where(PrivacyRequest.customer_id == customer_id).order_by(PrivacyRequest.id)
            )
        )


class ErasedIdentityRepository:
    """Tombstones of erased customers: keyed hashes of their e-mail address and source customer number."""

    KINDS = ("email", "external_ref")

    def __init__(self, session: Session) -> None:
        self.session = session

    def digest(self, kind: str, value: str) -> str:
        if kind not in self.KINDS:
            raise ValueError(f"unknown identifier kind {kind!r}; one of {self.KINDS}")
        return identity_digest(keys_for(self.session.get_bind()), kind, value)

    def remember(self, kind: str, value: str, now: datetime) -> bool:
        """Keep the hash of an erased customer's identifier; ``False`` if it was already kept."""
        digest = self.digest(kind, value)
        found = self.session.scalar(
            select(ErasedIdentity.id).where(ErasedIdentity.kind == kind, ErasedIdentity.digest == digest)
        )
        if found is not None:
            return False
        self.session.add(ErasedIdentity(kind=kind, digest=digest, erased_at=now))
        self.session.flush()
        return True

    def digests(self, kind: str) -> set[str]:
        """Every kept hash of one kind (the import compares a whole file's customers at once)."""
        return set(self.session.scalars(select(ErasedIdentity.digest).where(ErasedIdentity.kind == kind)))

    def is_erased(self, kind: str, value: str) -> bool:
        digest = self.digest(kind, value)
        return (
            self.session.scalar(
                select(ErasedIdentity.id).where(ErasedIdentity.kind == kind, ErasedIdentity.digest == digest)
            )
            is not None
        )


class EventRepository:
    """Behaviour events (views, cart adds, ratings)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def delete_for(self, customer_id: int) -> int:
        """Delete every event of the customer; return how many."""
        return _delete_where(self.session, delete(CustomerEvent).where(CustomerEvent.customer_id == customer_id))


def _delete_where(session: Session, stmt: Delete) -> int:
    result = session.execute(stmt.execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]
