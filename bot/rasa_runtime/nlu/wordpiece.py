"""BERT's uncased WordPiece tokenizer in plain Python, with character offsets.

The all-MiniLM-L6-v2 sentence encoder reads the ids of BERT's uncased
vocabulary. The usual way to get them is Hugging Face ``tokenizers``, which the
Rasa 3.6 environment does not have; this module reproduces what that library
does for a ``BertNormalizer(lowercase=True, strip_accents=None)`` +
``BertPreTokenizer`` + ``WordPiece`` pipeline, which is what the model's
``tokenizer.json`` declares:

1. clean the text: drop NUL, U+FFFD and control characters, turn every
   whitespace character into a space;
2. put spaces around CJK ideographs, so each is a word of its own;
3. strip accents (NFD, then drop combining marks) and lowercase;
4. split on whitespace, then make every punctuation character (ASCII
   punctuation and Unicode category P*) a word of its own;
5. split each word greedily into the longest vocabulary pieces, continuation
   pieces prefixed with ``##``; a word with a part that matches nothing, or
   longer than 100 characters, becomes ``[UNK]`` as a whole.

Every piece keeps the span of the original text it came from, so the encoder's
per-piece vectors can be pooled onto Rasa's own whitespace tokens.

Examples
--------
>>> tok = WordPieceTokenizer({"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "card": 3, "##s": 4, "?": 5})
>>> [p.text for p in tok.tokenize("Cards?")]
['card', '##s', '?']
>>> tok.encode("Cards?").ids
[1, 3, 4, 5, 2]
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Encoding", "Piece", "WordPieceTokenizer", "load_vocab"]

# CJK Unified Ideographs and their extensions, as BERT's basic tokenizer lists them.
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


@dataclass(frozen=True)
class Piece:
    """One vocabulary piece: its text, id and ``[start, end)`` span in the original text."""

    text: str
    id: int
    start: int
    end: int


@dataclass(frozen=True)
class Encoding:
    """Model input for one text: ids with ``[CLS]``/``[SEP]`` and the pieces between them."""

    ids: list[int]
    pieces: list[Piece]


def load_vocab(path: str | Path) -> dict[str, int]:
    """Read a BERT ``vocab.txt`` (one piece a line; the line number is the id)."""
    with open(path, encoding="utf-8") as fh:
        return {line.rstrip("\n"): i for i, line in enumerate(fh)}


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    # tab, newline and carriage return count as whitespace, not as control characters
    return ch not in "\t\n\r" and unicodedata.category(ch).startswith("C")


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    # BERT treats every non-alphanumeric ASCII character ($, ^, `, ...) as punctuation
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


class WordPieceTokenizer:
    """Uncased BERT WordPiece tokenizer over a fixed vocabulary.

    Parameters
    ----------
    vocab : mapping of str to int
        Piece to id, as read by :func:`load_vocab`. Must contain the three
        special tokens below.
    unk_token, cls_token, sep_token : str
        The special tokens' spellings.
    max_chars_per_word : int
        Longer words become a single unknown token (BERT's limit is 100).

    Examples
    --------
    >>> tok = WordPieceTokenizer({"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "cafe": 3})
    >>> [(p.text, p.start, p.end) for p in tok.tokenize("  Café!")]
    [('cafe', 2, 6), ('[UNK]', 6, 7)]
    """

    def __init__(
        self,
        vocab: Mapping[str, int],
        *,
        unk_token: str = "[UNK]",
        cls_token: str = "[CLS]",
        sep_token: str = "[SEP]",
        max_chars_per_word: int = 100,
    ) -> None:
        missing = [t for t in (unk_token, cls_token, sep_token) if t not in vocab]
        if missing:
            raise ValueError(f"the vocabulary lacks the special token(s) {missing}; is it a BERT vocab.txt?")
        self.vocab = dict(vocab)
        self.unk_token = unk_token
        self.unk_id = vocab[unk_token]
        self.cls_id = vocab[cls_token]
        self.sep_id = vocab[sep_token]
        self.max_chars_per_word = max_chars_per_word
        # chat messages repeat the same few thousand words: split each once
        self._word_cache: dict[str, list[tuple[str, int, int, int]]] = {}

    @classmethod
    def from_file(cls, path: str | Path) -> WordPieceTokenizer:
        """Build the tokenizer from a BERT ``vocab.txt``."""
        return cls(load_vocab(path))

    def tokenize(self, text: str) -> list[Piece]:
        """Split ``text`` into vocabulary pieces, each with its span in ``text``."""
        pieces: list[Piece] = []
        for word, offsets in self._words(text):
            for piece, piece_id, lo, hi in self._split_word(word):
                pieces.append(Piece(piece, piece_id, offsets[lo], offsets[hi - 1] + 1))
        return pieces

    def encode(self, text: str, max_length: int = 512) -> Encoding:
        """Ids for the model: ``[CLS]`` + pieces (truncated to fit) + ``[SEP]``.

        Parameters
        ----------
        text : str
            The message.
        max_length : int
            Longest id sequence, special tokens included (at least 2).
        """
        if max_length < 2:
            raise ValueError(f"max_length must leave room for [CLS] and [SEP], got {max_length}")
        pieces = self.tokenize(text)[: max_length - 2]
        return Encoding([self.cls_id, *(p.id for p in pieces), self.sep_id], pieces)

    def _normalize(self, text: str) -> tuple[list[str], list[int]]:
        """Cleaned, accent-free, lowercased characters, each with its index in ``text``."""
        chars: list[str] = []
        offsets: list[int] = []
        for i, ch in enumerate(text):
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or _is_control(ch):
                continue
            if _is_whitespace(ch):
                chars.append(" ")
                offsets.append(i)
                continue
            if _is_cjk(ch):
                chars.extend((" ", ch, " "))
                offsets.extend((i, i, i))
                continue
            for part in unicodedata.normalize("NFD", ch):
                if unicodedata.category(part) == "Mn":
                    continue
                for low in part.lower():
                    chars.append(low)
                    offsets.append(i)
        return chars, offsets

    def _words(self, text: str) -> list[tuple[str, list[int]]]:
        """Whitespace- and punctuation-separated words with per-character offsets."""
        chars, offsets = self._normalize(text)
        words: list[tuple[str, list[int]]] = []
        current: list[str] = []
        current_offsets: list[int] = []

        def flush() -> None:
            if current:
                words.append(("".join(current), list(current_offsets)))
                current.clear()
                current_offsets.clear()

        for ch, off in zip(chars, offsets):
            if ch == " ":
                flush()
            elif _is_punctuation(ch):
                flush()
                words.append((ch, [off]))
            else:
                current.append(ch)
                current_offsets.append(off)
        flush()
        return words

    def _split_word(self, word: str) -> list[tuple[str, int, int, int]]:
        """Greedy longest-match-first pieces of one word as (piece, id, start, end) in the word."""
        cached = self._word_cache.get(word)
        if cached is not None:
            return cached
        unknown = [(self.unk_token, self.unk_id, 0, len(word))]
        if len(word) > self.max_chars_per_word:
            return unknown
        pieces: list[tuple[str, int, int, int]] = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while end > start:
                candidate = word[start:end] if start == 0 else "##" + word[start:end]
                piece_id = self.vocab.get(candidate)
                if piece_id is not None:
                    found = (candidate, piece_id, start, end)
                    break
                end -= 1
            if found is None:
                pieces = unknown
                break
            pieces.append(found)
            start = end
        if len(self._word_cache) < 200_000:
            self._word_cache[word] = pieces
        return pieces
