"""Typed SQLAlchemy 2.0 models of the customer store.

Timestamps are naive UTC ``datetime`` values: SQLite has no time zones, and
one convention for both engines keeps comparisons simple. Money is
``Numeric(12, 2)`` in the shop currency (GBP for the Online Retail data).

Why one long module: one subject, the schema; every table in one declarative ``Base`` whose metadata
the migrations are checked against.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Connection,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import event as sa_event
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, attributes, mapped_column, relationship

from analytics.store.crypto import EncryptedText, email_index, keys_for

# Deterministic constraint names, so Alembic migrations are the same on every engine.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Money = Numeric(12, 2)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as VARCHAR + CHECK rather than a native PostgreSQL ENUM: adding a
    # member later is then a plain migration on both engines.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class OrderStatus(str, enum.Enum):
    PROCESSING = "processing"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class ReturnKind(str, enum.Enum):
    CANCELLATION = "cancellation"
    RETURN = "return"


class ReturnStatus(str, enum.Enum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REFUNDED = "refunded"
    REJECTED = "rejected"


class EventKind(str, enum.Enum):
    VIEW = "view"
    CART_ADD = "cart_add"
    RATING = "rating"


class OfferKind(str, enum.Enum):
    PERCENT_DISCOUNT = "percent_discount"
    FIXED_DISCOUNT = "fixed_discount"
    FREE_SHIPPING = "free_shipping"
    WINBACK_COUPON = "winback_coupon"


class Variant(str, enum.Enum):
    TREATMENT = "treatment"
    CONTROL = "control"


class PrivacyRequestKind(str, enum.Enum):
    EXPORT = "export"
    DELETION = "deletion"


class PrivacyRequestStatus(str, enum.Enum):
    REQUESTED = "requested"
    COMPLETED = "completed"
    REJECTED = "rejected"


class HandoffStatus(str, enum.Enum):
    WAITING = "waiting"
    ACTIVE = "active"
    RESOLVED = "resolved"


class UserRole(str, enum.Enum):
    """What a staff account may do: agents serve conversations; operators also see reports and accounts."""

    AGENT = "agent"
    OPERATOR = "operator"


class Customer(Base):
    """A customer. Name and e-mail address are encrypted at rest (:mod:`analytics.store.crypto`);
    ``email_index`` is the keyed hash that finds a customer by address, kept up to date on every
    ORM write (the bulk import computes it itself)."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_ref: Mapped[Optional[str]] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(EncryptedText("customers.name"))
    email: Mapped[str] = mapped_column(EncryptedText("customers.email"))
    email_index: Mapped[str] = mapped_column(String(64), unique=True)
    country: Mapped[Optional[str]] = mapped_column(String(64))
    consent_marketing: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_profiling: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)

    orders: Mapped[list[Order]] = relationship(back_populates="customer")

    def __repr__(self) -> str:
        return f"Customer(id={self.id}, external_ref={self.external_ref!r})"


@sa_event.listens_for(Customer, "before_insert")
def _index_new_email(_mapper: Mapper[Customer], connection: Connection, customer: Customer) -> None:
    customer.email_index = email_index(keys_for(connection), customer.email)


@sa_event.listens_for(Customer, "before_update")
def _index_changed_email(_mapper: Mapper[Customer], connection: Connection, customer: Customer) -> None:
    if attributes.get_history(customer, "email").has_changes():
        customer.email_index = email_index(keys_for(connection), customer.email)


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(64), index=True)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),)

    def __repr__(self) -> str:
        return f"Product(sku={self.sku!r}, name={self.name!r})"


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    customer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("customers.id"), index=True)
    placed_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus, "order_status"))
    country: Mapped[Optional[str]] = mapped_column(String(64))
    delivery_address: Mapped[Optional[str]] = mapped_column(EncryptedText("orders.delivery_address"))
    shipping_fee: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    carrier: Mapped[Optional[str]] = mapped_column(String(64))
    tracking_number: Mapped[Optional[str]] = mapped_column(String(64))
    shipped_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    estimated_delivery: Mapped[Optional[date]] = mapped_column(Date)
    delivered_at: Mapped[Optional[datetime]] = mapped_column(DateTime)

    customer: Mapped[Optional[Customer]] = relationship(back_populates="orders")
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.id"
    )

    __table_args__ = (Index("ix_orders_customer_placed", "customer_id", "placed_at"),)

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0")) + (self.shipping_fee or 0)

    def __repr__(self) -> str:
        return f"Order(number={self.number!r}, status={self.status.value!r})"


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money)

    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()

    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
    )

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity


class Return(Base):
    """A cancellation or a return of goods; one row per product line."""

    __tablename__ = "returns"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[Optional[str]] = mapped_column(String(32), index=True)
    kind: Mapped[ReturnKind] = mapped_column(_enum(ReturnKind, "return_kind"))
    status: Mapped[ReturnStatus] = mapped_column(_enum(ReturnStatus, "return_status"))
    customer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("customers.id"), index=True)
    order_id: Mapped[Optional[int]] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[Optional[int]] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Money)
    reason: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)


class CustomerEvent(Base):
    """Behaviour beyond purchases: product views, cart adds, ratings."""

    __tablename__ = "customer_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    product_id: Mapped[Optional[int]] = mapped_column(ForeignKey("products.id"))
    kind: Mapped[EventKind] = mapped_column(_enum(EventKind, "event_kind"))
    value: Mapped[Optional[float]] = mapped_column(Float)
    source: Mapped[Optional[str]] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(DateTime)


class Offer(Base):
    """An offer rule: who it targets (segment / lifecycle / tier; empty means any)
    and what it gives."""

    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[OfferKind] = mapped_column(_enum(OfferKind, "offer_kind"))
    value: Mapped[Optional[Decimal]] = mapped_column(Money)
    segment: Mapped[Optional[str]] = mapped_column(String(64))
    lifecycle: Mapped[Optional[str]] = mapped_column(String(32))
    tier: Mapped[Optional[str]] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    valid_from: Mapped[Optional[datetime]] = mapped_column(DateTime)
    valid_until: Mapped[Optional[datetime]] = mapped_column(DateTime)
    max_per_customer: Mapped[int] = mapped_column(Integer, default=1)
    max_redemptions: Mapped[Optional[int]] = mapped_column(Integer)
    holdout_share: Mapped[float] = mapped_column(Float, default=0.1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class OfferAssignment(Base):
    __tablename__ = "offer_assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    variant: Mapped[Variant] = mapped_column(_enum(Variant, "offer_variant"))
    assigned_at: Mapped[datetime] = mapped_column(DateTime)
    shown_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    accepted_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    redeemed_order_id: Mapped[Optional[int]] = mapped_column(ForeignKey("orders.id"))

    __table_args__ = (UniqueConstraint("offer_id", "customer_id", name="uq_offer_assignments_offer_customer"),)


class Conversation(Base):
    """A chat conversation, keyed by the channel's sender id."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(128), unique=True)
    customer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    last_event_at: Mapped[Optional[datetime]] = mapped_column(DateTime)

    handoffs: Mapped[list[Handoff]] = relationship(back_populates="conversation")


class Handoff(Base):
    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    status: Mapped[HandoffStatus] = mapped_column(_enum(HandoffStatus, "handoff_status"))
    reason: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(DateTime)
    accepted_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    agent: Mapped[Optional[str]] = mapped_column(String(64))
    resolved_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    resolution: Mapped[Optional[str]] = mapped_column(Text)

    conversation: Mapped[Conversation] = relationship(back_populates="handoffs")


class User(Base):
    """A staff account of the agent console. Only an argon2 hash of the password is kept."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[UserRole] = mapped_column(_enum(UserRole, "user_role"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    #: the name customers see in the chat ("Alice"); never the login name
    display_name: Mapped[Optional[str]] = mapped_column(String(64))
    #: console sessions issued before this moment are no longer valid (sign-out)
    sessions_valid_after: Mapped[Optional[datetime]] = mapped_column(DateTime)


class CustomerScore(Base):
    """What the analytics refresh knows about a customer, one row each, so a chat
    lookup is a single read. Replaced as a whole by every refresh."""

    __tablename__ = "customer_scores"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    as_of: Mapped[datetime] = mapped_column(DateTime)
    recency_days: Mapped[int] = mapped_column(Integer)
    frequency: Mapped[int] = mapped_column(Integer)
    monetary: Mapped[Decimal] = mapped_column(Money)
    r_score: Mapped[int] = mapped_column(Integer)
    f_score: Mapped[int] = mapped_column(Integer)
    m_score: Mapped[int] = mapped_column(Integer)
    rfm_segment: Mapped[str] = mapped_column(String(32), index=True)
    cluster: Mapped[Optional[int]] = mapped_column(Integer)
    cluster_label: Mapped[Optional[str]] = mapped_column(String(64))
    spend_12m: Mapped[Decimal] = mapped_column(Money)
    points: Mapped[int] = mapped_column(Integer)
    tier: Mapped[str] = mapped_column(String(32), index=True)
    next_tier: Mapped[Optional[str]] = mapped_column(String(32))
    amount_to_next_tier: Mapped[Optional[Decimal]] = mapped_column(Money)
    lifecycle: Mapped[str] = mapped_column(String(32), index=True)
    p_alive: Mapped[Optional[float]] = mapped_column(Float)
    expected_orders_30d: Mapped[Optional[float]] = mapped_column(Float)
    expected_orders_90d: Mapped[Optional[float]] = mapped_column(Float)
    clv_12m: Mapped[Optional[Decimal]] = mapped_column(Money)
    churn_risk: Mapped[Optional[float]] = mapped_column(Float)
    churn_reasons: Mapped[Optional[list[str]]] = mapped_column(JSON)


class ImportRun(Base):
    """One run of a data import, with its cleaning report."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime] = mapped_column(DateTime)
    rows_read: Mapped[int] = mapped_column(Integer)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)


class StoreSetting(Base):
    """Small key/value facts about the store itself (e.g. the demo time shift)."""

    __tablename__ = "store_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class PrivacyRequest(Base):
    """A customer's request to see or erase their data, made from a verified conversation;
    an operator (or a job) completes it."""

    __tablename__ = "privacy_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[PrivacyRequestKind] = mapped_column(_enum(PrivacyRequestKind, "privacy_request_kind"))
    status: Mapped[PrivacyRequestStatus] = mapped_column(_enum(PrivacyRequestStatus, "privacy_request_status"))
    channel: Mapped[Optional[str]] = mapped_column(String(32))
    requested_at: Mapped[datetime] = mapped_column(DateTime)
    completed_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    note: Mapped[Optional[str]] = mapped_column(Text)


class ErasedIdentity(Base):
    """A tombstone: the keyed hash (:func:`analytics.store.crypto.identity_digest`) of an identifier of
    a customer erased on request, so an import of the source data does not bring them back. The
    identifier itself is not kept."""

    __tablename__ = "erased_identities"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64))
    erased_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (UniqueConstraint("kind", "digest", name="uq_erased_identities_kind_digest"),)


class ForecastRun(Base):
    """One run of the demand forecasts (one frequency, every series of every level)."""

    __tablename__ = "forecast_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    freq: Mapped[str] = mapped_column(String(8))
    history_end: Mapped[date] = mapped_column(Date)
    horizon: Mapped[int] = mapped_column(Integer)
    n_series: Mapped[int] = mapped_column(Integer)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)

    series: Mapped[list[ForecastSeries]] = relationship(back_populates="run", cascade="all, delete-orphan")


class ForecastSeries(Base):
    """One forecast series of a run: the shop, a category or a product, with the model
    the backtest chose and its backtest error."""

    __tablename__ = "forecast_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))
    measure: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(200))
    backtest_mase: Mapped[Optional[float]] = mapped_column(Float)
    n_observations: Mapped[int] = mapped_column(Integer)

    run: Mapped[ForecastRun] = relationship(back_populates="series")
    points: Mapped[list[DemandForecast]] = relationship(
        back_populates="series", cascade="all, delete-orphan", order_by="DemandForecast.step"
    )

    __table_args__ = (UniqueConstraint("run_id", "level", "key", "measure", name="uq_forecast_series_run_level_key"),)


class DemandForecast(Base):
    """One forecast period of a series: point forecast and prediction interval."""

    __tablename__ = "demand_forecasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("forecast_series.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[date] = mapped_column(Date)
    point: Mapped[float] = mapped_column(Float)
    lower: Mapped[float] = mapped_column(Float)
    upper: Mapped[float] = mapped_column(Float)
    interval_level: Mapped[float] = mapped_column(Float)

    series: Mapped[ForecastSeries] = relationship(back_populates="points")


# --------------------------------------------------------------------------- NLU model registry (bot/ops)


class ModelStatus(str, enum.Enum):
    """Where a model of the assistant stands. Exactly one is ``live`` once anything was published."""

    CANDIDATE = "candidate"
    LIVE = "live"
    RETIRED = "retired"
    ROLLED_BACK = "rolled_back"


class ModelAction(str, enum.Enum):
    TRAIN = "train"
    REGISTER = "register"
    EVALUATE = "evaluate"
    PUBLISH = "publish"
    REFUSE = "refuse"
    FAIL = "fail"
    ROLLBACK = "rollback"
    ANNOTATE = "annotate"


class ModelVersion(Base):
    """A trained model of the assistant: its file, what it was trained from and how it scored.

    Rows are never deleted: every model stays with its metrics and data hash.
    ``replaced_id`` is the model that was live when this one was published,
    which is where a rollback goes.
    """

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    path: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    data_hash: Mapped[Optional[str]] = mapped_column(String(64))
    config: Mapped[Optional[str]] = mapped_column(String(255))
    status: Mapped[ModelStatus] = mapped_column(_enum(ModelStatus, "model_status"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(128))
    metrics: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    published_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    published_by: Mapped[Optional[str]] = mapped_column(String(128))
    replaced_id: Mapped[Optional[int]] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))


class ModelAudit(Base):
    """Who trained, registered, evaluated, published, refused or rolled back which model, when and why."""

    __tablename__ = "model_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    operator: Mapped[str] = mapped_column(String(128))
    action: Mapped[ModelAction] = mapped_column(_enum(ModelAction, "model_action"))
    model_id: Mapped[Optional[int]] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"), index=True)
    reason: Mapped[Optional[str]] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class JobRun(Base):
    """One run of a scheduled job (``crm jobs``): when it started and ended, how it ended and why."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    #: running, succeeded or failed
    status: Mapped[str] = mapped_column(String(16))
    message: Mapped[Optional[str]] = mapped_column(Text)
    #: the process that ran it (host and pid)
    runner: Mapped[str] = mapped_column(String(128))


class JobLock(Base):
    """Who runs a job now: one row per job, held until ``expires_at`` unless its holder renews it, so two
    schedulers never run the same job at once and a crashed holder's lock lapses by itself."""

    __tablename__ = "job_locks"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
