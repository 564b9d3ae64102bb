"""What a capability handler works with: who the customer is, the store, and the replies to send."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from analytics.security.throttle import Throttle
from analytics.usecases.store import UnitOfWork


@dataclass
class Context:
    """One turn's working context.

    ``replies`` collects what the bot says, in order (a response name from
    ``domain.yml`` with its variables and optional buttons, or a JSON message
    such as product cards); ``events`` collects the Rasa events to return
    (e.g. the conversation paused for a person).
    """

    sender_id: str
    channel: str
    now: datetime
    uow: Callable[[], UnitOfWork]
    customer_id: Optional[int] = None
    customer_name: Optional[str] = None
    client: Optional[str] = None
    """The customer's network address as the channel saw it (``None``: unknown, or a local proxy's)."""
    identity_attempts: Optional[Throttle] = None
    """Limits failed identity checks across conversations (:func:`analytics.security.throttle.identity_throttle`)."""
    handoff_attempts: Optional[Throttle] = None
    """Limits requests for a person per client address (:func:`analytics.security.throttle.handoff_throttle`)."""
    handoff_queue_max: Optional[int] = None
    """No new handoff once this many wait for an agent."""
    replies: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def say(self, response: str, buttons: Optional[list[dict[str, str]]] = None, **variables: Any) -> None:
        reply: dict[str, Any] = {"response": response, **variables}
        if buttons:
            reply["buttons"] = buttons
        self.replies.append(reply)

    def show(self, message: dict[str, Any]) -> None:
        self.replies.append({"json_message": message})

    @property
    def said(self) -> list[str]:
        """The response names said so far this turn."""
        return [r["response"] for r in self.replies if "response" in r]


def button(title: str, intent: str, **entities: str) -> dict[str, str]:
    """A quick reply whose payload is ``/intent{"entity": "value"}`` (Rasa skips the NLU for it)."""
    import json

    payload = f"/{intent}" + (json.dumps(entities, separators=(",", ":")) if entities else "")
    return {"title": title[:80], "payload": payload}
