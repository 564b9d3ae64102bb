"""The content recommender's weighted-attribute similarity: text, category, price band, colour/material."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from sklearn.base import clone

from analytics.core.errors import InvalidInput
from analytics.recommend import ContentRecommender, EASERecommender, HybridRecommender, Interactions
from analytics.recommend.content import DEFAULT_WEIGHTS

RED_HOLDER, BLUE_HOLDER, RED_VASE = 1, 2, 3


def lamps_and_vases() -> Interactions:
    """A red glass candle holder; a blue one (the same words but the colour); a red glass vase."""
    products = pd.DataFrame(
        {
            "product_id": [RED_HOLDER, BLUE_HOLDER, RED_VASE],
            "name": ["Red candle holder", "Blue candle holder", "Red vase"],
            "description": ["red glass candle holder", "blue glass candle holder", "red glass vase"],
            "category": ["Home"] * 3,
            "unit_price": [3.0, 3.0, 3.0],
        }
    )
    return Interactions.from_frame(pd.DataFrame({"user_id": ["u"], "item_id": [RED_HOLDER]}), products=products)


def nearest(weights: dict[str, float]) -> Any:
    return ContentRecommender(weights=weights).fit(lamps_and_vases()).similar_items(RED_HOLDER, n=1)[0].item_id


def test_the_words_alone_find_the_holder_of_another_colour() -> None:
    assert nearest({"text": 1.0}) == BLUE_HOLDER


def test_raising_the_colour_weight_makes_the_same_colour_product_the_nearest() -> None:
    assert nearest({"text": 1.0, "colour": 0.2}) == BLUE_HOLDER
    assert nearest({"text": 1.0, "colour": 2.0}) == RED_VASE


def test_weights_are_normalised_and_missing_attributes_weigh_nothing() -> None:
    model = ContentRecommender(weights={"text": 3, "colour": 1}).fit(lamps_and_vases())
    assert model.weights_ == {"text": 0.75, "category": 0.0, "price": 0.0, "colour": 0.25}


def test_the_default_weights_are_the_ones_chosen_on_validation() -> None:
    assert ContentRecommender().fit(lamps_and_vases()).weights_ == dict(DEFAULT_WEIGHTS)


def test_get_params_and_clone_keep_the_weights() -> None:
    model = ContentRecommender(weights={"text": 0.5, "colour": 0.5}, n_price_bands=3)
    assert model.get_params() == {"weights": {"text": 0.5, "colour": 0.5}, "n_price_bands": 3}
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model
    assert model.set_params(weights={"price": 1.0}).weights == {"price": 1.0}


def test_the_hybrid_fits_its_content_component_with_the_given_weights() -> None:
    hybrid = HybridRecommender([("ease", EASERecommender(l2=1.0)), ("content", ContentRecommender({"colour": 1.0}))])
    hybrid.fit(lamps_and_vases())
    assert hybrid.models_["content"].weights_["colour"] == 1.0


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"text": 1.0, "colour": -0.5}, r"weight of 'colour' must be a number >= 0, not -0.5"),
        ({"text": 1.0, "size": 0.5}, r"unknown attribute\(s\) in weights: size; the attributes are text, category"),
        ({"text": 0.0, "category": 0}, "at least one weight must be positive"),
        ({}, "at least one weight must be positive"),
        ({"text": "high"}, r"weight of 'text' must be a number >= 0, not 'high'"),
        ([0.5, 0.5], "weights must be a dict of attribute -> weight"),
    ],
)
def test_bad_weights_get_a_clear_error(weights: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        ContentRecommender(weights=weights).fit(lamps_and_vases())
