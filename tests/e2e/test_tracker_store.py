"""Conversations kept in the SQL tracker store, and several Rasa processes on one conversation.

Each test starts its own servers with an endpoints file like the project's
(``tracker_store`` of type SQL on a SQLite file, ``lock_store`` of type redis)
but with temporary paths and a key prefix of its own. The Redis test needs a
server at 127.0.0.1:6379 without a password and is skipped otherwise.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import pytest
import requests

from bot.launch import Stack, start_stack
from tests.e2e.conftest import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REDIS = ("127.0.0.1", 6379)


def write_endpoints(path: Path, actions_port: int, tracker_db: Path, lock_prefix: Optional[str] = None) -> Path:
    config: dict[str, Any] = {
        "action_endpoint": {"url": f"http://127.0.0.1:{actions_port}/webhook"},
        "tracker_store": {"type": "SQL", "dialect": "sqlite", "db": str(tracker_db)},
    }
    if lock_prefix:
        config["lock_store"] = {"type": "redis", "url": REDIS[0], "port": REDIS[1], "db": 1, "key_prefix": lock_prefix}
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


@contextmanager
def servers(
    name: str, work: Path, model: Path, env: dict[str, str], tracker_db: Path, lock_prefix: Optional[str] = None
) -> Iterator[Stack]:
    actions_port, rasa_port = free_port(), free_port()
    endpoints = write_endpoints(work / f"{name}-endpoints.yml", actions_port, tracker_db, lock_prefix)
    stack = start_stack(
        model=model,
        rasa_port=rasa_port,
        actions_port=actions_port,
        endpoints=endpoints,
        log_dir=work / f"{name}-log",
        env=env,
    )
    try:
        yield stack
    finally:
        stack.stop()


def say(stack: Stack, sender: str, text: str) -> str:
    reply = requests.post(
        f"{stack.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60
    )
    reply.raise_for_status()
    return "\n".join(m.get("text", "") for m in reply.json())


def tracker_events(stack: Stack, sender: str) -> list[dict[str, Any]]:
    tracker = requests.get(f"{stack.rasa_url}/conversations/{sender}/tracker", headers=stack.api_headers(), timeout=30)
    tracker.raise_for_status()
    events: list[dict[str, Any]] = tracker.json()["events"]
    return events


def user_texts(events: list[dict[str, Any]]) -> list[str]:
    return [e["text"] for e in events if e["event"] == "user"]


def test_a_conversation_survives_a_restart_of_the_servers(
    trained_model: Path, stack_env: dict[str, str], tmp_path: Path
) -> None:
    tracker_db = tmp_path / "tracker.sqlite3"
    sender = f"restart-{uuid.uuid4().hex[:8]}"
    with servers("first", tmp_path, trained_model, stack_env, tracker_db) as first:
        assert "email address" in say(first, sender, "where is my order?")
        before = tracker_events(first, sender)
    with servers("second", tmp_path, trained_model, stack_env, tracker_db) as second:
        # the new process knows the question asked before the restart: "no" drops that request
        assert "I've stopped that" in say(second, sender, "no")
        after = tracker_events(second, sender)
    assert after[: len(before)] == before
    assert user_texts(after) == ["where is my order?", "no"]

    # the table triage reads: one row per event, user turns with their intent
    with sqlite3.connect(tracker_db) as db:
        rows = db.execute(
            "select intent_name, data from events where sender_id = ? and type_name = 'user' order by id", (sender,)
        ).fetchall()
    assert [json.loads(data)["text"] for _, data in rows] == ["where is my order?", "no"]
    assert [intent for intent, _ in rows] == [json.loads(data)["parse_data"]["intent"]["name"] for _, data in rows]


# -- several Rasa processes: the Redis lock store -------------------------------------------------


def _redis_answers_ping() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=2) as conn:
            conn.sendall(b"*1\r\n$4\r\nPING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisMonitor:
    """The commands Redis receives while the block runs (Redis's MONITOR), as text lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._conn = socket.create_connection(REDIS, timeout=5)
        self._thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> RedisMonitor:
        self._conn.sendall(b"*1\r\n$7\r\nMONITOR\r\n")
        self._conn.settimeout(None)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.shutdown(socket.SHUT_RDWR)
        self._conn.close()
        self._thread.join(timeout=10)

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = self._conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            *complete, buffer = buffer.split(b"\r\n")
            self.lines.extend(line.decode(errors="replace") for line in complete)

    def commands_on(self, key: str) -> list[str]:
        """The command names (SET, GET, DEL, ...) that touched ``key``."""
        quoted = f'"{key}"'
        return [line.split('] "', 1)[1].split('"', 1)[0].upper() for line in self.lines if quoted in line]


@pytest.fixture
def lock_prefix() -> str:
    if not _redis_answers_ping():
        pytest.skip(f"no Redis answers PING at {REDIS[0]}:{REDIS[1]} (start one, without a password, to run this)")
    return f"e2e{uuid.uuid4().hex[:10]}"  # Rasa ignores prefixes that are not alphanumeric


def test_two_rasa_processes_take_turns_on_one_conversation_through_the_lock_store(
    trained_model: Path, stack_env: dict[str, str], tmp_path: Path, lock_prefix: str
) -> None:
    tracker_db = tmp_path / "tracker.sqlite3"
    sender = f"workers-{uuid.uuid4().hex[:8]}"
    turns = ["where is my order?", "no", "help", "thanks"]
    with (
        servers("a", tmp_path, trained_model, stack_env, tracker_db, lock_prefix) as a,
        servers("b", tmp_path, trained_model, stack_env, tracker_db, lock_prefix) as b,
    ):
        with RedisMonitor() as redis:
            replies = [say(stack, sender, text) for stack, text in zip([a, b, a, b], turns)]
        seen_by_a, seen_by_b = tracker_events(a, sender), tracker_events(b, sender)

    assert "email address" in replies[0]
    # process b knows the question process a asked: "no" drops that request
    assert "I've stopped that" in replies[1]
    assert all(replies), replies
    assert seen_by_a == seen_by_b
    assert user_texts(seen_by_a) == turns
    # every message took the conversation's lock in Redis, whichever process handled it
    lock_commands = redis.commands_on(f"{lock_prefix}:lock:{sender}")
    assert lock_commands.count("SET") >= len(turns), lock_commands
    assert lock_commands.count("DEL") >= len(turns), lock_commands
