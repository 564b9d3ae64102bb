"""Unit of work: one transaction around one use case.

    with uow:
        order = uow.orders.by_number("536365")
        ...
        uow.commit()

Leaving the block without ``commit()`` rolls back, so a failure half-way
never leaves half-written data.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Optional

from sqlalchemy import Connection, Engine, Select
from sqlalchemy.orm import Session, sessionmaker

from analytics.store.bulk import fetch_rows
from analytics.store.db import begin_write
from analytics.store.repositories.conversations import ConversationRepository
from analytics.store.repositories.customers import CustomerRepository, EventRepository, ScoreRepository
from analytics.store.repositories.forecasts import ForecastRepository
from analytics.store.repositories.handoffs import HandoffRepository
from analytics.store.repositories.imports import ImportRunRepository
from analytics.store.repositories.jobs import JobRepository
from analytics.store.repositories.model_registry import ModelRegistryRepository
from analytics.store.repositories.offers import OfferRepository
from analytics.store.repositories.orders import OrderRepository, ReturnRepository
from analytics.store.repositories.privacy import ErasedIdentityRepository, PrivacyRequestRepository
from analytics.store.repositories.products import ProductRepository
from analytics.store.repositories.store_settings import StoreSettingRepository
from analytics.store.repositories.users import UserRepository


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
    handoffs: HandoffRepository
    privacy: PrivacyRequestRepository
    erased: ErasedIdentityRepository
    models: ModelRegistryRepository
    users: UserRepository
    forecasts: ForecastRepository
    imports: ImportRunRepository
    jobs: JobRepository
    session: Session

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory
        #: commits that returned, and whether one failed half-way (:mod:`analytics.store.retry` reads them)
        self.commits_done = 0
        self.commit_in_flight = False

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
        self.handoffs = HandoffRepository(self.session)
        self.privacy = PrivacyRequestRepository(self.session)
        self.erased = ErasedIdentityRepository(self.session)
        self.models = ModelRegistryRepository(self.session)
        self.users = UserRepository(self.session)
        self.forecasts = ForecastRepository(self.session)
        self.imports = ImportRunRepository(self.session)
        self.jobs = JobRepository(self.session)
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

    def fetch_rows(self, stmt: Select[Any]) -> list[tuple[Any, ...]]:
        """Inside ``with uow``: the rows of ``stmt`` through the raw driver cursor
        (:func:`analytics.store.bulk.fetch_rows`: numbers and dates only as parameters)."""
        return fetch_rows(self.session.connection(), stmt)

    def connection(self) -> Connection:
        """Inside ``with uow``: the transaction's connection, for bulk writes (:mod:`analytics.store.bulk`)."""
        return self.session.connection()

    def flush(self) -> None:
        """Send the pending changes to the database (ids assigned, constraints checked) without committing."""
        self.session.flush()

    def no_autoflush(self) -> AbstractContextManager[None]:
        """A block in which queries do not flush pending changes first (reading around a half-built row)."""
        return self.session.no_autoflush  # type: ignore[return-value]

    def has_new_rows(self) -> bool:
        """Whether this transaction added rows not committed yet (a use case that may or may not write)."""
        return bool(self.session.new)

    def commit(self) -> None:
        self.commit_in_flight = True
        self.session.commit()
        self.commit_in_flight = False
        self.commits_done += 1

    def reset_commit_record(self) -> None:
        """Forget the commits counted so far (before a new attempt of the same work)."""
        self.commits_done = 0
        self.commit_in_flight = False

    def rollback(self) -> None:
        self.session.rollback()
