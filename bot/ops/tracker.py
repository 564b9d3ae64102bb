"""Rasa's SQL tracker store as the operators' tools read it: its ``events`` table, engines on it, its errors.

Rasa's ``SQLTrackerStore`` writes every event of every conversation as one row
of ``events``; :mod:`bot.ops.triage` reads the customers' messages from it,
:mod:`bot.ops.erasure` finds and purges a customer's conversations, and the
switchboard (:mod:`bot.ops.swap`) warms a new server up with the conversations
active a moment ago. Nothing here imports Rasa.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    URL,
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    desc,
    func,
    select,
)

from analytics.core.errors import CRMError

#: Rasa's ``events`` table (rasa/core/tracker_store.py, ``SQLTrackerStore.SQLEvent``).
tracker_metadata = MetaData()
events = Table(
    "events",
    tracker_metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False, index=True),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)

#: Sender ids of the switch's warm-up requests (:mod:`bot.ops.swap`): not customers.
WARMUP_PREFIX = "__warmup__"


class TrackerStoreError(CRMError):
    """A database error while reading or changing Rasa's tracker store (``kind``: the error's class name)."""

    def __init__(self, error: Exception) -> None:
        self.kind = error.__class__.__name__
        self.cause = getattr(error, "orig", None) or error
        super().__init__(f"cannot read the tracker store: {self.kind}: {self.cause}")


def tracker_engine(url: str | URL) -> Engine:
    """An engine on the tracker store that keeps SQL parameters out of error messages and logs."""
    return create_engine(url, hide_parameters=True)


def recent_conversations_reader(
    tracker_url: Any, *, window_seconds: float = 600.0, limit: int = 32
) -> Callable[[], list[str]]:
    """A function that lists the conversations with a customer message in the last ``window_seconds``."""
    engine = None

    def read() -> list[str]:
        nonlocal engine
        engine = engine or create_engine(tracker_url)
        last = func.max(events.c.id).label("last")
        query = (
            select(events.c.sender_id, last)
            .where(events.c.type_name == "user", events.c.timestamp >= time.time() - window_seconds)
            .group_by(events.c.sender_id)
            .order_by(desc(last))
            .limit(limit)
        )
        with engine.connect() as conn:
            return [row.sender_id for row in conn.execute(query) if not row.sender_id.startswith(WARMUP_PREFIX)]

    return read
