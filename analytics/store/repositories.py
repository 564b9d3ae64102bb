"""Repositories: the queries services need, in one place per aggregate."""

from __future__ import annotations

from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from analytics.store.models import (
    Customer,
    CustomerScore,
    Offer,
    OfferAssignment,
    Order,
    OrderLine,
    Product,
    StoreSetting,
)


class CustomerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, customer_id: int) -> Optional[Customer]:
        return self.session.get(Customer, customer_id)

    def by_external_ref(self, ref: str) -> Optional[Customer]:
        return self.session.scalar(select(Customer).where(Customer.external_ref == ref))

    def by_email(self, email: str) -> Optional[Customer]:
        return self.session.scalar(select(Customer).where(func.lower(Customer.email) == email.strip().lower()))

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Customer)) or 0


class ProductRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_sku(self, sku: str) -> Optional[Product]:
        return self.session.scalar(select(Product).where(Product.sku == sku.strip().upper()))

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Product)) or 0


class OrderRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_number(self, number: str) -> Optional[Order]:
        return self.session.scalar(
            select(Order)
            .where(Order.number == number.strip())
            .options(selectinload(Order.lines).selectinload(OrderLine.product))
        )

    def recent_for_customer(self, customer_id: int, limit: int = 5) -> list[Order]:
        return list(
            self.session.scalars(
                select(Order)
                .where(Order.customer_id == customer_id)
                .order_by(Order.placed_at.desc())
                .limit(limit)
                .options(selectinload(Order.lines))
            )
        )

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Order)) or 0


class StoreSettingRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, key: str) -> Optional[str]:
        row = self.session.get(StoreSetting, key)
        return row.value if row else None

    def set(self, key: str, value: str) -> None:
        row = self.session.get(StoreSetting, key)
        if row is None:
            self.session.add(StoreSetting(key=key, value=value))
        else:
            row.value = value


class ScoreRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, customer_id: int) -> Optional[CustomerScore]:
        return self.session.get(CustomerScore, customer_id)

    def with_customer(self, customer_id: int) -> tuple[Optional[Customer], Optional[CustomerScore]]:
        """The customer and their scores in one round trip (either may be missing)."""
        row = self.session.execute(
            select(Customer, CustomerScore)
            .outerjoin(CustomerScore, CustomerScore.customer_id == Customer.id)
            .where(Customer.id == customer_id)
        ).first()
        return (row[0], row[1]) if row is not None else (None, None)

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(CustomerScore)) or 0


class OfferRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_code(self, code: str) -> Optional[Offer]:
        return self.session.scalar(select(Offer).where(Offer.code == code.strip().upper()))

    def active(self) -> list[Offer]:
        return list(self.session.scalars(select(Offer).where(Offer.active.is_(True)).order_by(Offer.id)))

    def assignments_of(self, customer_id: int) -> dict[int, OfferAssignment]:
        """This customer's assignments, by offer id."""
        rows = self.session.scalars(select(OfferAssignment).where(OfferAssignment.customer_id == customer_id))
        return {a.offer_id: a for a in rows}

    def assignment(self, offer_id: int, customer_id: int) -> Optional[OfferAssignment]:
        return self.session.scalar(
            select(OfferAssignment).where(
                OfferAssignment.offer_id == offer_id, OfferAssignment.customer_id == customer_id
            )
        )

    def accepted_count(self, offer_id: int) -> int:
        return (
            self.session.scalar(
                select(func.count())
                .select_from(OfferAssignment)
                .where(OfferAssignment.offer_id == offer_id, OfferAssignment.accepted_at.is_not(None))
            )
            or 0
        )
