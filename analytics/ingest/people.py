"""Pseudonymous names and e-mail addresses for anonymised source customers.

The Online Retail data identifies customers only by a number. A chat demo
needs a name to greet and an e-mail to verify, so each customer gets a
generated pseudonym, derived from the customer number alone (stable across
imports). Addresses use the reserved ``example.com`` domain: no real person
is named or reachable.
"""

from __future__ import annotations

import hashlib

FIRST_NAMES = (
    "Alex",
    "Amira",
    "Ben",
    "Chloe",
    "Daniel",
    "Eva",
    "Farah",
    "George",
    "Hannah",
    "Isaac",
    "Jade",
    "Kai",
    "Laura",
    "Mohammed",
    "Nora",
    "Oliver",
    "Priya",
    "Quentin",
    "Rosa",
    "Samuel",
    "Tara",
    "Umar",
    "Vera",
    "William",
    "Xavier",
    "Yasmin",
    "Zoe",
    "Aoife",
    "Bruno",
    "Carmen",
    "Dmitri",
    "Elena",
    "Felix",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kamala",
    "Lars",
    "Mei",
)
LAST_NAMES = (
    "Adams",
    "Bauer",
    "Campbell",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Hughes",
    "Ivanova",
    "Jensen",
    "Khan",
    "Lopez",
    "Murphy",
    "Nowak",
    "O'Brien",
    "Patel",
    "Quinn",
    "Rossi",
    "Smith",
    "Taylor",
    "Usman",
    "Van Dijk",
    "Walsh",
    "Xu",
    "Young",
    "Zielinski",
    "Andersson",
    "Brennan",
    "Costa",
    "Novak",
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Silva",
    "Tanaka",
    "Horvat",
    "Kowalski",
    "Mendes",
    "Byrne",
    "Weber",
)


def _digest(ref: str) -> int:
    return int.from_bytes(hashlib.sha256(f"customer:{ref}".encode()).digest()[:8], "big")


def pseudonym(ref: str) -> tuple[str, str]:
    """``(name, email)`` for source customer number ``ref``."""
    h = _digest(ref)
    first = FIRST_NAMES[h % len(FIRST_NAMES)]
    last = LAST_NAMES[(h >> 16) % len(LAST_NAMES)]
    local = f"{first}.{last}".lower().replace("'", "").replace(" ", "")
    return f"{first} {last}", f"{local}.{ref}@example.com"


def marketing_consent(ref: str) -> bool:
    """About 70% of customers opted in to marketing, deterministically."""
    return (_digest(ref) >> 32) % 10 < 7
