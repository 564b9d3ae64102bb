"""The customer's account: loyalty, offers, reorder and next-order forecasts, privacy."""

from __future__ import annotations

from datetime import date
from typing import Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import ShopAction, bullet_list, confirmed, entity_or_slot, latest_entity
from analytics import account, services
from analytics.errors import NotFound
from analytics.offers import NotScored
from analytics.services import NextOrderView, ReorderView


class ActionLoyaltyStatus(ShopAction):
    action_name = "action_loyalty_status"
    needs = frozenset({"identity"})

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: Optional[int]) -> list[EventType]:
        assert customer_id is not None
        try:
            view = services.loyalty_status(self.uow(), customer_id)
        except NotScored:
            dispatcher.utter_message(response="utter_not_scored")
            return []
        dispatcher.utter_message(
            response="utter_loyalty_status", tier=view.tier, points=f"{view.points:,}", progress=view.progress_message
        )
        return []


class ActionShowOffer(ShopAction):
    """The best offer for this customer now (segment- and lifecycle-aware), recorded as shown."""

    action_name = "action_show_offer"
    needs = frozenset({"identity"})

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: Optional[int]) -> list[EventType]:
        assert customer_id is not None
        try:
            decision = services.best_offer(self.uow(), customer_id)
        except NotScored:
            decision = None
        if decision is None or not decision.shown:
            dispatcher.utter_message(response="utter_no_offer")
            return [SlotSet("offer_code", None)]
        services.offer_shown(self.uow(), customer_id, decision.code)
        dispatcher.utter_message(
            response="utter_offer", offer=decision.name, description=decision.description, reason=decision.reason
        )
        return [SlotSet("offer_code", decision.code), SlotSet("awaiting_confirmation", "offer")]


class ActionAcceptOffer(ShopAction):
    action_name = "action_accept_offer"
    needs = frozenset({"identity"})

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: Optional[int]) -> list[EventType]:
        assert customer_id is not None
        code = tracker.get_slot("offer_code")
        if not code:
            dispatcher.utter_message(response="utter_no_offer_to_accept")
            return []
        try:
            services.offer_accepted(self.uow(), customer_id, code)
        except NotFound:
            dispatcher.utter_message(response="utter_no_offer_to_accept")
            return [SlotSet("offer_code", None)]
        dispatcher.utter_message(response="utter_offer_applied", offer=code)
        return []


def _weeks(days: Optional[float]) -> str:
    if days is None:
        return "now and then"
    if days < 10:
        return f"every ~{round(days)} days"
    return f"every ~{round(days / 7)} weeks"


def _when(value: Optional[date]) -> str:
    return value.strftime("%d %b").lstrip("0") if value else "soon"


def reorder_line(view: ReorderView) -> str:
    name = view.product_name.capitalize()
    if view.due is None and view.expected is None:
        return f"{name}: {view.basis}."
    timing = "you're due now" if view.overdue else f"next around {_when(view.expected or view.due)}"
    return f"{name}: you usually reorder {_weeks(view.typical_interval_days)}; {timing} ({view.basis})."


def next_order_text(view: NextOrderView) -> str:
    if view.expected_next_order is None:
        return "I can't predict your next order yet: there isn't enough order history on your account."
    parts = [f"Based on your orders ({view.basis}), your next order would be around {_when(view.expected_next_order)}"]
    if view.window_start and view.window_end:
        parts.append(f" (between {_when(view.window_start)} and {_when(view.window_end)})")
    text = "".join(parts) + "."
    if view.expected_orders_90d is not None:
        text += f" We expect about {view.expected_orders_90d:.1f} orders from you in the next 90 days."
    return text


class ActionReorderWhen(ShopAction):
    """ "When should I reorder X?" from the customer's own purchase intervals."""

    action_name = "action_reorder_when"
    needs = frozenset({"identity"})

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: Optional[int]) -> list[EventType]:
        assert customer_id is not None
        product = latest_entity(tracker, "product")
        try:
            advice = services.reorder_advice(self.uow(), customer_id, product=product, limit=3)
        except NotFound:
            dispatcher.utter_message(
                response="utter_product_not_found", product=product or entity_or_slot(tracker, "product") or ""
            )
            return []
        if not advice:
            dispatcher.utter_message(response="utter_no_reorder_history")
            return []
        dispatcher.utter_message(response="utter_reorder_advice", advice=bullet_list(reorder_line(a) for a in advice))
        return []


class ActionNextOrderDue(ShopAction):
    action_name = "action_next_order_due"
    needs = frozenset({"identity"})

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: Optional[int]) -> list[EventType]:
        assert customer_id is not None
        view = services.next_order(self.uow(), customer_id)
        dispatcher.utter_message(response="utter_next_order", advice=next_order_text(view))
        return []


class ActionPrivacyData(ShopAction):
    """ "What data do you have about me?"."""

    action_name = "action_privacy_data"
    needs = frozenset({"identity"})

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: Optional[int]) -> list[EventType]:
        assert customer_id is not None
        summary = account.data_summary(self.uow(), customer_id)
        dispatcher.utter_message(response="utter_data_summary", summary=bullet_list(summary.lines()))
        return []


class ActionDeleteData(ShopAction):
    """ "Delete my data": after a yes, a verified deletion request the operators complete."""

    action_name = "action_delete_data"
    needs = frozenset({"identity"})

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: Optional[int]) -> list[EventType]:
        assert customer_id is not None
        if not confirmed(tracker, "delete"):
            dispatcher.utter_message(response="utter_confirm_delete")
            return [SlotSet("awaiting_confirmation", "delete")]
        request = account.request_deletion(
            self.uow(), customer_id, channel=str(tracker.get_latest_input_channel() or "rest")
        )
        response = "utter_deletion_already_requested" if request.existing else "utter_deletion_requested"
        dispatcher.utter_message(response=response, request_id=request.id)
        return []
