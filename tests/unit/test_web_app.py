"""The web app without a Rasa server: who may see what, what reaches the customer, what is recorded.

A migrated SQLite store with one demo customer; Rasa's HTTP API is a fake
that records what the app asked of it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Optional

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from analytics.core.settings import Settings
from analytics.security.tokens import sign_customer_token, verify_customer_token
from analytics.store.models import Customer, Handoff, Order, OrderLine, OrderStatus, Product, User
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases import staff, support
from bot.web import sessions
from bot.web.app import create_app
from bot.web.rasa_client import RasaClient, RasaUnavailable
from bot.web.transcript import chat_status, transcript

NOW = datetime(2026, 11, 24, 12, 0)
TOKEN_SECRET = "t" * 40
WEB_SECRET = "w" * 40
PASSWORD = "a long enough password"


class FakeRasa:
    """Stands in for :class:`RasaClient`: records calls, serves a tracker per conversation."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.trackers: dict[str, dict[str, Any]] = {}

    def tracker(self, sender_id: str) -> dict[str, Any]:
        self.calls.append(("tracker", sender_id, {}))
        return self.trackers.get(sender_id, {"sender_id": sender_id, "events": [], "paused": False})

    def pause(self, sender_id: str, *, text: Optional[str] = None, author: str = "", author_name: str = "") -> None:
        self.calls.append(("pause", sender_id, {"text": text, "author": author}))

    def say(
        self,
        sender_id: str,
        text: str,
        *,
        author: str,
        author_name: str = "",
        custom: Optional[dict[str, Any]] = None,
    ) -> None:
        self.calls.append(("say", sender_id, {"text": text, "author": author, "custom": custom}))

    def resume(
        self,
        sender_id: str,
        *,
        text: str,
        author: str,
        author_name: str = "",
        slots: Optional[dict[str, Any]] = None,
    ) -> None:
        self.calls.append(("resume", sender_id, {"text": text, "author": author, "slots": slots}))

    def append(self, sender_id: str, events: list[dict[str, Any]], *, deliver: bool = True) -> None:
        self.calls.append(("append", sender_id, {"events": events, "deliver": deliver}))

    def close(self) -> None:
        self.calls.append(("close", "", {}))

    def said(self, kind: str) -> list[dict[str, Any]]:
        return [details for name, _, details in self.calls if name == kind]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        CRM_VAR_DIR=tmp_path,
        CRM_TOKEN_SECRET=TOKEN_SECRET,
        CRM_WEB_SECRET=WEB_SECRET,
        CRM_DEMO=True,
        CRM_DEMO_CUSTOMERS="90001",
        CRM_ARTIFACTS_DIR=tmp_path / "artifacts",
        CRM_RASA_URL="http://127.0.0.1:5005",
        CRM_RASA_SOCKET_URL="",
    )


@pytest.fixture
def store(sqlite_uow: SqlAlchemyUnitOfWork) -> SqlAlchemyUnitOfWork:
    with sqlite_uow as uow:
        product = Product(
            sku="20725", name="Lunch Bag Red", description="LUNCH BAG RED", category="Bags", unit_price=Decimal("1.65")
        )
        for cid, ref, name in ((1, "90001", "Jane Doe"), (2, "90002", "Ben Smith")):
            uow.session.add(Customer(id=cid, external_ref=ref, name=name, email=f"c{cid}@example.com", created_at=NOW))
        uow.session.flush()
        for number, cid in (("700001", 1), ("700002", 1), ("800001", 2)):
            order = Order(
                number=number, customer_id=cid, placed_at=NOW, status=OrderStatus.DELIVERED, shipping_fee=Decimal(0)
            )
            order.lines.append(OrderLine(product=product, quantity=1, unit_price=Decimal("1.65")))
            uow.session.add(order)
        uow.commit()
    staff.create_user(sqlite_uow, "alice", PASSWORD, role="agent", display_name="Alice")
    staff.create_user(sqlite_uow, "olivia", PASSWORD, role="operator")
    return sqlite_uow


@pytest.fixture
def rasa() -> FakeRasa:
    return FakeRasa()


@pytest.fixture
def client(settings: Settings, store: SqlAlchemyUnitOfWork, rasa: FakeRasa) -> Iterator[TestClient]:
    factory = store.session_factory
    app = create_app(
        settings,
        uow_factory=lambda: SqlAlchemyUnitOfWork(factory),
        rasa=rasa,  # type: ignore[arg-type]
        clock=lambda: NOW,
        warm_up=False,
    )
    with TestClient(app) as test_client:
        yield test_client


def log_in(client: TestClient, username: str = "alice", password: str = PASSWORD) -> httpx.Response:
    return client.post("/console/login", data={"username": username, "password": password}, follow_redirects=False)


# --------------------------------------------------------------------------- agents' accounts


def test_the_console_needs_a_login(client: TestClient) -> None:
    page = client.get("/console", follow_redirects=False)
    api = client.get("/api/console/queue")

    assert (page.status_code, page.headers["location"]) == (303, "/console/login")
    assert api.status_code == 401


def test_an_agent_logs_in_and_sees_the_queue(client: TestClient, store: SqlAlchemyUnitOfWork) -> None:
    support.request_handoff(
        store, sender_id="web-1", channel="socketio", customer_id=1, reason="complaint", now=NOW - timedelta(minutes=3)
    )

    login = log_in(client)
    queue = client.get("/api/console/queue").json()["queue"]

    assert (login.status_code, login.headers["location"]) == (303, "/console")
    assert [(h["sender_id"], h["customer_name"], h["wait_seconds"]) for h in queue["waiting"]] == [
        ("web-1", "Jane Doe", 180.0)
    ]
    assert "alice" in client.get("/console").text


@pytest.mark.parametrize(("username", "password"), [("alice", "wrong password!"), ("nobody", PASSWORD), ("", "")])
def test_a_wrong_password_or_unknown_name_is_refused_alike(client: TestClient, username: str, password: str) -> None:
    response = log_in(client, username, password)

    assert response.status_code in (401, 422)
    assert sessions.CONSOLE_COOKIE not in response.cookies
    assert client.get("/api/console/queue").status_code == 401
    if response.status_code == 401:
        assert "Wrong user name or password" in response.text


def test_passwords_are_stored_only_as_salted_argon2_hashes(store: SqlAlchemyUnitOfWork) -> None:
    staff.create_user(store, "bob", PASSWORD)

    with store:
        hashes = dict(store.session.execute(select(User.username, User.password_hash)).tuples().all())

    assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes.values())
    assert len(set(hashes.values())) == 3  # same password, three different hashes
    assert staff.authenticate(store, "bob", PASSWORD) is not None
    assert staff.authenticate(store, "BOB ", PASSWORD) is not None  # names are case-insensitive


def test_weak_passwords_and_taken_names_are_refused(store: SqlAlchemyUnitOfWork) -> None:
    from analytics.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="at least"):
        staff.create_user(store, "carol", "short")
    with pytest.raises(InvalidInput, match="already"):
        staff.create_user(store, "Alice", PASSWORD)
    with pytest.raises(InvalidInput, match="role"):
        staff.create_user(store, "carol", PASSWORD, role="admin")


def test_operators_see_the_report_and_agents_do_not(client: TestClient) -> None:
    log_in(client, "alice")
    agent_page, agent_api = client.get("/console/report"), client.get("/api/console/report")
    log_in(client, "olivia")
    operator_page, operator_api = client.get("/console/report"), client.get("/api/console/report")

    assert (agent_page.status_code, agent_api.status_code) == (403, 403)
    assert (operator_page.status_code, operator_api.status_code) == (200, 200)
    assert operator_api.json()["total"] == 0 and "average wait" in operator_page.text


def test_a_disabled_account_is_logged_out_at_once(client: TestClient, store: SqlAlchemyUnitOfWork) -> None:
    log_in(client)
    assert client.get("/api/console/queue").status_code == 200

    staff.set_active(store, "alice", False)

    assert client.get("/api/console/queue").status_code == 401
    assert log_in(client).status_code == 401


def test_a_console_cookie_signed_elsewhere_is_refused(client: TestClient, store: SqlAlchemyUnitOfWork) -> None:
    with store:
        olivia = store.session.scalars(select(User).where(User.username == "olivia")).one().id
    forged = sessions.sign(olivia, secret="x" * 40, audience=sessions.CONSOLE_AUDIENCE, ttl_seconds=3600)
    client.cookies.set(sessions.CONSOLE_COOKIE, forged)

    assert client.get("/api/console/queue").status_code == 401


# --------------------------------------------------------------------------- customers' identity on the page


def test_the_demo_login_gives_the_page_a_token_that_names_the_customer(client: TestClient, settings: Settings) -> None:
    anonymous = client.get("/api/session").json()
    login = client.post("/demo/login", data={"ref": "90001"}, follow_redirects=False)
    session = client.get("/api/session").json()

    assert anonymous["customer"] is None and anonymous["token"] is None
    assert [c["ref"] for c in anonymous["demo_customers"]] == ["90001"]
    assert login.status_code == 303
    assert session["customer"]["name"] == "Jane Doe"
    assert sorted(o["number"] for o in session["customer"]["orders"]) == ["700001", "700002"]
    assert verify_customer_token(session["token"], settings=settings) == 1


def test_only_the_demo_customers_can_sign_in_on_the_page(client: TestClient) -> None:
    response = client.post("/demo/login", data={"ref": "90002"}, follow_redirects=False)

    assert response.status_code == 403
    assert client.get("/api/session").json()["customer"] is None


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param(
            lambda s: sessions.sign(2, secret="x" * 40, audience=sessions.SHOP_AUDIENCE, ttl_seconds=3600),
            id="other-key",
        ),
        pytest.param(lambda s: sign_customer_token(2, settings=s), id="a-chat-token"),
        pytest.param(
            lambda s: sessions.sign(2, secret=WEB_SECRET, audience=sessions.CONSOLE_AUDIENCE, ttl_seconds=3600),
            id="console-cookie",
        ),
        pytest.param(
            lambda s: sessions.sign(2, secret=WEB_SECRET, audience=sessions.SHOP_AUDIENCE, ttl_seconds=-10),
            id="expired",
        ),
        pytest.param(
            lambda s: jwt.encode(
                {"sub": "2", "aud": sessions.SHOP_AUDIENCE, "exp": 4_000_000_000}, None, algorithm="none"
            ),
            id="unsigned",
        ),
    ],
)
def test_the_page_never_shows_orders_from_a_login_it_did_not_sign(
    client: TestClient, settings: Settings, cookie: Any
) -> None:
    client.cookies.set(sessions.SHOP_COOKIE, cookie(settings))

    session = client.get("/api/session")

    assert session.status_code == 200
    assert session.json()["customer"] is None and session.json()["token"] is None
    assert "800001" not in session.text and "Ben" not in session.text


def test_a_bad_request_is_a_422_that_says_where_without_echoing_it_even_with_a_lone_surrogate(
    client: TestClient,
) -> None:
    body = '{"session_id": "\\ud800-not-an-id"}'  # JSON escape of a lone surrogate: valid JSON, not UTF-8
    answer = client.post("/api/chat/register", content=body, headers={"content-type": "application/json"})

    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "session_id"]
    assert "not-an-id" not in answer.text


def test_registering_a_chat_links_it_only_to_the_signed_in_customer(
    client: TestClient, store: SqlAlchemyUnitOfWork
) -> None:
    client.post("/api/chat/register", json={"session_id": "anon-session-1"})
    client.post("/demo/login", data={"ref": "90001"})
    client.post("/api/chat/register", json={"session_id": "jane-session-1"})

    assert support.conversation_customer(store, "anon-session-1") is None
    assert support.conversation_customer(store, "jane-session-1") == 1
    assert client.post("/api/chat/register", json={"session_id": "../../etc"}).status_code == 422


def test_chat_history_is_served_only_for_conversations_a_page_registered(client: TestClient, rasa: FakeRasa) -> None:
    rasa.trackers["web-session-1"] = {
        "paused": False,
        "events": [
            {"event": "user", "timestamp": 1.0, "text": "hi", "metadata": {"customer_token": "secret.token.value"}},
            {
                "event": "bot",
                "timestamp": 2.0,
                "text": "Hello Jane!",
                "metadata": {"utter_action": "utter_greet_known"},
            },
        ],
    }

    unknown = client.get("/api/chat/history", params={"session_id": "web-session-1"}).json()
    asked_rasa = list(rasa.calls)
    client.post("/api/chat/register", json={"session_id": "web-session-1"})
    known = client.get("/api/chat/history", params={"session_id": "web-session-1"})

    assert unknown["lines"] == [] and asked_rasa == []  # asking Rasa would create the conversation
    assert [(line["kind"], line["text"]) for line in known.json()["lines"]] == [
        ("customer", "hi"),
        ("bot", "Hello Jane!"),
    ]
    assert "secret.token.value" not in known.text


# --------------------------------------------------------------------------- the agent's actions reach the customer


def waiting_handoff(store: SqlAlchemyUnitOfWork, sender: str = "web-1") -> int:
    support.touch_conversation(store, sender, channel="socketio", customer_id=1, now=NOW - timedelta(minutes=5))
    return support.request_handoff(
        store,
        sender_id=sender,
        channel="socketio",
        customer_id=1,
        reason="customer_request",
        now=NOW - timedelta(minutes=2),
    ).id


def test_an_agent_accepts_replies_and_hands_back(
    client: TestClient, store: SqlAlchemyUnitOfWork, rasa: FakeRasa
) -> None:
    handoff = waiting_handoff(store)
    log_in(client)

    accepted = client.post(f"/api/console/handoffs/{handoff}/accept")
    replied = client.post("/api/console/conversations/web-1/messages", json={"text": "I'll send a replacement today."})
    handed = client.post(f"/api/console/handoffs/{handoff}/handback", json={"resolution": "replacement sent"})

    assert accepted.status_code == 200 and accepted.json()["handoff"]["agent"] == "alice"
    assert "Alice" in rasa.said("pause")[0]["text"]
    assert replied.status_code == 201
    assert rasa.said("say") == [{"text": "I'll send a replacement today.", "author": "agent:alice", "custom": None}]
    assert handed.status_code == 200
    resumed = rasa.said("resume")[0]
    assert "back with the assistant" in resumed["text"] and resumed["slots"] == {
        "handed_back_at": "2026-11-24T12:00:00Z"
    }
    with store:
        row = store.session.get(Handoff, handoff)
        assert row is not None
        assert (row.status.value, row.agent, row.resolution, row.accepted_at) == (
            "resolved",
            "alice",
            "replacement sent",
            NOW,
        )


def test_only_the_agent_holding_a_conversation_speaks_in_it(
    client: TestClient, store: SqlAlchemyUnitOfWork, rasa: FakeRasa
) -> None:
    handoff = waiting_handoff(store)
    staff.create_user(store, "bob", PASSWORD)
    log_in(client, "bob")
    before_accepting = client.post("/api/console/conversations/web-1/messages", json={"text": "hello"})
    log_in(client, "alice")
    client.post(f"/api/console/handoffs/{handoff}/accept")
    log_in(client, "bob")

    not_his = client.post("/api/console/conversations/web-1/messages", json={"text": "hello"})
    steal = client.post(f"/api/console/handoffs/{handoff}/accept")
    hand_back = client.post(f"/api/console/handoffs/{handoff}/handback", json={"resolution": "x"})

    assert (before_accepting.status_code, not_his.status_code, steal.status_code, hand_back.status_code) == (
        409,
        409,
        409,
        409,
    )
    assert rasa.said("say") == [] and rasa.said("resume") == []


def test_joining_a_live_conversation_pauses_the_bot(
    client: TestClient, store: SqlAlchemyUnitOfWork, rasa: FakeRasa
) -> None:
    support.touch_conversation(store, "web-live", channel="socketio", customer_id=1, now=NOW - timedelta(minutes=1))
    log_in(client)

    joined = client.post("/api/console/conversations/web-live/pickup")

    assert joined.status_code == 200 and joined.json()["handoff"]["reason"] == "agent_pickup"
    assert [(name, sender) for name, sender, _ in rasa.calls] == [("pause", "web-live")]


def test_the_conversation_view_has_the_transcript_and_the_context_card(
    client: TestClient, store: SqlAlchemyUnitOfWork, rasa: FakeRasa
) -> None:
    waiting_handoff(store)
    rasa.trackers["web-1"] = {
        "paused": True,
        "events": [
            {"event": "user", "timestamp": 1.0, "text": "I want a person"},
            {"event": "bot", "timestamp": 2.0, "text": "I'm connecting you with a member of our team."},
            {"event": "pause", "timestamp": 2.0},
            {"event": "user", "timestamp": 3.0, "text": "my parcel arrived broken"},
        ],
    }
    log_in(client)

    view = client.get("/api/console/conversations/web-1").json()

    assert view["card"]["name"] == "Jane Doe"
    assert sorted(o["number"] for o in view["card"]["recent_orders"]) == ["700001", "700002"]
    assert view["lines"][-1] == {
        **view["lines"][-1],
        "kind": "customer",
        "text": "my parcel arrived broken",
        "while_paused": True,
    }
    assert view["handoff"]["status"] == "waiting" and view["paused"] is True


def test_an_unreachable_assistant_is_a_clear_error(
    client: TestClient, store: SqlAlchemyUnitOfWork, rasa: FakeRasa
) -> None:
    handoff = waiting_handoff(store)

    def down(sender_id: str, **kwargs: Any) -> None:
        raise RasaUnavailable("the Rasa server did not answer")

    rasa.pause = down  # type: ignore[method-assign]
    log_in(client)

    response = client.post(f"/api/console/handoffs/{handoff}/accept")

    assert response.status_code == 502 and "did not answer" in response.json()["detail"]


# --------------------------------------------------------------------------- the Rasa client and transcripts


API_KEY = "api-key-" + "9c" * 16


def test_the_rasa_client_sends_its_token_and_asks_for_delivery_to_the_customer() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"events": []})

    client = RasaClient("http://rasa", API_KEY, transport=httpx.MockTransport(answer))
    client.say("web 1/x", "Hello", author="agent:alice")
    client.tracker("web 1/x")

    posted, fetched = seen
    assert posted.url.raw_path.split(b"?")[0] == b"/conversations/web%201%2Fx/tracker/events"
    assert dict(posted.url.params) == {"output_channel": "latest", "execute_side_effects": "true"}
    assert json.loads(posted.content) == [
        {"event": "bot", "text": "Hello", "metadata": {"author": "agent:alice", "author_name": ""}}
    ]
    # the key never travels: each call carries a short-lived JWT signed with it, in a header, not in the URL
    for request in (posted, fetched):
        assert API_KEY not in str(request.url)
        scheme, _, credential = request.headers["authorization"].partition(" ")
        claims = jwt.decode(credential, API_KEY, algorithms=["HS256"])
        assert scheme == "Bearer" and claims["user"]["role"] == "admin"
        assert 0 < claims["exp"] - time.time() <= 300


def test_the_rasa_client_turns_refusals_into_one_error() -> None:
    client = RasaClient(
        "http://rasa", "bad-" + "0" * 32, transport=httpx.MockTransport(lambda r: httpx.Response(401, text="no"))
    )

    with pytest.raises(RasaUnavailable, match="401"):
        client.tracker("web-1")


def test_a_transcript_tells_the_bot_the_agent_and_the_unanswered_messages_apart() -> None:
    tracker = {
        "paused": True,
        "events": [
            {"event": "session_started", "timestamp": 0.5},
            {"event": "user", "timestamp": 1.0, "text": "ideas?", "metadata": {"customer_token": "tok"}},
            {"event": "bot", "timestamp": 1.1, "text": "Here are some ideas for you:\n- Bag"},
            {
                "event": "bot",
                "timestamp": 1.2,
                "data": {
                    "custom": {
                        "products": [{"sku": "1", "name": "Bag", "price": 2.0, "category": "Bags", "reason": "because"}]
                    }
                },
            },
            {"event": "bot", "timestamp": 1.3, "data": {"custom": {"handoff": {"reason": "customer_request"}}}},
            {"event": "pause", "timestamp": 1.4},
            {"event": "user", "timestamp": 2.0, "text": "hello?"},
            {"event": "pause", "timestamp": 2.5},
            {
                "event": "bot",
                "timestamp": 3.0,
                "text": "Hi, I'm Alice",
                "metadata": {"author": "agent:alice", "author_name": "Alice"},
            },
        ],
    }

    lines = transcript(tracker)

    assert [(line.kind, line.text) for line in lines] == [
        ("customer", "ideas?"),
        ("bot", "Here are some ideas for you:\n- Bag"),
        ("bot", ""),
        ("system", "The assistant is paused: a person has the conversation."),
        ("customer", "hello?"),
        ("agent", "Hi, I'm Alice"),
    ]
    assert lines[2].products[0]["name"] == "Bag"
    assert [line.while_paused for line in lines if line.kind == "customer"] == [False, True]
    assert lines[-1].author == "alice"
    assert [line.index for line in transcript(tracker, after=6)] == [8]
    assert chat_status(tracker) == {"with": "agent", "agent": "Alice"}  # the name customers may see
    assert chat_status({**tracker, "events": tracker["events"][:7]}) == {"with": "waiting", "agent": None}


def test_another_site_cannot_act_with_an_agents_cookies(
    client: TestClient, store: SqlAlchemyUnitOfWork, rasa: FakeRasa
) -> None:
    handoff = waiting_handoff(store)
    log_in(client)

    cross_site = client.post(f"/api/console/handoffs/{handoff}/accept", headers={"Origin": "https://evil.example"})
    same_site = client.post(f"/api/console/handoffs/{handoff}/accept", headers={"Origin": "http://testserver"})

    assert (cross_site.status_code, same_site.status_code) == (403, 200)
    assert len(rasa.said("pause")) == 1


def test_pages_run_only_our_own_scripts(client: TestClient) -> None:
    policy = client.get("/").headers["content-security-policy"]

    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "ws://127.0.0.1:5005" in policy  # the chat server's socket


# --------------------------------------------------------------------------- what an attacker tries (issue 13)


def test_a_signed_in_customer_cannot_claim_someone_elses_conversation(
    client: TestClient, store: SqlAlchemyUnitOfWork
) -> None:
    client.post("/api/chat/register", json={"session_id": "victim-session-1"})  # an anonymous visitor's chat
    support.touch_conversation(store, "bens-session-1", channel="socketio", customer_id=2, now=NOW)
    client.post("/demo/login", data={"ref": "90001"})

    anonymous = client.post("/api/chat/register", json={"session_id": "victim-session-1"})
    bens = client.post("/api/chat/register", json={"session_id": "bens-session-1"})
    own = client.post("/api/chat/register", json={"session_id": "jane-session-2"})
    again = client.post("/api/chat/register", json={"session_id": "jane-session-2"})

    assert anonymous.status_code == bens.status_code == 409
    assert "someone else" in anonymous.json()["detail"]
    assert support.conversation_customer(store, "victim-session-1") is None
    assert support.conversation_customer(store, "bens-session-1") == 2
    assert own.status_code == again.status_code == 204


def test_without_the_demo_flag_there_is_no_password_less_sign_in(
    settings: Settings, store: SqlAlchemyUnitOfWork, rasa: FakeRasa
) -> None:
    factory = store.session_factory
    app = create_app(
        settings.model_copy(update={"demo": False}),
        uow_factory=lambda: SqlAlchemyUnitOfWork(factory),
        rasa=rasa,  # type: ignore[arg-type]
        clock=lambda: NOW,
        warm_up=False,
    )
    with TestClient(app) as client:
        login = client.post("/demo/login", data={"ref": "90001"}, follow_redirects=False)
        session = client.get("/api/session").json()

    assert login.status_code in (404, 405)
    assert session["demo_customers"] == [] and session["customer"] is None


def test_production_settings_refuse_the_demo() -> None:
    with pytest.raises(ValueError, match="never run in production"):
        Settings(CRM_ENV="production", CRM_DEMO=True, CRM_RATE_LIMIT_STORAGE="redis://127.0.0.1:6379/9")
    with pytest.raises(ValueError, match="CRM_RATE_LIMIT_STORAGE"):
        Settings(CRM_ENV="production")
    assert Settings(CRM_ENV="production", CRM_RATE_LIMIT_STORAGE="redis://127.0.0.1:6379/9").web_secure_cookies


def test_login_guesses_for_one_name_are_locked_out_before_any_password_is_checked(client: TestClient) -> None:
    wrong = [log_in(client, "alice", f"wrong password {i}") for i in range(5)]
    locked = log_in(client, "alice", PASSWORD)  # even the right password: the name is locked for a while

    assert [r.status_code for r in wrong] == [401] * 5
    assert locked.status_code == 429 and "Too many failed attempts" in locked.text
    assert int(locked.headers["Retry-After"]) > 0
    assert log_in(client, "olivia").status_code == 303  # other accounts are not affected


def test_a_login_flood_from_one_address_gets_429(client: TestClient) -> None:
    answers = [log_in(client, f"user{i}", "whatever password").status_code for i in range(12)]

    assert answers[:10] == [401] * 10
    assert answers[10:] == [429, 429]


def test_signing_out_ends_the_session_everywhere(client: TestClient) -> None:
    log_in(client)
    stolen = client.cookies.get(sessions.CONSOLE_COOKIE)
    assert client.get("/api/console/me").status_code == 200

    client.post("/console/logout", follow_redirects=False)
    client.cookies.set(sessions.CONSOLE_COOKIE, stolen or "")

    assert client.get("/api/console/me").status_code == 401


def test_customers_see_an_agents_display_name_never_the_login_name(client: TestClient, rasa: FakeRasa) -> None:
    rasa.trackers["web-session-9"] = {
        "paused": True,
        "events": [
            {"event": "user", "timestamp": 1.0, "text": "help", "metadata": {}},
            {"event": "pause", "timestamp": 2.0},
            {
                "event": "bot",
                "timestamp": 3.0,
                "text": "Hi, I'm Alice from the customer service team.",
                "metadata": {"author": "agent:alice.smith42", "author_name": "Alice"},
            },
        ],
    }
    client.post("/api/chat/register", json={"session_id": "web-session-9"})

    history = client.get("/api/chat/history", params={"session_id": "web-session-9"})

    assert "alice.smith42" not in history.text
    assert history.json()["lines"][-1]["author"] == "Alice"
    assert history.json()["status"] == {"with": "agent", "agent": "Alice"}


def test_signing_out_makes_the_open_chat_forget_who_the_customer_is(
    client: TestClient, rasa: FakeRasa, store: SqlAlchemyUnitOfWork
) -> None:
    client.post("/demo/login", data={"ref": "90001"})
    client.post("/api/chat/register", json={"session_id": "jane-chat-1"})

    client.post("/demo/logout", data={"session_id": "jane-chat-1"}, follow_redirects=False)

    (cleared,) = [details for name, sender, details in rasa.calls if name == "append" and sender == "jane-chat-1"]
    assert {e["name"]: e["value"] for e in cleared["events"]} == {"identity": None, "customer_name": None}
    assert client.get("/api/session").json()["customer"] is None
