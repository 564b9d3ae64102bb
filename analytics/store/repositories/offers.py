"""Offer rules and their A/B assignments to customers (``offers``, ``offer_assignments``)."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from analytics.store.models import (
    Offer,
    OfferAssignment,
    Variant,
)
from analytics.store.repositories.base import delete_where


class OfferRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_code(self, code: str, *, for_update: bool = False) -> Optional[Offer]:
        query = select(Offer).where(Offer.code == code.strip().upper())
        return self.session.scalar(query.with_for_update() if for_update else query)

    def active(self) -> list[Offer]:
        return list(self.session.scalars(select(Offer).where(Offer.active.is_(True)).order_by(Offer.id)))

    def add(self, row: Offer | OfferAssignment) -> None:
        """Add an offer rule or a customer's assignment to the transaction."""
        self.session.add(row)

    def assignment_rows(self) -> list[tuple[str, int, Variant, datetime]]:
        """Every assignment as (offer code, customer_id, variant, assigned_at), for the uplift report."""
        stmt = select(
            Offer.code, OfferAssignment.customer_id, OfferAssignment.variant, OfferAssignment.assigned_at
        ).join(Offer, Offer.id == OfferAssignment.offer_id)
        return [tuple(row) for row in self.session.execute(stmt).all()]

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

    def accepted_by(self, customer_id: int, limit: int) -> list[tuple[str, str, datetime]]:
        """(code, name, accepted_at) of the offers the customer accepted, newest first."""
        rows = self.session.execute(
            select(Offer.code, Offer.name, OfferAssignment.accepted_at)
            .join(Offer, OfferAssignment.offer_id == Offer.id)
            .where(OfferAssignment.customer_id == customer_id, OfferAssignment.accepted_at.is_not(None))
            .order_by(OfferAssignment.accepted_at.desc())
            .limit(limit)
        ).all()
        return [(code, name, at) for code, name, at in rows]

    def delete_assignments_of(self, customer_id: int) -> int:
        """Delete the customer's offer assignments; return how many."""
        return delete_where(self.session, delete(OfferAssignment).where(OfferAssignment.customer_id == customer_id))

    def accepted_count(self, offer_id: int) -> int:
        return (
            self.session.scalar(
                select(func.count())
                .select_from(OfferAssignment)
                .where(OfferAssignment.offer_id == offer_id, OfferAssignment.accepted_at.is_not(None))
            )
            or 0
        )
