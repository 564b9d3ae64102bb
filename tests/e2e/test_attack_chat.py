"""Abuse through the chat channel itself, against the running servers.

Issue 13: a verified identity followed the conversation into a new session (on a
shared computer the next visitor inherited the account); anyone could queue
handoffs without end (every agent's console polls the queue); and two returns of
the same line sent at once could both be accepted (8 units returned of 4 bought).

The stack stands as behind a deployment's gateway: Rasa reads the client's
address from the last ``X-Forwarded-For`` entry (``SANIC_PROXIES_COUNT=1``), so
these tests can speak as different clients.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import pytest
import requests
from sqlalchemy import func, select

from analytics.core.settings import Settings
from analytics.security.tokens import sign_customer_token
from analytics.store.models import Customer, Order, OrderLine, OrderStatus, Product, Return
from bot.launch import Stack
from tests.e2e.customers import customer_row, store_of

pytestmark = [pytest.mark.e2e, pytest.mark.attack, pytest.mark.slow]

CARRIED = "17341"  # verifies, then a new session starts on the same conversation id
#: customers other e2e tests talk about (the returns test takes someone else)
USED_ELSEWHERE = {"12680", "12748", "13003", "13694", "14646", "15694", "15910", "16200", "16446", "16597", "16954",
                  "17754", "17850", "17994", "16676", "12970", CARRIED}  # fmt: skip


def say(stack: Stack, sender: str, text: str, metadata: Optional[dict[str, Any]] = None, client: str = "") -> str:
    headers = {"X-Forwarded-For": client} if client else {}
    reply = requests.post(
        f"{stack.rasa_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": text, **({"metadata": metadata} if metadata else {})},
        headers=headers,
        timeout=60,
    )
    reply.raise_for_status()
    return "\n".join(m.get("text", "") for m in reply.json())


def test_a_verified_identity_does_not_survive_into_a_new_session(stack: Stack, stack_env: dict[str, str]) -> None:
    who = customer_row(stack_env, CARRIED)
    sender = f"shared-pc-{uuid.uuid4().hex[:10]}"
    said = say(stack, sender, f"my email is {who['email']} and my order number is {who['orders'][0]}")
    assert "verified" in said.lower(), said
    assert "points" in say(stack, sender, "how many points do I have").lower()
    # the next visitor of the same page: a new session on the same conversation id
    say(stack, sender, "/session_start")
    said = say(stack, sender, "how many points do I have").lower()
    assert "email" in said and "points" not in said, said


def test_one_client_cannot_flood_the_agents_queue(stack: Stack) -> None:
    flooder = "203.0.113.50"
    for _ in range(3):
        said = say(stack, f"flood-{uuid.uuid4().hex[:10]}", "I want to talk to a person", client=flooder)
        assert "connecting you with a member of our team" in said.lower(), said
    refused = f"flood-{uuid.uuid4().hex[:10]}"
    said = say(stack, refused, "I want to talk to a person", client=flooder).lower()
    assert "several times" in said and "connecting you" not in said, said
    # the bot keeps talking to that conversation (a paused one would get silence)
    assert "hello" in say(stack, refused, "hello", client=flooder).lower()
    # and someone else is still put through
    said = say(stack, f"other-{uuid.uuid4().hex[:10]}", "I want to talk to a person", client="203.0.113.51")
    assert "connecting you with a member of our team" in said.lower(), said


def returnable_line(stack_env: dict[str, str], avoid: set[str]) -> tuple[str, int, str, int, int]:
    """A line of an order delivered within the return window, of a customer no other test uses:
    order number, product id and name, units bought, customer id."""
    uow = store_of(stack_env)
    since = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=25)
    try:
        with uow:
            rows = uow.session.execute(
                select(Order.number, OrderLine.product_id, OrderLine.quantity, Customer.id, Customer.external_ref)
                .join(OrderLine, OrderLine.order_id == Order.id)
                .join(Customer, Customer.id == Order.customer_id)
                .where(Order.status == OrderStatus.DELIVERED, Order.delivered_at >= since, OrderLine.quantity >= 2)
                .order_by(Customer.id.desc(), Order.number, OrderLine.id)
            ).all()
            number, product_id, quantity, customer_id, _ = next(r for r in rows if r[4] not in avoid)
            product = uow.session.get(Product, product_id)
            assert product is not None
            return number, product_id, product.name, int(quantity), customer_id
    finally:
        uow.engine.dispose()


def returned_units(stack_env: dict[str, str], number: str, product_id: int) -> int:
    uow = store_of(stack_env)
    try:
        with uow:
            order = uow.orders.by_number(number)
            assert order is not None
            total = uow.session.scalar(
                select(func.coalesce(func.sum(Return.quantity), 0)).where(
                    Return.order_id == order.id, Return.product_id == product_id
                )
            )
            return int(total or 0)
    finally:
        uow.engine.dispose()


def test_two_returns_of_the_same_line_at_once_never_return_more_than_was_bought(
    stack: Stack, stack_env: dict[str, str]
) -> None:
    number, product_id, product, bought, customer_id = returnable_line(stack_env, USED_ELSEWHERE)
    settings = Settings(CRM_TOKEN_SECRET=stack_env["CRM_TOKEN_SECRET"], CRM_VAR_DIR=stack_env["CRM_VAR_DIR"])
    token = {"customer_token": sign_customer_token(customer_id, settings=settings)}
    text = f"I want to return {bought} {product.lower()} from order {number}, they arrived broken"
    senders = [f"returner-{i}-{uuid.uuid4().hex[:8]}" for i in range(4)]
    with ThreadPoolExecutor(len(senders)) as pool:
        answers = list(pool.map(lambda s: say(stack, s, text, token), senders))
    opened = [a for a in answers if "i've opened return" in a.lower()]
    assert len(opened) == 1, answers
    assert returned_units(stack_env, number, product_id) == bought
