"""The channels customers write through, as the Rasa server loads them (``credentials.yml``).

**Every channel refuses oversized messages at the edge.** A message longer than
:data:`MAX_MESSAGE_CHARS` (what chat widgets allow) or a conversation id longer
than :data:`MAX_SENDER_CHARS` never reaches the NLU or the tracker store: the
customer gets a polite reply saying what to do instead. (Rasa parses on one
event loop; one huge message would otherwise delay every other customer.)

The REST channel is Rasa's own with that guard. The socket.io channel of the web
chat is Rasa 3.6's, with the guard and three fixes the web chat needs:

- **Custom payloads arrive.** Rasa emits a custom JSON message as keyword
  arguments of ``AsyncServer.emit`` (``emit(event, products=[...])``), which
  raises ``TypeError`` for any payload that is not exactly ``{"data": ...}``:
  product cards and the handoff notice were lost. Here every message is one
  event whose payload carries the custom part under ``custom``.
- **Who wrote a message travels with it.** Bot messages an agent sends
  through the HTTP API carry ``metadata.author`` (their login) and
  ``author_name`` (the name customers may see); Rasa's channel drops
  metadata, this one passes on that an agent wrote it, with the display name
  only, so the page can show "Alice · customer service".
- **Rooms work with any python-socketio 5.x.** ``enter_room`` became a
  coroutine in python-socketio 5.10 and Rasa 3.6 does not await it, so with
  ``session_persistence`` every reply was dropped (RasaHQ/rasa#13027); here
  the result is awaited when it is awaitable.

The channel keeps the name ``socketio``: same webhook path
(``/webhooks/socketio``), and ``output_channel=latest`` in the HTTP API finds
it. This module runs inside the Rasa environment (rasa 3.6); it imports
nothing of the application (the web chat page, :mod:`bot.web`, is its client).
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Optional

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint

logger = logging.getLogger(__name__)

#: a bot message an agent wrote carries ``metadata.author = "agent:<login name>"``
AGENT_PREFIX = "agent:"
#: the longest message a customer may send (characters)
MAX_MESSAGE_CHARS = 1000
#: the longest conversation id a client may choose (characters)
MAX_SENDER_CHARS = 128

#: the metadata key under which every channel passes the client's network address (set by the server,
#: never taken from the client: limits on identity checks count per address)
CLIENT_ADDRESS = "client_address"
#: how many socket.io sessions' addresses are remembered
MAX_REMEMBERED_SESSIONS = 10_000

NewMessageHandler = Callable[[UserMessage], Awaitable[Any]]


def request_address(request: Any) -> str:
    """The client's address: the proxy-reported one when Sanic is told to trust a proxy, else the peer's."""
    return str(getattr(request, "remote_addr", "") or getattr(request, "ip", "") or "")


def with_address(metadata: Any, address: str) -> dict[str, Any]:
    """``metadata`` (a dict, or anything a client sent) with the server-observed client address."""
    kept = dict(metadata) if isinstance(metadata, dict) else {}
    kept[CLIENT_ADDRESS] = address
    return kept


def refusal(message: UserMessage) -> Optional[str]:
    """What to tell the customer instead of answering ``message``, or ``None`` if it may be answered."""
    if len(message.sender_id or "") > MAX_SENDER_CHARS:
        return f"Sorry, this chat's id is too long (at most {MAX_SENDER_CHARS} characters). Please reload the page."
    length = len(message.text or "")
    if length > MAX_MESSAGE_CHARS:
        return (
            f"Sorry, that message is too long for me ({length:,} characters; the limit is "
            f"{MAX_MESSAGE_CHARS:,}). Please send a shorter message: a sentence or two is plenty."
        )
    return None


def guarded(on_new_message: NewMessageHandler) -> NewMessageHandler:
    """``on_new_message``, except that oversized messages get :func:`refusal` and go no further."""

    async def handle(message: UserMessage) -> Any:
        reply = refusal(message)
        if reply is None:
            return await on_new_message(message)
        logger.warning(
            "refused a message of %d characters on channel %s", len(message.text or ""), message.input_channel
        )
        assert message.output_channel is not None
        await message.output_channel.send_text_message(message.sender_id or "", reply)
        return None

    return handle


def _forwarded(kwargs: dict[str, Any]) -> dict[str, Any]:
    """What the page learns about who wrote a message: that an agent did, and the name customers may see
    (``agent:<display name>``); an agent's login name never leaves the server."""
    if str(kwargs.get("author") or "").startswith(AGENT_PREFIX):
        return {"author": AGENT_PREFIX + str(kwargs.get("author_name") or "")}
    return {}


class ShopSocketIOOutput(SocketIOOutput):
    """Rasa's socket.io output with custom payloads and the author kept."""

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        """One bot message with text and a custom part (the handoff notice) arrives as one event,
        so the page never shows the text without what comes with it."""
        message = dict(message)
        custom = message.pop("custom", None)
        if custom and message.get("text") and not (message.get("buttons") or message.get("quick_replies")):
            extra = _forwarded(message)
            parts = str(message.pop("text")).strip().split("\n\n")
            for part in parts[:-1]:
                await self._send_message(recipient_id, {"text": part, **extra})
            await self._send_message(recipient_id, {"text": parts[-1], "custom": custom, **extra})
        elif custom:
            message["custom"] = custom
        await super().send_response(recipient_id, message)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        extra = _forwarded(kwargs)
        for part in text.strip().split("\n\n"):
            await self._send_message(recipient_id, {"text": part, **extra})

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        extra = _forwarded(kwargs)
        parts = text.strip().split("\n\n") or [text]
        messages: list[dict[str, Any]] = [{"text": part, **extra} for part in parts]
        messages[-1]["quick_replies"] = [
            {"content_type": "text", "title": button["title"], "payload": button["payload"]} for button in buttons
        ]
        for message in messages:
            await self._send_message(recipient_id, message)

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        await self._send_message(recipient_id, {"custom": json_message, **_forwarded(kwargs)})

    async def send_elements(self, recipient_id: str, elements: Iterable[dict[str, Any]], **kwargs: Any) -> None:
        for element in elements:
            payload = {"template_type": "generic", "elements": element}
            await self._send_message(recipient_id, {"attachment": {"type": "template", "payload": payload}})


class ShopRestInput(RestInput):
    """Rasa's REST channel (``POST /webhooks/rest/webhook``) with the size guard; same name and path."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: NewMessageHandler) -> Blueprint:
        return super().blueprint(guarded(on_new_message))

    def get_metadata(self, request: Any) -> Optional[dict[str, Any]]:
        return with_address(super().get_metadata(request), request_address(request))


class ShopSocketIOInput(SocketIOInput):
    """Rasa's socket.io input, answering through :class:`ShopSocketIOOutput`."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    def get_output_channel(self) -> Optional[OutputChannel]:
        if self.sio is None:
            return super().get_output_channel()
        return ShopSocketIOOutput(self.sio, self.bot_message_evt)

    def blueprint(self, on_new_message: NewMessageHandler) -> Blueprint:
        answer = guarded(on_new_message)
        socket_addresses: OrderedDict[str, str] = OrderedDict()  # socket id -> client address
        session_addresses: OrderedDict[str, str] = OrderedDict()  # conversation id -> client address

        def remember(table: OrderedDict[str, str], key: str, address: str) -> None:
            table[key] = address
            table.move_to_end(key)
            while len(table) > MAX_REMEMBERED_SESSIONS:
                table.popitem(last=False)

        async def through_our_output(message: UserMessage) -> Any:
            # Rasa's handler builds its own output channel for every message; answer through ours
            assert self.sio is not None
            message.output_channel = ShopSocketIOOutput(self.sio, self.bot_message_evt)
            message.metadata = with_address(message.metadata, session_addresses.get(message.sender_id or "", ""))
            return await answer(message)

        blueprint = super().blueprint(through_our_output)
        sio = self.sio
        assert sio is not None

        connect_handler = sio.handlers.get(self.namespace or "/", {}).get("connect")

        async def connect(sid: str, environ: dict[str, Any], auth: Optional[dict[str, Any]] = None) -> Any:
            request = environ.get("sanic.request")
            remember(socket_addresses, sid, request_address(request) if request else environ.get("REMOTE_ADDR", ""))
            if connect_handler is None:
                return True
            result = connect_handler(sid, environ, auth)
            return await result if inspect.isawaitable(result) else result

        async def session_request(sid: str, data: Optional[dict[str, Any]]) -> None:
            data = dict(data or {})
            if not data.get("session_id"):
                data["session_id"] = uuid.uuid4().hex
            remember(session_addresses, str(data["session_id"]), socket_addresses.get(sid, ""))
            if self.session_persistence:
                entered = sio.enter_room(sid, data["session_id"], namespace=self.namespace)
                if inspect.isawaitable(entered):
                    await entered
            await sio.emit("session_confirm", data["session_id"], room=sid, namespace=self.namespace)
            logger.debug("socket %s joined session %s", sid, data["session_id"])

        # replace the handlers Rasa registered for the same events
        sio.on("connect", namespace=self.namespace)(connect)
        sio.on("session_request", namespace=self.namespace)(session_request)
        return blueprint
