"""The whole path: a trained model, the Rasa server, the action server and the store.

These tests train the project's model (a small one: ~25 s), seed a store from
the shipped sample, start both servers on free ports, and talk to the bot on
its REST channel like an integration would.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import requests

from analytics.ingest.online_retail import import_online_retail
from analytics.store.db import make_engine, make_session_factory
from analytics.store.migrate import upgrade
from analytics.store.uow import SqlAlchemyUnitOfWork
from bot.serve import Stack, quiet_rasa_env, rasa_executable, start_stack
from tests.conftest import ROOT, SAMPLE

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rasa(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(rasa_executable()), *args], cwd=cwd, env=quiet_rasa_env(), capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models")
    result = rasa("train", "--out", str(out), "--fixed-model-name", "under-test")
    model = out / "under-test.tar.gz"
    assert result.returncode == 0 and model.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    return model


@pytest.fixture(scope="session")
def stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("stack")
    url = f"sqlite:///{work / 'store.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    import_online_retail(
        SqlAlchemyUnitOfWork(make_session_factory(engine)), SAMPLE, shift_to_now=True, now=datetime.now()
    )
    engine.dispose()
    actions_port, rasa_port = free_port(), free_port()
    endpoints = work / "endpoints.yml"
    endpoints.write_text(json.dumps({"action_endpoint": {"url": f"http://127.0.0.1:{actions_port}/webhook"}}))
    running = start_stack(
        model=trained_model,
        rasa_port=rasa_port,
        actions_port=actions_port,
        endpoints=endpoints,
        log_dir=work / "log",
        env={"DATABASE_URL": url},
    )
    yield running
    running.stop()


def say(stack: Stack, sender: str, text: str) -> list[str]:
    reply = requests.post(
        f"{stack.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=30
    )
    reply.raise_for_status()
    return [m["text"] for m in reply.json() if "text" in m]


def test_the_bot_greets_and_says_goodbye(stack: Stack) -> None:
    assert "where is my order" in say(stack, "e2e-greet", "hello")[0].lower()
    assert "goodbye" in say(stack, "e2e-greet", "bye")[0].lower()


def test_an_order_status_question_is_answered_from_the_store(stack: Stack) -> None:
    [answer] = say(stack, "e2e-order", "where is my order 536365?")
    assert "536365" in answer
    assert "delivered" in answer
    assert "40 items" in answer  # the invoice's quantities in the UCI data


def test_a_recent_order_is_still_on_its_way(stack: Stack) -> None:
    [answer] = say(stack, "e2e-recent", "has order 581587 shipped?")
    assert "581587" in answer
    assert re.search(r"being prepared|on its way|delivered", answer)


def test_the_bot_asks_for_a_missing_order_number_and_then_answers(stack: Stack) -> None:
    [question] = say(stack, "e2e-ask", "where is my parcel?")
    assert "order number" in question
    [answer] = say(stack, "e2e-ask", "536365")
    assert "536365" in answer and "delivered" in answer


def test_an_unknown_order_gets_a_polite_not_found(stack: Stack) -> None:
    [answer] = say(stack, "e2e-unknown", "where is my order 999999?")
    assert "could not find" in answer and "999999" in answer


def test_training_data_validates_and_every_response_is_used() -> None:
    result = rasa("data", "validate")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    unused = set(re.findall(r"The utterance '(\w+)' is not used in any story or rule", result.stdout + result.stderr))
    actions_code = "\n".join(p.read_text() for p in (ROOT / "actions").glob("*.py"))
    uttered_by_actions = set(re.findall(r"utter_\w+", actions_code))
    # responses uttered with f"utter_order_{status}" are used through their status names
    uttered_by_actions |= {f"utter_order_{s}" for s in ("processing", "shipped", "delivered", "cancelled")}
    assert unused <= uttered_by_actions, f"responses nothing utters: {sorted(unused - uttered_by_actions)}"
