"""Recommendation services on a real (sample) store, through published artifacts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from analytics.core.errors import CustomerNotFound, NotFound
from analytics.customers.refresh import refresh_scores
from analytics.ingest.online_retail import import_online_retail
from analytics.recommend.serving import RECOMMENDER, refresh_models
from analytics.store.artifacts import ArtifactNotFound, ArtifactStore
from analytics.store.db import make_engine, make_session_factory
from analytics.store.migrate import upgrade
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases.recommendations import bought_together, recommend_for, similar_to
from tests.conftest import SAMPLE

NOW = datetime(2026, 11, 24, 12, 0)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SqlAlchemyUnitOfWork, ArtifactStore]]:
    root = tmp_path_factory.mktemp("reco")
    engine = make_engine(f"sqlite:///{root / 'store.sqlite3'}")
    upgrade(engine)
    uow = SqlAlchemyUnitOfWork(make_session_factory(engine))
    import_online_retail(uow, SAMPLE, shift_to_now=True, now=NOW)
    refresh_scores(uow)
    artifacts = ArtifactStore(root / "artifacts")
    refresh_models(uow, artifacts)
    yield uow, artifacts
    engine.dispose()


def customer(uow: SqlAlchemyUnitOfWork, ref: str) -> int:
    with uow:
        found = uow.customers.by_external_ref(ref)
        assert found is not None
        return found.id


def test_a_known_customer_gets_explained_products_they_have_not_bought(shop) -> None:  # type: ignore[no-untyped-def]
    uow, artifacts = shop
    cid = customer(uow, "17850")
    result = recommend_for(uow, cid, n=5, artifacts=artifacts)
    assert len(result.items) == 5
    assert all(item.reason for item in result.items)
    with uow:
        bought = {line.product.sku for order in uow.orders.recent_for_customer(cid, limit=1000) for line in order.lines}
    assert not {item.sku for item in result.items} & bought
    categories = [item.category for item in result.items]
    assert max(categories.count(c) for c in categories) <= 2  # diversity: two per category at most


def test_a_price_limit_is_respected_or_the_empty_list_says_why(shop) -> None:  # type: ignore[no-untyped-def]
    uow, artifacts = shop
    cid = customer(uow, "12347")
    cheap = recommend_for(uow, cid, n=5, max_price=2.0, artifacts=artifacts)
    assert cheap.items and all(item.price < 2.0 for item in cheap.items)
    impossible = recommend_for(uow, cid, n=5, max_price=0.01, artifacts=artifacts)
    assert impossible.items == [] and impossible.note


def test_an_anonymous_visitor_gets_popular_and_similar_products(shop) -> None:  # type: ignore[no-untyped-def]
    uow, artifacts = shop
    result = recommend_for(uow, None, n=5, mentioned_skus=["20725"], artifacts=artifacts)  # LUNCH BAG RED RETROSPOT
    assert len(result.items) == 5 and all(item.reason for item in result.items)


def test_similar_products_and_bought_together(shop) -> None:  # type: ignore[no-untyped-def]
    _, artifacts = shop
    like = similar_to("20725", n=5, artifacts=artifacts)
    assert len(like.items) == 5 and "20725" not in {i.sku for i in like.items}
    together = bought_together(["20725"], n=5, artifacts=artifacts)
    assert together.items or together.note
    for item in together.items:
        assert item.sku != "20725" and "bought together" in item.reason


def test_unknown_customers_and_products_are_domain_errors(shop) -> None:  # type: ignore[no-untyped-def]
    uow, artifacts = shop
    with pytest.raises(CustomerNotFound):
        recommend_for(uow, 10_000_000, artifacts=artifacts)
    with pytest.raises(NotFound, match="No product"):
        similar_to("NOPE", artifacts=artifacts)


def test_serving_before_any_refresh_names_the_command(tmp_path: Path, shop) -> None:  # type: ignore[no-untyped-def]
    uow, _ = shop
    with pytest.raises(ArtifactNotFound, match="crm recommend refresh"):
        recommend_for(uow, None, artifacts=ArtifactStore(tmp_path / "empty"))


def test_a_refresh_publishes_a_new_version_that_serving_picks_up(shop) -> None:  # type: ignore[no-untyped-def]
    uow, artifacts = shop
    before = artifacts.current(RECOMMENDER)
    refresh_models(uow, artifacts)
    assert artifacts.current(RECOMMENDER) != before
    assert recommend_for(uow, None, n=3, artifacts=artifacts).items
