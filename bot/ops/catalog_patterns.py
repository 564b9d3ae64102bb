"""Entity-ruler patterns for the products and categories customers name in chat.

The assistant finds products with a spaCy entity ruler, not with a learnt
extractor: the catalog changes, and a ruler built from the store's product
table knows every product on the day it is built. This module derives the
patterns in the main environment (no spaCy, no Rasa);
:mod:`bot.rasa_runtime.nlu.build_spacy` turns them into a spaCy pipeline in the
Rasa environment.

Three kinds of pattern, one per line of a JSONL file in the format of spaCy's
``EntityRuler`` (``{"label": ..., "pattern": ..., "id": ...}``; the format is
:mod:`bot.rasa_runtime.nlu.patterns`, read by both environments):

* **full product names** ("white hanging heart t-light holder"), and names that
  begin with their product type also the other way round ("red retrospot
  lunch bag" for LUNCH BAG RED RETROSPOT); label ``product``, id the name in
  lower case;
* **product types**, the short phrases customers actually say ("lunch bag",
  "t-light holder", "mug"), learnt from the names as described below; label
  ``product``, id the type's singular, in the spelling the names use most;
* **categories**: the names of :mod:`analytics.ingest.categories` and a few
  everyday words for each ("kitchen", "toys"); label ``category``, id the
  category name ("Kitchen & Dining").

Every pattern is lower case and the ruler compares lower-cased tokens, so
matching ignores case. Where spans overlap the ruler keeps the longest, so
"white hanging heart t-light holder" is one product (the full name), and "the
glass t-light holder" gives the type "t-light holder". Each surface form
appears once: a category word is never also a product.

How product types are learnt
----------------------------
1. Each product description is lower-cased and split into words; compound
   nouns spelt several ways are unified first (CAKESTAND and CAKE STAND,
   TEALIGHT and T-LIGHT: :data:`analytics.core.text.COMPOUNDS`, the product-term
   rules the catalogue search uses too).
2. A candidate is a run of one to three consecutive words that ends in a
   product noun: a keyword of the category rules that names a thing
   (:data:`NOT_PRODUCT_NOUNS` removes the motifs, materials and occasions
   such as HEART, ZINC or EASTER) or the plural of one. It contains no digit and
   does not start with a colour, a size or a function word
   (:data:`NOT_FIRST_WORDS`); a three-word candidate may have "of", "and",
   "in" or "with" in the middle ("heart of wicker", "teacup and saucer").
3. Plurals are folded onto their singular, and each candidate counts the
   distinct product descriptions that contain it. Candidates found in at
   least ``min_products`` descriptions (5 by default) are product types.
4. Single words that mean something else in a shop conversation ("box",
   "card", "light", "ring") are dropped (:data:`AMBIGUOUS_WORDS`).

Each type is written in singular and plural and in every spelling of its
compound nouns ("t-light holder", "tealight holders", "tea light holder" ...),
all with the same id.

What actions receive
--------------------
The ruler gives the text as the customer wrote it; the synonyms written by
:func:`synonyms_yaml` (``data/nlu/synonyms.yml``) make Rasa's
``EntitySynonymMapper`` replace it with the pattern's id. So a ``product``
entity's value is either a full product name in lower case (compare it with
``Product.description.lower()``), or a product type in singular, as spelt in
the names (products whose description contains it, spelling variants
included: :func:`analytics.core.text.type_spellings`). A ``category`` entity's value is a category
name exactly as in :func:`analytics.ingest.categories.category_names`.

Examples
--------
>>> patterns = build_patterns([("LUNCH BAG RED RETROSPOT", "Bags")], min_products=1)
>>> [(p.label, p.pattern, p.id) for p in patterns if "lunch" in p.pattern]  # doctest: +NORMALIZE_WHITESPACE
[('product', 'lunch bag', 'lunch bag'),
 ('product', 'lunch bag red retrospot', 'lunch bag red retrospot'),
 ('product', 'lunch bags', 'lunch bag'),
 ('product', 'red retrospot lunch bag', 'lunch bag red retrospot')]
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from analytics.core.errors import InvalidInput
from analytics.core.text import plural_in, product_words, singular_in, type_spellings, unify_compounds
from analytics.ingest.categories import CATEGORY_RULES, OTHER, category_names
from bot.rasa_runtime.nlu import patterns as patterns_file
from bot.rasa_runtime.nlu.patterns import CATEGORY, PRODUCT, Pattern, PatternsFileError

if TYPE_CHECKING:
    from analytics.store.uow import SqlAlchemyUnitOfWork


def _word_set(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text``: long word lists stay readable."""
    return frozenset(text.split())


#: Category-rule keywords that describe a product (motif, material, occasion,
#: food, activity) rather than name what it is.
NOT_PRODUCT_NOUNS = _word_set(
    """
    christmas xmas advent santa reindeer snowflake snowman nativity easter halloween
    baby party birthday greeting charlie straw doily doilies tissue wrap wrapping fancy
    tea coffee kitchen cake baking bake pantry jam egg food snack picnic dinner bread butter salt pepper
    wine toast biscuit sugar milk recipe chopping glass trinket lunch
    magic play racing sticky knitted felt craft paint colouring knitting sewing snake space rabbit
    bunnies bear teddy dinosaur soldier train car
    hair jewel charm diamante beads garden plant watering bird herb seed outdoor
    bath toilet nail cosmetic first
    hanging heart love home star butterfly shell cabin letter alphabet bunny chick cat dog duck ducks
    hen ball ceramic wooden metal zinc enamel vintage antique flower flowers rose art wall door note
    union block oil hot fairy flying spinning compact passport luggage shower hand ice jelly cookie fly
    """
)

#: Product nouns the category rules do not list as keywords.
EXTRA_PRODUCT_NOUNS = frozenset({"stand", "set", "pad", "lights", "holder", "cases", "candles", "cards", "frame"})

#: Words that never start a product type: colours, sizes, counts, function words.
NOT_FIRST_WORDS = _word_set(
    """
    of and set pack box with in the a an for on to or by design designs assorted asstd
    red pink blue white black green ivory cream silver gold grey brown orange purple yellow
    small large medium mini big giant tall long round square
    """
)

#: Sizes that names put last ("HEART OF WICKER SMALL") and customers say first.
SIZE_WORDS = frozenset({"small", "large", "medium", "mini", "big"})

#: Words allowed inside a three-word type ("heart of wicker", "teacup and saucer").
LINKING_WORDS = frozenset({"of", "and", "in", "with"})

#: Single words that are product nouns in the catalog but mean something else in
#: a shop conversation ("the box was crushed", "pay by card", "ring me").
AMBIGUOUS_WORDS = _word_set(
    """
    bag box holder cover tree ring kit stand storage pot tube jack card cards table tape rack picture
    top tag case set paper light lights watch screen word disc cap dress game stamp aid chest mobile
    fan pad mat clip book bin cup basket shopper order gift item plate frame hook sign
    """
)

#: Everyday words for each category, besides its name.
CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "Christmas & Seasonal": ("christmas", "xmas", "seasonal", "easter", "halloween"),
    "Textiles & Cushions": ("textiles", "soft furnishings"),
    "Candles & Lighting": ("lighting", "candles and lights"),
    "Party & Gift Wrap": (
        "party supplies",
        "party decorations",
        "party stuff",
        "gift wrap",
        "gift wrapping",
        "wrapping paper",
    ),
    "Bags": ("bags",),
    "Kitchen & Dining": ("kitchen", "kitchenware", "kitchen stuff", "tableware", "dining", "cookware"),
    "Storage & Organisation": ("storage", "organisation", "organization", "storage stuff"),
    "Stationery": ("stationery", "stationary"),
    "Toys & Games": ("toys", "toy", "games", "board games"),
    "Jewellery & Accessories": ("jewellery", "jewelry", "accessories"),
    "Garden & Outdoor": ("garden", "gardening", "outdoor", "outdoors", "garden stuff"),
    "Bathroom & Wellbeing": ("bathroom", "wellbeing", "toiletries", "bathroom stuff"),
    "Home Decor": ("home decor", "decor", "home decorations", "homeware", "homewares"),
}

_TOKEN = re.compile(r"\w+|[^\w\s]")
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class Match:
    """A span of a text the ruler would mark (``text[start:end]``)."""

    start: int
    end: int
    label: str
    id: str


# --------------------------------------------------------------------------- words


@cache
def _product_nouns() -> frozenset[str]:
    nouns = set(EXTRA_PRODUCT_NOUNS)
    for _, keywords in CATEGORY_RULES:
        for keyword in keywords:
            last = product_words(keyword)[-1]
            if last not in NOT_PRODUCT_NOUNS:
                nouns.add(last)
    return frozenset(nouns)


# --------------------------------------------------------------------------- learning


def product_types(descriptions: Iterable[str], *, min_products: int = 5, max_words: int = 3) -> dict[str, int]:
    """The product types of a catalog and how many distinct descriptions contain each.

    Parameters
    ----------
    descriptions
        Product descriptions (any case), one per product.
    min_products
        Keep a phrase found in at least this many distinct descriptions.
    max_words
        Longest phrase considered.

    Returns
    -------
    dict
        Singular phrase (spelt as in :data:`analytics.core.text.COMPOUNDS`' first column) -> count,
        most frequent first.

    Examples
    --------
    >>> product_types(["LUNCH BAG RED", "LUNCH BAG BLUE", "JUMBO BAG RED"], min_products=2)
    {'lunch bag': 2}
    """
    if min_products < 1:
        raise InvalidInput(f"min_products must be at least 1, not {min_products}.")
    unique = sorted({" ".join(d.split()).upper() for d in descriptions if d and d.strip()})
    tokenised = [product_words(d) for d in unique]
    vocabulary = frozenset(w for words in tokenised for w in words) | _product_nouns()
    nouns = _product_nouns()
    counts: Counter[str] = Counter()
    for words in tokenised:
        found = set()
        singular = [singular_in(w, vocabulary) for w in words]
        for start in range(len(words)):
            for n in range(1, max_words + 1):
                run = words[start : start + n]
                if len(run) < n:
                    break
                head = singular[start + n - 1]
                if head not in nouns or run[0] in NOT_FIRST_WORDS or any(_DIGIT.search(w) for w in run):
                    continue
                if run[0] in LINKING_WORDS or run[-1] in LINKING_WORDS:
                    continue
                found.add(" ".join([*run[:-1], head]))
        counts.update(found)
    kept = {
        phrase: n
        for phrase, n in counts.items()
        if n >= min_products and not (" " not in phrase and phrase in AMBIGUOUS_WORDS)
    }
    return dict(sorted(kept.items(), key=lambda kv: (-kv[1], kv[0])))


def category_patterns() -> list[Pattern]:
    """Patterns for every category (not "Other"): its name, with "and" for "&", and its everyday words."""
    patterns = []
    for category in category_names():
        if category == OTHER:
            continue
        name = category.lower()
        surfaces = {name, name.replace(" & ", " and "), *CATEGORY_WORDS.get(category, ())}
        patterns += [Pattern(CATEGORY, surface, category) for surface in surfaces]
    return sorted(patterns)


def build_patterns(products: Iterable[tuple[str, str]], *, min_products: int = 5, max_words: int = 3) -> list[Pattern]:
    """All ruler patterns for a catalog of ``(description, category)`` pairs.

    Categories come first when a surface form is claimed twice, then full
    names, then reordered names, then types; the result is sorted.
    """
    descriptions = sorted({" ".join(d.split()).lower() for d, _ in products if d and d.strip()})
    if not descriptions:
        raise InvalidInput("The catalog has no products: import the product data before building patterns.")
    vocabulary = frozenset(w for d in descriptions for w in product_words(d))
    types = product_types(descriptions, min_products=min_products, max_words=max_words)

    claimed: dict[str, Pattern] = {}

    def claim(label: str, surface: str, value: str) -> None:
        surface = " ".join(surface.split())
        if surface and surface not in claimed:
            claimed[surface] = Pattern(label, surface, value)

    for pattern in category_patterns():
        claim(pattern.label, pattern.pattern, pattern.id)
    for name in descriptions:
        claim(PRODUCT, name, name)
    type_names = sorted(types, key=lambda t: -len(t))
    for name in descriptions:
        for surface in reordered_names(name, type_names, vocabulary):
            claim(PRODUCT, surface, name)
    for phrase in type_names:
        for spelling in type_spellings(phrase):
            *first, last = spelling.split(" ")
            claim(PRODUCT, spelling, phrase)
            claim(PRODUCT, " ".join([*first, plural_in(last, vocabulary)]), phrase)
    return sorted(claimed.values())


def reordered_names(name: str, type_names: Sequence[str], vocabulary: frozenset[str]) -> list[str]:
    """The word orders customers use for a name written type-first or size-last.

    "lunch bag red retrospot" is also "red retrospot lunch bag" and "heart of
    wicker small" is also "small heart of wicker"; what follows the type must
    be one to three plain words that name no product. ``type_names`` is
    searched in order, so give the longest types first.

    >>> reordered_names("lunch bag red retrospot", ["lunch bag"], frozenset())
    ['red retrospot lunch bag']
    """
    words = unify_compounds(name).split()
    found = []
    if len(words) > 2 and words[-1] in SIZE_WORDS:
        found.append(" ".join([words[-1], *words[:-1]]))
    unified = " ".join(words)
    phrase = next((t for t in type_names if unified.startswith(t + " ")), None)
    if phrase is not None:
        rest = unified[len(phrase) + 1 :].split()
        if 1 <= len(rest) <= 3 and all(
            w.isalpha() and singular_in(w, vocabulary) not in _product_nouns() for w in rest
        ):
            found.append(f"{' '.join(rest)} {phrase}")
    return found


# --------------------------------------------------------------------------- store and files


def catalog_of(uow: SqlAlchemyUnitOfWork) -> list[tuple[str, str]]:
    """``(description, category)`` of every active product in the store, by SKU."""
    with uow:
        return uow.products.active_descriptions()


def write_patterns(uow: SqlAlchemyUnitOfWork, path: str | Path, *, min_products: int = 5) -> list[Pattern]:
    """Derive the patterns from the store's products and write them to ``path`` (JSONL).

    The file is replaced atomically; the same catalog always gives the same
    bytes. Returns the patterns written.

    Raises
    ------
    InvalidInput
        The store has no products.
    """
    patterns = build_patterns(catalog_of(uow), min_products=min_products)
    _write_text(Path(path), "".join(p.as_json() + "\n" for p in patterns))
    return patterns


def read_patterns(path: str | Path) -> list[Pattern]:
    """Read and check a patterns file written by :func:`write_patterns`.

    The format and its checks are :func:`bot.rasa_runtime.nlu.patterns.read_patterns`'s,
    which the Rasa side reads the same file with.

    Raises
    ------
    InvalidInput
        The file is missing or empty, a line is not a JSON object with string
        ``label`` (``product`` or ``category``), ``pattern`` and ``id``, or a
        pattern appears twice. The message gives the line number.
    """
    try:
        return patterns_file.read_patterns(path)
    except PatternsFileError as exc:
        raise InvalidInput(str(exc)) from exc


def synonyms_yaml(patterns: Sequence[Pattern]) -> str:
    """Rasa NLU ``synonym`` blocks mapping each surface form to its pattern's id.

    Only surfaces that differ from their id (ignoring case, as Rasa's
    ``EntitySynonymMapper`` does) are listed.
    """
    by_value: dict[str, list[str]] = defaultdict(list)
    for p in patterns:
        if p.pattern != p.id.lower():
            by_value[p.id].append(p.pattern)
    lines = [
        "# Generated by bot/ops/catalog_patterns.py from data/catalog_patterns.jsonl: do not edit by hand.",
        "# Maps what customers write (plurals, other spellings, reordered names, category words)",
        "# to the value actions receive: a product name or type in lower case, or a category name.",
        'version: "3.1"',
        "",
        "nlu:",
    ]
    for value in sorted(by_value, key=lambda v: (v.lower(), v)):
        lines.append(f"  - synonym: {json.dumps(value, ensure_ascii=False)}")
        lines.append("    examples: |")
        lines += [f"      - {surface}" for surface in sorted(by_value[value])]
    return "\n".join(lines) + "\n"


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


# --------------------------------------------------------------------------- matching without spaCy


def tokens(text: str) -> list[tuple[int, int]]:
    """Character spans of the tokens of ``text``: runs of word characters, and every other non-space character.

    Close enough to spaCy's English tokenizer for the phrases in the patterns
    ("t-light" is three tokens in both); a test checks the two agree on the
    training data.
    """
    return [m.span() for m in _TOKEN.finditer(text)]


class PhraseRuler:
    """The entity ruler's matching rule without spaCy: case-insensitive token
    sequences, overlaps resolved longest first, then leftmost.

    Examples
    --------
    >>> ruler = PhraseRuler([Pattern("product", "lunch bag", "lunch bag"), Pattern("category", "bags", "Bags")])
    >>> [(m.label, m.id) for m in ruler.find("Is the Lunch Bag in stock? I love bags")]
    [('product', 'lunch bag'), ('category', 'Bags')]
    """

    def __init__(self, patterns: Iterable[Pattern]) -> None:
        self._by_tokens: dict[tuple[str, ...], Pattern] = {}
        for p in patterns:
            key = tuple(p.pattern[s:e] for s, e in tokens(p.pattern))
            self._by_tokens.setdefault(key, p)
        self._longest = max((len(k) for k in self._by_tokens), default=0)

    def find(self, text: str) -> list[Match]:
        spans = tokens(text)
        words = [text[s:e].lower() for s, e in spans]
        found = []
        for i in range(len(words)):
            for n in range(1, min(self._longest, len(words) - i) + 1):
                pattern = self._by_tokens.get(tuple(words[i : i + n]))
                if pattern is not None:
                    found.append((n, i, pattern))
        taken: set[int] = set()
        matches = []
        for n, i, pattern in sorted(found, key=lambda f: (-f[0], f[1])):
            if taken.isdisjoint(range(i, i + n)):
                taken.update(range(i, i + n))
                matches.append(Match(spans[i][0], spans[i + n - 1][1], pattern.label, pattern.id))
        return sorted(matches, key=lambda m: m.start)


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bot.ops.catalog_patterns PATTERNS.jsonl SYNONYMS.yml``: patterns from the shipped sample.

    Loads the sample (``Settings.sample_path``) into a throw-away SQLite
    store, writes the patterns and the matching synonyms file.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m bot.ops.catalog_patterns PATTERNS.jsonl SYNONYMS.yml", file=sys.stderr)
        return 2
    from analytics.core.settings import get_settings
    from analytics.ingest.online_retail import import_online_retail
    from analytics.store.bootstrap import store_for_url

    with tempfile.TemporaryDirectory() as tmp:
        store = store_for_url(f"sqlite:///{Path(tmp) / 'store.sqlite3'}")
        try:
            store.upgrade()
            uow = store.unit_of_work()
            import_online_retail(uow, get_settings().sample_path)
            patterns = write_patterns(uow, args[0])
        finally:
            store.engine.dispose()
    _write_text(Path(args[1]), synonyms_yaml(patterns))
    counts = Counter(p.label for p in patterns)
    print(f"{len(patterns)} patterns ({counts[PRODUCT]} product, {counts[CATEGORY]} category) -> {args[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
