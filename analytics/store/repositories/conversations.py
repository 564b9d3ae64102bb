"""Chat conversations (``conversations``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Optional

from sqlalchemy import String, cast, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from analytics.store.models import Conversation, Customer, Handoff
from analytics.store.repositories.handoffs import OPEN


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

    def touch(self, sender_id: str, channel: str, now: datetime) -> None:
        """Create the anonymous conversation of ``sender_id`` or move its last event to ``now``, keeping its
        customer link; one ``INSERT ... ON CONFLICT (sender_id) DO UPDATE`` (both engines)."""
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(Conversation).values(
            sender_id=sender_id, customer_id=None, channel=channel, started_at=now, last_event_at=now
        )
        self.session.execute(
            stmt.on_conflict_do_update(index_elements=[Conversation.sender_id], set_={"last_event_at": now})
        )

    def customer_of(self, sender_id: str) -> Optional[int]:
        """The customer conversation ``sender_id`` is linked to (``None``: anonymous or unknown)."""
        return self.session.scalar(select(Conversation.customer_id).where(Conversation.sender_id == sender_id))

    def exists(self, sender_id: str) -> bool:
        return self.session.scalar(select(Conversation.id).where(Conversation.sender_id == sender_id)) is not None

    def live_without_handoff(self, since: datetime, limit: int = 100) -> list[tuple[Conversation, Optional[str]]]:
        """Conversations with an event from ``since`` on and no waiting or active handoff, with their customer's
        name, most recent first."""
        busy = select(Handoff.conversation_id).where(Handoff.status.in_(OPEN))
        last = func.coalesce(Conversation.last_event_at, Conversation.started_at)
        rows = self.session.execute(
            select(Conversation, Customer.name)
            .outerjoin(Customer, Conversation.customer_id == Customer.id)
            .where(last >= since, Conversation.id.not_in(busy))
            .order_by(last.desc(), Conversation.id)
            .limit(limit)
        ).all()
        return [(conversation, name) for conversation, name in rows]

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
