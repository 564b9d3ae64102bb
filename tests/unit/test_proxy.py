"""The switch in front of the Rasa servers (bot/ops/proxy.py).

Two fake upstreams stand in for Rasa servers (in-process, no sockets). What a
customer would notice if these failed: a request lost or sent twice at the
moment of a swap, an answer cut short because its server was stopped too
early, or someone stalling the live server with Rasa's PUT /model.
"""

from __future__ import annotations

import asyncio
import json

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.ops.proxy import Switch, Upstream, proxy_app


def fake_rasa(name: str, release: asyncio.Event | None = None, seen: list[str] | None = None) -> Upstream:
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
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=proxy_app(switch)), base_url="http://shop")


def say(client: httpx.AsyncClient, text: str) -> asyncio.Future[httpx.Response]:
    return asyncio.ensure_future(client.post("/webhooks/rest/webhook", json={"sender": "c1", "message": text}))


def test_requests_reach_the_live_server_unchanged() -> None:
    async def scenario() -> None:
        async with customer(Switch(fake_rasa("blue"))) as client:
            answer = await client.post("/conversations/c1/tracker/events?output_channel=latest", content=b'{"x": 1}')
            assert answer.status_code == 201
            echoed = answer.json()
            assert (echoed["method"], echoed["path"], echoed["query"], echoed["body"]) == (
                "POST", "/conversations/c1/tracker/events", "output_channel=latest", '{"x": 1}',
            )  # fmt: skip
            assert echoed["forwarded_for"]
            reply = await client.post("/webhooks/rest/webhook", json={"sender": "c1", "message": "hi"})
            assert reply.json() == [{"recipient_id": "c1", "text": "blue answers hi"}]
            assert reply.headers["x-served-by"] == "blue"

    asyncio.run(scenario())


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


def test_loading_a_model_into_the_live_server_is_refused() -> None:
    async def scenario() -> None:
        async with customer(Switch(fake_rasa("blue"))) as client:
            answer = await client.put("/model", json={"model_file": "other.tar.gz"})
            assert answer.status_code == 405
            assert "crm nlu publish" in answer.json()["error"]
            assert (await client.get("/model")).status_code == 201  # reading what is loaded is fine

    asyncio.run(scenario())


def test_without_a_server_or_with_one_down_the_customer_gets_an_error_not_a_hang() -> None:
    async def scenario() -> None:
        async with customer(Switch()) as client:
            assert (await client.get("/status")).status_code == 503
        down = Upstream(name="down", url="http://127.0.0.1:9")  # discard port: nothing listens
        async with customer(Switch(down)) as client:
            answer = await client.post("/webhooks/rest/webhook", content=json.dumps({"sender": "c", "message": "x"}))
            assert answer.status_code == 502
        assert down.inflight == 0
        await down.close()

    asyncio.run(scenario())
