"""Reading and cleaning Online Retail files, without a database."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.core.errors import ImportFileError
from analytics.ingest.online_retail import clean, read_online_retail
from tests.conftest import HEADER, write_retail_csv

GOOD_ROWS = [
    [
        "536365",
        "85123A",
        "WHITE HANGING HEART T-LIGHT HOLDER",
        6,
        "2010-12-01 08:26:00",
        2.55,
        "17850.0",
        "United Kingdom",
    ],
    ["536365", "71053", "WHITE METAL LANTERN", 6, "2010-12-01 08:26:00", 3.39, "17850.0", "United Kingdom"],
    ["536365", "71053", "WHITE METAL LANTERN", 6, "2010-12-01 08:26:00", 3.39, "17850.0", "United Kingdom"],  # dup
    ["536365", "POST", "POSTAGE", 1, "2010-12-01 08:26:00", 18.0, "17850.0", "United Kingdom"],
    ["536366", "22633", "HAND WARMER UNION JACK ", 6, "2010-12-01 08:28:00", 1.85, "", "United Kingdom"],  # guest
    [
        "C536379",
        "85123a",
        "WHITE HANGING HEART T-LIGHT HOLDER",
        -2,
        "2010-12-01 09:41:00",
        2.55,
        "17850.0",
        "United Kingdom",
    ],
    ["C536380", "D", "Discount", -1, "2010-12-01 09:45:00", 27.5, "17850.0", "United Kingdom"],
    ["536381", "22139", "", -10, "2010-12-01 10:00:00", 0, "", "United Kingdom"],  # stock write-off
    ["536382", "22139", "RETROSPOT TEA SET CERAMIC 11 PC", 1, "2010-12-01 10:01:00", 0, "12583.0", "France"],  # free
    ["536383", "M", "Manual", 1, "2010-12-01 10:02:00", 5.0, "12583.0", "France"],
    ["536384", "22139", "retrospot tea set ceramic 11 pc.", 3, "2010-12-01 10:03:00", 4.95, "12583.0", "France"],
    ["536384", "22139", "RETROSPOT  TEA SET CERAMIC 11 PC", 3, "2010-12-01 10:04:00", 4.95, "12583.0", "France"],
    ["A563185", "B", "Adjust bad debt", 1, "2011-08-12 14:50:00", 11062.06, "", "United Kingdom"],
]


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    return write_retail_csv(tmp_path / "retail.csv.gz", GOOD_ROWS)


def test_every_row_is_kept_dropped_with_a_reason_or_counted_as_cancellation(good_file: Path) -> None:
    report = clean(read_online_retail(good_file), "retail.csv.gz").report
    assert report.rows_read == 13
    assert report.sale_lines_kept + report.cancellation_lines_kept + report.rows_dropped + 1 == 13  # +1 postage
    assert report.dropped == {
        "exact duplicate row": 1,
        "cancelled fee, postage or voucher line": 1,
        "stock write-off (non-positive quantity on a sales invoice)": 1,
        "zero or negative unit price (free item or correction)": 1,
        "fee, discount, manual correction, sample or voucher (not merchandise)": 1,
        "bad-debt adjustment invoice (A...)": 1,
    }


def test_cancellations_become_returns_not_sales(good_file: Path) -> None:
    tables = clean(read_online_retail(good_file), "x")
    assert list(tables.returns["number"]) == ["C536379"]
    assert list(tables.returns["quantity"]) == [2]
    assert "C536379" not in set(tables.orders["number"])


def test_postage_becomes_the_orders_shipping_fee(good_file: Path) -> None:
    orders = clean(read_online_retail(good_file), "x").orders.set_index("number")
    assert orders.loc["536365", "shipping_fee"] == 18.0
    lines = clean(read_online_retail(good_file), "x").lines
    assert "POST" not in set(lines["sku"])


def test_rows_without_customer_are_kept_as_guest_orders(good_file: Path) -> None:
    tables = clean(read_online_retail(good_file), "x")
    orders = tables.orders.set_index("number")
    assert orders.loc["536366", "customer_ref"] == ""
    assert tables.report.totals["guest_orders"] == 1


def test_customer_numbers_lose_their_float_suffix(good_file: Path) -> None:
    customers = clean(read_online_retail(good_file), "x").customers
    assert sorted(customers["external_ref"]) == ["12583", "17850"]


def test_products_take_the_normalised_most_frequent_description_and_a_category(good_file: Path) -> None:
    products = clean(read_online_retail(good_file), "x").products.set_index("sku")
    assert products.loc["22139", "description"] == "RETROSPOT TEA SET CERAMIC 11 PC"
    assert products.loc["22139", "name"] == "Retrospot Tea Set Ceramic 11 Pc"
    assert products.loc["22139", "category"] == "Kitchen & Dining"
    assert products.loc["85123A", "category"] == "Candles & Lighting"
    assert products.loc["22139", "unit_price"] == 4.95


def test_an_invoice_split_over_minutes_is_placed_at_its_first_line(good_file: Path) -> None:
    orders = clean(read_online_retail(good_file), "x").orders.set_index("number")
    assert str(orders.loc["536384", "placed_at"]) == "2010-12-01 10:03:00"


def test_the_uci_spreadsheet_date_format_is_accepted(tmp_path: Path) -> None:
    path = write_retail_csv(
        tmp_path / "uci.csv", [["536365", "85123A", "HEART", 6, "12/1/2010 8:26", 2.55, "17850", "United Kingdom"]]
    )
    assert str(read_online_retail(path)["placed_at"].iloc[0]) == "2010-12-01 08:26:00"


# ------------------------------------------------------------------ bad files


def _error(path: Path) -> ImportFileError:
    with pytest.raises(ImportFileError) as info:
        read_online_retail(path)
    return info.value


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    path = write_retail_csv(tmp_path / "f.csv", [["1", "2"]], header=("InvoiceNo", "StockCode"))
    err = _error(path)
    assert err.line == 1
    assert "missing column(s) Description, Quantity" in str(err)


@pytest.mark.parametrize(
    ("column", "value", "hint"),
    [
        (4, "yesterday", "InvoiceDate 'yesterday' is not valid"),
        (3, "six", "Quantity 'six' is not valid"),
        (3, "1.5", "whole number"),
        (5, "cheap", "UnitPrice 'cheap' is not valid"),
        (6, "ABC", "CustomerID 'ABC' is not valid"),
        (0, "", "every row needs an invoice number"),
    ],
)
def test_a_bad_value_names_its_line(tmp_path: Path, column: int, value: str, hint: str) -> None:
    rows = [list(GOOD_ROWS[0]), list(GOOD_ROWS[1]), list(GOOD_ROWS[4])]
    rows[2][column] = value
    err = _error(write_retail_csv(tmp_path / "f.csv", rows))
    assert err.line == 4  # header is line 1
    assert hint in str(err)


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    lines = [",".join(HEADER), "536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom"]
    lines.append("536366,22633,CAF\xc9 MUG,6,2010-12-01 08:28:00,1.85,17850,United Kingdom")
    path.write_bytes("\n".join(lines).encode("latin-1"))
    err = _error(path)
    assert err.line == 3
    assert "not valid UTF-8" in str(err)


def test_a_row_with_extra_fields_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text(
        ",".join(HEADER) + "\n536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
        "536366,22633,MUG,6,2010-12-01 08:28:00,1.85,17850,United Kingdom,extra,more\n"
    )
    err = _error(path)
    assert err.line == 3
    assert "wrong number of fields" in str(err)


def test_empty_and_missing_files_are_explained(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "the file is empty" in str(_error(empty))
    assert "no such file" in str(_error(tmp_path / "nope.csv"))


def test_a_corrupt_gzip_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage")
    assert "cannot be decompressed" in str(_error(path))
