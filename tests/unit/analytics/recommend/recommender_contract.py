"""The contract every recommender passes: one mixin, a three-line subclass per model.

Like implicit's ``tests/recommender_base_test.py``: the data is the
checkerboard of :mod:`tests.unit.analytics.recommend.data`, where the right answer
of every question is obvious.
"""

from __future__ import annotations

import numpy as np
import pytest

from analytics.core.errors import InvalidInput, NotFittedError, NotFound
from analytics.recommend import Interactions, PriceRange, Recommender, UnknownItem, UnknownUser
from tests.unit.analytics.recommend.data import (
    GROUP_A_ITEMS,
    GROUP_A_USERS,
    GROUP_B_USERS,
    checkerboard,
    group_of_item,
    group_of_user,
    unseen_in_group,
)

ALL_USERS = GROUP_A_USERS + GROUP_B_USERS


class RecommenderContract:
    """Mix into a ``Test...`` class that defines :meth:`make`."""

    def make(self) -> Recommender:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def interactions(cls) -> Interactions:
        return checkerboard()

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, interactions: Interactions) -> Recommender:
        return cls().make().fit(interactions)

    def test_fit_returns_self(self, interactions: Interactions) -> None:
        model = self.make()
        assert model.fit(interactions) is model

    def test_fit_refuses_anything_but_interactions(self) -> None:
        with pytest.raises(InvalidInput, match="Interactions"):
            self.make().fit(checkerboard().matrix)  # type: ignore[arg-type]

    def test_every_method_needs_fit_first(self) -> None:
        model = self.make()
        with pytest.raises(NotFittedError):
            model.recommend("a0")
        with pytest.raises(NotFittedError):
            model.recommend_batch(["a0"])
        with pytest.raises(NotFittedError):
            model.similar_items(100)

    def test_recommendations_stay_inside_the_users_group(self, model: Recommender) -> None:
        for user in ALL_USERS:
            assert set(model.recommend(user, n=3).item_ids) == unseen_in_group(user), user

    def test_seen_items_are_excluded_unless_asked(self, model: Recommender, interactions: Interactions) -> None:
        for user in ALL_USERS:
            seen = set(interactions.item_ids[interactions.seen(interactions.user_row(user))].tolist())
            assert not seen & set(model.recommend(user, n=20).item_ids)
            assert len(model.recommend(user, n=20, exclude_seen=False)) == 20

    def test_a_repeatable_item_may_come_back(self, model: Recommender, interactions: Interactions) -> None:
        seen = interactions.item_ids[interactions.seen(interactions.user_row("a0"))].tolist()
        ids = model.recommend("a0", n=20, repeatable_items=[seen[0]]).item_ids
        assert seen[0] in ids and not set(seen[1:]) & set(ids)

    @pytest.mark.parametrize("n", [1, 2, 5])
    def test_n_is_respected(self, model: Recommender, n: int) -> None:
        assert len(model.recommend("b4", n=n)) == n

    def test_a_bad_n_is_refused(self, model: Recommender) -> None:
        with pytest.raises(InvalidInput, match="n must be"):
            model.recommend("a0", n=0)

    def test_scores_are_sorted_best_first(self, model: Recommender) -> None:
        for user in ALL_USERS:
            scores = [r.score for r in model.recommend(user, n=10)]
            assert scores == sorted(scores, reverse=True)

    def test_every_recommendation_has_a_reason(self, model: Recommender) -> None:
        for rec in model.recommend("a3", n=5):
            assert isinstance(rec.reason, str) and rec.reason

    def test_unknown_user_and_item_raise_domain_errors(self, model: Recommender) -> None:
        with pytest.raises(UnknownUser, match="nobody"):
            model.recommend("nobody")
        with pytest.raises(NotFound):
            model.recommend_batch(["a0", "nobody"])
        with pytest.raises(UnknownItem, match="999"):
            model.similar_items(999)

    def test_similar_items_stay_in_the_items_group(self, model: Recommender) -> None:
        for item in (GROUP_A_ITEMS[0], 205):
            similar = model.similar_items(item, n=3)
            assert len(similar) == 3
            assert item not in similar.item_ids
            assert {group_of_item(i) for i in similar.item_ids} == {group_of_item(item)}

    def test_batch_equals_one_by_one(self, model: Recommender) -> None:
        batch = model.recommend_batch(ALL_USERS, n=5)
        assert list(batch.columns) == ["user_id", "item_id", "score", "rank"]
        for user in ALL_USERS:
            assert batch.loc[batch["user_id"] == user, "item_id"].tolist() == model.recommend(user, n=5).item_ids
            assert group_of_user(user) == group_of_item(batch.loc[batch["user_id"] == user, "item_id"].iloc[0])

    def test_candidates_limit_what_is_ranked(self, model: Recommender) -> None:
        ids = model.recommend("a0", n=5, candidates=[101, 205, 999]).item_ids
        assert set(ids) <= {101, 205}

    def test_a_constraint_that_leaves_nothing_gives_an_empty_list_with_the_reason(self, model: Recommender) -> None:
        result = model.recommend("a0", n=5, filters=[PriceRange(max_price=1.0)])
        assert result == [] and result.empty_reason is not None
        assert "under £1.00" in result.empty_reason

    def test_scores_are_finite(self, model: Recommender) -> None:
        assert np.isfinite([r.score for r in model.recommend("a1", n=10)]).all()
