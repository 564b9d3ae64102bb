"""Masking of personal data in text shown to people or kept for training.

Three helpers, all pure functions:

- :func:`mask_email` keeps the first character of the local part and the
  domain: ``jane.doe@example.com`` -> ``j***@example.com``;
- :func:`mask_name` keeps the initial of each word: ``Jane van Dijk`` ->
  ``J*** v*** D***``;
- :func:`mask_text` finds e-mail addresses, phone numbers, order numbers and
  the names it is given inside free text (a chat message, an NLU training
  example) and masks each where it stands, so the sentence still reads.

A fixed ``***`` rather than one star per letter: the length of a name or an
address is itself a clue.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"

#: Local part, ``@``, a domain with at least one dot. Deliberately loose: it
#: is better to mask something that is not quite an address than to miss one.
EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")

#: An order number of the shop: six digits, a cancellation number has a ``C`` in front.
ORDER_NUMBER = re.compile(r"(?<![\w-])[Cc]?\d{6}(?![\w-])")

#: A phone number: an optional ``+`` or ``00``, then digits with spaces, dots,
#: dashes or brackets between them; it counts when it holds 9 to 15 digits
#: (fewer are dates, prices or order numbers; more are card or tracking numbers).
PHONE = re.compile(r"(?<![\w+])(?:\+|\(\+?)?\d[\d\s().-]{6,40}\d(?![\w])")
PHONE_DIGITS = (9, 15)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


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


def _mask_digits(text: str) -> str:
    return re.sub(r"\d", "*", text)


def _mask_phone(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = sum(ch.isdigit() for ch in found)
    if not PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1] or ISO_DATE.search(found):
        return found
    return _mask_digits(found)


def _name_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    # Longest first, so "Jane Doe" is masked as one name rather than "Jane" then "Doe".
    words = sorted({" ".join(n.split()) for n in names if n.strip()}, key=len, reverse=True)
    if not words:
        return None
    alternatives = "|".join(r"\s+".join(re.escape(part) for part in w.split()) for w in words)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def mask_text(text: str, names: Iterable[str] = ()) -> str:
    """Mask e-mail addresses, phone numbers, order numbers and the given names in ``text``.

    Parameters
    ----------
    text : str
        Free text, e.g. a customer's message.
    names : iterable of str
        Names to mask wherever they appear as whole words, case-insensitively
        (full names like ``"Jane Doe"`` and single words like ``"Jane"`` both work).
        Names are not guessed: a name not in the list stays.

    Returns
    -------
    str
        The text with e-mails as :func:`mask_email` gives them, phone and order
        numbers with every digit replaced by ``*`` (``C******`` keeps the
        cancellation prefix) and names as :func:`mask_name` gives them.

    Examples
    --------
    >>> mask_text("I'm Jane, order 536365, call +44 7700 900123 or mail jane@example.com", names=["Jane"])
    "I'm J***, order ******, call +** **** ****** or mail j***@example.com"
    """
    # E-mails first: their local parts may hold digits or names.
    masked = EMAIL.sub(lambda m: mask_email(m.group(0)), text)
    masked = PHONE.sub(_mask_phone, masked)
    masked = ORDER_NUMBER.sub(lambda m: _mask_digits(m.group(0)), masked)
    pattern = _name_pattern(names)
    if pattern is not None:
        masked = pattern.sub(lambda m: mask_name(m.group(0)), masked)
    return masked
