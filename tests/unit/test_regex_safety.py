"""Every regular expression that can see a customer's text runs in linear time.

A message is attacker-controlled. Python's ``re`` backtracks, so one pattern such
as ``[a-z.]+@...`` searched over 100 KB of ``a.a.a.`` tries every start and
rescans the rest each time: quadratic, seconds to minutes on Rasa's single
event loop. A pattern is accepted here when either

- its longest possible match is bounded (every quantifier bounded, at most
  ``MAX_WIDTH`` characters), so each start position costs a bounded amount, or
- it is a tokeniser: each branch is one character, or one greedy run of a
  character class that whatever follows may leave alone (it can match nothing), so a match never fails after it began
  and each character is read a bounded number of times.

The patterns are read from the NLU data (``data/nlu/regexes.yml``, run by Rasa on
every message) and from every literal pattern handed to ``re`` in the code of
``actions``, ``analytics`` and ``bot``. A new pattern that is neither fails
here until it is bounded.
"""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import sre_constants as c
    import sre_parse

ROOT = Path(__file__).resolve().parents[2]
MAX_WIDTH = 1000
RE_FUNCTIONS = {"compile", "search", "match", "fullmatch", "findall", "finditer", "sub", "subn", "split"}
ONE_CHARACTER = {c.IN, c.ANY, c.LITERAL, c.NOT_LITERAL, c.CATEGORY}


def nlu_patterns() -> list[tuple[str, str, int]]:
    data = yaml.safe_load((ROOT / "data/nlu/regexes.yml").read_text())
    found = []
    for item in data["nlu"]:
        for line in item["examples"].splitlines():
            pattern = line.strip().removeprefix("- ")
            if pattern:
                found.append((f"regexes.yml {item['regex']}", pattern, re.IGNORECASE))
    return found


def _flags(call: ast.Call) -> int:
    flags = 0
    for node in ast.walk(call):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "re":
            flags |= getattr(re, node.attr, 0) if node.attr in {"IGNORECASE", "I", "VERBOSE", "X"} else 0
    return flags


def code_patterns() -> list[tuple[str, str, int]]:
    found = []
    for folder in ("actions", "analytics", "bot"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "re"
                    and node.func.attr in RE_FUNCTIONS
                    and node.args
                ):
                    continue
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    found.append((where, first.value, _flags(node)))
    return found


def _is_tokeniser_branch(items: list[Any]) -> bool:
    if not items:
        return False
    op, av = items[0]
    if len(items) == 1 and op in ONE_CHARACTER:
        return True
    if op not in (c.MAX_REPEAT, c.MIN_REPEAT):
        return False
    _low, _high, body = av
    if len(body) != 1 or body[0][0] not in ONE_CHARACTER:
        return False
    rest = sre_parse.SubPattern(body.state, list(items[1:]))
    return rest.getwidth()[0] == 0


def _lookarounds(items: Any) -> list[Any]:
    """The bodies of every lookahead and lookbehind in a parsed pattern, nested ones too."""
    found = []
    for op, av in items:
        if op in (c.ASSERT, c.ASSERT_NOT):
            found.append(av[1])
        for part in av if isinstance(av, (list, tuple)) else ():
            if isinstance(part, sre_parse.SubPattern):
                found += _lookarounds(part)
            elif isinstance(part, (list, tuple)):
                found += _lookarounds(p for sub in part if isinstance(sub, sre_parse.SubPattern) for p in sub)
    return found


def is_linear(pattern: str, flags: int) -> bool:
    parsed = sre_parse.parse(pattern, flags)
    # a lookaround is zero-width, so the width below does not see it: an unbounded one rescans the rest of
    # the message at every place it is tried
    if any(body.getwidth()[1] > MAX_WIDTH for body in _lookarounds(parsed)):
        return False
    if parsed.getwidth()[1] <= MAX_WIDTH:
        return True
    items = list(parsed)
    if len(items) == 1 and items[0][0] == c.BRANCH:
        return all(_is_tokeniser_branch(list(branch)) for branch in items[0][1][1])
    return _is_tokeniser_branch(items)


ALL_PATTERNS = nlu_patterns() + code_patterns()


def test_the_patterns_are_found() -> None:
    # the collection itself works: the NLU's e-mail pattern and the dialogue's are among them
    names = {where for where, _, _ in ALL_PATTERNS}
    assert "regexes.yml email" in names
    assert any(where.startswith("actions/") for where in names)
    assert len(ALL_PATTERNS) > 50


@pytest.mark.parametrize(("where", "pattern", "flags"), ALL_PATTERNS, ids=[w for w, _, _ in ALL_PATTERNS])
def test_every_pattern_runs_in_linear_time(where: str, pattern: str, flags: int) -> None:
    assert is_linear(pattern, flags), f"{where}: unbounded pattern {pattern!r}: bound its quantifiers"


@pytest.mark.parametrize(
    "pattern",
    [
        r"\b[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b",  # the old NLU e-mail pattern
        r"\d[\d\s().-]{6,}\d(?!\w)",  # a phone number scanned to the end, then given back
        r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        r"\b\d{6}\b(?![\w.]*@)",  # an unbounded lookahead after each number: the rest of the message each time
        r"(?:x|(?=(?:ab)*c))",  # nested in a group
    ],
)
def test_the_check_rejects_quadratic_patterns(pattern: str) -> None:
    assert not is_linear(pattern, 0)


@pytest.mark.parametrize("pattern", [r"\S+|\s+", r"[a-z0-9]+(?:-[a-z0-9]+)*", r"\s+", r"\w{1,64}@\w{1,64}"])
def test_the_check_accepts_tokenisers_and_bounded_patterns(pattern: str) -> None:
    assert is_linear(pattern, 0)
