"""Next-purchase suggestions served from a small seeded store: six of seven customers bought
a tent, four of them a torch a week later; nobody else bought a torch."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.core.errors import CustomerNotFound, InvalidInput
from analytics.ingest.online_retail import import_online_retail
from analytics.store.artifacts import ArtifactStore
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases.next_purchase import next_purchases_for, refresh_next_purchase
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
    published = refresh_next_purchase(sqlite_uow, artifacts, min_support=0.3, min_confidence=0.5)
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


def test_a_refresh_of_an_empty_store_says_to_import_first(sqlite_uow: SqlAlchemyUnitOfWork, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="import data first"):
        refresh_next_purchase(sqlite_uow, ArtifactStore(tmp_path / "models"))
