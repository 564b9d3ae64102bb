"""The customer's chat page: list the conversation the page opened, and redraw it after a reload.

The chat widget talks to Rasa's socket.io channel directly; these routes are
what else the page needs. The page's session id (the conversation id) is its
secret: whoever knows it may read that conversation.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from analytics.usecases import support
from bot.logging_setup import bind_conversation
from bot.web.context import WebContext, conversation_in_logs
from bot.web.schemas import ChatHistoryOut, SessionIn, refusals
from bot.web.transcript import chat_status, transcript


def router(web: WebContext) -> APIRouter:
    """The chat page's routes of the app ``web`` belongs to."""
    routes = APIRouter(responses=refusals(409, 429, 502), dependencies=[Depends(conversation_in_logs)])

    @routes.post("/api/chat/register", status_code=204)
    @web.limiter.limit("60/minute")
    def register_chat(request: Request, body: SessionIn) -> Response:
        """The page opened (or reopened) conversation ``session_id``: list it for agents, linked if signed in.

        409 when a signed-in customer names a conversation somebody else started.
        """
        bind_conversation(body.session_id)
        support.register_page_conversation(
            web.new_uow(),
            body.session_id,
            channel="socketio",
            customer_id=web.signed_in_customer(request),
            now=web.clock(),
        )
        return Response(status_code=204)

    @routes.get("/api/chat/history", response_model=ChatHistoryOut)
    def chat_history(session_id: Annotated[str, Query(min_length=8, max_length=128)]) -> dict[str, Any]:
        """The conversation so far, to redraw the chat after a reload (the session id is the page's secret).

        Only for conversations a page registered: asking Rasa for an unknown one would create it.
        """
        if not support.conversation_exists(web.new_uow(), session_id):
            return {"lines": [], "status": {"with": "assistant", "agent": None}}
        tracker = web.rasa.tracker(session_id)
        lines = [line for line in transcript(tracker) if line.kind != "system"]
        return {"lines": [customer_line(line.to_json()) for line in lines], "status": chat_status(tracker)}

    return routes


def customer_line(line: dict[str, Any]) -> dict[str, Any]:
    """A transcript line as the customer's own page may show it: no internal flags, and an agent's display name,
    never their login name."""
    shown = {key: line[key] for key in ("index", "at", "kind", "text", "buttons", "products")}
    shown["author"] = line.get("author_name") or None
    return shown
