"""A conversation's transcript from its Rasa tracker: who said what, and when the bot was paused.

Pure functions over the tracker's JSON (``GET /conversations/<id>/tracker``),
so they are tested on recorded trackers. Metadata the customer's page sends
(the signed token) is never part of a transcript.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from bot.web.rasa_client import AGENT_PREFIX


@dataclass(frozen=True)
class Line:
    #: position of the event in the tracker: poll with ``after=<index>`` for what is new
    index: int
    #: seconds since the epoch
    at: float
    #: ``customer``, ``bot``, ``agent`` or ``system``
    kind: str
    text: str
    #: an agent's login name (the console shows it)
    author: Optional[str] = None
    #: the name the customer sees for that agent
    author_name: Optional[str] = None
    buttons: list[dict[str, str]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    #: a customer's message the bot did not answer because a person had the conversation
    while_paused: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _buttons(data: dict[str, Any]) -> list[dict[str, str]]:
    raw = data.get("buttons") or data.get("quick_replies") or []
    return [
        {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
        for b in raw
        if isinstance(b, dict) and b.get("payload")
    ]


def _products(custom: Any) -> list[dict[str, Any]]:
    items = custom.get("products") if isinstance(custom, dict) else None
    if not isinstance(items, list):
        return []
    keep = ("sku", "name", "price", "category", "reason")
    return [{k: item.get(k) for k in keep} for item in items if isinstance(item, dict)]


def transcript(tracker: dict[str, Any], *, after: int = -1) -> list[Line]:
    """The lines of a tracker, those with ``index > after`` only.

    Parameters
    ----------
    tracker : dict
        Rasa's tracker JSON.
    after : int
        Index of the last line the caller already has (-1: everything).
    """
    lines: list[Line] = []
    paused = False
    for index, event in enumerate(tracker.get("events") or []):
        kind = event.get("event")
        at = float(event.get("timestamp") or 0.0)
        line: Optional[Line] = None
        if kind == "pause":
            if not paused:
                line = Line(index, at, "system", "The assistant is paused: a person has the conversation.")
            paused = True
        elif kind == "resume":
            if paused:
                line = Line(index, at, "system", "The conversation is back with the assistant.")
            paused = False
        elif kind == "user":
            text = str(event.get("text") or "")
            line = Line(index, at, "customer", text, while_paused=paused)
        elif kind == "bot":
            data = event.get("data") or {}
            metadata = event.get("metadata") or {}
            author = str(metadata.get("author") or "")
            text = str(event.get("text") or "")
            products = _products(data.get("custom"))
            if not text and not products:
                continue
            if author.startswith(AGENT_PREFIX):
                name = str(metadata.get("author_name") or "") or None
                line = Line(index, at, "agent", text, author=author.removeprefix(AGENT_PREFIX), author_name=name)
            else:
                line = Line(index, at, "bot", text, buttons=_buttons(data), products=products)
        if line is not None and index > after:
            lines.append(line)
    return lines


def last_index(tracker: dict[str, Any]) -> int:
    return len(tracker.get("events") or []) - 1


def chat_status(tracker: dict[str, Any]) -> dict[str, Optional[str]]:
    """Who the customer is talking to: the assistant, nobody yet (waiting for a person), or an agent
    (by the display name the customer may see; empty when the agent has none)."""
    if not tracker.get("paused"):
        return {"with": "assistant", "agent": None}
    agent: Optional[str] = None
    for event in tracker.get("events") or []:
        if event.get("event") == "pause":
            agent = None
        elif event.get("event") == "bot":
            metadata = event.get("metadata") or {}
            if str(metadata.get("author") or "").startswith(AGENT_PREFIX):
                agent = str(metadata.get("author_name") or "")
    return {"with": "agent", "agent": agent} if agent is not None else {"with": "waiting", "agent": None}
