"""The web app's client of Rasa's HTTP API: read a conversation, pause it, speak in it, resume it.

Only the web app's back end calls the API, with a short-lived JWT signed with
the key Rasa was started with (:mod:`bot.rasa_runtime.launcher`), in a header; browsers
never see the key and no URL carries it. Bot messages are appended
with ``output_channel=latest&execute_side_effects=true``, so Rasa pushes them
to the customer's open chat (socket.io) as well as storing them.
"""

from __future__ import annotations

from typing import Any, Optional
from urllib.parse import quote

import httpx

from bot.web.keys import rasa_api_headers

AGENT_PREFIX = "agent:"


class RasaUnavailable(RuntimeError):
    """The Rasa server did not answer, or refused the request; the message says which."""


class RasaClient:
    """Synchronous client of the few API calls the console needs.

    Parameters
    ----------
    url : str
        The Rasa server, e.g. ``http://127.0.0.1:5005``.
    token : str
        The key of its HTTP API (``CRM_RASA_TOKEN``).
    timeout : float
        Seconds per request.
    transport : httpx.BaseTransport, optional
        For tests: answer requests without a server.
    """

    def __init__(
        self, url: str, token: str = "", *, timeout: float = 10.0, transport: Optional[httpx.BaseTransport] = None
    ) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._http = httpx.Client(base_url=self.url, timeout=timeout, trust_env=False, transport=transport)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, *, params: Optional[dict[str, str]] = None, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, params=params, headers=rasa_api_headers(self._token), **kwargs)
        except httpx.HTTPError as exc:
            raise RasaUnavailable(f"the Rasa server at {self.url} did not answer: {exc}") from exc
        if response.status_code >= 400:
            raise RasaUnavailable(
                f"the Rasa server refused {method} {path.split('?')[0]}: {response.status_code} {response.text[:200]}"
            )
        return response.json()

    @staticmethod
    def _path(sender_id: str) -> str:
        return f"/conversations/{quote(sender_id, safe='')}"

    def tracker(self, sender_id: str) -> dict[str, Any]:
        """The conversation's full event history (every session)."""
        result = self._call("GET", f"{self._path(sender_id)}/tracker", params={"include_events": "ALL"})
        return result if isinstance(result, dict) else {}

    def append(self, sender_id: str, events: list[dict[str, Any]], *, deliver: bool = True) -> None:
        """Append events; with ``deliver``, bot messages among them reach the customer's open chat."""
        params = {"output_channel": "latest", "execute_side_effects": "true"} if deliver else {}
        self._call("POST", f"{self._path(sender_id)}/tracker/events", params=params, json=events)

    def pause(self, sender_id: str, *, text: Optional[str] = None, author: str = "", author_name: str = "") -> None:
        """Stop the bot answering (its messages are still stored); optionally tell the customer why."""
        events: list[dict[str, Any]] = [{"event": "pause"}]
        if text:
            events.append(bot_event(text, author, author_name=author_name))
        self.append(sender_id, events)

    def say(
        self,
        sender_id: str,
        text: str,
        *,
        author: str,
        author_name: str = "",
        custom: Optional[dict[str, Any]] = None,
    ) -> None:
        """A message from ``author`` (``agent:<login>``, for the console) in the customer's chat, where the
        customer sees ``author_name`` (the agent's display name) instead."""
        self.append(sender_id, [bot_event(text, author, custom, author_name=author_name)])

    def resume(
        self,
        sender_id: str,
        *,
        text: str,
        author: str,
        author_name: str = "",
        slots: Optional[dict[str, Any]] = None,
    ) -> None:
        """Hand the conversation back: a goodbye from the agent, slots for the bot, and the bot listening again."""
        events: list[dict[str, Any]] = [{"event": "resume"}]
        events.extend({"event": "slot", "name": name, "value": value} for name, value in (slots or {}).items())
        events.append(bot_event(text, author, {"handoff": {"status": "resolved"}}, author_name=author_name))
        # the bot's next turn starts from a listen, as after any of its own turns
        events.append({"event": "action", "name": "action_listen"})
        self.append(sender_id, events)


def bot_event(
    text: str, author: str, custom: Optional[dict[str, Any]] = None, *, author_name: str = ""
) -> dict[str, Any]:
    event: dict[str, Any] = {"event": "bot", "text": text, "metadata": {"author": author, "author_name": author_name}}
    if custom:
        event["data"] = {"custom": custom}
    return event
