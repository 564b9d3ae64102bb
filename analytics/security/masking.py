"""Masking of personal data in text shown to people or kept for training.

Pure functions:

- :func:`mask_email` keeps the first character of the local part and the
  domain: ``jane.doe@example.com`` -> ``j***@example.com``;
- :func:`mask_name` keeps the initial of each word: ``Jane van Dijk`` ->
  ``J*** v*** D***``;
- :func:`introduced_names` finds the names a customer gives for themselves
  ("my name is Jane Doe", "I'm Jane", "this is Jane", "thanks, Jane");
- :func:`mask_text` finds, inside free text (a chat message, an NLU training
  example, a line an operator reads), e-mail addresses, payment card numbers
  (13 to 19 digits, spaces or dashes between them, passing the Luhn check),
  street addresses ("12 High Street", "Flat 3, 10 Downing St"), UK postcodes,
  phone numbers, order numbers, the names it is given and the names the text
  introduces, and masks each where it stands, so the sentence still reads.

A fixed ``***`` rather than one star per letter for names and addresses: the
length of a name or an address is itself a clue. Every pattern here is bounded
(``tests/unit/test_regex_safety.py``): a message is attacker-controlled, and a
pattern that backtracks over it could stall the server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from analytics.core.text import EMAIL_IN_TEXT

MASK = "***"


#: An order number of the shop: six digits, a cancellation number has a ``C`` in front. Whatever sits
#: next to it but a digit ("order536365", "536365-2"): the assistant reads an order number there too.
ORDER_NUMBER = re.compile(r"(?<!\d)[Cc]?\d{6}(?!\d)")

#: A phone number: an optional ``+`` or ``00``, then digits with spaces, dots,
#: dashes or brackets between them; it counts when it holds 9 to 15 digits
#: (fewer are dates, prices or order numbers; more are card or tracking numbers).
PHONE = re.compile(r"(?<![\w+])(?:\+|\(\+?)?\d[\d\s().-]{6,40}\d(?![\w])")
PHONE_DIGITS = (9, 15)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

#: A payment card number: 13 to 19 digits, single spaces or dashes allowed between them
#: (``4111 1111 1111 1111``, ``4111-1111-1111-1111``); masked only when the Luhn check passes.
#: The run of digit groups may hold more than the card (``4111 1111 1111 1111 123``, the security
#: code typed after it): see :func:`_mask_card`.
CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,40}(?![\w-])")

#: A UK postcode (``SW1A 1AA``, ``m1 1ae``, ``GIR 0AA``), the Royal Mail's letters in the inward part.
UK_POSTCODE = re.compile(
    r"(?<![\w])(?:GIR\s{0,2}0AA|[A-Z]{1,2}\d[A-Z\d]?\s{0,2}\d[ABD-HJLNP-UW-Z]{2})(?![\w])", re.IGNORECASE
)

#: A street address: an optional flat or unit, a house number, one to four words and a street
#: type that is rarely anything else ("12 high street", "Flat 3, 10 Downing St").
STREET_ADDRESS = re.compile(
    r"(?<![\w])(?:(?:flat|apartment|apt|unit|suite)\.?\s{1,3}\d{1,4}[a-z]?\s{0,2},?\s{0,3})?"
    r"\d{1,4}[a-z]?,?\s{1,3}(?:[a-z][a-z'’.-]{0,30}\s{1,3}){1,4}"
    r"(?:street|st|road|rd|avenue|ave|lane|ln|crescent|cres|terrace|boulevard|blvd|gardens|mews)(?![\w])\.?",
    re.IGNORECASE,
)
#: The same with a street type that is also an ordinary word ("way", "close", "park"): only with
#: capitalised words ("4 Hatton Garden Way"), so "2 for the way" stays.
NAMED_STREET_ADDRESS = re.compile(
    r"(?<![\w])(?:(?:Flat|Apartment|Apt|Unit|Suite)\.?\s{1,3}\d{1,4}[A-Za-z]?\s{0,2},?\s{0,3})?"
    r"\d{1,4}[A-Za-z]?,?\s{1,3}(?:[A-Z][a-z'’.-]{0,30}\s{1,3}){1,4}"
    r"(?:Way|Close|Drive|Place|Court|Square|Hill|Grove|Row|Walk|Park|Green|Parade|Rise|View|Wharf|Quay)(?![\w])"
)

_CAPITALISED = r"[A-Z][a-zà-ÿ'’-]{1,30}"
_ANY_CASE = r"[A-Za-zà-ÿ][A-Za-zà-ÿ'’-]{1,30}"
#: "my name is jane doe", "call me Jane": whatever follows is a name, in any case (up to three words).
NAME_IS = re.compile(
    rf"(?<![\w])(?:my\s{{1,3}}name\s{{1,3}}is|my\s{{1,3}}name['’]s|name['’]s|call\s{{1,3}}me)\s{{1,3}}"
    rf"({_ANY_CASE}(?:\s{{1,3}}{_ANY_CASE}){{0,2}})",
    re.IGNORECASE,
)
#: "I'm Jane Doe", "this is Jane", "it's Jane here": a capitalised word (two at most) that is not a common word.
I_AM = re.compile(
    rf"(?<![\w])(?:[Ii]['’]?m|[Ii]\s{{1,3}}am|[Tt]his\s{{1,3}}is|[Ii]t['’]s)\s{{1,3}}({_CAPITALISED}(?:\s{{1,3}}{_CAPITALISED})?)"
)
#: A sign-off at the end of a message: "thanks, Jane", "Cheers Jane Doe!", "regards - Jane".
SIGN_OFF = re.compile(
    rf"(?<![\w])(?:thanks|thank\s{{1,3}}you|thx|ta|cheers|regards|best|many\s{{1,3}}thanks|best\s{{1,3}}wishes|love)"
    rf"\s{{0,3}}[,.!-]{{0,3}}\s{{0,3}}({_CAPITALISED}(?:\s{{1,3}}{_CAPITALISED})?)\s{{0,3}}[.!)]{{0,3}}\s{{0,3}}$",
    re.IGNORECASE,
)
_COMMON_WORDS = """
    a an the and or but so not no yes very really just still also only too again all any some sorry afraid happy
    glad sad unhappy upset angry annoyed disappointed frustrated confused worried tired fine good great ok okay
    sure new back here there home out in on at from with for about after before looking trying waiting writing
    calling asking getting going having hoping wondering interested unable able done ready late early away busy
    stuck lost british english customer member your you guys team everyone everybody all mate bye goodbye
    much lot lots now today tomorrow yesterday monday tuesday wednesday thursday friday saturday
    sunday january february march april may june july august september october november december please hi hello
    hey dear sir madam regards thanks cheers it that this what which who why how when where if then because
    ridiculous unacceptable terrible awful amazing rubbish useless frustrating annoying urgent wrong right correct
    strange weird important impossible broken missing damaged
"""
#: Capitalised words that follow "I'm", "this is" or "thanks" without being a name.
NOT_NAMES = frozenset(_COMMON_WORDS.split())


def mask_email(email: str) -> str:
    """The address with its local part reduced to the first character.

    Parameters
    ----------
    email : str
        An e-mail address. Text without an ``@`` is masked as a whole.

    Returns
    -------
    str
        ``j***@example.com`` for ``jane.doe@example.com``; ``""`` for ``""``.

    Examples
    --------
    >>> mask_email("Jane.Doe@example.com")
    'J***@example.com'
    """
    email = email.strip()
    if not email:
        return ""
    local, at, domain = email.rpartition("@")
    if not at or not local:
        return email[0] + MASK
    return f"{local[0]}{MASK}@{domain}"


def mask_name(name: str) -> str:
    """Each word of a name reduced to its initial.

    Examples
    --------
    >>> mask_name("Jane van Dijk")
    'J*** v*** D***'
    """
    return " ".join(word[0] + MASK for word in name.split())


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a card number holds (``digits``: the digits only).

    Examples
    --------
    >>> luhn_valid("4111111111111111"), luhn_valid("4111111111111112")
    (True, False)
    """
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _mask_digits(text: str) -> str:
    return re.sub(r"\d", "*", text)


def _mask_phone(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = sum(ch.isdigit() for ch in found)
    if not PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1] or ISO_DATE.search(found):
        return found
    return _mask_digits(found)


def _mask_card(match: re.Match[str]) -> str:
    """The run masked when it holds a card number: the whole run, or consecutive groups of it (a card ends
    where a group does, so "4111 1111 1111 1111 123" is a card and its code, and both are masked)."""
    found = match.group(0)
    groups = re.split(r"[ -]", found)
    digits = "".join(groups)
    bounds = [0]
    for group in groups:
        bounds.append(bounds[-1] + len(group))
    for i, start in enumerate(bounds):
        for end in bounds[i + 1 :]:
            if 13 <= end - start <= 19 and luhn_valid(digits[start:end]):
                return _mask_digits(found)
    return found


def _name_words(candidate: str) -> str:
    """The words of an introduced name up to the first common word ("Jane here" -> "Jane")."""
    kept = []
    for word in candidate.split():
        if word.lower().strip("'’") in NOT_NAMES:
            break
        kept.append(word)
    return " ".join(kept)


def introduced_names(text: str) -> list[str]:
    """The names ``text`` gives for the person writing it.

    "my name is X" (and "call me X") take up to three words in any case;
    "I'm X", "this is X", "it's X" and a sign-off at the end ("thanks, X")
    take one or two capitalised words that are not common words ("I'm Sorry"
    is not a name).

    Examples
    --------
    >>> introduced_names("Hi, I'm Jane Doe. Thanks, Jane")
    ['Jane Doe', 'Jane']
    >>> introduced_names("I'm Looking for my parcel, this is Ridiculous")
    []
    """
    found: list[str] = []
    for pattern in (NAME_IS, I_AM, SIGN_OFF):
        for match in pattern.finditer(text):
            name = _name_words(match.group(1))
            if name and name not in found:
                found.append(name)
    return found


def _name_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    # Longest first, so "Jane Doe" is masked as one name rather than "Jane" then "Doe".
    words = sorted({" ".join(n.split()) for n in names if n.strip()}, key=len, reverse=True)
    if not words:
        return None
    alternatives = "|".join(r"\s{1,3}".join(re.escape(part) for part in w.split()) for w in words)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def mask_structured(text: str) -> str:
    """Mask what has a recognisable shape: e-mails, card numbers, street addresses, postcodes, phone and
    order numbers (not names). Used alone where names are masked another way (bot/ops/triage.py)."""
    # E-mails first: their local parts may hold digits or names; cards before phones (both are digit runs).
    masked = EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group(0)), text)
    masked = CARD.sub(_mask_card, masked)
    masked = STREET_ADDRESS.sub(MASK, masked)
    masked = NAMED_STREET_ADDRESS.sub(MASK, masked)
    masked = UK_POSTCODE.sub(MASK, masked)
    masked = PHONE.sub(_mask_phone, masked)
    return ORDER_NUMBER.sub(lambda m: _mask_digits(m.group(0)), masked)


def mask_text(text: str, names: Iterable[str] = ()) -> str:
    """Mask e-mail addresses, card numbers, street addresses, postcodes, phone and order numbers and names.

    Parameters
    ----------
    text : str
        Free text, e.g. a customer's message.
    names : iterable of str
        Names to mask wherever they appear as whole words, case-insensitively
        (full names like ``"Jane Doe"`` and single words like ``"Jane"`` both work).
        Names the text introduces (:func:`introduced_names`) are masked too,
        everywhere in it; other names are not guessed.

    Returns
    -------
    str
        The text with e-mails as :func:`mask_email` gives them, card, phone and
        order numbers with every digit replaced by ``*`` (``C******`` keeps the
        cancellation prefix), street addresses and postcodes as ``***`` and names
        as :func:`mask_name` gives them.

    Examples
    --------
    >>> mask_text("I'm Jane, order 536365, call +44 7700 900123 or mail jane@example.com", names=["Jane"])
    "I'm J***, order ******, call +** **** ****** or mail j***@example.com"
    >>> mask_text("my name is anna kowalska, 12 High Street, SW1A 1AA")
    'my name is a*** k***, ***, ***'
    """
    masked = mask_structured(text)
    pattern = _name_pattern([*names, *introduced_names(masked)])
    if pattern is not None:
        masked = pattern.sub(lambda m: mask_name(m.group(0)), masked)
    return masked
