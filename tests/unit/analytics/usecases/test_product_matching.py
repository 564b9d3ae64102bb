"""Reorder questions name products the way the catalogue search understands them."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.core.errors import InvalidInput
from analytics.usecases.forecasts import _match_products

BOUGHT = pd.DataFrame(
    {
        "product_id": [1, 2, 3],
        "sku": ["84945", "20725", "85099F"],
        "name": ["Set Of 12 T-Light Holders", "Lunch Bag Red Retrospot", "Jumbo Bag Strawberry"],
    }
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [("tea lights", [1]), ("tealight holders", [1]), ("lunch bags", [2]), ("the jumbo bag", [3]), ("20725", [2])],
)
def test_a_product_is_found_by_code_or_by_the_words_customers_use(query: str, expected: list[int]) -> None:
    assert _match_products(BOUGHT, query) == expected


def test_a_question_that_names_no_product_is_refused_with_advice() -> None:
    with pytest.raises(InvalidInput, match="code"):
        _match_products(BOUGHT, "the")
