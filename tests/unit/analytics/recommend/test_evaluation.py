"""Splits and the tuning loop of the evaluation harness."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.core.errors import InvalidInput
from analytics.recommend import Interactions, ItemKNNRecommender
from analytics.recommend.evaluation import evaluate, expand_grid, grid_search, stratified_split, temporal_split
from tests.unit.analytics.recommend.data import checkerboard_pairs


def test_stratified_split_keeps_the_ratio_per_group_and_loses_nothing() -> None:
    pairs = checkerboard_pairs()
    for by in ("user_id", "item_id"):
        train, test = stratified_split(pairs, 0.75, by=by, seed=42)
        assert len(train) + len(test) == len(pairs)
        assert not set(train.index) & set(test.index)
        per_group = train.groupby(by).size() / pairs.groupby(by).size()
        assert per_group.between(0.6, 0.9).all()


def test_stratified_split_is_reproducible_and_seeded() -> None:
    pairs = checkerboard_pairs()
    first, _ = stratified_split(pairs, seed=42)
    again, _ = stratified_split(pairs, seed=42)
    other, _ = stratified_split(pairs, seed=7)
    assert first.equals(again) and not first.equals(other)
    with pytest.raises(InvalidInput):
        stratified_split(pairs, 1.0)


def test_temporal_split_cuts_at_the_date() -> None:
    frame = pd.DataFrame({"placed_at": pd.to_datetime(["2011-08-31", "2011-09-01", "2011-10-01"])})
    before, after = temporal_split(frame, "2011-09-01")
    assert len(before) == 1 and len(after) == 2


def test_grid_search_and_evaluate_on_the_checkerboard() -> None:
    train, validation = stratified_split(checkerboard_pairs(), 0.8, seed=3)
    X = Interactions.from_frame(train)
    best, table = grid_search(ItemKNNRecommender, expand_grid(k=[1, 10]), X, validation, k=3)
    assert best["k"] in (1, 10) and len(table) == 2
    scores = evaluate(ItemKNNRecommender(k=10).fit(X), validation, k=3)
    assert scores["recall@3"] >= 0.5 and 0 < scores["coverage"] <= 1
