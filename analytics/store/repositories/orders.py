"""Orders and what came back of them: cancellations and returns (``orders``, ``order_lines``, ``returns``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import NamedTuple, Optional

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from analytics.store.models import (
    Order,
    OrderLine,
    OrderStatus,
    Return,
    ReturnKind,
    ReturnStatus,
)


class OrderTotals(NamedTuple):
    """One order with the units and goods value of its lines (shipping not included)."""

    number: str
    placed_at: datetime
    status: OrderStatus
    shipping_fee: Optional[Decimal]
    carrier: Optional[str]
    tracking_number: Optional[str]
    items: int
    amount: Decimal


class OrderRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_number(self, number: str) -> Optional[Order]:
        return self.session.scalar(
            select(Order)
            .where(Order.number == number.strip())
            .options(selectinload(Order.lines).selectinload(OrderLine.product))
        )

    def of_customer(self, customer_id: int, number: str, *, for_update: bool = False) -> Optional[Order]:
        """Order ``number`` if it belongs to ``customer_id`` (``None`` otherwise), with its lines and products.

        ``for_update`` locks the order row until the end of the transaction, so two
        requests changing one order run one after the other (PostgreSQL; SQLite
        serialises writers anyway).
        """
        stmt = (
            select(Order)
            .where(Order.number == number.strip(), Order.customer_id == customer_id)
            .options(selectinload(Order.lines).selectinload(OrderLine.product))
        )
        if for_update:
            stmt = stmt.with_for_update(of=Order).execution_options(populate_existing=True)
        return self.session.scalar(stmt)

    def recent_for_customer(self, customer_id: int, limit: int = 5) -> list[Order]:
        return list(
            self.session.scalars(
                select(Order)
                .where(Order.customer_id == customer_id)
                .order_by(Order.placed_at.desc(), Order.id.desc())
                .limit(limit)
                .options(selectinload(Order.lines))
            )
        )

    def recent_with_totals(self, customer_id: int, limit: int) -> list[OrderTotals]:
        """The customer's ``limit`` newest orders with their units and goods value, in two round trips."""
        orders = self.session.execute(
            select(
                Order.id,
                Order.number,
                Order.placed_at,
                Order.status,
                Order.shipping_fee,
                Order.carrier,
                Order.tracking_number,
            )
            .where(Order.customer_id == customer_id)
            .order_by(Order.placed_at.desc(), Order.id.desc())
            .limit(limit)
        ).all()
        if not orders:
            return []
        sums = {
            order_id: (int(items or 0), Decimal(amount or 0))
            for order_id, items, amount in self.session.execute(
                select(
                    OrderLine.order_id,
                    func.sum(OrderLine.quantity),
                    func.sum(OrderLine.quantity * OrderLine.unit_price),
                )
                .where(OrderLine.order_id.in_([o.id for o in orders]))
                .group_by(OrderLine.order_id)
            ).all()
        }
        out = []
        for o in orders:
            items, amount = sums.get(o.id, (0, Decimal(0)))
            out.append(
                OrderTotals(
                    o.number, o.placed_at, o.status, o.shipping_fee, o.carrier, o.tracking_number, items, amount
                )
            )
        return out

    def count_and_spent(self, customer_id: int) -> tuple[int, Decimal]:
        """How many orders the customer placed and the goods value of their lines, cancelled orders left out."""
        count, spent = self.session.execute(
            select(func.count(func.distinct(Order.id)), func.sum(OrderLine.quantity * OrderLine.unit_price))
            .select_from(Order)
            .outerjoin(OrderLine, OrderLine.order_id == Order.id)
            .where(Order.customer_id == customer_id, Order.status != OrderStatus.CANCELLED)
        ).one()
        return int(count or 0), Decimal(spent or 0)

    def change_status(self, order: Order, expected: OrderStatus, new: OrderStatus) -> bool:
        """Move ``order`` from ``expected`` to ``new`` in one conditional UPDATE; ``False`` if it was no
        longer ``expected`` (another transaction got there first, whatever the engine's locking)."""
        result = self.session.execute(
            update(Order).where(Order.id == order.id, Order.status == expected).values(status=new)
        )
        changed = int(result.rowcount) == 1  # type: ignore[attr-defined]
        if changed:
            order.status = new
        return changed

    def detach_customer(self, customer_id: int) -> int:
        """Turn the customer's orders into guest orders with no delivery address or
        tracking number; return how many."""
        result = self.session.execute(
            update(Order)
            .where(Order.customer_id == customer_id)
            .values(customer_id=None, delivery_address=None, tracking_number=None)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def customer_order_times(self) -> list[tuple[int, datetime]]:
        """(customer_id, placed_at) of every order of a known customer."""
        stmt = select(Order.customer_id, Order.placed_at).where(Order.customer_id.is_not(None))
        return [tuple(row) for row in self.session.execute(stmt).all()]

    def numbers(self) -> set[str]:
        """The number of every order in the store (an import skips those it holds already)."""
        return set(self.session.scalars(select(Order.number)))

    def ids_by_number(self) -> dict[str, int]:
        return dict(self.session.execute(select(Order.number, Order.id)).tuples().all())

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Order)) or 0


class ReturnRepository:
    """Cancellations and returns (table ``returns``)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: Return) -> Return:
        self.session.add(row)
        self.session.flush()
        return row

    def for_order(self, order_id: int, kind: ReturnKind) -> list[Return]:
        return list(
            self.session.scalars(
                select(Return).where(Return.order_id == order_id, Return.kind == kind).order_by(Return.id)
            )
        )

    def numbers(self) -> set[str]:
        """The document number of every cancellation and return in the store."""
        return set(self.session.scalars(select(Return.number).distinct()))

    def returned_quantities(self, order_id: int) -> dict[int, int]:
        """Units of each product of an order already being returned or returned (rejected returns do not count)."""
        rows = self.session.execute(
            select(Return.product_id, func.sum(Return.quantity))
            .where(
                Return.order_id == order_id,
                Return.kind == ReturnKind.RETURN,
                Return.status != ReturnStatus.REJECTED,
                Return.product_id.is_not(None),
            )
            .group_by(Return.product_id)
        )
        return {int(product_id): int(quantity) for product_id, quantity in rows}

    def detach_customer(self, customer_id: int) -> int:
        """Unlink the customer's returns and drop their free-text reasons; return how many."""
        result = self.session.execute(
            update(Return)
            .where(Return.customer_id == customer_id)
            .values(customer_id=None, reason=None)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
