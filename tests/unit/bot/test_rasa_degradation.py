"""When the action server is slow or down, the customer gets an apology within the deadline, never silence.

The guard's decisions are checked with fake calls here; the last test runs the
installed wrapper on Rasa's real ``RemoteAction`` in ``.venv-rasa`` (this test
run has no Rasa) against a small HTTP server that answers, refuses the token,
fails with 503, hangs or is not there at all.
"""

from __future__ import annotations

import asyncio
import logging
import textwrap
from collections.abc import Awaitable, Callable
from typing import Any, Optional

import pytest

from bot.rasa_runtime.degradation import (
    APOLOGY,
    DEFAULT_TIMEOUT_SECONDS,
    TIMEOUT_ENV,
    ActionCallGuard,
    action_timeout,
)
from tests.unit.bot.rasa_env import run_in_rasa


class HTTPError(Exception):
    """Shaped like aiohttp's ``ClientResponseError``: it carries the status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class Rejected(Exception):
    """Stands for Rasa's ``ActionExecutionRejection``."""


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def failing_with(error: BaseException) -> Callable[[], Awaitable[list[str]]]:
    async def run() -> list[str]:
        raise error

    return run


def wrapped_by_rasa(error: BaseException) -> Callable[[], Awaitable[list[str]]]:
    """As ``RemoteAction.run`` raises: its own exception, from the HTTP client's."""

    async def run() -> list[str]:
        try:
            raise error
        except Exception as cause:
            raise RuntimeError("Failed to execute custom action 'action_respond'") from cause

    return run


async def answer() -> list[str]:
    return ["the answer"]


async def apology() -> list[str]:
    return [APOLOGY]


async def hang() -> list[str]:
    await asyncio.sleep(30)
    return ["too late"]


def call(guard: ActionCallGuard, run: Callable[[], Awaitable[list[str]]]) -> list[str]:
    return asyncio.run(guard.call("action_respond", run, apology, conversation="c1"))


def test_a_call_that_answers_in_time_is_the_answer() -> None:
    assert call(ActionCallGuard(timeout=1.0), answer) == ["the answer"]


@pytest.mark.parametrize(
    "run",
    [
        failing_with(ConnectionRefusedError("connection refused")),
        wrapped_by_rasa(ConnectionRefusedError("connection refused")),
        wrapped_by_rasa(HTTPError(503)),
        wrapped_by_rasa(HTTPError(500)),
        failing_with(ValueError("the answer is not JSON")),
    ],
    ids=["refused", "refused-wrapped", "503", "500", "unreadable"],
)
def test_a_failed_call_is_answered_with_the_apology_and_logged_as_an_error(
    run: Callable[[], Awaitable[list[str]]], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        assert call(ActionCallGuard(timeout=1.0), run) == [APOLOGY]
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert "action_respond" in caplog.text


def test_a_slow_call_is_cut_at_the_deadline_with_the_apology() -> None:
    cut: list[bool] = []

    async def hangs_until_cut() -> list[str]:
        try:
            return await hang()
        except asyncio.CancelledError:
            cut.append(True)  # the guard gave up on it: its late answer is never sent
            raise

    reply = call(ActionCallGuard(timeout=0.2), hangs_until_cut)
    assert reply == [APOLOGY]
    assert cut == [True]


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_logged_as_a_configuration_error_not_as_an_outage(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        assert call(ActionCallGuard(timeout=1.0), wrapped_by_rasa(HTTPError(status))) == [APOLOGY]
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert f"HTTP {status}" in record.getMessage() and "CRM_ACTION_TOKEN" in record.getMessage()


def test_a_rejection_passes_through_so_rasa_can_predict_another_action() -> None:
    guard = ActionCallGuard(timeout=1.0, passthrough=(Rejected,))
    with pytest.raises(Rejected):
        call(guard, failing_with(Rejected()))


def test_after_the_server_did_not_answer_the_conversation_fails_at_once_for_the_cool_down_then_tries_again() -> None:
    clock = FakeClock()
    guard = ActionCallGuard(timeout=0.05, cool_down=2.0, clock=clock)
    calls: list[str] = []

    async def counted() -> list[str]:
        calls.append("called")
        return ["the answer"]

    assert call(guard, hang) == [APOLOGY]
    clock.now += 1.0  # e.g. action_respond right after a session start that timed out
    assert call(guard, counted) == [APOLOGY] and calls == []
    # another conversation is not held back
    assert asyncio.run(guard.call("action_respond", counted, apology, conversation="c2")) == ["the answer"]
    assert calls == ["called"]
    calls.clear()
    clock.now += 1.5
    assert call(guard, counted) == ["the answer"] and calls == ["called"]


def test_an_http_error_does_not_stop_the_next_call() -> None:
    guard = ActionCallGuard(timeout=1.0, clock=FakeClock())
    assert call(guard, wrapped_by_rasa(HTTPError(503))) == [APOLOGY]
    assert call(guard, answer) == ["the answer"]


@pytest.mark.parametrize(
    ("environ", "seconds"),
    [({}, DEFAULT_TIMEOUT_SECONDS), ({TIMEOUT_ENV: ""}, DEFAULT_TIMEOUT_SECONDS), ({TIMEOUT_ENV: "2.5"}, 2.5)],
)
def test_the_deadline_comes_from_the_environment(environ: dict[str, str], seconds: float) -> None:
    assert action_timeout(environ) == seconds


@pytest.mark.parametrize("raw", ["0", "-1", "soon", "nan", "301"])
def test_a_deadline_that_is_not_a_sensible_number_of_seconds_is_refused(raw: str) -> None:
    with pytest.raises(SystemExit, match=TIMEOUT_ENV):
        action_timeout({TIMEOUT_ENV: raw})


# Runs in .venv-rasa: Rasa's RemoteAction, wrapped by install(), against an aiohttp server on loopback.
RASA_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, logging, socket, time

    from aiohttp import web

    from bot.rasa_runtime import degradation
    from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
    from rasa.core.channels import CollectingOutputChannel
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.utils.endpoints import EndpointConfig

    logged = []

    class Recorder(logging.Handler):
        def emit(self, record):
            logged.append(record.getMessage())

    logging.getLogger(degradation.__name__).addHandler(Recorder())
    degradation.install({degradation.TIMEOUT_ENV: "1"})
    degradation.install({degradation.TIMEOUT_ENV: "1"})  # a second install keeps the first wrapper

    domain = Domain.from_yaml('''
    version: "3.1"
    actions: [action_respond, action_session_start]
    responses:
      utter_service_unavailable:
        - text: "Sorry, not now."
    ''')

    async def webhook(request):
        kind = request.headers.get("X-Kind")
        if kind == "hang":
            await asyncio.sleep(30)
        if kind == "token":
            return web.json_response({"error": "unauthorised"}, status=401)
        if kind == "broken":
            return web.json_response({"error": "boom"}, status=503)
        if kind == "reject":
            return web.json_response({"action_name": "action_respond", "error": "no"}, status=400)
        return web.json_response({"events": [{"event": "slot", "name": "x", "value": 1}],
                                  "responses": [{"text": "the answer"}]})

    def free_port():
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    async def run(name, url, kind):
        tracker = DialogueStateTracker.from_events("s", [])
        action = RemoteAction(name, EndpointConfig(url, headers={"X-Kind": kind}))
        started = time.monotonic()
        logged.clear()
        try:
            events = await action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator(domain.responses),
                                      tracker, domain)
            outcome = [[e.type_name, getattr(e, "text", None) or getattr(e, "key", None)] for e in events]
        except ActionExecutionRejection:
            outcome = "rejected"
        return {"outcome": outcome, "seconds": round(time.monotonic() - started, 2), "log": list(logged)}

    async def main():
        app = web.Application()
        app.router.add_post("/webhook", webhook)
        runner = web.AppRunner(app)
        await runner.setup()
        port, closed = free_port(), free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        url = f"http://127.0.0.1:{port}/webhook"
        report = {}
        for kind in ["ok", "token", "broken", "reject", "hang"]:
            report[kind] = await run("action_respond", url, kind)
        await asyncio.sleep(2.1)  # past the cool-down the timeout started
        report["down"] = await run("action_respond", f"http://127.0.0.1:{closed}/webhook", "ok")
        report["session_start_down"] = await run("action_session_start", f"http://127.0.0.1:{closed}/webhook", "ok")
        await asyncio.sleep(2.1)
        report["back"] = await run("action_respond", url, "ok")
        await runner.cleanup()
        print(json.dumps(report))

    asyncio.run(main())
    """
)


@pytest.fixture(scope="module")
def rasa_report() -> dict[str, Any]:
    return run_in_rasa(RASA_SCRIPT)


def apology_only(case: dict[str, Any]) -> bool:
    return bool(case["outcome"] == [["bot", "Sorry, not now."]])


def logged(case: dict[str, Any], words: str) -> Optional[str]:
    return next((line for line in case["log"] if words in line), None)


def test_in_rasa_an_answering_action_server_is_called_as_before(rasa_report: dict[str, Any]) -> None:
    assert rasa_report["ok"]["outcome"] == [["bot", "the answer"], ["slot", "x"]]
    assert rasa_report["back"]["outcome"] == rasa_report["ok"]["outcome"]


@pytest.mark.parametrize("kind", ["down", "broken", "token"])
def test_in_rasa_a_failing_action_server_gets_the_customer_the_apology_from_the_domain(
    rasa_report: dict[str, Any], kind: str
) -> None:
    assert apology_only(rasa_report[kind]) and rasa_report[kind]["seconds"] < 1


def test_in_rasa_a_hanging_action_server_gets_the_apology_at_the_deadline(rasa_report: dict[str, Any]) -> None:
    case = rasa_report["hang"]
    assert apology_only(case) and 1 <= case["seconds"] < 2
    assert logged(case, "did not answer within 1 s")


def test_in_rasa_a_refused_token_is_logged_as_one(rasa_report: dict[str, Any]) -> None:
    assert logged(rasa_report["token"], "refused the Rasa server's token (HTTP 401)")


def test_in_rasa_a_rejection_still_lets_rasa_predict_another_action(rasa_report: dict[str, Any]) -> None:
    assert rasa_report["reject"]["outcome"] == "rejected"


def test_in_rasa_a_failed_session_start_still_starts_the_session_silently(rasa_report: dict[str, Any]) -> None:
    events = [name for name, _ in rasa_report["session_start_down"]["outcome"]]
    assert events == ["session_started", "action"]
