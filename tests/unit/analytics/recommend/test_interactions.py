"""Building the interaction matrix: weighting, recency decay, events, bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analytics.core.errors import InvalidInput, NotFound
from analytics.recommend import Interactions, UnknownItem, UnknownUser

DAY = pd.Timestamp("2011-12-01")


def lines(rows: list[tuple[int, int, int, int]]) -> pd.DataFrame:
    """(customer, product, quantity, days before DAY) per order line."""
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "order_id": range(1, len(rows) + 1),
            "placed_at": [DAY - pd.Timedelta(days=r[3]) for r in rows],
            "product_id": [r[1] for r in rows],
            "category": ["Mugs" if r[1] < 20 else "Bags" for r in rows],
            "quantity": [r[2] for r in rows],
            "amount": [2.5 * r[2] for r in rows],
        }
    )


ROWS = [(1, 10, 4, 0), (1, 10, 2, 30), (1, 21, 1, 0), (2, 21, 3, 0)]


def cell(X: Interactions, user: int, item: int) -> float:
    return float(X.matrix[X.user_row(user), X.item_col(item)])


def test_binary_weighting_marks_what_was_bought() -> None:
    X = Interactions.from_lines(lines(ROWS), weighting="binary")
    assert X.shape == (2, 2)
    assert X.matrix.toarray().tolist() == [[1.0, 1.0], [0.0, 1.0]]


def test_quantity_weighting_adds_up_the_lines_of_a_cell() -> None:
    X = Interactions.from_lines(lines(ROWS), weighting="quantity")
    assert cell(X, 1, 10) == 6.0 and cell(X, 2, 21) == 3.0


def test_log1p_weighting_compresses_big_quantities() -> None:
    X = Interactions.from_lines(lines(ROWS), weighting="log1p")
    assert cell(X, 1, 10) == pytest.approx(math.log1p(6.0))


def test_a_purchase_one_half_life_old_counts_half() -> None:
    X = Interactions.from_lines(lines(ROWS), weighting="quantity", half_life_days=30)
    assert cell(X, 1, 10) == pytest.approx(4 + 2 * 0.5)
    binary = Interactions.from_lines(lines([(1, 10, 1, 30), (1, 21, 1, 60)]), half_life_days=30, reference_date=DAY)
    assert cell(binary, 1, 10) == pytest.approx(0.5) and cell(binary, 1, 21) == pytest.approx(0.25)


def test_a_reference_date_before_the_data_is_refused() -> None:
    with pytest.raises(InvalidInput, match="after the reference date"):
        Interactions.from_lines(lines(ROWS), half_life_days=30, reference_date=DAY - pd.Timedelta(days=5))


def test_events_add_their_own_weights_and_may_bring_new_users_and_items() -> None:
    X = Interactions.from_lines(lines(ROWS))
    events = pd.DataFrame(
        {
            "customer_id": [2, 2, 3, 2],
            "product_id": [10, 10, 10, 99],
            "kind": ["view", "cart_add", "view", "rating"],
            "value": [None, None, None, 4.0],
        }
    )
    Y = X.with_events(events, {"view": 0.1, "cart_add": 0.5, "rating": 0.25})
    assert cell(Y, 2, 10) == pytest.approx(0.6)
    assert cell(Y, 3, 10) == pytest.approx(0.1)
    assert cell(Y, 2, 99) == pytest.approx(1.0)
    assert cell(Y, 1, 10) == cell(X, 1, 10)
    with pytest.raises(InvalidInput, match="no weight for event kind"):
        X.with_events(events, {"view": 0.1})


def test_products_without_sales_become_empty_columns() -> None:
    products = pd.DataFrame(
        {"product_id": [10, 21, 30], "name": ["Mug", "Bag", "New lamp"], "category": ["Mugs", "Bags", "Lights"]}
    )
    X = Interactions.from_lines(lines(ROWS), products=products)
    assert X.item_ids.tolist() == [10, 21, 30]
    assert X.matrix[:, X.item_col(30)].nnz == 0
    assert X.item_name(X.item_col(30)) == "New lamp"


def test_from_lines_keeps_category_and_price_for_filters() -> None:
    X = Interactions.from_lines(lines(ROWS))
    assert X.items is not None
    assert X.items["category"].tolist() == ["Mugs", "Bags"]
    assert X.items["unit_price"].tolist() == [2.5, 2.5]


def test_any_user_item_table_works() -> None:
    frame = pd.DataFrame({"who": ["x", "y", "y"], "what": ["p", "p", "q"], "stars": [5.0, 3.0, 1.0]})
    X = Interactions.from_frame(frame, user="who", item="what", weight="stars", weighting="quantity")
    assert X.matrix.toarray().tolist() == [[5.0, 0.0], [3.0, 1.0]]


def test_unknown_ids_raise_not_found_errors() -> None:
    X = Interactions.from_lines(lines(ROWS))
    with pytest.raises(UnknownUser):
        X.user_row(42)
    with pytest.raises(UnknownItem) as caught:
        X.item_col(42)
    assert isinstance(caught.value, NotFound)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"user_id": [], "item_id": []}), "empty"),
        (pd.DataFrame({"user_id": [1, 2], "item_id": ["a", "a"]}), "single item"),
        (pd.DataFrame({"user_id": [1, 2], "item_id": ["a", "b"], "w": [1.0, np.nan]}), "missing or non-numeric"),
        (pd.DataFrame({"user_id": [1, 2], "item_id": ["a", "b"], "w": [1.0, -2.0]}), "negative weight"),
        (pd.DataFrame({"user_id": [1, 2], "item_id": ["a", "b"], "w": [0.0, 0.0]}), "no \\(user, item\\) pair"),
        (pd.DataFrame({"user_id": [1, None], "item_id": ["a", "b"], "w": [1.0, 1.0]}), "no user or item id"),
        (pd.DataFrame({"user": [1], "item_id": ["a"]}), "lacks column"),
    ],
)
def test_bad_input_says_what_to_fix(frame: pd.DataFrame, message: str) -> None:
    weight = "w" if "w" in frame.columns else None
    with pytest.raises(InvalidInput, match=message):
        Interactions.from_frame(frame, weight=weight, weighting="quantity")


def test_bad_weighting_and_half_life_are_refused() -> None:
    frame = pd.DataFrame({"user_id": [1, 2], "item_id": ["a", "b"]})
    with pytest.raises(InvalidInput, match="weighting must be one of"):
        Interactions.from_frame(frame, weighting="squared")
    with pytest.raises(InvalidInput, match="half_life_days must be"):
        Interactions.from_frame(frame, half_life_days=-3)
    with pytest.raises(InvalidInput, match="needs a timestamp"):
        Interactions.from_frame(frame, half_life_days=10)
