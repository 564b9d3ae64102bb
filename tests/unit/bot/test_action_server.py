"""The action server's observability (its health, its metrics, and logs that name the conversation), and how
it starts: with Sanic's worker manager, or as one process.

The Sanic app runs in-process over ASGI (httpx's transport, the client address
chosen per test); the executor runs recorded trackers, as Rasa sends them.
"""

from __future__ import annotations

import asyncio
import copy
import io
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sanic import Sanic
from sanic.worker.manager import WorkerManager

from bot import action_server
from bot.action_metrics import ObservedExecutor
from bot.action_server import guarded_app
from bot.health import Health, sync_check
from bot.logging_setup import configure_json_logging
from tests.conftest import ROOT

TRACKER = ROOT / "tests" / "data" / "trackers" / "order_status_536365.json"
TOKEN = "action-" + "7" * 32


def action_call(sender_id: str, action: str) -> dict[str, Any]:
    tracker = copy.deepcopy(json.loads(TRACKER.read_text()))
    tracker["sender_id"] = sender_id
    return {"next_action": action, "sender_id": sender_id, "tracker": tracker, "domain": {}, "version": "3.6.0"}


# plain functions, not Action subclasses: rasa-sdk finds every subclass of Action, in other tests' executors too
def respond(dispatcher: CollectingDispatcher, tracker: Tracker, domain: Any) -> list[dict[str, Any]]:
    """Stands in for action_respond: logs, then answers 'not understood'."""
    logging.getLogger("actions.respond").info("answering")
    dispatcher.utter_message(response="utter_default")
    return []


def broken(dispatcher: CollectingDispatcher, tracker: Tracker, domain: Any) -> list[dict[str, Any]]:
    raise RuntimeError("a bug")


def executor_with(name: str, action: Any) -> ObservedExecutor:
    executor = ObservedExecutor()
    executor.register_function(name, action)
    return executor


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The process's JSON logging, into a buffer; the root logger is put back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_json_logging(stream=stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_every_line_logged_during_an_action_call_is_json_with_its_conversation_id(json_log: io.StringIO) -> None:
    executor = executor_with("action_respond", respond)
    asyncio.run(executor.run(action_call("conv-123", "action_respond")))
    logging.getLogger("bot.test").info("between turns")

    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    answering = next(line for line in lines if line["event"] == "answering")
    assert answering["conversation_id"] == "conv-123"
    assert answering["logger"] == "actions.respond" and answering["level"] == "info"
    assert "conversation_id" not in next(line for line in lines if line["event"] == "between turns")


def test_a_failing_action_is_counted_and_its_warning_names_the_conversation(json_log: io.StringIO) -> None:
    executor = executor_with("action_broken", broken)
    before = sample("crm_action_errors_total", {"action": "action_broken"})
    with pytest.raises(RuntimeError):
        asyncio.run(executor.run(action_call("conv-9", "action_broken")))
    assert sample("crm_action_errors_total", {"action": "action_broken"}) == before + 1
    warnings = [json.loads(line) for line in json_log.getvalue().splitlines() if "failed" in line]
    assert warnings and warnings[0]["conversation_id"] == "conv-9"


def test_a_turn_records_its_latency_the_nlu_confidence_and_a_fallback() -> None:
    executor = executor_with("action_respond", respond)
    turns = sample("crm_action_seconds_count", {"action": "action_respond"})
    confidences = sample("crm_nlu_confidence_count")
    fallbacks = sample("crm_fallbacks_total")
    asyncio.run(executor.run(action_call("conv-1", "action_respond")))
    assert sample("crm_action_seconds_count", {"action": "action_respond"}) == turns + 1
    assert sample("crm_nlu_confidence_count") == confidences + 1
    assert sample("crm_fallbacks_total") == fallbacks + 1


class Server:
    """The guarded app, started over ASGI; :meth:`get` asks it from a chosen client address."""

    def __init__(self, app: Sanic) -> None:
        self.app = app

    async def get(self, path: str, *, client: str = "127.0.0.1", headers: dict[str, str] | None = None) -> Any:
        transport = httpx.ASGITransport(app=self.app, client=(client, 40000))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://actions") as http:
            return await http.get(path, headers=headers)


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(Sanic, "test_mode", True)  # one app name, many apps in this process

    async def started(health: Health, **kwargs: Any) -> AsyncIterator[Server]:
        app = guarded_app(TOKEN, json_logs=False, health=health, **kwargs)
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        await inbox.put({"type": "lifespan.startup"})
        lifespan = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put))
        assert (await outbox.get())["type"] == "lifespan.startup.complete"
        yield Server(app)
        await inbox.put({"type": "lifespan.shutdown"})
        await lifespan

    return started


def failing_ping() -> None:
    raise ConnectionError("could not connect to server at db.internal:5432 password=hunter2")


def test_health_is_200_while_the_store_answers_and_503_naming_it_when_not(serve: Any) -> None:
    async def scenario() -> tuple[Any, Any]:
        async for up in serve(Health({"store": sync_check(lambda: None)})):
            ok = await up.get("/health")
        async for down in serve(Health({"store": sync_check(failing_ping)})):
            failed = await down.get("/health")
        return ok, failed

    ok, failed = asyncio.run(scenario())
    assert ok.status_code == 200
    assert ok.json()["checks"]["store"]["status"] == "ok"
    assert failed.status_code == 503
    assert failed.json()["failed"] == ["store"]
    assert "db.internal" not in failed.text and "hunter2" not in failed.text and "Traceback" not in failed.text


def test_metrics_are_served_to_loopback_and_refused_to_others(serve: Any) -> None:
    async def scenario() -> list[Any]:
        async for server in serve(Health({"store": sync_check(lambda: None)}), metrics_token="m" * 32):
            return [
                await server.get("/metrics"),
                await server.get("/metrics", client="203.0.113.7"),
                await server.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"}),
                await server.get("/metrics", client="203.0.113.7", headers={"Authorization": "Bearer " + "m" * 32}),
            ]
        raise AssertionError("the server did not start")

    local, remote, proxied, with_token = asyncio.run(scenario())
    assert local.status_code == 200
    for name in ("crm_action_seconds", "crm_nlu_confidence", "crm_fallbacks_total", "crm_action_errors_total"):
        assert name in local.text
    assert remote.status_code == 403 and proxied.status_code == 403
    assert with_token.status_code == 200


def how_main_serves(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> dict[str, Any]:
    """What ``python -m bot.action_server ARGV`` would serve with: Sanic's manager (and the start-up time it
    gives a worker) or one process. Serving itself is recorded instead of run."""
    seen: dict[str, Any] = {}
    app = Sanic(f"main-{uuid.uuid4().hex[:8]}")
    monkeypatch.setattr(WorkerManager, "THRESHOLD", WorkerManager.THRESHOLD)  # put back afterwards
    monkeypatch.setattr(action_server, "guarded_app", lambda *args, **kwargs: app)
    monkeypatch.setattr(action_server, "action_token", lambda settings: TOKEN)
    monkeypatch.setattr(action_server, "configure_json_logging", lambda: None)

    def manager(cls: type[Sanic], primary: Sanic, app_loader: Any) -> None:
        seen.update(how="manager", worker_start_s=WorkerManager.THRESHOLD / 10, workers=primary.state.workers)

    def single(cls: type[Sanic], primary: Sanic) -> None:
        seen.update(how="single process")

    monkeypatch.setattr(Sanic, "serve", classmethod(manager))
    monkeypatch.setattr(Sanic, "serve_single", classmethod(single))
    try:
        action_server.main(argv)
    finally:
        Sanic._app_registry.pop(app.name, None)
    return seen


def test_a_worker_slow_to_import_the_app_on_a_loaded_machine_is_not_given_up_after_30_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Sanic's manager stops every worker when one has not started within WorkerManager.THRESHOLD (30 s by
    # default); restarted on a loaded machine, the workers took about 45 s
    seen = how_main_serves(monkeypatch, ["--port", "5999", "--workers", "2"])
    assert seen["how"] == "manager" and seen["workers"] == 2
    assert seen["worker_start_s"] >= 120


def test_one_process_serves_without_sanics_worker_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    assert how_main_serves(monkeypatch, ["--port", "5999", "--single-process"]) == {"how": "single process"}
