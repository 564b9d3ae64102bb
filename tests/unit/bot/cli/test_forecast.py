"""``crm forecast``: the demand run with its summary, the report, and clear errors with exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.app import app
from tests.conftest import SAMPLE


@pytest.fixture
def sample_store(cli: CliRunner) -> CliRunner:
    assert cli.invoke(app, ["db", "upgrade"]).exit_code == 0
    imported = cli.invoke(app, ["import", "retail", str(SAMPLE), "--shift-to-now"])
    assert imported.exit_code == 0, imported.output
    return cli


def test_forecast_demand_stores_a_run_and_prints_a_summary_per_level(sample_store: CliRunner) -> None:
    result = sample_store.invoke(app, ["forecast", "demand", "--freq", "D", "--horizon", "7", "--top-products", "5"])
    assert result.exit_code == 0, result.output
    assert "Demand forecast run 1: daily, 7 days ahead" in result.output
    for level in ("shop", "category", "product"):
        assert level in result.output
    assert "£" in result.output and "units" in result.output  # the shop's totals over the horizon
    assert "closed weekdays:" in result.output and "left out by --top-products" in result.output


def test_forecast_report_writes_the_page_and_its_figures(sample_store: CliRunner, tmp_path: Path) -> None:
    ran = sample_store.invoke(app, ["forecast", "demand", "--horizon", "4", "--top-products", "3"])
    assert ran.exit_code == 0, ran.output
    out = tmp_path / "report"
    result = sample_store.invoke(app, ["forecast", "report", "--out", str(out), "--products", "2", "--categories", "1"])
    assert result.exit_code == 0, result.output
    assert "demand.html" in result.output
    assert (out / "demand.html").exists()
    assert len(list(out.glob("*.png"))) == 4  # the shop, one category, two products


def test_forecast_demand_on_a_store_without_sales_exits_2_and_says_so(cli: CliRunner) -> None:
    assert cli.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = cli.invoke(app, ["forecast", "demand"])
    assert result.exit_code == 2
    assert "no sales" in result.output and "crm seed" in result.output


def test_forecast_report_before_any_run_says_what_to_run(cli: CliRunner, tmp_path: Path) -> None:
    assert cli.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = cli.invoke(app, ["forecast", "report", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "crm forecast demand" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--freq", "M"], "freq must be 'D' (daily) or 'W' (weekly)"),
        (["--horizon", "0"], "horizon must be a whole number >= 1"),
        (["--horizon", "400"], "needs at least"),
    ],
)
def test_bad_options_exit_2_with_what_to_fix(sample_store: CliRunner, args: list[str], message: str) -> None:
    result = sample_store.invoke(app, ["forecast", "demand", *args])
    assert result.exit_code == 2
    assert message in result.output
