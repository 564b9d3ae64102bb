"""The console's live feed: conversations' events from Rasa's event broker as server-sent events
(:mod:`bot.web.events`). Without a broker (``CRM_EVENT_BROKER_URL`` empty) the route answers 404 and the
console keeps polling every second."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import StreamingResponse

from bot.web.context import Agent, WebContext
from bot.web.events import BrokerConsumer, EventHub, sse_stream
from bot.web.schemas import refusals


def router(web: WebContext) -> APIRouter:
    """The live feed of the app ``web`` belongs to; it reads the broker while the app runs."""
    url, exchange = web.settings.event_broker_url, web.settings.event_broker_exchange
    hub = EventHub() if url else None

    @contextlib.asynccontextmanager
    async def read_broker(_app: Any) -> AsyncIterator[None]:
        if hub is None:
            yield
            return
        task = asyncio.create_task(BrokerConsumer(hub, url, exchange).run(), name="event-broker")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    routes = APIRouter(lifespan=read_broker, responses=refusals(401, 404))

    @routes.get("/api/console/events", response_class=StreamingResponse)
    async def events(user: Agent) -> StreamingResponse:
        """Server-sent events: ``status`` ({"live": bool}), ``conversation`` ({"sender_id", "event",
        "timestamp"}) for each message, pause, resume or restart, and ``resync`` when some were lost."""
        if hub is None:
            raise HTTPException(
                status_code=404, detail="no event broker is configured (CRM_EVENT_BROKER_URL): poll instead."
            )
        return StreamingResponse(
            sse_stream(hub),
            media_type="text/event-stream",
            # no proxy (the gateway included) may hold events back to fill a buffer
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return routes
