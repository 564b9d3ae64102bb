"""Handoffs of conversations from the assistant to an agent (``handoffs``)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple, Optional

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from analytics.store.models import Conversation, Customer, Handoff, HandoffStatus

#: The states of a handoff that is not over: waiting for an agent, or with one.
OPEN = (HandoffStatus.WAITING, HandoffStatus.ACTIVE)


class HandoffRow(NamedTuple):
    """A handoff with its conversation and the name of the conversation's customer (if linked)."""

    handoff: Handoff
    conversation: Conversation
    customer_name: Optional[str]


def _with_conversation() -> Select[tuple[Handoff, Conversation, str]]:
    return (
        select(Handoff, Conversation, Customer.name)
        .join(Conversation, Handoff.conversation_id == Conversation.id)
        .outerjoin(Customer, Conversation.customer_id == Customer.id)
    )


class HandoffRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, handoff: Handoff) -> Handoff:
        """Add ``handoff`` and flush, so it has its id."""
        self.session.add(handoff)
        self.session.flush()
        return handoff

    def open_for(self, conversation_id: int) -> Optional[Handoff]:
        """The conversation's waiting or active handoff, if it has one."""
        return self.session.scalars(
            select(Handoff).where(Handoff.conversation_id == conversation_id, Handoff.status.in_(list(OPEN)))
        ).first()

    def open_id_of(self, sender_id: str) -> Optional[int]:
        """The id of the newest open handoff of conversation ``sender_id``."""
        return self.session.scalar(
            select(Handoff.id)
            .join(Conversation, Handoff.conversation_id == Conversation.id)
            .where(Conversation.sender_id == sender_id, Handoff.status.in_(OPEN))
            .order_by(Handoff.id.desc())
        )

    def waiting_count(self) -> int:
        """How many handoffs wait for an agent, across all conversations."""
        return (
            self.session.scalar(
                select(func.count()).select_from(Handoff).where(Handoff.status == HandoffStatus.WAITING)
            )
            or 0
        )

    def with_conversation(self, handoff_id: int) -> Optional[HandoffRow]:
        """The handoff, its conversation and customer name, read afresh (not from the session's cache)."""
        row = self.session.execute(
            _with_conversation().where(Handoff.id == handoff_id).execution_options(populate_existing=True)
        ).first()
        return HandoffRow(*row) if row is not None else None

    def open_rows(self) -> list[HandoffRow]:
        """Every waiting or active handoff, oldest request first."""
        rows = self.session.execute(
            _with_conversation().where(Handoff.status.in_(OPEN)).order_by(Handoff.requested_at, Handoff.id)
        ).all()
        return [HandoffRow(*row) for row in rows]

    def requested_between(self, since: datetime, until: datetime) -> list[HandoffRow]:
        """Every handoff requested from ``since`` to ``until`` (both included), oldest first."""
        rows = self.session.execute(
            _with_conversation()
            .where(Handoff.requested_at >= since, Handoff.requested_at <= until)
            .order_by(Handoff.requested_at)
        ).all()
        return [HandoffRow(*row) for row in rows]

    def accept(self, handoff_id: int, agent: str, now: datetime) -> bool:
        """Give a waiting handoff to ``agent`` in one conditional UPDATE; ``False`` if it was not waiting
        (another agent got there first, whatever the engine's locking)."""
        result = self.session.execute(
            update(Handoff)
            .where(Handoff.id == handoff_id, Handoff.status == HandoffStatus.WAITING)
            .values(status=HandoffStatus.ACTIVE, agent=agent, accepted_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount) == 1  # type: ignore[attr-defined]

    def resolve(self, handoff_id: int, resolution: str, now: datetime) -> bool:
        """End an active handoff in one conditional UPDATE; ``False`` if it was not active any more."""
        result = self.session.execute(
            update(Handoff)
            .where(Handoff.id == handoff_id, Handoff.status == HandoffStatus.ACTIVE)
            .values(status=HandoffStatus.RESOLVED, resolved_at=now, resolution=resolution)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount) == 1  # type: ignore[attr-defined]
