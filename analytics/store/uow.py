"""Unit of work: one transaction around one use case.

    with uow:
        order = uow.orders.by_number("536365")
        ...
        uow.commit()

Leaving the block without ``commit()`` rolls back, so a failure half-way
never leaves half-written data.
"""

from __future__ import annotations

from types import TracebackType
from typing import Optional

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from analytics.store.db import begin_write, make_engine, make_session_factory
from analytics.store.repositories import (
    ConversationRepository,
    CustomerRepository,
    ErasedIdentityRepository,
    EventRepository,
    OfferRepository,
    OrderRepository,
    PrivacyRequestRepository,
    ProductRepository,
    ReturnRepository,
    ScoreRepository,
    StoreSettingRepository,
)


class SqlAlchemyUnitOfWork:
    customers: CustomerRepository
    products: ProductRepository
    orders: OrderRepository
    settings: StoreSettingRepository
    scores: ScoreRepository
    offers: OfferRepository
    returns: ReturnRepository
    events: EventRepository
    conversations: ConversationRepository
    privacy: PrivacyRequestRepository
    erased: ErasedIdentityRepository
    session: Session

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    @classmethod
    def for_url(cls, url: str, *, echo: bool = False) -> SqlAlchemyUnitOfWork:
        return cls(make_session_factory(make_engine(url, echo=echo)))

    @property
    def engine(self) -> Engine:
        bind = self.session_factory.kw["bind"]
        assert isinstance(bind, Engine)
        return bind

    def __enter__(self) -> SqlAlchemyUnitOfWork:
        self.session = self.session_factory()
        self.customers = CustomerRepository(self.session)
        self.products = ProductRepository(self.session)
        self.orders = OrderRepository(self.session)
        self.settings = StoreSettingRepository(self.session)
        self.scores = ScoreRepository(self.session)
        self.offers = OfferRepository(self.session)
        self.returns = ReturnRepository(self.session)
        self.events = EventRepository(self.session)
        self.conversations = ConversationRepository(self.session)
        self.privacy = PrivacyRequestRepository(self.session)
        self.erased = ErasedIdentityRepository(self.session)
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.rollback()
        self.session.close()

    def begin_write(self) -> None:
        """This transaction reads to decide what it writes: serialise it with others like it (see
        :func:`analytics.store.db.begin_write`); call it before any query."""
        begin_write(self.session)

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()
