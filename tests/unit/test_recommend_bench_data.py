"""The retail recommendation benchmark sees only the catalogue known at its cutoff."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.ingest.online_retail import read_online_retail
from bench.recommend_data import catalogue_before

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
ROWS = [
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2011-08-01 08:26:00,2.55,17850,United Kingdom",
    "536366,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2011-08-02 08:26:00,2.55,17851,United Kingdom",
    "536367,22752,SET 7 BABUSHKA NESTING BOXES,2,2011-08-03 09:00:00,7.65,,United Kingdom",
    # after the cutoff: a brand-new product, and the old one renamed and repriced
    "536370,90001,RED RETROSPOT CAKE STAND,1,2011-09-02 10:00:00,9.95,17850,United Kingdom",
    "536371,85123A,CREAM HANGING HEART T-LIGHT HOLDER,6,2011-09-03 10:00:00,2.95,17851,United Kingdom",
    "536372,85123A,CREAM HANGING HEART T-LIGHT HOLDER,6,2011-09-04 10:00:00,2.95,17852,United Kingdom",
    "536373,85123A,CREAM HANGING HEART T-LIGHT HOLDER,6,2011-09-05 10:00:00,2.95,17853,United Kingdom",
]
IDS = {"85123A": 1, "22752": 2, "90001": 3}


@pytest.fixture
def rows(tmp_path: Path):
    path = tmp_path / "retail.csv"
    path.write_text(HEADER + "\n".join(ROWS) + "\n", encoding="utf-8")
    return read_online_retail(path)


def test_a_product_first_sold_after_the_cutoff_is_not_in_the_training_catalogue(rows) -> None:
    catalogue = catalogue_before(rows, "2011-09-01", IDS)

    assert sorted(catalogue["product_id"]) == [1, 2]


def test_names_and_prices_are_the_ones_known_before_the_cutoff(rows) -> None:
    catalogue = catalogue_before(rows, "2011-09-01", IDS).set_index("product_id")

    assert catalogue.loc[1, "description"] == "WHITE HANGING HEART T-LIGHT HOLDER"
    assert catalogue.loc[1, "unit_price"] == 2.55


def test_a_guest_sale_puts_a_product_in_the_catalogue(rows) -> None:
    assert 2 in set(catalogue_before(rows, "2011-09-01", IDS)["product_id"])


def test_a_later_cutoff_sees_the_new_product(rows) -> None:
    assert sorted(catalogue_before(rows, "2011-12-01", IDS)["product_id"]) == [1, 2, 3]


def test_a_stock_code_the_store_does_not_know_is_reported(rows) -> None:
    with pytest.raises(ValueError, match="85123A"):
        catalogue_before(rows, "2011-09-01", {"22752": 2})
