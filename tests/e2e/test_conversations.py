"""Conversations a customer has with the running assistant, on the REST channel.

Each conversation in ``conversations.yml`` is a list of turns: what the
customer types and what the bot's reply must (``expect``) or must not
(``absent``) contain, or one of ``expect_any``, or that the bot stays silent (``silent``: the
conversation is with a person). ``customer`` names a customer of the seeded
sample by their shop number; ``signed_in: true`` sends a valid session token
with every message, ``token: forged`` a token signed with another key.
``{email}`` and ``{name}`` in a turn are that customer's.

With ``CRM_RECORD_STORIES=<file>`` the run also writes every conversation as
a Rasa test story (what the model predicted), which is how
``tests/conversations/test_stories.yml`` is made for ``rasa test``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
import yaml

from analytics.core.settings import Settings
from analytics.security.tokens import sign_customer_token
from bot.launch import Stack
from tests.e2e.conftest import TOKEN_SECRET
from tests.e2e.customers import customer_row
from tests.e2e.stories import tracker_to_test_story

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SPEC = Path(__file__).with_name("conversations.yml")
CONVERSATIONS: list[dict[str, Any]] = yaml.safe_load(SPEC.read_text())["conversations"]


def customer(env: dict[str, str], ref: str) -> dict[str, Any]:
    row = customer_row(env, ref)  # names and e-mail addresses are encrypted at rest: read through the store's keys
    return {"id": row["id"], "name": row["name"], "email": row["email"]}


def metadata(conversation: dict[str, Any], who: dict[str, Any] | None, env: dict[str, str]) -> dict[str, Any]:
    if conversation.get("token") == "forged" and who:
        forged = jwt.encode({"sub": str(who["id"]), "aud": "shop-assistant", "exp": 4_000_000_000}, "x" * 48)
        return {"customer_token": forged}
    if conversation.get("signed_in") and who:
        settings = Settings(CRM_TOKEN_SECRET=TOKEN_SECRET, CRM_VAR_DIR=env["CRM_VAR_DIR"])
        return {"customer_token": sign_customer_token(who["id"], settings=settings)}
    return {}


@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=[c["name"] for c in CONVERSATIONS])
def test_conversation(stack: Stack, stack_env: dict[str, str], conversation: dict[str, Any]) -> None:
    who = customer(stack_env, conversation["customer"]) if conversation.get("customer") else None
    sender = "conv-" + conversation["name"].replace(" ", "-")[:60]
    meta = metadata(conversation, who, stack_env)
    for number, turn in enumerate(conversation["turns"], start=1):
        text = turn["user"].format(**(who or {}))
        reply = requests.post(
            f"{stack.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": text, "metadata": meta},
            timeout=60,
        )
        reply.raise_for_status()
        said = "\n".join(m.get("text", "") for m in reply.json())
        where = f"turn {number} ({text!r}) got: {said!r}"
        expected = " ".join(turn.get("expect", []) + turn.get("expect_any", [])).lower()
        if "understand" not in expected:
            assert "didn't quite understand" not in said.lower(), where
        assert said.count("\n") < 12, where  # no runaway loop of answers
        if turn.get("silent"):
            assert said == "", where
        for fragment in turn.get("expect", []):
            assert fragment.format(**(who or {})).lower() in said.lower(), where
        if turn.get("expect_any"):
            assert any(f.lower() in said.lower() for f in turn["expect_any"]), where
        for fragment in turn.get("absent", []):
            assert fragment.format(**(who or {})).lower() not in said.lower(), where
    record = os.environ.get("CRM_RECORD_STORIES")
    if record:
        tracker = requests.get(
            f"{stack.rasa_url}/conversations/{sender}/tracker", headers=stack.api_headers(), timeout=30
        ).json()
        with open(record, "a", encoding="utf-8") as fh:
            fh.write(tracker_to_test_story(conversation["name"], tracker))
