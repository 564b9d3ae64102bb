"""The crm command line: clear errors with exit status 2, useful output."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bot.cli.app import app
from tests.conftest import write_retail_csv


def test_commands_on_a_store_without_schema_say_how_to_create_it(cli: CliRunner) -> None:
    result = cli.invoke(app, ["order", "536365"])
    assert result.exit_code == 2
    assert "crm db upgrade" in result.output


def test_seed_creates_the_store_and_loads_the_sample_once(cli: CliRunner) -> None:
    first = cli.invoke(app, ["seed"])
    assert first.exit_code == 0, first.output
    assert "Cleaning report" in first.output and "300" in first.output
    second = cli.invoke(app, ["seed"])
    assert second.exit_code == 0
    assert "no data to load" in second.output
    shown = cli.invoke(app, ["order", "536365"])
    assert shown.exit_code == 0
    assert "delivered" in shown.output


def test_a_seed_at_a_fixed_hour_gives_the_same_order_states_whenever_it_runs(cli: CliRunner) -> None:
    seeded = cli.invoke(app, ["seed", "--clock", "06:00"])
    assert seeded.exit_code == 0, seeded.output
    shown = cli.invoke(app, ["order", "581514"])  # placed the evening before: still being prepared at 06:00
    assert shown.exit_code == 0 and "processing" in shown.output, shown.output


def test_a_seed_clock_that_is_not_a_time_of_day_is_refused(cli: CliRunner) -> None:
    result = cli.invoke(app, ["seed", "--clock", "6 o'clock"])
    assert result.exit_code == 2
    assert "HH:MM" in result.output


def test_importing_a_malformed_file_fails_with_the_line_and_exit_2(cli: CliRunner, tmp_path: Path) -> None:
    assert cli.invoke(app, ["db", "upgrade"]).exit_code == 0
    bad = write_retail_csv(
        tmp_path / "bad.csv", [["1", "85123A", "HEART", "six", "2011-12-09 10:00:00", 2.55, "17850", "United Kingdom"]]
    )
    result = cli.invoke(app, ["import", "retail", str(bad)])
    assert result.exit_code == 2
    assert "line 2" in result.output and "Quantity 'six'" in result.output


def test_an_unknown_order_is_reported_not_raised(cli: CliRunner) -> None:
    assert cli.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = cli.invoke(app, ["order", "999999"])
    assert result.exit_code == 2
    assert "No order with number '999999'" in result.output


def test_seed_scores_customers_and_publishes_the_recommender(cli: CliRunner, tmp_path: Path) -> None:
    assert cli.invoke(app, ["seed"]).exit_code == 0
    assert (tmp_path / "artifacts" / "recommender" / "current").exists()
    shown = cli.invoke(app, ["recommend", "for", "17850", "--n", "3"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.count("£") == 3
    unknown = cli.invoke(app, ["recommend", "for", "99999999"])
    assert unknown.exit_code == 2 and "no customer" in unknown.output
