"""The Rasa server starts only with an API key, taken from the environment, never from its command line."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bot.launch import rasa_server_command, rasa_server_env
from bot.rasa_runtime.launcher import rasa_arguments

KEY = "k" * 40


def test_the_key_goes_to_rasa_as_its_jwt_secret() -> None:
    assert rasa_arguments(["run", "--enable-api"], KEY) == [
        "rasa", "run", "--enable-api", f"--jwt-secret={KEY}", "--jwt-method=HS256",
    ]  # fmt: skip


@pytest.mark.parametrize("key", ["-" + "k" * 39, "--" + "k" * 38, "k" * 39 + "-"])
def test_a_key_that_looks_like_an_option_still_reaches_rasa_whole(key: str) -> None:
    """Random keys begin with "-" one time in 64; Rasa's argparse must still read them as the value."""
    parser = argparse.ArgumentParser()
    parser.add_argument("command")
    parser.add_argument("--jwt-secret", type=str)
    parser.add_argument("--jwt-method", type=str)

    parsed = parser.parse_args(rasa_arguments(["run"], key)[1:])

    assert parsed.jwt_secret == key and parsed.jwt_method == "HS256"


@pytest.mark.parametrize("key", ["", "short-key"])
def test_without_a_real_key_rasa_does_not_start(key: str) -> None:
    with pytest.raises(SystemExit, match="at least 32 characters"):
        rasa_arguments(["run"], key)


@pytest.mark.parametrize("option", ["--cors", "--auth-token", "--jwt-secret=abc"])
def test_options_that_would_open_the_api_are_refused(option: str) -> None:
    with pytest.raises(SystemExit, match="remove it"):
        rasa_arguments(["run", option, "*"], KEY)


def test_the_server_command_carries_no_secret_and_listens_on_loopback(tmp_path: Path) -> None:
    command = rasa_server_command(5005, tmp_path / "m.tar.gz", tmp_path / "e.yml", tmp_path / "c.yml")
    env = rasa_server_env(KEY)

    assert KEY not in " ".join(command) and "--cors" not in command
    assert command[command.index("--interface") + 1] == "127.0.0.1"
    assert env["CRM_RASA_TOKEN"] == KEY and int(env["SANIC_REQUEST_MAX_SIZE"]) == 1 << 20
