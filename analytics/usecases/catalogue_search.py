"""Finding the product a customer means: entity linking over the catalogue, typos allowed.

Customers name products loosely: "the regency cakestand", "red retrospot
teapot", "tea lights", "the jumbo bag", "teapto". :class:`CatalogIndex` turns a
message (or the words an NLU entity covers) into ranked :class:`Candidate`
products with a confidence, and says whether the words pick one product,
several equally (ask "which one?", or list them for "do you sell ...?"), or
none.

How words match
---------------
Text becomes *terms* (:func:`analytics.core.text.terms`): lower case, apostrophes dropped, plurals
folded onto one key (``bags``/``bag``, ``berries``/``berry``), hyphenated words
joined (``t-light`` -> ``tlight``), a few synonyms (``tea light`` = the
catalogue's ``T-LIGHT``). A product's name also offers the pieces of its
hyphenated words and each pair of neighbouring words written as one
(``cake stand`` -> ``cakestand``), so compounds match however they are
spelt.

A query term that is not a catalogue term is matched fuzzily (RapidFuzz's
normalised Indel similarity, at least :data:`FUZZY_MIN` of 100, against the
catalogue's terms of four or more letters) *only when it is not an English
word*: "teapto" finds "teapot", but "order", "return" or "chipped", real words
that name no product, are ignored rather than stretched onto "border" or
"chips". English words come from symspellpy's frequency list.

How products rank
-----------------
Each query term weighs its inverse document frequency in the catalogue (rarer
words say more: "retrospot" more than "red"). A product's *coverage* is the
weight of the query terms it holds (fuzzy matches at their similarity) over
the weight of every query term that names something in the catalogue: 1.0
when it holds them all. Candidates rank by coverage, then by how few other
words their name has (a more specific name fits better), then by how often
they are ordered (the shop's best-known product wins a tie), then in stock,
then by name.

Examples
--------
>>> from decimal import Decimal
>>> index = CatalogIndex([
...     Listing(1, "22423", "Regency Cakestand 3 Tier", "Kitchen & Dining", Decimal("12.75"), True, 900),
...     Listing(2, "37449", "Ceramic Cake Stand + Hanging Cakes", "Kitchen & Dining", Decimal("9.95"), True, 30),
...     Listing(3, "23173", "Regency Teapot Roses", "Kitchen & Dining", Decimal("9.95"), True, 40),
... ])
>>> index.link("what goes well with the regency cakestand").pick().name
'Regency Cakestand 3 Tier'
>>> index.link("how much is the teapto").pick().name
'Regency Teapot Roses'
>>> index.link("a cake stand").pick() is None  # two fit equally: ask which
True
>>> [p.name for p in index.link("a cake stand").options()]
['Regency Cakestand 3 Tier', 'Ceramic Cake Stand + Hanging Cakes']
"""

from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import NamedTuple, Optional

from rapidfuzz import fuzz, process

from analytics.core.text import SKU_TOKEN, STOPWORDS, name_terms, singular, terms
from analytics.store.cache import PerStoreCache
from analytics.store.uow import SqlAlchemyUnitOfWork

#: Fuzzy matches below this similarity (0-100) are not matches.
FUZZY_MIN = 80
#: A word of a product name this close to an English word of other names is a misspelling of it.
MISSPELT_MIN = 88
#: The most frequent English words ("its", "not", "all", "new") weigh this much of their idf in a
#: match: catalogue names use them ("Do Not Touch", "Toast Its"), but in chat they rarely name a product.
COMMON_WORDS = 500
COMMON_WEIGHT = 0.1
EVERYDAY_WORDS = 5000
#: Words of a purpose phrase ("... for the front door") weigh this much: the product comes before "for".
PURPOSE_WEIGHT = 0.3
#: Chat spellings of a word's sound ("nite", "lite", "brite"): a typed ending and the ending it stands for.
#: Edit distance alone finds the wrong word for them ("nite" is nearer "invite" than "night").
SOUND_ALIKE_ENDINGS = (("ite", "ight"),)
#: How much a word spelt as it sounds counts towards a match (a little less than the word itself).
SOUND_ALIKE_SIMILARITY = 0.95
#: A single best candidate must cover at least this much of the query ...
MIN_COVERAGE = 0.5
#: ... and lead the next by this much, to be *the* product meant.
CLEAR_LEAD = 0.2


class Listing(NamedTuple):
    """A product as the search sees it."""

    id: int
    sku: str
    name: str
    category: str
    price: Decimal
    in_stock: bool
    popularity: int
    """How many order lines hold it: the shop's best-known products rank first on a tie."""


@lru_cache(maxsize=1)
def _english() -> tuple[str, ...]:
    """Lower-case English words (symspellpy's frequency list), most frequent first."""
    path = resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt"
    rows = [line.split(" ", 1) for line in path.read_text(encoding="utf-8").splitlines() if " " in line]
    rows.sort(key=lambda r: -int(r[1]) if r[1].strip().isdigit() else 0)
    return tuple(word for word, _ in rows)


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Every English word of the list, to tell a typo from a real word."""
    return frozenset(_english())


@lru_cache(maxsize=1)
def everyday_words() -> frozenset[str]:
    """The :data:`EVERYDAY_WORDS` most frequent English words: alone, they do not make a product question."""
    return frozenset(singular(w) for w in _english()[:EVERYDAY_WORDS])


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """The :data:`COMMON_WORDS` most frequent English words: they count little towards a match."""
    return frozenset(singular(w) for w in _english()[:COMMON_WORDS])


@dataclass(frozen=True)
class Candidate:
    listing: Listing
    coverage: float
    """Share of what the query names that this product's name holds (0 to 1)."""
    extra_words: int
    """Words of the name the query did not mention."""
    adjacent: int
    """Pairs of query words that stand side by side in the name too ("tea set" in "Retrospot Tea Set")."""
    how: str
    """``sku``, ``exact`` (the whole name), ``all_words`` or ``some_words``."""
    numbers: int = 0
    """Numbers of the query the name holds too ("dolly cabinet 3 drawers": the 3, not the 2 drawers)."""


@dataclass(frozen=True)
class Linked:
    """What a query names in the catalogue."""

    query: str
    candidates: tuple[Candidate, ...]
    """Best first; empty when nothing fits."""
    named: tuple[str, ...]
    """The query terms that name something in the catalogue (empty: the query names no product)."""

    @property
    def names_something(self) -> bool:
        """Whether the query surely names a product: a matched word that is not everyday English
        ("teapot", "retrospot"), or two catalogue words ("lunch bag"), not one everyday word ("lovely")."""
        if not self.candidates:
            return False
        everyday = everyday_words()
        return len(self.named) >= 2 or any(w not in everyday for w in self.named)

    @property
    def best_group(self) -> tuple[Candidate, ...]:
        """The candidates that fit as well as the best (same coverage), best known first."""
        if not self.candidates:
            return ()
        top = self.candidates[0]
        if top.how in ("sku", "exact"):
            return (top,)
        return tuple(
            c
            for c in self.candidates
            if abs(c.coverage - top.coverage) < 1e-9 and c.adjacent == top.adjacent and c.numbers == top.numbers
        )

    def pick(self) -> Optional[Listing]:
        """The one product the query means, or ``None`` (nothing fits, or several fit equally)."""
        if not self.candidates:
            return None
        top = self.candidates[0]
        if top.how in ("sku", "exact"):
            return top.listing
        if top.coverage < MIN_COVERAGE:
            return None
        if len(self.best_group) > 1:
            return None
        runner_up = self.candidates[1].coverage if len(self.candidates) > 1 else 0.0
        return top.listing if top.coverage - runner_up >= CLEAR_LEAD or top.coverage == 1.0 else None

    def options(self, limit: int = 5) -> list[Listing]:
        """The products to offer when several fit: the best-fitting group, best known first."""
        group = sorted(self.best_group, key=lambda c: (-c.listing.popularity, c.listing.name))
        return [c.listing for c in group[:limit]]


class CatalogIndex:
    """An in-memory index of the catalogue for :meth:`link` (build once, reuse: a few ms per query).

    Parameters
    ----------
    listings : iterable of Listing
        The products (an empty catalogue links nothing).
    """

    def __init__(self, listings: Iterable[Listing]) -> None:
        self.listings = list(listings)
        self.by_sku = {item.sku.upper(): item for item in self.listings}
        self._names = [name_terms(item.name) for item in self.listings]
        frequency: dict[str, int] = defaultdict(int)
        for t in self._names:
            for part in t.parts:
                frequency[part] += 1
        n = max(1, len(self.listings))
        self.idf = {term: math.log((1 + n) / (1 + count)) + 1.0 for term, count in frequency.items()}
        self._fuzzy_vocabulary = [t for t in self.idf if len(t) >= 4 and t.isalpha()]
        #: words names spell as one ("cakestand", "doormat"): two query words that join into one are that word
        self._single_words = {w for t in self._names for w in t.words}
        #: misspelt words of names ("strawbery" beside other names' "strawberry"), matched to both spellings
        self._misspelt = self._find_misspelt()
        self._holding: dict[str, list[int]] = defaultdict(list)
        for i, t in enumerate(self._names):
            for part in t.parts:
                self._holding[part].append(i)

    def _find_misspelt(self) -> dict[str, list[tuple[str, float]]]:
        """Words of names that are not English but an English word of other names, misspelt or cut short
        ("strawbery" / "strawberry", "tradtional", "necklac"), with the words they stand for."""
        english = {singular(w) for w in english_words()}
        words = sorted(w for w in self._single_words if len(w) >= 4 and w.isalpha())
        misspelt: dict[str, list[tuple[str, float]]] = {}
        for word in words:
            if len(word) < 5 or word in english:
                continue
            found = process.extract(word, words, scorer=fuzz.ratio, score_cutoff=MISSPELT_MIN, limit=3)
            close = [
                (other, score / 100.0)
                for other, score, _ in found
                if other != word and other in english and other[:2] == word[:2] and abs(len(other) - len(word)) <= 2
            ]
            if close:
                misspelt[word] = close
        return misspelt

    def skus_in(self, text: str) -> list[str]:
        """The catalogue's product codes in ``text`` ("price of 85123A?", "and 22423"), in order."""
        found = [t.upper() for t in SKU_TOKEN.findall(text[:2000]) if any(c.isdigit() for c in t)]
        return list(dict.fromkeys(t for t in found if t in self.by_sku))

    def _join_compounds(self, words: Sequence[str]) -> list[str]:
        """``cake stand`` -> ``cakestand`` where a name spells the joined word as one (names also offer their
        neighbouring words joined, so either spelling finds either kind of name)."""
        out: list[str] = []
        i = 0
        while i < len(words):
            if i + 1 < len(words) and words[i].isalpha() and words[i + 1].isalpha():
                joined = singular(words[i] + words[i + 1])
                if joined in self._single_words:
                    out.append(joined)
                    i += 2
                    continue
            out.append(words[i])
            i += 1
        return out

    def _resolve(self, word: str, members: Optional[set[int]] = None) -> list[tuple[str, float]]:
        """Catalogue terms a query term stands for, with a similarity (1.0 for the term itself).

        With ``members`` (indexes of the products searched), only terms some of them hold.
        """

        def held(term: str) -> bool:
            return members is None or any(i in members for i in self._holding.get(term, ()))

        if word in self.idf:
            # a name's own misspelling ("Hanging Strawbery") also stands for the word it misspells
            found = [(word, 1.0), *self._misspelt.get(word, ())]
            return [(term, similarity) for term, similarity in found if held(term)]
        respelt = _spelt_as_said(word)
        if respelt in self.idf and word not in everyday_words() and held(respelt):
            return [(respelt, SOUND_ALIKE_SIMILARITY)]  # "nite lights": the night lights
        if len(word) < 4 or not word.isalpha() or word in english_words():
            return []
        vocabulary = self._fuzzy_vocabulary
        if members is not None:
            vocabulary = sorted({t for i in members for t in self._names[i].parts if len(t) >= 4 and t.isalpha()})
        found = process.extract(word, vocabulary, scorer=fuzz.ratio, score_cutoff=FUZZY_MIN, limit=3)
        return [(term, score / 100.0) for term, score, _ in found]

    def link(self, text: str, *, within: Optional[Collection[str]] = None, limit: int = 60) -> Linked:
        """The products ``text`` names, best first (``within``: only these SKUs, e.g. one order's lines)."""
        allowed = {s.upper() for s in within} if within is not None else None
        skus = [s for s in self.skus_in(text) if allowed is None or s in allowed]
        if skus:
            item = self.by_sku[skus[0]]
            return Linked(text, (Candidate(item, 1.0, 0, 0, "sku"),), (skus[0],))
        query = terms(text)
        words = self._join_compounds(query.words)
        # inside a few products (one order's lines), only their words can name anything
        members = (
            None if allowed is None else {i for i, item in enumerate(self.listings) if item.sku.upper() in allowed}
        )
        resolved = {w: self._resolve(w, members) for w in dict.fromkeys(words)}
        named = tuple(w for w, found in resolved.items() if found)
        if not named:
            return Linked(text, (), ())
        common = common_words()
        purpose = set(_after_for(text))
        weight = {
            w: max(self.idf[t] for t, _ in resolved[w])
            * (COMMON_WEIGHT if w in common else 1.0)
            * (PURPOSE_WEIGHT if w in purpose else 1.0)
            for w in named
        }
        total = sum(weight.values())
        sequence = [w for w in words if w in named]
        scores: dict[int, float] = defaultdict(float)
        for w in named:
            best_per_product: dict[int, float] = {}
            for term, similarity in resolved[w]:
                for i in self._holding.get(term, ()):
                    best_per_product[i] = max(best_per_product.get(i, 0.0), similarity)
            for i, similarity in best_per_product.items():
                scores[i] += weight[w] * similarity
        # the exact name compares word for word, before compounds were joined
        phrase = " ".join(w for w in query.words if not w.isdigit() and (w in self.idf or self._resolve(w)))
        numbers = _small_numbers(text)
        found: list[Candidate] = []
        for i, score in scores.items():
            item = self.listings[i]
            if allowed is not None and item.sku.upper() not in allowed:
                continue
            coverage = score / total
            name = self._names[i]
            how = "exact" if name.phrase == phrase else "all_words" if coverage > 1 - 1e-9 else "some_words"
            extra = len([w for w in name.words if w not in named])
            neighbours = set(zip(name.words, name.words[1:]))
            adjacent = sum(pair in neighbours for pair in itertools.pairwise(sequence))
            held = len(numbers & {w for w in name.words if w.isdigit()})
            found.append(Candidate(item, coverage, extra, adjacent, how, held))
        if not any(c.how == "exact" for c in found):
            found = _whole_name_inside(found, text)
        found.sort(
            key=lambda c: (
                c.how != "exact",
                -round(c.coverage, 9),
                -c.adjacent,
                -c.numbers,
                c.extra_words,
                -c.listing.popularity,
                not c.listing.in_stock,
                c.listing.name,
            )
        )
        return Linked(text, tuple(found[:limit]), named)


def _small_numbers(text: str) -> set[str]:
    """Numbers of a message that can be part of a product name ("3 drawers", "set of 6"), not an order
    number or a product code (those have four digits or more)."""
    return set(re.findall(r"(?<![\w.£$])\d{1,3}(?![\w.])", text.lower()))


def _spelt_as_said(word: str) -> str:
    """The spelling ``word`` sounds like ("nite" -> "night"), or ``word`` itself."""
    for typed, meant in SOUND_ALIKE_ENDINGS:
        if word.endswith(typed) and len(word) > len(typed):
            return word[: -len(typed)] + meant
    return word


def _after_for(text: str) -> list[str]:
    """Terms of the purpose phrase in "wreaths for the front door", "a lamp for a kids room"."""
    found = re.search(r"\bfor\b(.{1,60})", text.lower())
    return list(terms(found.group(1)).words) if found else []


def best_known(listings: Sequence[Listing], limit: int) -> list[Listing]:
    """The most ordered of ``listings``, best first."""
    return sorted(listings, key=lambda item: (-item.popularity, item.name))[:limit]


#: How long a process reuses a store's catalogue index (a new product is searchable after this).
INDEX_TTL_SECONDS = 600.0
_indexes: PerStoreCache[CatalogIndex] = PerStoreCache(INDEX_TTL_SECONDS)


def index_for(uow: SqlAlchemyUnitOfWork) -> CatalogIndex:
    """The catalogue index of ``uow``'s store, built on first use and every :data:`INDEX_TTL_SECONDS`."""

    def build() -> CatalogIndex:
        with uow:
            rows = uow.products.listing()
        return CatalogIndex(
            Listing(r.id, r.sku, r.name, r.category, Decimal(r.unit_price), bool(r.active), int(r.order_lines))
            for r in rows
        )

    return _indexes.get(uow.engine, build)


def clear_index_cache() -> None:
    """Forget the cached indexes (after an import that changed the catalogue)."""
    _indexes.clear()


#: a word or a punctuation mark of a message
_TOKEN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*|[^\sa-z0-9]")


def _whole_name_inside(found: list[Candidate], text: str) -> list[Candidate]:
    """ "oh quick question first, how much is the toadstool money box": a product's whole name, standing
    alone in a longer message (chat words or punctuation on both sides, not "hanging" before "heart t-light
    holder"), names that product as exactly as the name alone — when it is the only such name there."""
    kept: list[str] = []
    gap_before: list[bool] = []
    gap = True
    for token in _TOKEN.findall(text.lower().replace("'", "").replace("’", "")):
        word = singular(token.replace("-", ""))
        if not token[0].isalnum() or token in STOPWORDS or word in STOPWORDS:
            gap = True
            continue
        kept.append(word)
        gap_before.append(gap)
        gap = False
    gap_before.append(True)  # the end of the message
    alone: list[Candidate] = []
    rest: set[str] = set()
    for c in found:
        words = [w for w in name_terms(c.listing.name).words if not w.isdigit()]
        size = len(words)
        if size < 2:
            continue
        starts = [i for i in range(len(kept) - size + 1) if kept[i : i + size] == words]
        at = next((i for i in starts if gap_before[i] and gap_before[i + size]), None)
        if at is not None:
            alone.append(c)
            rest = set(kept[:at] + kept[at + size :])
    # the other words must not name another product ("doughnut lip gloss, no sorry i mean the ice cream sundae one")
    if len(alone) == 1 and any(
        c is not alone[0] and len(rest & set(name_terms(c.listing.name).words)) >= 2 for c in found
    ):
        return found
    longest = max(alone, key=lambda c: len(name_terms(c.listing.name).words), default=None)
    if longest is None:
        return found
    phrase = f" {name_terms(longest.listing.name).phrase} "
    if any(f" {name_terms(c.listing.name).phrase} " not in phrase for c in alone):
        return found  # two products named ("the spaceboy lunch box and the dolly girl lunch box"): both stay options
    return [
        Candidate(c.listing, c.coverage, c.extra_words, c.adjacent, "exact", c.numbers) if c is longest else c
        for c in found
    ]
