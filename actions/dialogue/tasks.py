"""Running a task: the details a message gives a request, then its needs resolved in order and its answer.

A mixin of :class:`actions.dialogue.manager.Dialogue` (see its docstring for the order of decisions):
:meth:`Tasks._details` reads what a message says that a request can use; :meth:`Tasks._run` resolves
the request's needs (identity, order, item, reason, address, product; :mod:`actions.dialogue.resolve`
asks for what is missing), calls its handler (:mod:`actions.dialogue.capabilities`) and remembers
what was talked about for follow-ups.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Optional

from actions.base import parse_amount
from actions.dialogue import capabilities as can
from actions.dialogue.questions import Questions
from actions.dialogue.specs import (
    CHAT,
    ORDER_QUESTIONS,
    SPECS,
)
from actions.dialogue.state import Task
from actions.dialogue.understand import (
    BARE_NUMBER,
    ORDER_QUESTION,
    RETURN_QUESTION,
    address_in,
    asks_for_kind,
    checks_an_order,
    email_in,
    order_numbers,
    order_question_of,
    ordinal_choice,
    quantity_in,
    reason_in,
    refers_back,
    returned_thing,
    says_latest,
    says_other_order,
)
from analytics.core.text import EMAIL_IN_TEXT, terms
from analytics.usecases.addresses import address_refusal
from analytics.usecases.catalogue_search import Listing, index_for
from analytics.usecases.orders import OrderDetail
from analytics.usecases.returns import return_refusal

logger = logging.getLogger(__name__)

#: Several products holding (nearly) every word of an ideas request ("backpacks for kids?") are what it asks for.
KIND_COVERAGE = 0.9


class Tasks(Questions):
    """Reading a request's details from a message and running the request."""

    #: the requests run this turn (set by :class:`~actions.dialogue.manager.Dialogue`)
    _ran: set[str]

    # ------------------------------------------------------------------ details in a message

    def _details(self, name: str, asked: str = "", text: Optional[str] = None) -> dict[str, Any]:
        """What the message says that task ``name`` can use (``asked``: the detail the bot asked for)."""
        turn = self.turn
        text = self.turn.text if text is None else text
        needs = SPECS[name].needs if name in SPECS else ()
        found: dict[str, Any] = {}
        email = email_in(turn)
        if email:
            found["email"] = email
        numbers = order_numbers(turn) if text is turn.text else [n for n in order_numbers(turn) if n in text]
        if numbers:
            found["identity_order"] = numbers[0]  # proves who an anonymous customer is
            if "order" in needs:
                found["order"] = numbers[0]
        if "order" in needs and not numbers and len(self.state.orders) > 1:
            picked = ordinal_choice(text, len(self.state.orders))  # "the second one" of the orders just listed
            if picked is not None and not BARE_NUMBER.match(text):
                found["order"] = self.state.orders[picked]
        latest = says_latest(text) or (text is turn.text and says_latest(turn.normalised))
        if "order" in needs and latest and "order" not in found:
            found["latest"] = True
        if "order" in needs and "order" not in found and self.state.order and says_other_order(text):
            found.pop("latest", None)  # "my previous order" after talking about one: the one before it
            found["other_than"] = self.state.order
        if "order" in needs and refers_back(text) and not numbers:
            found["refers_back"] = True
        if "address" in needs:
            address = address_in(text, whole=asked == "address")
            if address:
                found["address"] = address
        if "reason" in needs:
            reason = reason_in(text, whole=asked == "reason", starts_return=name == "return_request" and not asked)
            if reason:
                found["reason"] = reason
        if "item" in needs:
            # an e-mail address names no product ("mei.rossi...@example.com" is not the "rossi" mug)
            words = " ".join(EMAIL_IN_TEXT.sub(" ", text).split())
            thing = returned_thing(words) if name == "return_request" else None
            # "return the pencils from my last order": what is returned is an item, everyday word or not
            named = words and (self._mentions_product(words) or (thing and self._mentions_product(thing, loose=True)))
            if asked == "item" or named:
                found["item"] = words or text
        if "product" in needs and text is turn.text:
            text = self._asking_clause(name) or text
        if "product" in needs and (terms(text).words or self._product_codes(text)):
            # any word that is not chat ("a flux capacitor") is looked up, so an unknown product is "not found"
            found["product_query"] = text
            found["kind"] = asks_for_kind(text)
        quantity = quantity_in(turn)
        if quantity is not None and "item" in needs:
            found["quantity"] = quantity
        if name == "recommend_products":
            amount = parse_amount(turn.entity("amount"))
            if amount is not None:
                found["max_price"] = amount
            if turn.entity("category"):
                found["category"] = turn.entity("category")
            if self._mentions_product(text):
                found["product_query"] = text
            if turn.entity("product") and text is turn.text:
                found["product_kind"] = (turn.spans.get("product") or turn.entities["product"])[0]
        # "can I return items from order 575007? my email is ...": that request, once verified
        about_the_order = [
            [n, clause]
            for n, _, clause in turn.secondary
            if n in ("return_request", "cancel_order", "change_address") and any(x in clause for x in numbers)
        ]
        moves = any(n == "change_address" and c >= 0.2 for n, c in turn.ranking)
        if name == "identify" and numbers and not about_the_order and moves and address_in(text):
            # "please deliver order 581502 to 9 Harbour View, Falmouth TR11 3AZ instead. my email is ..."
            about_the_order = [["change_address", text]]
        if name == "identify" and numbers and not about_the_order and RETURN_QUESTION.search(text):
            about_the_order = [["return_request", text]]  # "can I return items from order 575007? my email is"
        if name == "identify" and about_the_order:
            found["then"] = about_the_order[:1]
        elif name == "identify" and ((numbers and ORDER_QUESTION.search(text)) or checks_an_order(text)):
            # "my email is ... and my order is 581502, where is it?", "i want to check an order, im ...":
            # answer it once verified (about the order that proved who they are, if it names none)
            found["then"] = [[order_question_of(text), text]]
        if name == "reorder_when" and turn.entity("product"):
            found["product_words"] = (turn.spans.get("product") or turn.entities["product"])[0]
        if "product" in needs and turn.entity("category") and "product_query" not in found:
            found["category"] = turn.entity("category")
        return found

    def _asking_clause(self, name: str) -> Optional[str]:
        """ "fine whatever. do you sell doormats": the clause that asks, when the others are only chat (an
        "ok", a thanks, a greeting), so their words ("fine") are not taken for a product's."""
        asking = [clause for n, confidence, clause in self.turn.secondary if n == name and confidence >= 0.9]
        chat = [clause for n, _, clause in self.turn.secondary if n in CHAT]
        return asking[0] if len(asking) == 1 and chat else None

    def _product_codes(self, text: str) -> list[str]:
        """The catalogue's product codes in the text ("and 22423")."""
        try:
            return index_for(self.ctx.uow()).skus_in(text)
        except Exception:
            logger.exception("catalogue search failed")
            return []

    def _mentions_product(self, text: str, *, loose: bool = False) -> bool:
        """Whether the text names something of the catalogue.

        Strict (when nothing else says the message is about a product): a word
        that is not everyday English, or a phrase of two catalogue words
        ("lunch bag"). Loose (a product question): any catalogue word.
        """
        try:
            linked = index_for(self.ctx.uow()).link(text)
        except Exception:
            logger.exception("catalogue search failed")
            return False
        return bool(linked.candidates) if loose else linked.names_something

    # ------------------------------------------------------------------ running a task

    def _run(self, task: Task) -> None:
        """Resolve the task's needs in order; ask for the first that is missing, or answer."""
        spec = SPECS[task.name]
        self.state.task = task
        self._ran.add(task.name)
        if "identity" in spec.needs and not self._identity(task):
            return
        order: Optional[OrderDetail] = None
        if "order" in spec.needs:
            order = self._order(task)
            if order is None:
                return
            if self._refused(task, order):
                return
        sku: Optional[str] = None
        if "item" in spec.needs:
            assert order is not None
            sku = self._item(task, order)
            if sku is None:
                return
        for need in ("reason", "address"):
            if need in spec.needs and not task.details.get(need):
                self._ask(task, need)
                return
        products: list[Listing] = []
        if "product" in spec.needs:
            products = self._products(task)
            if not products:
                return
        self.state.task = None
        self.state.choices = None
        self._answer(task, order, sku, products)
        then = task.details.pop("then", None)
        if then:
            self._then(then, order=task.details.get("order") or task.details.get("identity_order"))

    def _refused(self, task: Task, order: OrderDetail) -> bool:
        """Say at once when the order cannot have what is asked (before asking for more details)."""
        refused = None
        if task.name == "return_request":
            refused = return_refusal(
                order.number, order.status, order.delivered_at, order.return_deadline, self.ctx.now
            )
            response = "utter_cannot_return"
        elif task.name == "change_address":
            refused = address_refusal(order.number, order.status)
            response = "utter_cannot_change_address"
        if refused is None:
            return False
        self.state.task = None
        self.state.choices = None
        self.ctx.say(response, reason=str(refused))
        self._remember(Task(task.name, {k: v for k, v in task.details.items() if k != "then"}), {"order": order.number})
        return True

    def _answer(self, task: Task, order: Optional[OrderDetail], sku: Optional[str], products: list[Listing]) -> None:
        ctx, d = self.ctx, task.details
        handlers: dict[str, Callable[[], dict[str, Any]]] = {
            "identify": lambda: self._signed_in(),
            "order_status": lambda: can.order_status(ctx, order),  # type: ignore[arg-type]
            "track_order": lambda: can.track_order(ctx, order),  # type: ignore[arg-type]
            "delivery_estimate": lambda: can.delivery_estimate(ctx, order),  # type: ignore[arg-type]
            "list_orders": lambda: can.list_orders(ctx),
            "cancel_order": lambda: can.cancel_order(ctx, order, confirmed=False),  # type: ignore[arg-type]
            "change_address": lambda: can.change_address(ctx, order, d["address"]),  # type: ignore[arg-type]
            "return_request": lambda: can.request_return(ctx, order, sku or "", d["reason"], d.get("quantity")),  # type: ignore[arg-type]
            "recommend_products": lambda: self._recommend(task),
            "similar_products": lambda: can.similar_products(ctx, products, cheaper=bool(d.get("cheaper"))),
            "bought_together": lambda: can.bought_together(ctx, products),
            "product_info": lambda: [can.product_info(ctx, p) for p in products][-1],
            "loyalty_status": lambda: can.loyalty_status(ctx),
            "ask_offers": lambda: can.show_offer(ctx),
            "accept_offer": lambda: can.accept_offer(ctx, self.state.offer),
            "reorder_when": lambda: can.reorder_when(ctx, d.get("product_words")),
            "next_order_due": lambda: can.next_order_due(ctx),
            "privacy_data": lambda: can.privacy_data(ctx),
            "delete_data": lambda: can.delete_data(ctx, confirmed=False),
        }
        self._remember(task, handlers[task.name]())

    def _signed_in(self) -> dict[str, Any]:
        if not any(r.get("response") == "utter_identity_verified" for r in self.ctx.replies):
            self.ctx.say("utter_signed_in_as", name=self.ctx.customer_name or "you")
        return {}

    def _recommend(self, task: Task) -> dict[str, Any]:
        mentioned: list[str] = []
        kind = task.details.get("product_kind")
        if kind:
            # "looking for a hot water bottle for my nan, what have you got": that kind of product, not best sellers
            named = index_for(self.ctx.uow()).link(str(kind))
            options = named.options(limit=5)
            if named.pick() is None and len(options) > 1:
                return can.products_of_kind(self.ctx, options)
        query = task.details.get("product_query")
        if query:
            linked = index_for(self.ctx.uow()).link(query)
            one = linked.pick()
            if one is not None:
                mentioned.append(one.sku)
            options = linked.options(limit=5)
            if one is None and not kind and len(options) > 1 and linked.candidates[0].coverage >= KIND_COVERAGE:
                # "backpacks for kids?": the products its words name, not best sellers
                return can.products_of_kind(self.ctx, options)
        return can.recommend(
            self.ctx,
            max_price=task.details.get("max_price"),
            category=task.details.get("category"),
            mentioned=mentioned,
        )

    def _remember(self, task: Task, memory: dict[str, Any]) -> None:
        kept = {
            k: v
            for k, v in task.details.items()
            if k not in ("email", "identity_order", "refers_back", "other_than", "then", "tried")
        }
        kept.pop("topic", None)
        previous = self.state.last
        same_order = previous is not None and previous.details.get("order") == kept.get("order")
        if previous is not None and same_order and task.name in ORDER_QUESTIONS and previous.name in ORDER_QUESTIONS:
            # "when will it arrive?" after "where is 581334?": a detail of the same order; the talk is still
            # about where the orders are ("and the other one?")
            topic = previous.details.get("topic") or previous.name
            if topic != task.name:
                kept["topic"] = topic
        self.state.last = Task(task.name, kept)
        if memory.get("listed_orders"):
            self.state.orders = [str(n) for n in memory["listed_orders"]][:5]
        if memory.get("order"):
            self.state.order = memory["order"]
            if memory["order"] not in self.state.orders:
                self.state.orders = []
        if memory.get("product"):
            self.state.product = memory["product"]
        if "offer" in memory:
            self.state.offer = memory["offer"]
        self.state.shown = list(memory.get("shown") or [])
        if memory.get("confirm"):
            self.state.confirm = memory["confirm"]
        if memory.get("choices"):
            self.state.choices = memory["choices"]
            self.state.task = Task(task.name, task.details, asked=memory["choices"]["for"])
