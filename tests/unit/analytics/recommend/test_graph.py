"""RP3beta: the shared contract, and what its popularity penalty does to a shopper's list."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.base import clone

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.recommend import Interactions, Recommender
from analytics.recommend.base import BECAUSE_YOU_BOUGHT, POPULAR
from analytics.recommend.graph import RP3betaRecommender
from tests.unit.analytics.recommend.recommender_contract import RecommenderContract


class TestRP3beta(RecommenderContract):
    def make(self) -> Recommender:
        return RP3betaRecommender(k=5, alpha=1.0, beta=0.5)


def fans_and_best_seller() -> Interactions:
    """Five fans bought ``tent`` and ``torch``, three of them ``stove`` too; ``torch`` is the
    best seller, also bought by twenty other customers. ``newbie`` has only the tent."""
    rows = [(f"fan{u}", item) for u in range(5) for item in ("tent", "torch")]
    rows += [(f"fan{u}", "stove") for u in range(3)]
    rows += [(f"other{u}", "torch") for u in range(20)]
    rows += [(f"other{u}", f"misc{u % 4}") for u in range(20)]
    rows += [("newbie", "tent")]
    return Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]))


def test_without_the_penalty_the_walk_ends_on_the_best_seller() -> None:
    ranked = RP3betaRecommender(beta=0.0).fit(fans_and_best_seller()).recommend("newbie", n=2).item_ids
    assert ranked[0] == "torch"


def test_the_penalty_puts_the_item_the_tent_buyers_share_first() -> None:
    X = fans_and_best_seller()
    first = RP3betaRecommender(beta=1.0).fit(X).recommend("newbie", n=1)[0]
    assert first.item_id == "stove"
    assert first.reason == BECAUSE_YOU_BOUGHT.format(name=X.item_name(X.item_col("tent")))
    assert first.because_item_id == "tent"


def test_k_limits_what_a_seen_item_can_lead_to() -> None:
    # with one target per seen item, the tent leads only to the stove: the rest is filler by popularity
    ranked = RP3betaRecommender(k=1, beta=1.0).fit(fans_and_best_seller()).recommend("newbie", n=3)
    assert ranked.item_ids[0] == "stove"
    assert [r.reason for r in ranked[1:]] == [POPULAR, POPULAR]


def test_clone_and_get_params_keep_the_settings() -> None:
    model = RP3betaRecommender(k=7, alpha=0.8, beta=0.3).fit(fans_and_best_seller())
    copy = clone(model)
    assert copy.get_params() == {"k": 7, "alpha": 0.8, "beta": 0.3}
    with pytest.raises(NotFittedError):
        copy.recommend("newbie")
    assert copy.set_params(beta=0.9).beta == 0.9


@pytest.mark.parametrize(
    ("params", "message"),
    [({"alpha": 0.0}, "alpha must be > 0"), ({"beta": -1.0}, "beta must be"), ({"k": 0}, "k must be")],
)
def test_bad_settings_are_refused(params: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        RP3betaRecommender(**params).fit(fans_and_best_seller())  # type: ignore[arg-type]
