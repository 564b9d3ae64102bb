"""Rasa checks the action server's answers as before, with a validator built once (bot/rasa_runtime/answers.py).

Runs in ``.venv-rasa`` (the module patches Rasa's own ``RemoteAction``).
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from typing import Any

import pytest

from tests.unit.bot.test_rasa_degradation import RASA_PYTHON, ROOT, quiet_rasa_env

SCRIPT = textwrap.dedent(
    """
    import json
    from rasa.core.actions.action import RemoteAction
    from rasa.utils.endpoints import EndpointConfig
    from bot.rasa_runtime import answers

    answers.install()
    answers.install()  # twice: still one wrapper
    action = RemoteAction("action_respond", EndpointConfig("http://127.0.0.1:1/webhook"))
    report = {"valid": action._validate_action_result({"events": [], "responses": [{"text": "hi"}]})}
    try:
        action._validate_action_result({"events": "no"})
        report["invalid"] = "accepted"
    except Exception as exc:
        report["invalid"] = type(exc).__name__
    report["wrapped_once"] = RemoteAction._validate_action_result.validator is not None
    print(json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    if not RASA_PYTHON.exists():
        pytest.skip("the Rasa environment .venv-rasa is missing (make env creates it)")
    done = subprocess.run(
        [str(RASA_PYTHON), "-c", SCRIPT], cwd=ROOT, env=quiet_rasa_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_valid_answer_passes(report: dict[str, Any]) -> None:
    assert report["valid"] is True and report["wrapped_once"]


def test_an_invalid_answer_is_refused_with_rasas_own_error(report: dict[str, Any]) -> None:
    assert report["invalid"] == "ValidationError"
