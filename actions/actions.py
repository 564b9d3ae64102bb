"""Order actions."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import store
from analytics import services
from analytics.errors import InvalidInput, OrderNotFound

logger = logging.getLogger(__name__)


def _date(value: Any) -> str:
    return value.strftime("%A %d %B %Y") if value else "unknown"


class ActionOrderStatus(Action):
    """Answer "where is my order N?" from the store."""

    def name(self) -> str:
        return "action_order_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        number = next(tracker.get_latest_entity_values("order_number"), None) or tracker.get_slot("order_number")
        if not number:
            dispatcher.utter_message(response="utter_ask_order_number")
            return []
        try:
            view = services.order_status(store.unit_of_work(), str(number))
        except (OrderNotFound, InvalidInput):
            dispatcher.utter_message(response="utter_order_not_found", order_number=number)
            return [SlotSet("order_number", None)]
        except Exception:
            logger.exception("order lookup failed for %r", number)
            dispatcher.utter_message(response="utter_store_unavailable")
            return []
        dispatcher.utter_message(
            response=f"utter_order_{view.status}",
            order_number=view.number,
            placed_on=_date(view.placed_at),
            items=view.item_count,
            carrier=view.carrier or "our courier",
            tracking_number=view.tracking_number or "not yet available",
            eta=_date(view.estimated_delivery),
            delivered_on=_date(view.delivered_at),
        )
        return [SlotSet("order_number", view.number)]
