"""Conversation control: session start, identity, the details form, confirmations, fallbacks, handoff."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from typing import Any, Optional

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import (
    ActionExecuted,
    ConversationPaused,
    EventType,
    SessionStarted,
    SlotSet,
)
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import store
from actions.base import NEEDS, ShopAction, current_customer, customer_from_channel
from analytics import account, support
from analytics.errors import IdentityNotVerified, InvalidInput
from analytics.services import normalise_order_number

logger = logging.getLogger(__name__)


def _utcnow() -> datetime:
    """Naive UTC, the store's convention (the console computes wait times from it)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_IDENTITY_ATTEMPTS = 3


def _channel(tracker: Tracker) -> str:
    return str(tracker.get_latest_input_channel() or "rest")[:32]


class ActionSessionStart(Action):
    """Start a session; a signed-in customer (valid token in the metadata) is recognised at once."""

    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        carried = [
            SlotSet(name, value)
            for name, value in tracker.slots.items()
            if value is not None and name not in ("session_started_metadata", "requested_slot")
        ]
        events.extend(carried)
        customer_id = customer_from_channel(tracker)
        if customer_id is not None and str(customer_id) != tracker.get_slot("customer_id"):
            events.append(SlotSet("customer_id", str(customer_id)))
            try:
                account.link_conversation(
                    store.unit_of_work(), tracker.sender_id, customer_id, _channel(tracker), _utcnow()
                )
            except Exception:
                logger.exception("could not link conversation %s", tracker.sender_id)
        events.append(ActionExecuted("action_listen"))
        return events


class ActionGreet(Action):
    def name(self) -> str:
        return "action_greet"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        customer_id = current_customer(tracker) or customer_from_channel(tracker)
        name = tracker.get_slot("customer_name")
        if customer_id is not None and not name:
            try:
                name = account.customer_name(store.unit_of_work(), customer_id)
            except Exception:
                logger.exception("could not read the name of customer %s", customer_id)
        if name:
            dispatcher.utter_message(response="utter_greet_known", name=name.split()[0])
        else:
            dispatcher.utter_message(response="utter_greet")
        events: list[EventType] = []
        if customer_id is not None and current_customer(tracker) is None:
            events.append(SlotSet("customer_id", str(customer_id)))
        if name:
            events.append(SlotSet("customer_name", name))
        return events


class ValidateDetailsForm(FormValidationAction):
    """Ask only for what the pending request needs; check identity against the store."""

    def name(self) -> str:
        return "validate_details_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        needs = NEEDS.get(tracker.get_slot("pending_action") or "", frozenset())
        if (tracker.get_slot("identity_failures") or 0) >= MAX_IDENTITY_ATTEMPTS:
            return []
        slots: list[str] = []
        if "identity" in needs and current_customer(tracker) is None:
            slots += ["email", "order_number"]
        if "order" in needs and "order_number" not in slots:
            slots.append("order_number")
        for need, slot in (("product", "product"), ("reason", "return_reason"), ("address", "new_address")):
            if need in needs:
                slots.append(slot)
        return slots

    def _verify(self, dispatcher: CollectingDispatcher, tracker: Tracker, email: str, number: str) -> dict[str, Any]:
        try:
            customer = account.verify_identity(store.unit_of_work(), email, number)
        except InvalidInput:
            # a typing slip, not a wrong guess: ask again without counting it
            dispatcher.utter_message(response="utter_invalid_email")
            return {"email": None}
        except IdentityNotVerified:
            failures = int(tracker.get_slot("identity_failures") or 0) + 1
            logger.info("identity not verified in %s (attempt %d)", tracker.sender_id, failures)
            if failures >= MAX_IDENTITY_ATTEMPTS:
                return {"email": None, "order_number": None, "identity_failures": float(failures)}
            dispatcher.utter_message(response="utter_identity_failed")
            return {"email": None, "order_number": None, "identity_failures": float(failures)}
        account.link_conversation(store.unit_of_work(), tracker.sender_id, customer.id, _channel(tracker), _utcnow())
        dispatcher.utter_message(response="utter_identity_verified", name=customer.name.split()[0])
        return {
            "email": email,
            "order_number": number,
            "customer_id": str(customer.id),
            "customer_name": customer.name,
            "identity_failures": 0.0,
        }

    def validate_email(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        email = str(value or "").strip()
        if not EMAIL.match(email):
            dispatcher.utter_message(response="utter_invalid_email")
            return {"email": None}
        pending_number = tracker.slots_to_validate().get("order_number") or tracker.get_slot("order_number")
        if pending_number and "order_number" not in tracker.slots_to_validate():
            try:
                return self._verify(dispatcher, tracker, email, normalise_order_number(str(pending_number)))
            except InvalidInput:
                return {"email": email, "order_number": None}
        return {"email": email}

    def validate_order_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        try:
            number = normalise_order_number(str(value or ""))
        except InvalidInput:
            dispatcher.utter_message(response="utter_invalid_order_number")
            return {"order_number": None}
        email = tracker.slots_to_validate().get("email") or tracker.get_slot("email")
        if current_customer(tracker) is None and email and EMAIL.match(str(email).strip()):
            return self._verify(dispatcher, tracker, str(email).strip(), number)
        return {"order_number": number}

    def validate_product(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        return {"product": text[:200] or None}

    def validate_return_reason(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        return {"return_reason": text[:500] or None}

    def validate_new_address(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        return {"new_address": text[:500] or None}


class ActionIdentify(ShopAction):
    """ "It's jane@example.com, order 536365": verify (through the details form) and confirm."""

    action_name = "action_identify"
    needs = frozenset({"identity"})

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: Optional[int]) -> list[EventType]:
        if tracker.get_slot("customer_name"):
            dispatcher.utter_message(response="utter_signed_in_as", name=tracker.get_slot("customer_name"))
        else:
            dispatcher.utter_message(response="utter_anything_else")
        return []


class ActionStopForm(Action):
    """The customer gave up on a question the bot asked: forget the request."""

    def name(self) -> str:
        return "action_stop_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_form_stopped")
        return [
            SlotSet("pending_action", None),
            SlotSet("return_reason", None),
            SlotSet("new_address", None),
        ]


def _consecutive_fallbacks(tracker: Tracker) -> int:
    """How many messages in a row, this one included, the bot did not understand.

    A message counts when its intent is ``nlu_fallback`` or when the bot
    answered it with this fallback action (e.g. an ``inform`` that answered
    no question).
    """
    turns: list[tuple[Optional[str], list[str]]] = []
    for event in tracker.events:
        if event.get("event") == "user":
            turns.append((((event.get("parse_data") or {}).get("intent") or {}).get("name"), []))
        elif event.get("event") == "action" and turns:
            turns[-1][1].append(event.get("name") or "")
    count = 0
    for position, (intent, actions) in enumerate(reversed(turns)):
        current = position == 0
        if intent == "nlu_fallback" or current or "action_handle_fallback" in actions:
            count += 1
        else:
            break
    return count


class ActionOfferHuman(Action):
    def name(self) -> str:
        return "action_offer_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_offer_human")
        return [SlotSet("awaiting_confirmation", "handoff")]


class ActionHandleFallback(Action):
    """Ask to rephrase; after two misunderstandings in a row, offer a person."""

    def name(self) -> str:
        return "action_handle_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if _consecutive_fallbacks(tracker) >= 2:
            dispatcher.utter_message(response="utter_offer_human")
            return [SlotSet("awaiting_confirmation", "handoff")]
        dispatcher.utter_message(response="utter_default")
        return []


def handoff_reason(tracker: Tracker) -> str:
    intent = (tracker.latest_message or {}).get("intent", {}).get("name")
    if intent == "human_handoff":
        return "customer_request"
    if _consecutive_fallbacks(tracker) >= 2 or tracker.get_slot("awaiting_confirmation") == "handoff":
        previous = [
            ((e.get("parse_data") or {}).get("intent") or {}).get("name")
            for e in tracker.events
            if e.get("event") == "user"
        ]
        return "complaint" if "complain" in previous[-3:] else "misunderstanding"
    return "customer_request"


class ActionHandoff(Action):
    """Hand the conversation to a person: record it, tell the customer, pause the bot."""

    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        reason = handoff_reason(tracker)
        customer_id = current_customer(tracker)
        try:
            support.request_handoff(
                store.unit_of_work(),
                sender_id=tracker.sender_id,
                channel=_channel(tracker),
                customer_id=customer_id,
                reason=reason,
                now=_utcnow(),
            )
        except Exception:
            # a person must still get the conversation; the console also lists paused conversations
            logger.exception("could not record the handoff of %s", tracker.sender_id)
        dispatcher.utter_message(response="utter_handoff", json_message={"handoff": {"reason": reason}})
        return [SlotSet("awaiting_confirmation", None), ConversationPaused()]


class ActionConfirm(Action):
    """ "Yes" to the question the bot asked last: run what was asked (cancel, delete, apply, hand over).

    One action for every confirmation keeps the rules simple: they only need
    to know that a question is open (``awaiting_confirmation``).
    """

    def name(self) -> str:
        return "action_confirm"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        from actions.customer import ActionAcceptOffer, ActionDeleteData
        from actions.orders import ActionCancelOrder

        confirmed_action: dict[str, Action] = {
            "cancel": ActionCancelOrder(),
            "delete": ActionDeleteData(),
            "offer": ActionAcceptOffer(),
            "handoff": ActionHandoff(),
        }
        action = confirmed_action.get(tracker.get_slot("awaiting_confirmation") or "")
        if action is None:
            dispatcher.utter_message(response="utter_nothing_to_confirm")
            return [SlotSet("awaiting_confirmation", None)]
        events = list(await action.run(dispatcher, tracker, domain))
        return [*events, SlotSet("awaiting_confirmation", None)]


class ActionDecline(Action):
    """ "No" to what the bot asked last."""

    def name(self) -> str:
        return "action_decline"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        awaiting = tracker.get_slot("awaiting_confirmation")
        if awaiting == "cancel":
            dispatcher.utter_message(response="utter_keep_order", order_number=tracker.get_slot("order_number"))
        elif awaiting == "delete":
            dispatcher.utter_message(response="utter_deletion_cancelled")
        else:
            dispatcher.utter_message(response="utter_anything_else")
        return [SlotSet("awaiting_confirmation", None)]
