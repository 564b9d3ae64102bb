"""Products: recommendations, similar products, what goes together, price and availability."""

from __future__ import annotations

import contextlib
from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import ShopAction, bullet_list, entity_or_slot, latest_entity, money, parse_amount
from analytics import account, recommendations
from analytics.errors import InvalidInput, NotFound
from analytics.recommendations import SuggestionList


def _cards(suggestions: SuggestionList) -> dict[str, Any]:
    """Product cards for channels that show them (the web chat); text channels use the list."""
    return {
        "products": [
            {"sku": s.sku, "name": s.name, "price": round(s.price, 2), "category": s.category, "reason": s.reason}
            for s in suggestions.items
        ]
    }


def _show(dispatcher: CollectingDispatcher, response: str, suggestions: SuggestionList, **kwargs: Any) -> list[str]:
    if not suggestions.items:
        dispatcher.utter_message(response="utter_no_suggestions")
        return []
    lines = [f"{s.name.capitalize()} — £{money(s.price)} ({s.reason})" for s in suggestions.items]
    dispatcher.utter_message(response=response, items=bullet_list(lines), **kwargs)
    dispatcher.utter_message(json_message=_cards(suggestions))
    return [s.sku for s in suggestions.items]


class _ProductAction(ShopAction):
    needs = frozenset({"product"})

    def resolve(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Optional[Any]:
        query = entity_or_slot(tracker, "product") or ""
        try:
            return account.product_info(self.uow(), query)
        except (NotFound, InvalidInput):
            dispatcher.utter_message(response="utter_product_not_found", product=query)
            return None


class ActionRecommend(ShopAction):
    """ "What should I get?", "a gift under £20", "kitchen ideas": personal for known customers."""

    action_name = "action_recommend"

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: Optional[int]) -> list[EventType]:
        max_price = parse_amount(latest_entity(tracker, "amount"))
        category = latest_entity(tracker, "category")
        mentioned = []
        product = latest_entity(tracker, "product")
        if product:
            with contextlib.suppress(NotFound):
                mentioned.append(account.product_info(self.uow(), product).sku)
        try:
            suggestions = recommendations.recommend_for(
                self.uow(),
                customer_id,
                n=5,
                max_price=max_price,
                category=category,
                mentioned_skus=mentioned,
            )
        except InvalidInput:
            suggestions = recommendations.recommend_for(self.uow(), customer_id, n=5)
        _show(dispatcher, "utter_recommendations", suggestions)
        return []


class ActionSimilarProducts(_ProductAction):
    action_name = "action_similar_products"

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: Optional[int]) -> list[EventType]:
        product = self.resolve(dispatcher, tracker)
        if product is None:
            return [SlotSet("product", None)]
        _show(dispatcher, "utter_similar", recommendations.similar_to(product.sku, n=5), product=product.name.lower())
        return [SlotSet("product", product.name.lower())]


class ActionBoughtTogether(_ProductAction):
    action_name = "action_bought_together"

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: Optional[int]) -> list[EventType]:
        product = self.resolve(dispatcher, tracker)
        if product is None:
            return [SlotSet("product", None)]
        together = recommendations.bought_together([product.sku], n=5)
        if not together.items:
            # no strong rule for this product: similar products are the honest next best
            together = recommendations.similar_to(product.sku, n=5)
            _show(dispatcher, "utter_similar", together, product=product.name.lower())
        else:
            _show(dispatcher, "utter_bought_together", together, product=product.name.lower())
        return [SlotSet("product", product.name.lower())]


class ActionProductInfo(_ProductAction):
    action_name = "action_product_info"

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: Optional[int]) -> list[EventType]:
        product = self.resolve(dispatcher, tracker)
        if product is None:
            return [SlotSet("product", None)]
        dispatcher.utter_message(
            response="utter_product_info",
            name=product.name.capitalize(),
            sku=product.sku,
            price=money(product.price),
            availability=product.availability,
        )
        return [SlotSet("product", product.name.lower())]
