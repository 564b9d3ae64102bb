"""Human support: handoffs from the assistant to an agent, recorded in the store.

A handoff is requested by the bot (the customer asked for a person, the bot
failed to understand twice, the customer is upset) or by an agent picking a
conversation. It waits until an agent accepts it and ends when the agent
hands the conversation back; every step is timestamped so wait times and
volumes can be reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import select

from analytics.errors import InvalidInput
from analytics.store.models import Conversation, Handoff, HandoffStatus
from analytics.store.uow import SqlAlchemyUnitOfWork

REASONS = ("customer_request", "misunderstanding", "complaint", "agent_pickup", "error")


@dataclass(frozen=True)
class HandoffView:
    id: int
    sender_id: str
    customer_id: Optional[int]
    status: str
    reason: str
    requested_at: datetime
    created: bool


def _conversation(
    uow: SqlAlchemyUnitOfWork, sender_id: str, channel: str, customer_id: Optional[int], now: datetime
) -> Conversation:
    conversation = uow.session.scalars(select(Conversation).where(Conversation.sender_id == sender_id)).one_or_none()
    if conversation is None:
        conversation = Conversation(sender_id=sender_id, channel=channel, customer_id=customer_id, started_at=now)
        uow.session.add(conversation)
    elif customer_id is not None:
        conversation.customer_id = customer_id
    conversation.last_event_at = now
    return conversation


def request_handoff(
    uow: SqlAlchemyUnitOfWork,
    *,
    sender_id: str,
    channel: str,
    customer_id: Optional[int],
    reason: str,
    now: datetime,
) -> HandoffView:
    """Queue the conversation for an agent; an open handoff is reused, not duplicated."""
    if reason not in REASONS:
        raise InvalidInput(f"handoff reason {reason!r} is not one of {', '.join(REASONS)}.")
    if not sender_id:
        raise InvalidInput("a handoff needs the conversation's sender id.")
    with uow:
        conversation = _conversation(uow, sender_id, channel, customer_id, now)
        uow.session.flush()
        open_handoff = uow.session.scalars(
            select(Handoff).where(
                Handoff.conversation_id == conversation.id,
                Handoff.status.in_([HandoffStatus.WAITING, HandoffStatus.ACTIVE]),
            )
        ).first()
        created = open_handoff is None
        if open_handoff is None:
            open_handoff = Handoff(
                conversation_id=conversation.id, status=HandoffStatus.WAITING, reason=reason, requested_at=now
            )
            uow.session.add(open_handoff)
            uow.session.flush()
        view = HandoffView(
            id=open_handoff.id,
            sender_id=sender_id,
            customer_id=conversation.customer_id,
            status=open_handoff.status.value,
            reason=open_handoff.reason,
            requested_at=open_handoff.requested_at,
            created=created,
        )
        uow.commit()
        return view
