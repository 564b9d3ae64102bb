"""EASE's input dropout (EDLAE): what it changes in a list, and that 0 changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from analytics.core.errors import InvalidInput
from analytics.recommend import EASERecommender, Recommender
from tests.unit.analytics.recommend.recommender_contract import RecommenderContract
from tests.unit.analytics.recommend.test_graph import fans_and_best_seller


class TestEASEWithDropout(RecommenderContract):
    def make(self) -> Recommender:
        return EASERecommender(l2=5.0, dropout=0.3)


def _lead_of_the_best_seller(dropout: float) -> float:
    """How many times the torch's score is the stove's, for a customer who only has the tent."""
    ranked = EASERecommender(l2=0.5, dropout=dropout).fit(fans_and_best_seller()).recommend("newbie", n=2)
    scores = dict(zip(ranked.item_ids, (r.score for r in ranked)))
    assert list(scores) == ["torch", "stove"]
    return scores["torch"] / scores["stove"]


def test_dropout_narrows_the_best_sellers_lead() -> None:
    assert _lead_of_the_best_seller(0.5) < 0.8 * _lead_of_the_best_seller(0.0)


def test_no_dropout_is_plain_ease() -> None:
    X = fans_and_best_seller()
    plain = EASERecommender(l2=2.0).fit(X)
    zero = EASERecommender(l2=2.0, dropout=0.0).fit(X)
    assert np.array_equal(plain.weights_, zero.weights_)


def test_clone_keeps_the_dropout() -> None:
    assert clone(EASERecommender(l2=3.0, dropout=0.25)).get_params() == {"l2": 3.0, "dropout": 0.25}


@pytest.mark.parametrize("dropout", [1.0, 1.5, -0.1])
def test_a_dropout_outside_zero_to_one_is_refused(dropout: float) -> None:
    with pytest.raises(InvalidInput, match="dropout must be"):
        EASERecommender(dropout=dropout).fit(fans_and_best_seller())
