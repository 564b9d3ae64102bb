"""``crm chat``: talk to the running assistant in a terminal."""

from __future__ import annotations

import uuid
from typing import Annotated, Optional

import requests
import typer

from bot.cli.common import console, fail


def chat(
    url: str = "http://127.0.0.1:5005",
    sender: Annotated[Optional[str], typer.Option(help="Conversation id; a new one by default.")] = None,
) -> None:
    """Chat with the running assistant over its REST channel (Ctrl-D to quit)."""
    sender = sender or f"cli-{uuid.uuid4().hex[:8]}"
    console.print(f"talking to {url} as {sender}; Ctrl-D to quit")
    while True:
        try:
            text = console.input("[bold]you>[/] ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if not text.strip():
            continue
        try:
            reply = requests.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=30)
            reply.raise_for_status()
        except requests.RequestException as exc:
            fail(f"the assistant at {url} did not answer ({exc}); is `make run` running?")
        for message in reply.json():
            for key in ("text", "image"):
                if message.get(key):
                    console.print(f"[bold green]bot>[/] {message[key]}", highlight=False)
            for button in message.get("buttons", []):
                console.print(f"      [{button.get('title')}]", highlight=False)
