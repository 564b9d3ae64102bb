"""The start of a conversation session: a signed-in customer is recognised at once."""

from __future__ import annotations

import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import IDENTITY_SLOT, customer_from_channel
from actions.respond import channel_of
from analytics.core.clock import utc_now
from analytics.security.tokens import sign_conversation_identity
from analytics.usecases import store
from analytics.usecases.identity import link_conversation

logger = logging.getLogger(__name__)


class ActionSessionStart(Action):
    """A new session starts with nothing of the last one: not its request, not who the customer was.

    (Rasa starts one after an hour of silence, or on ``/restart``.) A page
    that signs the customer in passes its token again, and they are known at
    once; anyone else verifies again.
    """

    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        customer_id = customer_from_channel(tracker)
        if customer_id is not None:
            events.append(SlotSet(IDENTITY_SLOT, sign_conversation_identity(customer_id, tracker.sender_id)))
            try:
                link_conversation(store.unit_of_work(), tracker.sender_id, customer_id, channel_of(tracker), utc_now())
            except Exception:
                logger.exception("could not link conversation %s", tracker.sender_id)
        events.append(ActionExecuted("action_listen"))
        return events
