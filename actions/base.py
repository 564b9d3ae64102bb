"""What every capability action shares: who the customer is, what the request
still needs, and one way to fail politely.

A capability action declares what it needs (``identity``, ``order``,
``product``, ``reason``, ``address``). When something is missing it asks for
it through ``details_form`` and remembers itself in ``pending_action``; the
form's end runs ``action_resume_request``, which runs it again. Unexpected
failures (the store is down, a bug) become an apology and an offer of a
person; the customer never sees a stack trace.
"""

from __future__ import annotations

import logging
import re
from abc import ABCMeta, abstractmethod
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import store
from analytics.tokens import verify_customer_token

logger = logging.getLogger(__name__)

#: what each capability action needs before it can answer; read by the form
NEEDS: dict[str, frozenset[str]] = {}

TOKEN_KEYS = ("customer_token", "token")


def _metadata_token(tracker: Tracker) -> Optional[str]:
    """The customer token the channel passed, on this message or at session start."""
    sources: list[Any] = [(tracker.latest_message or {}).get("metadata")]
    sources.append(tracker.get_slot("session_started_metadata"))
    for metadata in sources:
        if isinstance(metadata, dict):
            for key in TOKEN_KEYS:
                value = metadata.get(key)
                if isinstance(value, str) and value:
                    return value
    return None


def customer_from_channel(tracker: Tracker) -> Optional[int]:
    """The customer a valid signed token names; ``None`` for anonymous visitors (and forged tokens)."""
    token = _metadata_token(tracker)
    return verify_customer_token(token) if token else None


def confirmed(tracker: Tracker, kind: str) -> bool:
    """Whether the customer just said yes to the question of ``kind`` the bot asked."""
    intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
    return tracker.get_slot("awaiting_confirmation") == kind and intent in ("affirm", "accept_offer")


def current_customer(tracker: Tracker) -> Optional[int]:
    value = tracker.get_slot("customer_id")
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def latest_entity(tracker: Tracker, name: str) -> Optional[str]:
    value = next(tracker.get_latest_entity_values(name), None)
    return str(value) if value not in (None, "") else None


def entity_or_slot(tracker: Tracker, name: str) -> Optional[str]:
    value = latest_entity(tracker, name) or tracker.get_slot(name)
    return str(value).strip() if value not in (None, "") else None


_NUMBER = re.compile(r"\d+(?:[.,]\d{1,2})?")
_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "twenty five": 25,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "a hundred": 100,
    "a tenner": 10,
    "a fiver": 5,
}
_QUANTITY_PHRASES = {"half a dozen": 6, "a dozen": 12, "a couple": 2, "a pair": 2, "both": 2}


def _word_number(text: str, table: dict[str, int]) -> Optional[int]:
    # longest phrase first, so "twenty five" is not read as "twenty"
    for phrase in sorted(table, key=len, reverse=True):
        if re.search(rf"\b{phrase}\b", text):
            return table[phrase]
    return None


def parse_amount(text: Optional[str]) -> Optional[float]:
    """Money as customers write it, in pounds: "£20" 20.0, "under 15.50" 15.5, "50p" 0.5, "twenty quid" 20.0."""
    if not text:
        return None
    lowered = text.lower().strip()
    match = _NUMBER.search(lowered)
    if match:
        value = float(match.group().replace(",", "."))
        if re.fullmatch(r"\d+\s?p", lowered):
            value /= 100
        return value
    found = _word_number(lowered, _NUMBER_WORDS)
    return float(found) if found is not None else None


def parse_quantity(text: Optional[str]) -> Optional[int]:
    """A count: "2", "two", "half a dozen" 6, "a pair" 2."""
    if not text:
        return None
    lowered = text.lower()
    match = re.search(r"\d+", lowered)
    if match:
        return int(match.group())
    return _word_number(lowered, {**_QUANTITY_PHRASES, **_NUMBER_WORDS})


def day(value: Optional[date | datetime]) -> str:
    """A date the way customers read it: "Monday 12 December 2011"."""
    return value.strftime("%A %d %B %Y").replace(" 0", " ") if value else "unknown"


def money(value: Decimal | float) -> str:
    return f"{Decimal(str(value)).quantize(Decimal('0.01')):,}"


def bullet_list(lines: Iterable[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)


class ShopAction(Action, metaclass=ABCMeta):
    """A capability: answers from the store once it has what it needs."""

    action_name: ClassVar[str]
    needs: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if getattr(cls, "action_name", None):
            NEEDS[cls.action_name] = cls.needs

    def name(self) -> str:
        return self.action_name

    def missing(self, tracker: Tracker, customer_id: Optional[int]) -> bool:
        if "identity" in self.needs and customer_id is None:
            return True
        wanted = {"order": "order_number", "product": "product", "reason": "return_reason", "address": "new_address"}
        return any(need in self.needs and not entity_or_slot(tracker, slot) for need, slot in wanted.items())

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        events: list[EventType] = []
        customer_id = current_customer(tracker)
        if customer_id is None:
            customer_id = customer_from_channel(tracker)
            if customer_id is not None:
                events.append(SlotSet("customer_id", str(customer_id)))
        if self.missing(tracker, customer_id):
            if "identity" in self.needs and customer_id is None and (tracker.get_slot("identity_failures") or 0) >= 3:
                dispatcher.utter_message(response="utter_identity_locked")
                return [*events, SlotSet("pending_action", None)]
            if tracker.get_slot("pending_action") == self.action_name:
                # the details form ended without what is needed (the customer stopped answering)
                dispatcher.utter_message(response="utter_anything_else")
                return [*events, SlotSet("pending_action", None)]
            # the rules open details_form next, which asks for what is missing
            return [*events, SlotSet("pending_action", self.action_name)]
        # a question the bot asked earlier is answered or abandoned by this request
        for slot in ("pending_action", "awaiting_confirmation"):
            if tracker.get_slot(slot) is not None:
                events.append(SlotSet(slot, None))
        try:
            return events + list(self.answer(dispatcher, tracker, customer_id))
        except Exception:
            logger.exception("%s failed for conversation %s", self.action_name, tracker.sender_id)
            dispatcher.utter_message(response="utter_store_unavailable")
            return events

    @abstractmethod
    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: Optional[int]) -> list[EventType]:
        """The answer, once everything in ``needs`` is known (rasa-sdk skips abstract actions)."""

    @staticmethod
    def uow():  # type: ignore[no-untyped-def]
        return store.unit_of_work()
