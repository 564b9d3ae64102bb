"""Spelling normalisation of chat messages towards the assistant's own vocabulary.

Customers type "whre is my oder", "hasnt come", "pls", "u". The intent
classifier and the sentence encoder work best on words they have seen, so
before classification each message gets a *normalised* copy in which

1. chat shorthand and contractions typed without an apostrophe are written
   out from a fixed table (``u`` -> ``you``, ``pls`` -> ``please``, ``dont`` ->
   ``don't``, ``wheres`` -> ``where's``): a lexical-normalisation list like
   those used for social-media text, small enough to read;
2. a word the assistant does not know (not in its *domain vocabulary*, the
   words of its training data and of the catalogue, and not one of the
   ``common_words`` most frequent English words) is replaced by the domain word
   closest to it in Damerau–Levenshtein distance (one edit for words of up to
   six letters, two for longer ones), the most frequent in the training data
   on a tie. A word that is close to nothing stays as it is.

Candidates come from SymSpell (the ``symspellpy`` package: a precomputed
index of deletions, so a lookup takes microseconds); the English word
frequencies are the ones symspellpy ships (82,765 words). Only lower-case words
of letters (and apostrophes) are touched; numbers, order numbers, e-mail
addresses, postcodes and anything with a digit or ``@`` pass through, so
entities are never damaged. The original text is kept for entity extraction;
only the intent features read the normalised copy.

Why domain words only: the general dictionary prefers whatever is most common
in books ("whre" -> "were", "helo" -> "help", "wek" -> "we"); the assistant's
own vocabulary, weighted by how often its training data uses each word, picks
"where", "order" and "week", the words that decide an intent.

Examples
--------
>>> n = Normaliser.from_texts(["where is my order", "it hasn't arrived", "hello there"], common_words=0)
>>> n.normalise("whre is my oder, it hasnt arived")
"where is my order, it hasn't arrived"
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

#: Chat shorthand and apostrophe-less contractions, written out. Only words that mean one
#: thing in a shop chat: "ill", "id", "were", "well", "its" are real words and stay.
SHORTHAND: dict[str, str] = {
    "u": "you",
    "ur": "your",
    "r": "are",
    "pls": "please",
    "plz": "please",
    "pleas": "please",
    "thx": "thanks",
    "thanx": "thanks",
    "thnx": "thanks",
    "ty": "thanks",
    "tnx": "thanks",
    "wat": "what",
    "wot": "what",
    "wats": "what's",
    "hw": "how",
    "n": "and",
    "xmas": "christmas",
    "bday": "birthday",
    "abt": "about",
    "hv": "have",
    "cud": "could",
    "wud": "would",
    "pkg": "package",
    "msg": "message",
    "addy": "address",
    "im": "i'm",
    "ive": "i've",
    "dont": "don't",
    "doesnt": "doesn't",
    "didnt": "didn't",
    "cant": "can't",
    "wont": "won't",
    "isnt": "isn't",
    "arent": "aren't",
    "wasnt": "wasn't",
    "werent": "weren't",
    "hasnt": "hasn't",
    "havent": "haven't",
    "hadnt": "hadn't",
    "couldnt": "couldn't",
    "wouldnt": "wouldn't",
    "shouldnt": "shouldn't",
    "youre": "you're",
    "theyre": "they're",
    "thats": "that's",
    "whats": "what's",
    "wheres": "where's",
    "whens": "when's",
    "hows": "how's",
    "heres": "here's",
    "theres": "there's",
    "ain't": "isn't",
}

WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
#: a piece of a message: a run of non-space characters, or of spaces
CHUNK = re.compile(r"\S+|\s+")
#: inside a chunk: a word of letters, or a run of anything else
TOKEN = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*|[^A-Za-z]+")
#: chunks left exactly as typed: numbers, e-mail addresses, codes, links
VERBATIM = re.compile(r"[0-9@/]")
MIN_LENGTH = 3


@lru_cache(maxsize=1)
def english_frequencies() -> dict[str, int]:
    """symspellpy's English word frequencies (word -> count), read once."""
    path = resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt"
    counts: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        word, _, count = line.partition(" ")
        if word and count.isdigit():
            counts[word] = int(count)
    return counts


def words(text: str) -> list[str]:
    """The lower-case words of ``text`` (letters and inner apostrophes)."""
    return WORD.findall(text.lower().replace("’", "'"))


@dataclass(frozen=True)
class Span:
    """A piece of the normalised text and the piece of the original it replaces."""

    start: int
    end: int
    source_start: int
    source_end: int
    same: bool
    """The piece is the original's, letter for letter (case aside)."""

    def source(self, start: int, end: int) -> tuple[int, int]:
        """Where ``start:end`` (inside this piece) lies in the original text."""
        if self.same:
            return self.source_start + (start - self.start), self.source_start + (end - self.start)
        return self.source_start, self.source_end


class SourceMap:
    """Maps offsets of the normalised text back to the original, in O(log n) per lookup.

    ``spans`` are the normalised text's pieces in order, each after the last (as
    :meth:`Normaliser.normalise` gives them). A long message has thousands; a
    featurizer looks up every word piece, so a linear scan per lookup would make
    one message's features quadratic in its length.
    """

    def __init__(self, spans: Sequence[Span]) -> None:
        self._spans = list(spans)
        self._starts = [s.start for s in self._spans]
        self._ends = [s.end for s in self._spans]

    def __call__(self, start: int, end: int) -> tuple[int, int]:
        """Where ``start:end`` of the normalised text lies in the original (the pieces it touches)."""
        first_at = bisect.bisect_right(self._ends, start)  # the first piece ending after ``start``
        last_at = bisect.bisect_left(self._starts, max(end, start + 1)) - 1  # the last starting before ``end``
        if first_at > last_at:
            return start, end
        first, last = self._spans[first_at], self._spans[last_at]
        return first.source(max(start, first.start), min(end, first.end))[0], last.source(
            max(start, last.start), min(end, last.end)
        )[1]


@dataclass
class Normaliser:
    """Maps unknown words of a message to the closest words of a domain vocabulary.

    Parameters
    ----------
    vocabulary : dict of str to int
        The domain words and how often the training data uses each (catalogue
        words count once).
    common_words : int
        How many of the most frequent English words are left alone even when
        the domain does not use them (0: none).
    """

    vocabulary: dict[str, int]
    common_words: int = 15000
    _index: Any = field(init=False, repr=False, default=None)
    _common: frozenset[str] = field(init=False, repr=False, default=frozenset())

    def __post_init__(self) -> None:
        from symspellpy import SymSpell

        index = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
        for word, count in self.vocabulary.items():
            if len(word) >= MIN_LENGTH:
                index.create_dictionary_entry(word, max(1, int(count)))
        self._index = index
        if self.common_words > 0:
            ranked = sorted(english_frequencies().items(), key=lambda kv: -kv[1])
            self._common = frozenset(w for w, _ in ranked[: self.common_words])

    @classmethod
    def from_texts(cls, texts: Iterable[str], extra_words: Iterable[str] = (), common_words: int = 15000) -> Normaliser:
        """A normaliser whose vocabulary is the words of ``texts`` (counted) and ``extra_words``."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(words(text))
        for word in extra_words:
            for part in words(word):
                counts.setdefault(part, 1)
        return cls(dict(counts), common_words=common_words)

    def known(self, word: str) -> bool:
        return word in self.vocabulary or word in self._common

    def correct(self, word: str) -> str:
        """The word to use for ``word`` (lower case): itself, its written-out form or the closest domain word."""
        if word in SHORTHAND:
            return SHORTHAND[word]
        if len(word) < MIN_LENGTH or self.known(word):
            return word
        from symspellpy import Verbosity

        distance = 1 if len(word) <= 6 else 2
        found = self._index.lookup(word, Verbosity.CLOSEST, max_edit_distance=distance)
        if not found:
            return word
        best = max(found, key=lambda s: (s.count, s.term))
        return str(best.term)

    def normalise(self, text: str) -> str:
        """``text`` with every word replaced by :meth:`correct` (lower case); other characters as they were."""
        return self.normalise_with_spans(text)[0]

    def normalise_with_spans(self, text: str) -> tuple[str, list[Span]]:
        """The normalised text and where each of its pieces came from in ``text``.

        Each :class:`Span` is ``(start, end)`` in the normalised text and
        ``(source_start, source_end)`` in ``text``, so features computed on the
        normalised text can be put back on the tokens of the original.
        """
        out: list[str] = []
        spans: list[Span] = []
        at = 0
        pos = 0
        for chunk in CHUNK.findall(text):
            pieces = [chunk] if chunk.isspace() or VERBATIM.search(chunk) else TOKEN.findall(chunk)
            verbatim = len(pieces) == 1 and pieces[0] == chunk and (chunk.isspace() or bool(VERBATIM.search(chunk)))
            for piece in pieces:
                new = self.correct(piece.lower().replace("’", "'")) if not verbatim and piece[0].isalpha() else piece
                spans.append(Span(at, at + len(new), pos, pos + len(piece), new.lower() == piece.lower()))
                out.append(new)
                at += len(new)
                pos += len(piece)
        return "".join(out), spans

    def to_dict(self) -> dict[str, Any]:
        return {"vocabulary": self.vocabulary, "common_words": self.common_words}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normaliser:
        return cls({str(k): int(v) for k, v in data["vocabulary"].items()}, common_words=int(data["common_words"]))
