"""The ``crm`` command line run in-process on a store, sample and artifacts of the test's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analytics.core.settings import get_settings
from tests.conftest import SAMPLE


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("CRM_SAMPLE_PATH", str(SAMPLE))
    monkeypatch.setenv("CRM_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()
