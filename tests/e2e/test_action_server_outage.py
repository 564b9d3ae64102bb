"""While the action server is stopped or dead, customers get a polite reply within the deadline, never silence.

A stack of its own (the outage must not disturb the shared one), with a 3 s
deadline on action calls (``CRM_ACTION_TIMEOUT_SECONDS``, read inside the Rasa
server: :mod:`bot.rasa_runtime.degradation`). The action server's process
processes are stopped with SIGSTOP (it accepts connections and never answers: a
"slow" server) and killed with SIGKILL (connections refused: a crash); once it
is resumed or restarted, the same conversations are answered normally.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from bot.launch import Stack, _wait_for, action_server, server_secrets, start_stack
from bot.rasa_runtime.degradation import APOLOGY, COOL_DOWN_SECONDS, TIMEOUT_ENV
from tests.conftest import ROOT
from tests.e2e.conftest import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEADLINE_SECONDS = 3.0
#: how long a customer's message may hang before the test calls it silence (Rasa's own wait is 5 minutes);
#: how fast the apology comes is not asserted here (timings belong in benchmarks)
HANG_SECONDS = 30.0


def apology_text() -> str:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    return str(domain["responses"][APOLOGY][0]["text"])


@pytest.fixture(scope="module")
def outage_stack(
    trained_model: Path, stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, dict[str, str], Path]]:
    work = tmp_path_factory.mktemp("outage")
    endpoints = work / "endpoints.yml"
    endpoints.write_text("{}\n")
    env = {**stack_env, TIMEOUT_ENV: str(DEADLINE_SECONDS)}
    running = start_stack(
        model=trained_model,
        rasa_port=free_port(),
        actions_port=free_port(),
        endpoints=endpoints,
        log_dir=work / "log",
        env=env,
    )
    try:
        warmed_up(running)
        yield running, env, work / "log"
    finally:
        for proc in running.processes:
            if proc.poll() is None:
                signal_tree(proc.pid, signal.SIGCONT)
        running.stop()


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the action server serves from worker processes it starts)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def signal_tree(pid: int, signum: int) -> None:
    for member in process_tree(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signum)


def say(stack: Stack, sender: str, text: str = "hello") -> list[dict[str, Any]]:
    reply = requests.post(
        f"{stack.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=HANG_SECONDS
    )
    reply.raise_for_status()
    return list(reply.json())


def texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m.get("text", "") for m in messages]


def assert_answered_normally(stack: Stack, sender: str) -> None:
    messages = say(stack, sender)
    assert messages and apology_text() not in texts(messages), messages


def warmed_up(stack: Stack) -> None:
    """The first calls load the store and the recommender; on a busy machine they may pass the deadline."""
    for _ in range(10):
        messages = say(stack, f"outage-warm-up-{uuid.uuid4().hex[:8]}")
        if apology_text() not in texts(messages):
            return
        time.sleep(COOL_DOWN_SECONDS + 1)
    pytest.fail("the stack never answered normally before the outage")


def events_after_last_user_turn(stack: Stack, sender: str) -> list[tuple[str, Any]]:
    tracker = requests.get(
        f"{stack.rasa_url}/conversations/{sender}/tracker", headers=stack.api_headers(), timeout=30
    ).json()
    events = tracker["events"]
    last_user = max(i for i, e in enumerate(events) if e["event"] == "user")
    return [
        (e["event"], e.get("name") or (e.get("metadata") or {}).get("utter_action") or e.get("text"))
        for e in events[last_user + 1 :]
        if e["event"] in ("action", "bot", "slot", "session_started")
    ]


def test_a_stopped_action_server_gets_an_apology_within_the_deadline_then_answers_again(
    outage_stack: tuple[Stack, dict[str, str], Path],
) -> None:
    stack, _, _ = outage_stack
    known, new = f"outage-known-{uuid.uuid4().hex[:8]}", f"outage-new-{uuid.uuid4().hex[:8]}"
    assert_answered_normally(stack, known)
    actions = stack.processes[0]
    signal_tree(actions.pid, signal.SIGSTOP)
    try:
        # a new conversation calls the action server twice (session start, then the answer): one wait only
        assert texts(say(stack, new)) == [apology_text()]
        time.sleep(COOL_DOWN_SECONDS + 0.5)
        assert texts(say(stack, known)) == [apology_text()]
        # the failed turn is whole: the action ran, said the apology, and the bot listens again
        assert events_after_last_user_turn(stack, known) == [
            ("action", "action_respond"),
            ("bot", APOLOGY),
            ("action", "action_listen"),
        ]
    finally:
        signal_tree(actions.pid, signal.SIGCONT)
    time.sleep(COOL_DOWN_SECONDS + 0.5)
    assert_answered_normally(stack, known)
    assert_answered_normally(stack, new)


def test_a_dead_action_server_gets_an_apology_at_once_then_answers_again_once_restarted(
    outage_stack: tuple[Stack, dict[str, str], Path],
) -> None:
    stack, env, log_dir = outage_stack
    sender = f"outage-dead-{uuid.uuid4().hex[:8]}"
    assert_answered_normally(stack, sender)
    actions = stack.processes[0]
    signal_tree(actions.pid, signal.SIGKILL)
    actions.wait(timeout=30)

    assert texts(say(stack, sender)) == [apology_text()]

    port = int(stack.actions_url.rsplit(":", 1)[1])
    log = log_dir / "actions-restarted.log"
    with log.open("wb") as out:
        restarted = action_server(port, env={**env, **server_secrets(env)}).start(out)
    stack.processes[0] = restarted
    _wait_for(f"{stack.actions_url}/health", restarted, log, 120, "action server")
    time.sleep(COOL_DOWN_SECONDS + 0.5)
    assert_answered_normally(stack, sender)
