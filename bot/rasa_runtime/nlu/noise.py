"""Realistic typing noise for training copies of the NLU examples.

People typing into a chat box leave out apostrophes and capitals, drop or
double a letter, swap two, hit a neighbouring key, and skip punctuation. A
classifier that has only seen clean sentences gives such messages low
confidence, so training adds noisy copies of its examples
(:mod:`bot.rasa_runtime.nlu.augment`). The operations and their rates are the ones spelling
error studies report as the common single-edit typos (Damerau 1964: about 80%
of misspellings are one insertion, deletion, substitution or transposition;
keyboard-adjacent substitutions dominate substitutions).

The noise never touches a word with a digit or ``@`` in it (order numbers,
e-mail addresses, postcodes, prices), so entity annotations stay true; words
shorter than four letters are left whole (too few letters for a typo to keep
the word recognisable).

Examples
--------
>>> import random
>>> typed = Typist(random.Random(3))
>>> typed.type_out("Where is my order 536365? It hasn't arrived.")  # doctest: +SKIP
'where is my ordr 536365 it hasnt arrived'
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

#: neighbouring keys on a QWERTY keyboard (lower case)
QWERTY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbours() -> dict[str, str]:
    out: dict[str, str] = {}
    for r, row in enumerate(QWERTY_ROWS):
        for c, key in enumerate(row):
            near = [row[c - 1] if c > 0 else "", row[c + 1] if c + 1 < len(row) else ""]
            for other in (r - 1, r + 1):
                if 0 <= other < len(QWERTY_ROWS):
                    line = QWERTY_ROWS[other]
                    near += [line[i] for i in (c - 1, c) if 0 <= i < len(line)]
            out[key] = "".join(sorted(set(near) - {""}))
    return out


NEIGHBOURS = _neighbours()
CHUNK = re.compile(r"\S+|\s+")
PROTECTED = re.compile(r"[0-9@/£$]")


@dataclass
class Typist:
    """Types sentences the way a hurried customer does.

    Parameters
    ----------
    rng : random.Random
        Source of randomness (seed it for reproducible copies).
    word_typo_rate : float
        Chance that a word of four or more letters gets one typo.
    lowercase_rate, drop_apostrophes_rate, drop_punctuation_rate : float
        Chance that the whole message is lower-cased / loses its apostrophes /
        loses its punctuation (not the characters inside protected words).
    """

    rng: random.Random
    word_typo_rate: float = 0.12
    lowercase_rate: float = 0.6
    drop_apostrophes_rate: float = 0.5
    drop_punctuation_rate: float = 0.4

    def typo(self, word: str) -> str:
        """One single-edit typo in ``word``: delete, double, swap, hit a neighbour, or insert one."""
        if len(word) < 4:
            return word
        i = self.rng.randrange(1, len(word))  # first letters are rarely wrong
        kind = self.rng.random()
        ch = word[i]
        if kind < 0.3:
            return word[:i] + word[i + 1 :]
        if kind < 0.45:
            return word[:i] + ch + word[i:]
        if kind < 0.7 and i + 1 < len(word):
            return word[:i] + word[i + 1] + ch + word[i + 2 :]
        near = NEIGHBOURS.get(ch.lower())
        if not near:
            return word[:i] + word[i + 1 :]
        if kind < 0.9:
            return word[:i] + self.rng.choice(near) + word[i + 1 :]
        return word[:i] + self.rng.choice(near) + word[i:]

    def type_out(self, text: str) -> str:
        lower = self.rng.random() < self.lowercase_rate
        no_apostrophes = self.rng.random() < self.drop_apostrophes_rate
        no_punctuation = self.rng.random() < self.drop_punctuation_rate
        out: list[str] = []
        for chunk in CHUNK.findall(text):
            if chunk.isspace() or PROTECTED.search(chunk):
                out.append(chunk)
                continue
            word = chunk.lower() if lower else chunk
            if no_apostrophes:
                word = word.replace("'", "").replace("’", "")
            if no_punctuation:
                word = word.strip(".,!?;:")
            core = word.strip(".,!?;:\"'()")
            if core.isalpha() and self.rng.random() < self.word_typo_rate:
                start = word.find(core)
                word = word[:start] + self.typo(core) + word[start + len(core) :]
            out.append(word)
        return "".join(out).strip() or text
