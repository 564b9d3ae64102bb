"""The agent console's data: the queue, a conversation with the customer's context card, taking a
conversation over, replying, applying an offer and handing the conversation back to the assistant.

Every route needs a logged-in staff account (401 otherwise). What the customer
sees goes through Rasa's HTTP API (:mod:`bot.web.rasa_client`): the agent's
messages carry their login as ``author`` and their display name only for the
customer.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from analytics.core.errors import CustomerNotFound, InvalidInput, NotAllowed
from analytics.usecases import agent_context, support
from analytics.usecases.staff import UserView
from bot.logging_setup import bind_conversation
from bot.web.context import Agent, WebContext, conversation_in_logs
from bot.web.rasa_client import AGENT_PREFIX
from bot.web.schemas import (
    ConversationOut,
    ConversationUpdate,
    HandBackIn,
    HandoffAnswer,
    MeOut,
    MessageIn,
    OfferAnswer,
    OfferIn,
    QueueAnswer,
    SentOut,
    refusals,
    to_json,
)
from bot.web.transcript import last_index, transcript

#: slot the bot reads to know a person had the conversation (see README: handoff)
HANDED_BACK_SLOT = "handed_back_at"


def author(user: UserView) -> str:
    return AGENT_PREFIX + user.username


def display(user: UserView) -> str:
    """What the customer sees: the display name, never the login name."""
    return user.display_name or ""


def greeting(user: UserView, rest: str) -> str:
    who = (
        f"I'm {user.display_name} from the customer service team"
        if user.display_name
        else ("I'm from the customer service team")
    )
    return f"Hi, {who}. {rest}"


def router(web: WebContext) -> APIRouter:
    """The console's data routes of the app ``web`` belongs to."""
    routes = APIRouter(responses=refusals(401, 404, 409, 502), dependencies=[Depends(conversation_in_logs)])
    new_uow, clock, rasa = web.new_uow, web.clock, web.rasa

    def conversation_state(sender_id: str, after: int) -> dict[str, Any]:
        tracker = rasa.tracker(sender_id)
        return {
            "sender_id": sender_id,
            "paused": bool(tracker.get("paused")),
            "handoff": to_json(support.open_handoff_of(new_uow(), sender_id, clock())),
            "lines": [line.to_json() for line in transcript(tracker, after=after)],
            "last_index": last_index(tracker),
        }

    def held_by(user: UserView, sender_id: str) -> support.HandoffRecord:
        handoff = support.open_handoff_of(new_uow(), sender_id, clock())
        if handoff is None or handoff.status != "active":
            raise NotAllowed("accept or join the conversation first.")
        if handoff.agent != user.username:
            raise NotAllowed(f"{handoff.agent} has this conversation.")
        return handoff

    @routes.get("/api/console/me", response_model=MeOut)
    def me(user: Agent) -> dict[str, Any]:
        return {"username": user.username, "role": user.role}

    @routes.get("/api/console/queue", response_model=QueueAnswer)
    def queue(user: Agent) -> dict[str, Any]:
        now = clock()
        return {"now": to_json(now), "queue": to_json(support.queue(new_uow(), now))}

    @routes.get("/api/console/conversations/{sender_id}", response_model=ConversationOut)
    def conversation(user: Agent, sender_id: str) -> dict[str, Any]:
        """A conversation as the agent first sees it: transcript, handoff and the customer's context card."""
        state = conversation_state(sender_id, -1)
        customer_id = support.conversation_customer(new_uow(), sender_id)
        card = None
        if customer_id is not None:
            try:
                card = agent_context.context_card(new_uow(), customer_id, clock(), artifacts=web.artifacts)
            except CustomerNotFound:
                card = None
        return {**state, "customer_id": customer_id, "card": to_json(card)}

    @routes.get("/api/console/conversations/{sender_id}/transcript", response_model=ConversationUpdate)
    def conversation_update(user: Agent, sender_id: str, after: Annotated[int, Query(ge=-1)] = -1) -> dict[str, Any]:
        """What is new in a conversation since line ``after`` (the console polls this)."""
        return conversation_state(sender_id, after)

    @routes.post("/api/console/handoffs/{handoff_id}/accept", response_model=HandoffAnswer)
    def accept(user: Agent, handoff_id: int) -> dict[str, Any]:
        record = support.accept(new_uow(), handoff_id, user.username, clock())
        bind_conversation(record.sender_id)
        if web.metrics is not None:
            web.metrics.taken(record.wait_seconds)
        rasa.pause(
            record.sender_id,
            text=greeting(user, "I can see our conversation so far."),
            author=author(user),
            author_name=display(user),
        )
        return {"handoff": to_json(record)}

    @routes.post("/api/console/conversations/{sender_id}/pickup", response_model=HandoffAnswer)
    def pick_up(user: Agent, sender_id: str) -> dict[str, Any]:
        record = support.pick_up(new_uow(), sender_id, user.username, clock())
        if web.metrics is not None:
            web.metrics.taken(record.wait_seconds)
        rasa.pause(
            sender_id,
            text=greeting(user, "I've joined the chat to help."),
            author=author(user),
            author_name=display(user),
        )
        return {"handoff": to_json(record)}

    @routes.post("/api/console/conversations/{sender_id}/messages", status_code=201, response_model=SentOut)
    def reply(user: Agent, sender_id: str, body: MessageIn) -> dict[str, Any]:
        held_by(user, sender_id)
        text = body.text.strip()
        if not text:
            raise InvalidInput("the message is empty.")
        rasa.say(sender_id, text, author=author(user), author_name=display(user))
        return {"sent": True}

    @routes.post("/api/console/conversations/{sender_id}/offer", response_model=OfferAnswer)
    def apply_offer(user: Agent, sender_id: str, body: OfferIn) -> dict[str, Any]:
        held_by(user, sender_id)
        customer_id = support.conversation_customer(new_uow(), sender_id)
        if customer_id is None:
            raise NotAllowed("this conversation is not linked to a customer, so there is no offer to apply.")
        decision = agent_context.apply_offer(new_uow(), customer_id, body.code, clock())
        rasa.say(
            sender_id,
            f"I've applied {decision.name} to your account: {decision.description}",
            author=author(user),
            author_name=display(user),
            custom={"offer": {"code": decision.code, "name": decision.name}},
        )
        return {"offer": to_json(decision)}

    @routes.post("/api/console/handoffs/{handoff_id}/handback", response_model=HandoffAnswer)
    def hand_back(user: Agent, handoff_id: int, body: HandBackIn) -> dict[str, Any]:
        # check everything the service will before the customer is told anything
        current = support.get_handoff(new_uow(), handoff_id, clock())
        bind_conversation(current.sender_id)
        if current.status != "active":
            raise NotAllowed("this conversation is not with an agent.")
        if current.agent != user.username and not user.is_operator:
            raise NotAllowed(f"only {current.agent}, who has this conversation, can hand it back.")
        if not body.resolution.strip():
            raise InvalidInput("say in a few words how the conversation ended (the resolution).")
        now = clock()
        rasa.resume(
            current.sender_id,
            text="You're back with the assistant. Thanks for your patience! Ask me anything, "
            'or say "agent" if you need a person again.',
            author=author(user),
            author_name=display(user),
            slots={HANDED_BACK_SLOT: to_json(now)},
        )
        record = support.hand_back(
            new_uow(), handoff_id, user.username, body.resolution, now, override=user.is_operator
        )
        return {"handoff": to_json(record)}

    return routes
