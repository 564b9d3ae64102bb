"""The hybrid: cold start for new customers and new products, and weight tuning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.recommend import (
    ContentRecommender,
    EASERecommender,
    HybridRecommender,
    Interactions,
    ItemKNNRecommender,
    PopularityRecommender,
    PriceRange,
    UnknownUser,
    tune_weights,
)
from analytics.recommend.evaluation import stratified_split
from tests.unit.analytics.recommend.data import GROUP_A_ITEMS, GROUP_B_ITEMS, checkerboard_pairs, products, segments

NEW_CANDLE = 150


def catalogue_with_a_new_candle() -> pd.DataFrame:
    new = pd.DataFrame(
        {
            "product_id": [NEW_CANDLE],
            "name": ["Red candle deluxe"],
            "description": ["scented red wax candle in a gift box"],
            "category": ["Candles"],
            "unit_price": [2.6],
        }
    )
    return pd.concat([products(), new], ignore_index=True)


def make_hybrid(**params: object) -> HybridRecommender:
    return HybridRecommender(
        [("ease", EASERecommender(l2=5.0)), ("knn", ItemKNNRecommender(k=5)), ("content", ContentRecommender())],
        weights=[0.5, 0.3, 0.2],
        segments=segments(),
        **params,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def hybrid() -> HybridRecommender:
    X = Interactions.from_frame(checkerboard_pairs(), products=catalogue_with_a_new_candle())
    model = make_hybrid(cold_item_weight=1.0)
    model.fit(X)
    model.popularity_ = PopularityRecommender(segments=segments(), min_segment_size=1).fit(X)
    return model


def test_a_new_customer_is_an_unknown_user_for_recommend(hybrid: HybridRecommender) -> None:
    with pytest.raises(UnknownUser, match="recommend_for_context"):
        hybrid.recommend("newcomer")


def test_a_new_customer_who_mentions_a_mug_gets_mugs_with_the_reason(hybrid: HybridRecommender) -> None:
    result = hybrid.recommend_for_context([203], n=4)
    assert len(result) == 4 and 203 not in result.item_ids
    assert set(result.item_ids) <= set(GROUP_B_ITEMS)
    assert all(r.reason == "similar to Blue mug 3" and r.because_item_id == 203 for r in result)


def test_free_text_is_matched_against_the_product_text(hybrid: HybridRecommender) -> None:
    result = hybrid.recommend_for_context(text="a blue coffee mug", n=3)
    assert set(result.item_ids) <= set(GROUP_B_ITEMS)
    assert result[0].reason == "matches “a blue coffee mug”"


def test_with_nothing_to_go_on_the_segment_favourites_come_first(hybrid: HybridRecommender) -> None:
    result = hybrid.recommend_for_context(segment="Mug people", n=3)
    assert set(result.item_ids) <= set(GROUP_B_ITEMS)
    assert result[0].reason == "customers in your segment (Mug people) love it"
    assert hybrid.recommend_for_context(n=3)[0].reason in {"one of our best sellers", "popular with other customers"}


def test_context_results_respect_filters(hybrid: HybridRecommender) -> None:
    result = hybrid.recommend_for_context([203], n=5, filters=[PriceRange(max_price=1.0)])
    assert result == [] and result.empty_reason == "no item priced under £1.00 that you do not have yet"


def test_a_new_product_is_reachable_through_content(hybrid: HybridRecommender) -> None:
    X = hybrid.interactions_
    assert X.matrix[:, X.item_col(NEW_CANDLE)].nnz == 0
    similar = hybrid.similar_items(NEW_CANDLE, n=3)
    assert set(similar.item_ids) <= set(GROUP_A_ITEMS)
    from_old = hybrid.similar_items(GROUP_A_ITEMS[0], n=12)
    assert NEW_CANDLE in from_old.item_ids
    assert {r.reason for r in from_old if r.item_id == NEW_CANDLE} == {"similar to Red candle 0"}
    assert {r.reason for r in from_old if r.item_id != NEW_CANDLE} == {
        "customers who bought Red candle 0 also bought this"
    }
    recs = hybrid.recommend("a0", n=4)
    assert NEW_CANDLE in recs.item_ids
    new = next(r for r in recs if r.item_id == NEW_CANDLE)
    assert new.reason.startswith("similar to Red candle")


def test_without_content_text_is_refused_but_mentions_still_work() -> None:
    X = Interactions.from_frame(checkerboard_pairs())
    model = HybridRecommender([("knn", ItemKNNRecommender(k=5))]).fit(X)
    with pytest.raises(InvalidInput, match="ContentRecommender"):
        model.recommend_for_context(text="candle")
    result = model.recommend_for_context([100], n=3)
    assert set(result.item_ids) <= set(GROUP_A_ITEMS)
    assert result[0].reason == "goes with item 100"


def test_context_needs_fit() -> None:
    with pytest.raises(NotFittedError):
        make_hybrid().recommend_for_context([100])


def test_bad_hybrid_parameters_are_refused() -> None:
    X = Interactions.from_frame(checkerboard_pairs())
    with pytest.raises(InvalidInput, match="weights"):
        HybridRecommender([("knn", ItemKNNRecommender())], weights=[1.0, 2.0]).fit(X)
    with pytest.raises(InvalidInput, match="fusion"):
        HybridRecommender([("knn", ItemKNNRecommender())], fusion="vote").fit(X)
    with pytest.raises(InvalidInput, match="distinct"):
        HybridRecommender([("a", ItemKNNRecommender()), ("a", EASERecommender())]).fit(X)


def test_tuning_puts_the_weight_on_the_model_that_works() -> None:
    pairs = checkerboard_pairs()
    train, validation = stratified_split(pairs, 0.8, by="user_id", seed=1)
    X = Interactions.from_frame(train)
    rng = np.random.default_rng(0)
    noise = pd.DataFrame({"user_id": pairs["user_id"], "item_id": rng.permutation(pairs["item_id"].to_numpy())})
    good = EASERecommender(l2=5.0).fit(X)
    # popularity over the whole population cannot tell the groups apart
    bad = PopularityRecommender().fit(X)
    weights, fusion, table = tune_weights({"good": good, "bad": bad}, validation, k=3, step=0.5)
    assert weights[0] >= 0.5 and fusion in {"zscore", "max", "rank"}
    assert table["ndcg"].iloc[0] == table["ndcg"].max()
    assert len(noise) == len(pairs)


def test_from_fitted_blends_prefitted_components() -> None:
    X = Interactions.from_frame(checkerboard_pairs())
    models = {"ease": EASERecommender(l2=5.0).fit(X), "knn": ItemKNNRecommender(k=5).fit(X)}
    hybrid = HybridRecommender.from_fitted(models, weights=[0.7, 0.3])
    assert set(hybrid.recommend("b2", n=3).item_ids) <= set(GROUP_B_ITEMS)
    other = EASERecommender().fit(Interactions.from_frame(checkerboard_pairs()))
    with pytest.raises(InvalidInput, match="same Interactions"):
        HybridRecommender.from_fitted({"ease": models["ease"], "other": other})


def test_normalisation_ignores_what_the_user_already_has() -> None:
    from analytics.recommend.hybrid import normalise

    scores = np.array([[10.0, 1.0, 2.0, 3.0]])
    seen = np.array([[True, False, False, False]])
    z = normalise(scores, "zscore", seen)
    assert z[0, 1:].mean() == pytest.approx(0.0) and z[0, 1:].std() == pytest.approx(1.0)
    assert normalise(scores, "max", seen)[0, 3] == pytest.approx(1.0)
    ranks = normalise(scores, "rank", seen)[0]
    assert ranks[3] > ranks[2] > ranks[1] > ranks[0]


def test_the_serving_product_equals_the_batch_product() -> None:
    import scipy.sparse as sp

    from analytics.recommend.base import sparse_rows_times_dense

    rng = np.random.default_rng(0)
    rows = sp.random(6, 30, density=0.2, random_state=1, format="csr", dtype=np.float32)
    dense = rng.random((30, 8)).astype(np.float32)
    expected = (rows @ dense).astype("float64")
    assert np.allclose(sparse_rows_times_dense(rows[:2], dense), expected[:2], rtol=1e-5)
    assert np.allclose(sparse_rows_times_dense(rows, dense), expected, rtol=1e-5)
