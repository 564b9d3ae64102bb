"""The production profile behind its nginx gateway: what customers can reach, and what they cannot.

One profile runs for the module (``bot.production.start_production``): a fresh PostgreSQL
customer store and tracker store (dropped at the end), Redis locks and limits, two Rasa
processes, two action-server processes, the web app and nginx on a free port, all under
supervisord. Each test talks to the gateway only, from a client address of its own
(127.0.0.x), so one test's requests never count against another's rate limit.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from analytics.core.settings import ProductionSettings, Settings
from bot.production import Ports, ProductionStack, start_production
from bot.rasa_runtime.degradation import APOLOGY
from tests.conftest import POSTGRES_ADMIN_URL, ROOT
from tests.e2e.conftest import TOKEN_SECRET, free_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.skipif(
        shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
        reason="nginx is not installed (Debian: apt-get install -y nginx); the gateway tests need it",
    ),
]

CHAT_RATE = 5  # requests per second per client address on the channels (burst: 4x)
_addresses = (f"127.0.0.{n}" for n in itertools.count(10))


def client_from_new_address(gateway_url: str) -> httpx.Client:
    """An HTTP client whose requests come from a loopback address no other test uses."""
    return httpx.Client(
        base_url=gateway_url, transport=httpx.HTTPTransport(local_address=next(_addresses)), timeout=30, trust_env=False
    )


@pytest.fixture(scope="module")
def databases() -> Iterator[tuple[str, str]]:
    """A customer store and a tracker store of their own on the PostgreSQL server, dropped afterwards."""
    admin_url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+psycopg")
    name = f"crm_gw_{uuid.uuid4().hex[:10]}"
    store = admin_url.set(database=name).render_as_string(hide_password=False)
    tracker = admin_url.set(drivername="postgresql", database=f"{name}_tracker").render_as_string(hide_password=False)
    yield store, tracker
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for db in (name, f"{name}_tracker"):
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def production(
    trained_model: Path, databases: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProductionStack]:
    work = tmp_path_factory.mktemp("production")
    store, tracker = databases
    prod = ProductionSettings(
        CRM_PROD_DATABASE_URL=store,
        CRM_PROD_TRACKER_URL=tracker,
        CRM_PROD_ADMIN_DATABASE=make_url(POSTGRES_ADMIN_URL).database,
        CRM_PROD_GATEWAY_PORT=free_port(),
        CRM_PROD_CHAT_RATE=CHAT_RATE,
        CRM_PROD_RASA_PROCESSES=2,
        CRM_PROD_ACTION_PROCESSES=2,
    )
    env = {
        "CRM_VAR_DIR": str(work / "var"),
        "CRM_ARTIFACTS_DIR": str(work / "artifacts"),
        "CRM_TOKEN_SECRET": TOKEN_SECRET,
    }
    settings = Settings(production=prod, **env)  # type: ignore[arg-type]
    stack = start_production(
        settings,
        model=trained_model,
        ports=Ports((free_port(), free_port()), free_port(), free_port(), (free_port(), free_port())),
        state_dir=work / "prod",
        env={**os.environ, **env},
    )
    yield stack
    stack.stop()


def rest_turn(client: httpx.Client, sender: str, message: str) -> httpx.Response:
    return client.post("/webhooks/rest/webhook", json={"sender": sender, "message": message})


def test_a_customer_chats_over_rest_through_the_gateway(production: ProductionStack) -> None:
    with client_from_new_address(production.gateway_url) as client:
        answer = rest_turn(client, f"gw-{uuid.uuid4().hex[:8]}", "hello")
    assert answer.status_code == 200
    assert [m["text"] for m in answer.json() if m.get("text")], "the bot said nothing"


def test_the_chat_page_is_served_through_the_gateway(production: ProductionStack) -> None:
    with client_from_new_address(production.gateway_url) as client:
        page = client.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower()


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], ["polling", "websocket"]])
def test_a_customer_chats_over_socketio_through_the_gateway(production: ProductionStack, transports: list[str]) -> None:
    import socketio

    replies: list[dict[str, object]] = []
    answered = threading.Event()
    client = socketio.Client(reconnection=False)

    @client.on("bot_uttered")
    def _on_reply(data: dict[str, object]) -> None:
        replies.append(data)
        answered.set()

    client.connect(production.gateway_url, socketio_path="/socket.io", transports=transports, wait_timeout=20)
    try:
        client.emit("session_request", {"session_id": None})
        client.emit("user_uttered", {"message": "hello", "session_id": client.get_sid()})
        assert answered.wait(30), "no reply over socket.io through the gateway"
    finally:
        client.disconnect()
    assert replies[0].get("text")


@pytest.mark.parametrize(
    "path",
    [
        "/status",  # Rasa's HTTP API
        "/version",
        "/model",
        "/conversations/someone/tracker",
        "/webhook",  # the action server's
        "/metrics",  # the web app's operators' endpoints
        "/health",
        "/health/live",
        "/webhooks/%2e%2e/status",  # tricks that would reach Rasa's API behind a looser path check
        "/webhooks/rest/../../status",
        "//status",
    ],
)
def test_operators_endpoints_are_not_reachable_through_the_gateway(production: ProductionStack, path: str) -> None:
    status = raw_get(production.gateway_url, path)
    assert status == 404, f"{path} answered {status} through the gateway"


def raw_get(base_url: str, path: str) -> int:
    """The status of ``GET path`` sent exactly as written (HTTP clients would normalise ``..`` and ``//``)."""
    url = httpx.URL(base_url)
    conn = http.client.HTTPConnection(url.host, url.port, timeout=30, source_address=(next(_addresses), 0))
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def test_rasas_api_and_the_metrics_exist_behind_the_gateway(production: ProductionStack) -> None:
    """The paths above are refused by the gateway, not missing: on loopback they answer."""
    assert httpx.get(f"{production.rasa_url}/status").status_code == 401  # Rasa's API, wanting its key
    assert httpx.get(f"{production.web_url}/metrics").status_code == 200


def test_a_body_over_one_mebibyte_is_refused_before_it_reaches_rasa(production: ProductionStack) -> None:
    message = "a" * (1 << 20)
    with client_from_new_address(production.gateway_url) as client:
        answer = client.post("/webhooks/rest/webhook", content=json.dumps({"sender": "big", "message": message}))
    assert answer.status_code == 413
    assert "too large" in answer.json()["error"]


def test_a_burst_beyond_the_rate_is_refused_with_429_and_other_clients_are_served(
    production: ProductionStack,
) -> None:
    burst = 4 * CHAT_RATE
    with client_from_new_address(production.gateway_url) as client:
        statuses = [client.get("/webhooks/rest/").status_code for _ in range(burst + 20)]
    assert statuses.count(429) >= 10, statuses
    assert statuses[:burst].count(200) == burst  # the burst itself is served
    with client_from_new_address(production.gateway_url) as other:
        assert other.get("/webhooks/rest/").status_code == 200


def test_every_message_is_stored_once_in_the_shared_tracker_store_whichever_process_answers(
    production: ProductionStack, databases: tuple[str, str]
) -> None:
    run = uuid.uuid4().hex[:8]
    sent = []
    for i in range(12):
        with client_from_new_address(production.gateway_url) as client:
            sender = f"gw-{run}-{i}"
            for message in ("hello", "how many points do I have"):
                assert rest_turn(client, sender, message).status_code == 200
                sent.append((sender, message))
    engine = create_engine(make_url(databases[1]).set(drivername="postgresql+psycopg"))
    with engine.connect() as conn:
        rows = conn.execute(
            text("select sender_id, data from events where type_name = 'user' and sender_id like :run"),
            {"run": f"gw-{run}-%"},
        ).all()
    engine.dispose()
    stored = sorted((sender, json.loads(data)["text"]) for sender, data in rows)
    assert stored == sorted(sent)
    access_log = (production.logs[0].parent / "gateway-access.log").read_text().splitlines()
    upstreams = {json.loads(line)["upstream"] for line in access_log if '"path":"/webhooks/rest/webhook"' in line} - {
        ""
    }
    assert len(upstreams) == 2, f"REST turns went to {upstreams}, not to both Rasa processes"


def apology_text() -> str:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    return str(domain["responses"][APOLOGY][0]["text"])


def test_customers_get_normal_replies_while_one_action_server_process_is_down(production: ProductionStack) -> None:
    """Every message runs an action; with one of the two action-server processes killed, the gateway passes
    the calls that its port refuses to the other one. Started again, the process answers again."""
    killed = production.pid("actions-1")
    os.kill(killed, signal.SIGKILL)
    seen_dead = time.monotonic() + 30
    while production.pid("actions-1") == killed and time.monotonic() < seen_dead:  # until supervisord saw it die
        time.sleep(0.1)
    # held down while the customer chats: its restart on a fast machine could otherwise beat the turns
    production.ctl("stop", "actions-1")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{production.action_urls[0]}/health")
    sender = f"gw-down-{uuid.uuid4().hex[:8]}"
    with client_from_new_address(production.gateway_url) as client:
        answers = [rest_turn(client, sender, message) for message in ("hello", "how many points do I have", "thanks")]
    for answer in answers:
        assert answer.status_code == 200
        texts = [m["text"] for m in answer.json() if m.get("text")]
        assert texts and apology_text() not in texts, texts
    production.ctl("start", "actions-1")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{production.action_urls[0]}/health").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(1)
    else:
        raise AssertionError(f"actions-1 did not answer again: {production.ctl('status').stdout}")
    assert production.pid("actions-1") not in (0, killed)
