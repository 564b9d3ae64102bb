"""Every recommender against the shared contract (three lines each)."""

from __future__ import annotations

from analytics.recommend import (
    ALSRecommender,
    BPRRecommender,
    ContentRecommender,
    EASERecommender,
    HybridRecommender,
    ImplicitItemKNN,
    ItemKNNRecommender,
    PopularityRecommender,
    Recommender,
    UserKNNRecommender,
)
from tests.unit.analytics.recommend.data import segments
from tests.unit.analytics.recommend.recommender_contract import RecommenderContract


class TestSegmentPopularity(RecommenderContract):
    def make(self) -> Recommender:
        return PopularityRecommender(segments=segments(), min_segment_size=1)


class TestItemKNN(RecommenderContract):
    def make(self) -> Recommender:
        return ItemKNNRecommender(k=5, shrinkage=1.0)


class TestUserKNNCosine(RecommenderContract):
    def make(self) -> Recommender:
        return UserKNNRecommender(k=5)


class TestUserKNNPearson(RecommenderContract):
    def make(self) -> Recommender:
        return UserKNNRecommender(k=5, similarity="pearson")


class TestEASE(RecommenderContract):
    def make(self) -> Recommender:
        return EASERecommender(l2=5.0)


class TestALS(RecommenderContract):
    def make(self) -> Recommender:
        return ALSRecommender(factors=4, regularization=0.1, iterations=20, num_threads=1)


class TestBPR(RecommenderContract):
    def make(self) -> Recommender:
        return BPRRecommender(factors=8, learning_rate=0.05, iterations=300, num_threads=1)


class TestBM25(RecommenderContract):
    def make(self) -> Recommender:
        return ImplicitItemKNN("bm25", K=10, num_threads=1)


class TestTFIDF(RecommenderContract):
    def make(self) -> Recommender:
        return ImplicitItemKNN("tfidf", K=10, num_threads=1)


class TestContent(RecommenderContract):
    def make(self) -> Recommender:
        return ContentRecommender()


class TestHybrid(RecommenderContract):
    def make(self) -> Recommender:
        return HybridRecommender(
            [("ease", EASERecommender(l2=5.0)), ("knn", ItemKNNRecommender(k=5)), ("content", ContentRecommender())],
            weights=[0.5, 0.3, 0.2],
        )
