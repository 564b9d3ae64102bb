"""Resolving what a request needs: who the customer is, which order, which item, which product.

A mixin of :class:`actions.dialogue.manager.Dialogue`: each resolver either
returns what it found, or asks the customer (a question with a pick-list
where there are options) and returns ``None``.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Optional

from actions.base import bullet_list
from actions.dialogue import capabilities as can
from actions.dialogue.context import Context, button
from actions.dialogue.specs import (
    ASK_RESPONSES,
    KEPT_FOR_CORRECTION,
    MAX_IDENTITY_ATTEMPTS,
    RECENT_ORDERS,
    SPECS,
)
from actions.dialogue.state import DialogueState, Task
from actions.dialogue.understand import PRODUCT_PARTS, THAT_ONE, THE_PRODUCT_AGAIN, Turn, compares
from analytics.core.errors import IdentityNotVerified, InvalidInput, OrderNotFound
from analytics.core.text import name_terms
from analytics.security.throttle import TooManyAttempts
from analytics.usecases.catalogue_search import CLEAR_LEAD, MIN_COVERAGE, Linked, Listing, index_for
from analytics.usecases.identity import link_conversation, verify_identity
from analytics.usecases.orders import OrderDetail, OrderSummary, list_orders, order_of

logger = logging.getLogger(__name__)

#: Among an order's few lines, a line holding nearly every word said ("the green goose fether xmas tree", a
#: typo costing a little) is the one meant when it leads the next line by this much (the catalogue-wide lead is
#: :data:`~analytics.usecases.catalogue_search.CLEAR_LEAD`).
NEARLY_ALL_WORDS = 0.95
LEAD_ON_AN_ORDER = 0.1


class Resolution:
    """Identity, order, item and product resolution, and the questions that ask for them."""

    ctx: Context
    state: DialogueState
    turn: Turn
    _orders: Optional[list[OrderSummary]]

    def _remember(self, task: Task, memory: dict[str, Any]) -> None:
        raise NotImplementedError  # the dialogue remembers what an answer was about

    # ------------------------------------------------------------------ identity

    def _identity(self, task: Task) -> bool:
        """True when the customer is known; otherwise asks for (or checks) an e-mail and an order number."""
        if self.ctx.customer_id is not None:
            return True
        if self.state.identity_failures >= MAX_IDENTITY_ATTEMPTS:
            self.state.task = None
            self.ctx.say("utter_identity_locked")
            return False
        email = task.details.get("email")
        number = task.details.get("identity_order") or task.details.get("order")
        tried = task.details.get("tried") or {}
        # a retry that corrects one half ("sorry, that's my old email, try ...") keeps the other half
        if email and not number and tried.get("order") and email != tried.get("email"):
            number = tried["order"]
        if number and not email and tried.get("email") and number != tried.get("order"):
            email = tried["email"]
        if not email:
            self._ask(task, "email")
            return False
        if not number:
            self._ask(task, "identity_order")
            return False
        try:
            customer = verify_identity(
                self.ctx.uow(),
                email,
                number,
                attempts=self.ctx.identity_attempts,
                conversation=self.ctx.sender_id,
                client=self.ctx.client,
            )
        except TooManyAttempts as exc:
            # too many failures for this address, customer, client or conversation, whichever conversation
            # they were in: nothing is checked until the window has passed
            self.state.task = None
            logger.warning("identity check refused in %s: too many failures (%s)", self.ctx.sender_id, exc.scope)
            self.ctx.say("utter_identity_too_many", minutes=max(1, -(-exc.retry_after // 60)))
            return False
        except InvalidInput:
            task.details.pop("email", None)
            self.ctx.say("utter_invalid_email")
            self._ask(task, "email", repeat=True)
            return False
        except IdentityNotVerified:
            self.state.identity_failures += 1
            task.details["tried"] = {"email": email, "order": number}
            for key in ("email", "identity_order"):
                task.details.pop(key, None)
            if task.details.get("order") == number:
                task.details.pop("order")
            logger.info("identity not verified in %s (attempt %d)", self.ctx.sender_id, self.state.identity_failures)
            if self.state.identity_failures >= MAX_IDENTITY_ATTEMPTS:
                self.state.task = None
                self.ctx.say("utter_identity_locked")
                return False
            self.ctx.say("utter_identity_failed")
            self._ask(task, "email", repeat=True)
            return False
        self.ctx.customer_id = customer.id
        self.ctx.customer_name = customer.name
        self.state.identity_failures = 0
        try:
            link_conversation(self.ctx.uow(), self.ctx.sender_id, customer.id, self.ctx.channel, self.ctx.now)
        except Exception:
            logger.exception("could not link conversation %s", self.ctx.sender_id)
        self.ctx.say("utter_identity_verified", name=customer.name.split()[0])
        return True

    # ------------------------------------------------------------------ orders

    def _recent(self) -> list[OrderSummary]:
        if self._orders is None:
            assert self.ctx.customer_id is not None
            self._orders = list_orders(self.ctx.uow(), self.ctx.customer_id, limit=RECENT_ORDERS)
        return self._orders

    def _own_order(self, number: str) -> Optional[OrderDetail]:
        assert self.ctx.customer_id is not None
        try:
            return order_of(self.ctx.uow(), self.ctx.customer_id, number)
        except (OrderNotFound, InvalidInput):
            self.ctx.say("utter_order_not_found", order_number=number)
            return None

    def _order(self, task: Task) -> Optional[OrderDetail]:
        """The order the task is about (asks, or says "not found", and returns None otherwise)."""
        d = task.details
        number = d.get("order")
        if number:
            order = self._own_order(str(number))
            if order is None:
                self.state.task = None
                # "sorry, typo: 577092" repeats the request with what else it said (item, reason, address)
                self.state.last = Task(task.name, {k: v for k, v in d.items() if k in KEPT_FOR_CORRECTION})
            return order
        if d.get("other_than"):
            other = self._other_order(str(d["other_than"]))
            if other is not None:
                return self._pin(task, other)
        if d.get("latest"):
            recent = self._recent()
            if not recent:
                self.state.task = None
                self.ctx.say("utter_no_orders")
                return None
            return self._pin(task, recent[0].number)
        default = SPECS[task.name].order_default
        if default == "returnable":
            return self._returnable_order(task)
        if self.state.order and (
            d.get("refers_back") or task.name in ("order_status", "track_order", "delivery_estimate")
        ):
            return self._pin(task, self.state.order)
        recent = self._recent()
        if not recent:
            self.state.task = None
            self.ctx.say("utter_no_orders")
            return None
        if self.state.order and task.name in ("cancel_order", "change_address"):
            return self._pin(task, self.state.order)
        if default == "newest":
            return self._pin(task, recent[0].number)
        if default == "newest_unfinished":
            open_ = [o for o in recent if o.status in ("processing", "shipped")]
            return self._pin(task, (open_ or recent)[0].number)
        if default == "newest_open":
            open_ = [o for o in recent if o.status == "processing"]
            return self._pin(task, (open_ or recent)[0].number)
        self._ask_order(task, recent)
        return None

    def _other_order(self, current: str) -> Optional[str]:
        """ "my other order, the older one": the newest order placed before ``current`` (else the newest other)."""
        recent = self._recent()
        placed = next((o.placed_at for o in recent if o.number == current), None)
        others = [o for o in recent if o.number != current]
        older = [o for o in others if placed is None or o.placed_at <= placed]
        return (older or others)[0].number if others else None

    def _pin(self, task: Task, number: str) -> Optional[OrderDetail]:
        task.details["order"] = number
        return self._own_order(number)

    def _returnable_order(self, task: Task) -> Optional[OrderDetail]:
        """For a return with no order named: the order it was talked about, or the newest one holding the item."""
        d = task.details
        if self.state.order and (d.get("refers_back") or not d.get("item")):
            return self._pin(task, self.state.order)
        recent = self._recent()
        delivered = [o for o in recent if o.status == "delivered"]
        if not recent:
            self.state.task = None
            self.ctx.say("utter_no_orders")
            return None
        item = d.get("item")
        if item:
            index = index_for(self.ctx.uow())
            for summary in delivered or recent:
                order = order_of(self.ctx.uow(), self.ctx.customer_id or 0, summary.number)
                if index.link(item, within=[line.sku for line in order.lines]).candidates:
                    d["order"] = order.number
                    return order
        if len(delivered or recent) == 1:
            return self._pin(task, (delivered or recent)[0].number)  # the only order it can be: no pick-list of one
        self._ask_order(task, delivered or recent)
        return None

    def _ask_order(self, task: Task, options: list[OrderSummary]) -> None:
        shown = options[:5]
        task.asked = "order"
        self.state.task = task
        self.state.choices = {"for": "order", "options": [{"value": o.number, "label": o.number} for o in shown]}
        self.ctx.say(
            "utter_ask_order",
            orders=bullet_list(can.order_line(o) for o in shown),
            buttons=[button(o.number, "inform", order_number=o.number) for o in shown],
        )

    def _item(self, task: Task, order: OrderDetail) -> Optional[str]:
        """The SKU of the order line the customer means (asks which when unsure)."""
        d = task.details
        skus = [line.sku for line in order.lines]
        if d.get("item_sku") in skus:
            return str(d["item_sku"])
        if d.get("product_sku") in skus:
            return str(d["product_sku"])
        if d.get("item"):
            query = " ".join(str(d["item"]).split())
            reason = " ".join(str(d.get("reason") or "").split())
            rest = " ".join(query.replace(reason, " ").split()) if reason and reason in query else ""
            index = index_for(self.ctx.uow())
            linked = index.link(query, within=skus)
            without = index.link(rest, within=skus) if rest else None
            one = linked.pick() or _nearly_all_words(linked)
            if one is None and without is not None and (without.pick() is not None or len(without.options()) > 1):
                # "the lunch box from 580137, the lid is broken": the lid is what is wrong, not the item
                linked, one = without, without.pick()
            # judged on the item's own words when they alone find that line ("the jigsaw, a piece is missing")
            own_words = rest if without is not None and one is not None and without.pick() == one else query
            other = self._not_on_order(own_words, one, skus)
            if other is not None:
                # "the spaceboy lunch box from 579530": not the order's "Box Of 6 Assorted Colour Teaspoons"
                self.ctx.say("utter_item_not_on_order", item=other.name, order_number=order.number)
                one, linked = None, Linked(query, (), ())
            if one is not None:
                d["item_sku"] = one.sku
                return one.sku
            options = linked.options(limit=5)
            if len(options) > 1:
                self._ask_item(task, order, options)
                return None
            if linked.named:
                self.ctx.say("utter_item_not_on_order", item=", ".join(linked.named), order_number=order.number)
        focus = next((s for s in skus if s.upper() == str(self.state.product or "").upper()), None)
        if focus is not None and not d.get("item") and THE_PRODUCT_AGAIN.search(self.turn.text):
            # "how much are chilli lights" ... "i got some in my last order and they're faulty": those
            d["item_sku"] = focus
            return focus
        names = {line.sku: line.name for line in order.lines}
        listed = [Listing(0, sku, names[sku], "", line.unit_price, True, 0) for sku, line in zip(skus, order.lines)]
        self._ask_item(task, order, list({item.sku: item for item in listed}.values())[:5])
        return None

    def _not_on_order(self, query: str, found: Optional[Listing], skus: list[str]) -> Optional[Listing]:
        """The product the words name better than the order line they were matched to, when it is not on
        the order (else None): words are matched to the order's lines first, so a few shared words ("box")
        would otherwise stand for a product the customer never named."""
        if found is None:
            return None
        index = index_for(self.ctx.uow())
        line, anywhere = index.link(query, within=[found.sku]), index.link(query)
        if set(line.named) >= set(anywhere.named) and line.candidates and line.candidates[0].coverage > 1 - 1e-9:
            # the line holds every word said ("the deluxe sewing kit" of "Vintage Doily Deluxe Sewing Kit"),
            # even if another product is called exactly that: the customer named their own line
            return None
        elsewhere = anywhere.pick()
        if elsewhere is None or elsewhere.sku in skus:
            return None
        better: Optional[Listing] = index.link(query, within=[found.sku, elsewhere.sku]).pick()
        return elsewhere if better is not None and better.sku == elsewhere.sku else None

    def _ask_item(self, task: Task, order: OrderDetail, options: list[Listing]) -> None:
        task.asked = "item"
        self.state.task = task
        self.state.choices = {
            "for": "item",
            "options": [{"value": o.sku, "label": o.name} for o in options],
            "pool": sorted({line.sku for line in order.lines}),
        }
        self.ctx.say(
            "utter_ask_item",
            order_number=order.number,
            items=bullet_list(o.name for o in options),
            buttons=[button(o.name, "inform", product=o.sku) for o in options],
        )

    # ------------------------------------------------------------------ products

    def _products(self, task: Task) -> list[Listing]:
        """The product(s) a product question is about; asks which, lists a kind, or says not found."""
        d = task.details
        index = index_for(self.ctx.uow())
        chosen = d.get("product_sku")
        if chosen and str(chosen).upper() in index.by_sku:
            return [index.by_sku[str(chosen).upper()]]
        query = d.get("product_query")
        if not query:
            if self.state.product and self.state.product in index.by_sku:
                return [index.by_sku[self.state.product]]  # "got anything similar?", "how much is it?"
            listed = [index.by_sku[s] for s in self.state.shown if s in index.by_sku]
            if listed and task.name in ("similar_products", "bought_together"):
                return listed  # "what goes with it" just after a list: with that kind of product
            category = d.get("category")
            if category:
                listed = [p for p in index.listings if p.category == category and p.in_stock]
                self.state.task = None
                self._remember(task, can.products_of_kind(self.ctx, sorted(listed, key=lambda p: -p.popularity)[:5]))
                return []
            self._ask(task, "product")
            return []
        linked = index.link(str(query))
        focus = index.by_sku.get(str(self.state.product or "").upper())
        if focus is not None and task.name in ("similar_products", "bought_together") and not linked.names_something:
            return [focus]  # "is there anything similar i could get instead": like the product talked about
        if task.name == "product_info" and compares(str(query)):
            several = self._several(str(query), index)  # "which is cheaper, X or Y": both, with their prices
            if several:
                return several
        one = linked.pick() or self._in_context(str(query), index) or self._among_shown(str(query), index)
        if one is not None:
            return [one]
        if task.name == "product_info":
            several = self._several(str(query), index)
            if several:
                return several
            if d.get("kind") and self._kinds(str(query), index, task):
                return []
        options = linked.options(limit=5)
        if task.name == "product_info" and not d.get("kind") and len(options) == 1:
            options = self._close_to_best(linked)
        if not options:
            self.state.task = None
            self.ctx.say("utter_product_not_found")
            return []
        if task.name != "product_info" or (len(options) == 1 and not d.get("kind")):
            return options
        self.state.task = None
        if d.get("kind"):
            pool = [c.listing.sku for c in linked.best_group]
            self._remember(task, can.products_of_kind(self.ctx, options, pool))
            return []
        self._remember(task, can.which_product(self.ctx, options))
        return []

    def _in_context(self, query: str, index: Any) -> Optional[Listing]:
        """A variant of the product talked about: "the ivory one", "do you do them in red", "that doormat".

        The candidates are the product's family: names that differ from its
        name by at most one word (other colours, patterns, sizes of one design).
        """
        focus = index.by_sku.get(str(self.state.product or "").upper())
        if focus is None:
            return None
        own = set(name_terms(focus.name).words)
        family = [
            item.sku for item in index.listings if len(own & set(name_terms(item.name).words)) >= max(1, len(own) - 1)
        ]
        whole = index.link(query, limit=len(index.listings))
        nearest = max((c.coverage for c in whole.candidates if c.listing.sku in set(family)), default=0.0)
        if whole.names_something and whole.candidates and whole.candidates[0].coverage > nearest + 1e-9:
            return None  # "any christmas doormats" after the union flag one: other products fit the words better
        linked = index.link(query, within=family)
        one: Optional[Listing] = linked.pick()
        if one is None and linked.best_group:
            # "the large one" of the Glass Cloche Large: of the family's large things, the nearest to it
            shared = {c.listing.sku: len(own & set(name_terms(c.listing.name).words)) for c in linked.best_group}
            most = max(shared.values())
            nearest = [sku for sku, count in shared.items() if count == most]
            if len(nearest) == 1 and linked.best_group[0].coverage >= MIN_COVERAGE:
                one = index.by_sku[nearest[0]]
        return one

    def _among_shown(self, query: str, index: Any) -> Optional[Listing]:
        """ "how much are the santas ones" just after a list: the listed product it names."""
        if not self.state.shown or self._names_another(query, self.state.shown):
            return None
        one: Optional[Listing] = index.link(query, within=self.state.shown).pick()
        return one

    def _names_another(self, text: str, pool: list[str]) -> bool:
        """Whether ``text`` fits products outside ``pool`` better than any inside it."""
        linked = index_for(self.ctx.uow()).link(text)
        best = linked.best_group
        # "the red one" names nothing by itself (one everyday word): it can only pick from the pool
        return linked.names_something and bool(best) and not any(c.listing.sku in pool for c in best)

    def _kinds(self, query: str, index: Any, task: Task) -> bool:
        """ "do you do hot water bottles and hand warmers?": a short list for each kind named."""
        parts = [p for p in re.split(r"\band\b|,|&|\bor\b|\+", query) if p.strip()]
        groups = [index.link(p).options(limit=3) for p in parts] if len(parts) > 1 else []
        if len(groups) < 2 or not all(groups):
            return False
        self.state.task = None
        self._remember(task, can.products_of_kind(self.ctx, [item for group in groups for item in group]))
        return True

    @staticmethod
    def _close_to_best(linked: Linked) -> list[Listing]:
        """When one product fits best but not clearly: it and those nearly as good to choose from, the one
        product when it fits well on its own, or nothing (a pick-list of one is no question)."""
        top = linked.candidates[0]
        close = [
            c.listing
            for c in linked.candidates[:5]
            if c.coverage >= MIN_COVERAGE and top.coverage - c.coverage < CLEAR_LEAD
        ]
        if len(close) > 1:
            return close
        return [top.listing] if top.coverage >= MIN_COVERAGE else []

    @staticmethod
    def _product_parts(query: str, index: Any) -> list[str]:
        """The parts of ``query`` that may each name a product, split at "and", commas, "or", "vs" ... except
        where the words on both sides make one product's name ("the gin and tonic mugs, and the pottering
        mug": "Gin And Tonic Mug" is one product)."""
        pieces = re.split(f"({PRODUCT_PARTS.pattern})", query, flags=re.IGNORECASE)
        parts, separators = pieces[0::2], pieces[1::2]
        out = [parts[0]]
        for separator, part in zip(separators, parts[1:]):
            joined = f"{out[-1]}{separator}{part}"
            one = index.link(joined).pick() if separator.strip().lower() in ("and", "&") else None
            if one is not None and re.search(r"\band\b|&", one.name, re.IGNORECASE) and part.strip():
                out[-1] = joined
            else:
                out.append(part)
        return [p for p in out if p.strip()]

    def _several(self, query: str, index: Any) -> list[Listing]:
        """ "the spaceboy lunch box and the dolly girl lunch box", "which is cheaper, X or Y", "X vs Y":
        each product, when every part that names something names one.

        A part that names nothing by itself ("the small", "the pink one") can only mean a variant of the
        product talked about, or one of those just listed; parts with no product words ("which is
        cheaper") are left out.
        """
        parts = self._product_parts(query, index)
        if len(parts) < 2:
            return []
        found: list[Listing] = []
        focus = index.by_sku.get(str(self.state.product or "").upper())
        for part in parts:
            linked = index.link(part)
            if not linked.named:
                if focus is not None and THAT_ONE.search(part):
                    found.append(focus)  # "is that cheaper than the large one": the product talked about
                continue
            one = linked.pick()
            if one is None and not linked.names_something:
                one = self._in_context(part, index) or self._among_shown(part, index)
            if one is None:
                return []
            found.append(one)
        distinct = list({item.sku: item for item in found}.values())
        return distinct if len(distinct) > 1 else []

    # ------------------------------------------------------------------ questions

    def _ask(self, task: Task, what: str, repeat: bool = False) -> None:
        task.asked = what
        self.state.task = task
        if what == "order":
            self._ask_order(task, self._recent()[:5] if self.ctx.customer_id is not None else [])
            return
        if what == "item":
            order_number = task.details.get("order")
            if order_number and self.ctx.customer_id is not None:
                order = self._own_order(str(order_number))
                if order is not None:
                    self._item(task, order)
            return
        if what in ("product",) and self.state.choices and self.state.choices.get("for") == "product":
            options = self.state.choices.get("options") or []
            # asked again after an aside: one line (the buttons are still above)
            self.ctx.say("utter_ask_product_choice", items=" or ".join(str(o["label"]) for o in options))
            return
        if what == "address" and task.details.get("order"):
            # the order may have been chosen for them (the newest that can still change): say which
            self.ctx.say("utter_ask_address_for", order_number=str(task.details["order"]))
            return
        self.ctx.say(ASK_RESPONSES[what])


def _nearly_all_words(linked: Linked) -> Optional[Listing]:
    """The order line that holds nearly every word said, clearly ahead of the order's other lines, or None."""
    if not linked.candidates:
        return None
    top = linked.candidates[0]
    runner_up = linked.candidates[1].coverage if len(linked.candidates) > 1 else 0.0
    if top.coverage >= NEARLY_ALL_WORDS and top.coverage - runner_up >= LEAD_ON_AN_ORDER:
        return top.listing
    return None
