"""The assistant's one answer to every customer message: ``action_respond``.

Rasa's rules send every user message here (``data/rules.yml``); the
conversation policy lives in :mod:`actions.dialogue.manager`. This action
only translates: the tracker's latest parse and ``dialogue`` slot in, the
replies and slot events out. A failure of the store (or a bug) becomes an
apology with the offer of a person, never a stack trace, and leaves the
conversation's state as it was before the message.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import IDENTITY_SLOT, current_customer, customer_from_channel
from actions.dialogue.context import Context
from actions.dialogue.manager import Dialogue
from actions.dialogue.state import SLOT, DialogueState
from actions.dialogue.understand import Turn
from analytics.core.clock import utc_now
from analytics.core.settings import get_settings
from analytics.security.throttle import client_key, handoff_throttle, identity_throttle
from analytics.security.tokens import sign_conversation_identity
from analytics.usecases import store

logger = logging.getLogger(__name__)


def channel_of(tracker: Tracker) -> str:
    return str(tracker.get_latest_input_channel() or "rest")[:32]


def client_of(tracker: Tracker) -> Optional[str]:
    """The client address the channel put in the message's metadata, if it names a remote client
    (:func:`analytics.security.throttle.client_key`)."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    return client_key(metadata.get("client_address") if isinstance(metadata, dict) else None)


class ActionRespond(Action):
    def name(self) -> str:
        return "action_respond"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        events: list[EventType] = []
        # a signed-in page's token wins; otherwise the identity this conversation verified, if still fresh
        customer_id = customer_from_channel(tracker) or current_customer(tracker)
        stored = tracker.get_slot(SLOT)
        state = DialogueState.from_slot(copy.deepcopy(stored))
        settings = get_settings()
        ctx = Context(
            sender_id=tracker.sender_id,
            channel=channel_of(tracker),
            now=utc_now(),
            uow=store.unit_of_work,
            customer_id=customer_id,
            customer_name=tracker.get_slot("customer_name") if customer_id is not None else None,
            client=client_of(tracker),
            identity_attempts=identity_throttle(settings),
            handoff_attempts=handoff_throttle(settings),
            handoff_queue_max=settings.handoff_queue_max,
        )
        turn = Turn.from_parse(tracker.latest_message)
        try:
            Dialogue(ctx, state, turn).respond()
        except Exception:
            logger.exception("action_respond failed for conversation %s", tracker.sender_id)
            dispatcher.utter_message(response="utter_store_unavailable")
            return events
        send(dispatcher, ctx.replies)
        events.append(SlotSet(SLOT, state.to_slot()))
        if ctx.customer_id is not None:
            # signed afresh at every message: the identity lasts 30 minutes after the customer's last one
            events.append(SlotSet(IDENTITY_SLOT, sign_conversation_identity(ctx.customer_id, tracker.sender_id)))
        elif tracker.get_slot(IDENTITY_SLOT):
            events.append(SlotSet(IDENTITY_SLOT, None))  # expired or forged: forget it, and the name with it
        if ctx.customer_id is None and tracker.get_slot("customer_name"):
            events.append(SlotSet("customer_name", None))
        elif ctx.customer_name and ctx.customer_name != tracker.get_slot("customer_name"):
            events.append(SlotSet("customer_name", ctx.customer_name))
        if any(e.get("event") == "pause" for e in ctx.events):
            events.append(ConversationPaused())
        return events


def send(dispatcher: CollectingDispatcher, replies: list[dict[str, Any]]) -> None:
    """Utter each reply: a response with its variables (and buttons), or a JSON message."""
    for reply in replies:
        reply = dict(reply)
        response: Optional[str] = reply.pop("response", None)
        json_message = reply.pop("json_message", None)
        buttons = reply.pop("buttons", None)
        if response is None:
            dispatcher.utter_message(json_message=json_message)
            continue
        kwargs: dict[str, Any] = {"response": response, **reply}
        if buttons:
            kwargs["buttons"] = buttons
        if json_message is not None:
            kwargs["json_message"] = json_message
        dispatcher.utter_message(**kwargs)
