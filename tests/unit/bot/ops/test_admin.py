"""The switchboard's admin API (bot/ops/admin.py, ``admin_app``) and its client.

The admin API switches the live bot to another model, and a model file holds
pickles: whoever can call it runs code in the Rasa server. So it answers only
requests that carry its token, are addressed to a loopback name (a page an
attacker's DNS points at 127.0.0.1 is refused) and send JSON as JSON (a web
page cannot, across sites, without a CORS preflight the API never grants);
and it loads only a model of the registry whose file still has its hash.
A fake stands in for the Rasa servers; the registry is a real one on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from analytics.core.errors import InvalidInput, NotAllowed
from analytics.store.uow import SqlAlchemyUnitOfWork
from bot.ops import admin as admin_module
from bot.ops import registry
from bot.ops import swap as swap_module
from bot.ops.admin import SwitchClient, admin_app
from bot.ops.project import Project
from bot.ops.swap import SwapReport

TOKEN = "admin-" + "0123456789abcdef" * 3
ADMIN = "http://127.0.0.1:5006"


@dataclass
class FakeBlueGreen:
    """The Rasa servers: records what it is told to load."""

    swapped: list[tuple[Path, bool]] = field(default_factory=list)

    def status(self) -> dict[str, Any]:
        return {"live": {"model": str(self.swapped[-1][0]) if self.swapped else "first.tar.gz"}}

    async def swap(self, model: Path, *, wait_drain: bool = False) -> SwapReport:
        self.swapped.append((model, wait_drain))
        return SwapReport(str(model), None, "rasa-2", 1.0, 0.1, "2026-11-24T07:00:00.000")


@dataclass
class Switchboard:
    bluegreen: FakeBlueGreen
    client: TestClient
    model: Path
    project: Project


@pytest.fixture
def board(sqlite_uow: SqlAlchemyUnitOfWork, tmp_path: Path) -> Iterator[Switchboard]:
    project = Project(tmp_path)
    (tmp_path / "models" / "nlu").mkdir(parents=True)
    model = tmp_path / "models" / "nlu" / "good.tar.gz"
    model.write_bytes(b"a registered model")
    registry.register_model(sqlite_uow, project, model, operator="olivia")
    bluegreen = FakeBlueGreen()
    app = admin_app(bluegreen, token=TOKEN, resolve_model=registry.file_resolver(sqlite_uow, project))  # type: ignore[arg-type]
    with TestClient(app, base_url=ADMIN) as client:
        yield Switchboard(bluegreen, client, model, project)


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_without_the_token_nothing_is_answered_and_nothing_is_loaded(board: Switchboard) -> None:
    body = {"model": str(board.model)}
    for headers in ({}, auth("wrong-" + "0" * 40), auth(""), {"Authorization": TOKEN}, {"X-Ops-Token": "x"}):
        assert board.client.get("/status", headers=headers).status_code == 401, headers
        answer = board.client.post("/swap", json=body, headers=headers)
        assert answer.status_code == 401, headers
        assert answer.headers["www-authenticate"] == "Bearer"
    assert board.bluegreen.swapped == []
    assert board.client.get("/status", headers=auth()).status_code == 200
    assert board.client.get("/status", headers={"X-Ops-Token": TOKEN}).status_code == 200


def test_the_api_cannot_be_built_without_a_real_token() -> None:
    for token in ("", "short"):
        with pytest.raises(InvalidInput, match="at least 32 bytes"):
            admin_app(FakeBlueGreen(), token=token, resolve_model=Path)  # type: ignore[arg-type]


def test_a_web_page_cannot_post_a_swap_across_sites(board: Switchboard) -> None:
    body = f'{{"model": "{board.model}"}}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        headers = {**auth(), **({"Content-Type": content_type} if content_type else {})}
        answer = board.client.post("/swap", content=body, headers=headers)
        assert answer.status_code == 415, content_type
        assert "Content-Type: application/json" in answer.json()["error"]
    preflight = board.client.options(
        "/swap", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code in (401, 405)
    assert not any(k.lower().startswith("access-control-") for k in preflight.headers)
    assert board.bluegreen.swapped == []


@pytest.mark.parametrize("host", ["evil.example:5006", "evil.example", "127.0.0.1.evil.example", "10.0.0.5:5006",
                                  "0.0.0.0:5006", "localhost.evil.example:5006", "127.0.0.1:5006@evil", ""])  # fmt: skip
def test_a_request_addressed_to_another_host_is_refused_as_dns_rebinding_would_send_it(
    board: Switchboard, host: str
) -> None:
    headers = {**auth(), "Host": host}
    assert board.client.get("/status", headers=headers).status_code == 421
    assert board.client.post("/swap", json={"model": str(board.model)}, headers=headers).status_code == 421
    assert board.bluegreen.swapped == []


@pytest.mark.parametrize("host", ["127.0.0.1:5006", "localhost:5006", "[::1]:5006", "LOCALHOST", "127.0.0.1"])
def test_loopback_names_are_answered(board: Switchboard, host: str) -> None:
    assert board.client.get("/status", headers={**auth(), "Host": host}).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"model": ', "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"", "not JSON"),
        (b'["models/nlu/good.tar.gz"]', "JSON object"),
        (b'"good"', "JSON object"),
        (b"{}", '"model"'),
        (b'{"model": 7}', '"model"'),
        (b'{"model": "  "}', '"model"'),
        (b'{"model": "good\\u0000"}', '"model"'),
        (b'{"model": "good", "wait_drain": "yes"}', '"wait_drain"'),
    ],
)
def test_a_malformed_body_is_a_clear_400_not_a_crash(board: Switchboard, body: bytes, message: str) -> None:
    answer = board.client.post("/swap", content=body, headers={**auth(), "Content-Type": "application/json"})
    assert answer.status_code == 400
    assert message in answer.json()["error"]
    assert board.bluegreen.swapped == []


def test_a_model_the_registry_does_not_hold_is_never_loaded(board: Switchboard, tmp_path: Path) -> None:
    stranger = tmp_path / "evil.tar.gz"
    stranger.write_bytes(b"a pickle that runs a shell")
    copy = tmp_path / "copy.tar.gz"
    copy.write_bytes(board.model.read_bytes())  # the registered bytes, at a path the registry does not know
    for ref in (str(stranger), str(copy), "evil", "/etc/passwd", "../../../etc/passwd"):
        answer = board.client.post("/swap", json={"model": ref}, headers=auth())
        assert answer.status_code == 404, ref
        assert "crm nlu publish" in answer.json()["error"]
    assert board.bluegreen.swapped == []


def test_a_registered_model_whose_file_changed_is_never_loaded(board: Switchboard) -> None:
    board.model.write_bytes(b"replaced after it was registered")
    answer = board.client.post("/swap", json={"model": "good"}, headers=auth())
    assert answer.status_code == 409
    assert "has changed since it was registered" in answer.json()["error"]
    assert "crm nlu publish" in answer.json()["error"]
    assert board.bluegreen.swapped == []


def test_a_registered_model_is_loaded_by_name_or_file(board: Switchboard) -> None:
    answer = board.client.post("/swap", json={"model": "good"}, headers=auth())
    assert answer.status_code == 200
    assert answer.json()["server"] == "rasa-2"
    relative = board.client.post("/swap", json={"model": "models/nlu/good.tar.gz", "wait_drain": False}, headers=auth())
    assert relative.status_code == 200
    assert board.bluegreen.swapped == [(board.model.resolve(), True), (board.model.resolve(), False)]


def test_the_client_publish_and_rollback_use_sends_the_token_and_the_registered_file(
    board: Switchboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    def through(method: str) -> Any:  # httpx.get/post as SwitchClient calls them, answered by the app
        return lambda url, timeout, **kw: board.client.request(method, url, **kw)

    monkeypatch.setattr(admin_module.httpx, "get", through("GET"))
    monkeypatch.setattr(admin_module.httpx, "post", through("POST"))
    switch = SwitchClient(ADMIN, TOKEN)
    assert switch.status() == {"live": {"model": "first.tar.gz"}}
    assert switch.swap(board.model)["server"] == "rasa-2"
    assert board.bluegreen.swapped == [(board.model.resolve(), True)]
    with pytest.raises(NotAllowed, match="crm nlu publish"):
        switch.swap(board.model.parent / "unregistered.tar.gz")
    with pytest.raises(swap_module.SwapFailed, match="must share CRM_OPS_TOKEN"):
        SwitchClient(ADMIN, "other-" + "f" * 40).status()


def test_no_switchboard_is_not_an_error_for_the_client() -> None:
    def refuse(*args: Any, **kwargs: Any) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(admin_module.httpx, "get", refuse)
        assert SwitchClient(ADMIN, TOKEN).status() is None
