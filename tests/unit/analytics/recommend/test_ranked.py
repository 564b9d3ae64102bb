"""The two rule-based suggesters give the same kind of list and say shares the same way."""

from __future__ import annotations

import pytest

from analytics.recommend.basket import BasketRules
from analytics.recommend.ranked import percent
from analytics.recommend.sequences import SequenceRules

CAMPERS = [[["tent"], ["torch"]], [["tent"], ["torch", "mug"]], [["tent"], ["mug"]], [["stove"]]]


@pytest.mark.parametrize(
    ("share", "said"), [(0.32, "32%"), (0.0995, "10%"), (0.074, "7.4%"), (0.07, "7%"), (0.005, "0.5%"), (1.0, "100%")]
)
def test_a_share_reads_as_a_short_percentage(share: float, said: str) -> None:
    assert percent(share) == said


def test_bought_together_and_bought_later_lists_read_alike() -> None:
    together = BasketRules(min_support=0.25, min_confidence=0.1, min_lift=0).fit([["tent", "torch"], ["tent", "mug"]])
    later = SequenceRules(min_support=0.25, min_confidence=0.1).fit(CAMPERS)
    for result in (together.for_item("tent"), later.for_history([["tent"]])):
        assert len(result) == len(result.items) > 0
        assert list(result) == list(result.items)
        assert result[0] is result.items[0]
        assert result.item_ids == [s.item for s in result.items]
    assert later.for_history([["tent"]])[0].reason.startswith("67% of customers who bought tent")
