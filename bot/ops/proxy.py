"""A reverse proxy on the assistant's public port that can change its upstream Rasa server atomically.

Customers (REST channel, socket.io) talk to the proxy; the proxy forwards each
request to the *current* upstream. :class:`Switch` holds that
upstream and counts the requests each upstream is still answering, so a swap
(:mod:`bot.ops.swap`) can point new requests at a freshly loaded server in one
assignment on the event loop and then wait until the old one has answered
everything it was given before stopping it. Nothing is retried: a request is
sent to exactly one upstream.

- HTTP requests are forwarded with their method, path, query, headers and body;
  the response comes back whole (Rasa's answers are small; ``?stream=true`` on
  the REST channel is therefore answered at once, not streamed).
- WebSocket connections (socket.io's websocket transport) are piped both ways to
  the upstream current when they open. They stay on that server until it is
  retired, then are closed with code 1012 (service restart); socket.io clients
  reconnect by themselves and, with ``session_persistence``, continue the same
  conversation, which lives in the shared tracker store. socket.io's polling
  transport is plain HTTP: after a switch the new server does not know the old
  session id, the client gets an error and reconnects the same way.
- The public application (:func:`proxy_app`) forwards the channels only:
  ``/webhooks/...`` (REST, socket.io's health, Telegram), ``/socket.io/...``
  (the web chat) and ``/`` (a health check). Everything else, Rasa's HTTP API
  included (``/model``, ``/status``, ``/conversations/...``), is answered 404
  without reaching Rasa. The decision is made on the path as the upstream
  would read it: a path that is not already in canonical form (percent
  escapes, ``.``/``..`` segments, duplicate slashes, backslashes, NUL) is
  refused, so ``/./model``, ``//model`` or ``/%2e/model`` cannot slip through.
- The back ends (web app, operators' tools) reach Rasa's HTTP API through
  ``proxy_app(switch, api=True)``, served on a loopback port only and still
  behind Rasa's JWT. Even there ``PUT /model`` and ``DELETE /model`` are
  refused: loading a model into the live server stalls it (~30 s) and bypasses
  the regression gate; models go live with ``crm nlu publish``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import unquote

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Scope
from starlette.websockets import WebSocket, WebSocketDisconnect

logger = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
REFUSED = {("PUT", "/model"), ("DELETE", "/model")}
#: What customers may reach on the public port: the channels and a health check (exact path or prefix).
PUBLIC_PATHS = frozenset({"/"})
PUBLIC_PREFIXES = ("/webhooks/", "/socket.io/")
#: What no path may hold, even percent-encoded: a backslash or a NUL (some servers read them as "/").
_FORBIDDEN = ("\\", "\x00")
#: Close code for WebSockets of a retired server: "service restart", clients reconnect.
SERVICE_RESTART = 1012


@dataclass(eq=False)
class Upstream:
    """One Rasa server the proxy may forward to."""

    name: str
    url: str
    inflight: int = 0
    sockets: set[WebSocket] = field(default_factory=set)
    _idle: Optional[asyncio.Event] = None
    _client: Optional[httpx.AsyncClient] = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.url,
                timeout=httpx.Timeout(300.0, connect=5.0),
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            )
        return self._client

    @property
    def idle(self) -> asyncio.Event:
        if self._idle is None:
            self._idle = asyncio.Event()
            self._idle.set()
        return self._idle

    def enter(self) -> None:
        self.inflight += 1
        self.idle.clear()

    def leave(self) -> None:
        self.inflight -= 1
        if self.inflight == 0:
            self.idle.set()

    async def close(self) -> None:
        for socket in list(self.sockets):
            with contextlib.suppress(Exception):
                await socket.close(code=SERVICE_RESTART)
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class Switch:
    """The upstream that receives new requests, and the requests each upstream still holds.

    Everything runs on one event loop, so reading the current upstream and
    counting the request in (:meth:`using`) happen with no ``await`` between
    them: a request is either counted on the old upstream before a switch or
    sent to the new one after it.
    """

    def __init__(self, upstream: Optional[Upstream] = None) -> None:
        self._current = upstream
        self.switches = 0

    @property
    def current(self) -> Optional[Upstream]:
        return self._current

    def switch_to(self, upstream: Upstream) -> Optional[Upstream]:
        """Send new requests to ``upstream``; returns the previous one (still answering what it holds)."""
        previous, self._current = self._current, upstream
        self.switches += 1
        return previous

    @contextlib.contextmanager
    def using(self) -> Iterator[Optional[Upstream]]:
        upstream = self._current
        if upstream is None:
            yield None
            return
        upstream.enter()
        try:
            yield upstream
        finally:
            upstream.leave()

    @staticmethod
    async def drained(upstream: Upstream, timeout: float) -> bool:
        """Wait until ``upstream`` holds no request; False if ``timeout`` passed first."""
        try:
            await asyncio.wait_for(upstream.idle.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True


def _forward_headers(request: Request) -> list[tuple[str, str]]:
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
    client = request.client.host if request.client else ""
    forwarded = request.headers.get("x-forwarded-for")
    headers.append(("x-forwarded-for", f"{forwarded}, {client}" if forwarded else client))
    return headers


def canonical_path(raw: str) -> Optional[str]:
    """``raw``, the path as it was sent (before percent-decoding), if it is already canonical; else ``None``.

    Canonical: absolute, ASCII, no percent sign (escaped or bare), no ``.`` or ``..`` segment, no
    empty segment (``//``), no backslash or NUL. Such a path reads the same to
    the proxy and to every server behind it, so a decision taken on it holds.

    Examples
    --------
    >>> canonical_path("/webhooks/rest/webhook"), canonical_path("/socket.io/")
    ('/webhooks/rest/webhook', '/socket.io/')
    >>> [canonical_path(p) for p in ("/./model", "//model", "/%2e/model", "/a/../model", "/a%2fb")]
    [None, None, None, None, None]
    """
    if not raw.startswith("/") or not raw.isascii() or "%" in raw or any(c in raw for c in _FORBIDDEN):
        return None
    if unquote(raw) != raw:  # an escape: %2e%2e, %2f, %5c, %00 ... decoded by the upstream, not by us
        return None
    normal = "/" + posixpath.normpath(raw).lstrip("/")  # normpath keeps a leading "//"
    if raw.endswith("/") and normal != "/":
        normal += "/"
    return raw if normal == raw else None


def request_path(scope: Scope) -> Optional[str]:
    """The canonical path of an ASGI request (from ``raw_path``, as sent), or ``None``."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    try:
        return canonical_path(raw.decode("ascii"))
    except UnicodeDecodeError:
        return None


def is_public(path: str) -> bool:
    """Whether customers may reach ``path`` (canonical) on the public port: channels and ``/`` only."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def proxy_app(switch: Switch, *, api: bool = False) -> Starlette:
    """The application in front of the Rasa servers; requests go to the current upstream.

    Parameters
    ----------
    switch : Switch
        Holds the upstream.
    api : bool
        False (the public port): only the channels (:func:`is_public`); anything
        else is answered 404 here. True: Rasa's HTTP API as well, for the back
        ends on a loopback port (Rasa still wants its JWT); ``PUT``/``DELETE /model``
        are refused even there.
    """

    def allowed(path: Optional[str]) -> bool:
        return path is not None and (api or is_public(path))

    async def forward(request: Request) -> Response:
        path = request_path(request.scope)
        if path is None or not allowed(path):
            return JSONResponse({"error": "not found"}, status_code=404)
        if (request.method, path.rstrip("/") or "/") in REFUSED:
            return JSONResponse(
                {"error": "models go live with `crm nlu publish` (gated, no stall); this endpoint is disabled"},
                status_code=405,
            )
        body = await request.body()
        with switch.using() as upstream:
            if upstream is None:
                return JSONResponse({"error": "no Rasa server is ready yet"}, status_code=503)
            target = path + (f"?{request.url.query}" if request.url.query else "")
            try:
                answer = await upstream.client.request(
                    request.method, target, headers=_forward_headers(request), content=body
                )
            except httpx.TimeoutException:
                return JSONResponse({"error": f"the Rasa server ({upstream.name}) timed out"}, status_code=504)
            except httpx.TransportError as exc:
                logger.warning("upstream %s failed: %s", upstream.name, exc)
                return JSONResponse({"error": f"the Rasa server ({upstream.name}) is unreachable"}, status_code=502)
        headers = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in answer.headers.multi_items()
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-encoding"
        ]
        response = Response(content=answer.content, status_code=answer.status_code)
        response.raw_headers = [*headers, (b"content-length", str(len(answer.content)).encode())]
        return response

    async def pipe(websocket: WebSocket) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        path = request_path(websocket.scope)
        if path is None or not allowed(path):
            await websocket.close(code=1008)  # before accepting: the client gets HTTP 403
            return
        upstream = switch.current
        if upstream is None:
            await websocket.close(code=SERVICE_RESTART)
            return
        url = upstream.url.replace("http://", "ws://", 1) + path
        if websocket.url.query:
            url += f"?{websocket.url.query}"
        protocols: Any = websocket.scope.get("subprotocols") or None
        try:
            remote_cm = connect(url, subprotocols=protocols, open_timeout=10)
            remote = await remote_cm.__aenter__()
        except (OSError, asyncio.TimeoutError, ConnectionClosed, Exception) as exc:
            logger.warning("websocket to %s failed: %s", upstream.name, exc)
            await websocket.close(code=1011)
            return
        await websocket.accept(subprotocol=remote.subprotocol)
        upstream.sockets.add(websocket)

        async def client_to_remote() -> None:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") is not None:
                    await remote.send(message["text"])
                elif message.get("bytes") is not None:
                    await remote.send(message["bytes"])

        async def remote_to_client() -> None:
            async for message in remote:
                if isinstance(message, str):
                    await websocket.send_text(message)
                else:
                    await websocket.send_bytes(message)

        tasks = [asyncio.create_task(client_to_remote()), asyncio.create_task(remote_to_client())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, WebSocketDisconnect, Exception):
                    await task
            upstream.sockets.discard(websocket)
            with contextlib.suppress(Exception):
                await remote_cm.__aexit__(None, None, None)
            with contextlib.suppress(Exception):
                await websocket.close()

    return Starlette(
        routes=[Route("/{path:path}", forward, methods=METHODS), WebSocketRoute("/{path:path}", pipe)],
    )
