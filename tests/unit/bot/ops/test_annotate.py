"""Merging operators' labels into the training data (bot/ops/annotate.py).

What would hurt if these failed: a customer's e-mail or order number taught
to the model, the same sentence taught twice or as two intents, a held-out
test sentence trained on (the gate would then measure nothing), examples the
data tests reject because their entities are not marked, or a label lost
between the prompt and the file.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import yaml

from analytics.core.errors import InvalidInput
from bot.ops.annotate import (
    LabelledExample,
    apply_labels_file,
    example_key,
    label_interactively,
    labelled_examples,
    merge_labels,
    read_examples,
)
from bot.ops.masking import Names
from bot.ops.project import Project

NOW = datetime(2026, 11, 24, 7, 0)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "data" / "nlu").mkdir(parents=True)
    (tmp_path / "tests" / "data").mkdir(parents=True)
    (tmp_path / "domain.yml").write_text(
        'version: "3.1"\nintents: [greet, order_status, return_request, faq]\nresponses:\n  utter_greet: [{text: hi}]\n'
    )
    (tmp_path / "data" / "nlu" / "base.yml").write_text(
        'version: "3.1"\nnlu:\n'
        "  - intent: order_status\n    examples: |\n      - Where is my order?\n      - track order [536365](order_number)\n"
        "  - intent: return_request\n    examples: |\n      - I want to send it back\n"
        "  - regex: order_number\n    examples: |\n      - \\b\\d{6}\\b\n"
        "  - regex: quantity\n    examples: |\n      - \\b\\d\\b(?= of them)\n"
    )
    (tmp_path / "data" / "nlu" / "faq.yml").write_text(
        'version: "3.1"\nresponses:\n  utter_faq/shipping_costs: [{text: free over £50}]\n'
    )
    (tmp_path / "data" / "catalog_patterns.jsonl").write_text(
        '{"label": "product", "pattern": "lunch bag", "id": "lunch bag"}\n'
    )
    (tmp_path / "tests" / "data" / "nlu_holdout.yml").write_text(
        'version: "3.1"\nnlu:\n  - intent: order_status\n    examples: |\n      - has my parcel shipped\n'
    )
    return Project(tmp_path)


def labelled(text: str, intent: str, event: int = 1, sender: str = "ab12") -> LabelledExample:
    return LabelledExample(text=text, intent=intent, event_ids=(event,), message_ids=(f"m{event}",), senders=(sender,))


def merged_file(project: Project) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(project.from_conversations.read_text())


def test_labelled_messages_land_in_the_conversations_file_with_their_source(project: Project) -> None:
    result = merge_labels(
        project, [labelled("my parcel never arrived", "order_status", 42, "9f8e")], operator="olivia", now=NOW
    )
    assert [e.text for e in result.added] == ["my parcel never arrived"]
    (block,) = merged_file(project)["nlu"]
    assert block["intent"] == "order_status"
    assert block["examples"].strip() == "- my parcel never arrived"
    assert block["metadata"] == {
        "source": "conversation",
        "event_ids": [42],
        "message_ids": ["m42"],
        "senders": ["9f8e"],
        "seen": 1,
        "labelled_by": "olivia",
        "labelled_at": "2026-11-24T07:00:00",
    }
    assert [(e.intent, e.text) for e in read_examples(project.from_conversations)] == [
        ("order_status", "my parcel never arrived")
    ]


def test_personal_data_is_masked_even_if_the_triage_file_was_edited(project: Project) -> None:
    merge_labels(
        project,
        [labelled("I'm Jane Doe, jane@example.com, order 536365, +44 7700 900123", "order_status")],
        operator="olivia",
        names=Names.load(customers=["Jane Doe"]).names,
        now=NOW,
    )
    text = merged_file(project)["nlu"][0]["examples"]
    assert "- I'm J*** D***, j***@example.com, order ******, +** **** ******" in text
    for secret in ("Jane", "jane@", "536365", "7700"):
        assert secret not in project.from_conversations.read_text()


def test_what_is_already_taught_is_not_taught_again_and_conflicts_are_reported(project: Project) -> None:
    result = merge_labels(
        project,
        [labelled("where is my order", "order_status", 1), labelled("WHERE is my order!!", "return_request", 2)],
        operator="olivia",
        now=NOW,
    )
    assert result.added == ()
    assert [why for _, why in result.skipped] == [
        "labelled as order_status and return_request: decide on one",
    ]
    result = merge_labels(project, [labelled("where is my order", "return_request", 3)], operator="o", now=NOW)
    assert [why for _, why in result.skipped] == ["already taught as order_status (base.yml)"]


def test_held_out_test_sentences_are_never_trained_on(project: Project) -> None:
    result = merge_labels(project, [labelled("Has my parcel shipped?", "order_status")], operator="o", now=NOW)
    assert result.added == ()
    assert result.skipped[0][1] == "it is in the held-out test set, which is never trained on"
    assert not project.from_conversations.exists()


def test_merging_the_same_labels_twice_changes_nothing(project: Project) -> None:
    labels = [labelled("parcel went walkabout", "order_status", 7), labelled("lid cracked", "return_request", 8)]
    merge_labels(project, labels, operator="olivia", now=NOW)
    first = project.from_conversations.read_text()
    again = merge_labels(project, labels, operator="olivia", now=datetime(2026, 12, 1))
    assert again.added == () and [why for _, why in again.skipped] == ["already merged", "already merged"]
    assert project.from_conversations.read_text() == first
    assert again.total == 2


def test_entities_are_marked_where_the_projects_extractors_find_them(project: Project) -> None:
    merge_labels(project, [labelled("return 2 of them, the lunch bag", "return_request")], operator="o", now=NOW)
    assert "- return [2](quantity) of them, the [lunch bag](product)" in project.from_conversations.read_text()
    # order numbers are masked before the extractors look, so none is left to mark
    merge_labels(project, [labelled("status of 581580", "order_status", 9)], operator="o", now=NOW)
    assert "- status of ******" in project.from_conversations.read_text()


def test_retrieval_intents_with_a_response_are_labels_too(project: Project) -> None:
    assert {"faq/shipping_costs", "order_status", "greet"} <= project.intents()
    assert "faq/opening_hours" not in project.intents()


# --------------------------------------------------------------------------- where labels come from


def triage_doc() -> dict:  # type: ignore[type-arg]
    return {
        "groups": [
            {"group": 1, "label": None, "count": 2, "conversations": 2, "predicted": {"return_request": 2},
             "reasons": {"low_confidence": 2}, "suggested": "order_status",
             "examples": [{"text": "parcel went walkabout", "label": None, "seen": 2, "event_ids": [11, 12]}]},
            {"group": 2, "label": None, "count": 1, "conversations": 1, "predicted": {"greet": 1},
             "reasons": {"fallback": 1}, "suggested": None,
             "examples": [{"text": "yo", "label": None, "seen": 1, "event_ids": [13]},
                          {"text": "oi mate", "label": None, "seen": 1, "event_ids": [14]}]},
        ]
    }  # fmt: skip


def test_a_labels_file_labels_groups_and_single_examples(project: Project, tmp_path: Path) -> None:
    labels = tmp_path / "labels.yml"
    labels.write_text("groups: {1: order_status, 2: skip}\nexamples: {14: greet}\n")
    doc = apply_labels_file(triage_doc(), labels)
    found, problems = labelled_examples(doc, project.intents())
    assert problems == []
    assert [(e.text, e.intent) for e in found] == [("parcel went walkabout", "order_status"), ("oi mate", "greet")]
    assert found[0].event_ids == (11, 12) and found[0].seen == 2


def test_a_labels_file_naming_an_unknown_group_is_refused(tmp_path: Path) -> None:
    labels = tmp_path / "labels.yml"
    labels.write_text("groups: {9: order_status}\n")
    with pytest.raises(InvalidInput, match=r"no group \[9\]"):
        apply_labels_file(triage_doc(), labels)


def test_a_label_that_is_not_an_intent_is_reported(project: Project) -> None:
    doc = triage_doc()
    doc["groups"][0]["label"] = "where_is_it"
    found, problems = labelled_examples(doc, project.intents())
    assert found == [] and problems == ["group 1: 'where_is_it' is not an intent of the domain"]


def test_the_prompt_takes_the_suggestion_on_enter_lists_intents_and_saves_each_answer(project: Project) -> None:
    answers = iter(["", "?", "nonsense", "greet"])
    said: list[str] = []
    saved: list[list[object]] = []
    doc = label_interactively(
        triage_doc(),
        project.intents(),
        ask=lambda _prompt: next(answers),
        say=said.append,
        save=lambda d: saved.append([g["label"] for g in d["groups"]]),
    )
    assert [g["label"] for g in doc["groups"]] == ["order_status", "greet"]
    assert saved == [["order_status", None], ["order_status", "greet"]]
    assert any("order_status" in line and "return_request" in line for line in said)  # the "?" listing
    assert "'nonsense' is not an intent; ? lists them" in said


def test_quitting_the_prompt_keeps_what_was_labelled(project: Project) -> None:
    answers = iter(["s", "q"])
    doc = label_interactively(triage_doc(), project.intents(), ask=lambda _p: next(answers), say=lambda _l: None)
    assert [g["label"] for g in doc["groups"]] == ["skip", None]


def test_example_keys_ignore_case_spacing_and_punctuation() -> None:
    assert example_key("  Where's my ORDER?! ") == example_key("where's my order")
    assert example_key("order ******") == "order"
