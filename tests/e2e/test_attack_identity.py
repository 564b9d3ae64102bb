"""Guessing a customer's identity in the chat, as an attacker would, against the running servers.

Issue 13: the three-try limit on e-mail + order number lived in a slot, so a
fresh conversation id or ``/restart`` reset it, and ``/inform{...}`` skipped
the NLU; order numbers are sequential. These tests make those moves and check
that the guesses stop counting for nothing: failures are counted per
conversation, e-mail address and customer in a store that outlives the
conversation, and once a limit is reached not even the right details are
checked until its window has passed.

Each test uses customers no other e2e test uses (a locked-out customer stays
locked out for the stack's life).
"""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from bot.launch import Stack
from tests.e2e.customers import customer_row

pytestmark = [pytest.mark.e2e, pytest.mark.attack, pytest.mark.slow]

TARGET = "17994"  # a customer with four orders; guessed at from fresh conversations
RESTARTER = "16676"  # a customer with four orders; guessed at with /restart in between
TOO_MANY = "too many unsuccessful attempts"


def say(stack: Stack, sender: str, text: str) -> str:
    reply = requests.post(
        f"{stack.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60
    )
    reply.raise_for_status()
    return "\n".join(m.get("text", "") for m in reply.json())


def inform(email: str, order: str) -> str:
    """The quick-reply payload form: Rasa skips the NLU for it."""
    return "/inform" + json.dumps({"email": email, "order_number": order}, separators=(",", ":"))


def test_guesses_from_fresh_conversations_lock_the_customer_and_the_right_details_then_wait(
    stack: Stack, stack_env: dict[str, str]
) -> None:
    victim = customer_row(stack_env, TARGET)
    order = victim["orders"][0]
    # five guesses of the address that goes with the victim's order, each from a new conversation id,
    # half of them as payloads that skip the NLU; six digits in each address, which are not an order number
    for attempt in range(5):
        sender = f"guess-{uuid.uuid4().hex[:10]}"
        email = f"guess{attempt}.{uuid.uuid4().int % 10**6:06d}@example.com"
        message = inform(email, order) if attempt % 2 else f"my email is {email} and my order is {order}"
        said = say(stack, sender, message).lower()
        assert "couldn't match that email and order number" in said, said
    # the sixth conversation has the right details, and is still refused for now
    said = say(stack, f"guess-{uuid.uuid4().hex[:10]}", inform(victim["email"], order)).lower()
    assert TOO_MANY in said, said
    assert victim["name"].split()[0].lower() not in said


def test_restart_does_not_reset_the_count(stack: Stack, stack_env: dict[str, str]) -> None:
    victim = customer_row(stack_env, RESTARTER)
    order = victim["orders"][0]
    sender = f"restarter-{uuid.uuid4().hex[:10]}"
    for attempt in range(3):
        say(stack, sender, "/restart")
        say(stack, sender, inform(f"wrong{attempt}.{uuid.uuid4().hex[:6]}@example.com", order))
    say(stack, sender, "/restart")
    said = say(stack, sender, inform(victim["email"], order)).lower()
    assert TOO_MANY in said, said


def test_a_customer_no_one_guessed_at_verifies_at_once(stack: Stack, stack_env: dict[str, str]) -> None:
    someone = customer_row(stack_env, "12970")
    said = say(stack, f"honest-{uuid.uuid4().hex[:10]}", inform(someone["email"], someone["orders"][0])).lower()
    assert "verified" in said and TOO_MANY not in said
