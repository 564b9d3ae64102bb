"""Customers: profiles, their scores and behaviour events (``customers``, ``customer_scores``, ``customer_events``)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple, Optional

from sqlalchemy import ScalarSelect, delete, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from analytics.store.crypto import email_index, keys_for
from analytics.store.models import (
    Conversation,
    Customer,
    CustomerEvent,
    CustomerScore,
    Offer,
    OfferAssignment,
    Order,
    OrderLine,
    PrivacyRequest,
    Return,
)
from analytics.store.repositories.base import delete_where


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

    def ids_by_ref(self) -> dict[Optional[str], int]:
        """Customer ids by source customer number."""
        return dict(self.session.execute(select(Customer.external_ref, Customer.id)).tuples().all())

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Customer)) or 0

    def names(self) -> list[str]:
        """Every customer's name (decrypted), e.g. to mask them in training data."""
        return list(self.session.scalars(select(Customer.name)))

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


class ScoreRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, customer_id: int) -> Optional[CustomerScore]:
        return self.session.get(CustomerScore, customer_id)

    def all(self) -> list[CustomerScore]:
        return list(self.session.scalars(select(CustomerScore)))

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
        return delete_where(self.session, delete(CustomerScore).where(CustomerScore.customer_id == customer_id))


class EventRepository:
    """Behaviour events (views, cart adds, ratings)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def delete_for(self, customer_id: int) -> int:
        """Delete every event of the customer; return how many."""
        return delete_where(self.session, delete(CustomerEvent).where(CustomerEvent.customer_id == customer_id))
