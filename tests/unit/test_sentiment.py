"""Strongly negative messages: the labelled set, the threshold chosen on it, and the Rasa component.

The evaluation (``bench/sentiment_eval.py``) runs here, in the main
environment, with vaderSentiment 3.3.2. The component
(``bot.rasa_runtime.nlu.sentiment.VaderSentimentExtractor``) lives in ``.venv-rasa``, so one
subprocess there trains a tiny NLU model with it (whitespace tokens, the
regular-expression extractor, the sentiment component), parses messages
through ``Agent.parse_message`` as the server does, and scores every labelled
message; the tests below read its report.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bench.sentiment_eval import (
    LABELLED,
    Labelled,
    choose_threshold,
    compound_scores,
    evaluate,
    load_labelled,
)
from bot.launch import quiet_rasa_env
from tests.conftest import ROOT

RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"


@pytest.fixture(scope="module")
def labelled() -> list[Labelled]:
    return load_labelled()


# -- the labelled set ---------------------------------------------------------------------


def test_the_labelled_set_is_roughly_balanced_and_split_both_ways(labelled: list[Labelled]) -> None:
    assert len(labelled) >= 150
    assert 0.4 <= sum(row.negative for row in labelled) / len(labelled) <= 0.6
    for split in ("dev", "test"):
        rows = [row for row in labelled if row.split == split]
        assert 0.4 <= sum(row.negative for row in rows) / len(rows) <= 0.6, split


def test_every_kind_of_hard_message_is_in_both_splits(labelled: list[Labelled]) -> None:
    kinds = {row.kind for row in labelled}
    assert {"negation", "sarcasm", "no_lexicon", "calm_problem", "domain_word"} <= kinds
    for kind in kinds:
        assert {row.split for row in labelled if row.kind == kind} == {"dev", "test"}, kind


def test_a_malformed_labelled_file_is_refused_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "labelled.csv"
    bad.write_text("text,label,kind,split\nwhere is my order?,not,request,dev\nugh,angry,plain,test\n")
    with pytest.raises(ValueError, match=r"labelled.csv:3: label must be one of"):
        load_labelled(bad)
    bad.write_text("text,label,kind,split\nugh,negative,plain,dev\nUGH,negative,plain,test\n")
    with pytest.raises(ValueError, match="appears twice"):
        load_labelled(bad)


# -- choosing the threshold ---------------------------------------------------------------


def test_the_threshold_favours_precision_over_recall() -> None:
    # at -0.5 both flagged messages are right; at -0.1 one of three flagged is a calm message
    compounds = [-0.8, -0.6, -0.3, -0.2]
    negative = [True, True, True, False]
    assert choose_threshold(compounds, negative, grid=[-0.5, -0.1]).threshold == -0.5


def test_between_equally_good_thresholds_the_stricter_one_wins() -> None:
    assert choose_threshold([-0.9, 0.0], [True, False], grid=[-0.2, -0.6, -0.4]).threshold == -0.6


def test_the_threshold_is_chosen_on_the_development_split_alone(labelled: list[Labelled]) -> None:
    flipped = [
        dataclasses.replace(row, label="not" if row.negative else "negative") if row.split == "test" else row
        for row in labelled
    ]
    assert evaluate(flipped).dev.threshold == evaluate(labelled).dev.threshold


# -- what it finds ------------------------------------------------------------------------


def test_on_unseen_messages_most_flags_are_right_and_most_upset_customers_are_found(
    labelled: list[Labelled],
) -> None:
    test = evaluate(labelled).test
    assert test.precision >= 0.7, test
    assert test.recall >= 0.5, test
    assert test.f1 >= 0.6, test


def test_negation_is_read_the_way_customers_mean_it(labelled: list[Labelled]) -> None:
    threshold = evaluate(labelled).dev.threshold
    calm = ["Not bad at all, thanks.", "I'm not angry, just asking where my parcel is.", "No problem, I can wait."]
    upset = ["I'm not happy at all with this order.", "I AM NOT HAPPY. The order is wrong again!!!"]
    assert [c <= threshold for c in compound_scores(calm)] == [False, False, False]
    assert [c <= threshold for c in compound_scores(upset)] == [True, True]


# -- the Rasa component (in .venv-rasa) ---------------------------------------------------

NLU_DATA = """\
version: "3.1"
nlu:
- regex: order_number
  examples: |
    - \\b5\\d{5}\\b
- intent: order_status
  examples: |
    - where is my order
    - has my parcel shipped
    - when does order [536365](order_number) arrive
- intent: greet
  examples: |
    - hello
    - hi there
"""
CONFIG = """\
language: en
pipeline:
  - name: WhitespaceTokenizer
  - name: RegexEntityExtractor
  - name: bot.rasa_runtime.nlu.sentiment.VaderSentimentExtractor
policies: []
"""
ANGRY = "You lot are useless. Where is my order 536365?!"
CALM = "where is my order 536365?"

# Runs in .venv-rasa: train the tiny model, parse through the agent, score the labelled set, check bad configs.
RASA_SCRIPT = textwrap.dedent(
    """
    import asyncio, csv, json, sys
    from pathlib import Path

    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu
    from rasa.shared.exceptions import InvalidConfigException
    from rasa.shared.nlu.training_data.message import Message

    from bot.rasa_runtime.nlu.sentiment import VaderSentimentExtractor

    work, labelled = Path(sys.argv[1]), Path(sys.argv[2])
    spec = json.loads((work / "spec.json").read_text())
    model = train_nlu(str(work / "config.yml"), str(work / "nlu.yml"), str(work / "models"), fixed_model_name="m")
    agent = Agent.load(model)

    async def parse_all(texts):
        return [await agent.parse_message(text) for text in texts]

    parsed = asyncio.run(parse_all(spec["messages"]))
    texts = [row["text"] for row in csv.DictReader(labelled.open(encoding="utf-8"))]
    component = VaderSentimentExtractor.create({}, None, None, None)
    messages = component.process([Message(data={"text": t}) for t in texts])
    flagged = [t for t, m in zip(texts, messages) if any(e["entity"] == "sentiment" for e in m.get("entities", []))]
    refused = {}
    for name, config in spec["bad_configs"].items():
        try:
            VaderSentimentExtractor.create(config, None, None, None)
            refused[name] = None
        except InvalidConfigException as error:
            refused[name] = str(error)
    print(json.dumps({
        "default_threshold": VaderSentimentExtractor.get_default_config()["threshold"],
        "parsed": dict(zip(spec["messages"], parsed)),
        "flagged": flagged,
        "refused": refused,
    }))
    """
)


@pytest.fixture(scope="module")
def rasa_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not RASA_PYTHON.exists():
        pytest.skip("the Rasa environment .venv-rasa is missing (make env creates it)")
    work = tmp_path_factory.mktemp("sentiment")
    (work / "nlu.yml").write_text(NLU_DATA)
    (work / "config.yml").write_text(CONFIG)
    spec = {
        "messages": [ANGRY, CALM, "", "   "],
        "bad_configs": {
            "words": {"threshold": "very negative"},
            "too_low": {"threshold": -1.5},
            "no_entity": {"entity": ""},
        },
    }
    (work / "spec.json").write_text(json.dumps(spec))
    (work / "run.py").write_text(RASA_SCRIPT)
    env = quiet_rasa_env({"RASA_CACHE_DIRECTORY": str(work / "cache"), "OMP_NUM_THREADS": "1"})
    done = subprocess.run(
        [str(RASA_PYTHON), str(work / "run.py"), str(work), str(LABELLED)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


@pytest.mark.slow
def test_a_strongly_negative_message_is_marked_for_the_dialogue(rasa_report: dict[str, Any]) -> None:
    entities = rasa_report["parsed"][ANGRY]["entities"]
    assert {"entity": "sentiment", "value": "negative", "start": 0, "end": len(ANGRY)}.items() <= next(
        e for e in entities if e["entity"] == "sentiment"
    ).items()
    # the other extractors' entities are kept
    assert [e["value"] for e in entities if e["entity"] == "order_number"] == ["536365"]


@pytest.mark.slow
def test_a_calm_message_is_not_marked_but_its_scores_are_kept(rasa_report: dict[str, Any]) -> None:
    parsed = rasa_report["parsed"][CALM]
    assert [e["entity"] for e in parsed["entities"]] == ["order_number"]
    assert parsed["sentiment"] == {"neg": 0.0, "neu": 1.0, "pos": 0.0, "compound": 0.0}
    assert rasa_report["parsed"][ANGRY]["sentiment"]["compound"] < -0.4


@pytest.mark.slow
def test_empty_messages_pass_through_untouched(rasa_report: dict[str, Any]) -> None:
    for text in ("", "   "):
        parsed = rasa_report["parsed"][text]
        assert parsed["entities"] == [] and "sentiment" not in parsed


@pytest.mark.slow
def test_the_component_ships_the_threshold_chosen_on_dev(rasa_report: dict[str, Any], labelled: list[Labelled]) -> None:
    assert rasa_report["default_threshold"] == evaluate(labelled).dev.threshold


@pytest.mark.slow
def test_the_component_flags_exactly_what_the_evaluation_counts(
    rasa_report: dict[str, Any], labelled: list[Labelled]
) -> None:
    threshold = rasa_report["default_threshold"]
    compounds = compound_scores([row.text for row in labelled])
    assert rasa_report["flagged"] == [row.text for row, c in zip(labelled, compounds) if c <= threshold]


@pytest.mark.slow
def test_a_meaningless_configuration_is_refused(rasa_report: dict[str, Any]) -> None:
    refused = rasa_report["refused"]
    assert "`threshold` must be a number from -1 to 1" in refused["words"]
    assert "`threshold` must be a number from -1 to 1" in refused["too_low"]
    assert "`entity` must be a non-empty string" in refused["no_entity"]
