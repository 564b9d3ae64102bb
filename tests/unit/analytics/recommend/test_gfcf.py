"""GF-CF: the shared contract, its filter against a direct computation, and what it recommends."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.recommend import Interactions, Recommender
from analytics.recommend.graph import GFCFRecommender
from tests.unit.analytics.recommend.data import checkerboard
from tests.unit.analytics.recommend.recommender_contract import RecommenderContract


class TestGFCF(RecommenderContract):
    def make(self) -> Recommender:
        return GFCFRecommender(k=4, alpha=0.5)


def campers() -> Interactions:
    """Eight campers bought a tent and a stove, four of them a torch too; ``newbie`` has only the tent.
    Twelve cooks buy from a kitchen range, and the kitchen's best seller (the pan) has more buyers than
    any camping item."""
    rows = [(f"camper{u}", item) for u in range(8) for item in ("tent", "stove")]
    rows += [(f"camper{u}", "torch") for u in range(4)]
    rows += [(f"cook{u}", "pan") for u in range(12)]
    rows += [(f"cook{u}", item) for u in range(12) for item in ("knife", "apron") if u % 2]
    rows += [("newbie", "tent")]
    return Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]))


def direct_weights(X: Interactions, k: int, alpha: float) -> np.ndarray:
    """The filter of the paper, from a dense SVD."""
    R = X.matrix.toarray().astype("float64")
    du, di = R.sum(axis=1), R.sum(axis=0)
    normalised = R / np.sqrt(du)[:, None] / np.sqrt(di)[None, :]
    _, _, vt = np.linalg.svd(normalised, full_matrices=False)
    top = vt[:k]
    return normalised.T @ normalised + alpha * np.diag(di**-0.5) @ top.T @ top @ np.diag(di**0.5)


@pytest.mark.parametrize(("k", "alpha"), [(3, 0.0), (3, 0.7), (6, 2.0)])
def test_the_weights_are_the_smoothing_plus_the_ideal_filter(k: int, alpha: float) -> None:
    X = campers()
    model = GFCFRecommender(k=k, alpha=alpha).fit(X)
    np.testing.assert_allclose(model.weights_, direct_weights(X, k, alpha), atol=1e-5)


def test_without_the_ideal_filter_a_weight_is_the_normalised_co_occurrence() -> None:
    X = campers()
    W = GFCFRecommender(alpha=0.0).fit(X).weights_
    tent, stove, torch = X.item_cols(["tent", "stove", "torch"])
    # tent (9 buyers) and torch (4) share four campers, each with three items
    assert W[tent, torch] == pytest.approx(4 / 3 / np.sqrt(9 * 4), rel=1e-6)
    # tent and stove (8 buyers) share four campers with three items and four with two
    assert W[tent, stove] == pytest.approx((4 / 3 + 4 / 2) / np.sqrt(9 * 8), rel=1e-6)


def test_the_tent_buyer_gets_the_stove_then_the_torch_not_the_kitchen_best_seller() -> None:
    X = campers()
    got = GFCFRecommender(k=2, alpha=0.3).fit(X).recommend("newbie", n=3)
    assert got.item_ids[:2] == ["stove", "torch"]
    assert got[0].score > got[1].score > got[2].score
    assert [(r.reason, r.because_item_id) for r in got[:2]] == [("because you bought item tent", "tent")] * 2


def test_the_reason_names_the_seen_item_that_contributed_most() -> None:
    X = checkerboard()
    model = GFCFRecommender(k=4, alpha=0.5).fit(X)
    row = X.user_row("a0")
    got = model.recommend("a0", n=3)
    cols = X.item_cols([r.item_id for r in got])
    seen = X.seen(row)
    contributions = model.weights_[np.ix_(seen, cols)]
    np.testing.assert_allclose(contributions.sum(axis=0), [r.score for r in got], rtol=1e-5)
    assert [r.because_item_id for r in got] == X.item_ids[seen[np.argmax(contributions, axis=0)]].tolist()


def test_k_above_the_number_of_items_keeps_them_all() -> None:
    X = campers()
    np.testing.assert_allclose(
        GFCFRecommender(k=500, alpha=1.0).fit(X).weights_, direct_weights(X, X.n_items, 1.0), atol=1e-5
    )


def test_clone_and_get_params_keep_the_settings() -> None:
    model = GFCFRecommender(k=7, alpha=0.4).fit(campers())
    copy = clone(model)
    assert copy.get_params() == {"k": 7, "alpha": 0.4}
    with pytest.raises(NotFittedError):
        copy.recommend("newbie")


@pytest.mark.parametrize(("params", "message"), [({"k": 0}, "k must be"), ({"alpha": -0.1}, "alpha must be")])
def test_bad_settings_are_refused(params: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        GFCFRecommender(**params).fit(campers())  # type: ignore[arg-type]
