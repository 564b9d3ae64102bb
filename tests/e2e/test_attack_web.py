"""Attacks on the web app (chat page and agent console) as the public reaches it: a real uvicorn process.

Issue 13: ``make run``'s password-less demo sign-in was on everywhere and
``/api/session`` listed real customers; console logins were unlimited (each try
costs a 64 MiB argon2 hash: a memory DoS); chat registration let anyone add
conversations without end. Here the web app runs as in production, without
``CRM_DEMO``. It stands as behind a gateway on the same host: uvicorn takes the
client's address from ``X-Forwarded-For`` sent by a loopback peer, so each test
speaks as its own client.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from analytics.usecases import staff
from bot.launch import Stack, running_web_app
from tests.e2e.conftest import free_port
from tests.e2e.customers import store_of

pytestmark = [pytest.mark.e2e, pytest.mark.attack, pytest.mark.slow]


@pytest.fixture(scope="module")
def web(stack: Stack, stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The web app without the demo flag, in front of the e2e stack."""
    log = tmp_path_factory.mktemp("web-attack") / "web.log"
    env = {key: value for key, value in stack_env.items() if key != "CRM_DEMO"}
    with running_web_app(port=free_port(), rasa_url=stack.rasa_url, rasa_token=stack.rasa_token, env=env, log=log) as (
        url,
        _,
    ):
        yield url


def as_client(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def log_in(web: str, username: str, password: str, client: str) -> requests.Response:
    return requests.post(
        f"{web}/console/login",
        data={"username": username, "password": password},
        headers=as_client(client),
        allow_redirects=False,
        timeout=30,
    )


def test_without_the_demo_flag_nobody_signs_in_without_a_password(web: str) -> None:
    login = requests.post(f"{web}/demo/login", data={"ref": "12748"}, allow_redirects=False, timeout=30)
    session = requests.get(f"{web}/api/session", timeout=30).json()

    assert login.status_code in (404, 405)
    assert "set-cookie" not in {k.lower() for k in login.headers}
    assert session["demo_customers"] == [] and session["customer"] is None


def test_the_documented_demo_passwords_do_not_open_the_console(web: str, stack_env: dict[str, str]) -> None:
    uow = store_of(stack_env)  # a store that once ran the demo still has its accounts
    staff.ensure_demo_users(uow)
    uow.engine.dispose()
    for username, password in (("alice", "alice-demo-password"), ("olivia", "olivia-demo-password")):
        answer = log_in(web, username, password, "198.51.100.30")
        assert answer.status_code == 401, (username, answer.status_code)


def test_a_login_flood_from_one_address_gets_429_and_others_still_get_through(web: str) -> None:
    flooder = "198.51.100.31"
    answers = [log_in(web, f"user{i}-{uuid.uuid4().hex[:4]}", "guess", flooder) for i in range(12)]

    assert [a.status_code for a in answers[:10]] == [401] * 10
    assert [a.status_code for a in answers[10:]] == [429, 429]
    assert int(answers[-1].headers["Retry-After"]) > 0
    assert log_in(web, "someone", "guess", "198.51.100.32").status_code == 401


def test_guessing_one_login_from_many_addresses_locks_that_name(web: str) -> None:
    name = f"target-{uuid.uuid4().hex[:6]}"
    wrong = [log_in(web, name, f"guess {i}", f"198.51.100.{40 + i}").status_code for i in range(5)]
    locked = log_in(web, name, "guess again", "198.51.100.60")

    assert wrong == [401] * 5
    assert locked.status_code == 429 and "Too many failed attempts" in locked.text


def test_registering_conversations_without_end_gets_429(web: str) -> None:
    spammer = "198.51.100.70"
    codes = [
        requests.post(
            f"{web}/api/chat/register",
            json={"session_id": f"spam-{uuid.uuid4().hex}"},
            headers=as_client(spammer),
            timeout=30,
        ).status_code
        for _ in range(61)
    ]

    assert codes[:60] == [204] * 60
    assert codes[60] == 429
