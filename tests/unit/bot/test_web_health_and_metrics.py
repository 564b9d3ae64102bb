"""The web app's ``/health`` (its store, the Rasa server, the action server), ``/metrics`` and JSON logs.

The store is a migrated SQLite file (or one that cannot be opened); the Rasa and
action servers are httpx mock transports that answer, or refuse to connect.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from analytics.core.clock import utc_now
from analytics.core.settings import Settings
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases import staff, support
from bot.health import Health, default_health
from bot.logging_setup import configure_json_logging
from bot.web.app import create_app
from tests.unit.test_web_app import FakeRasa

RASA = "http://rasa.internal:5005"
ACTIONS = "http://actions.internal:5055"
METRICS_TOKEN = "m" * 32
PASSWORD = "a long enough password"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        CRM_VAR_DIR=tmp_path,
        CRM_TOKEN_SECRET="t" * 40,
        CRM_WEB_SECRET="w" * 40,
        CRM_ARTIFACTS_DIR=tmp_path / "artifacts",
        CRM_RASA_URL=RASA,
        CRM_ACTION_URL=ACTIONS,
        CRM_METRICS_TOKEN=METRICS_TOKEN,
    )


def servers(*, down: tuple[str, ...] = ()) -> httpx.MockTransport:
    """Rasa and the action server; those whose host is in ``down`` refuse connections."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host in down:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.host == "rasa.internal" and request.url.path == "/":
            return httpx.Response(200, text="Hello from Rasa: 3.6.21")
        if request.url.host == "actions.internal" and request.url.path == "/health":
            return httpx.Response(200, json={"status": "ok"})
        return httpx.Response(404)

    return httpx.MockTransport(answer)


def app_for(settings: Settings, new_uow: Callable[[], SqlAlchemyUnitOfWork], transport: httpx.MockTransport) -> FastAPI:
    health = default_health(new_uow, settings.rasa_url, settings.action_url, transport=transport)
    return create_app(settings, uow_factory=new_uow, rasa=FakeRasa(), warm_up=False, health=health)  # type: ignore[arg-type]


class UnreachableStore:
    """A unit of work whose database does not answer."""

    def __enter__(self) -> None:
        raise OperationalError("SELECT 1", {}, ConnectionError("could not connect to db.internal:5432"))

    def __exit__(self, *exc: object) -> None:
        return None


def test_health_is_200_with_each_check_and_its_latency_when_everything_answers(
    settings: Settings, sqlite_uow: SqlAlchemyUnitOfWork
) -> None:
    with TestClient(app_for(settings, lambda: sqlite_uow, servers())) as client:
        response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"store", "rasa", "action_server"}
    for check in body["checks"].values():
        assert check["status"] == "ok" and check["latency_ms"] >= 0


def test_health_is_503_naming_the_action_server_when_it_is_down(
    settings: Settings, sqlite_uow: SqlAlchemyUnitOfWork
) -> None:
    with TestClient(app_for(settings, lambda: sqlite_uow, servers(down=("actions.internal",)))) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["failed"] == ["action_server"]
    assert response.json()["checks"]["rasa"]["status"] == "ok"


def test_health_is_503_naming_the_store_and_rasa_without_addresses_or_traces(settings: Settings) -> None:
    app = app_for(settings, UnreachableStore, servers(down=("rasa.internal",)))
    with TestClient(app) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert sorted(response.json()["failed"]) == ["rasa", "store"]
    for secret in ("rasa.internal", "db.internal", "Traceback", "Error"):
        assert secret not in response.text


def test_health_reuses_its_answer_for_two_seconds() -> None:
    calls: list[str] = []
    now = [100.0]

    async def check() -> None:
        calls.append("store")

    health = Health({"store": check}, clock=lambda: now[0])

    async def poll() -> None:
        await health.answer()
        await health.answer()
        now[0] += 1.9
        await health.answer()
        now[0] += 0.2
        await health.answer()

    asyncio.run(poll())
    assert len(calls) == 2


def metrics(app: FastAPI, client: str, headers: dict[str, str] | None = None) -> Any:
    with TestClient(app, client=(client, 50000)) as http:
        http.get("/health")
        return http.get("/metrics", headers=headers)


def test_metrics_are_served_to_loopback_with_request_latency_and_the_queue(
    settings: Settings, sqlite_uow: SqlAlchemyUnitOfWork
) -> None:
    response = metrics(app_for(settings, lambda: sqlite_uow, servers()), "127.0.0.1")
    assert response.status_code == 200
    for name in (
        "http_request_duration_seconds",
        "http_requests_total",
        "crm_handoffs_waiting",
        "crm_handoff_oldest_wait_seconds",
        "crm_handoffs_active",
        "crm_handoff_wait_seconds",
    ):
        assert name in response.text
    assert 'handler="/health"' in response.text


def test_metrics_are_refused_to_other_clients_and_to_requests_through_a_proxy(
    settings: Settings, sqlite_uow: SqlAlchemyUnitOfWork
) -> None:
    app = app_for(settings, lambda: sqlite_uow, servers())
    assert metrics(app, "203.0.113.7").status_code == 403
    assert metrics(app, "127.0.0.1", {"X-Forwarded-For": "203.0.113.7"}).status_code == 403
    assert metrics(app, "203.0.113.7", {"Authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 200
    assert metrics(app, "203.0.113.7", {"Authorization": "Bearer wrong"}).status_code == 403


def test_accepting_a_handoff_records_how_long_it_waited(settings: Settings, sqlite_uow: SqlAlchemyUnitOfWork) -> None:
    factory = sqlite_uow.session_factory
    staff.create_user(sqlite_uow, "alice", PASSWORD, role="agent")
    handoff = support.request_handoff(
        sqlite_uow, sender_id="web-abc", channel="socketio", customer_id=None, reason="customer_request", now=utc_now()
    )
    app = app_for(settings, lambda: SqlAlchemyUnitOfWork(factory), servers())
    with TestClient(app, client=("127.0.0.1", 50000)) as http:
        assert "crm_handoffs_waiting 1.0" in http.get("/metrics").text
        http.post("/console/login", data={"username": "alice", "password": PASSWORD}, follow_redirects=False)
        assert http.post(f"/api/console/handoffs/{handoff.id}/accept").status_code == 200
        text = http.get("/metrics").text
    assert "crm_handoff_wait_seconds_count 1.0" in text
    assert "crm_handoffs_waiting 0.0" in text


class LoggingRasa(FakeRasa):
    def tracker(self, sender_id: str) -> dict[str, Any]:
        logging.getLogger("bot.web.rasa_client").info("reading the tracker")
        return super().tracker(sender_id)


def test_a_console_request_logs_json_lines_with_the_conversation_it_acts_on(
    settings: Settings, sqlite_uow: SqlAlchemyUnitOfWork
) -> None:
    factory = sqlite_uow.session_factory
    staff.create_user(sqlite_uow, "alice", PASSWORD, role="agent")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_json_logging(stream=stream)
    try:
        app = create_app(
            settings,
            uow_factory=lambda: SqlAlchemyUnitOfWork(factory),
            rasa=LoggingRasa(),  # type: ignore[arg-type]
            warm_up=False,
        )
        with TestClient(app) as http:
            http.post("/console/login", data={"username": "alice", "password": PASSWORD}, follow_redirects=False)
            assert http.get("/api/console/conversations/web-xyz/transcript").status_code == 200
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert next(line for line in lines if line["event"] == "reading the tracker")["conversation_id"] == "web-xyz"
