"""What each request needs, how it picks an order by default, and the words of small talk.

The vocabulary the dialogue (:mod:`actions.dialogue.manager`) works with: one
:class:`Spec` per capability, the requests that may follow another in one
message, and the questions the bot asks for each detail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

MAX_IDENTITY_ATTEMPTS = 3
#: An unrelated request must be at least this sure to interrupt a question the bot asked.
DIGRESSION_CONFIDENCE = 0.5
#: A clause asking an account request beside the customer's e-mail must be this sure to be what the message asks.
REQUEST_BESIDE_IDENTITY = 0.8
#: Confident requests that can follow another in the same message without a question of their own.
SECONDARY = frozenset(
    {
        "order_status",
        "track_order",
        "delivery_estimate",
        "list_orders",
        "loyalty_status",
        "ask_offers",
        "next_order_due",
        "reorder_when",
        "privacy_data",
        "recommend_products",
        "product_info",
        # "how many points have i got and can i cancel my last order": the yes/no question comes last
        "cancel_order",
    }
)
SMALL_TALK = {
    "goodbye": "utter_goodbye",
    "thank": "utter_welcome",
    "bot_challenge": "utter_iamabot",
    "out_of_scope": "utter_out_of_scope",
    "help": "utter_help",
}
#: intents of a clause that only chats: its words name no product ("fine whatever. do you sell doormats")
CHAT = frozenset({*SMALL_TALK, "affirm", "deny", "greet"})
#: Confident intents that are never a follow-up of the last request ("and do you deliver to scotland?"
#: after a price question is a question of its own, whatever products its words happen to name; "thanks,
#: and the blue one?" still is one).
OTHER_BUSINESS = frozenset({"faq", "bot_challenge", "help", "human_handoff"})
#: The FAQ a clause asks about, by its words: for the second question of a message ("... and can I pay
#: with amex?"), which the response selector, run on the whole message, did not answer.
FAQ_TOPICS: dict[str, re.Pattern[str]] = {
    "utter_faq/payment_methods": re.compile(
        r"\b(?:pay|paying)\b(?!\s{1,3}(?:for|extra|more)\b)|\b(?:payment|payments|amex|american express|visa|"
        r"mastercard|master card|paypal|pay pal|credit cards?|debit cards?|apple pay|google pay|klarna|"
        r"bank transfer)\b",
        re.IGNORECASE,
    ),
    "utter_faq/shipping_costs": re.compile(
        r"\bpostage\b|\bp&p\b|\b(?:shipping|delivery|courier)\s{1,3}(?:costs?|fees?|charges?|prices?|rates?)\b|"
        r"\bhow much\b.{0,30}\b(?:shipping|delivery|to send|to ship|to post)\b|"
        r"\bfree (?:shipping|delivery)\b|\b(?:shipping|delivery) (?:is )?free\b|"
        r"\bpay(?:ing)?\s{1,3}(?:for|extra for)\s{1,3}(?:shipping|delivery|postage)\b",
        re.IGNORECASE,
    ),
    "utter_faq/delivery_times": re.compile(
        r"\bhow long\b.{0,40}\b(?:deliver|delivery|shipping|ship|arrive|dispatch)\w{0,4}\b|"
        r"\bdelivery times?\b",
        re.IGNORECASE,
    ),
    "utter_faq/opening_hours": re.compile(
        r"\b(?:opening|open|closing)\s{0,3}(?:hours|hrs|times)\b|\bwhat time\b.{0,20}\b(?:open|close)\b|"
        r"\bare you open\b",
        re.IGNORECASE,
    ),
    "utter_faq/return_policy": re.compile(
        r"\b(?:returns?|returning|refunds?|exchanges?)\b|\bsend (?:\w{1,12} ){0,2}back\b|\bmoney back\b",
        re.IGNORECASE,
    ),
}


def faq_topic(clause: str) -> Optional[str]:
    """The FAQ response a clause asks for by its words (None: its words do not say)."""
    found = [name for name, pattern in FAQ_TOPICS.items() if pattern.search(clause[:500])]
    return found[0] if len(found) == 1 else None


RECENT_ORDERS = 10
THANKS = re.compile(
    r"\b(?:thanks|thank you|thank u|thanx|thnx|thx|ty|cheers|ta|much appreciated|appreciate it|"
    r"merci|danke|dank je|dankjewel|bedankt|gracias|grazie|obrigad[oa]|tack|takk|tak|arigato|diolch)\b",
    re.IGNORECASE,
)
BYE = re.compile(
    r"\b(?:bye|goodbye|ta-?ra|see ya|see you|laters|cya|that'?s all|that'?s it|that'?s everything|"
    r"that'?s me(?: all)? (?:sorted|done)|all sorted|i'?m (?:all )?sorted|i'?m done|speak soon|talk soon|"
    r"have a (?:good|nice|great|lovely) (?:one|day|evening|afternoon|morning|weekend|night))\b",
    re.I,
)
CHEAPER = re.compile(r"\b(?:cheaper|less expensive|under|below|less than|budget|another|other|more)\b", re.IGNORECASE)
ORDER_QUESTIONS = ("order_status", "track_order", "delivery_estimate")
#: details a corrected order number keeps
KEPT_FOR_CORRECTION = frozenset({"item", "item_sku", "reason", "address", "quantity"})
#: requests that end with a yes/no question
ASKS_YES_NO = frozenset({"ask_offers", "cancel_order", "delete_data"})


@dataclass(frozen=True)
class Spec:
    """What a capability needs, how it picks an order by default, and what a follow-up can change."""

    needs: tuple[str, ...]
    label: str
    order_default: Optional[str] = None
    follows: Optional[str] = None


SPECS: dict[str, Spec] = {
    "identify": Spec(("identity",), "sign-in"),
    "order_status": Spec(("identity", "order"), "order question", "newest", "order"),
    "track_order": Spec(("identity", "order"), "tracking question", "newest", "order"),
    "delivery_estimate": Spec(("identity", "order"), "delivery question", "newest_unfinished", "order"),
    "list_orders": Spec(("identity",), "list of orders"),
    "cancel_order": Spec(("identity", "order"), "cancellation", "newest_open", "order"),
    "change_address": Spec(("identity", "order", "address"), "change of address", "newest_open", "order"),
    "return_request": Spec(("identity", "order", "item", "reason"), "return", "returnable", "order"),
    "recommend_products": Spec((), "suggestions"),
    "similar_products": Spec(("product",), "product question", follows="product"),
    "bought_together": Spec(("product",), "product question", follows="product"),
    "product_info": Spec(("product",), "product question", follows="product"),
    "loyalty_status": Spec(("identity",), "points question"),
    "ask_offers": Spec(("identity",), "offers question"),
    "accept_offer": Spec(("identity",), "offer"),
    "reorder_when": Spec(("identity",), "reorder question"),
    "next_order_due": Spec(("identity",), "next-order question"),
    "privacy_data": Spec(("identity",), "data question"),
    "delete_data": Spec(("identity",), "request to delete your data"),
}
ORDER_INTENTS = frozenset(name for name, spec in SPECS.items() if "order" in spec.needs)
PRODUCT_INTENTS = frozenset(name for name, spec in SPECS.items() if "product" in spec.needs)
ASK_RESPONSES = {
    "email": "utter_ask_email",
    "identity_order": "utter_ask_identity_order",
    "reason": "utter_ask_reason",
    "address": "utter_ask_address",
    "product": "utter_ask_product",
}
