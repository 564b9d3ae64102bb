"""Price, category and diversity constraints, usable with any recommender."""

from __future__ import annotations

import pytest

from analytics.core.errors import InvalidInput
from analytics.recommend import (
    CategoryMMR,
    ExcludeItems,
    InCategories,
    Interactions,
    ItemKNNRecommender,
    MaxPerCategory,
    PopularityRecommender,
    PriceRange,
    Recommender,
)
from tests.unit.analytics.recommend.data import GROUP_A_ITEMS, GROUP_B_ITEMS, checkerboard, checkerboard_pairs, products


@pytest.fixture(scope="module")
def popularity() -> Recommender:
    return PopularityRecommender().fit(checkerboard())


def test_price_range_keeps_items_under_the_limit(popularity: Recommender) -> None:
    result = popularity.recommend("a0", n=20, exclude_seen=False, filters=[PriceRange(max_price=2.5)])
    assert set(result.item_ids) == {100, 101, 102, 103, 104}  # 2.0 .. 2.4


def test_price_range_with_both_bounds(popularity: Recommender) -> None:
    result = popularity.recommend("a0", n=20, exclude_seen=False, filters=[PriceRange(9.0, 10.0)])
    assert set(result.item_ids) == {202, 203}


def test_category_filter_is_case_insensitive(popularity: Recommender) -> None:
    result = popularity.recommend("a0", n=20, exclude_seen=False, filters=[InCategories("mugs")])
    assert set(result.item_ids) == set(GROUP_B_ITEMS)


def test_excluded_items_never_come_back(popularity: Recommender) -> None:
    result = popularity.recommend("a0", n=20, exclude_seen=False, filters=[ExcludeItems([100, 200, 12345])])
    assert len(result) == 18 and not {100, 200} & set(result.item_ids)


def test_at_most_k_per_category() -> None:
    model = ItemKNNRecommender(k=20).fit(checkerboard())
    result = model.recommend("a0", n=6, filters=[MaxPerCategory(2)])
    categories = ["Candles" if i in GROUP_A_ITEMS else "Mugs" for i in result.item_ids]
    assert len(result) == 4 and categories.count("Candles") == 2 and categories.count("Mugs") == 2


def test_mmr_spreads_the_list_across_categories() -> None:
    model = ItemKNNRecommender(k=20).fit(checkerboard())
    plain = model.recommend("a0", n=4)
    diverse = model.recommend("a0", n=4, filters=[CategoryMMR(lam=0.3)])
    assert {i // 100 for i in plain.item_ids[:3]} == {1}  # the three unseen candles first
    assert {i // 100 for i in diverse.item_ids[:2]} == {1, 2}
    assert diverse.item_ids[0] == plain.item_ids[0]
    assert model.recommend("a0", n=4, filters=[CategoryMMR(lam=1.0)]).item_ids == plain.item_ids


def test_filters_combine_and_an_impossible_one_explains_itself(popularity: Recommender) -> None:
    result = popularity.recommend("a3", n=5, filters=[InCategories("Candles"), PriceRange(max_price=2.1)])
    # the only candle under £2.10 is item 100, which a3 already bought
    assert result == []
    assert result.empty_reason == "no item priced under £2.10 that you do not have yet"


def test_excluding_everything_says_so(popularity: Recommender) -> None:
    result = popularity.recommend("a0", n=5, candidates=[103, 104])  # a0 bought both
    assert result == [] and result.empty_reason == "every item among the candidates is one you already have"
    assert (
        popularity.recommend("a0", candidates=[999]).empty_reason == "none of the candidate items is in the catalogue"
    )


def test_a_filter_needs_the_attribute_it_filters_on() -> None:
    model = PopularityRecommender().fit(Interactions.from_frame(checkerboard_pairs()))
    with pytest.raises(InvalidInput, match="needs the items' unit_price"):
        model.recommend("a0", filters=[PriceRange(max_price=20)])


def test_bad_constraints_are_refused(popularity: Recommender) -> None:
    with pytest.raises(InvalidInput):
        PriceRange()
    with pytest.raises(InvalidInput):
        PriceRange(10, 5)
    with pytest.raises(InvalidInput):
        MaxPerCategory(0)
    with pytest.raises(InvalidInput, match="ItemFilter or Reranker"):
        popularity.recommend("a0", filters=["cheap"])  # type: ignore[list-item]


def test_products_fixture_prices_are_what_the_tests_assume() -> None:
    prices = products().set_index("product_id")["unit_price"]
    assert prices[104] == pytest.approx(2.4) and prices[202] == pytest.approx(9.0)
