"""The trained assistant understands held-out messages, and replays every recorded conversation.

Intents and entities are scored on ``tests/data/nlu_holdout.yml`` (never
trained on) through the running server's ``/model/parse``, so products and
categories from the spaCy ruler count too (``rasa test nlu`` leaves them out).
Entities count as correct when type, start and end all match.
"""

from __future__ import annotations

from collections import Counter

import pytest
import requests
from sklearn.metrics import f1_score

from bot.launch import Stack
from tests.conftest import ROOT
from tests.e2e.conftest import rasa
from tests.unit.test_nlu_data import holdout

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

INTENT_MACRO_F1 = 0.95
ENTITY_F1 = 0.90


def test_held_out_messages_are_understood(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    truth, predicted = [], []
    counts: Counter[str] = Counter()
    for example in holdout():
        parsed = requests.post(
            f"{stack.rasa_url}/model/parse", json={"text": example.text}, headers=stack.api_headers(), timeout=30
        ).json()
        intent = parsed["intent"]["name"]
        truth.append(example.intent.split("/")[0])
        predicted.append(intent)
        expected = {(e.start, e.end, e.entity) for e in example.entities}
        # the sentiment marker spans the whole message and is scored on its own labelled set
        found = {(e["start"], e["end"], e["entity"]) for e in parsed["entities"] if e["entity"] != "sentiment"}
        counts["tp"] += len(expected & found)
        counts["fp"] += len(found - expected)
        counts["fn"] += len(expected - found)
    intent_f1 = f1_score(truth, predicted, average="macro")
    precision = counts["tp"] / max(1, counts["tp"] + counts["fp"])
    recall = counts["tp"] / max(1, counts["tp"] + counts["fn"])
    entity_f1 = 2 * precision * recall / max(1e-12, precision + recall)
    with capsys.disabled():
        print(
            f"\nheld-out NLU ({len(truth)} messages): intent macro-F1 {intent_f1:.3f}, "
            f"entity P {precision:.3f} R {recall:.3f} F1 {entity_f1:.3f}"
        )
    assert intent_f1 >= INTENT_MACRO_F1
    assert entity_f1 >= ENTITY_F1


def test_recorded_conversations_replay_without_a_wrong_prediction(trained_model: object, tmp_path: object) -> None:
    result = rasa(
        "test",
        "core",
        "--model",
        str(trained_model),
        "--stories",
        str(ROOT / "tests" / "conversations"),
        "--fail-on-prediction-errors",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
