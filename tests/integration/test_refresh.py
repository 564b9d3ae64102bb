"""The analytics refresh on a real store, and the chat-time lookups it serves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from analytics.core.errors import CustomerNotFound, InvalidInput, NotScored
from analytics.customers.offers import seed_offers
from analytics.customers.refresh import refresh_scores
from analytics.customers.report import write_report
from analytics.customers.wording import money
from analytics.ingest.online_retail import import_online_retail
from analytics.store.db import make_engine, make_session_factory
from analytics.store.migrate import upgrade
from analytics.store.models import CustomerScore
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases.insights import best_offer, loyalty_status, offer_accepted, offer_shown, segment_of
from tests.conftest import SAMPLE, postgres_schema_engine

NOW = datetime(2026, 11, 24, 12, 0)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def scored(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlAlchemyUnitOfWork]:
    """One scored store per engine for the whole module: a refresh takes seconds."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('scored') / 'store.sqlite3'}")
    else:
        engine, _ = postgres_schema_engine(request.getfixturevalue("postgres_database"))
    upgrade(engine)
    uow = SqlAlchemyUnitOfWork(make_session_factory(engine))
    import_online_retail(uow, SAMPLE, shift_to_now=True, now=NOW)
    with uow:
        seed_offers(uow)
        uow.commit()
    refresh_scores(uow)
    yield uow
    engine.dispose()


def customer_id(uow: SqlAlchemyUnitOfWork, ref: str) -> int:
    with uow:
        customer = uow.customers.by_external_ref(ref)
        assert customer is not None
        return customer.id


def test_refresh_scores_every_customer_with_orders(scored: SqlAlchemyUnitOfWork) -> None:
    with scored:
        n = scored.session.scalar(select(func.count()).select_from(CustomerScore))
        segments = set(scored.session.scalars(select(CustomerScore.rfm_segment).distinct()))
        tiers = set(scored.session.scalars(select(CustomerScore.tier).distinct()))
        risks = list(scored.session.scalars(select(CustomerScore.churn_risk)))
    assert n == 300
    assert len(segments) >= 5
    assert {"Bronze", "Platinum"} <= tiers
    assert all(r is not None and 0 <= r <= 1 for r in risks)


def test_a_second_refresh_replaces_the_scores(scored: SqlAlchemyUnitOfWork) -> None:
    refresh_scores(scored)
    with scored:
        assert scored.scores.count() == 300


def test_loyalty_status_reads_one_customer(scored: SqlAlchemyUnitOfWork) -> None:
    view = loyalty_status(scored, customer_id(scored, "17850"))
    assert view.tier in {"Bronze", "Silver", "Gold", "Platinum"}
    assert view.points > 0
    spent = f"{money(float(view.spend_12m))} spent in the last year"
    if view.next_tier is None:
        assert view.progress_message == f"{spent} keeps you at our top tier, {view.tier}."
    else:
        assert view.amount_to_next_tier is not None and view.amount_to_next_tier > 0
        assert (
            view.progress_message
            == f"{spent}; {money(float(view.amount_to_next_tier))} more to reach {view.next_tier}."
        )


def test_segment_and_value_of_a_customer(scored: SqlAlchemyUnitOfWork) -> None:
    view = segment_of(scored, customer_id(scored, "12347"))
    assert view.rfm_segment
    assert view.p_alive is not None and 0 <= view.p_alive <= 1
    assert view.clv_12m is not None and view.clv_12m >= Decimal(0)
    assert view.churn_risk is not None


def test_best_offer_for_a_scored_customer_is_explained_and_recorded(scored: SqlAlchemyUnitOfWork) -> None:
    cid = customer_id(scored, "17850")
    decision = best_offer(scored, cid, now=NOW)
    assert decision is not None
    assert decision.reason
    again = best_offer(scored, cid, now=NOW)
    assert again == decision
    if decision.shown:
        offer_shown(scored, cid, decision.code, now=NOW)
        offer_accepted(scored, cid, decision.code, now=NOW)


def test_lookups_for_unknown_customers_are_domain_errors(scored: SqlAlchemyUnitOfWork) -> None:
    with pytest.raises(CustomerNotFound):
        loyalty_status(scored, 10_000_000)
    with pytest.raises(CustomerNotFound):
        segment_of(scored, 10_000_000)
    with pytest.raises(CustomerNotFound):
        best_offer(scored, 10_000_000)


def test_lookups_before_any_refresh_say_to_run_it(uow: SqlAlchemyUnitOfWork) -> None:
    import_online_retail(uow, SAMPLE, now=NOW)
    with pytest.raises(NotScored, match="crm analytics refresh"):
        loyalty_status(uow, customer_id(uow, "17850"))


def test_refresh_of_an_empty_store_is_a_clear_error(uow: SqlAlchemyUnitOfWork) -> None:
    with pytest.raises(InvalidInput, match="import data first"):
        refresh_scores(uow)


def test_chat_time_lookups_read_two_rows_and_nothing_else(scored: SqlAlchemyUnitOfWork) -> None:
    cid = customer_id(scored, "17850")
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(scored.engine, "before_cursor_execute", record)
    try:
        loyalty_status(scored, cid)
        segment_of(scored, cid)
    finally:
        event.remove(scored.engine, "before_cursor_execute", record)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2  # customer joined with its score row, twice
    assert not any(re.search(r"\b(FROM|JOIN)\s+(orders|order_lines)\b", s) for s in selects)


def test_the_report_has_its_figures_and_tables(scored: SqlAlchemyUnitOfWork, tmp_path: Path) -> None:
    path = write_report(scored, tmp_path / "report")
    page = path.read_text()
    for figure in ("segments.png", "rfm_heatmap.png", "clv.png"):
        assert (tmp_path / "report" / figure).stat().st_size > 10_000
        assert figure in page
    assert "RFM segments" in page and "Behavioural clusters" in page
