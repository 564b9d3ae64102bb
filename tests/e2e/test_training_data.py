"""The training data and domain pass Rasa's own validation."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import rasa

pytestmark = [pytest.mark.e2e]

# Rasa warns about these although nothing is wrong:
# - responses uttered by custom actions (it only looks at stories and rules); checked below instead;
# - the retrieval intent `faq`, listed in domain.yml and implied by the responses in data/nlu/faq.yml.
UNUSED = re.compile(r"The utterance '(\w+)' is not used in any story or rule")
EXPLAINED = ("duplicated intents have been found across multiple domain files: faq",)


def test_training_data_validates_and_every_response_is_used() -> None:
    result = rasa("data", "validate")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    unused = set(UNUSED.findall(output))
    # custom actions utter most responses; the Rasa server itself the apology for an unavailable action server
    uttering = [*(ROOT / "actions").rglob("*.py"), *(ROOT / "bot" / "rasa_runtime").rglob("*.py")]
    actions_code = "\n".join(p.read_text() for p in uttering)
    uttered_by_actions = set(re.findall(r"utter_\w+", actions_code))
    uttered_by_actions |= {f"utter_order_{s}" for s in ("processing", "shipped", "delivered", "cancelled")}
    # the FAQ answer the ResponseSelector picks (utter_faq/<question>) is uttered by action_respond
    uttered_by_actions.add("utter_faq")
    assert unused <= uttered_by_actions, f"responses nothing utters: {sorted(unused - uttered_by_actions)}"
    warnings = [
        line
        for line in output.splitlines()
        if "UserWarning" in line and not UNUSED.search(line) and not any(e in line for e in EXPLAINED)
    ]
    assert not warnings, "\n".join(warnings)
