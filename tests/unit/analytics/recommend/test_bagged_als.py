"""Bagged ALS: the shared contract, and that it really is the mean of ALS fits from several seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.recommend import ALSRecommender, BaggedALSRecommender, Interactions, Recommender
from tests.unit.analytics.recommend.data import checkerboard
from tests.unit.analytics.recommend.recommender_contract import RecommenderContract

SETTINGS = {"factors": 4, "regularization": 0.1, "alpha": 2.0, "iterations": 20, "num_threads": 1}


class TestBaggedALS(RecommenderContract):
    def make(self) -> Recommender:
        return BaggedALSRecommender(n_models=3, **SETTINGS)  # type: ignore[arg-type]


def campers() -> Interactions:
    """Eight campers bought a tent and a stove, four of them a torch too; ``newbie`` has only the tent.
    Twelve other customers buy from a separate kitchen range, so the camping items are a block of their own."""
    rows = [(f"camper{u}", item) for u in range(8) for item in ("tent", "stove")]
    rows += [(f"camper{u}", "torch") for u in range(4)]
    rows += [
        (f"cook{u}", item) for u in range(12) for item in ("pan", "knife", "apron", "whisk") if (u + len(item)) % 3
    ]
    rows += [("newbie", "tent")]
    return Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]))


def all_scores(model: Recommender, X: Interactions) -> np.ndarray:
    return np.asarray(model._score_rows(np.arange(X.n_users)))


def test_the_stove_every_tent_buyer_has_comes_first_then_the_torch() -> None:
    X = campers()
    settings = {**SETTINGS, "regularization": 1.0}
    got = BaggedALSRecommender(n_models=4, **settings).fit(X).recommend("newbie", n=3)  # type: ignore[arg-type]
    assert got.item_ids[:2] == ["stove", "torch"]
    assert got[0].score > got[1].score > got[2].score
    assert [(r.reason, r.because_item_id) for r in got[:2]] == [("because you bought item tent", "tent")] * 2


def test_the_score_is_the_mean_of_one_als_per_seed() -> None:
    X = checkerboard()
    bagged = BaggedALSRecommender(n_models=3, random_state=7, **SETTINGS).fit(X)  # type: ignore[arg-type]
    singles = [ALSRecommender(random_state=seed, **SETTINGS).fit(X) for seed in (7, 8, 9)]  # type: ignore[arg-type]
    expected = np.mean([all_scores(m, X) for m in singles], axis=0)
    np.testing.assert_allclose(all_scores(bagged, X), expected, rtol=1e-4, atol=1e-5)
    # the members really differ: the average is not one model three times
    assert not np.allclose(all_scores(singles[0], X), all_scores(singles[1], X), atol=1e-3)


def test_one_member_is_plain_als() -> None:
    X = checkerboard()
    one = BaggedALSRecommender(n_models=1, random_state=3, **SETTINGS).fit(X)  # type: ignore[arg-type]
    als = ALSRecommender(random_state=3, **SETTINGS).fit(X)  # type: ignore[arg-type]
    np.testing.assert_allclose(all_scores(one, X), all_scores(als, X), rtol=1e-5, atol=1e-6)


def test_the_same_seeds_give_the_same_model() -> None:
    X = checkerboard()
    first = BaggedALSRecommender(n_models=3, random_state=11, **SETTINGS).fit(X)  # type: ignore[arg-type]
    again = BaggedALSRecommender(n_models=3, random_state=11, **SETTINGS).fit(X)  # type: ignore[arg-type]
    np.testing.assert_array_equal(all_scores(first, X), all_scores(again, X))
    assert first.recommend("a0", n=5) == again.recommend("a0", n=5)


def test_the_reason_names_the_item_with_the_largest_mean_contribution() -> None:
    X = checkerboard()
    model = BaggedALSRecommender(n_models=3, **SETTINGS).fit(X)  # type: ignore[arg-type]
    row = X.user_row("a0")
    got = model.recommend("a0", n=3)
    cols = X.item_cols([r.item_id for r in got])
    contributions = np.mean([m._contributions(row, cols) for m in model.members_], axis=0)
    # each member's contributions add up to its score (up to implicit's conjugate-gradient solve),
    # so their mean adds up to the bagged score
    np.testing.assert_allclose(contributions.sum(axis=0), [r.score for r in got], rtol=2e-2)
    strongest = X.item_ids[X.seen(row)[np.argmax(contributions, axis=0)]]
    assert [r.because_item_id for r in got] == strongest.tolist()


def test_clone_and_get_params_keep_the_settings() -> None:
    model = BaggedALSRecommender(n_models=2, **SETTINGS).fit(checkerboard())  # type: ignore[arg-type]
    copy = clone(model)
    assert copy.get_params() == {"n_models": 2, "random_state": 42, **SETTINGS}
    with pytest.raises(NotFittedError):
        copy.recommend("a0")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_models": 0}, "n_models must be"),
        ({"n_models": 2.5}, "n_models must be"),
        ({"random_state": None}, "random_state must be"),
        ({"num_threads": 0}, "num_threads must be"),
    ],
)
def test_bad_settings_are_refused(params: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        BaggedALSRecommender(**params).fit(checkerboard())  # type: ignore[arg-type]
