"""The REST channel as an integration (a shop page, a CRM) uses it: a message with metadata.

The shop's pages sign the customer in by sending a ``customer_token`` in the
message metadata. Rasa must keep that metadata with the message: the actions
read it from the tracker's latest message, and agents see it in the stored
conversation.
"""

from __future__ import annotations

import uuid

import pytest
import requests

from analytics.core.settings import Settings
from analytics.security.tokens import sign_customer_token
from bot.launch import Stack
from tests.e2e.conftest import TOKEN_SECRET

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_metadata_sent_with_a_message_is_kept_with_it_in_the_tracker(stack: Stack, stack_env: dict[str, str]) -> None:
    settings = Settings(CRM_TOKEN_SECRET=TOKEN_SECRET, CRM_VAR_DIR=stack_env["CRM_VAR_DIR"])
    metadata = {"customer_token": sign_customer_token(1, settings=settings), "page": "/account/orders"}
    sender = f"rest-metadata-{uuid.uuid4().hex[:8]}"

    reply = requests.post(
        f"{stack.rasa_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": "hello", "metadata": metadata},
        timeout=60,
    )
    reply.raise_for_status()
    answers = reply.json()
    assert answers and all(m["recipient_id"] == sender for m in answers)

    tracker = requests.get(
        f"{stack.rasa_url}/conversations/{sender}/tracker", headers=stack.api_headers(), timeout=30
    ).json()
    assert tracker["latest_message"]["text"] == "hello"
    # kept as sent, plus the client's address, which the channel itself adds
    assert tracker["latest_message"]["metadata"] == {**metadata, "client_address": "127.0.0.1"}
    assert tracker["latest_input_channel"] == "rest"
    [user_turn] = [e for e in tracker["events"] if e["event"] == "user"]
    # the stored event also names the model that parsed it (Rasa adds assistant_id and model_id)
    assert metadata.items() <= user_turn["metadata"].items() and user_turn["input_channel"] == "rest"


def test_a_message_without_metadata_carries_only_the_client_address_the_channel_saw(stack: Stack) -> None:
    sender = f"rest-plain-{uuid.uuid4().hex[:8]}"
    reply = requests.post(
        f"{stack.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": "hello"}, timeout=60
    )
    reply.raise_for_status()
    tracker = requests.get(
        f"{stack.rasa_url}/conversations/{sender}/tracker", headers=stack.api_headers(), timeout=30
    ).json()
    assert tracker["latest_message"]["text"] == "hello"
    assert tracker["latest_message"]["metadata"] == {"client_address": "127.0.0.1"}


def test_a_client_cannot_choose_the_address_limits_are_counted_against(stack: Stack) -> None:
    sender = f"rest-forged-{uuid.uuid4().hex[:8]}"
    reply = requests.post(
        f"{stack.rasa_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": "hello", "metadata": {"client_address": "203.0.113.9"}},
        timeout=60,
    )
    reply.raise_for_status()
    tracker = requests.get(
        f"{stack.rasa_url}/conversations/{sender}/tracker", headers=stack.api_headers(), timeout=30
    ).json()
    assert tracker["latest_message"]["metadata"]["client_address"] == "127.0.0.1"
