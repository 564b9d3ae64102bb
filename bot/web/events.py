"""Conversations' events from Rasa's event broker, fanned out to the open agent consoles.

Rasa's pika broker publishes every tracker event to a fanout exchange on RabbitMQ (``rasa-exchange``). Each web
app process reads it through a queue of its own (server-named, exclusive, deleted when the process goes), so
every process sees every event and nothing piles up while the web app is down. :class:`EventHub` hands each
event to every connected console (:mod:`bot.web.routes.events` streams them as server-sent events); a console
that reads too slowly loses the oldest events and is told to resynchronise.

Only what a console needs to know that something happened is passed on: the conversation, the event's type
and time. The console then fetches what is new in that conversation as before, so what an agent sees is
still rendered in one place (:mod:`bot.web.transcript`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

log = logging.getLogger(__name__)

#: events a console acts on; others (slots, action executions...) are not passed on
CONSOLE_EVENTS = frozenset(
    {"user", "bot", "pause", "resume", "restart", "session_started", "action_execution_rejected"}
)
#: events a console may lag behind before it must resynchronise
CLIENT_BACKLOG = 256


@dataclass(frozen=True)
class ConversationEvent:
    sender_id: str
    event: str
    timestamp: Optional[float]

    def to_json(self) -> dict[str, Any]:
        return {"sender_id": self.sender_id, "event": self.event, "timestamp": self.timestamp}


def parse_event(body: bytes) -> Optional[ConversationEvent]:
    """The console's view of one broker message, or ``None`` for what a console does not act on or cannot
    read (a message is never trusted to be well formed)."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    sender, kind, at = data.get("sender_id"), data.get("event"), data.get("timestamp")
    if not isinstance(sender, str) or not sender or len(sender) > 256 or kind not in CONSOLE_EVENTS:
        return None
    return ConversationEvent(sender, str(kind), float(at) if isinstance(at, (int, float)) else None)


@dataclass(eq=False)  # one per console, told apart by identity
class Subscription:
    queue: asyncio.Queue[ConversationEvent] = field(default_factory=lambda: asyncio.Queue(CLIENT_BACKLOG))
    #: events were dropped since the client last read: it must refetch
    overflowed: bool = False


class EventHub:
    """Every connected console's subscription, and whether the broker feed is up."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self.connected = asyncio.Event()

    @property
    def listeners(self) -> int:
        return len(self._subscriptions)

    def publish(self, event: ConversationEvent) -> None:
        for sub in self._subscriptions:
            if sub.queue.full():
                sub.queue.get_nowait()
                sub.overflowed = True
            sub.queue.put_nowait(event)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        sub = Subscription()
        self._subscriptions.add(sub)
        try:
            yield sub
        finally:
            self._subscriptions.discard(sub)


class BrokerConsumer:
    """Reads the broker's exchange into an :class:`EventHub` until stopped, reconnecting after a failure."""

    def __init__(self, hub: EventHub, url: str, exchange: str, *, retry_seconds: float = 5.0) -> None:
        self.hub, self.url, self.exchange, self.retry_seconds = hub, url, exchange, retry_seconds

    async def run(self) -> None:
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker is down or refused us: the consoles poll meanwhile
                log.warning("event broker unavailable, consoles poll (retry in %.0f s): %s", self.retry_seconds, exc)
            self.hub.connected.clear()
            await asyncio.sleep(self.retry_seconds)

    async def _consume(self) -> None:
        import aio_pika

        connection = await aio_pika.connect(self.url, timeout=5)
        async with connection:
            channel = await connection.channel()
            # the same declaration as Rasa's (fanout, not durable), so whichever starts first creates it
            exchange = await channel.declare_exchange(self.exchange, aio_pika.ExchangeType.FANOUT)
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            await queue.bind(exchange)
            self.hub.connected.set()
            log.info("reading conversation events from the broker's exchange %s", self.exchange)
            # no acknowledgements: the queue is this process's alone and an event missed while it restarts is
            # made up by the consoles' own fetches
            async with queue.iterator(no_ack=True) as messages:
                async for message in messages:
                    event = parse_event(message.body)
                    if event is not None:
                        self.hub.publish(event)
        raise ConnectionError("the broker closed the connection")


async def sse_stream(
    hub: EventHub, *, tick_seconds: float = 5.0, lifetime_seconds: float = 300.0
) -> AsyncIterator[str]:
    """Server-sent events for one console: ``status`` (whether the broker feed is up) at the start and whenever
    it changes, one ``conversation`` event per conversation event, ``resync`` after a loss, and a comment line
    as a keep-alive every ``tick_seconds`` without events.

    The stream ends after ``lifetime_seconds``: the browser reconnects (``retry``) and its session is checked
    again, so a disabled account stops receiving events within that time."""
    loop = asyncio.get_running_loop()
    ends = loop.time() + lifetime_seconds
    with hub.subscribe() as sub:
        live: Optional[bool] = None
        yield "retry: 3000\n\n"
        while loop.time() < ends:
            if hub.connected.is_set() != live:
                live = hub.connected.is_set()
                yield f"event: status\ndata: {json.dumps({'live': live})}\n\n"
            try:
                event = await asyncio.wait_for(sub.queue.get(), timeout=tick_seconds)
            except asyncio.TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if sub.overflowed:
                sub.overflowed = False
                yield "event: resync\ndata: {}\n\n"
            yield f"event: conversation\ndata: {json.dumps(event.to_json())}\n\n"
