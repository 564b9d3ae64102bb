"""Every reason is true for its item: it names what really drove the score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.recommend import (
    ALSRecommender,
    ContentRecommender,
    EASERecommender,
    ImplicitItemKNN,
    Interactions,
    ItemKNNRecommender,
    PopularityRecommender,
    Recommender,
    RepeatPurchaseRecommender,
    UserKNNRecommender,
)
from tests.unit.analytics.recommend.data import checkerboard, segments

# Customer "me" bought a teapot and a scarf. Teapot buyers also buy cups;
# scarf buyers also buy gloves, and more of them do so for the cups.
PRODUCTS = pd.DataFrame(
    {
        "product_id": [1, 2, 3, 4, 5],
        "name": ["Teapot", "Scarf", "Cup", "Gloves", "Doormat"],
        "description": ["china teapot", "wool scarf", "china cup", "wool gloves", "coir doormat"],
        "category": ["Kitchen", "Fashion", "Kitchen", "Fashion", "Home"],
        "unit_price": [12.0, 9.0, 3.0, 8.0, 6.0],
    }
)


def pairs() -> pd.DataFrame:
    rows = [("me", 1), ("me", 2)]
    rows += [(f"t{i}", 1) for i in range(6)] + [(f"t{i}", 3) for i in range(6)]
    rows += [(f"s{i}", 2) for i in range(3)] + [(f"s{i}", 4) for i in range(3)]
    rows += [("d0", 5), ("d1", 5), ("t0", 5)]
    return pd.DataFrame(rows, columns=["user_id", "item_id"])


@pytest.fixture(scope="module")
def X() -> Interactions:
    return Interactions.from_frame(pairs(), products=PRODUCTS)


def reasons(model: Recommender, user: str = "me", n: int = 2) -> dict[int, tuple[str, object]]:
    return {r.item_id: (r.reason, r.because_item_id) for r in model.recommend(user, n=n)}


@pytest.mark.parametrize(
    "model",
    [ItemKNNRecommender(k=10), EASERecommender(l2=1.0), ImplicitItemKNN("bm25", K=10, num_threads=1)],
    ids=["item-kNN", "EASE", "BM25"],
)
def test_item_models_name_the_bought_item_that_contributed_most(model: Recommender, X: Interactions) -> None:
    got = reasons(model.fit(X))
    assert got[3] == ("because you bought Teapot", 1)
    assert got[4] == ("because you bought Scarf", 2)


def test_the_item_knn_reason_is_the_argmax_of_the_contributions(X: Interactions) -> None:
    model = ItemKNNRecommender(k=10).fit(X)
    S = model.similarity_.toarray()
    seen = X.seen(X.user_row("me"))
    for rec in model.recommend("me", n=3):
        col = X.item_col(rec.item_id)
        if rec.because_item_id is not None:
            assert X.item_col(rec.because_item_id) == seen[np.argmax(S[seen, col])]


def test_als_splits_its_score_over_the_bought_items() -> None:
    X = checkerboard()
    model = ALSRecommender(factors=4, regularization=0.1, iterations=20, num_threads=1).fit(X)
    for rec in model.recommend("a0", n=3):
        assert rec.reason.startswith("because you bought Red candle")
        assert rec.because_item_id in X.item_ids[X.seen(X.user_row("a0"))].tolist()


def test_user_knn_says_customers_like_you(X: Interactions) -> None:
    got = reasons(UserKNNRecommender(k=5).fit(X))
    assert {reason for reason, _ in got.values()} == {"popular with customers like you"}


def test_segment_popularity_says_your_segment_loves_it() -> None:
    model = PopularityRecommender(segments=segments(), min_segment_size=1).fit(checkerboard())
    assert model.recommend("a0", n=1)[0].reason == "customers in your segment (Candle lovers) love it"
    assert PopularityRecommender().fit(checkerboard()).recommend("a0", n=1)[0].reason == "one of our best sellers"


def test_content_names_the_similar_item_you_bought(X: Interactions) -> None:
    got = reasons(ContentRecommender().fit(X), n=3)
    assert got[3] == ("similar to Teapot", 1)
    assert got[4] == ("similar to Scarf", 2)


def test_buy_again_says_you_bought_it_before(X: Interactions) -> None:
    recs = RepeatPurchaseRecommender().fit(X).recommend("me", n=3, exclude_seen=False)
    assert [(r.reason, r.because_item_id) for r in recs[:2]] == [
        ("you bought it before", 1),
        ("you bought it before", 2),
    ]


def test_an_item_with_no_personal_signal_does_not_claim_one(X: Interactions) -> None:
    # the doormat shares no buyer with the teapot or the scarf but t0
    model = ItemKNNRecommender(k=1).fit(X)
    doormat = next(r for r in model.recommend("me", n=3) if r.item_id == 5)
    assert doormat.reason == "popular with other customers" and doormat.because_item_id is None


def test_similar_items_give_the_anchor_as_reason(X: Interactions) -> None:
    similar = ItemKNNRecommender(k=10).fit(X).similar_items(1, n=1)
    assert similar[0].item_id == 3
    assert similar[0].reason == "customers who bought Teapot also bought this"
