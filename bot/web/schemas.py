"""What the web app's JSON endpoints accept and answer: pydantic models, so the OpenAPI schema is the real one.

The services answer with dataclasses holding naive-UTC datetimes and
``Decimal`` money; :func:`to_json` turns them into JSON values (times as ISO
8601 strings with a ``Z``, money as numbers) and the response models below
describe that JSON. A time is therefore a ``str`` here, and money a ``float``.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Optional

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from analytics.usecases.support import MAX_RESOLUTION_LENGTH

MAX_MESSAGE_LENGTH = 2000

#: an ISO 8601 time in UTC with a ``Z`` ("2026-12-07T10:30:00Z"), as :func:`to_json` writes it
Time = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


def to_json(value: Any) -> Any:
    """Dataclasses, times (naive UTC, sent with a ``Z``) and money as JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds") + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


# --------------------------------------------------------------------------- requests


class MessageIn(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_LENGTH)


class OfferIn(BaseModel):
    code: str = Field(min_length=1, max_length=32)


class HandBackIn(BaseModel):
    resolution: str = Field(min_length=1, max_length=MAX_RESOLUTION_LENGTH)


class SessionIn(BaseModel):
    session_id: str = Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")


# --------------------------------------------------------------------------- refusals


class ErrorOut(BaseModel):
    """A refusal: what went wrong, in words for the person at the screen."""

    detail: str


def refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the refusals a router's routes may answer (all ``{"detail": "..."}``)."""
    meaning = {
        401: "Not logged in to the console.",
        403: "Not allowed (another site's form, or not an operator).",
        404: "No such thing.",
        409: "Not now: the conversation or order is in another state.",
        429: "Too many requests; the Retry-After header says when to try again.",
        502: "The assistant's server did not answer.",
    }
    return {code: {"model": ErrorOut, "description": meaning[code]} for code in codes}


# --------------------------------------------------------------------------- answers: the chat page


class OrderOut(BaseModel):
    number: str
    placed_at: Time
    status: str
    item_count: int
    total: float


class SignedInCustomer(BaseModel):
    name: str
    #: the shop's customer reference
    ref: Optional[str]
    #: the three most recent orders, newest first
    orders: list[OrderOut]


class SocketOut(BaseModel):
    """Where the chat widget finds Rasa's socket.io channel."""

    url: str
    path: str


class DemoCustomer(BaseModel):
    ref: Optional[str]
    name: str


class CustomerSessionOut(BaseModel):
    """Who is signed in (per the cookie), a fresh chat token for them, and where the chat server is."""

    customer: Optional[SignedInCustomer]
    #: the signed customer token the page passes to the assistant; ``null`` for a visitor
    token: Optional[str]
    token_ttl_seconds: int
    socket: SocketOut
    #: the customers the demo sign-in offers (empty outside the demo and once signed in)
    demo_customers: list[DemoCustomer]


class ChatStatus(BaseModel):
    """Who the customer is talking to: ``assistant``, ``waiting`` (for a person) or ``agent``."""

    model_config = ConfigDict(populate_by_name=True)

    with_: str = Field(alias="with")
    #: the agent's display name ("" when they have none); ``null`` unless ``with`` is ``agent``
    agent: Optional[str]


class Button(BaseModel):
    title: str
    payload: str


class ProductCard(BaseModel):
    """A product card as the bot sent it (values passed on as they came)."""

    sku: Any = None
    name: Any = None
    price: Any = None
    category: Any = None
    reason: Any = None


class CustomerLine(BaseModel):
    """A line of the transcript as the customer's own page may show it."""

    index: int
    #: seconds since the epoch
    at: float
    #: ``customer``, ``bot`` or ``agent``
    kind: str
    text: str
    buttons: list[Button]
    products: list[ProductCard]
    #: the display name of the agent who wrote it (never their login name)
    author: Optional[str]


class ChatHistoryOut(BaseModel):
    lines: list[CustomerLine]
    status: ChatStatus


# --------------------------------------------------------------------------- answers: the agent console


class MeOut(BaseModel):
    username: str
    role: str


class HandoffOut(BaseModel):
    id: int
    sender_id: str
    channel: str
    customer_id: Optional[int]
    customer_name: Optional[str]
    status: str
    reason: str
    #: the agent's login name
    agent: Optional[str]
    requested_at: Time
    accepted_at: Optional[Time]
    resolved_at: Optional[Time]
    resolution: Optional[str]
    wait_seconds: float
    handling_seconds: Optional[float]


class LiveConversationOut(BaseModel):
    sender_id: str
    channel: str
    customer_id: Optional[int]
    customer_name: Optional[str]
    started_at: Time
    last_event_at: Optional[Time]


class QueueOut(BaseModel):
    waiting: list[HandoffOut]
    active: list[HandoffOut]
    live: list[LiveConversationOut]


class QueueAnswer(BaseModel):
    now: Time
    queue: QueueOut


class TranscriptLine(BaseModel):
    """A line of a conversation as the console shows it."""

    index: int
    #: seconds since the epoch
    at: float
    #: ``customer``, ``bot``, ``agent`` or ``system``
    kind: str
    text: str
    #: an agent's login name
    author: Optional[str]
    #: the name the customer sees for that agent
    author_name: Optional[str]
    buttons: list[Button]
    products: list[ProductCard]
    #: a customer's message the bot did not answer because a person had the conversation
    while_paused: bool


class ConversationUpdate(BaseModel):
    """What is new in a conversation since the line the console asked after."""

    sender_id: str
    paused: bool
    handoff: Optional[HandoffOut]
    lines: list[TranscriptLine]
    last_index: int


class RecentOrder(BaseModel):
    number: str
    placed_at: Time
    status: str
    items: int
    total: float
    carrier: Optional[str]
    tracking_number: Optional[str]


class OfferCardOut(BaseModel):
    code: str
    name: str
    description: str
    reason: str
    may_offer: bool
    accepted: bool


class AcceptedOfferOut(BaseModel):
    code: str
    name: str
    accepted_at: Time


class SuggestionOut(BaseModel):
    sku: str
    name: str
    category: str
    price: float
    reason: str


class ContextCardOut(BaseModel):
    """What the agent knows of the customer: profile, scores, orders, the offer to make, suggestions."""

    customer_id: int
    external_ref: Optional[str]
    name: str
    masked_email: str
    country: Optional[str]
    customer_since: Time
    scored: bool
    rfm_segment: Optional[str]
    cluster_label: Optional[str]
    lifecycle: Optional[str]
    tier: Optional[str]
    points: Optional[int]
    next_tier: Optional[str]
    amount_to_next_tier: Optional[float]
    #: predicted spend over the next 12 months
    clv_12m: Optional[float]
    churn_risk: Optional[float]
    churn_reasons: list[str]
    order_count: int
    total_spent: float
    recent_orders: list[RecentOrder]
    offer: Optional[OfferCardOut]
    accepted_offers: list[AcceptedOfferOut]
    recommendations: list[SuggestionOut]
    recommendations_note: Optional[str]


class ConversationOut(ConversationUpdate):
    """A conversation as the agent first sees it: transcript, handoff and the customer's context card."""

    customer_id: Optional[int]
    card: Optional[ContextCardOut]


class HandoffAnswer(BaseModel):
    handoff: HandoffOut


class SentOut(BaseModel):
    sent: bool


class OfferDecisionOut(BaseModel):
    code: str
    name: str
    description: str
    kind: str
    value: Optional[float]
    variant: str
    reason: str
    valid_until: Optional[Time]


class OfferAnswer(BaseModel):
    offer: OfferDecisionOut


# --------------------------------------------------------------------------- answers: operators


class HandoffReportOut(BaseModel):
    since: Time
    until: Time
    total: int
    by_reason: dict[str, int]
    by_status: dict[str, int]
    by_agent: dict[str, int]
    accepted: int
    average_wait_seconds: Optional[float]
    p90_wait_seconds: Optional[float]
    average_handling_seconds: Optional[float]
    still_waiting: int
    longest_current_wait_seconds: Optional[float]


class StaffUserOut(BaseModel):
    id: int
    username: str
    role: str
    active: bool
    created_at: Time
    display_name: Optional[str]
    sessions_valid_after: Optional[Time]


class HealthCheckOut(BaseModel):
    #: "ok" or "fail"
    status: str
    #: how long the check took (passed checks only)
    latency_ms: Optional[float] = None


class HealthOut(BaseModel):
    #: "ok" when every check passed, "unavailable" otherwise
    status: str
    #: the checks that failed (only when some did)
    failed: Optional[list[str]] = None
    #: each dependency's check: store, rasa, action_server
    checks: dict[str, HealthCheckOut] = {}
