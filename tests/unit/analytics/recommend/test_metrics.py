"""Ranking metrics against hand-computed values (microsoft/recommenders definitions)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analytics.core.errors import InvalidInput
from analytics.recommend.metrics import (
    catalog_coverage,
    map_at_k,
    ndcg_at_k,
    ndcg_from_top,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
)

# user 1: relevant a, b, c; recommended a, x, b  -> hits at ranks 1 and 3
# user 2: relevant d;       recommended y, z, w  -> no hit
# user 3: only in the truth -> not counted (the recommender never saw them)
TRUTH = pd.DataFrame({"user_id": [1, 1, 1, 2, 3], "item_id": ["a", "b", "c", "d", "e"]})
RECS = pd.DataFrame(
    {"user_id": [1, 1, 1, 2, 2, 2], "item_id": ["a", "x", "b", "y", "z", "w"], "rank": [1, 2, 3, 1, 2, 3]}
)


def test_precision_counts_hits_over_k_and_users_without_hits() -> None:
    assert precision_at_k(TRUTH, RECS, k=3) == pytest.approx((2 / 3 + 0) / 2)


def test_recall_divides_by_all_relevant_items() -> None:
    assert recall_at_k(TRUTH, RECS, k=3) == pytest.approx((2 / 3 + 0) / 2)


def test_ndcg_with_binary_relevance() -> None:
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    ideal = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(TRUTH, RECS, k=3) == pytest.approx((dcg / ideal + 0) / 2)


def test_map_averages_precision_at_each_hit_over_all_relevant() -> None:
    assert map_at_k(TRUTH, RECS, k=3) == pytest.approx(((1 / 1 + 2 / 3) / 3 + 0) / 2)


def test_k_cuts_the_list() -> None:
    assert precision_at_k(TRUTH, RECS, k=1) == pytest.approx(0.5)
    assert ndcg_at_k(TRUTH, RECS, k=1) == pytest.approx(0.5)


def test_a_perfect_list_scores_one() -> None:
    truth = pd.DataFrame({"user_id": [1, 1], "item_id": ["a", "b"]})
    recs = pd.DataFrame({"user_id": [1, 1], "item_id": ["b", "a"], "score": [0.9, 0.8]})
    metrics = ranking_metrics(truth, recs, k=2, n_items=4)
    assert metrics == {"precision@2": 1.0, "recall@2": 1.0, "ndcg@2": 1.0, "map@2": 1.0, "coverage": 0.5}


def test_scores_rank_when_there_is_no_rank_column() -> None:
    recs = RECS.drop(columns="rank").assign(score=[3.0, 2.0, 1.0, 3.0, 2.0, 1.0])
    assert ndcg_at_k(TRUTH, recs, k=3) == pytest.approx(ndcg_at_k(TRUTH, RECS, k=3))


def test_the_fast_ndcg_agrees_with_the_frame_version() -> None:
    hits = np.array([[True, False, True], [False, False, False]])
    assert ndcg_from_top(hits, np.array([3, 1]), 3) == pytest.approx(ndcg_at_k(TRUTH, RECS, k=3))


def test_coverage_and_bad_k() -> None:
    assert catalog_coverage(RECS, 12) == pytest.approx(6 / 12)
    with pytest.raises(InvalidInput, match="k must be"):
        precision_at_k(TRUTH, RECS, k=0)
