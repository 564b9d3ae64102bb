"""The start of a conversation session: a signed-in customer is recognised at once."""

from __future__ import annotations

import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import store
from actions.base import customer_from_channel
from actions.dialogue.state import SLOT as DIALOGUE_SLOT
from actions.respond import channel_of, utcnow
from analytics import account

logger = logging.getLogger(__name__)

#: not carried into a new session: what the bot was in the middle of belongs to the old one
NOT_CARRIED = frozenset({"session_started_metadata", "requested_slot", DIALOGUE_SLOT})


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        events.extend(
            SlotSet(name, value)
            for name, value in tracker.slots.items()
            if value is not None and name not in NOT_CARRIED
        )
        customer_id = customer_from_channel(tracker)
        if customer_id is not None and str(customer_id) != tracker.get_slot("customer_id"):
            events.append(SlotSet("customer_id", str(customer_id)))
            try:
                account.link_conversation(
                    store.unit_of_work(), tracker.sender_id, customer_id, channel_of(tracker), utcnow()
                )
            except Exception:
                logger.exception("could not link conversation %s", tracker.sender_id)
        events.append(ActionExecuted("action_listen"))
        return events
