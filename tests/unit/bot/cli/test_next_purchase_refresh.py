"""``crm seed`` publishes the next-purchase rules with the recommender, and a store seeded before they were
part of the refresh gets them on the next seed."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from bot.cli.app import app
from bot.cli.recommend import next_purchase_summary


def test_seed_publishes_next_purchase_rules_and_a_later_seed_adds_them_when_missing(
    cli: CliRunner, tmp_path: Path
) -> None:
    rules = tmp_path / "artifacts" / "sequence_rules"
    first = cli.invoke(app, ["seed"])
    assert first.exit_code == 0, first.output
    assert "next-purchase rules v0001 (" in first.output and (rules / "current").exists()
    shutil.rmtree(rules)  # as a store seeded before the rules were part of the refresh
    again = cli.invoke(app, ["seed"])
    assert again.exit_code == 0, again.output
    assert "published recommender" not in again.output  # the recommender was already there
    assert "next-purchase rules v0001 (" in again.output and (rules / "current").exists()


def test_a_refresh_that_learnt_nothing_says_why_and_that_the_old_rules_stay() -> None:
    said = next_purchase_summary({"skipped": "No next-purchase rule can be learnt from this shop yet: ..."})
    assert said.startswith("next-purchase rules not refreshed (the previous ones, if any, stay): No next-purchase")
    published = next_purchase_summary({"version": "v0003", "rules": 1234, "min_count": 7})
    assert published == "next-purchase rules v0003 (1,234 rules, each held by at least 7 customers) published"
