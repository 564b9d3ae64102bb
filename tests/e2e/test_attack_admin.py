"""Nobody but the operator can change the model the live bot runs, nor reach Rasa's HTTP API from outside.

Against a real ``crm nlu serve`` (the small assistant of test_retrain_loop.py)
on its three ports: the public port (channels), the loopback API port and the
loopback admin API. The attacker tries what issue 13 point 7 described:
Rasa's ``PUT /model`` through the public port, directly and by paths the
proxy might read differently from Rasa (``/./model``, ``//model``,
``/%2e/model``, ``/webhooks/../model``, ``/model%00``); Rasa's API
(status, conversations) on the public port; the admin API without the
token, from a web page (``text/plain`` JSON, a preflight), under a foreign
``Host`` (DNS rebinding), and, with the token, naming a file on disk that is
not a registered model or a registered model whose file was replaced. Every
attempt fails, no new Rasa server is started, the live model stays, and
customers keep chatting.

Needs ``.venv-rasa`` and Redis at 127.0.0.1:6379, like test_retrain_loop.py.
"""

from __future__ import annotations

import http.client
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from analytics.store.bootstrap import store_for_url
from bot.ops.project import Project
from bot.ops.registry import register_model
from tests.e2e.test_retrain_loop import Loop, new_loop

pytestmark = [pytest.mark.e2e, pytest.mark.attack, pytest.mark.slow]

SMUGGLED = ["/model", "/./model", "//model", "/%2e/model", "/%2E%2E/model", "/webhooks/../model",
            "/webhooks/%2e%2e/model", "/model%00", "/model/", "/webhooks\\..\\model"]  # fmt: skip


def raw(url: str, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> int:
    """Send ``path`` byte for byte (httpx and requests would normalise it first); the status."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    running = new_loop(tmp_path_factory)
    running.crm("train", "--name", "baseline", "--operator", "olivia")
    running.serve("--model", str(running.project / "models" / "nlu" / "baseline.tar.gz"))
    yield running
    running.stop()


def unchanged(bot: Loop) -> None:
    """The live model is the one started with, and no second Rasa server was ever started."""
    assert bot.live_model()["model_file"] == "baseline.tar.gz"
    status = bot.http.get(f"{bot.admin}/status", headers=bot.admin_headers()).json()
    assert status["live"]["name"] == "rasa-1" and status["swaps"] == [] and status["retiring"] == []
    assert not (bot.project / "var" / "log" / "switchboard" / "rasa-2.log").exists()


def test_rasas_http_api_is_not_on_the_public_port(bot: Loop) -> None:
    evil = json.dumps({"model_file": str(bot.project / "evil.tar.gz")}).encode()
    headers = {**bot.jwt(), "Content-Type": "application/json"}  # even with Rasa's own token
    for path in SMUGGLED:
        for method in ("PUT", "DELETE", "POST", "GET"):
            assert raw(bot.url, method, path, headers, evil) == 404, (method, path)
    for path in ("/status", "/conversations/anyone/tracker", "/model/parse", "/domain", "/version"):
        assert raw(bot.url, "GET", path, headers) == 404, path
    assert raw(bot.url, "POST", "/conversations/anyone/messages", headers, b'{"text": "hi", "sender": "user"}') == 404
    assert bot.say("customer", "hello") == ["Hello! How can I help?"]  # the channel works
    unchanged(bot)


def test_the_api_port_does_not_load_models_either(bot: Loop) -> None:
    evil = json.dumps({"model_file": str(bot.project / "evil.tar.gz")}).encode()
    headers = {**bot.jwt(), "Content-Type": "application/json"}
    assert raw(bot.api_url, "PUT", "/model", headers, evil) == 405
    assert raw(bot.api_url, "DELETE", "/model", headers) == 405
    for path in SMUGGLED[1:]:
        assert raw(bot.api_url, "PUT", path, headers, evil) in (404, 405), path
    assert raw(bot.api_url, "GET", "/status") == 401  # Rasa still wants its JWT
    unchanged(bot)


def test_the_admin_api_refuses_anyone_without_the_token_or_from_a_web_page(bot: Loop) -> None:
    target = json.dumps({"model": "baseline"}).encode()
    token = bot.admin_headers()
    assert raw(bot.admin, "GET", "/status") == 401
    assert raw(bot.admin, "POST", "/swap", {"Content-Type": "application/json"}, target) == 401
    wrong = {"Authorization": "Bearer " + "0" * 64, "Content-Type": "application/json"}
    assert raw(bot.admin, "POST", "/swap", wrong, target) == 401
    # what a cross-site form or fetch() without a preflight can send: refused even with the token
    assert raw(bot.admin, "POST", "/swap", {**token, "Content-Type": "text/plain"}, target) == 415
    preflight = http.client.HTTPConnection("127.0.0.1", urlsplit(bot.admin).port, timeout=30)
    preflight.request("OPTIONS", "/swap", headers={"Origin": "http://evil.example",
                                                   "Access-Control-Request-Method": "POST"})  # fmt: skip
    answer = preflight.getresponse()
    answer.read()
    preflight.close()
    assert answer.status >= 400 and answer.getheader("Access-Control-Allow-Origin") is None
    # DNS rebinding: the browser sends the attacker's name in Host
    rebound = {**token, "Content-Type": "application/json", "Host": f"evil.example:{urlsplit(bot.admin).port}"}
    assert raw(bot.admin, "POST", "/swap", rebound, target) == 421
    assert raw(bot.admin, "GET", "/status", rebound) == 421
    unchanged(bot)


def test_even_with_the_token_only_a_registered_unchanged_model_can_be_loaded(bot: Loop) -> None:
    headers = {**bot.admin_headers(), "Content-Type": "application/json"}
    evil = bot.project / "evil.tar.gz"
    evil.write_bytes(b"a pickle that runs a shell")
    copy = bot.project / "copy.tar.gz"
    shutil.copy(bot.project / "models" / "nlu" / "baseline.tar.gz", copy)  # registered bytes, unregistered place
    for ref in (str(evil), str(copy), "/etc/passwd", "../../evil.tar.gz", "evil"):
        body = json.dumps({"model": ref}).encode()
        assert raw(bot.admin, "POST", "/swap", headers, body) == 404, ref
    # a registered model whose file someone replaced afterwards
    tampered = bot.project / "models" / "nlu" / "tampered.tar.gz"
    shutil.copy(copy, tampered)
    tampered.write_bytes(tampered.read_bytes() + b"\0")  # other bytes than the baseline's, registered as such
    uow = store_for_url(bot.env["DATABASE_URL"]).unit_of_work()
    try:
        register_model(uow, Project(bot.project), tampered, operator="olivia")
    finally:
        uow.engine.dispose()
    tampered.write_bytes(evil.read_bytes())
    body = json.dumps({"model": "tampered"}).encode()
    assert raw(bot.admin, "POST", "/swap", headers, body) == 409
    assert raw(bot.admin, "POST", "/swap", headers, b'{"model": ') == 400
    unchanged(bot)
    assert bot.say("customer", "hello") == ["Hello! How can I help?"]


def test_the_token_file_is_the_operators_alone(bot: Loop) -> None:
    token = Path(bot.project / "var" / "admin-token")
    assert token.stat().st_mode & 0o077 == 0
    assert len(token.read_text().strip()) >= 32
