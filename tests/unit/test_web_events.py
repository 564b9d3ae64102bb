"""The console's live feed: an event Rasa publishes to the broker reaches an open console as a server-sent
event; without a broker the feed is absent and the console keeps polling."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from analytics.core.settings import Settings
from analytics.store.uow import SqlAlchemyUnitOfWork
from bot.web.app import create_app
from bot.web.events import CLIENT_BACKLOG, ConversationEvent, EventHub, parse_event, sse_stream
from tests.unit.test_web_app import NOW, PASSWORD, FakeRasa, client, log_in, rasa, settings, store  # noqa: F401

BROKER = "amqp://guest:guest@127.0.0.1:5672/"


def test_a_customer_message_is_passed_on_without_its_text() -> None:
    body = json.dumps({"sender_id": "web-1", "event": "user", "timestamp": 1700000000.5, "text": "my address is ..."})

    event = parse_event(body.encode())

    assert event == ConversationEvent("web-1", "user", 1700000000.5)
    assert "address" not in json.dumps(event.to_json() if event else {})


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        json.dumps({"sender_id": "web-1", "event": "slot", "name": "x"}).encode(),  # not for consoles
        json.dumps({"event": "user"}).encode(),
        json.dumps({"sender_id": 7, "event": "user"}).encode(),
    ],
)
def test_what_a_console_cannot_use_is_dropped(body: bytes) -> None:
    assert parse_event(body) is None


def test_without_a_broker_there_is_no_feed_and_the_console_polls(client: TestClient) -> None:  # noqa: F811
    assert client.get("/api/console/events").status_code == 401
    log_in(client)

    answer = client.get("/api/console/events")
    page = client.get("/console").text

    assert answer.status_code == 404 and "poll" in answer.json()["detail"]
    assert "console.js" in page and "console-live.js" not in page  # polling every second, nothing live


def test_a_console_that_falls_behind_is_told_to_resynchronise() -> None:
    async def scenario() -> list[str]:
        hub = EventHub()
        hub.connected.set()
        stream = sse_stream(hub, tick_seconds=0.01)
        frames = [await stream.__anext__(), await stream.__anext__()]  # retry, status
        for n in range(CLIENT_BACKLOG + 5):
            hub.publish(ConversationEvent(f"web-{n}", "user", None))
        frames += [await stream.__anext__(), await stream.__anext__()]
        await stream.aclose()
        return frames

    frames = asyncio.run(scenario())

    assert frames[1] == 'event: status\ndata: {"live": true}\n\n'
    assert frames[2].startswith("event: resync")
    assert '"sender_id": "web-5"' in frames[3]  # the oldest five were dropped


# --------------------------------------------------------------------------- with RabbitMQ


@pytest.fixture
def exchange() -> Iterator[str]:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError as exc:
        pytest.skip(f"RabbitMQ is not reachable on 127.0.0.1:5672: {exc}")
    name = f"crm-test-{uuid.uuid4().hex[:8]}"  # ours alone, not the exchange a real Rasa publishes to
    yield name

    async def delete() -> None:
        import aio_pika

        async with await aio_pika.connect(BROKER) as connection:
            channel = await connection.channel()
            await channel.exchange_delete(name)

    asyncio.run(delete())


def publish(exchange: str, event: dict[str, object]) -> None:
    """What Rasa's pika broker does for one event: JSON on the fanout exchange."""

    async def send() -> None:
        import aio_pika

        async with await aio_pika.connect(BROKER) as connection:
            channel = await connection.channel()
            target = await channel.declare_exchange(exchange, aio_pika.ExchangeType.FANOUT)
            await target.publish(aio_pika.Message(json.dumps(event).encode()), routing_key="")

    asyncio.run(send())


@pytest.fixture
def live_server(
    settings: Settings,  # noqa: F811
    store: SqlAlchemyUnitOfWork,  # noqa: F811
    rasa: FakeRasa,  # noqa: F811
    exchange: str,
) -> Iterator[str]:
    configured = settings.model_copy(update={"event_broker_url": BROKER, "event_broker_exchange": exchange})
    factory = store.session_factory
    app = create_app(
        configured,
        uow_factory=lambda: SqlAlchemyUnitOfWork(factory),
        rasa=rasa,  # type: ignore[arg-type]
        clock=lambda: NOW,
        warm_up=False,
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the web app did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


def test_an_event_published_to_the_broker_reaches_an_open_console(live_server: str, exchange: str) -> None:
    with httpx.Client(base_url=live_server, timeout=httpx.Timeout(20.0)) as browser:
        login = browser.post("/console/login", data={"username": "alice", "password": PASSWORD})
        assert login.status_code in (200, 303)
        with browser.stream("GET", "/api/console/events") as feed:
            assert feed.headers["content-type"].startswith("text/event-stream")
            assert "console-live.js" in browser.get("/console").text
            lines = feed.iter_lines()
            _until(lines, 'data: {"live": true}')  # the web app reads the exchange now
            publish(exchange, {"sender_id": "web-42", "event": "user", "timestamp": 1700000000.0, "text": "hi"})
            _until(lines, "event: conversation")
            data = json.loads(next(lines).removeprefix("data: "))

    assert data == {"sender_id": "web-42", "event": "user", "timestamp": 1700000000.0}


def _until(lines: Iterator[str], wanted: str, seconds: float = 20.0) -> None:
    # keep-alive lines come every few seconds, so the deadline is checked even when nothing else comes
    deadline = time.monotonic() + seconds
    for line in lines:
        if line == wanted:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"no {wanted!r} within {seconds:.0f} s")
    raise AssertionError(f"the feed ended before {wanted!r}")


def test_a_feed_ends_after_its_lifetime_so_the_browser_reconnects_and_is_checked_again() -> None:
    async def collect() -> list[str]:
        return [frame async for frame in sse_stream(EventHub(), tick_seconds=0.01, lifetime_seconds=0.05)]

    async def scenario() -> list[str]:
        return await asyncio.wait_for(collect(), timeout=10)  # a feed that never ends fails here

    frames = asyncio.run(scenario())

    assert frames[0] == "retry: 3000\n\n" and frames[-1] == ": keep-alive\n\n"
