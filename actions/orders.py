"""Orders: status, tracking, delivery estimate, list, cancel, return, change of address."""

from __future__ import annotations

from typing import Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import ShopAction, bullet_list, confirmed, day, entity_or_slot, money, parse_quantity
from analytics import account, services
from analytics.account import OrderDetail
from analytics.errors import InvalidInput, NotAllowed, NotFound, OrderNotFound
from analytics.store.uow import SqlAlchemyUnitOfWork


def _own_order(uow: SqlAlchemyUnitOfWork, customer_id: Optional[int], number: str) -> OrderDetail:
    """The order if it is this customer's; someone else's order is "not found"."""
    if customer_id is None:
        raise OrderNotFound(number)
    return account.order_of(uow, customer_id, number)


class _OrderAction(ShopAction):
    needs = frozenset({"identity", "order"})

    def order(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: Optional[int]
    ) -> Optional[OrderDetail]:
        number = entity_or_slot(tracker, "order_number") or ""
        try:
            return _own_order(self.uow(), customer_id, number)
        except (OrderNotFound, InvalidInput):
            dispatcher.utter_message(response="utter_order_not_found", order_number=number)
            return None


class ActionOrderStatus(_OrderAction):
    """ "Where is my order?" from the store."""

    action_name = "action_order_status"

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: Optional[int]) -> list[EventType]:
        view = self.order(dispatcher, tracker, customer_id)
        if view is None:
            return [SlotSet("order_number", None)]
        dispatcher.utter_message(
            response=f"utter_order_{view.status}",
            order_number=view.number,
            placed_on=day(view.placed_at),
            items=view.item_count,
            carrier=view.carrier or "our courier",
            tracking_number=view.tracking_number or "not yet available",
            eta=day(view.estimated_delivery),
            delivered_on=day(view.delivered_at),
        )
        return [SlotSet("order_number", view.number)]


class ActionTrackOrder(_OrderAction):
    action_name = "action_track_order"

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: Optional[int]) -> list[EventType]:
        view = self.order(dispatcher, tracker, customer_id)
        if view is None:
            return [SlotSet("order_number", None)]
        if view.tracking_number and view.status != "processing":
            dispatcher.utter_message(
                response="utter_tracking",
                order_number=view.number,
                carrier=view.carrier or "our courier",
                tracking_number=view.tracking_number,
            )
        else:
            dispatcher.utter_message(response="utter_tracking_not_yet", order_number=view.number)
        return [SlotSet("order_number", view.number)]


class ActionDeliveryEstimate(_OrderAction):
    """ "When will it arrive?" from historical lead times."""

    action_name = "action_delivery_estimate"

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: Optional[int]) -> list[EventType]:
        number = entity_or_slot(tracker, "order_number") or ""
        try:
            estimate = services.delivery_estimate(self.uow(), number, customer_id=customer_id)
        except (OrderNotFound, InvalidInput):
            dispatcher.utter_message(response="utter_order_not_found", order_number=number)
            return [SlotSet("order_number", None)]
        if estimate.delivered_at is not None:
            dispatcher.utter_message(
                response="utter_delivery_done", order_number=estimate.number, delivered_on=day(estimate.delivered_at)
            )
        elif estimate.most_likely is None:
            dispatcher.utter_message(response="utter_delivery_none", order_number=estimate.number)
        else:
            dispatcher.utter_message(
                response="utter_delivery_window",
                order_number=estimate.number,
                earliest=day(estimate.earliest),
                latest=day(estimate.latest),
                most_likely=day(estimate.most_likely),
                basis=estimate.basis,
            )
        return [SlotSet("order_number", estimate.number)]


class ActionListOrders(ShopAction):
    action_name = "action_list_orders"
    needs = frozenset({"identity"})

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: Optional[int]) -> list[EventType]:
        assert customer_id is not None
        orders = account.list_orders(self.uow(), customer_id, limit=5)
        if not orders:
            dispatcher.utter_message(response="utter_no_orders")
            return []
        lines = [
            f"{o.number}: {o.status}, placed {day(o.placed_at)}, {o.item_count} items, £{money(o.total)}"
            for o in orders
        ]
        dispatcher.utter_message(response="utter_orders_list", orders=bullet_list(lines))
        return []


class ActionCancelOrder(_OrderAction):
    """Cancel an order that has not shipped, after the customer confirms."""

    action_name = "action_cancel_order"

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: Optional[int]) -> list[EventType]:
        assert customer_id is not None
        if confirmed(tracker, "cancel"):
            number = entity_or_slot(tracker, "order_number") or ""
            try:
                result = account.cancel_order(self.uow(), customer_id, number)
            except NotAllowed as refused:
                dispatcher.utter_message(response="utter_cannot_cancel", reason=str(refused))
                return []
            except OrderNotFound:
                dispatcher.utter_message(response="utter_order_not_found", order_number=number)
                return []
            dispatcher.utter_message(
                response="utter_order_cancelled_now", order_number=number, refund=money(result.refund_total)
            )
            return []
        view = self.order(dispatcher, tracker, customer_id)
        if view is None:
            return [SlotSet("order_number", None)]
        if view.status != "processing":
            reason = (
                f"Order {view.number} is already cancelled."
                if view.status == "cancelled"
                else f"Order {view.number} has already {view.status}, so it can't be cancelled any more, "
                'but you can return it once it arrives: just say "I want to return an item".'
            )
            dispatcher.utter_message(response="utter_cannot_cancel", reason=reason)
            return [SlotSet("order_number", view.number)]
        dispatcher.utter_message(
            response="utter_confirm_cancel", order_number=view.number, items=view.item_count, total=money(view.total)
        )
        return [SlotSet("order_number", view.number), SlotSet("awaiting_confirmation", "cancel")]


class ActionRequestReturn(ShopAction):
    """The return form's end: write the return request."""

    action_name = "action_request_return"
    needs = frozenset({"identity", "order", "product", "reason"})

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: Optional[int]) -> list[EventType]:
        assert customer_id is not None
        number = entity_or_slot(tracker, "order_number") or ""
        item = entity_or_slot(tracker, "product") or ""
        reason = tracker.get_slot("return_reason") or ""
        quantity = parse_quantity(entity_or_slot(tracker, "quantity"))
        forget = [SlotSet("return_reason", None), SlotSet("quantity", None)]
        try:
            created = account.request_return(self.uow(), customer_id, number, item, reason, quantity=quantity)
        except OrderNotFound:
            dispatcher.utter_message(response="utter_order_not_found", order_number=number)
            return [*forget, SlotSet("order_number", None)]
        except (NotAllowed, InvalidInput, NotFound) as refused:
            dispatcher.utter_message(response="utter_cannot_return", reason=str(refused))
            return [*forget, SlotSet("product", None)]
        dispatcher.utter_message(
            response="utter_return_created",
            return_id=created.return_id,
            quantity=created.quantity,
            product=created.product_name,
            refund=money(created.refund_amount),
            next_steps=created.next_steps,
        )
        return forget


class ActionChangeAddress(ShopAction):
    action_name = "action_change_address"
    needs = frozenset({"identity", "order", "address"})

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: Optional[int]) -> list[EventType]:
        assert customer_id is not None
        number = entity_or_slot(tracker, "order_number") or ""
        address = tracker.get_slot("new_address") or ""
        try:
            changed = account.change_address(self.uow(), customer_id, number, address)
        except OrderNotFound:
            dispatcher.utter_message(response="utter_order_not_found", order_number=number)
            return [SlotSet("new_address", None), SlotSet("order_number", None)]
        except (NotAllowed, InvalidInput) as refused:
            dispatcher.utter_message(response="utter_cannot_change_address", reason=str(refused))
            return [SlotSet("new_address", None)]
        dispatcher.utter_message(response="utter_address_changed", order_number=number, address=changed.address)
        return [SlotSet("new_address", None)]
