"""The facts of a freshly seeded store that the realistic conversations rely on.

The conversations in ``bench/conversations/`` name customers of the shipped
sample by their shop number and check the bot's answers against what the
store holds: order numbers and their state, the items on them, prices of
products. This script prints those facts as Markdown, from a store seeded the
way ``make run`` seeds it, so that whoever writes or reviews a conversation
can check each expectation against the data rather than against the bot.

    .venv/bin/python bench/conversation_facts.py [--database-url sqlite:///var/crm.sqlite3] > facts.md

Statuses and dates follow the seed's time shift (the newest order was placed
within the last day); order numbers, items, quantities and prices never change.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from datetime import datetime, timedelta, timezone

from sqlalchemy import create_engine, text

from analytics.store.crypto import default_keys

# Customers with different histories: many orders, an open order, a parcel on its way,
# only old orders, a single order. Kept small so the sheet stays readable.
DEFAULT_CUSTOMERS = [
    "12748",
    "17841",
    "14646",
    "13694",
    "15189",
    "13468",
    "17315",
    "16779",
    "15694",
    "16954",
    "15910",
    "17754",
    "12680",
    "16000",
    "15136",
    "17850",
    "12347",
    "13507",
    "14562",
    "16968",
    "13747",
    "13047",
    "12583",
    "16446",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="sqlite:///var/crm.sqlite3")
    parser.add_argument("--customers", nargs="*", default=DEFAULT_CUSTOMERS)
    parser.add_argument("--orders", type=int, default=6, help="newest orders listed per customer")
    parser.add_argument("--products", type=int, default=80, help="best-selling products listed")
    args = parser.parse_args()
    engine = create_engine(args.database_url)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with engine.connect() as db:
        print(f"# Store facts (seeded store, read {now:%Y-%m-%d %H:%M} UTC)\n")
        print("Return window: 30 days after delivery. Cancel and change of address: only while `processing`.\n")
        for ref in args.customers:
            _customer(db, ref, args.orders, now)
        _products(db, args.products)
        _categories(db)


def _customer(db, ref: str, n_orders: int, now: datetime) -> None:  # type: ignore[no-untyped-def]
    row = db.execute(
        text(
            "select c.id, c.name, c.email, c.country, s.tier, s.points, s.rfm_segment, s.lifecycle "
            "from customers c left join customer_scores s on s.customer_id = c.id where c.external_ref = :r"
        ),
        {"r": ref},
    ).fetchone()
    if row is None:
        print(f"## {ref}: not in this store\n")
        return
    cid, name, email, country, tier, points, segment, lifecycle = row
    keys = default_keys()  # names and e-mail addresses are encrypted at rest (the installation's var/data-key)
    name, email = keys.decrypt(name, "customers.name"), keys.decrypt(email, "customers.email")
    counts = dict(
        db.execute(
            text("select status, count(*) from orders where customer_id = :c group by status"), {"c": cid}
        ).fetchall()
    )
    print(f"## Customer {ref}: {name} <{email}> ({country})")
    print(f"- tier {tier}, {points:,} points, RFM segment {segment}, lifecycle {lifecycle}" if tier else "- not scored")
    print(f"- orders by status: {', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}")
    orders = db.execute(
        text(
            "select id, number, status, placed_at, carrier, tracking_number, estimated_delivery, delivered_at, "
            "delivery_address from orders where customer_id = :c order by placed_at desc, number desc limit :n"
        ),
        {"c": cid, "n": n_orders},
    ).fetchall()
    lines = defaultdict(list)
    ids = [o[0] for o in orders]
    if ids:
        for order_id, sku, pname, qty, price in db.execute(
            text(
                "select l.order_id, p.sku, p.name, l.quantity, l.unit_price from order_lines l "
                "join products p on p.id = l.product_id where l.order_id in (" + ",".join(map(str, ids)) + ") "
                "order by l.order_id, l.id"
            )
        ).fetchall():
            lines[order_id].append((sku, pname, qty, price))
    print(f"- newest {len(orders)} orders (newest first):")
    for oid, number, status, placed, carrier, tracking, _eta, delivered, _address in orders:
        placed_at = placed if isinstance(placed, datetime) else datetime.fromisoformat(str(placed))
        age = (now - placed_at).days
        total = sum(float(q) * float(p) for _, _, q, p in lines[oid])
        extra = []
        if carrier:
            extra.append(f"carrier {carrier}")
        if tracking and status != "processing":
            extra.append(f"tracking {tracking}")
        if status == "delivered" and delivered:
            d = delivered if isinstance(delivered, datetime) else datetime.fromisoformat(str(delivered))
            extra.append(f"delivered {(now - d).days} days ago")
            extra.append("returnable" if (now - d) <= timedelta(days=30) else "return window closed")
        print(
            f"  - **{number}** {status}, placed {age} days ago, {sum(q for _, _, q, _ in lines[oid])} items, "
            f"£{total:,.2f} ({'; '.join(extra)})"
        )
        shown = lines[oid][:8]
        for sku, pname, qty, price in shown:
            print(f"    - {qty} × {pname} (SKU {sku}, £{float(price):.2f} each)")
        if len(lines[oid]) > len(shown):
            print(f"    - … and {len(lines[oid]) - len(shown)} more lines")
    print()


def _products(db, n: int) -> None:  # type: ignore[no-untyped-def]
    print(f"## The {n} best-selling products (units, all orders)\n")
    rows = db.execute(
        text(
            "select p.sku, p.name, p.category, p.unit_price, sum(l.quantity) units from products p "
            "join order_lines l on l.product_id = p.id group by p.id order by units desc limit :n"
        ),
        {"n": n},
    ).fetchall()
    for sku, name, category, price, _units in rows:
        print(f"- {name} (SKU {sku}, {category}): £{float(price):.2f}")
    print()


def _categories(db) -> None:  # type: ignore[no-untyped-def]
    print("## Categories (products)\n")
    for category, count in db.execute(
        text("select category, count(*) from products group by category order by 2 desc")
    ).fetchall():
        print(f"- {category}: {count}")


if __name__ == "__main__":
    main()
