"""The one place for the text the shop reads: order numbers, e-mail addresses and product terms.

Order numbers and e-mail addresses are normalised here for every use case, and
found in messages here for the dialogue. Product terms are the matching keys of
the catalogue search (:mod:`analytics.usecases.catalogue_search`): lower case,
plurals folded, hyphenated words joined, a few synonyms; the NLU pattern
builder spells compound nouns and real singular/plural forms with
:data:`COMPOUNDS`, :func:`product_words`, :func:`singular_in` and
:func:`plural_in`.

Every pattern here runs on attacker-controlled text, so every quantifier is
bounded (``tests/unit/test_regex_safety.py``).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import cache, lru_cache

from analytics.core.errors import InvalidInput

# --------------------------------------------------------------------------- order numbers

#: An order number in a message: six digits (the shop's numbers), maybe after ``#``, not part of a price or
#: a longer number ("£536365.00", "5363651").
ORDER_NUMBER_IN_TEXT = re.compile(r"(?<![\d£$.,])(?:#\s?)?(\d{6})(?![\d.,]?\d)")


def normalise_order_number(number: str) -> str:
    """``number`` as the store keeps it: ``#`` and spaces around it dropped, upper case.

    Raises :class:`InvalidInput` when it cannot be an order number (empty, over 32
    characters, not ASCII letters, digits and hyphens).

    Examples
    --------
    >>> normalise_order_number(" #c536379 ")
    'C536379'
    """
    cleaned = number.strip().lstrip("#").strip()
    # ASCII only: upper-casing "ß" or "ﬀ" lengthens them, and the shop's numbers are ASCII anyway
    if not cleaned or len(cleaned) > 32 or not cleaned.isascii() or not cleaned.replace("-", "").isalnum():
        raise InvalidInput(f"{number!r} is not an order number; order numbers look like 536365.")
    return cleaned.upper()


# --------------------------------------------------------------------------- e-mail addresses

#: An e-mail address inside a message: local part, ``@``, a domain with at least one dot. Loose on purpose:
#: masking had better hide something that is not quite an address than miss one, and the dialogue checks
#: what it reads with :func:`normalise_email`.
EMAIL_IN_TEXT = re.compile(r"[\w.%+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
EMAIL_SHAPE = re.compile(r"^[^@\s]{1,64}@[^@\s.]{1,63}(?:\.[^@\s.]{1,63}){1,8}$")


def normalise_email(email: str) -> str:
    """``email`` trimmed and lower-cased; :class:`InvalidInput` if it cannot be an address.

    A pasted ``<jane@example.com>``, ``mailto:jane@example.com`` or ``mailto:<jane@example.com>`` is unwrapped.
    """
    cleaned = str(email).strip().lower()
    while True:  # unwrap until nothing changes, so a normalised address normalises to itself
        unwrapped = cleaned.strip("<>").strip().removeprefix("mailto:").strip()
        if unwrapped == cleaned:
            break
        cleaned = unwrapped
    if len(cleaned) > 254 or not EMAIL_SHAPE.match(cleaned):
        raise InvalidInput(f"{email!r} is not an e-mail address; addresses look like jane@example.com.")
    return cleaned


def fold_email(email: str) -> str:
    """The form an e-mail address is indexed and remembered in: trimmed, lower case."""
    return str(email).strip().lower()


# --------------------------------------------------------------------------- product terms

#: Words of a question that say nothing about which product ("do you have any lunch bags?").
STOPWORDS = frozenset(
    {
        *("a", "an", "and", "any", "about", "are", "available", "availability", "buy", "can", "cost", "costs"),
        *("could", "do", "does", "for", "get", "have", "has", "how", "i", "in", "info", "information", "is"),
        *("it", "item", "items", "like", "looking", "me", "much", "my", "need", "of", "on", "or", "please"),
        *("price", "priced", "product", "products", "sell", "show", "some", "stock", "tell", "that", "the"),
        *("there", "this", "to", "want", "what", "which", "with", "would", "you", "your"),
        # words of chat requests around a product name
        *("goes", "go", "well", "together", "similar", "something", "anything", "else", "also", "one", "ones"),
        *("much", "many", "many", "cheap", "cheaper", "nice", "good", "sale", "selling", "sells", "offer"),
        *("again", "more", "those", "these", "them", "they", "got", "from", "last", "latest", "order", "orders"),
        *("return", "back", "send", "bought", "buying", "recommend", "suggest", "ideas", "idea", "gift", "gifts"),
        *("hi", "hello", "thanks", "thank", "pls", "plz", "u", "ur", "im", "ive", "dont", "was", "were", "be"),
        *("carry", "stock", "guys", "please", "pleas", "cheers", "much", "cost", "worth", "priced"),
        *("btw", "though", "tho", "then", "now", "ok", "okay", "hmm", "um", "but", "so", "just", "really"),
        *("very", "too", "bit", "quite", "maybe", "perhaps", "still", "yet", "even", "actually", "yes", "no"),
        *("great", "nicely", "perfect", "awesome", "brilliant", "fab"),
    }
)
#: Phrases that name one thing in different ways, mapped to one term. "T-LIGHT" is
#: what the catalogue calls a tea light.
SYNONYMS: dict[tuple[str, ...], str] = {
    ("tea", "light"): "tlight",
    ("t", "light"): "tlight",
    ("tealight",): "tlight",
    ("xmas",): "christma",
    # the catalogue says CHILDRENS, CHILDS and KIDS for the same thing
    ("kid",): "children",
    ("child",): "children",
}
WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
SKU_TOKEN = re.compile(r"[A-Za-z0-9]+")


def singular(word: str) -> str:
    """A matching key that is the same for singular and plural (not always a real word)."""
    if word.isdigit() or len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "i"
    elif word.endswith(("ches", "shes", "xes", "sses", "zzes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    # berry/berries -> berri, cookie/cookies -> cooki
    if len(word) >= 4 and word.endswith("y"):
        word = word[:-1] + "i"
    elif len(word) >= 5 and word.endswith("ie"):
        word = word[:-1]
    return word


def _apply_synonyms(words: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(words):
        for size in (2, 1):
            key = tuple(words[i : i + size])
            if len(key) == size and key in SYNONYMS:
                out.append(SYNONYMS[key])
                i += size
                break
        else:
            out.append(words[i])
            i += 1
    return out


@dataclass(frozen=True)
class Terms:
    words: tuple[str, ...]
    """The matching keys in order, stop words left out (each word singular, hyphenated words joined)."""
    parts: frozenset[str]
    """``words`` plus what a product name offers besides: pieces of hyphenated words, joined neighbours."""

    @property
    def phrase(self) -> str:
        """The words in order, numbers left out: equal phrases mean the same name."""
        return " ".join(w for w in self.words if not w.isdigit())


def terms(text: str, *, as_name: bool = False) -> Terms:
    """The terms of a query (``as_name=False``) or of a product name (``as_name=True``)."""
    lowered = text.lower().replace("'", "").replace("’", "")
    words: list[str] = []
    pieces: set[str] = set()
    for token in WORD.findall(lowered):
        if token in STOPWORDS or (token.isdigit() and not as_name):
            continue  # a number in a question is a quantity or an order number, not a product
        split = token.split("-")
        words.append(singular("".join(split)))
        if len(split) > 1:
            pieces.update(singular(p) for p in split)
    words = [w for w in _apply_synonyms(words) if w not in STOPWORDS]
    parts = set(words)
    if as_name:
        parts |= pieces
        parts |= {singular(a + b) for a, b in itertools.pairwise(words) if a.isalpha() and b.isalpha()}
    return Terms(words=tuple(words), parts=frozenset(parts))


@lru_cache(maxsize=65536)
def name_terms(name: str) -> Terms:
    """The terms of a product name (cached: names change rarely)."""
    return terms(name, as_name=True)


# --------------------------------------------------------------------------- product words as spelt in names

#: Compound nouns the catalog spells several ways: the spelling used in ids first.
COMPOUNDS: tuple[tuple[str, ...], ...] = (
    ("t-light", "tealight", "tea light", "t light", "tlight"),
    ("cake stand", "cakestand"),
    ("candle holder", "candleholder"),
    ("card holder", "cardholder"),
    ("key ring", "keyring"),
    ("lunch box", "lunchbox"),
    ("night light", "nightlight"),
    ("door sign", "doorsign"),
    ("drawer knob", "drawerknob"),
    ("doormat", "door mat"),
    ("teacup", "tea cup"),
    ("toast rack", "toastrack"),
    ("washbag", "wash bag"),
    ("birdhouse", "bird house"),
)

_WORD_SPLIT = re.compile(r"[^a-z0-9'\-]+")


@cache
def _compound_spellings() -> tuple[tuple[re.Pattern[str], str], ...]:
    """(other spelling as a whole-word pattern, id spelling) for every compound noun, longest first."""
    pairs = [(other, canonical) for canonical, *others in COMPOUNDS for other in others]
    return tuple(
        (re.compile(rf"(?<![a-z0-9]){re.escape(other)}(?![a-z0-9])"), canonical)
        for other, canonical in sorted(pairs, key=lambda p: -len(p[0]))
    )


def unify_compounds(text: str) -> str:
    """``text`` (lower case) with every compound noun in the spelling :data:`COMPOUNDS` lists first."""
    for other, canonical in _compound_spellings():
        text = other.sub(canonical, text)
    return text


def product_words(description: str) -> list[str]:
    """The words of a product description, lower case, compound nouns unified (``cakestand`` -> ``cake stand``)."""
    text = unify_compounds(" ".join(description.lower().split()))
    return [w.strip("'-") for w in _WORD_SPLIT.split(text) if w.strip("'-")]


def singular_in(word: str, vocabulary: frozenset[str]) -> str:
    """The singular of ``word`` when ``vocabulary`` has it (a real word, unlike :func:`singular`'s key)."""
    if word.endswith("ies") and word[:-3] + "y" in vocabulary:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and word[:-1] in vocabulary:
        return word[:-1]
    if word.endswith("es") and word[:-2] in vocabulary:
        return word[:-2]
    return word


def plural_in(word: str, vocabulary: frozenset[str]) -> str:
    """The plural of ``word``: the one ``vocabulary`` has, else by the English rules."""
    for candidate in (word + "s", word + "es", word[:-1] + "ies"):
        if candidate in vocabulary:
            return candidate
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if len(word) > 1 and word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def type_spellings(phrase: str) -> list[str]:
    """Every spelling of ``phrase`` under :data:`COMPOUNDS`, the given one first.

    >>> type_spellings("cake stand")
    ['cake stand', 'cakestand']
    """
    spellings = [phrase]
    for canonical, *others in COMPOUNDS:
        for spelling in list(spellings):
            if re.search(rf"(?<![a-z0-9]){re.escape(canonical)}(?![a-z0-9])", spelling):
                for other in others:
                    variant = re.sub(rf"(?<![a-z0-9]){re.escape(canonical)}(?![a-z0-9])", other, spelling)
                    if variant not in spellings:
                        spellings.append(variant)
    return spellings
