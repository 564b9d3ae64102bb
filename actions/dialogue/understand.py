"""Reading one customer message: what the NLU found, and the details customers give in passing.

:class:`Turn` wraps Rasa's parse of the latest message (intent, confidence,
the intents of other clauses, entities, the spelling-normalised text). The
functions below pull out what a request needs wherever it appears in the
message: order numbers and "my last order", an e-mail address, a delivery
address (up to its postcode), a reason for a return, a quantity, and the
cues of a follow-up ("and 581473?"), a correction ("sorry, I meant ...") or a
change of mind ("never mind").

Every regular expression here runs in time linear in the message: quantifiers
are bounded and alternatives start with distinct literals, and messages are
cut to :data:`MAX_TEXT` characters first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

from actions.base import parse_quantity
from analytics.core.text import EMAIL_IN_TEXT, ORDER_NUMBER_IN_TEXT
from analytics.usecases.addresses import GENERIC_POSTCODE, UK_POSTCODE

#: Longer messages are read up to here (chat widgets allow about 1,000 characters).
MAX_TEXT = 2000
#: Below this confidence the NLU's best intent is only used with an entity that fits it.
WEAK_INTENT = 0.3

LATEST = re.compile(
    r"\b(?:last|latest|lastest|most recent|newest|recent|new|current|previous)\s{1,3}"
    r"(?:order|oder|ordr|one|parcel|package|purchase|delivery|shipment)\b",
    re.IGNORECASE,
)
PRONOUN = re.compile(r"\b(?:it|that one|that order|this order|same order|the order|that|this one)\b", re.IGNORECASE)
FOLLOW_UP = re.compile(
    r"^\s{0,5}(?:(?:ok(?:ay)?|right|cool|thanks|thx|great)[,!.]?\s{1,3})?"
    r"(?:and|also|plus|what about|how about|wat about|what abt|n|same for|and what about|and how about|then)\b",
    re.IGNORECASE,
)
CORRECTION = re.compile(
    r"\b(?:i meant|i mean|meant to say|i ment|not that one|wrong one|wrong number|typo|sorry,? (?:it'?s|its)|"
    r"wrong (?:postcode|post code|zip|address|street|house number|email|e-mail|order))\b"
    r"|^\s{0,5}(?:no|nope|sorry|oops|wait|actually)\b[ ,!.:-]{0,5}(?:it'?s |its |i meant |order |make that |the )?\d",
    re.IGNORECASE,
)
STOP = re.compile(
    r"\b(?:never ?mind|nevermind|forget (?:it|that|about it)|"
    r"stop(?:\s{1,3}(?:that|it|this|now|please))?(?=\s{0,3}[.!]{0,3}\s{0,3}$)|"
    r"cancel that|leave it|dont bother|"
    r"don't bother|no thanks|not now|doesn'?t matter|nvm)\b",
    re.IGNORECASE,
)
#: "do you sell ...", "have you got any ...": a question about a kind of product, answered with a list
KIND_QUESTION = re.compile(
    r"\b(?:do|does)\s{1,3}(?:you|u|ya|the shop)(?:\s{1,3}guys)?\s{1,3}(?:sell|have|stock|carry|do|make)\b|"
    r"\bhave\s{1,3}(?:you|u)\s{1,3}got\b|"
    r"\bgot any\b|\bany\b.{0,40}\b(?:in stock|available|for sale)\b|"
    r"\b(?:what|which)\s{1,3}(?:kinds?|sorts?|types?)\s{1,3}of\b|"
    r"\bshow me (?:your|some|all|the)\b|\bselling\b|\bdo you sell\b|\bis there any\b|\bare there any\b|"
    r"^\s{0,3}(?:u\s{1,3}|you\s{1,3})?(?:sell|stock)\b|\bin stock\b",
    re.IGNORECASE,
)
REASON_WORDS = re.compile(
    r"\b(?:broken|broke|damaged|damage|chipped|chip|cracked|crack|scratched|scratch|smashed|shattered|split|"
    r"snapped|snaps|snapping|melted|sticky|faulty|defective|doesn'?t work|does not work|not working|stopped working|"
    r"(?:does ?n'?t|do ?n'?t|does not|do not|won'?t|wont|will not|did ?n'?t|did not|is ?n'?t|is not|are ?n'?t)"
    r"\s{1,3}(?:\w{1,12}\s{1,3})?(?:heat|work|fit|close|open|light|stick|charge|weigh|switch on|turn on|light up|"
    r"switch off|turn off|hold|lock|zip|boil|ring|tick|stay|lie flat|stand up|spin|pour|seal)|"
    r"(?:is ?n'?t|was ?n'?t|is not|was not|are ?n'?t|were ?n'?t|are not|were not) what (?:i|we) "
    r"(?:ordered|expected|wanted|thought|paid for)|"
    r"warped|bowed|buckled|discolou?red|rust(?:y|ed)?|frayed|crooked|misprinted|blurry|wonky|"
    r"wrong (?:item|size|colou?r|one|product|thing|design|pattern|style|model)|sent the wrong|"
    r"(?:too|way too) (?:small|big|large|tight|short|long|many)|doesn'?t fit|not as (?:described|pictured)|"
    r"changed my mind|change of mind|no longer (?:need|want)|don'?t (?:need|want|like)|didn'?t (?:like|want)|"
    r"not needed|duplicate|ordered (?:two|twice|too many|by mistake)|by mistake|got too many|too many|"
    r"flicker(?:s|ing|y)?|buzz(?:es|ing)?|blown|fused|dead|won'?t stay on|cuts? out|cutting out|"
    r"keeps? (?:going|switching|turning|cutting) (?:off|out)|"
    r"keeps? (?:breaking|snapping|cracking|splitting|tearing|ripping|leaking|jamming|falling (?:off|apart|over))|"
    r"(?:is|are|was|were|went|gone) out(?! of)|"
    r"missing|arrived (?:late|broken|damaged)|poor quality|bad quality|cheap looking|stained|dirty|damp|mou?ldy?|"
    r"smell(?:s|ing|y)?|wet|leak(?:s|ing|ed)?|torn|ripped|rip|tear|bent|dented|dent|peeling|faded|fell apart|"
    r"holes?|got a hole|stopped|broken off|came apart|loose|cracks|chips|marks|scuffed|not working|doesn'?t close|"
    r"sheds|shedding|packed (?:in|up)|gave up|given up|"
    r"not what i (?:ordered|expected)|unwanted|not (?:the )?(?:right|same|one i ordered)|"
    r"wobbly|wobbles|unstable|flimsy|falling apart|coming apart|seams?|stitching|not the size|"
    r"colou?rs? (?:ran|run|bled|have run|has run|faded|came out)|"
    r"(?:smaller|bigger|larger|shorter|longer|thinner|thicker|darker|lighter|brighter|duller|heavier|cheaper) than "
    r"(?:i'?d |i |we'?d |we )?(?:thought|expected|pictured|imagined|hoped|wanted|anticipated|looked))\b",
    re.IGNORECASE,
)
REASON_CUE = re.compile(
    r"\b(?:because|coz|cos|cause|as|since|reason(?: is|:)?|it was|it's|its|it is|they were|they're|theyre|"
    r"it came|they came|it arrived|they arrived|arrived|came)\b",
    re.IGNORECASE,
)
#: a clause that says what is wrong: "it was ...", "they arrived ...", "the seam split ..."
REASON_START = re.compile(
    r"^\s{0,3}(?:it|its|it's|they|the (?!order|email|number|address|account)\w{2,20}|mine|"
    r"(?:one|some|both|all|half|most)(?:\s{1,3}of)?(?:\s{1,3}(?:the|them|these|those)(?:\s{1,3}\w{2,20})?)?)"
    r"\s{1,3}(?:was|were|is|are|arrived|came|has|have|had|got|"
    r"split|broke|cracked|leaks|leaked|melted|smells|stopped|doesn'?t|don'?t|didn'?t)\b",
    re.IGNORECASE,
)
#: the verb after an item that says what is wrong with it ("the cakestand ... has a chipped plate")
ITEM_HAS = re.compile(r"\b(?:has|have|had|is|are|was|were|arrived|came|got)\b", re.IGNORECASE)
#: the subject a sentence starts with ("they flicker", "half the bulbs are out", "my son broke it")
SUBJECT_START = re.compile(
    r"^\s{0,3}(?:it|its|it's|they|they're|theyre|the|one|some|both|all|half|most|mine|my|our|we|i)\b", re.IGNORECASE
)
ADDRESS_CUE = re.compile(
    r"\b(?:to|address is|address:|is now|at|deliver(?:ed)? to|send (?:it|them) to|ship (?:it|them) to|new address)\b",
    re.IGNORECASE,
)
HOUSE_START = re.compile(r"\b(?:\d{1,5}[a-z]?\b|flat\b|apartment\b|apt\b|unit\b)", re.IGNORECASE)
ORDINALS = {
    "first": 0,
    "1st": 0,
    "top": 0,
    "second": 1,
    "2nd": 1,
    "third": 2,
    "3rd": 2,
    "fourth": 3,
    "4th": 3,
    "fifth": 4,
    "5th": 4,
    "last": -1,
}
ORDINAL = re.compile(r"\b(first|1st|top|second|2nd|third|3rd|fourth|4th|fifth|5th|last)\b", re.IGNORECASE)
#: an ordinal that picks an option: "the 2nd one", "the top one, has it shipped", "i'll take the second", not an
#: adverb ("quick question first - how much is ...") or a time ("the seam split the first time i filled it")
ORDINAL_PICK = re.compile(
    r"\b(first|1st|top|second|2nd|third|3rd|fourth|4th|fifth|5th|last)\s{1,3}"
    r"(?:one|ones|option|item|product|choice|order|on\s{1,3}(?:the|your)\s{1,3}list)\b|"
    r"\bthe\s{1,3}(first|1st|top|second|2nd|third|3rd|fourth|4th|fifth|5th|last)\b"
    r"(?=\s{0,3}(?:please|pls|plz|thanks|thx)?\s{0,3}(?:[.!,;)]|$))",
    re.IGNORECASE,
)
BARE_NUMBER = re.compile(r"^\s{0,3}(?:number|no\.?|#|option)?\s{0,3}([1-5])\s{0,3}[.!)]?\s{0,3}$", re.IGNORECASE)


@dataclass
class Turn:
    """One customer message as the NLU understood it."""

    text: str
    intent: str
    confidence: float
    ranking: list[tuple[str, float]] = field(default_factory=list)
    secondary: list[tuple[str, float, str]] = field(default_factory=list)
    entities: dict[str, list[str]] = field(default_factory=dict)
    spans: dict[str, list[str]] = field(default_factory=dict)
    normalised: str = ""
    faq_response: Optional[str] = None
    negative: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_parse(cls, parse: Optional[dict[str, Any]]) -> Turn:
        """The turn a parse describes; a field of the wrong type is read as missing, never raised on."""

        def mapping(value: Any) -> dict[str, Any]:
            return value if isinstance(value, dict) else {}

        def listed(value: Any) -> list[Any]:
            return value if isinstance(value, list) else []

        def number(value: Any) -> float:
            try:
                return float(value or 0.0)
            except (TypeError, ValueError, OverflowError):
                return 0.0

        parse = mapping(parse)
        text = str(parse.get("text") or "")[:MAX_TEXT]
        intent = mapping(parse.get("intent"))
        ranking = [
            (str(r.get("name")), number(r.get("confidence")))
            for r in listed(parse.get("intent_ranking"))
            if isinstance(r, dict) and r.get("name")
        ]
        secondary = [
            (
                _return_of_an_order(str(s.get("name")), str(s.get("text") or "")),
                number(s.get("confidence")),
                str(s.get("text") or ""),
            )
            for s in listed(parse.get("secondary_intents"))
            if isinstance(s, dict) and s.get("name")
        ]
        entities: dict[str, list[str]] = {}
        spans: dict[str, list[str]] = {}
        negative = False
        for e in listed(parse.get("entities")):
            if not isinstance(e, dict) or not e.get("entity"):
                continue
            name, value = str(e["entity"]), e.get("value")
            if name == "sentiment":
                negative = negative or value == "negative"
                continue
            if value in (None, ""):
                continue
            entities.setdefault(name, []).append(str(value))
            start, end = e.get("start"), e.get("end")
            if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text):
                spans.setdefault(name, []).append(text[start:end])
        faq = mapping(mapping(mapping(parse.get("response_selector")).get("faq")).get("response"))
        return cls(
            text=text,
            intent=_return_of_an_order(str(intent.get("name") or "nlu_fallback"), text),
            confidence=number(intent.get("confidence")),
            ranking=ranking,
            secondary=secondary,
            entities=entities,
            spans=spans,
            normalised=str(parse.get("text_normalised") or text).lower()[:MAX_TEXT],
            faq_response=faq.get("utter_action") if isinstance(faq.get("utter_action"), str) else None,
            negative=negative,
            metadata=dict(mapping(parse.get("metadata"))),
        )

    @property
    def best_real(self) -> tuple[str, float]:
        """The NLU's best intent other than the fallback, with its confidence."""
        for name, confidence in self.ranking:
            if name != "nlu_fallback":
                return name, confidence
        return "nlu_fallback", 0.0

    def entity(self, name: str) -> Optional[str]:
        values = self.entities.get(name)
        return values[0] if values else None


def order_numbers(turn: Turn) -> list[str]:
    """Order numbers in the message (six digits, as the shop's are), in order, without repeats.

    Digits inside an e-mail address ("jo.581502@example.com") are part of the address, not an
    order number, even when the NLU tagged them as one: the message is read with its addresses
    taken out, and a tagged number that is not left in it is dropped.
    """
    text = EMAIL_IN_TEXT.sub(" ", turn.text) if "@" in turn.text else turn.text
    outside_addresses = set(ORDER_NUMBER_IN_TEXT.findall(text))
    tagged = [v.strip().lstrip("#").strip() for v in turn.entities.get("order_number", [])]
    found = [n for n in tagged if n in outside_addresses or n not in turn.text]
    found += ORDER_NUMBER_IN_TEXT.findall(text)
    return list(dict.fromkeys(n for n in found if n.isdigit() and len(n) == 6))


def email_in(turn: Turn) -> Optional[str]:
    value = turn.entity("email")
    if value and EMAIL_IN_TEXT.fullmatch(value.strip()):
        return value.strip()
    found = EMAIL_IN_TEXT.search(turn.text)
    return found.group(0).strip(".") if found else None


def says_latest(text: str) -> bool:
    """ "my last order", "the latest one", "my most recent parcel"."""
    return bool(LATEST.search(text[:MAX_TEXT]))


#: "my other order", "the older one", "my earlier order": another of the customer's orders than the one talked about
OTHER_ORDER = re.compile(
    r"\b(?:my|the|our)\s{1,3}other\s{1,3}(?:order|oder|ordr|parcel|package|delivery|purchase)\b|"
    r"\b(?:the|my|an?)\s{1,3}(?:older|earlier|previous)\s{1,3}(?:one|order|oder|parcel|package|purchase)\b",
    re.IGNORECASE,
)


#: "and the other two?", "the other 3 orders", "the rest of them": several orders besides the one talked about
OTHER_SEVERAL = re.compile(
    r"\b(?:the|my)\s{1,3}other\s{1,3}(two|three|four|2|3|4|ones|orders)\b|\bthe\s{1,3}rest(?:\s{1,3}of\s{1,3}them)?\b",
    re.IGNORECASE,
)
_COUNTS = {"two": 2, "three": 3, "four": 4, "2": 2, "3": 3, "4": 4}


def other_orders_count(text: str) -> Optional[int]:
    """How many other orders "and the other two?" means (3 for "the other ones" / "the rest"); None: not said."""
    found = OTHER_SEVERAL.search(text[:MAX_TEXT])
    if found is None:
        return None
    return _COUNTS.get((found.group(1) or "").lower(), 3)


#: "bit pricey, anything like it thats cheaper", "too expensive", "something less expensive?"
WANTS_CHEAPER = re.compile(
    r"\b(?:cheaper|less expensive|more affordable|lower price|"
    r"too\s{1,3}(?:pricey|pricy|expensive|dear|steep)|"
    r"(?:bit|little|rather|quite|very|abit|bit too)\s{1,3}(?:pricey|pricy|expensive|dear|steep|much))\b",
    re.IGNORECASE,
)


#: "which is cheaper, the small or the large": a comparison between products, not a wish for a cheaper one
ALTERNATIVES = re.compile(r"\b(?:or|vs|versus|compared|which)\b", re.IGNORECASE)


def wants_cheaper(text: str) -> bool:
    """The customer finds the product talked about too dear and wants one like it for less."""
    return bool(WANTS_CHEAPER.search(text[:MAX_TEXT])) and not ALTERNATIVES.search(text[:MAX_TEXT])


#: "can I return items from ...", "send back", "refund for": a return, as a question or a request
RETURN_QUESTION = re.compile(r"\b(?:return|retrun|send\s{1,3}(?:\w{1,20}\s{1,3}){0,3}?back|refund)", re.IGNORECASE)


def _return_of_an_order(intent: str, text: str) -> str:
    """ "can I return items from order 575007?" is heard as the return-policy question; about an order
    the customer names, it is a return of that order."""
    if intent == "faq" and RETURN_QUESTION.search(text[:MAX_TEXT]) and ORDER_NUMBER_IN_TEXT.search(text[:MAX_TEXT]):
        return "return_request"
    return intent


#: "what should I be reordering?", "what would i normally reorder", "what do i buy again and again"
REORDER_WORDS = re.compile(r"\b(?:re-?order(?:ing|ed)?|buy(?:ing)? again|run(?:ning)? out of)\b", re.IGNORECASE)
#: "what have you got for the garden", "anything for the kitchen?", "show me your garden stuff"
WHAT_YOU_HAVE = re.compile(
    r"\b(?:what (?:have|do) you (?:got|have|sell|do)|what(?:'?s| is) there|anything|something|show me|"
    r"got any|do you (?:sell|have|do|stock)|ideas?)\b",
    re.IGNORECASE,
)


def says_reorder(text: str) -> bool:
    """The customer asks what they buy again and again (their reorder list)."""
    return bool(REORDER_WORDS.search(text[:MAX_TEXT]))


def asks_what_we_have(text: str) -> bool:
    """ "what have you got for the garden": a browse of a kind of product, not one product."""
    return bool(WHAT_YOU_HAVE.search(text[:MAX_TEXT]))


#: sizes said in other words than the catalogue's ("the big one" for "Picnic Basket Wicker Large")
SIZE_WORDS = {
    "big": "large",
    "bigger": "large",
    "biggest": "large",
    "huge": "large",
    "little": "small",
    "smaller": "small",
    "smallest": "small",
    "tiny": "small",
    "mini": "small",
}


def in_catalogue_sizes(text: str) -> str:
    """``text`` with size words the catalogue does not use replaced by the ones it does."""
    return re.sub(
        r"\b(" + "|".join(SIZE_WORDS) + r")\b", lambda m: SIZE_WORDS[m.group(1).lower()], text[:MAX_TEXT], flags=re.I
    )


#: "i don't want a person", "no need to talk to anyone": a request said the other way round
NEGATED = re.compile(r"\b(?:don'?t|dont|do not|no need|not|never|without)\b", re.IGNORECASE)


def asks_about_an_order(text: str) -> bool:
    """ "ok when was that", "and the tracking number?": a question about the order talked about."""
    return bool(WHEN.search(text[:MAX_TEXT]) or TRACKING.search(text[:MAX_TEXT]))


def with_new_postcode(address: str, text: str) -> Optional[str]:
    """ "oh no sorry the postcode is BN11 1XZ": the address just given with its postcode corrected."""
    new = UK_POSTCODE.search(text[:MAX_TEXT])
    old = UK_POSTCODE.search(address)
    if not address or new is None or old is None:
        return None
    return address[: old.start()] + new.group(0).upper() + address[old.end() :]


#: "i want to check an order", "can you look up my parcel": a question about an order, none named yet
CHECKS_AN_ORDER = re.compile(
    r"\b(?:check|look\s{1,3}(?:at|up|into)|find|ask about|query|question about|chase|see)\s{1,3}"
    r"(?:on\s{1,3})?(?:an?|my|the|our)\s{1,3}(?:order|oder|parcel|package|delivery)\b",
    re.IGNORECASE,
)


def checks_an_order(text: str) -> bool:
    """The message asks about one of the customer's orders without naming it."""
    return bool(CHECKS_AN_ORDER.search(text[:MAX_TEXT]))


#: "ok thanks and delete it after that", "please erase my details": the data deletion request
DELETES_DATA = re.compile(
    r"\b(?:delete|erase|wipe|remove)\s{1,3}(?:it|them|that|all|everything|all of it|"
    r"my\s{1,3}(?:data|details|info|information|account|personal data))\b",
    re.IGNORECASE,
)
#: a question, by its mark or its first word
QUESTION = re.compile(
    r"\?|^\s{0,3}(?:\w{1,10}[ ,]{1,3}){0,2}?(?:will|can|do|does|is|are|how|what|when|why|where|could|would)\b",
    re.IGNORECASE,
)


def deletes_data(text: str) -> bool:
    return bool(DELETES_DATA.search(text[:MAX_TEXT]))


def is_question(text: str) -> bool:
    return bool(QUESTION.search(text[:MAX_TEXT]))


def says_other_order(text: str) -> bool:
    """ "and what about my other order, the older one?": not the order talked about, the one before it."""
    return bool(OTHER_ORDER.search(text[:MAX_TEXT]))


def refers_back(text: str) -> bool:
    """ "it", "that order", "this one": the thing talked about last."""
    return bool(PRONOUN.search(text[:MAX_TEXT]))


def is_follow_up(text: str) -> bool:
    """ "and 581473?", "what about the blue one", "ok and order 536365"."""
    return bool(FOLLOW_UP.search(text[:MAX_TEXT]))


def is_correction(text: str) -> bool:
    """ "sorry, I meant 581473", "no, 581473", "wrong number, it's 581473"."""
    return bool(CORRECTION.search(text[:MAX_TEXT]))


#: "don't cancel it", "do not delete anything", "no, keep it": a no to the request the bot asked about
REFUSES = re.compile(
    r"\b(?:don'?t|dont|do not|no need to|never)\s{1,3}(?:\w{1,12}\s{1,3}){0,2}?"
    r"(?:cancel|delete|erase|remove|do (?:it|that)|go ahead|bother)\b|"
    r"\b(?:keep (?:it|them|the order|my order|my data)|leave it(?: be)?)\b",
    re.IGNORECASE,
)
#: "yes put me through", "sure, please do": a yes, whatever follows ("ok" is not one: "ok thx bye")
SAYS_YES = re.compile(
    r"^\s{0,3}(?:yes|yeah|yep|yup|yea|sure|please do|go ahead|definitely|absolutely|of course)\b"
    r"(?![\s,]{0,3}(?:but|no|not|don'?t|dont)\b)",
    re.IGNORECASE,
)


#: what a return names after its verb: "return the notebooks from my last order", "send these mugs back"
RETURNED_THING = re.compile(
    r"\b(?:return|retrun|send back)\s{1,3}(?:the|my|these|those|this|that|some|both|all|a|an|\d{1,2})?\s{0,3}"
    r"([a-z][a-z' -]{1,40}?)\s{0,3}(?=\bfrom\b|\bi\s{1,3}(?:got|bought|ordered)\b|\bthat\b|\bwhich\b|[,.;!?]|$)",
    re.IGNORECASE,
)
#: words that stand for the order or its contents, not for one of its products
NOT_A_PRODUCT = re.compile(
    r"\b(?:orders?|items?|it|them|everything|stuff|purchases?|parcels?|packages?|things?|products?|goods|"
    r"one|ones|something|anything|all|both)\b",
    re.IGNORECASE,
)


def returned_thing(text: str) -> Optional[str]:
    """The words of the thing a return names ("return the pencils from my last order" -> "pencils"), or None
    when it names the order or its contents as a whole ("return my last order", "return the items")."""
    found = RETURNED_THING.search(text[:MAX_TEXT])
    if not found or NOT_A_PRODUCT.search(found.group(1)):
        return None
    return found.group(1).strip() or None


def names_a_problem(text: str) -> bool:
    """The message says what is wrong with an item in words of a problem ("it leaks", "arrived chipped")."""
    return bool(REASON_WORDS.search(text[:MAX_TEXT]))


def refuses(text: str) -> bool:
    """The message says no to what was asked ("actually no, dont cancel it", "keep it")."""
    return bool(REFUSES.search(text[:MAX_TEXT]))


def says_yes(text: str) -> bool:
    """The message opens with a yes ("yes put me through") and does not take it back."""
    return bool(SAYS_YES.search(text[:MAX_TEXT])) and not refuses(text)


def wants_to_stop(text: str) -> bool:
    """ "never mind", "forget it", "stop", "cancel that"."""
    return bool(STOP.search(text[:MAX_TEXT]))


def asks_for_kind(text: str) -> bool:
    """ "do you sell christmas lights?", "have you got any lunch bags": answered with a list."""
    return bool(KIND_QUESTION.search(text[:MAX_TEXT]))


def quantity_in(turn: Turn) -> Optional[int]:
    value = parse_quantity(turn.entity("quantity"))
    return value if value is not None and 0 < value <= 10000 else None


def clauses(text: str) -> list[str]:
    """The parts of a message between punctuation, "and" and "but"."""
    parts = re.split(r"[,.;!?]|\band\b|\bbut\b|(?:^|\s)\(?[1-9]\)\s", text[:MAX_TEXT])  # "1) ... 2) ..." too
    return [c.strip(" ,.!?") for c in parts if c.strip(" ,.!?")]


def reason_in(text: str, *, whole: bool = False, starts_return: bool = False) -> Optional[str]:
    """Why an item goes back, in the customer's words: the clause that says it.

    With ``whole=True`` (the bot just asked for the reason) any text of a few
    words is the reason; otherwise only a clause with a reason cue ("because",
    "it was ...") or a reason word ("broken", "wrong size", "changed my mind"),
    and, in the message that starts a return (``starts_return=True``), any
    later clause that states something ("..., my customer cancelled").
    """
    text = text[:MAX_TEXT].strip()
    if not text:
        return None
    if whole:
        cleaned = text.strip(" .!?")
        return cleaned[:500] if len(re.findall(r"[^\W\d_]{2,}", cleaned)) >= 1 else None
    for clause in clauses(text):
        found = REASON_WORDS.search(clause)
        if found:
            cue = REASON_CUE.search(clause)
            if cue:
                return clause[cue.start() :][:500]
            # "return the lights from 577841 they flicker": what follows the order number says what is wrong
            # when it is a sentence of its own ("the board from 580657 is warped" is one sentence)
            number = next((n for n in ORDER_NUMBER_IN_TEXT.finditer(clause) if n.end() <= found.start()), None)
            tail = clause[number.end() :].strip(" -:,") if number else ""
            own = tail and (SUBJECT_START.match(tail) or clause.find(tail) == found.start())
            if own:
                return tail[:500]
            # "the regency cakestand in my last order has a chipped plate": what the item has, not the item
            # (said as "the <item> in/from <the order> <verb>"; "a piece is missing" is a reason of its own)
            before = clause[: found.start()] if number is None else ""
            ordered = LATEST.search(before) or ORDER_REFERENCE.search(before)
            verb = [v for v in ITEM_HAS.finditer(before) if ordered and v.start() >= ordered.end()]
            return (clause[verb[-1].start() :] if verb else clause)[:500]
    for clause in [*clauses(text)[1:], *_after_order_number(text)]:
        if REASON_START.search(clause) and len(clause.split()) >= 3 and not re.search(r"[\d@]", clause):
            return clause[:500]
    cue = REASON_CUE.search(text)
    if cue and re.match(r"\s{0,3}(?:because|coz|cos|cause|since)\b", text[cue.start() :], re.IGNORECASE):
        rest = text[cue.start() :].strip(" .!?")
        if len(rest.split()) >= 2:
            return rest[:500]
    return _stated_later(text) if starts_return else None


def _after_order_number(text: str) -> list[str]:
    """The words after an order number up to the end of their clause ("... from 579268 half the bulbs are out
    and ..." -> "half the bulbs are out"): customers run what is wrong on after the order, without a comma."""
    found = ORDER_NUMBER_IN_TEXT.search(text)
    rest = clauses(text[found.end() :]) if found else []
    return rest[:1]


#: words that name a product request themselves; a guess of the classifier without them is only a guess
PRODUCT_REQUEST_WORDS = {
    "similar_products": re.compile(
        r"\b(?:similar|like (?:it|this|that|these|those|the|them)|alternatives?|instead|something else|"
        r"other (?:options?|ones)|anything else)\b",
        re.IGNORECASE,
    ),
    "bought_together": re.compile(
        r"\b(?:goes?(?:\s{1,3}well)? with|go(?:\s{1,3}well)? with|together|bought with|buy with|"
        r"match(?:es|ing)?|pairs? with)\b",
        re.IGNORECASE,
    ),
}


def names_product_request(intent: str, text: str) -> bool:
    """Whether ``text`` asks for ``intent`` in words of its own ("anything similar?" for similar products);
    True for requests without such words."""
    words = PRODUCT_REQUEST_WORDS.get(intent)
    return words is None or bool(words.search(text[:MAX_TEXT]))


#: "what about mine", "and mine?": the customer's own order, after talking about another
MINE = re.compile(r"\b(?:what|how|wat)\s{1,3}about\s{1,3}mine\b|^\s{0,3}(?:and\s{1,3})?mine\b", re.IGNORECASE)


def says_mine(text: str) -> bool:
    return bool(MINE.search(text[:MAX_TEXT]))


#: "it says delivered but nothing's here", "i never got it": a delivered order that did not reach the customer
NOT_RECEIVED = re.compile(
    r"\b(?:nothing'?s?\s{1,3}(?:here|arrived|came|turned up)|no sign of (?:it|them|the parcel|my parcel)|"
    r"(?:never|not|have ?n'?t|has ?n'?t|did ?n'?t|did not|have not|has not|still not)\s{1,3}(?:\w{1,12}\s{1,3})?"
    r"(?:got|get|gotten|received|receive|arrived|arrive|came|turned up|shown up|showed up)|"
    r"(?:is|it'?s|its|they'?re|theyre|are)\s{1,3}not\s{1,3}here)\b",
    re.IGNORECASE,
)


def says_not_received(text: str) -> bool:
    return bool(NOT_RECEIVED.search(text[:MAX_TEXT]))


#: a clause that is only politeness or timing, never a reason ("please", "thanks a lot", "asap")
POLITE = re.compile(
    r"^\s{0,3}(?:please|pls|plz|thanks|thank you|thx|ta|cheers|many thanks|if (?:possible|you can|that'?s ok)|"
    r"asap|as soon as possible|kind regards|regards|best wishes|x{1,3}|sorry|hi|hello)\b",
    re.IGNORECASE,
)
#: a clause that says something happened or is so ("my customer cancelled", "the colours ran")
STATES_SOMETHING = re.compile(
    r"\b(?:[a-z]{3,30}ed|was|were|is|are|ran|came|went|got|has|have|had|looks?|seems?|feels?|broke|tore|"
    r"does ?n'?t|do ?n'?t|did ?n'?t|is ?n'?t|was ?n'?t|wo ?n'?t|can'?t|needs?|wants?|hates?|dislikes?)\b",
    re.IGNORECASE,
)


def _stated_later(text: str) -> Optional[str]:
    """A clause after the first that states something, not politeness, a question, an item or an order."""
    for clause in clauses(text[:MAX_TEXT])[1:]:
        if len(clause.split()) < 2 or POLITE.match(clause) or is_question(clause) or re.search(r"[\d@£]", clause):
            continue
        if re.search(r"\bones?$", clause) or LATEST.search(clause) or ORDER_REFERENCE.search(clause):
            continue  # "the spotted one" is an item; "from my last order" an order
        if not STATES_SOMETHING.search(clause):
            continue
        return clause[:500]
    return None


#: the town that follows a postcode written before it ("69006 Lyon", "10115 Berlin", "1011 AB Amsterdam" aside)
TOWN_AFTER_POSTCODE = re.compile(r"[ \t]{1,3}[A-Z][\w'’-]{1,30}(?:[ -][A-Z][\w'’-]{1,30}){0,3}")


def address_in(text: str, *, whole: bool = False) -> Optional[str]:
    """A delivery address in the message: from its start (after "to", "address is" ...) to its postcode.

    ``whole=True`` (the bot just asked for the address) takes the message as it
    is when it holds a postcode. ``None`` when there is no postcode: an address
    needs one (see :func:`analytics.usecases.addresses.normalise_address`).
    """
    text = text[:MAX_TEXT]
    # an e-mail address is never part of a postal one ("jo.smith.12680@example.com / 581587")
    emails = [found.span() for found in EMAIL_IN_TEXT.finditer(text)]
    if not emails:
        return _address_in(text, whole)
    blanked = EMAIL_IN_TEXT.sub(lambda found: " " * len(found.group(0)), text)
    address = _address_in(blanked, whole)
    start = blanked.find(address) if address else -1
    if address is None or any(a < start + len(address) and start < b for a, b in emails):
        return None
    return address


def _address_in(text: str, whole: bool) -> Optional[str]:
    uk = list(UK_POSTCODE.finditer(text))
    if uk:
        end = uk[-1].end()
    else:
        end = None
        for token in re.finditer(r"\S{4,10}", text):
            if token.start() > 0 and GENERIC_POSTCODE.match(token.group(0).strip(",.")):
                end = token.end()
                # "3 Avenue Foch, 69006 Lyon": the town after a continental postcode belongs to the address
                town = TOWN_AFTER_POSTCODE.match(text, end)
                end = town.end() if town else end
        if end is None:
            return None
    head = text[:end]
    cues = list(ADDRESS_CUE.finditer(head))
    for cue in reversed(cues):
        rest = head[cue.end() :]
        if HOUSE_START.match(rest.lstrip()) or re.match(r"\s{0,3}[A-Z][a-z]", rest):
            return rest.strip(" :,.-") or None
    for match in HOUSE_START.finditer(head):
        # an order number is not a house number: "change 581580 to ..."
        if not ORDER_NUMBER_IN_TEXT.match(head, match.start()):
            return head[match.start() :].strip(" :,.-") or None
    return head.strip(" :,.-") or None if whole else None


def ordinal_choice(text: str, count: int) -> Optional[int]:
    """The option a customer picks by position: "the first one", "2", "the last" (index, or None)."""
    bare = BARE_NUMBER.match(text)
    if bare:
        index = int(bare.group(1)) - 1
        return index if index < count else None
    found = ORDINAL_PICK.search(text[:200])
    if not found and len(text.split()) <= 3:
        found = ORDINAL.search(text[:200])  # "second pls", "1st"
    if not found:
        return None
    index = ORDINALS[(found.group(1) or found.group(2)).lower()]
    index = count - 1 if index == -1 else index
    return index if 0 <= index < count else None


PRICE = re.compile(r"\b(?:how much|price|prices|priced|cost|costs|£)\b|£", re.IGNORECASE)


#: "any ideas for my next order": ideas, and when that order is likely due
NEXT_ORDER = re.compile(r"\b(?:my|the|our)\s{1,3}next\s{1,3}(?:order|shop|purchase|basket)\b", re.IGNORECASE)


def speaks_of_next_order(text: str) -> bool:
    return bool(NEXT_ORDER.search(text[:MAX_TEXT]))


def asks_price(text: str) -> bool:
    """ "how much is ...", "price of ...", "what does ... cost"."""
    return bool(PRICE.search(text[:MAX_TEXT]))


ORDER_QUESTION = re.compile(
    r"\b(?:where|status|arrive|arrived|arriving|shipped|dispatched|on its way|track|tracking|deliver|delivered|"
    r"delivery|when|come|coming|due)\b|\?",
    re.IGNORECASE,
)
TRACKING = re.compile(
    r"\btracking\b|\btrack\s{1,3}(?:my|the|it|this|that|order|parcel|package|number)\b", re.IGNORECASE
)
WHEN = re.compile(r"\b(?:when|arrive|arriving|due|how long|what (?:day|date)|which day)\b", re.IGNORECASE)


#: "did 579414 arrive?", "has my parcel come yet": whether it arrived (its status), not when it will
ARRIVED = re.compile(
    r"\b(?:did|has|have|had)\s{1,3}(?:\w{1,12}\s{1,3}){0,4}?"
    r"(?:arrived?|come|came|turned up|turn up|shown up|been delivered|got here|get here)\b",
    re.IGNORECASE,
)
#: when, as the question asked ("when did it arrive" is still a question of when)
ASKS_WHEN = re.compile(r"\b(?:when|how long|what (?:day|date|time)|which day)\b", re.IGNORECASE)


def asks_if_arrived(text: str) -> bool:
    """ "did 579414 arrive? i wasnt in all week": whether an order has arrived, a question of its status."""
    return bool(ARRIVED.search(text[:MAX_TEXT])) and not ASKS_WHEN.search(text[:MAX_TEXT])


def order_question_of(text: str) -> str:
    """The order question a sentence asks: tracking, when it arrives, or (by default) where it is."""
    if TRACKING.search(text[:MAX_TEXT]):
        return "track_order"
    if asks_if_arrived(text):
        return "order_status"
    if WHEN.search(text[:MAX_TEXT]):
        return "delivery_estimate"
    return "order_status"


#: "my order", "the parcel": a message about one of the customer's orders
ORDER_REFERENCE = re.compile(
    r"\b(?:my|the|our|an?)\s{1,3}(?:order|oder|ordr|orders|parcel|package|delivery|purchase|shipment|stuff)\b",
    re.IGNORECASE,
)
#: words of an order question (without the bare question mark of ORDER_QUESTION)
ORDER_WORDS = re.compile(
    r"\b(?:where|status|arrive|arrived|arriving|shipped|dispatched|on its way|track|tracking|delivered|"
    r"when|coming|due|sent|what day|what date|which day)\b",
    re.IGNORECASE,
)


#: "which is cheaper, X or Y", "X vs Y", "is X dearer than Y": a price comparison of named products
COMPARISON = re.compile(
    r"\b(?:cheaper|cheapest|dearer|pricier|more expensive|less expensive|most expensive|price difference|"
    r"difference in price|costs? (?:less|more)|compare|comparison|vs|versus)\b",
    re.IGNORECASE,
)
#: where a comparison (or a list of products) divides into the products it names
PRODUCT_PARTS = re.compile(r"\band\b|,|&|\bor\b|\bvs\b\.?|\bversus\b|\bthan\b|\bcompared (?:to|with)\b", re.I)
#: a part of a comparison that is the product talked about: "is that cheaper than ...", "it or the large one"
THAT_ONE = re.compile(r"\b(?:that|this|it)\b", re.IGNORECASE)
#: "i got some in my last order", "can i return them": the product just talked about
THE_PRODUCT_AGAIN = re.compile(r"\b(?:some|them|it|one|those|these|that|this|a few|a couple)\b", re.IGNORECASE)
#: "both", "all of them", "each of them": every order just talked about
ALL_OF_THEM = re.compile(
    r"\b(?:both|all (?:of )?(?:them|those|these|three)|each (?:of )?(?:them|one)|them all|the two(?: of them)?|"
    r"all three)\b",
    re.IGNORECASE,
)
GREETING = re.compile(
    r"^\s{0,3}(?:hello|hi|hiya|hey|heya|howdy|hallo|helo|hii|good (?:morning|afternoon|evening|day)|morning|"
    r"afternoon|evening|greetings|yo)\b[\s,!.:-]{0,6}(?:there\b|all\b|again\b)?[\s,!.:-]{0,6}",
    re.IGNORECASE,
)


def compares(text: str) -> bool:
    """ "which is cheaper, the red teapot or the blue one", "X vs Y": a price comparison."""
    return bool(COMPARISON.search(text[:MAX_TEXT]))


def means_all_of_them(text: str) -> bool:
    """ "tracking for both", "where are all of them": the several orders just talked about."""
    return bool(ALL_OF_THEM.search(text[:MAX_TEXT]))


def after_greeting(text: str) -> str:
    """What a message says after its greeting ("hello is my order delivered" -> "is my order delivered")."""
    found = GREETING.match(text[:MAX_TEXT])
    return text[found.end() :].strip() if found else text.strip()


_TOKEN = re.compile(r"[^\W\d_]{1,40}")
_CONSONANTS = re.compile(r"[bcdfghjklmnpqrstvwxz]{5}")


def is_gibberish(text: str, known: frozenset[str] = frozenset()) -> bool:
    """Keyboard mashing ("asdfgh", "jjjj kkk", "asdfgh jkl"): no digits, no e-mail, and every word of three
    letters or more is one letter repeated, has five consonants in a row or (beside such a word) no vowel,
    and is neither English nor in ``known``."""
    text = text[:MAX_TEXT]
    if re.search(r"[\d@£$]", text):
        return False
    words = [w.lower() for w in _TOKEN.findall(text)]
    long_words = [w for w in words if len(w) >= 3]
    if not long_words or len(long_words) < len(words) - 1:
        return False

    def mashed(w: str) -> bool:
        return len(set(w)) == 1 or bool(_CONSONANTS.search(w.replace("y", "a")))

    # a short word without a vowel ("jkl") counts only beside a clearly mashed one: "thx pls" is chat
    return any(mashed(w) for w in long_words) and all(
        w not in known and (mashed(w) or not re.search(r"[aeiouy]", w)) for w in long_words
    )
