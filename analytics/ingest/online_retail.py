"""Import the UCI Online Retail file into the customer store.

Reading, cleaning and loading are separate steps:

1. :func:`read_online_retail` reads the CSV (plain or gzip) as text and checks
   it: the eight UCI columns, UTF-8, integer quantities, numeric prices,
   parseable dates. The first bad row is reported with its line number and
   nothing is written.
2. :func:`clean` applies the preprocessing rules below and counts every row
   it drops or transforms, by reason (:class:`CleaningReport`).
3. :func:`load` writes what the store does not have yet, in the caller's
   transaction: products, customers, orders with their lines, and
   cancellations. Invoices already in the store are skipped, so a second run
   changes nothing.

Cleaning rules
--------------
* Exact duplicate rows are dropped (the source has 5,268).
* Invoices starting with ``C`` are cancellations: stored as ``returns`` rows
  of kind ``cancellation`` (status ``refunded``), never as sales.
* Negative quantities on ordinary invoices carry no customer and no price;
  they are stock write-offs ("damaged", "lost"), dropped as such. Invoices
  starting with ``A`` are bad-debt adjustments and are dropped.
* Lines with a zero or negative unit price are dropped (free samples and
  corrections, not sales).
* Postage codes (``POST``, ``DOT``, ``C2``) become the order's shipping fee.
  Fees, discounts, manual corrections, samples and gift vouchers (``M``,
  ``D``, ``S``, ``BANK CHARGES``, ``AMAZONFEE``, ``CRUK``, ``PADS``, ``B``,
  ``GIFT_*``) are not merchandise and are dropped.
* Rows without a CustomerID are kept as **guest orders** (no customer): they
  are real sales that basket analysis and demand forecasts need, while
  per-customer analytics simply has no customer to attach them to.
* Stock codes are upper-cased; descriptions are stripped, whitespace
  collapsed and upper-cased; each product takes its most frequent
  description and its most frequent sale price; a category is derived from
  the description (:mod:`analytics.ingest.categories`).
* ``17850.0``-style customer numbers become ``17850``.
* An invoice with lines at several timestamps (42 in the source) is placed at
  the earliest one.

Why one long module: one pipeline (read, clean, load) over one file format; each step's checks
refer to the same columns.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd
from sqlalchemy import Table

from analytics.core.clock import utc_now
from analytics.core.errors import ImportFileError
from analytics.core.files import file_sha256
from analytics.ingest.categories import categorize
from analytics.ingest.people import marketing_consent, pseudonym
from analytics.ingest.shipping import plan_shipment
from analytics.store.bulk import bulk_insert
from analytics.store.crypto import email_index, identity_digest, keys_for
from analytics.store.models import (
    Customer,
    ImportRun,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    Return,
    ReturnKind,
    ReturnStatus,
)
from analytics.store.uow import SqlAlchemyUnitOfWork

COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country")
SHIPPING_CODES = frozenset({"POST", "DOT", "C2"})
NON_MERCHANDISE_CODES = frozenset({"M", "D", "S", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS", "B"})
VOUCHER_PREFIX = "GIFT_"
#: Store setting that keeps the demo time shift, so later imports use the same timeline.
TIME_SHIFT_KEY = "online_retail.time_shift_days"
#: The ISO form used by the shipped files, and the UCI spreadsheet export's form.
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%m/%d/%Y %H:%M")

Progress = Callable[[str], None]


def _no_progress(_: str) -> None:
    return None


@dataclass
class CleaningReport:
    """What the cleaning kept, dropped and transformed, counted in raw rows."""

    source: str
    rows_read: int = 0
    sale_lines_kept: int = 0
    cancellation_lines_kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    transformed: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str, rows: int) -> None:
        if rows:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(rows)

    def transform(self, what: str, rows: int) -> None:
        if rows:
            self.transformed[what] = self.transformed.get(what, 0) + int(rows)

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "sale_lines_kept": self.sale_lines_kept,
            "cancellation_lines_kept": self.cancellation_lines_kept,
            "rows_dropped": self.rows_dropped,
            "dropped": dict(self.dropped),
            "transformed": dict(self.transformed),
            "totals": dict(self.totals),
        }


@dataclass
class RetailTables:
    """The cleaned data, in source time, ready to load."""

    products: pd.DataFrame  # sku, name, description, category, unit_price
    customers: pd.DataFrame  # external_ref, country, first_seen
    orders: pd.DataFrame  # number, customer_ref, placed_at, country, shipping_fee
    lines: pd.DataFrame  # number, sku, quantity, unit_price
    returns: pd.DataFrame  # number, customer_ref, sku, quantity, unit_price, created_at
    report: CleaningReport


@dataclass
class LoadSummary:
    products: int = 0
    customers: int = 0
    orders: int = 0
    order_lines: int = 0
    returns: int = 0
    orders_already_present: int = 0
    time_shift_days: int = 0
    #: customers of the file erased on request (a tombstone holds their hashes): not re-created
    customers_erased: int = 0

    @property
    def changed(self) -> bool:
        return any((self.products, self.customers, self.orders, self.order_lines, self.returns))


@dataclass
class ImportResult:
    report: CleaningReport
    loaded: LoadSummary
    sha256: str


# --------------------------------------------------------------------------- reading


def _open_text(path: Path) -> io.TextIOBase:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ImportFileError(path, f"the file looks gzip-compressed but cannot be decompressed ({exc}).") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ImportFileError(
            path,
            f"the file is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); re-save it as UTF-8.",
            line=line,
        ) from exc
    return io.StringIO(text)


def read_online_retail(path: str | Path) -> pd.DataFrame:
    """Read and check a file in the UCI Online Retail format.

    Returns a frame with typed columns ``invoice, sku, description, quantity,
    placed_at, unit_price, customer_ref, country`` and ``line`` (the line in
    the file, header = 1). Raises :class:`ImportFileError` naming the first
    bad line.
    """
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(path, "no such file. Pass the path of an Online Retail CSV (optionally .gz).")
    handle = _open_text(path)
    try:
        raw = pd.read_csv(handle, dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError as exc:
        raise ImportFileError(path, f"the file is empty; expected a header with columns {', '.join(COLUMNS)}.") from exc
    except pd.errors.ParserError as exc:
        match = re.search(r"line (\d{1,12})", str(exc))
        raise ImportFileError(
            path,
            f"a row has the wrong number of fields ({exc}). "
            f"Each row needs the {len(COLUMNS)} columns {', '.join(COLUMNS)}.",
            line=int(match.group(1)) if match else None,
        ) from exc
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise ImportFileError(
            path,
            f"missing column(s) {', '.join(missing)}; found {', '.join(map(str, raw.columns))}. "
            f"The header must name {', '.join(COLUMNS)}.",
            line=1,
        )
    return _parse(raw, path)


def _per_unique(series: pd.Series, fn: Callable[[pd.Series], Any]) -> pd.Series:
    """Apply a vectorised ``fn`` to the distinct values of ``series`` only.

    The source columns have few distinct values (25,900 invoices, 23,000
    timestamps, 4,000 descriptions in 541,909 rows), so this is many times
    faster than string operations on every row.
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=False)
    result = fn(pd.Series(uniques))
    return pd.Series(np.asarray(result)[codes], index=series.index)


def _first_bad(mask: pd.Series, raw: pd.Series, path: Path, what: str, hint: str) -> None:
    if mask.any():
        pos = int(np.flatnonzero(mask.to_numpy())[0])
        raise ImportFileError(path, f"{what} {raw.iloc[pos]!r} is not valid; {hint}", line=pos + 2)


def _parse_dates(text: pd.Series) -> pd.Series:
    stripped = text.str.strip()
    parsed = pd.to_datetime(stripped, format=DATE_FORMATS[0], errors="coerce")
    for fmt in DATE_FORMATS[1:]:
        missing = parsed.isna()
        if missing.any():
            parsed = parsed.where(~missing, pd.to_datetime(stripped, format=fmt, errors="coerce"))
    return parsed


def _customer_number(text: pd.Series) -> pd.Series:
    stripped = text.str.strip()
    number = pd.to_numeric(stripped.where(stripped != "", None), errors="coerce")
    bad = (stripped != "") & (number.isna() | (number != number.round()))
    refs = number.astype("Int64").astype(str).where(~number.isna(), "")
    return refs.where(~bad, None)


def _parse(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    invoice = _per_unique(raw["InvoiceNo"], lambda u: u.str.strip())
    sku = _per_unique(raw["StockCode"], lambda u: u.str.strip().str.upper())
    _first_bad(invoice == "", raw["InvoiceNo"], path, "InvoiceNo", "every row needs an invoice number.")
    _first_bad(sku == "", raw["StockCode"], path, "StockCode", "every row needs a stock code.")

    quantity = _per_unique(raw["Quantity"], lambda u: pd.to_numeric(u.str.strip(), errors="coerce")).astype("float64")
    bad_qty = quantity.isna() | (quantity != quantity.round())
    _first_bad(bad_qty, raw["Quantity"], path, "Quantity", "it must be a whole number (negative for cancellations).")

    price = _per_unique(raw["UnitPrice"], lambda u: pd.to_numeric(u.str.strip(), errors="coerce")).astype("float64")
    _first_bad(~np.isfinite(price), raw["UnitPrice"], path, "UnitPrice", "it must be a number such as 2.55.")

    placed_at = pd.to_datetime(_per_unique(raw["InvoiceDate"], _parse_dates))
    _first_bad(
        placed_at.isna(),
        raw["InvoiceDate"],
        path,
        "InvoiceDate",
        "use 'YYYY-MM-DD HH:MM:SS' (or the UCI 'M/D/YYYY H:MM').",
    )

    customer_ref = _per_unique(raw["CustomerID"], _customer_number)
    _first_bad(
        customer_ref.isna(), raw["CustomerID"], path, "CustomerID", "it must be a customer number or empty for guests."
    )

    return pd.DataFrame(
        {
            "invoice": invoice,
            "sku": sku,
            "description": raw["Description"],
            "quantity": quantity.astype("int64"),
            "placed_at": placed_at,
            "unit_price": price,
            "customer_ref": customer_ref,
            "customer_raw": raw["CustomerID"],
            "country": _per_unique(raw["Country"], lambda u: u.str.strip()),
            "line": np.arange(2, len(raw) + 2),
        }
    )


# --------------------------------------------------------------------------- cleaning


def _normalise_descriptions(desc: pd.Series) -> pd.Series:
    return desc.str.strip().str.replace(r"\s+", " ", regex=True).str.upper().str.rstrip(".")


def _title(description: str) -> str:
    words = []
    for word in description.split(" "):
        # keep sizes and codes such as "3D", "50'S", "T-LIGHT" readable
        words.append(word if any(ch.isdigit() for ch in word) else word.capitalize())
    return " ".join(words).replace("T-light", "T-Light")


def _mode_by(frame: pd.DataFrame, key: str, value: str) -> pd.Series:
    """The most frequent ``value`` per ``key``; ties go to the smallest value."""
    counts = frame.groupby([key, value], sort=False).size().reset_index(name="n")
    counts = counts.sort_values([key, "n", value], ascending=[True, False, True])
    return counts.drop_duplicates(key).set_index(key)[value]


def clean(parsed: pd.DataFrame, source: str) -> RetailTables:
    """Apply the documented cleaning rules to :func:`read_online_retail`'s output."""
    report = CleaningReport(source=source, rows_read=len(parsed))

    # Exact duplicates are judged on the source values, not on parsed ones.
    dup = parsed.drop(columns=["line", "customer_ref"]).duplicated()
    report.drop("exact duplicate row", int(dup.sum()))
    df = parsed.loc[~dup]

    report.transform(
        "customer number normalised (e.g. 17850.0 -> 17850)", int((df["customer_raw"] != df["customer_ref"]).sum())
    )

    is_cancel = _per_unique(df["invoice"], lambda u: u.str.startswith("C")).astype(bool)
    is_adjust = _per_unique(df["invoice"], lambda u: u.str.startswith("A")).astype(bool)
    is_shipping = df["sku"].isin(SHIPPING_CODES)
    is_fee = _per_unique(df["sku"], lambda u: u.isin(NON_MERCHANDISE_CODES) | u.str.startswith(VOUCHER_PREFIX))
    is_fee = is_fee.astype(bool)
    is_merch = ~(is_shipping | is_fee)

    report.drop("bad-debt adjustment invoice (A...)", int(is_adjust.sum()))
    df_ok = ~is_adjust

    # cancellations
    cancels = df[df_ok & is_cancel]
    c_merch = ~is_merch.loc[cancels.index]
    report.drop("cancelled fee, postage or voucher line", int(c_merch.sum()))
    cancels = cancels[~c_merch]
    bad_c = (cancels["quantity"] >= 0) | (cancels["unit_price"] <= 0)
    report.drop("cancellation without a negative quantity and a price", int(bad_c.sum()))
    cancels = cancels[~bad_c]

    sales = df[df_ok & ~is_cancel]
    neg = sales["quantity"] <= 0
    report.drop("stock write-off (non-positive quantity on a sales invoice)", int(neg.sum()))
    sales = sales[~neg]

    shipping = sales[sales["sku"].isin(SHIPPING_CODES)]
    report.transform("postage line turned into the order's shipping fee", len(shipping))
    fees = is_fee.loc[sales.index]
    report.drop("fee, discount, manual correction, sample or voucher (not merchandise)", int(fees.sum()))
    sales = sales[is_merch.loc[sales.index]]

    free = sales["unit_price"] <= 0
    report.drop("zero or negative unit price (free item or correction)", int(free.sum()))
    sales = sales[~free]

    guests = sales["customer_ref"] == ""
    report.transform("sale line without CustomerID kept as a guest order", int(guests.sum()))
    report.sale_lines_kept = len(sales)
    report.cancellation_lines_kept = len(cancels)

    # products: most frequent normalised description and sale price per SKU
    items = pd.concat([sales[["sku", "description", "unit_price"]], cancels[["sku", "description", "unit_price"]]])
    norm = _per_unique(items["description"], _normalise_descriptions)
    report.transform("description normalised (spaces, case, trailing dot)", int((norm != items["description"]).sum()))
    named = items.assign(norm=norm)
    named = named[named["norm"] != ""]
    descriptions = _mode_by(named, "sku", "norm")
    several = named.groupby("sku")["norm"].nunique()
    report.transform("products with several descriptions unified to the most frequent", int((several > 1).sum()))
    price_source = sales if len(sales) else cancels
    prices = _mode_by(price_source, "sku", "unit_price")
    all_skus = pd.Index(sorted(set(sales["sku"]) | set(cancels["sku"])))
    desc = descriptions.reindex(all_skus)
    nameless = desc.isna()
    desc = desc.where(~nameless, "ITEM " + pd.Series(all_skus, index=all_skus))
    report.transform("product without any description named after its stock code", int(nameless.sum()))
    products = pd.DataFrame(
        {
            "sku": all_skus,
            "description": desc.to_numpy(),
            "name": [_title(d) for d in desc.to_numpy()],
            "category": [categorize(d) for d in desc.to_numpy()],
            "unit_price": prices.reindex(all_skus)
            .fillna(cancels.groupby("sku")["unit_price"].max())
            .round(2)
            .to_numpy(),
        }
    )

    # orders
    fee_per_invoice = (shipping["quantity"] * shipping["unit_price"]).groupby(shipping["invoice"]).sum()
    grouped = sales.groupby("invoice", sort=True)
    orders = pd.DataFrame(
        {
            "customer_ref": grouped["customer_ref"].first(),
            "placed_at": grouped["placed_at"].min(),
            "country": grouped["country"].first(),
        }
    )
    orders["shipping_fee"] = fee_per_invoice.reindex(orders.index).fillna(0.0).round(2)
    orders = orders.rename_axis("number").reset_index()
    report.transform(
        "invoice with lines at several times placed at the earliest", int((grouped["placed_at"].nunique() > 1).sum())
    )

    lines = sales[["invoice", "sku", "quantity", "unit_price"]].rename(columns={"invoice": "number"})
    returns = cancels[["invoice", "customer_ref", "sku", "quantity", "unit_price", "placed_at"]].rename(
        columns={"invoice": "number", "placed_at": "created_at"}
    )
    returns = returns.assign(quantity=-returns["quantity"])

    people = pd.concat(
        [sales[["customer_ref", "country", "placed_at"]], cancels[["customer_ref", "country", "placed_at"]]]
    )
    people = people[people["customer_ref"] != ""]
    customers = (
        pd.DataFrame(
            {
                "country": _mode_by(people, "customer_ref", "country"),
                "first_seen": people.groupby("customer_ref")["placed_at"].min(),
            }
        )
        .rename_axis("external_ref")
        .reset_index()
    )

    report.totals = {
        "products": len(products),
        "customers": len(customers),
        "orders": len(orders),
        "guest_orders": int((orders["customer_ref"] == "").sum()),
        "order_lines": len(lines),
        "cancellation_lines": len(returns),
        "products_in_category_other": int((products["category"] == "Other").sum()),
    }
    return RetailTables(products, customers, orders, lines, returns, report)


# --------------------------------------------------------------------------- loading


def resolve_time_shift(uow: SqlAlchemyUnitOfWork, tables: RetailTables, shift_to_now: bool, now: datetime) -> int:
    """Days to add to source times. A store keeps the shift of its first import."""
    stored = uow.settings.get(TIME_SHIFT_KEY)
    if stored is not None:
        return int(stored)
    if not shift_to_now:
        return 0
    newest = max(
        tables.orders["placed_at"].max(), tables.returns["created_at"].max() if len(tables.returns) else pd.NaT
    )
    days = (now.date() - newest.date()).days
    if newest + timedelta(days=days) > now:
        days -= 1
    return days


def load(
    uow: SqlAlchemyUnitOfWork,
    tables: RetailTables,
    *,
    shift_to_now: bool = False,
    now: Optional[datetime] = None,
    progress: Progress = _no_progress,
) -> LoadSummary:
    """Write what the store does not hold yet, inside ``uow``'s transaction.

    Invoices (sales and cancellations) already in the store are skipped whole;
    products and customers already present are left as they are.
    """
    now = now or utc_now().replace(microsecond=0)
    shift_days = resolve_time_shift(uow, tables, shift_to_now, now)
    shift = pd.Timedelta(days=shift_days)
    summary = LoadSummary(time_shift_days=shift_days)
    conn = uow.connection()

    existing_orders = uow.orders.numbers()
    existing_returns = uow.returns.numbers()
    new_orders = tables.orders[~tables.orders["number"].isin(existing_orders)]
    summary.orders_already_present = len(tables.orders) - len(new_orders)
    new_lines = tables.lines[tables.lines["number"].isin(set(new_orders["number"]))]
    new_returns = tables.returns[~tables.returns["number"].isin(existing_returns)]

    progress("products")
    product_ids = uow.products.ids_by_sku()
    fresh = tables.products[~tables.products["sku"].isin(product_ids)]
    summary.products = bulk_insert(
        conn,
        _table(Product),
        fresh[["sku", "name", "description", "category", "unit_price"]].assign(active=True),
    )
    if summary.products:
        product_ids = uow.products.ids_by_sku()

    progress("customers")
    customer_ids = uow.customers.ids_by_ref()
    fresh_c = tables.customers[~tables.customers["external_ref"].isin(customer_ids)]
    people = [pseudonym(ref) for ref in fresh_c["external_ref"]]
    erased = _erased_customers(uow, list(fresh_c["external_ref"]), [email for _, email in people])
    if erased:
        summary.customers_erased = len(erased)
        _report_erased(tables, erased)
        keep = ~fresh_c["external_ref"].isin(erased)
        people = [person for person, kept in zip(people, keep) if kept]
        fresh_c = fresh_c[keep]
    # the bulk write bypasses the ORM: encrypt and index here as the model's column types and events would
    keys = keys_for(conn)
    summary.customers = bulk_insert(
        conn,
        _table(Customer),
        pd.DataFrame(
            {
                "external_ref": fresh_c["external_ref"],
                "name": [keys.encrypt(name, "customers.name") for name, _ in people],
                "email": [keys.encrypt(email, "customers.email") for _, email in people],
                "email_index": [email_index(keys, email) for _, email in people],
                "country": fresh_c["country"],
                "consent_marketing": [marketing_consent(ref) for ref in fresh_c["external_ref"]],
                "consent_profiling": True,
                "created_at": fresh_c["first_seen"] + shift,
            }
        ),
    )
    if summary.customers:
        customer_ids = uow.customers.ids_by_ref()

    progress("orders")
    placed = new_orders["placed_at"] + shift
    shipments = [
        plan_shipment(number, country, when.to_pydatetime(), now)
        for number, country, when in zip(new_orders["number"], new_orders["country"], placed)
    ]
    summary.orders = bulk_insert(
        conn,
        _table(Order),
        pd.DataFrame(
            {
                "number": new_orders["number"],
                "customer_id": new_orders["customer_ref"].map(customer_ids).astype("Int64"),
                "placed_at": placed,
                "status": [s.status.value for s in shipments],
                "country": new_orders["country"],
                "shipping_fee": new_orders["shipping_fee"].round(2),
                "carrier": [s.carrier for s in shipments],
                "tracking_number": [s.tracking_number for s in shipments],
                "shipped_at": pd.to_datetime(pd.Series([s.shipped_at for s in shipments], index=new_orders.index)),
                "estimated_delivery": [s.estimated_delivery for s in shipments],
                "delivered_at": pd.to_datetime(pd.Series([s.delivered_at for s in shipments], index=new_orders.index)),
            }
        ),
    )

    progress("order lines")
    if len(new_lines):
        wanted = set(new_orders["number"])
        order_ids = {n: i for n, i in uow.orders.ids_by_number().items() if n in wanted}
        summary.order_lines = bulk_insert(
            conn,
            _table(OrderLine),
            pd.DataFrame(
                {
                    "order_id": new_lines["number"].map(order_ids).astype("int64"),
                    "product_id": new_lines["sku"].map(product_ids).astype("int64"),
                    "quantity": new_lines["quantity"],
                    "unit_price": new_lines["unit_price"].round(2),
                }
            ),
        )

    progress("cancellations")
    summary.returns = bulk_insert(
        conn,
        _table(Return),
        pd.DataFrame(
            {
                "number": new_returns["number"],
                "kind": ReturnKind.CANCELLATION.value,
                "status": ReturnStatus.REFUNDED.value,
                "customer_id": new_returns["customer_ref"].map(customer_ids).astype("Int64"),
                "product_id": new_returns["sku"].map(product_ids).astype("int64"),
                "quantity": new_returns["quantity"],
                "amount": (new_returns["quantity"] * new_returns["unit_price"]).round(2),
                "reason": "cancelled invoice in the source data",
                "created_at": new_returns["created_at"] + shift,
            }
        ),
    )
    if summary.changed and uow.settings.get(TIME_SHIFT_KEY) is None:
        uow.settings.set(TIME_SHIFT_KEY, str(shift_days))
    return summary


def _erased_customers(uow: SqlAlchemyUnitOfWork, refs: list[str], emails: list[str]) -> set[str]:
    """The source customer numbers whose customer was erased on request (by number or e-mail address)."""
    erased_refs, erased_emails = uow.erased.digests("external_ref"), uow.erased.digests("email")
    if not erased_refs and not erased_emails:
        return set()
    keys = keys_for(uow.engine)
    return {
        ref
        for ref, email in zip(refs, emails)
        if identity_digest(keys, "external_ref", ref) in erased_refs or email_index(keys, email) in erased_emails
    }


def _report_erased(tables: RetailTables, erased: set[str]) -> None:
    orders = tables.orders[tables.orders["customer_ref"].isin(erased)]
    lines = int(tables.lines["number"].isin(set(orders["number"])).sum())
    cancellations = int(tables.returns["customer_ref"].isin(erased).sum())
    tables.report.transform(
        f"line of {len(erased)} customer(s) erased on request: kept without the customer, who is not re-created",
        lines + cancellations,
    )


def _table(model: type) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


def import_online_retail(
    uow: SqlAlchemyUnitOfWork,
    path: str | Path,
    *,
    shift_to_now: bool = False,
    now: Optional[datetime] = None,
    progress: Progress = _no_progress,
) -> ImportResult:
    """Read, clean and load ``path`` in one transaction.

    Either everything new in the file is written and committed, or (on any
    error) nothing is.
    """
    path = Path(path)
    started = utc_now()
    progress("reading")
    parsed = read_online_retail(path)
    progress("cleaning")
    tables = clean(parsed, source=path.name)
    sha = file_sha256(path)
    with uow:
        loaded = load(uow, tables, shift_to_now=shift_to_now, now=now, progress=progress)
        if loaded.changed:
            report = tables.report.as_dict() | {"loaded": loaded.__dict__}
            uow.imports.add(
                ImportRun(
                    source=str(path.name),
                    sha256=sha,
                    started_at=started,
                    finished_at=utc_now(),
                    rows_read=tables.report.rows_read,
                    report=report,
                )
            )
        progress("committing")
        uow.commit()
    return ImportResult(report=tables.report, loaded=loaded, sha256=sha)


__all__ = [
    "COLUMNS",
    "CleaningReport",
    "ImportResult",
    "LoadSummary",
    "OrderStatus",
    "RetailTables",
    "clean",
    "import_online_retail",
    "load",
    "read_online_retail",
]
