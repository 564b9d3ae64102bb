"""Splitting a message into the requests it may hold.

"what are my points and do I have any offers?" asks two things; "my email is
x@y.com and my order is 581502, where is it?" identifies the customer *and*
asks where an order is. The intent classifier scores the whole message and,
when it splits into clauses, each clause too (:mod:`bot.rasa_runtime.nlu.classifier`), so
the dialogue can answer every request.

A clause boundary is sentence punctuation (``. ? ! ;``), a comma, or one of
the joining words ``and``, ``also``, ``plus``, ``then`` (or ``&``, ``+``), or a list
number ("1) ... 2) ..."); a piece counts as a
clause when it has at least two words, otherwise it joins the piece before
it ("do you sell salt and pepper" stays one clause). A split that cuts a
phrase ("salt and pepper shakers") does no harm: a clause only adds a request
when the classifier is confident about it. At
most :data:`MAX_CLAUSES` clauses are kept. Digits, e-mail addresses and
product names pass through unchanged.

Examples
--------
>>> clauses("whats my points and any offers?")
['whats my points', 'any offers']
>>> clauses("my email is a@b.com and my order is 581502, where is it?")
['my email is a@b.com', 'my order is 581502', 'where is it']
>>> clauses("do you sell salt and pepper")
['do you sell salt pepper']
>>> clauses("hi! 1) where is 580744 2) how many points have i got")
['hi where is 580744', 'how many points have i got']
"""

from __future__ import annotations

import re

MAX_CLAUSES = 4
MIN_WORDS = 2
#: a clause boundary; the lookarounds keep "a.b@c.com" and "3.50" whole
BOUNDARY = re.compile(
    r"(?:(?<=[^\s\d])[.?!;]{1,8}(?=\s|$)|[?!;]{1,8}|,(?=\s)|\s{1,8}(?:and|also|plus|then|&|\+)\s{1,8}|"
    r"(?:^|\s{1,8})\(?[1-9]\)\s{1,8})",
    re.IGNORECASE,
)
WORD = re.compile(r"[^\W_]+", re.UNICODE)


def clauses(text: str) -> list[str]:
    """The clauses of ``text`` (one clause when it does not split; empty text: none)."""
    pieces = [p.strip(" ,") for p in BOUNDARY.split(text[:2000])]
    merged: list[str] = []
    for piece in pieces:
        if not piece:
            continue
        if (merged and len(WORD.findall(piece)) < MIN_WORDS) or (merged and len(WORD.findall(merged[-1])) < MIN_WORDS):
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    if len(merged) > MAX_CLAUSES:
        merged = [*merged[: MAX_CLAUSES - 1], " ".join(merged[MAX_CLAUSES - 1 :])]
    return merged
