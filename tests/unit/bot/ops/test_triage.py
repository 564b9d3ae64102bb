"""Triage: which customer messages the assistant misunderstood, read from Rasa's SQL tracker store.

The events table is written here the way Rasa's SQLTrackerStore writes it (one
row per event; a customer's message is a ``user`` row whose JSON holds the
NLU's parse), on SQLite and on PostgreSQL. What an operator would notice if
these failed: a misunderstood message missing from the list, a confident one
cluttering it, the fallback shown as the "predicted intent", two wordings of
one request in different groups, or a customer's e-mail, order number or name
in the file they label.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import pytest
from sqlalchemy import Engine, insert

from analytics.security.digests import conversation_name
from analytics.store.db import make_engine
from bot.ops.annotate import labelled_examples
from bot.ops.tracker import events, tracker_metadata
from bot.ops.triage import (
    TriageOptions,
    parse_since,
    similarity_groups,
    triage,
)
from bot.ops.triage_file import read_triage, write_triage
from tests.conftest import postgres_schema_engine

START = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc).timestamp()


@dataclass
class Turn:
    """A customer message and what the bot did with it."""

    text: str
    intent: str
    confidence: float
    actions: Sequence[str] = ("utter_ok",)
    fallback: bool = False  # the FallbackClassifier put nlu_fallback first
    at: Optional[float] = None  # seconds after the conversation started
    slots: dict[str, str] = field(default_factory=dict)
    paused: bool = False  # an agent took over (a `pause` event) after the bot's answer
    said: Sequence[str] = ()  # responses of the bot's messages (metadata.utter_action), as action_respond sends them


def rasa_rows(sender: str, turns: Sequence[Turn], start: float = START) -> list[dict[str, Any]]:
    """The rows Rasa 3.6 writes for a conversation (session start, then each turn)."""
    rows: list[dict[str, Any]] = []

    def add(kind: str, ts: float, data: dict[str, Any], intent: Optional[str] = None, action: Optional[str] = None):
        rows.append(
            {
                "sender_id": sender,
                "type_name": kind,
                "timestamp": ts,
                "intent_name": intent,
                "action_name": action,
                "data": json.dumps({"event": kind, "timestamp": ts, **data}),
            }
        )

    add("action", start, {"name": "action_session_start"}, action="action_session_start")
    add("session_started", start, {})
    add("action", start, {"name": "action_listen"}, action="action_listen")
    for i, turn in enumerate(turns):
        ts = start + (turn.at if turn.at is not None else 10.0 * (i + 1))
        ranking = [{"name": turn.intent, "confidence": turn.confidence}, {"name": "greet", "confidence": 0.01}]
        intent = {"name": turn.intent, "confidence": turn.confidence}
        if turn.fallback:
            intent = {"name": "nlu_fallback", "confidence": 0.5}
            ranking = [intent, *ranking]
        message_id = hashlib.md5(f"{sender}/{i}".encode()).hexdigest()  # Rasa's are uuid4 hex
        parse = {"intent": intent, "entities": [], "text": turn.text, "message_id": message_id,
                 "intent_ranking": ranking}  # fmt: skip
        add("user", ts, {"text": turn.text, "parse_data": parse}, intent=intent["name"])
        add("user_featurization", ts, {"use_text_for_featurization": False})
        for name, value in turn.slots.items():
            add("slot", ts, {"name": name, "value": value})
        for action in turn.actions:
            add("action", ts + 0.1, {"name": action}, action=action)
            add("bot", ts + 0.1, {"text": "..."})
        for response in turn.said:
            add("bot", ts + 0.1, {"text": "...", "data": {}, "metadata": {"utter_action": response}})
        if turn.paused:
            add("pause", ts + 0.2, {})
        add("action", ts + 0.2, {"name": "action_listen"}, action="action_listen")
    return rows


def store(engine: Engine, conversations: dict[str, Sequence[Turn]]) -> None:
    rows = [row for sender, turns in conversations.items() for row in rasa_rows(sender, turns)]
    with engine.begin() as conn:
        conn.execute(insert(events), rows)


@pytest.fixture(params=["sqlite", "postgresql"])
def tracker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty tracker-store database with Rasa's events table, on each engine."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'tracker.sqlite3'}")
    else:
        request.applymarker(pytest.mark.postgres)
        engine, _ = postgres_schema_engine(request.getfixturevalue("postgres_database"))
    tracker_metadata.create_all(engine)
    yield engine
    engine.dispose()


def flagged_texts(engine: Engine, **options: Any) -> dict[str, tuple[str, ...]]:
    report = triage(engine, TriageOptions(**options))
    return {m.text: m.reasons for g in report.groups for m in g.messages}


# --------------------------------------------------------------------------- what counts as misunderstood


def test_low_confidence_messages_are_listed_with_their_intent_and_confident_ones_are_not(tracker: Engine) -> None:
    store(
        tracker,
        {
            "c1": [
                Turn("where is my order", "order_status", 0.97),
                Turn("the box came squashed", "return_request", 0.41),
            ]
        },
    )
    report = triage(tracker, TriageOptions(min_confidence=0.6))
    (message,) = [m for g in report.groups for m in g.messages]
    assert (message.text, message.predicted, message.confidence) == ("the box came squashed", "return_request", 0.41)
    assert message.reasons == ("low_confidence",)
    assert (report.user_messages, report.conversations) == (2, 1)


def test_a_fallback_shows_what_the_classifier_thought_not_nlu_fallback(tracker: Engine) -> None:
    store(tracker, {"c1": [Turn("gift wrap?", "faq", 0.32, fallback=True, actions=["action_handle_fallback"])]})
    (message,) = [m for g in triage(tracker).groups for m in g.messages]
    assert (message.predicted, message.confidence, message.fell_back) == ("faq", 0.32, True)
    assert message.reasons == ("low_confidence", "fallback")


def test_a_confident_message_the_bot_answered_with_a_fallback_action_is_listed(tracker: Engine) -> None:
    store(tracker, {"c1": [Turn("yes the blue one", "affirm", 0.93, actions=["action_default_fallback"])]})
    assert flagged_texts(tracker) == {"yes the blue one": ("fallback",)}


def test_a_message_the_bot_asked_to_rephrase_is_listed_as_a_fallback(tracker: Engine) -> None:
    store(
        tracker,
        {
            "c1": [
                Turn("zzq blorf", "inform", 0.81, actions=["action_respond"], said=["utter_default"]),
                Turn(
                    "where is order 581474", "order_status", 0.97, actions=["action_respond"], said=["utter_tracking"]
                ),
            ]
        },
    )
    flagged = flagged_texts(tracker)
    assert flagged.pop("zzq blorf") == ("fallback", "rephrased")
    assert list(flagged.values()) == [("rephrase",)]  # the next message, said in other words


def test_a_rephrasing_is_flagged_and_its_intent_becomes_the_suggestion(tracker: Engine) -> None:
    store(
        tracker,
        {
            "c1": [
                Turn("my parcel went walkabout", "return_request", 0.35, at=10),
                Turn("where is my order", "order_status", 0.96, at=25),
            ]
        },
    )
    report = triage(tracker, TriageOptions(rephrase_seconds=60))
    by_text = {m.text: m for g in report.groups for m in g.messages}
    assert by_text["where is my order"].reasons == ("rephrase",)
    original = by_text["my parcel went walkabout"]
    assert original.reasons == ("low_confidence", "rephrased")
    assert original.rephrased_as == "order_status"
    group = next(g for g in report.groups if original in g.messages)
    assert group.suggested == "order_status"


def test_a_message_long_after_a_misunderstanding_is_not_a_rephrasing(tracker: Engine) -> None:
    store(
        tracker,
        {
            "c1": [
                Turn("my parcel went walkabout", "return_request", 0.35, at=10),
                Turn("where is my order", "order_status", 0.96, at=600),
            ]
        },
    )
    assert flagged_texts(tracker, rephrase_seconds=60) == {"my parcel went walkabout": ("low_confidence",)}


def test_saying_no_or_asking_for_a_person_is_not_a_rephrasing(tracker: Engine) -> None:
    store(
        tracker,
        {
            "c1": [Turn("parcel went walkabout", "return_request", 0.35, at=10), Turn("no", "deny", 0.98, at=20)],
            "c2": [
                Turn("parcel went walkabout", "return_request", 0.35, at=10),
                Turn("a human please", "human_handoff", 0.98, actions=["action_handoff"], at=20),
            ],
        },
    )
    report = triage(tracker)
    assert {m.text for g in report.groups for m in g.messages} == {"parcel went walkabout"}


def test_messages_misunderstood_before_a_handoff_and_the_one_just_before_it_are_listed(tracker: Engine) -> None:
    store(
        tracker,
        {
            "c1": [
                Turn("hi", "greet", 0.99, at=5),
                Turn("the lid cracked in transit", "return_request", 0.45, at=20),
                Turn("my refund for the lid", "delivery_estimate", 0.88, at=40),  # confident, and then ...
                Turn("let me talk to someone", "human_handoff", 0.97, actions=["action_handoff"], at=60),
            ],
            "c2": [  # a greeting right before a handoff says nothing about the NLU
                Turn("hello", "greet", 0.99, at=5),
                Turn("agent please", "human_handoff", 0.99, actions=["action_handoff"], at=8),
            ],
        },
    )
    flagged = flagged_texts(tracker)
    assert flagged == {
        "the lid cracked in transit": ("low_confidence", "rephrased", "handoff"),
        "my refund for the lid": ("rephrase", "handoff"),  # answered confidently, and then the customer gave up
    }


def test_an_agent_pausing_the_conversation_counts_as_a_handoff(tracker: Engine) -> None:
    store(
        tracker,
        {
            "c1": [
                Turn("the lid cracked", "return_request", 0.45, at=10),
                Turn("ok then", "affirm", 0.99, paused=True, at=30),
            ]
        },
    )
    assert flagged_texts(tracker, handoff_seconds=60) == {"the lid cracked": ("low_confidence", "handoff")}
    assert flagged_texts(tracker, handoff_seconds=10) == {"the lid cracked": ("low_confidence",)}


def test_since_leaves_out_older_messages_and_warm_up_conversations_are_ignored(tracker: Engine) -> None:
    store(tracker, {"old": [Turn("box squashed", "return_request", 0.4)]})
    later = START + 3 * 86400
    rows = rasa_rows("new", [Turn("lid cracked", "return_request", 0.4)], start=later)
    rows += rasa_rows("__warmup__a1b2", [Turn("hello", "greet", 0.2)], start=later)
    with tracker.begin() as conn:
        conn.execute(insert(events), rows)
    since = datetime.fromtimestamp(later - 3600, timezone.utc).replace(tzinfo=None)
    report = triage(tracker, TriageOptions(since=since))
    assert [m.text for g in report.groups for m in g.messages] == ["lid cracked"]
    assert report.conversations == 1


# --------------------------------------------------------------------------- grouping


def test_wordings_of_one_request_share_a_group_counted_across_conversations(tracker: Engine) -> None:
    store(
        tracker,
        {
            "c1": [Turn("my parcel never arrived", "return_request", 0.3)],
            "c2": [Turn("My parcel never arrived!", "return_request", 0.4)],
            "c3": [Turn("my parcel has never arrived", "delivery_estimate", 0.5)],
            "c4": [Turn("do you sell gift cards", "product_info", 0.3)],
        },
    )
    report = triage(tracker, TriageOptions(similarity=0.5))
    assert [(g.count, g.conversations) for g in report.groups] == [(3, 3), (1, 1)]
    biggest = report.groups[0]
    assert biggest.predicted == {"return_request": 2, "delivery_estimate": 1}
    assert biggest.representative == "my parcel never arrived"


def test_unrelated_messages_do_not_chain_into_one_group_through_an_in_between_one() -> None:
    texts = ["where is my parcel", "where is my parcel and my refund", "my refund and my voucher"]
    # the middle one is like both others (cosine 0.78 and 0.55), the outer two are not alike (0.10)
    assert similarity_groups(texts, 0.5, weights=[5, 1, 1]).tolist() == [0, 0, 1]


def test_groups_of_misunderstood_messages_come_before_groups_of_understood_rephrasings(tracker: Engine) -> None:
    store(
        tracker,
        {
            f"c{i}": [
                Turn("box came squashed", "return_request", 0.3, at=10),
                Turn("I want to return an item", "return_request", 0.97, at=20),
            ]
            for i in range(3)
        }
        | {"d": [Turn("lid cracked", "return_request", 0.3, at=10)]},
    )
    report = triage(tracker)
    assert [g.representative for g in report.groups] == ["box came squashed", "lid cracked", "I want to return an item"]


def test_grouping_follows_the_threshold() -> None:
    texts = ["where is my parcel", "where's my parcel", "cancel my order please"]
    assert similarity_groups(texts, 0.5).tolist() == [0, 0, 1]
    assert len(set(similarity_groups(texts, 0.9).tolist())) == 3


# --------------------------------------------------------------------------- personal data


def test_emails_phones_order_numbers_and_names_are_masked_and_senders_hashed(tracker: Engine, tmp_path: Path) -> None:
    store(
        tracker,
        {
            "customer-17850": [
                Turn("I'm Oliver", "identify", 0.9, slots={"customer_name": "Oliver Dubois"}),
                Turn("Oliver Dubois here, mail oliver.d@example.com re 536365", "identify", 0.3),
                Turn("or call +44 7700 900123, ask for Hannah", "inform", 0.3),
            ]
        },
    )
    store(tracker, {"typo": [Turn("nothing came for order5 81042", "order_status", 0.3)]})
    report = triage(tracker, TriageOptions(names=("Hannah",)))
    texts = sorted(m.text for g in report.groups for m in g.messages)
    assert texts == [
        "O*** D*** here, mail o***@example.com re ******",
        "nothing came for order5 *****",  # a mistyped order number is still a number to hide
        "or call +** **** ******, ask for H***",
    ]
    out = write_triage(report, tmp_path / "triage.yml").read_text()
    for secret in ("Oliver", "oliver.d", "536365", "7700", "81042", "Hannah", "customer-17850"):
        assert secret not in out
    assert conversation_name("customer-17850") in out


# --------------------------------------------------------------------------- the annotation file


def test_the_triage_file_reads_back_with_the_operators_labels(tracker: Engine, tmp_path: Path) -> None:
    store(
        tracker,
        {
            "c1": [Turn("my parcel never arrived", "return_request", 0.3)],
            "c2": [Turn("my parcel never arrived", "return_request", 0.3)],
        },
    )
    path = write_triage(triage(tracker), tmp_path / "triage.yml")
    doc = read_triage(path)
    (group,) = doc["groups"]
    assert (group["count"], group["conversations"], group["predicted"]) == (2, 2, {"return_request": 2})
    (example,) = group["examples"]
    assert example["seen"] == 2 and len(example["event_ids"]) == 2 and len(example["message_ids"]) == 2
    group["label"] = "order_status"
    labelled, problems = labelled_examples(doc, {"order_status"})
    assert problems == []
    assert [(e.text, e.intent, e.seen) for e in labelled] == [("my parcel never arrived", "order_status", 2)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7d", datetime(2026, 11, 13, 12)), ("12h", datetime(2026, 11, 20)), ("2026-11-01", datetime(2026, 11, 1))],
)
def test_since_takes_durations_and_dates(value: str, expected: datetime) -> None:
    assert parse_since(value, now=datetime(2026, 11, 20, 12)) == expected


def test_a_bad_since_says_what_to_write() -> None:
    from analytics.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="7d"):
        parse_since("last tuesday")
