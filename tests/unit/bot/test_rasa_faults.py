"""When Redis or PostgreSQL fail under Rasa, or a Rasa process dies, the customer is answered and nothing is lost.

The decision of what the customer gets is checked with fake calls here. The
rest runs in ``.venv-rasa`` (this test run has no Rasa), as the production
profile runs it: Rasa's ``Agent`` behind our REST channel on a Sanic app, posted
to over ASGI, with a fake dialogue processor (no model needed) and our lock
store on a ``redis-server`` of the test's own (started, killed and checked on a
free port) or on a port nobody listens on; our SQL tracker store on the
PostgreSQL the store tests use (``CRM_TEST_POSTGRES_URL``).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import textwrap
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from bot.rasa_runtime.degradation import APOLOGY, APOLOGY_TEXT, answer_or_apologise, apology_text
from tests.conftest import POSTGRES_ADMIN_URL
from tests.unit.bot.rasa_env import run_in_rasa


class Domain:
    def __init__(self, responses: dict[str, Any]) -> None:
        self.responses = responses


def run(handle: Any, *, answered: bool = False) -> tuple[Any, list[str]]:
    said: list[str] = []

    async def apologise() -> None:
        said.append("sorry")

    result = asyncio.run(answer_or_apologise(handle, apologise, conversation="c1", answered=lambda: answered))
    return result, said


def test_a_message_that_cannot_be_handled_gets_the_apology_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def lock_store_down() -> None:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with caplog.at_level(logging.ERROR):
        assert run(lock_store_down) == (None, ["sorry"])
    assert "Connection refused" in caplog.text and "c1" in caplog.text


def test_a_handled_message_is_answered_as_before_without_an_apology() -> None:
    async def handled() -> list[str]:
        return ["the answer"]

    assert run(handled) == (["the answer"], [])


def test_a_turn_that_fails_after_its_reply_adds_no_apology(caplog: pytest.LogCaptureFixture) -> None:
    async def fails_late() -> None:
        raise RuntimeError("could not save")

    with caplog.at_level(logging.ERROR):
        assert run(fails_late, answered=True) == (None, [])
    assert "after its reply" in caplog.text


def test_an_apology_that_cannot_be_sent_either_does_not_raise(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise ConnectionError("down")

    async def apologise() -> None:
        raise ConnectionResetError("the customer left")

    with caplog.at_level(logging.ERROR):
        assert asyncio.run(answer_or_apologise(broken, apologise, conversation="c1")) is None
    assert "could not be sent" in caplog.text


def test_the_apology_is_the_domain_s_wording_or_a_built_in_one_for_an_older_model() -> None:
    assert apology_text(Domain({APOLOGY: [{"text": "Sorry, not now."}]})) == "Sorry, not now."
    assert apology_text(Domain({})) == APOLOGY_TEXT
    assert apology_text(None) == APOLOGY_TEXT


# Runs in .venv-rasa. argv: redis-server binary ("" if none), the tracker database URL (psycopg2), admin URL.
RASA_SCRIPT = textwrap.dedent(
    """
    import asyncio, atexit, json, logging, socket, subprocess, sys, tempfile, time

    import sqlalchemy as sa
    from sanic import Sanic

    from bot.rasa_runtime import degradation, stores
    from bot.rasa_runtime.channels import ShopRestInput
    from rasa.core.agent import Agent
    from rasa.core.channels import channel as rasa_channels
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.utils.common import class_from_module_path
    from rasa.utils.endpoints import EndpointConfig

    redis_binary, tracker_url, admin_url = sys.argv[1:4]
    logging.basicConfig(level=logging.ERROR)
    degradation.install({})
    domain = Domain.from_yaml('''
    version: "3.1"
    responses:
      utter_service_unavailable:
        - text: "Sorry, not now."
    ''')
    report = {"classes": [class_from_module_path(f"bot.rasa_runtime.stores.{name}").__name__
                          for name in ("LeaseRedisLockStore", "ResilientSQLTrackerStore")]}

    def free_port():
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    class Processor:
        # stands for Rasa's MessageProcessor: answers "the answer to <text>", after `hold` seconds
        def __init__(self):
            self.log, self.hold, self.during = [], {}, None

        async def handle_message(self, message):
            self.log.append(("in", message.text))
            if self.during:
                self.during()
            await asyncio.sleep(self.hold.get(message.text, 0))
            await message.output_channel.send_text_message(message.sender_id, f"the answer to {message.text}")
            self.log.append(("out", message.text))

    def lock_store(port):
        config = EndpointConfig(url="127.0.0.1", type="bot.rasa_runtime.stores.LeaseRedisLockStore", port=port,
                                db=1, key_prefix="test", socket_timeout=1, lease_seconds=0.5)
        return stores.LeaseRedisLockStore(endpoint_config=config)

    app = Sanic("faults")  # one app per process (Sanic 21 cannot start a second one); its agent changes
    rasa_channels.register([ShopRestInput()], app, route="/webhooks/")

    def app_with(store):
        agent = Agent(domain=domain, lock_store=store)
        agent.processor = Processor()
        app.ctx.agent = agent
        return app, agent.processor

    async def started(app):
        lifespan = asyncio.Queue()
        await lifespan.put({"type": "lifespan.startup"})
        ready = asyncio.Event()

        async def send(message):
            if message["type"] == "lifespan.startup.complete":
                ready.set()

        asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}}, lifespan.get, send))
        await asyncio.wait_for(ready.wait(), 30)

    async def post(app, sender, text):
        body = json.dumps({"sender": sender, "message": text}).encode()
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": "/webhooks/rest/webhook", "raw_path": b"/webhooks/rest/webhook",
            "query_string": b"", "root_path": "", "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 5005),
            "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())],
        }
        pending, sent = [{"type": "http.request", "body": body, "more_body": False}], []

        async def receive():
            return pending.pop(0) if pending else {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)
        status = next(m for m in sent if m["type"] == "http.response.start")["status"]
        answer = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
        return {"status": status, "texts": [m.get("text") for m in answer]}

    class Redis:
        def __init__(self):
            self.port, self.proc = free_port(), None

        def start(self):
            self.proc = subprocess.Popen([redis_binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                          "--appendonly", "no", "--dir", tempfile.mkdtemp()],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            atexit.register(self.kill)  # also when this script fails half way
            import redis
            client = redis.Redis(port=self.port)
            for _ in range(100):
                try:
                    client.ping()
                    return
                except redis.RedisError:
                    time.sleep(0.05)

        def kill(self):
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    async def lock_cases():
        app, processor = app_with(lock_store(free_port()))  # nobody listens there
        await started(app)
        report["redis_down"] = {**await post(app, "c1", "hi"), "handled": processor.log}
        if not redis_binary:
            return
        server = Redis()
        server.start()
        store = lock_store(server.port)
        app, processor = app_with(store)
        report["redis_up"] = await post(app, "c1", "hi")
        # a process that died holding the conversation's lock: its ticket is never renewed nor released
        store.issue_ticket("c2", store.lease)
        report["after_dead_holder"] = await post(app, "c2", "hello again")
        # a live turn longer than the lease keeps the next message of its conversation waiting
        processor.log.clear()
        processor.hold = {"slow": 4 * store.lease}
        first = asyncio.ensure_future(post(app, "c3", "slow"))
        await asyncio.sleep(0.1)
        second = await post(app, "c3", "next")
        report["long_turn"] = {"replies": [await first, second], "order": list(processor.log)}
        # Redis dies during a turn: the turn's reply still goes out
        processor.hold, processor.during = {}, server.kill
        report["redis_dies_mid_turn"] = await post(app, "c4", "bye")

    def events(n):
        return [UserUttered(f"message {i}") if i % 2 == 0 else BotUttered(f"reply {i}") for i in range(n)]

    class Broker:
        def __init__(self):
            self.published = []

        def publish(self, event):
            self.published.append(event.get("text"))

    async def tracker_cases():
        url = sa.engine.make_url(tracker_url)
        broker = Broker()
        store = stores.ResilientSQLTrackerStore(domain=domain, dialect="postgresql", host=url.host, port=url.port,
                                                db=url.database, username=url.username, password=url.password,
                                                event_broker=broker)
        tracker = DialogueStateTracker.from_events("t1", events(2))
        await store.save(tracker)
        # PostgreSQL drops every connection (a restart, pg_terminate_backend): the pool still holds them
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            dropped = conn.execute(sa.text("select count(pg_terminate_backend(pid)) from pg_stat_activity "
                                           "where datname = :db and pid <> pg_backend_pid()"),
                                   {"db": url.database}).scalar()
        admin.dispose()
        for event in events(4)[2:]:
            tracker.update(event)
        await store.save(tracker)
        # a write that fails once on a lost connection is written once, and published once
        original, failures = stores.SQLTrackerStore._additional_events, []

        def fails_once(self, session, tracker):
            if not failures:
                failures.append(1)
                raise sa.exc.OperationalError("INSERT", {}, Exception("server closed the connection unexpectedly"))
            return original(self, session, tracker)

        stores.SQLTrackerStore._additional_events = fails_once
        for event in events(6)[4:]:
            tracker.update(event)
        await store.save(tracker)
        stores.SQLTrackerStore._additional_events = original
        stored = await store.retrieve("t1")
        report["tracker"] = {
            "dropped": dropped,
            "stored": [e.text for e in stored.events if isinstance(e, (UserUttered, BotUttered))],
            "published": broker.published,
            "failures": len(failures),
        }

    async def main():
        await lock_cases()
        await tracker_cases()

    asyncio.run(main())
    print(json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def rasa_report(postgres_database: str) -> dict[str, Any]:
    database = make_url(postgres_database)
    tracker = database.set(drivername="postgresql").render_as_string(hide_password=False)
    admin = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    return run_in_rasa(RASA_SCRIPT, shutil.which("redis-server") or "", tracker, admin)


def needs_redis(report: dict[str, Any]) -> None:
    if "redis_up" not in report:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")


def test_the_production_profile_s_store_classes_load_by_their_endpoints_names(rasa_report: dict[str, Any]) -> None:
    # Rasa replaces a tracker store it cannot import with one in memory, silently losing every conversation
    assert rasa_report["classes"] == ["LeaseRedisLockStore", "ResilientSQLTrackerStore"]


def test_with_redis_down_the_rest_channel_answers_the_apology_not_silence(rasa_report: dict[str, Any]) -> None:
    case = rasa_report["redis_down"]
    assert case["status"] == 200 and case["texts"] == ["Sorry, not now."]
    assert case["handled"] == []  # handled by nobody: the message is not half-processed without its lock


def test_with_redis_up_the_message_is_answered(rasa_report: dict[str, Any]) -> None:
    needs_redis(rasa_report)
    assert rasa_report["redis_up"]["texts"] == ["the answer to hi"]


def test_a_conversation_locked_by_a_dead_process_is_answered_once_its_lease_runs_out(
    rasa_report: dict[str, Any],
) -> None:
    needs_redis(rasa_report)
    assert rasa_report["after_dead_holder"]["texts"] == ["the answer to hello again"]


def test_a_turn_longer_than_the_lease_keeps_the_conversation_s_next_message_waiting(
    rasa_report: dict[str, Any],
) -> None:
    needs_redis(rasa_report)
    case = rasa_report["long_turn"]
    assert [reply["texts"] for reply in case["replies"]] == [["the answer to slow"], ["the answer to next"]]
    assert case["order"] == [["in", "slow"], ["out", "slow"], ["in", "next"], ["out", "next"]]


def test_redis_dying_during_a_turn_does_not_take_the_turn_s_reply_away(rasa_report: dict[str, Any]) -> None:
    needs_redis(rasa_report)
    assert rasa_report["redis_dies_mid_turn"]["texts"] == ["the answer to bye"]


def test_after_postgresql_dropped_every_connection_each_message_is_stored_once_and_published_once(
    rasa_report: dict[str, Any],
) -> None:
    case = rasa_report["tracker"]
    assert case["dropped"] >= 1  # the store's pooled connection was among them
    assert case["failures"] == 1  # one write failed and was tried again
    expected = ["message 0", "reply 1", "message 2", "reply 3", "message 4", "reply 5"]
    assert case["stored"] == expected
    assert case["published"] == expected
