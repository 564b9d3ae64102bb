"""The Telegram channel, up to the point where a customer's message reaches the assistant.

Telegram cannot reach this machine, so these tests stop at Rasa's own
connector: in ``.venv-rasa`` (this test run has no Rasa) a subprocess reads a
credentials file through Rasa, builds the channel's webhook on a Sanic app the
way ``rasa run`` does, and posts the updates recorded in
``tests/data/telegram_update.json`` (a ``getUpdates`` answer: a text message,
a button press, a sticker) to ``/webhooks/telegram/webhook`` over ASGI. The
two calls the connector makes to Telegram's servers (``setWebhook`` at start,
``getMe`` per update) are stubbed; what the assistant would receive is
recorded instead of run. The tests read its report.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bot.launch import quiet_rasa_env
from tests.conftest import ROOT

RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
RECORDED = ROOT / "tests" / "data" / "telegram_update.json"

#: the block credentials.yml documents (Rasa replaces unquoted ${VAR} with the environment variable)
TELEGRAM_CREDENTIALS = """\
telegram:
  access_token: ${TELEGRAM_ACCESS_TOKEN}
  verify: ${TELEGRAM_BOT_USERNAME}
  webhook_url: ${TELEGRAM_WEBHOOK_URL}
"""
ENVIRONMENT = {
    "TELEGRAM_ACCESS_TOKEN": "6021178453:AAE-test-token-not-a-real-one-0123456",
    "TELEGRAM_BOT_USERNAME": "giftshop_help_bot",
    "TELEGRAM_WEBHOOK_URL": "https://shop.example.com/webhooks/telegram/webhook",
}
#: the username Telegram's getMe answers for the token's bot (stubbed)
BOT_USERNAME = "giftshop_help_bot"
CUSTOMER_CHAT_ID = "5150473221"

# Runs in .venv-rasa: argv = credentials file, bot username getMe answers, recorded updates.
RASA_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys

    from aiogram import types
    from sanic import Sanic

    from rasa.core.channels import channel as rasa_channels
    from rasa.core.channels.telegram import TelegramOutput
    from rasa.core.run import create_http_input_channels

    credentials_file, bot_username, recorded = sys.argv[1:4]
    webhooks_set = []

    async def set_webhook(self, url=None, *args, **kwargs):
        webhooks_set.append(url)
        return True

    async def get_me(self):
        return types.User(id=6021178453, is_bot=True, first_name="Gift shop assistant", username=bot_username)

    TelegramOutput.set_webhook = set_webhook
    TelegramOutput.get_me = get_me

    received = []

    class RecordingAgent:
        async def handle_message(self, message):
            received.append(message)

    channels = create_http_input_channels(None, credentials_file)
    app = Sanic("telegram_under_test")
    app.ctx.agent = RecordingAgent()
    rasa_channels.register(channels, app, route="/webhooks/")

    async def post(path, payload):
        body = json.dumps(payload).encode()
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "https", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": [(b"host", b"shop.example.com"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())],
            "client": ("149.154.167.220", 443), "server": ("127.0.0.1", 5005),
        }
        pending = [{"type": "http.request", "body": body, "more_body": False}]
        sent = []

        async def receive():
            return pending.pop(0) if pending else {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return {"status": start["status"], "body": body.decode()}

    async def main():
        # what an ASGI server does first: Sanic finalises its routes on lifespan startup
        lifespan = asyncio.Queue()
        await lifespan.put({"type": "lifespan.startup"})
        started = asyncio.Event()

        async def lifespan_send(message):
            if message["type"] == "lifespan.startup.complete":
                started.set()

        asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}}, lifespan.get, lifespan_send))
        await asyncio.wait_for(started.wait(), 30)
        replies = []
        for update in json.loads(open(recorded).read())["result"]:
            before = len(received)
            reply = await post("/webhooks/telegram/webhook", update)
            reply["messages"] = [
                {
                    "sender_id": m.sender_id,
                    "text": m.text,
                    "input_channel": m.input_channel,
                    "output_channel": m.output_channel.name(),
                }
                for m in received[before:]
            ]
            replies.append(reply)
        return replies

    telegram = next(c for c in channels if c.name() == "telegram")
    replies = asyncio.run(main())
    print(json.dumps({
        "channels": [c.name() for c in channels],
        "credentials": {k: getattr(telegram, k) for k in ("access_token", "verify", "webhook_url")},
        "webhooks_set": webhooks_set,
        "replies": replies,
    }))
    """
)


def run_in_rasa_env(work: Path, credentials: str, bot_username: str, env: dict[str, str]) -> dict[str, Any]:
    if not RASA_PYTHON.exists():
        pytest.skip("the Rasa environment .venv-rasa is missing (make env creates it)")
    (work / "credentials.yml").write_text(credentials)
    (work / "run.py").write_text(RASA_SCRIPT)
    done = subprocess.run(
        [str(RASA_PYTHON), str(work / "run.py"), str(work / "credentials.yml"), bot_username, str(RECORDED)],
        cwd=work,
        env=quiet_rasa_env(env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


@pytest.fixture(scope="module")
def telegram(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What the connector did with the recorded updates, configured as credentials.yml documents."""
    return run_in_rasa_env(
        tmp_path_factory.mktemp("telegram"), "rest:\n" + TELEGRAM_CREDENTIALS, BOT_USERNAME, ENVIRONMENT
    )


def recorded_updates() -> list[dict[str, Any]]:
    updates: list[dict[str, Any]] = json.loads(RECORDED.read_text())["result"]
    return updates


def test_the_credentials_are_read_from_the_environment(telegram: dict[str, Any]) -> None:
    assert telegram["channels"] == ["rest", "telegram"]
    assert telegram["credentials"] == {
        "access_token": ENVIRONMENT["TELEGRAM_ACCESS_TOKEN"],
        "verify": ENVIRONMENT["TELEGRAM_BOT_USERNAME"],
        "webhook_url": ENVIRONMENT["TELEGRAM_WEBHOOK_URL"],
    }


def test_starting_the_channel_registers_the_webhook_with_telegram(telegram: dict[str, Any]) -> None:
    assert telegram["webhooks_set"] == [ENVIRONMENT["TELEGRAM_WEBHOOK_URL"]]


def test_a_text_message_reaches_the_assistant_from_the_customers_chat(telegram: dict[str, Any]) -> None:
    reply = telegram["replies"][0]
    assert recorded_updates()[0]["message"]["text"] == "where is my order 536365?"
    assert reply["status"] == 200
    assert reply["messages"] == [
        {
            "sender_id": CUSTOMER_CHAT_ID,
            "text": "where is my order 536365?",
            "input_channel": "telegram",
            "output_channel": "telegram",
        }
    ]


def test_a_button_press_reaches_the_assistant_as_the_buttons_payload(telegram: dict[str, Any]) -> None:
    pressed = recorded_updates()[1]["callback_query"]
    assert pressed["data"] == "/affirm" and "message" not in recorded_updates()[1]
    [message] = telegram["replies"][1]["messages"]
    assert (message["sender_id"], message["text"], message["input_channel"]) == (
        CUSTOMER_CHAT_ID,
        "/affirm",
        "telegram",
    )


def test_a_sticker_is_acknowledged_and_not_passed_on(telegram: dict[str, Any]) -> None:
    assert "sticker" in recorded_updates()[2]["message"]
    reply = telegram["replies"][2]
    # Telegram retries an update until it gets a 200, so an ignored update must still be acknowledged
    assert (reply["status"], reply["body"], reply["messages"]) == (200, "success", [])


def test_updates_are_refused_when_verify_names_another_bot(tmp_path: Path) -> None:
    report = run_in_rasa_env(
        tmp_path, TELEGRAM_CREDENTIALS, "some_other_bot", {**ENVIRONMENT, "TELEGRAM_BOT_USERNAME": BOT_USERNAME}
    )
    assert [(r["body"], r["messages"]) for r in report["replies"][:2]] == [("failed", []), ("failed", [])]


def test_rasa_refuses_to_start_when_a_credentials_variable_is_unset(tmp_path: Path) -> None:
    if not RASA_PYTHON.exists():
        pytest.skip("the Rasa environment .venv-rasa is missing (make env creates it)")
    (tmp_path / "credentials.yml").write_text(TELEGRAM_CREDENTIALS)
    env = quiet_rasa_env({k: v for k, v in ENVIRONMENT.items() if k != "TELEGRAM_WEBHOOK_URL"})
    env.pop("TELEGRAM_WEBHOOK_URL", None)
    done = subprocess.run(
        [
            str(RASA_PYTHON),
            "-c",
            "import sys; from rasa.core.run import create_http_input_channels; "
            "create_http_input_channels(None, sys.argv[1])",
            str(tmp_path / "credentials.yml"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "${TELEGRAM_WEBHOOK_URL}" in done.stderr
