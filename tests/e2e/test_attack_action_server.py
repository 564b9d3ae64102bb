"""Attacks on the action server: it answers only the Rasa server, and never trusts a tracker's claims.

Issue 13: one unauthenticated ``POST /webhook`` naming ``action_cancel_order``
with ``slots.customer_id=N`` used to cancel another customer's order. These
tests make that call, and variants of it, against the running servers and
check that nothing happens to the store.
"""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.launch import Stack
from tests.e2e.conftest import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.attack, pytest.mark.slow]

VICTIM = "17754"  # Xavier Xu, whose order 581514 is being prepared


def order_status(env: dict[str, str], number: str) -> str:
    with sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite:///")) as db:
        return str(db.execute("select status from orders where number = ?", (number,)).fetchone()[0])


def victim_id(env: dict[str, str]) -> int:
    with sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite:///")) as db:
        return int(db.execute("select id from customers where external_ref = ?", (VICTIM,)).fetchone()[0])


def forged_call(env: dict[str, str], action: str, text: str, intent: str, **slots: Any) -> dict[str, Any]:
    """The body rasa would post, made by hand: the attacker controls every field."""
    return {
        "next_action": action,
        "sender_id": "attacker",
        "tracker": {
            "sender_id": "attacker",
            "slots": {"customer_id": str(victim_id(env)), **slots},
            "latest_message": {
                "text": text,
                "intent": {"name": intent, "confidence": 1.0},
                "intent_ranking": [{"name": intent, "confidence": 1.0}],
                "entities": [{"entity": "order_number", "value": "581514", "start": 7, "end": 13}],
            },
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
        "domain": {},
        "version": "3.6.21",
    }


@pytest.mark.parametrize("action", ["action_respond", "action_cancel_order", "action_change_address"])
@pytest.mark.parametrize("authorization", [None, "Bearer not-the-token", "Basic YWRtaW46YWRtaW4="])
def test_a_call_without_the_token_is_refused_and_changes_nothing(
    stack: Stack, stack_env: dict[str, str], action: str, authorization: str | None
) -> None:
    body = forged_call(
        stack_env, action, "cancel 581514", "cancel_order", dialogue={"confirm": {"what": "cancel", "order": "581514"}}
    )
    headers = {"Authorization": authorization} if authorization else {}
    reply = requests.post(f"{stack.actions_url}/webhook", json=body, headers=headers, timeout=10)
    assert reply.status_code == 401
    assert "utter" not in reply.text
    assert order_status(stack_env, "581514") == "processing"


def test_a_tracker_that_claims_a_customer_is_not_believed_even_with_the_token(
    stack: Stack, stack_env: dict[str, str]
) -> None:
    # as if the Rasa server itself were fooled into sending it: the slots name the victim
    token = (Path(stack_env["CRM_VAR_DIR"]) / "action-token").read_text().strip()
    body = forged_call(
        stack_env,
        "action_respond",
        "yes",
        "affirm",
        identity=str(victim_id(stack_env)),
        dialogue={"confirm": {"what": "cancel", "order": "581514"}},
    )
    reply = requests.post(
        f"{stack.actions_url}/webhook", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert reply.status_code == 200
    said = json.dumps(reply.json())
    assert "utter_order_cancelled_now" not in said and "581514" not in said
    assert order_status(stack_env, "581514") == "processing"


def test_the_action_server_listens_on_loopback_only(stack: Stack) -> None:
    port = int(stack.actions_url.rsplit(":", 1)[1])
    addresses = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    outside = [a for a in addresses if not a.startswith("127.")]
    if not outside:
        pytest.skip("this machine has no address but loopback")
    for address in outside:
        with socket.socket() as sock, pytest.raises(OSError):
            sock.settimeout(2)
            sock.connect((address, port))


def test_health_answers_without_the_token_and_a_huge_body_is_refused(stack: Stack) -> None:
    assert requests.get(f"{stack.actions_url}/health", timeout=10).json()["status"] == "ok"
    huge = b"{" + b" " * (5 * 1024 * 1024) + b"}"
    reply = requests.post(
        f"{stack.actions_url}/webhook", data=huge, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert reply.status_code in (401, 413)
    assert free_port()  # the server is still up and the machine fine
    assert requests.get(f"{stack.actions_url}/health", timeout=10).ok
