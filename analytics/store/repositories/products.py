"""The catalogue (``products``)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analytics.store.models import (
    OrderLine,
    Product,
)


class ProductListing(NamedTuple):
    """One product as the chat's catalogue search shows it, with how many order lines hold it."""

    id: int
    sku: str
    name: str
    category: str
    unit_price: Decimal
    active: bool
    order_lines: int


class ProductRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_sku(self, sku: str) -> Optional[Product]:
        return self.session.scalar(select(Product).where(Product.sku == sku.strip().upper()))

    def listing(self) -> list[ProductListing]:
        """Every product with its price, category and popularity (order lines holding it), for the chat's search."""
        sold = select(OrderLine.product_id, func.count().label("lines")).group_by(OrderLine.product_id).subquery()
        rows = self.session.connection().execute(
            select(
                Product.id,
                Product.sku,
                Product.name,
                Product.category,
                Product.unit_price,
                Product.active,
                func.coalesce(sold.c.lines, 0),
            ).outerjoin(sold, sold.c.product_id == Product.id)
        )
        return list(map(ProductListing._make, rows.tuples().all()))

    def active_descriptions(self) -> list[tuple[str, str]]:
        """``(description, category)`` of every active product, by SKU (the NLU's entity patterns' source)."""
        rows = self.session.execute(
            select(Product.description, Product.category).where(Product.active.is_(True)).order_by(Product.sku)
        ).all()
        return [(description, category) for description, category in rows]

    def names_of(self, skus: Sequence[str]) -> dict[str, str]:
        """Product names by SKU, for the SKUs that exist."""
        if not skus:
            return {}
        return dict(
            self.session.execute(select(Product.sku, Product.name).where(Product.sku.in_(list(skus)))).tuples().all()
        )

    def by_ids(self, ids: Sequence[int]) -> dict[int, Product]:
        if not ids:
            return {}
        return {p.id: p for p in self.session.scalars(select(Product).where(Product.id.in_(ids)))}

    def ids_by_sku(self) -> dict[str, int]:
        return dict(self.session.execute(select(Product.sku, Product.id)).tuples().all())

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Product)) or 0
