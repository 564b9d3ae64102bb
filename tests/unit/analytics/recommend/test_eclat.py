"""Eclat: frequent itemsets by intersecting the baskets of each item (tid-sets)."""

from __future__ import annotations

import pytest
from scipy import sparse

from analytics.recommend.eclat import eclat

# rows are baskets, columns items 0..3: 0 and 1 always together, 2 with 0 twice, 3 alone once
BASKETS = sparse.csr_matrix(
    [
        [1, 1, 1, 0],
        [1, 1, 0, 0],
        [1, 1, 1, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 1],
    ]
)


def found(min_count: int, max_len: int | None = None) -> dict[frozenset, int]:
    counts, itemsets = eclat(BASKETS, min_count, max_len)
    assert len(itemsets) == len(set(itemsets)), "an itemset was reported twice"
    return dict(zip(itemsets, counts))


def test_every_itemset_in_enough_baskets_is_found_with_its_basket_count() -> None:
    assert found(2) == {
        frozenset({0}): 3,
        frozenset({1}): 3,
        frozenset({2}): 3,
        frozenset({0, 1}): 3,
        frozenset({0, 2}): 2,
        frozenset({1, 2}): 2,
        frozenset({0, 1, 2}): 2,
    }


def test_min_count_one_finds_every_itemset_that_occurs() -> None:
    assert frozenset({3}) in found(1)
    assert found(4) == {}


def test_max_len_bounds_the_itemsets() -> None:
    assert max(len(s) for s in found(2, max_len=2)) == 2
    assert frozenset({0, 1, 2}) not in found(2, max_len=2)


def test_baskets_beyond_one_byte_are_counted() -> None:
    many = sparse.csr_matrix([[1, 1]] * 9 + [[1, 0]] * 11)  # 20 baskets: the tid-set spans three bytes
    counts, itemsets = eclat(many, 9)
    assert dict(zip(itemsets, counts)) == {frozenset({0}): 20, frozenset({1}): 9, frozenset({0, 1}): 9}


@pytest.mark.parametrize("min_count", [0, -1, 1.5, True])
def test_a_min_count_that_is_not_a_whole_positive_number_is_refused(min_count: object) -> None:
    with pytest.raises(ValueError, match="min_count must be a whole number of baskets >= 1"):
        eclat(BASKETS, min_count)  # type: ignore[arg-type]
