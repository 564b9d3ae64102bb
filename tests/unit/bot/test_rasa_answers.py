"""Rasa checks the action server's answers as before, with a validator built once (bot/rasa_runtime/answers.py).

Runs in ``.venv-rasa`` (the module patches Rasa's own ``RemoteAction``).
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from tests.unit.bot.rasa_env import run_in_rasa

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
    return run_in_rasa(SCRIPT)


def test_a_valid_answer_passes(report: dict[str, Any]) -> None:
    assert report["valid"] is True and report["wrapped_once"]


def test_an_invalid_answer_is_refused_with_rasas_own_error(report: dict[str, Any]) -> None:
    assert report["invalid"] == "ValidationError"
