"""Human support: handoffs from the assistant to an agent, recorded in the store.

A handoff is requested by the bot (the customer asked for a person, the bot
failed to understand twice, the customer is upset) or by an agent picking a
conversation. It waits until an agent accepts it and ends when the agent
hands the conversation back; every step is timestamped so wait times and
volumes can be reported.

The life of a handoff::

    request_handoff ──> waiting ──accept──> active ──hand_back──> resolved
                        pick_up (an agent joins a conversation) ──┘ (active at once)

- **wait** is ``accepted_at - requested_at`` (for a handoff still waiting:
  how long it has waited so far); a pick-up has no wait.
- **handling time** is ``resolved_at - accepted_at``.

This module only keeps the record and reports on it (:func:`report`): one
subject, the handoff's life, which is why it is longer than most. Pausing and
resuming the bot is the caller's part (the agent console does it through
Rasa's HTTP API). What an agent sees about the customer is
:mod:`analytics.usecases.agent_context`. Times are naive UTC.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from analytics.core.clock import utc_now
from analytics.core.errors import InvalidInput, NotAllowed, NotFound
from analytics.security.throttle import Throttle
from analytics.store.models import Conversation, Handoff, HandoffStatus
from analytics.store.uow import SqlAlchemyUnitOfWork

REASONS = ("customer_request", "misunderstanding", "complaint", "agent_pickup", "error")
#: A conversation with no message for this long is no longer listed as live in the console.
LIVE_WINDOW = timedelta(minutes=30)
MAX_RESOLUTION_LENGTH = 500


@dataclass(frozen=True)
class HandoffView:
    id: int
    sender_id: str
    customer_id: Optional[int]
    status: str
    reason: str
    requested_at: datetime
    created: bool


@dataclass(frozen=True)
class HandoffRecord:
    """One handoff as the console and the report see it."""

    id: int
    sender_id: str
    channel: str
    customer_id: Optional[int]
    customer_name: Optional[str]
    status: str
    reason: str
    agent: Optional[str]
    requested_at: datetime
    accepted_at: Optional[datetime]
    resolved_at: Optional[datetime]
    resolution: Optional[str]
    #: seconds waited for an agent: until acceptance, or until ``now`` while still waiting
    wait_seconds: float
    #: seconds an agent had the conversation (``None`` until it is handed back)
    handling_seconds: Optional[float]


@dataclass(frozen=True)
class LiveConversation:
    """A recent conversation with no open handoff, which an agent may pick up."""

    sender_id: str
    channel: str
    customer_id: Optional[int]
    customer_name: Optional[str]
    started_at: datetime
    last_event_at: Optional[datetime]


@dataclass(frozen=True)
class Queue:
    #: waiting handoffs, longest wait first
    waiting: list[HandoffRecord]
    #: handoffs an agent has, oldest first
    active: list[HandoffRecord]
    #: recent conversations without an open handoff, most recent first
    live: list[LiveConversation]


@dataclass(frozen=True)
class HandoffReport:
    since: datetime
    #: the time the report was made (waits of handoffs still waiting run to it)
    until: datetime
    total: int
    by_reason: dict[str, int]
    by_status: dict[str, int]
    by_agent: dict[str, int]
    #: over handoffs an agent accepted (pick-ups included, with no wait)
    accepted: int
    average_wait_seconds: Optional[float]
    p90_wait_seconds: Optional[float]
    #: over handed-back handoffs
    average_handling_seconds: Optional[float]
    #: handoffs still waiting at ``until`` and the longest of their waits
    still_waiting: int
    longest_current_wait_seconds: Optional[float]


# --------------------------------------------------------------------------- requests and records


def _check_sender(sender_id: str) -> str:
    sender = str(sender_id or "").strip()
    if not sender or len(sender) > 128:
        raise InvalidInput(f"a conversation id is 1 to 128 characters, got {sender_id!r}.")
    return sender


def _check_agent(agent: str) -> str:
    name = str(agent or "").strip()
    if not name or len(name) > 64:
        raise InvalidInput(f"an agent name is 1 to 64 characters, got {agent!r}.")
    return name


def _locked_conversation(
    uow: SqlAlchemyUnitOfWork, sender: str, channel: str, customer_id: Optional[int], now: datetime
) -> Conversation:
    """The conversation row (created if missing), locked until the transaction ends: whoever opens a handoff
    for it (the customer asking, agents picking it up) does so one at a time. Call after ``uow.begin_write()``.
    """
    conversation = uow.conversations.get_or_create(sender, customer_id, channel[:32] or "web", now, lock=True)
    if customer_id is not None:
        conversation.customer_id = customer_id
    conversation.last_event_at = now
    return conversation


class QueueFull(NotAllowed):
    """Too many handoffs are waiting for an agent already; the customer is asked to write instead."""


def request_handoff(
    uow: SqlAlchemyUnitOfWork,
    *,
    sender_id: str,
    channel: str,
    customer_id: Optional[int],
    reason: str,
    now: datetime,
    attempts: Optional[Throttle] = None,
    client: Optional[str] = None,
    queue_max: Optional[int] = None,
) -> HandoffView:
    """Queue the conversation for an agent; an open handoff is reused, not duplicated.

    Two requests for one conversation at once make one handoff (the conversation row is
    locked; SQLite: the write lock). A new handoff counts against ``attempts`` per
    ``client`` address, and is refused when ``queue_max`` handoffs wait already.

    Raises
    ------
    TooManyAttempts
        This client asked for a person too often (new conversations included).
    QueueFull
        ``queue_max`` handoffs are waiting.
    """
    if reason not in REASONS:
        raise InvalidInput(f"handoff reason {reason!r} is not one of {', '.join(REASONS)}.")
    sender = _check_sender(sender_id)
    with uow:
        uow.begin_write()
        conversation = _locked_conversation(uow, sender, channel, customer_id, now)
        open_handoff = uow.handoffs.open_for(conversation.id)
        created = open_handoff is None
        if open_handoff is None:
            if attempts is not None:
                attempts.check({"client": client})
            if queue_max is not None:
                waiting = uow.handoffs.waiting_count()
                if waiting >= queue_max:
                    raise QueueFull(f"{waiting} conversations are waiting for an agent already.")
            open_handoff = Handoff(
                conversation_id=conversation.id, status=HandoffStatus.WAITING, reason=reason, requested_at=now
            )
            uow.handoffs.add(open_handoff)
        view = HandoffView(
            id=open_handoff.id,
            sender_id=sender,
            customer_id=conversation.customer_id,
            status=open_handoff.status.value,
            reason=open_handoff.reason,
            requested_at=open_handoff.requested_at,
            created=created,
        )
        uow.commit()
    if created and attempts is not None:
        attempts.record({"client": client})
    return view


def touch_conversation(
    uow: SqlAlchemyUnitOfWork, sender_id: str, *, channel: str, customer_id: Optional[int], now: datetime
) -> None:
    """Record that conversation ``sender_id`` is live (created on first contact).

    ``customer_id`` links it to a customer; ``None`` keeps whatever link it has
    (an anonymous page view never unlinks a verified conversation). One
    ``INSERT ... ON CONFLICT`` on both engines, so a page and the action server
    touching a new conversation at once cannot both insert it.
    """
    sender = _check_sender(sender_id)
    with uow:
        if customer_id is not None:
            uow.conversations.upsert(sender, customer_id, channel[:32] or "web", now)
        else:
            uow.conversations.touch(sender, channel[:32] or "web", now)
        uow.commit()


def register_page_conversation(
    uow: SqlAlchemyUnitOfWork, sender_id: str, *, customer_id: Optional[int], channel: str, now: datetime
) -> None:
    """A chat page opened conversation ``sender_id``, for the signed-in ``customer_id`` (``None``: anonymous).

    A page may start a conversation, and touch one it started, but never claim one
    that somebody else started: a conversation that exists already keeps its link,
    and a signed-in customer naming a conversation that is not theirs is refused
    (:class:`NotAllowed`). Conversation ids travel in URLs and logs; knowing one
    must not be enough to attach it to your account.
    """
    sender = _check_sender(sender_id)
    with uow:
        conversation = uow.conversations.get_or_create(sender, customer_id, channel[:32] or "web", now)
        if customer_id is not None and conversation.customer_id != customer_id:
            uow.rollback()
            raise NotAllowed("this conversation was started by someone else; start a new chat.")
        conversation.last_event_at = max(conversation.last_event_at or now, now)
        uow.commit()


def _seconds(later: Optional[datetime], earlier: Optional[datetime]) -> Optional[float]:
    if later is None or earlier is None:
        return None
    return max(0.0, (later - earlier).total_seconds())


def _record(handoff: Handoff, conversation: Conversation, customer_name: Optional[str], now: datetime) -> HandoffRecord:
    waited_until = handoff.accepted_at
    if waited_until is None:
        waited_until = handoff.resolved_at or now
    return HandoffRecord(
        id=handoff.id,
        sender_id=conversation.sender_id,
        channel=conversation.channel,
        customer_id=conversation.customer_id,
        customer_name=customer_name,
        status=handoff.status.value,
        reason=handoff.reason,
        agent=handoff.agent,
        requested_at=handoff.requested_at,
        accepted_at=handoff.accepted_at,
        resolved_at=handoff.resolved_at,
        resolution=handoff.resolution,
        wait_seconds=_seconds(waited_until, handoff.requested_at) or 0.0,
        handling_seconds=_seconds(handoff.resolved_at, handoff.accepted_at),
    )


def _load(uow: SqlAlchemyUnitOfWork, handoff_id: int, now: datetime) -> HandoffRecord:
    row = uow.handoffs.with_conversation(handoff_id)
    if row is None:
        raise NotFound(f"there is no handoff {handoff_id}.")
    return _record(row.handoff, row.conversation, row.customer_name, now)


def get_handoff(uow: SqlAlchemyUnitOfWork, handoff_id: int, now: datetime) -> HandoffRecord:
    """One handoff; :class:`NotFound` if there is none with this id."""
    with uow:
        return _load(uow, handoff_id, now)


def open_handoff_of(uow: SqlAlchemyUnitOfWork, sender_id: str, now: datetime) -> Optional[HandoffRecord]:
    """The waiting or active handoff of conversation ``sender_id``, if it has one."""
    with uow:
        handoff_id = uow.handoffs.open_id_of(sender_id)
        return _load(uow, handoff_id, now) if handoff_id is not None else None


def conversation_customer(uow: SqlAlchemyUnitOfWork, sender_id: str) -> Optional[int]:
    """The customer conversation ``sender_id`` is linked to (``None``: anonymous or unknown)."""
    with uow:
        return uow.conversations.customer_of(sender_id)


def conversation_exists(uow: SqlAlchemyUnitOfWork, sender_id: str) -> bool:
    with uow:
        return uow.conversations.exists(sender_id)


def queue(uow: SqlAlchemyUnitOfWork, now: datetime, *, live_within: timedelta = LIVE_WINDOW) -> Queue:
    """What the console lists: waiting handoffs with their wait so far, active ones, and live conversations.

    Parameters
    ----------
    uow : SqlAlchemyUnitOfWork
    now : datetime
        The clock the waits are measured against (naive UTC).
    live_within : timedelta
        Conversations with an event within this window and no open handoff are "live".
    """
    with uow:
        records = [_record(h, c, name, now) for h, c, name in uow.handoffs.open_rows()]
        live_rows = uow.conversations.live_without_handoff(now - live_within)
        live = [
            LiveConversation(
                sender_id=c.sender_id,
                channel=c.channel,
                customer_id=c.customer_id,
                customer_name=name,
                started_at=c.started_at,
                last_event_at=c.last_event_at,
            )
            for c, name in live_rows
        ]
    return Queue(
        waiting=[r for r in records if r.status == HandoffStatus.WAITING.value],
        active=[r for r in records if r.status == HandoffStatus.ACTIVE.value],
        live=live,
    )


def accept(uow: SqlAlchemyUnitOfWork, handoff_id: int, agent: str, now: datetime) -> HandoffRecord:
    """Agent ``agent`` takes a waiting handoff.

    Accepting one's own active handoff again changes nothing. Two agents
    accepting at once: exactly one gets it (one conditional UPDATE), the other
    gets :class:`NotAllowed`, as for a handoff that is resolved.
    """
    name = _check_agent(agent)
    with uow:
        taken = uow.handoffs.accept(handoff_id, name, now)
        record = _load(uow, handoff_id, now)
        if not taken:
            if record.status == HandoffStatus.ACTIVE.value and record.agent == name:
                return record
            if record.status == HandoffStatus.ACTIVE.value:
                raise NotAllowed(f"{record.agent} is already talking to this customer.")
            raise NotAllowed("this conversation was already handed back to the assistant.")
        uow.commit()
        return record


def pick_up(
    uow: SqlAlchemyUnitOfWork, sender_id: str, agent: str, now: datetime, *, channel: str = "socketio"
) -> HandoffRecord:
    """Agent ``agent`` joins conversation ``sender_id`` on their own initiative.

    With no open handoff, an active one with reason ``agent_pickup`` and no wait
    is created (and the conversation row if it had none); a waiting handoff is
    accepted instead (see :func:`accept`); another agent's active one raises
    :class:`NotAllowed`.
    """
    sender = _check_sender(sender_id)
    name = _check_agent(agent)
    with uow:
        uow.begin_write()
        conversation = _locked_conversation(uow, sender, channel, None, now)
        current = uow.handoffs.open_for(conversation.id)
        if current is not None:
            existing = current.id
        else:
            handoff = Handoff(
                conversation_id=conversation.id,
                status=HandoffStatus.ACTIVE,
                reason="agent_pickup",
                requested_at=now,
                accepted_at=now,
                agent=name,
            )
            uow.handoffs.add(handoff)
            record = _load(uow, handoff.id, now)
            uow.commit()
            return record
    # a handoff is open already: take it the way accepting does (the first agent wins)
    return accept(uow, existing, name, now)


def hand_back(
    uow: SqlAlchemyUnitOfWork,
    handoff_id: int,
    agent: str,
    resolution: str,
    now: datetime,
    *,
    override: bool = False,
) -> HandoffRecord:
    """End an active handoff: the conversation goes back to the assistant.

    Parameters
    ----------
    uow : SqlAlchemyUnitOfWork
    handoff_id : int
    agent : str
        Must be the agent who has it, unless ``override`` (an operator closing a colleague's).
    resolution : str
        What came of it, in a few words (required, up to 500 characters).
    now : datetime

    Raises
    ------
    NotFound
        No such handoff.
    NotAllowed
        It is not active, or it is another agent's.
    InvalidInput
        An empty or over-long resolution.
    """
    name = _check_agent(agent)
    text = " ".join(str(resolution or "").split())
    if not text:
        raise InvalidInput("say in a few words how the conversation ended (the resolution).")
    if len(text) > MAX_RESOLUTION_LENGTH:
        raise InvalidInput(f"the resolution is {len(text)} characters long; keep it under {MAX_RESOLUTION_LENGTH}.")
    with uow:
        record = _load(uow, handoff_id, now)
        if record.status != HandoffStatus.ACTIVE.value:
            raise NotAllowed(
                "this conversation has not been accepted by an agent yet."
                if record.status == HandoffStatus.WAITING.value
                else "this conversation was already handed back."
            )
        if record.agent != name and not override:
            raise NotAllowed(f"only {record.agent}, who has this conversation, can hand it back.")
        if not uow.handoffs.resolve(handoff_id, text, now):
            raise NotAllowed("this conversation was already handed back.")
        record = _load(uow, handoff_id, now)
        uow.commit()
        return record


# --------------------------------------------------------------------------- report


def _p90(values: Sequence[float]) -> Optional[float]:
    """Nearest-rank 90th percentile (a value that occurred)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def _mean(values: Sequence[float]) -> Optional[float]:
    return sum(values) / len(values) if values else None


def report(uow: SqlAlchemyUnitOfWork, since: datetime, now: Optional[datetime] = None) -> HandoffReport:
    """Volumes and times of the handoffs requested from ``since`` until ``now``.

    Waits average over handoffs an agent accepted (a pick-up waits 0 s);
    handling time over those handed back; handoffs still waiting are counted
    separately, with the longest wait so far at ``now`` (default: the current
    UTC time).
    """
    now = now or utc_now()
    with uow:
        records = [_record(h, c, name, now) for h, c, name in uow.handoffs.requested_between(since, now)]
    accepted = [r for r in records if r.accepted_at is not None]
    waits = [r.wait_seconds for r in accepted]
    handled = [r.handling_seconds for r in records if r.handling_seconds is not None]
    waiting = [r for r in records if r.status == HandoffStatus.WAITING.value]
    return HandoffReport(
        since=since,
        until=now,
        total=len(records),
        by_reason=dict(Counter(r.reason for r in records).most_common()),
        by_status={s.value: sum(r.status == s.value for r in records) for s in HandoffStatus},
        by_agent=dict(Counter(r.agent for r in accepted if r.agent).most_common()),
        accepted=len(accepted),
        average_wait_seconds=_mean(waits),
        p90_wait_seconds=_p90(waits),
        average_handling_seconds=_mean(handled),
        still_waiting=len(waiting),
        longest_current_wait_seconds=max((r.wait_seconds for r in waiting), default=None),
    )
