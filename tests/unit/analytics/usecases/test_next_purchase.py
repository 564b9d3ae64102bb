"""Next-purchase suggestions served from a small seeded store: six of seven customers bought
a tent, four of them a torch a week later; nobody else bought a torch."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest

from analytics.core.errors import CustomerNotFound, InvalidInput
from analytics.ingest.online_retail import import_online_retail
from analytics.recommend import serving
from analytics.recommend.serving import SEQUENCES, fit_sequences
from analytics.store.artifacts import ArtifactStore
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases.next_purchase import next_purchase_line, next_purchases_for, refresh_next_purchase
from tests.conftest import write_retail_csv

TENT, TORCH, MUG, STOVE = "20001", "20002", "20003", "20004"
NAMES = {TENT: "CAMPING TENT", TORCH: "LED TORCH", MUG: "ENAMEL MUG", STOVE: "GAS STOVE"}


def line(invoice: int, sku: str, day: str, customer: int) -> list[object]:
    return [str(invoice), sku, NAMES[sku], 1, f"{day} 10:00:00", 9.95, str(customer), "United Kingdom"]


@pytest.fixture
def campers(sqlite_uow: SqlAlchemyUnitOfWork, tmp_path: Path) -> tuple[SqlAlchemyUnitOfWork, ArtifactStore]:
    rows = []
    invoice = 500000
    for customer in (12001, 12002, 12003, 12004):  # tent, then a torch a week later
        rows += [line(invoice, TENT, "2011-03-01", customer), line(invoice + 1, TORCH, "2011-03-08", customer)]
        invoice += 2
    rows += [line(invoice, TENT, "2011-03-01", 12005)]  # only a tent so far
    rows += [line(invoice + 1, MUG, "2011-02-01", 12006), line(invoice + 2, TENT, "2011-03-01", 12006)]
    rows += [line(invoice + 3, MUG, "2011-03-01", 12007), line(invoice + 4, STOVE, "2011-03-01", 12007)]
    import_online_retail(sqlite_uow, write_retail_csv(tmp_path / "campers.csv", rows))
    artifacts = ArtifactStore(tmp_path / "models")
    published = refresh_next_purchase(sqlite_uow, artifacts, min_support=0.3, min_customers=1, min_confidence=0.5)
    assert published["customers"] == 7
    return sqlite_uow, artifacts


def customer_id(uow: SqlAlchemyUnitOfWork, ref: int) -> int:
    with uow:
        customer = uow.customers.by_external_ref(str(ref))
        assert customer is not None
        return int(customer.id)


def test_a_tent_buyer_is_offered_the_torch_with_its_support_confidence_and_reason(
    campers: tuple[SqlAlchemyUnitOfWork, ArtifactStore],
) -> None:
    uow, artifacts = campers
    result = next_purchases_for(uow, customer_id(uow, 12005), artifacts=artifacts)
    assert [s.sku for s in result.items] == [TORCH]
    torch = result.items[0]
    assert torch.confidence == pytest.approx(4 / 6)  # 4 of the 6 tent buyers bought a torch later
    assert torch.support == pytest.approx(4 / 7)
    assert torch.lift == pytest.approx((4 / 6) / (4 / 7))
    assert torch.name == "Led Torch"
    assert torch.reason == "67% of customers who bought Camping Tent bought Led Torch later"
    assert result.note is None


def test_what_the_customer_already_bought_is_not_suggested_and_the_note_says_why(
    campers: tuple[SqlAlchemyUnitOfWork, ArtifactStore],
) -> None:
    uow, artifacts = campers
    result = next_purchases_for(uow, customer_id(uow, 12001), artifacts=artifacts)
    assert result.items == []
    assert result.note is not None and result.note.startswith("no customer who bought the same items")


def test_an_unknown_customer_or_a_bad_n_says_what_is_wrong(
    campers: tuple[SqlAlchemyUnitOfWork, ArtifactStore],
) -> None:
    uow, artifacts = campers
    with pytest.raises(CustomerNotFound):
        next_purchases_for(uow, 999999, artifacts=artifacts)
    with pytest.raises(InvalidInput, match="n must be a whole number"):
        next_purchases_for(uow, customer_id(uow, 12005), n=0, artifacts=artifacts)


def test_a_refresh_with_a_support_outside_zero_to_one_or_an_unknown_threshold_is_refused(
    campers: tuple[SqlAlchemyUnitOfWork, ArtifactStore],
) -> None:
    uow, artifacts = campers
    with pytest.raises(InvalidInput, match=r"min_support .* must be above 0 and at most 1"):
        refresh_next_purchase(uow, artifacts, min_support=0)
    with pytest.raises(InvalidInput, match=r"min_support .* must be above 0 and at most 1"):
        refresh_next_purchase(uow, artifacts, min_support=1.2)
    with pytest.raises(InvalidInput, match=r"unknown threshold\(s\) \['min_supp'\]"):
        refresh_next_purchase(uow, artifacts, min_supp=0.1)
    with pytest.raises(InvalidInput, match="min_customers must be a whole number"):
        refresh_next_purchase(uow, artifacts, min_customers=0)


def test_a_refresh_of_an_empty_store_says_to_import_first(sqlite_uow: SqlAlchemyUnitOfWork, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="import data first"):
        refresh_next_purchase(sqlite_uow, ArtifactStore(tmp_path / "models"))


def test_the_assistant_line_says_who_bought_what_next_and_how_many(
    campers: tuple[SqlAlchemyUnitOfWork, ArtifactStore],
) -> None:
    uow, artifacts = campers
    serving.current(artifacts, SEQUENCES)  # loaded by this process (a first call only starts loading them)
    assert next_purchase_line(uow, customer_id(uow, 12005), artifacts=artifacts) == (
        "Most customers who bought Camping Tent went on to buy Led Torch: 67% of them, 4 customers so far."
    )
    found = next_purchases_for(uow, customer_id(uow, 12005), artifacts=artifacts).items[0]
    assert (found.after, found.customers) == (("Camping Tent",), 4)


def test_no_line_when_no_rule_applies_or_the_rules_are_not_published(
    campers: tuple[SqlAlchemyUnitOfWork, ArtifactStore], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    uow, artifacts = campers
    serving.current(artifacts, SEQUENCES)
    assert next_purchase_line(uow, customer_id(uow, 12001), artifacts=artifacts) is None  # already has the torch
    assert next_purchase_line(uow, customer_id(uow, 12007), artifacts=artifacts) is None  # mug and stove: no rule
    with caplog.at_level("WARNING"):
        assert next_purchase_line(uow, customer_id(uow, 12005), artifacts=ArtifactStore(tmp_path / "none")) is None
    assert "no next-purchase line" in caplog.text and SEQUENCES in caplog.text


def test_a_shop_where_nobody_bought_twice_is_refused_with_why(sqlite_uow: SqlAlchemyUnitOfWork, tmp_path: Path) -> None:
    rows = [line(600000 + i, sku, "2011-03-01", 13000 + i) for i, sku in enumerate([TENT, TENT, TORCH, MUG] * 3)]
    import_online_retail(sqlite_uow, write_retail_csv(tmp_path / "once.csv", rows))
    artifacts = ArtifactStore(tmp_path / "models")
    with pytest.raises(InvalidInput, match=r"No next-purchase rule can be learnt from this shop yet: no two products"):
        refresh_next_purchase(sqlite_uow, artifacts, min_customers=2)
    assert artifacts.versions(SEQUENCES) == []


def a_few_long_histories(catalogue: int = 12) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Six customers who bought most of the catalogue on each of 40 days (so they hold nearly every ordering
    of it) and twenty who bought product 0, then product 1 a week later."""
    day = pd.Timestamp("2011-01-01")
    rows = [
        (c, p, day + pd.Timedelta(days=d))
        for c in range(1, 7)
        for d in range(40)
        for p in range(catalogue)
        if (c + d + p) % 3
    ]
    for c in range(7, 27):
        rows += [(c, 0, day), (c, 1, day + pd.Timedelta(days=7))]
    lines = pd.DataFrame(rows, columns=["customer_id", "product_id", "placed_at"])
    catalogue_frame = pd.DataFrame(
        {"sku": [f"S{p}" for p in range(catalogue)], "name": [f"Product {p}" for p in range(catalogue)]},
        index=pd.Index(range(catalogue), name="product_id"),
    )
    return lines, catalogue_frame


def test_a_small_shop_with_a_few_long_histories_gets_rules_within_the_memory_bound() -> None:
    lines, catalogue = a_few_long_histories()
    # the six long histories alone hold 12 + 144 + 1,728 patterns, over the bound: the count is raised past them
    bundle = fit_sequences(lines, catalogue, min_support=0.01, max_patterns=500)
    assert bundle.rules.min_count_ > 6 and len(bundle.rules.patterns_) <= 500
    assert [(a, c) for a, c in zip(bundle.rules.rules_["antecedent"], bundle.rules.rules_["consequent"])] == [((0,), 1)]
    # a count the caller chose is kept: the refusal says what to change instead
    with pytest.raises(InvalidInput, match="more than 500 patterns"):
        fit_sequences(lines, catalogue, min_support=0.01, min_customers=2, max_patterns=500)


def test_the_line_never_waits_for_the_rules_to_load(campers: tuple[SqlAlchemyUnitOfWork, ArtifactStore]) -> None:
    uow, artifacts = campers
    serving._Loaded._cache.clear()  # a process that has not loaded the rules yet
    # no line this time, and the rules load in the background for the next answer
    assert next_purchase_line(uow, customer_id(uow, 12005), artifacts=artifacts) is None
    for _ in range(400):
        if serving.current_if_loaded(artifacts, SEQUENCES) is not None:
            break
        threading.Event().wait(0.05)
    assert next_purchase_line(uow, customer_id(uow, 12005), artifacts=artifacts) is not None
