"""The NLU loop's settings are a section of the one Settings object, read from the variables deployments already set."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.core.settings import OpsSettings, Settings

#: every variable of the former bot/ops/settings.py, with a value and the field it must land in
OPS_VARIABLES = {
    "CRM_TRACKER_STORE_URL": ("sqlite:///tracker.db", "tracker_store_url", "sqlite:///tracker.db"),
    "CRM_NLU_MAX_F1_DROP": ("0.05", "max_macro_f1_drop", 0.05),
    "CRM_OPS_ADMIN_URL": ("http://127.0.0.1:7006", "admin_url", "http://127.0.0.1:7006"),
    "CRM_OPS_TOKEN": ("t" * 40, "admin_token", "t" * 40),
    "CRM_LOCK_STORE_URL": ("redis://127.0.0.1:6379/3", "lock_store_url", "redis://127.0.0.1:6379/3"),
    "CRM_PII_NAMES_FILE": ("names.txt", "names_file", Path("names.txt")),
    "CRM_SWAP_DRAIN_SECONDS": ("12.5", "drain_seconds", 12.5),
    "CRM_SWAP_LOAD_TIMEOUT": ("90", "load_timeout_seconds", 90.0),
    "CRM_SWAP_LOAD_NICENESS": ("5", "load_niceness", 5),
}


def test_the_ops_section_reads_every_variable_by_its_old_name(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, (value, _, _) in OPS_VARIABLES.items():
        monkeypatch.setenv(variable, value)

    ops = Settings().ops

    assert {field: getattr(ops, field) for _, field, _ in OPS_VARIABLES.values()} == {
        field: expected for _, field, expected in OPS_VARIABLES.values()
    }


def test_without_variables_the_ops_section_has_its_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in OPS_VARIABLES:
        monkeypatch.delenv(variable, raising=False)

    assert Settings().ops == OpsSettings()
    assert Settings().ops.admin_url == "http://127.0.0.1:5006" and Settings().ops.max_macro_f1_drop == 0.01


def test_the_launcher_reads_the_rasa_executable_and_action_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_RASA_BIN", "/opt/rasa/bin/rasa")
    monkeypatch.setenv("CRM_ACTION_WORKERS", "3")

    settings = Settings()

    assert settings.rasa_bin == Path("/opt/rasa/bin/rasa") and settings.action_workers == 3
