"""``crm serve``'s supervised stack: a crashed action server is started again while Rasa and the web app serve on.

The drill of issue 15: the action server is killed (SIGKILL, as a crash would);
supervisord starts it again and a customer's REST turn is answered again within
30 s, while the Rasa server and the web app answer throughout; stopping the
stack leaves no process behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import requests

from bot.supervise import SupervisedStack, start_supervised
from tests.conftest import ROOT
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.e2e

#: how long after the crash the product must answer a customer again (issue 15's fault drills)
RECOVERY_SECONDS = 30.0


@pytest.fixture
def supervised(
    trained_model: Path, stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SupervisedStack]:
    work = tmp_path_factory.mktemp("supervised")
    actions_port = free_port()
    endpoints = work / "endpoints.yml"
    endpoints.write_text(json.dumps({"action_endpoint": {"url": f"http://127.0.0.1:{actions_port}/webhook"}}))
    stack = start_supervised(
        model=trained_model,
        rasa_port=free_port(),
        actions_port=actions_port,
        web_port=free_port(),
        endpoints=endpoints,
        log_dir=work / "log",
        state_dir=work / "sup",
        env=stack_env,
    )
    yield stack
    stack.stop()


def reply(stack: SupervisedStack, text: str = "hello") -> list[str]:
    """What a new customer is told for ``text`` over the REST channel (every turn goes through the action server)."""
    answer = requests.post(
        f"{stack.rasa_url}/webhooks/rest/webhook",
        json={"sender": f"sup-{uuid.uuid4().hex[:12]}", "message": text},
        timeout=15,
    )
    return [message["text"] for message in answer.json() if message.get("text")] if answer.ok else []


def still_serving(stack: SupervisedStack) -> tuple[bool, bool]:
    """(Rasa answers, the web app's chat page answers)."""
    try:
        rasa = requests.get(f"{stack.rasa_url}/", timeout=5).ok
    except requests.RequestException:
        rasa = False
    try:
        web = requests.get(f"{stack.web_url}/", timeout=5).ok
    except requests.RequestException:
        web = False
    return rasa, web


def test_a_killed_action_server_is_restarted_and_customers_are_answered_again(supervised: SupervisedStack) -> None:
    greeting = reply(supervised)
    assert greeting
    old = {name: supervised.pid(name) for name in ("actions", "rasa", "web")}
    assert all(old.values()), supervised.ctl("status").stdout

    os.kill(old["actions"], signal.SIGKILL)
    killed_at = time.monotonic()
    outages: list[tuple[float, bool, bool]] = []
    recovered_after = None
    while time.monotonic() - killed_at < RECOVERY_SECONDS:
        rasa_up, web_up = still_serving(supervised)
        if not (rasa_up and web_up):
            outages.append((time.monotonic() - killed_at, rasa_up, web_up))
        # the action server's own answer, not an apology said without it
        if supervised.pid("actions") not in (0, old["actions"]) and reply(supervised) == greeting:
            recovered_after = time.monotonic() - killed_at
            break
        time.sleep(0.25)

    assert recovered_after is not None, f"no answered turn within {RECOVERY_SECONDS:.0f} s; {supervised.logs}"
    print(f"\nSIGKILL of the action server -> next answered turn: {recovered_after:.1f} s")
    assert outages == [], f"Rasa or the web app stopped answering while the action server was down: {outages}"
    # only the action server was started again
    assert supervised.pid("rasa") == old["rasa"] and supervised.pid("web") == old["web"]
    assert requests.get(f"{supervised.actions_url}/health", timeout=5).ok
    # nothing of the killed server answers any more (Sanic's worker outlives its killed manager otherwise)
    with pytest.raises(ProcessLookupError):
        os.killpg(old["actions"], 0)
    assert "RUNNING" in supervised.ctl("status", "actions").stdout


def test_ctrl_c_stops_crm_serve_and_every_server(trained_model: Path, stack_env: dict[str, str]) -> None:
    ports = {"rasa": free_port(), "actions": free_port(), "web": free_port()}
    serve = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--model", str(trained_model)]
        + [arg for name, port in ports.items() for arg in (f"--{name}-port", str(port))],
        cwd=ROOT,
        env={**os.environ, **stack_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a process group of its own, as a terminal's foreground job
    )
    try:
        printed = []
        assert serve.stdout is not None
        for line in serve.stdout:
            printed.append(line)
            if line.startswith("Press Ctrl-C") or "Ctrl-C to stop" in line:
                break
        text = "".join(printed)
        assert "The assistant is up." in text, text
        assert f"web chat     : http://127.0.0.1:{ports['web']}/" in text
        assert f"REST channel : POST http://127.0.0.1:{ports['rasa']}/webhooks/rest/webhook" in text
        assert requests.get(f"http://127.0.0.1:{ports['web']}/", timeout=5).ok
        servers = running_servers(ports.values())
        assert len(servers) >= 3, servers

        os.killpg(serve.pid, signal.SIGINT)  # Ctrl-C
        serve.wait(timeout=90)
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGTERM)
            serve.wait(timeout=90)
        assert serve.stdout is not None
        serve.stdout.close()
    assert running_servers(ports.values()) == []
    assert subprocess.run(["pgrep", "-f", "--", f"supervisord.*{stack_env['CRM_VAR_DIR']}"]).returncode == 1


def running_servers(ports: Iterable[int]) -> list[str]:
    """The processes whose command line serves one of ``ports``."""
    pattern = "|".join(f"--port {port}( |$)" for port in ports)
    return subprocess.run(["pgrep", "-f", "--", pattern], capture_output=True, text=True).stdout.split()
