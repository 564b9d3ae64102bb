"""The switch in front of the Rasa servers (bot/ops/proxy.py).

Two fake upstreams stand in for Rasa servers (in-process, no sockets). What a
customer would notice if these failed: a request lost or sent twice at the
moment of a swap, an answer cut short because its server was stopped too
early, or someone stalling the live server with Rasa's PUT /model. What an
attacker would gain: Rasa's HTTP API (conversations, model loading) on the
public port, reached directly or through a path the proxy reads differently
from the server behind it (``/./model``, ``/%2e/model``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from bot.ops.proxy import Switch, Upstream, canonical_path, proxy_app

#: Paths that are not what they look like: the upstream would read them as /model (or something else).
SMUGGLED = ["/./model", "//model", "/%2e/model", "/%2E%2E/model", "/webhooks/../model", "/webhooks/%2e%2e/model",
            "/model%00", "/model/.", "/webhooks\\..\\model", "/webhooks/rest%2f..%2f..%2fmodel"]  # fmt: skip


def fake_rasa(
    name: str, release: asyncio.Event | None = None, seen: list[str] | None = None, paths: list[str] | None = None
) -> Upstream:
    """An upstream answering the REST channel; any other path echoes the request (status 201)."""

    async def webhook(request: Request) -> JSONResponse:
        body = await request.json()
        if seen is not None:
            seen.append(body["message"])
        if release is not None and body["message"] == "slow":
            await release.wait()
        return JSONResponse(
            [{"recipient_id": body["sender"], "text": f"{name} answers {body['message']}"}],
            headers={"x-served-by": name},
        )

    async def echo(request: Request) -> JSONResponse:
        if paths is not None:
            paths.append(f"{request.method} {request.url.path}")
        return JSONResponse(
            {"method": request.method, "path": request.url.path, "query": request.url.query,
             "body": (await request.body()).decode(), "forwarded_for": request.headers.get("x-forwarded-for")},
            status_code=201,
        )  # fmt: skip

    app = Starlette(
        routes=[
            Route("/webhooks/rest/webhook", webhook, methods=["POST"]),
            Route("/{path:path}", echo, methods=["GET", "POST", "PUT", "DELETE"]),
        ]
    )
    upstream = Upstream(name=name, url=f"http://{name}")
    upstream._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
    return upstream


def customer(switch: Switch) -> httpx.AsyncClient:
    """A client of the public port."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=proxy_app(switch)), base_url="http://shop")


def back_end(switch: Switch) -> httpx.AsyncClient:
    """A client of the loopback API port (the web app, operators' tools)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=proxy_app(switch, api=True)), base_url="http://api")


async def send_raw(app: Any, method: str, raw_path: str) -> int:
    """Send ``raw_path`` exactly as written, as a server hands it to the app (httpx would normalise it)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": unquote(raw_path), "raw_path": raw_path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"shop"), (b"content-type", b"application/json")],
        "client": ("203.0.113.9", 4711), "server": ("shop", 80),
    }  # fmt: skip
    body = json.dumps({"model_file": "/tmp/evil.tar.gz"}).encode()
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


def say(client: httpx.AsyncClient, text: str) -> asyncio.Future[httpx.Response]:
    return asyncio.ensure_future(client.post("/webhooks/rest/webhook", json={"sender": "c1", "message": text}))


def test_the_public_port_forwards_the_channels_and_nothing_else() -> None:
    async def scenario() -> None:
        paths: list[str] = []
        async with customer(Switch(fake_rasa("blue", paths=paths))) as client:
            reply = await client.post("/webhooks/rest/webhook", json={"sender": "c1", "message": "hi"})
            assert reply.json() == [{"recipient_id": "c1", "text": "blue answers hi"}]
            assert reply.headers["x-served-by"] == "blue"
            assert (await client.get("/socket.io/?EIO=4&transport=polling")).status_code == 201
            assert (await client.get("/webhooks/rest/")).status_code == 201
            assert (await client.get("/")).status_code == 201
            for method, path in [("GET", "/status"), ("GET", "/model"), ("POST", "/model/parse"),
                                 ("GET", "/conversations/c1/tracker"), ("POST", "/conversations/c1/messages"),
                                 ("PUT", "/model"), ("GET", "/domain"), ("GET", "/webhooks"), ("GET", "/socket.io")]:  # fmt: skip
                answer = await client.request(method, path, json={})
                assert answer.status_code == 404, (method, path)
        assert paths == ["GET /socket.io/", "GET /webhooks/rest/", "GET /"]  # nothing else reached Rasa

    asyncio.run(scenario())


def test_the_api_port_forwards_rasas_http_api_unchanged() -> None:
    async def scenario() -> None:
        async with back_end(Switch(fake_rasa("blue"))) as client:
            assert (await client.get("/status")).status_code == 201
            answer = await client.post("/conversations/c1/tracker/events?output_channel=latest", content=b'{"x": 1}')
            assert answer.status_code == 201
            echoed = answer.json()
            assert (echoed["method"], echoed["path"], echoed["query"], echoed["body"]) == (
                "POST", "/conversations/c1/tracker/events", "output_channel=latest", '{"x": 1}',
            )  # fmt: skip
            assert echoed["forwarded_for"]
            reply = await client.post("/webhooks/rest/webhook", json={"sender": "c1", "message": "hi"})
            assert reply.json() == [{"recipient_id": "c1", "text": "blue answers hi"}]

    asyncio.run(scenario())


def test_loading_a_model_into_the_live_server_is_refused_even_on_the_api_port() -> None:
    async def scenario() -> None:
        paths: list[str] = []
        async with back_end(Switch(fake_rasa("blue", paths=paths))) as client:
            for method in ("PUT", "DELETE"):
                for path in ("/model", "/model/"):
                    answer = await client.request(method, path, json={"model_file": "other.tar.gz"})
                    assert answer.status_code == 405
                    assert "crm nlu publish" in answer.json()["error"]
            assert (await client.get("/model")).status_code == 201  # reading what is loaded is fine
        assert paths == ["GET /model"]

    asyncio.run(scenario())


@pytest.mark.parametrize("api", [False, True], ids=["public", "api"])
@pytest.mark.parametrize("raw_path", SMUGGLED)
def test_a_path_the_upstream_would_read_differently_is_refused_on_both_ports(raw_path: str, api: bool) -> None:
    async def scenario() -> None:
        paths: list[str] = []
        app = proxy_app(Switch(fake_rasa("blue", paths=paths)), api=api)
        for method in ("PUT", "GET", "POST"):
            assert await send_raw(app, method, raw_path) == 404, (method, raw_path)
        assert paths == []  # nothing reached Rasa

    asyncio.run(scenario())


def test_canonical_paths_are_the_ones_every_server_reads_alike() -> None:
    assert canonical_path("/webhooks/rest/webhook") == "/webhooks/rest/webhook"
    assert canonical_path("/socket.io/") == "/socket.io/"
    assert canonical_path("/") == "/"
    assert [canonical_path(p) for p in SMUGGLED] == [None] * len(SMUGGLED)
    assert canonical_path("model") is None and canonical_path("/mödel") is None


def test_a_websocket_to_anything_but_socket_io_is_refused_on_the_public_port() -> None:
    client = TestClient(proxy_app(Switch(fake_rasa("blue"))))
    for path in ("/status", "/conversations/c1/tracker", "/webhooks/../model"):
        with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(path):
            pass
        assert closed.value.code == 1008


def test_after_a_switch_new_messages_go_to_the_new_server_and_the_old_one_finishes_its_own() -> None:
    async def scenario() -> None:
        release = asyncio.Event()
        blue_seen: list[str] = []
        green_seen: list[str] = []
        blue = fake_rasa("blue", release, blue_seen)
        switch = Switch(blue)
        async with customer(switch) as client:
            slow = say(client, "slow")
            while not blue_seen:
                await asyncio.sleep(0.01)
            assert blue.inflight == 1
            old = switch.switch_to(fake_rasa("green", seen=green_seen))
            assert old is blue
            fast = await client.post("/webhooks/rest/webhook", json={"sender": "c2", "message": "hello"})
            assert fast.json()[0]["text"] == "green answers hello"
            assert not await Switch.drained(blue, timeout=0.05)  # still answering "slow"
            release.set()
            assert (await slow).json()[0]["text"] == "blue answers slow"
            assert await Switch.drained(blue, timeout=1.0)
        assert (blue_seen, green_seen) == (["slow"], ["hello"])

    asyncio.run(scenario())


def test_without_a_server_or_with_one_down_the_customer_gets_an_error_not_a_hang() -> None:
    async def scenario() -> None:
        async with customer(Switch()) as client:
            answer = await client.post("/webhooks/rest/webhook", json={"sender": "c", "message": "x"})
            assert answer.status_code == 503
        async with back_end(Switch()) as client:
            assert (await client.get("/status")).status_code == 503
        down = Upstream(name="down", url="http://127.0.0.1:9")  # discard port: nothing listens
        async with customer(Switch(down)) as client:
            answer = await client.post("/webhooks/rest/webhook", content=json.dumps({"sender": "c", "message": "x"}))
            assert answer.status_code == 502
        assert down.inflight == 0
        await down.close()

    asyncio.run(scenario())
