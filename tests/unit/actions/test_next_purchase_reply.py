"""A signed-in customer who asks for ideas also hears what customers who bought the same went on to buy.

Played through ``action_respond`` with the conversation harness of ``test_dialogue`` on the shipped
sample, seeded, scored and refreshed (recommender, basket and next-purchase rules) once for the module.
"""

from __future__ import annotations

import re

import pytest

from analytics.recommend import serving
from analytics.recommend.serving import SEQUENCES
from analytics.store.artifacts import ArtifactNotFound, ArtifactStore
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases.next_purchase import next_purchase_line
from tests.unit.actions.test_dialogue import Chat, customer, published, seeded, shop, signed_in

__all__ = ["published", "seeded", "shop"]  # the harness's fixtures, used by name

LINE = re.compile(
    r"^(Most customers|Customers) who bought .+ (often |sometimes )?went on to buy .+: \d+(\.\d)?% of them(, | did, )"
    r"\d+ customers? so far\.$"
)


@pytest.fixture(autouse=True)
def rules_in_memory(published: ArtifactStore) -> None:
    """The action server has loaded the current rules (the first call only starts loading them)."""
    serving.current(published, SEQUENCES)


def ideas(chat: Chat) -> str:
    assert chat.say("what should I buy next?", "recommend_products")[0] == "utter_recommendations", chat.text
    return str(chat.said("utter_recommendations")["items"])


def test_a_customer_with_a_rule_hears_it_below_their_ideas(seeded: SqlAlchemyUnitOfWork) -> None:
    hugo = customer(seeded, "12748")
    expected = next_purchase_line(seeded, hugo.id)
    assert expected is not None and LINE.match(expected), expected
    items = ideas(signed_in(seeded, "12748"))
    listed, _, below = items.rpartition("\n\n")
    assert below == expected
    assert listed.count("\n") >= 1  # the recommendations are still there, above it


def test_no_line_when_no_rule_fits_what_the_customer_bought(seeded: SqlAlchemyUnitOfWork) -> None:
    assert next_purchase_line(seeded, customer(seeded, "12789").id) is None
    assert "went on to buy" not in ideas(signed_in(seeded, "12789"))


def test_a_visitor_gets_ideas_without_a_line(seeded: SqlAlchemyUnitOfWork) -> None:
    assert "went on to buy" not in ideas(Chat())


def test_ideas_are_answered_without_the_line_when_the_rules_are_not_published(
    seeded: SqlAlchemyUnitOfWork, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    loaded = serving.current

    def without_rules(artifacts: ArtifactStore, name: str) -> object:
        if name == SEQUENCES:
            raise ArtifactNotFound(name, artifacts.root, "it has never been built", "crm recommend refresh")
        return loaded(artifacts, name)

    monkeypatch.setattr(serving, "current", without_rules)
    with caplog.at_level("WARNING"):
        items = ideas(signed_in(seeded, "12748"))
    assert "went on to buy" not in items and items.startswith("- ")
    assert "no next-purchase line" in caplog.text
