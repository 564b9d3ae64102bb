"""The supervisord configuration of ``crm serve`` (:mod:`bot.supervise`): the right commands, no secret in it."""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path

import pytest
from supervisor.datatypes import RestartUnconditionally
from supervisor.options import ServerOptions

from bot.launch import Launch, ServeError, action_server, rasa_server, web_app
from bot.supervise import START_RETRIES, supervisor_config, write_private

RASA_TOKEN = "rasa-token-value-" + "x" * 20
ACTION_TOKEN = "action-token-value-" + "y" * 20
SECRETS = {"CRM_RASA_TOKEN": RASA_TOKEN, "CRM_ACTION_TOKEN": ACTION_TOKEN}


def launches(tmp_path: Path) -> dict[str, Launch]:
    return {
        "actions": action_server(5055, env=SECRETS),
        "rasa": rasa_server(
            5005, tmp_path / "m.tar.gz", tmp_path / "e.yml", tmp_path / "c.yml", rasa_token=RASA_TOKEN, env=SECRETS
        ),
        "web": web_app(8000, rasa_url="http://127.0.0.1:5005", rasa_token=RASA_TOKEN),
    }


def config_text(tmp_path: Path, programs: dict[str, Launch] | None = None) -> str:
    return supervisor_config(
        launches(tmp_path) if programs is None else programs,
        base_env={**os.environ, **SECRETS},
        state_dir=tmp_path / "sup",
        log_dir=tmp_path / "log",
        secret_names=frozenset(SECRETS),
    )


def read_back(tmp_path: Path, text: str) -> dict[str, object]:
    """The programs as supervisord itself reads the file (name → its process config)."""
    path = write_private(tmp_path / "sup" / "supervisord.conf", text)
    (tmp_path / "log").mkdir(exist_ok=True)
    options = ServerOptions()
    options.realize(args=["-c", str(path)])
    return {group.name: group.process_configs[0] for group in options.process_group_configs if group.name != "reaper"}


def test_the_config_carries_no_secret(tmp_path: Path) -> None:
    text = config_text(tmp_path)
    assert RASA_TOKEN not in text and ACTION_TOKEN not in text
    assert "CRM_RASA_TOKEN" not in text and "CRM_ACTION_TOKEN" not in text


def test_supervisord_runs_the_launchers_commands_with_their_own_environment(tmp_path: Path) -> None:
    programs = launches(tmp_path)
    read = read_back(tmp_path, config_text(tmp_path, programs))
    assert list(read) == ["actions", "rasa", "web"]
    for name, launch in programs.items():
        config = read[name]
        assert config.command == shlex.join(launch.argv)
        assert config.directory == str(launch.cwd)
        assert config.autorestart is RestartUnconditionally
        assert config.startretries == START_RETRIES
        assert config.stopasgroup and config.killasgroup
        assert config.stdout_logfile == str(tmp_path / "log" / f"{name}.log")
    assert read["actions"].command.split()[1:3] == ["-m", "bot.action_server"]
    assert "bot.rasa_runtime.launcher" in read["rasa"].command
    assert read["rasa"].environment["RASA_TELEMETRY_ENABLED"] == "false"
    assert read["web"].environment == {"CRM_RASA_URL": "http://127.0.0.1:5005"}
    assert not read["actions"].environment


def test_a_secret_only_one_server_has_is_refused_rather_than_written(tmp_path: Path) -> None:
    leaky = Launch(["true"], {**os.environ, **SECRETS, "CRM_TOKEN_SECRET": "only-here"})
    with pytest.raises(ServeError, match="CRM_TOKEN_SECRET"):
        config_text(tmp_path, {"actions": leaky})


def test_percent_signs_reach_the_server_as_they_are(tmp_path: Path) -> None:
    odd = Launch(["echo", "100%"], {**os.environ, **SECRETS, "CRM_NOTE": "50% off"}, tmp_path)
    read = read_back(tmp_path, config_text(tmp_path, {"actions": odd}))
    assert read["actions"].command == "echo 100%"
    assert read["actions"].environment == {"CRM_NOTE": "50% off"}


def test_what_a_dead_server_leaves_behind_is_killed_before_it_is_started_again(tmp_path: Path) -> None:
    path = write_private(tmp_path / "sup" / "supervisord.conf", config_text(tmp_path))
    (tmp_path / "log").mkdir()
    options = ServerOptions()
    options.realize(args=["-c", str(path)])
    (reaper,) = [group for group in options.process_group_configs if group.name == "reaper"]
    assert reaper.process_configs[0].command.endswith("-m bot.supervise reap")
    assert [event.__name__ for event in reaper.pool_events] == ["ProcessStateExitedEvent"]
    assert reaper.priority < min(group.priority for group in options.process_group_configs if group is not reaper)


def test_the_config_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = write_private(tmp_path / "sup" / "supervisord.conf", config_text(tmp_path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
