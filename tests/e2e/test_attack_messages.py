"""Attacks with messages: huge ones must not freeze the bot, and Rasa's HTTP API stays closed.

Issue 13: a 20 KB message used to keep every other customer waiting for
seconds (a quadratic e-mail pattern, on Rasa's single event loop), and the
channels took messages of up to 100 MB. Now every channel refuses a message
over 1,000 characters with a polite reply before the NLU sees it, bodies over
1 MB are refused by the server, and the HTTP API answers only a JWT signed
with the stack's key.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest
import requests

from bot.launch import Stack, rasa_executable
from bot.web.keys import rasa_api_headers

pytestmark = [pytest.mark.e2e, pytest.mark.attack, pytest.mark.slow]

#: what a hostile message is made of: the old e-mail pattern's worst case, digits, spaces, words
HOSTILE = ["a." * 50_000, "1" * 100_000, "a" * 99_999 + "@", "where is my order " * 5_600, "£1 " * 33_000]


def say(stack: Stack, sender: str, text: str, timeout: float = 60) -> list[dict[str, Any]]:
    """The bot's replies; a body over the server's limit (1 MiB) counts as one refusal."""
    answer = requests.post(
        f"{stack.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=timeout
    )
    if answer.status_code == 413:
        return [{"text": "413: the message is too long (over the 1,000-character limit)"}]
    answer.raise_for_status()
    replies: list[dict[str, Any]] = answer.json()
    return replies


def user_texts(stack: Stack, sender: str) -> list[str]:
    tracker = requests.get(
        f"{stack.rasa_url}/conversations/{sender}/tracker", headers=stack.api_headers(), timeout=30
    ).json()
    return [e.get("text") or "" for e in tracker["events"] if e["event"] == "user"]


@pytest.mark.parametrize("size", [100_000, 1_000_000])
@pytest.mark.parametrize("shape", range(len(HOSTILE)))
def test_a_huge_message_gets_a_polite_refusal_and_is_not_stored(stack: Stack, size: int, shape: int) -> None:
    text = (HOSTILE[shape] * (size // len(HOSTILE[shape]) + 1))[:size]
    sender = f"huge-{size}-{shape}"

    replies = say(stack, sender, text)

    assert len(replies) == 1
    assert "too long" in replies[0]["text"] and "1,000" in replies[0]["text"]
    assert user_texts(stack, sender) == []


def test_a_message_at_the_limit_is_answered(stack: Stack) -> None:
    text = ("where is my order 581514? " * 40)[:1000]

    replies = say(stack, "at-the-limit", text)

    assert replies and not any("too long" in r.get("text", "") for r in replies)
    assert user_texts(stack, "at-the-limit") == [text.strip()]


def test_other_customers_are_answered_while_huge_messages_arrive(stack: Stack) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        floods = [pool.submit(say, stack, f"flood-{i}", "a." * 500_000) for i in range(6)]
        greeting = pool.submit(say, stack, "bystander", "hello")
        replies = greeting.result(timeout=60)
        for flood in floods:
            assert "too long" in flood.result(timeout=120)[0]["text"]

    assert replies and "assistant" in replies[0]["text"].lower()


def test_a_body_over_one_megabyte_is_refused(stack: Stack) -> None:
    body = json.dumps({"sender": "too-big", "message": "x" * 2_000_000})

    answer = requests.post(
        f"{stack.rasa_url}/webhooks/rest/webhook",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )

    assert answer.status_code == 413


def test_an_overlong_conversation_id_is_refused(stack: Stack) -> None:
    replies = say(stack, "s" * 5000, "hello")

    assert "too long" in replies[0]["text"] and "reload" in replies[0]["text"]


def test_the_socket_channel_refuses_a_huge_message_too(stack: Stack) -> None:
    # a socket.io client outside the page (which stops typing at 1,000 characters): python-socketio
    # of the Rasa environment
    script = textwrap.dedent(
        """
        import asyncio, json, sys
        import socketio

        async def main(url):
            client = socketio.AsyncClient()
            got = asyncio.get_running_loop().create_future()
            async def confirmed(sid):
                await client.emit("user_uttered", {"message": "a." * 50_000, "session_id": sid})

            client.on("session_confirm", confirmed)
            client.on("bot_uttered", lambda m: got.done() or got.set_result(m))
            await client.connect(url, socketio_path="/socket.io", transports=["polling"])
            await client.emit("session_request", {"session_id": "socket-flood"})
            print(json.dumps(await asyncio.wait_for(got, 60)))
            await client.disconnect()

        asyncio.run(main(sys.argv[1]))
        """
    )
    done = subprocess.run(
        [str(rasa_executable().parent / "python"), "-c", script, stack.rasa_url],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert "too long" in json.loads(done.stdout.strip().splitlines()[-1])["text"]


@pytest.mark.parametrize(
    "credentials",
    [
        {},
        {"params": {"token": "guess"}},
        {"headers": {"Authorization": "Bearer " + jwt.encode({"user": {"role": "admin"}}, "x" * 32)}},
        {"headers": {"Authorization": "Bearer " + jwt.encode({"user": {"role": "admin"}}, "", algorithm="none")}},
    ],
    ids=["none", "query-token", "wrong-key", "unsigned"],
)
def test_the_http_api_refuses_calls_without_a_valid_jwt(stack: Stack, credentials: dict[str, Any]) -> None:
    parse = requests.post(f"{stack.rasa_url}/model/parse", json={"text": "hi"}, timeout=30, **credentials)
    tracker = requests.get(f"{stack.rasa_url}/conversations/bystander/tracker", timeout=30, **credentials)

    assert parse.status_code == 401 and tracker.status_code == 401


def test_the_http_api_answers_a_jwt_signed_with_the_key(stack: Stack) -> None:
    assert stack.rasa_token
    answer = requests.post(
        f"{stack.rasa_url}/model/parse", json={"text": "hi"}, headers=rasa_api_headers(stack.rasa_token), timeout=30
    )

    assert answer.status_code == 200 and answer.json()["intent"]["name"]


def test_the_key_is_not_on_any_command_line(stack: Stack) -> None:
    assert stack.rasa_token
    for process in stack.processes:
        with open(f"/proc/{process.pid}/cmdline", "rb") as cmdline:
            assert stack.rasa_token.encode() not in cmdline.read()
