"""Answers to the bot's own questions: yes/no, a detail it asked for, or an aside in between.

A mixin of :class:`actions.dialogue.manager.Dialogue` (see its docstring for the order of decisions).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Optional

from actions.dialogue import capabilities as can
from actions.dialogue.resolve import Resolution
from actions.dialogue.specs import (
    DIGRESSION_CONFIDENCE,
    ORDER_INTENTS,
    PRODUCT_INTENTS,
    SMALL_TALK,
    SPECS,
)
from actions.dialogue.state import Task
from actions.dialogue.understand import (
    address_in,
    email_in,
    in_catalogue_sizes,
    is_correction,
    is_question,
    names_a_problem,
    order_numbers,
    ordinal_choice,
    reason_in,
    refuses,
    says_yes,
    wants_to_stop,
)
from analytics.usecases.catalogue_search import MIN_COVERAGE, Listing, index_for

logger = logging.getLogger(__name__)


class Questions(Resolution):
    """Handling a message while the bot waits for an answer."""

    def _on_request(self, intent: str) -> None:
        raise NotImplementedError

    def _secondary(self, main: str) -> None:
        raise NotImplementedError

    def _run(self, task: Task) -> None:
        raise NotImplementedError

    def _details(self, name: str, asked: str = "", text: Optional[str] = None) -> dict[str, Any]:
        raise NotImplementedError

    def _handoff(self, reason: str) -> None:
        raise NotImplementedError

    def _then(self, requests: list[Any], order: Optional[str] = None) -> None:
        raise NotImplementedError

    def _offer_human(self, reason: str) -> None:
        raise NotImplementedError

    def _paused(self) -> bool:
        raise NotImplementedError

    # ------------------------------------------------------------------ yes / no

    def _on_confirmation(self, intent: str) -> bool:
        confirm = self.state.confirm or {}
        what = confirm.get("what")
        same_request = {
            "cancel": "cancel_order",
            "delete": "delete_data",
            "offer": "accept_offer",
            "handoff": "human_handoff",
        }
        no = intent == "deny" or wants_to_stop(self.turn.text) or refuses(self.turn.text)
        # "actually no, dont cancel it" reads like a cancel request: a no is never taken for a yes
        asked_again = intent == same_request.get(str(what)) and not says_yes(self.turn.text)
        if not no and asked_again and what == "cancel" and is_question(self.turn.text):
            # "right, can you cancel my latest order" after an aside: the request asked anew, asked back (an order
            # is cancelled on a yes, or on "cancel it", never on a question)
            self.state.confirm = None
            self._run(Task("cancel_order", self._details("cancel_order")))
            return True
        yes = not no and (intent == "affirm" or intent == same_request.get(str(what)) or says_yes(self.turn.text))
        if yes:
            numbers = order_numbers(self.turn)
            self.state.confirm = None
            if what == "cancel" and numbers and numbers[0] != confirm.get("order"):
                # "yes, 537000" to "cancel 581580?": ask about 537000 rather than cancel either
                self._run(Task("cancel_order", {"order": numbers[0]}))
                return True
            self._confirmed(confirm)
            return True
        if no:
            self.state.confirm = None
            if what == "cancel":
                self.ctx.say("utter_keep_order", order_number=confirm.get("order"))
            elif what == "delete":
                self.ctx.say("utter_deletion_cancelled")
            else:
                self.ctx.say("utter_anything_else")
            return True
        self.state.confirm = None
        return False

    def _is_aside(self, intent: str) -> bool:
        """A confident question of another kind, asked while the bot waits for a yes or no."""
        if intent in ("inform", "nlu_fallback", "affirm", "deny", "human_handoff") or self.turn.confidence < 0.5:
            return False
        return (
            intent in ("faq", "thank", "bot_challenge", "help")
            or (intent in SPECS and "identity" not in SPECS[intent].needs)
            or intent in ("loyalty_status", "list_orders", "order_status", "track_order", "delivery_estimate")
        )

    def _digress_from_question(self, confirm: dict[str, Any], intent: str) -> None:
        """Answer an aside ("do you accept amex?") and ask the yes/no question again."""
        self.state.confirm = None
        before = len(self.ctx.replies)
        self._on_request(intent)
        if self.state.task is not None or self.state.confirm is not None or self._paused():
            return
        what = str(confirm.get("what"))
        labels = {
            "cancel": "cancellation",
            "delete": "request to delete your data",
            "offer": "offer",
            "handoff": "question",
        }
        self.ctx.say("utter_back_to", what=labels.get(what, "question"))
        if what == "cancel" and self.ctx.customer_id is not None:
            order = self._own_order(str(confirm.get("order") or ""))
            if order is not None:
                self._remember(
                    Task("cancel_order", {"order": order.number}), can.cancel_order(self.ctx, order, confirmed=False)
                )
        elif what == "delete":
            self.ctx.say("utter_confirm_delete")
            self.state.confirm = confirm
        elif what == "handoff":
            self._offer_human(str(confirm.get("reason") or "customer_request"))
        else:
            self.ctx.say("utter_apply_offer_question")
            self.state.confirm = confirm
        if len(self.ctx.replies) == before:
            self.state.confirm = confirm

    def _confirmed(self, confirm: dict[str, Any]) -> None:
        what = confirm.get("what")
        if what == "handoff":
            self._handoff(str(confirm.get("reason") or "customer_request"))
        elif what == "cancel" and self.ctx.customer_id is not None:
            order = self._own_order(str(confirm.get("order") or ""))
            if order is not None:
                self._remember(
                    Task("cancel_order", {"order": order.number}), can.cancel_order(self.ctx, order, confirmed=True)
                )
        elif what == "delete" and self.ctx.customer_id is not None:
            self._remember(Task("delete_data"), can.delete_data(self.ctx, confirmed=True))
        elif what == "offer" and self.ctx.customer_id is not None:
            self._remember(Task("accept_offer"), can.accept_offer(self.ctx, confirm.get("offer") or self.state.offer))
        else:
            self.ctx.say("utter_nothing_to_confirm")

    # ------------------------------------------------------------------ answers to a question

    def _on_answer(self, task: Task, intent: str) -> bool:
        """True when the message answered (or refused) the question; False: it is something else."""
        asked = task.asked or ""
        if intent == "goodbye" or wants_to_stop(self.turn.text) or (intent == "deny" and asked != "reason"):
            self.state.task = None
            self.state.choices = None
            bye = intent == "goodbye" or "bye" in self.turn.text.lower()
            self.ctx.say("utter_goodbye" if bye else "utter_form_stopped")
            # "ok never mind. how much is the retrospot lamp": the request after it is answered
            self._then(
                [
                    [name, clause]
                    for name, confidence, clause in self.turn.secondary
                    if name in SPECS and confidence >= DIGRESSION_CONFIDENCE and not wants_to_stop(clause)
                ][:2]
            )
            return True
        picked = self._pick_choice(asked)
        if picked is not None:
            task.details[asked if asked != "product" else "product_sku"] = picked
            # "the mrs robot one, she came with a ripped seam": the choice and what else it says
            also = self._details(task.name)
            task.details.update({k: also[k] for k in ("reason", "address") if k in also and k not in task.details})
            task.asked, task.tries = None, 0
            self.state.choices = None
            self._run(task)
            return True
        narrowed = self._narrowed(asked)
        if narrowed:
            # "the large one" of four listed, two of them large: those two, to choose from again
            self.state.task = None
            self.state.choices = None
            self._remember(task, can.which_product(self.ctx, narrowed))
            return True
        if self._is_digression(task, intent):
            return False
        found = self._details(task.name, asked=asked)
        if asked == "reason" and "item" in found and is_correction(self.turn.text):
            # "oh actually not that one, the keep calm one": another item, and the reason is still to come
            # unless the message also gives one ("... it has a tear")
            task.details.pop("item_sku", None)
            task.details.pop("product_sku", None)
            found.pop("reason", None)
            reason = reason_in(self.turn.text)
            if reason:
                found["reason"] = reason
        if asked == "identity_order" and task.details.get("latest"):
            found.pop("order", None)  # "my last order" stays the last one, whatever number proves who they are
        if found:
            task.details.update(found)
            answered = asked in found or (asked == "identity_order" and "order" in found)
            task.asked = None if answered else task.asked
            task.tries = 0 if answered else task.tries
            if answered:
                self.state.choices = None
            self._run(task)
            return True
        task.tries += 1
        if task.tries >= 2:
            self.state.task = None
            self.state.choices = None
            self.ctx.say("utter_gave_up_asking", what=SPECS[task.name].label)
            return True
        if asked in ("order", "identity_order") and re.search(r"\d{3,}", self.turn.text):
            self.ctx.say("utter_invalid_order_number")  # digits, but not an order number: say what one looks like
            if asked == "identity_order":
                return True
        else:
            self.ctx.say("utter_did_not_get_that")
        self._ask(task, asked)
        return True

    def _is_digression(self, task: Task, intent: str) -> bool:
        if intent in ("inform", "nlu_fallback", "affirm", "deny") or intent == task.name:
            return False
        if task.asked == "reason" and (intent in ("complain", "return_request") or self.turn.confidence < 0.8):
            return False  # a reason is free text: only a clear other request interrupts it
        if task.asked == "reason" and names_a_problem(self.turn.text):
            return False  # "the wall tidy from 579123 arrived with a bent hook": the reason, whatever else it names
        if self.turn.confidence < DIGRESSION_CONFIDENCE:
            return False
        # an answer typed as its own sentence ("it's 12 High St, Leeds LS1 4AB") is still the answer
        if task.asked == "address" and address_in(self.turn.text, whole=True):
            return False
        if task.asked in ("email",) and email_in(self.turn):
            return False
        if task.asked in ("order", "identity_order") and order_numbers(self.turn) and intent not in ORDER_INTENTS:
            return False
        return intent in SPECS or intent in SMALL_TALK or intent in ("faq", "greet", "complain")

    def _digress(self, pending: Task, intent: str) -> None:
        """Answer an unrelated question, then come back to the pending one (or say it was put aside)."""
        self.state.task = None
        choices, self.state.choices = self.state.choices, None
        before = len(self.ctx.replies)
        self._on_request(intent)
        self._secondary(intent)
        if pending.name in PRODUCT_INTENTS and intent in PRODUCT_INTENTS:
            return  # a new product question: "which one did you mean?" is moot
        if self.state.task is not None or self.state.confirm is not None or self._paused():
            self.ctx.replies.insert(before, {"response": "utter_put_aside", "what": SPECS[pending.name].label})
            return
        self.state.task = pending
        self.state.choices = choices
        self.ctx.say("utter_back_to", what=SPECS[pending.name].label)
        self._ask(pending, pending.asked or "", repeat=True)

    def _narrowed(self, asked: str) -> list[Listing]:
        """The products just listed that the answer fits, when it fits more than one but fewer than all."""
        choices = self.state.choices
        if asked != "product" or not choices or choices.get("for") != "product":
            return []
        values = [str(o["value"]) for o in choices.get("options") or [] if isinstance(o, dict) and o.get("value")]
        index = index_for(self.ctx.uow())
        linked = index.link(in_catalogue_sizes(self.turn.text), within=values)
        group = [c.listing for c in linked.best_group if c.coverage >= MIN_COVERAGE]
        return group if 1 < len(group) < len(values) else []

    def _pick_choice(self, asked: str) -> Optional[str]:
        choices = self.state.choices
        if not choices or choices.get("for") != asked:
            return None
        options = [o for o in choices.get("options") or [] if isinstance(o, dict) and o.get("value")]
        values = [str(o["value"]) for o in options]
        mentioned = [*self.turn.entities.get("product", []), *order_numbers(self.turn)]
        for value in mentioned:
            if value.upper() in (v.upper() for v in values):
                return next(v for v in values if v.upper() == value.upper())
        position = ordinal_choice(self.turn.text, len(values))
        if position is not None:
            return values[position]
        if asked in ("item", "product"):
            pool = [str(v) for v in choices.get("pool") or values]  # e.g. every line of the order, not only those shown
            index = index_for(self.ctx.uow())
            if asked == "product" and self._names_another(self.turn.text, pool):
                return None  # a new question, not a choice
            if asked == "item" and is_question(self.turn.text) and self._names_another(self.turn.text, pool):
                return None  # "how much is the regency cakestand?" asked in between: not a line of the order
            linked = index.link(self.turn.text, within=pool)
            one = linked.pick() or index.link(in_catalogue_sizes(self.turn.text), within=values).pick()
            if one is not None:  # ("the big one": the Large of those listed)
                return one.sku
            # "the vintage ones" fits several lines of the order, but one of the options just listed
            best = {c.listing.sku for c in linked.best_group}
            listed = index.link(self.turn.text, within=values).pick()
            if listed is not None and listed.sku in best:
                return listed.sku
        return None
