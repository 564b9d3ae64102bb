"""Rasa's rules send every intent to the one action that holds the dialogue policy (actions/dialogue)."""

from __future__ import annotations

import yaml

from tests.conftest import ROOT


def _intents() -> set[str]:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    return {i if isinstance(i, str) else next(iter(i)) for i in domain["intents"]} | {"nlu_fallback"}


def test_every_intent_has_a_rule_that_runs_action_respond_and_nothing_else() -> None:
    rules = yaml.safe_load((ROOT / "data" / "rules.yml").read_text())["rules"]
    routed = {}
    for rule in rules:
        steps = rule["steps"]
        assert len(steps) == 2 and steps[1] == {"action": "action_respond"}, rule["rule"]
        routed[steps[0]["intent"]] = rule["rule"]
    assert set(routed) == _intents()


def test_the_domain_lists_only_the_actions_the_action_server_has() -> None:
    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package("actions")
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    assert set(domain["actions"]) == set(executor.actions)
