"""Running a test script inside the Rasa environment (``.venv-rasa``), where Rasa's own classes live."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from bot.launch import quiet_rasa_env
from tests.conftest import ROOT

RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"


def run_in_rasa(script: str, *args: str) -> dict[str, Any]:
    """Run ``script`` with ``args`` in ``.venv-rasa`` (the test is skipped when it is missing) and return the
    JSON object its last line printed."""
    if not RASA_PYTHON.exists():
        pytest.skip("the Rasa environment .venv-rasa is missing (make env creates it)")
    done = subprocess.run(
        [str(RASA_PYTHON), "-c", script, *args],
        cwd=ROOT,
        env=quiet_rasa_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report
