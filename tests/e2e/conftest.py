"""A running assistant for end-to-end tests: trained model, seeded store, both servers.

The store is seeded the way ``make run`` seeds it (``crm seed``: the shipped
sample shifted to now, the default offers, scores and the recommender), in a
temporary directory; the servers run on free ports.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.launch import Stack, quiet_rasa_env, rasa_executable, start_stack
from tests.conftest import ROOT

TOKEN_SECRET = "e2e-" + "0123456789abcdef" * 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rasa(*args: str, cwd: Path = ROOT, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(rasa_executable()), *args], cwd=cwd, env=quiet_rasa_env(), capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("CRM_E2E_MODEL"):  # iterate on conversations without retraining
        return Path(os.environ["CRM_E2E_MODEL"])
    out = tmp_path_factory.mktemp("models")
    result = rasa("train", "--out", str(out), "--fixed-model-name", "under-test")
    model = out / "under-test.tar.gz"
    assert result.returncode == 0 and model.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    return model


#: the time of day (UTC) the e2e store is seeded at; the conversations' expectations hold at it
SEED_CLOCK = "06:00"


@pytest.fixture(scope="session")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Settings of the seeded store every e2e test shares (read-mostly: tests use their own customers)."""
    work = tmp_path_factory.mktemp("store")
    env = {
        "DATABASE_URL": f"sqlite:///{work / 'store.sqlite3'}",
        "CRM_ARTIFACTS_DIR": str(work / "artifacts"),
        "CRM_VAR_DIR": str(work / "var"),
        "CRM_TOKEN_SECRET": TOKEN_SECRET,
    }
    seeded = subprocess.run(
        # at a fixed hour: which orders are still being prepared follows the hour of the seed
        [sys.executable, "-m", "bot.cli", "seed", "--clock", SEED_CLOCK],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert seeded.returncode == 0, seeded.stdout[-3000:] + seeded.stderr[-3000:]
    return env


@pytest.fixture(scope="session")
def stack(trained_model: Path, stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("stack")
    actions_port, rasa_port = free_port(), free_port()
    endpoints = work / "endpoints.yml"
    endpoints.write_text(json.dumps({"action_endpoint": {"url": f"http://127.0.0.1:{actions_port}/webhook"}}))
    running = start_stack(
        model=trained_model,
        rasa_port=rasa_port,
        actions_port=actions_port,
        endpoints=endpoints,
        log_dir=work / "log",
        # as behind the TLS gateway of a deployment: Rasa takes the client's address from the last
        # X-Forwarded-For entry (limits count per address); without the header it is the peer's
        env={**stack_env, "SANIC_PROXIES_COUNT": "1"},
    )
    yield running
    running.stop()
