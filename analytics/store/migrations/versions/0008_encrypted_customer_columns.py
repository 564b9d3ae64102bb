"""Customers' names and e-mail addresses and orders' delivery addresses encrypted at rest; e-mail blind index

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 10:30:00

Existing values are encrypted with the installation's data key and the blind
index is filled with its index key (analytics/store/crypto.py): set
CRM_DATA_KEY / CRM_INDEX_KEY (or keep var/data-key and var/index-key) before
running it, and keep them. Two customers whose addresses differ only in case
cannot both be indexed: the migration stops and names them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from analytics.store.crypto import email_index, keys_for

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

customers = sa.table(
    "customers",
    sa.column("id", sa.Integer()),
    sa.column("name", sa.Text()),
    sa.column("email", sa.Text()),
    sa.column("email_index", sa.String(64)),
)
orders = sa.table("orders", sa.column("id", sa.Integer()), sa.column("delivery_address", sa.Text()))


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_constraint("uq_customers_email", type_="unique")
        batch.alter_column("name", existing_type=sa.String(length=120), type_=sa.Text(), existing_nullable=False)
        batch.alter_column("email", existing_type=sa.String(length=254), type_=sa.Text(), existing_nullable=False)
        batch.add_column(sa.Column("email_index", sa.String(length=64), nullable=True))

    bind = op.get_bind()
    keys = keys_for(bind)
    rows, owners = [], {}
    for cid, name, email in bind.execute(sa.select(customers.c.id, customers.c.name, customers.c.email)):
        index = email_index(keys, email)
        if index in owners:
            raise RuntimeError(
                f"customers {owners[index]} and {cid} have the same e-mail address in different case; "
                "merge or correct one of them, then migrate again."
            )
        owners[index] = cid
        rows.append(
            {
                "cid": cid,
                "n": keys.encrypt(name, "customers.name"),
                "e": keys.encrypt(email, "customers.email"),
                "i": index,
            }
        )
    if rows:
        bind.execute(
            customers.update()
            .where(customers.c.id == sa.bindparam("cid"))
            .values(name=sa.bindparam("n"), email=sa.bindparam("e"), email_index=sa.bindparam("i")),
            rows,
        )
    addresses = [
        {"oid": oid, "a": keys.encrypt(address, "orders.delivery_address")}
        for oid, address in bind.execute(
            sa.select(orders.c.id, orders.c.delivery_address).where(orders.c.delivery_address.is_not(None))
        )
    ]
    if addresses:
        bind.execute(
            orders.update().where(orders.c.id == sa.bindparam("oid")).values(delivery_address=sa.bindparam("a")),
            addresses,
        )

    with op.batch_alter_table("customers") as batch:
        batch.alter_column("email_index", existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint("uq_customers_email_index", ["email_index"])


def downgrade() -> None:
    bind = op.get_bind()
    keys = keys_for(bind)
    rows = [
        {"cid": cid, "n": keys.decrypt(name, "customers.name"), "e": keys.decrypt(email, "customers.email")}
        for cid, name, email in bind.execute(sa.select(customers.c.id, customers.c.name, customers.c.email))
    ]
    addresses = [
        {"oid": oid, "a": keys.decrypt(address, "orders.delivery_address")}
        for oid, address in bind.execute(
            sa.select(orders.c.id, orders.c.delivery_address).where(orders.c.delivery_address.is_not(None))
        )
    ]
    with op.batch_alter_table("customers") as batch:
        batch.drop_constraint("uq_customers_email_index", type_="unique")
        batch.drop_column("email_index")
    if rows:
        bind.execute(
            customers.update()
            .where(customers.c.id == sa.bindparam("cid"))
            .values(name=sa.bindparam("n"), email=sa.bindparam("e")),
            rows,
        )
    if addresses:
        bind.execute(
            orders.update().where(orders.c.id == sa.bindparam("oid")).values(delivery_address=sa.bindparam("a")),
            addresses,
        )
    with op.batch_alter_table("customers") as batch:
        batch.alter_column("name", existing_type=sa.Text(), type_=sa.String(length=120), existing_nullable=False)
        batch.alter_column("email", existing_type=sa.Text(), type_=sa.String(length=254), existing_nullable=False)
        batch.create_unique_constraint("uq_customers_email", ["email"])
