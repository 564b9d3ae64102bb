"""What the actions share: who the customer is, and numbers, money and dates as customers read them."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Optional

from rasa_sdk import Tracker

from analytics.security.tokens import verify_conversation_identity, verify_customer_token

logger = logging.getLogger(__name__)

TOKEN_KEYS = ("customer_token", "token")
#: the slot holding the conversation's signed identity (analytics.security.tokens.sign_conversation_identity)
IDENTITY_SLOT = "identity"


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


def current_customer(tracker: Tracker) -> Optional[int]:
    """The customer this conversation verified, from its signed identity (``None`` once it expired)."""
    return verify_conversation_identity(tracker.get_slot(IDENTITY_SLOT), tracker.sender_id)


_NUMBER = re.compile(r"\d{1,9}(?:[.,]\d{1,2})?")
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
        if re.fullmatch(r"\d{1,5}\s?p", lowered):
            value /= 100
        return value
    found = _word_number(lowered, _NUMBER_WORDS)
    return float(found) if found is not None else None


def parse_quantity(text: Optional[str]) -> Optional[int]:
    """A count: "2", "two", "half a dozen" 6, "a pair" 2."""
    if not text:
        return None
    lowered = text.lower()
    match = re.search(r"\d{1,6}", lowered)
    if match:
        return int(match.group())
    return _word_number(lowered, {**_QUANTITY_PHRASES, **_NUMBER_WORDS})


def day(value: Optional[date | datetime]) -> str:
    """A date the way customers read it: "Monday 12 December 2011"."""
    return value.strftime("%A %d %B %Y").replace(" 0", " ") if value else "unknown"


def money(value: Decimal | float) -> str:
    """An amount in pounds with two decimals and thousands separators: "1,234.50"."""
    return f"{Decimal(str(value)).quantize(Decimal('0.01')):,}"


def bullet_list(lines: Iterable[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)
