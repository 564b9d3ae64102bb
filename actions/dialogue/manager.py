"""The conversation policy: what the assistant does with each customer message.

Rasa understands the message (intent, entities, the intents of its other
clauses); every message then comes here (one custom action,
``action_respond``), and :class:`Dialogue` decides, in this order:

1. **A person, now.** "Talk to a human" hands over at once, whatever was open.
2. **A yes/no question is open** (cancel this order? apply this offer?):
   "yes" does exactly what was asked (the order number is in the question,
   not in a slot that a later message could change); "no" leaves things as
   they are; "yes, 537000" asks again about 537000; anything else drops the
   question and is handled as a new message.
3. **The bot asked for a detail** (an e-mail, an order, an item, a reason, an
   address, which product): an answer, in any words, fills it and the request
   goes on; a choice from a list can be given by number, position or name;
   "never mind" drops the request; an unrelated question is answered, then the
   bot comes back to its question (or, when the new question needs details of
   its own, says it has put the old request aside); an answer it cannot use is
   asked for once more, then the request is dropped.
4. **A new message**: a follow-up or a correction ("and 581473?", "sorry, I
   meant 581473") repeats the last request with the new value; a request
   starts a task with every detail the message already gives (order number
   or "my last order", item, reason, new address, product); small talk and
   FAQs are answered; what is not understood is asked again, and twice in a
   row, or with strong negative sentiment, offers a person.
5. **More than one request**: the other clauses' confident requests are
   answered after the first.

A task resolves its needs in a fixed order: identity (a signed-in customer,
or an e-mail plus one of their order numbers, three tries), the order (the
number given, "my last order", the order talked about, or the default of the
capability, e.g. the newest open order to cancel; otherwise a short list to
pick from), the item on that order, the reason, the address, the product
(catalogue linking with typos; "which one?" when several fit). Then its
handler (:mod:`actions.dialogue.capabilities`) answers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from actions.base import bullet_list, parse_amount
from actions.dialogue import capabilities as can
from actions.dialogue.context import Context, button
from actions.dialogue.state import DialogueState, Task
from actions.dialogue.understand import (
    ORDER_QUESTION,
    ORDER_WORDS,
    WEAK_INTENT,
    Turn,
    address_in,
    asks_for_kind,
    asks_price,
    email_in,
    is_correction,
    is_follow_up,
    order_numbers,
    order_question_of,
    ordinal_choice,
    quantity_in,
    reason_in,
    refers_back,
    says_latest,
    wants_to_stop,
)
from analytics import account
from analytics.account import OrderDetail, OrderSummary
from analytics.catalog_search import Listing, index_for, name_terms, terms
from analytics.errors import IdentityNotVerified, InvalidInput, OrderNotFound

logger = logging.getLogger(__name__)

MAX_IDENTITY_ATTEMPTS = 3
#: An unrelated request must be at least this sure to interrupt a question the bot asked.
DIGRESSION_CONFIDENCE = 0.5
#: Confident requests that can follow another in the same message without a question of their own.
SECONDARY = frozenset(
    {
        "order_status",
        "track_order",
        "delivery_estimate",
        "list_orders",
        "loyalty_status",
        "ask_offers",
        "next_order_due",
        "reorder_when",
        "privacy_data",
        "recommend_products",
        "product_info",
    }
)
SMALL_TALK = {
    "goodbye": "utter_goodbye",
    "thank": "utter_welcome",
    "bot_challenge": "utter_iamabot",
    "out_of_scope": "utter_out_of_scope",
    "help": "utter_help",
}
RECENT_ORDERS = 10
THANKS = re.compile(r"\b(?:thanks|thank you|thank u|thx|ty|cheers|ta|much appreciated|appreciate it)\b", re.IGNORECASE)
BYE = re.compile(
    r"\b(?:bye|goodbye|ta-?ra|see ya|see you|laters|cya|that'?s all|that'?s it|that'?s everything)\b", re.I
)
CHEAPER = re.compile(r"\b(?:cheaper|less expensive|under|below|less than|budget|another|other|more)\b", re.IGNORECASE)
ORDER_QUESTIONS = ("order_status", "track_order", "delivery_estimate")
#: details a corrected order number keeps
KEPT_FOR_CORRECTION = frozenset({"item", "item_sku", "reason", "address", "quantity"})
#: requests that end with a yes/no question
ASKS_YES_NO = frozenset({"ask_offers", "cancel_order", "delete_data"})


@dataclass(frozen=True)
class Spec:
    """What a capability needs, how it picks an order by default, and what a follow-up can change."""

    needs: tuple[str, ...]
    label: str
    order_default: Optional[str] = None
    follows: Optional[str] = None


SPECS: dict[str, Spec] = {
    "identify": Spec(("identity",), "sign-in"),
    "order_status": Spec(("identity", "order"), "order question", "newest", "order"),
    "track_order": Spec(("identity", "order"), "tracking question", "newest", "order"),
    "delivery_estimate": Spec(("identity", "order"), "delivery question", "newest_unfinished", "order"),
    "list_orders": Spec(("identity",), "list of orders"),
    "cancel_order": Spec(("identity", "order"), "cancellation", "newest_open", "order"),
    "change_address": Spec(("identity", "order", "address"), "change of address", "newest_open", "order"),
    "return_request": Spec(("identity", "order", "item", "reason"), "return", "returnable", "order"),
    "recommend_products": Spec((), "suggestions"),
    "similar_products": Spec(("product",), "product question", follows="product"),
    "bought_together": Spec(("product",), "product question", follows="product"),
    "product_info": Spec(("product",), "product question", follows="product"),
    "loyalty_status": Spec(("identity",), "points question"),
    "ask_offers": Spec(("identity",), "offers question"),
    "accept_offer": Spec(("identity",), "offer"),
    "reorder_when": Spec(("identity",), "reorder question"),
    "next_order_due": Spec(("identity",), "next-order question"),
    "privacy_data": Spec(("identity",), "data question"),
    "delete_data": Spec(("identity",), "deletion request"),
}
ORDER_INTENTS = frozenset(name for name, spec in SPECS.items() if "order" in spec.needs)
PRODUCT_INTENTS = frozenset(name for name, spec in SPECS.items() if "product" in spec.needs)
ASK_RESPONSES = {
    "email": "utter_ask_email",
    "identity_order": "utter_ask_identity_order",
    "reason": "utter_ask_reason",
    "address": "utter_ask_address",
    "product": "utter_ask_product",
}


class Dialogue:
    """One customer message handled against the conversation's state (see the module docstring)."""

    def __init__(self, ctx: Context, state: DialogueState, turn: Turn) -> None:
        self.ctx = ctx
        self.state = state
        self.turn = turn
        self._orders: Optional[list[OrderSummary]] = None
        self._fell_back = False

    # ------------------------------------------------------------------ the turn

    def respond(self) -> None:
        self._fell_back = False
        self._respond()
        if not self._fell_back:
            self.state.fallbacks = 0

    def _respond(self) -> None:
        intent = self.intent()
        if intent == "human_handoff":
            self._drop_everything()
            self._handoff("customer_request")
            return
        if self.state.confirm is not None:
            confirm = self.state.confirm
            if self._on_confirmation(intent):
                return
            if self._is_aside(intent):
                self._digress_from_question(confirm, intent)
                return
        pending = self.state.task if self.state.task is not None and self.state.task.asked else None
        if pending is not None:
            if self._on_answer(pending, intent):
                return
            self._digress(pending, intent)
            return
        before = len(self.ctx.replies)
        had_confirm = self.state.confirm is not None
        self._on_request(intent)
        main_end = len(self.ctx.replies)
        asked_yes_no = self.state.confirm is not None and not had_confirm
        self._secondary(intent)
        if asked_yes_no and len(self.ctx.replies) > main_end:
            # the other answers first, the yes/no question last, where the customer answers it
            main = self.ctx.replies[before:main_end]
            del self.ctx.replies[before:main_end]
            self.ctx.replies.extend(main)

    def intent(self) -> str:
        """The intent to act on: the NLU's, or its best guess when the message backs it.

        A message the classifier is unsure of as a whole is still understood
        when one of its clauses is a confident request (a long polite story
        around one question), when its best guess has an entity that fits (an
        order number for an order question, a product for a product question),
        or when it says "my last order" or asks whether we sell a product.
        """
        turn = self.turn
        if turn.intent != "nlu_fallback":
            return turn.intent
        requests = [name for name, _, _ in turn.secondary if name not in SMALL_TALK and name != "greet"]
        if requests:
            return requests[0]
        name, confidence = turn.best_real
        has_order = bool(order_numbers(turn)) or says_latest(turn.text)
        if order_numbers(turn) and ORDER_WORDS.search(turn.text):
            return name if name in ORDER_INTENTS and confidence >= WEAK_INTENT else order_question_of(turn.text)
        if confidence >= WEAK_INTENT:
            if name in ORDER_INTENTS and has_order:
                return name
            if name in PRODUCT_INTENTS and self._mentions_product(turn.text):
                return name
            if name in ("goodbye", "thank", "greet") and len(turn.text.split()) <= 8:
                return name
        if THANKS.search(turn.text) and len(turn.text.split()) <= 10:
            return "goodbye" if BYE.search(turn.text) else "thank"  # "found it in the shed lol thanks a bunch"
        if BYE.search(turn.text) and len(turn.text.split()) <= 8:
            return "goodbye"
        if says_latest(turn.text):
            return name if name in ORDER_INTENTS else "order_status"
        if self.state.order and refers_back(turn.text) and ORDER_WORDS.search(turn.text):
            return order_question_of(turn.text)  # "is it still on track to arrive on time?"
        if (asks_for_kind(turn.text) or asks_price(turn.text)) and self._mentions_product(turn.text):
            return "product_info"
        return "nlu_fallback"

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
        yes = intent == "affirm" or intent == same_request.get(str(what))
        if yes:
            numbers = order_numbers(self.turn)
            self.state.confirm = None
            if what == "cancel" and numbers and numbers[0] != confirm.get("order"):
                # "yes, 537000" to "cancel 581580?": ask about 537000 rather than cancel either
                self._run(Task("cancel_order", {"order": numbers[0]}))
                return True
            self._confirmed(confirm)
            return True
        if intent == "deny" or wants_to_stop(self.turn.text):
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
        labels = {"cancel": "cancellation", "delete": "deletion request", "offer": "offer", "handoff": "question"}
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
            return True
        picked = self._pick_choice(asked)
        if picked is not None:
            task.details[asked if asked != "product" else "product_sku"] = picked
            task.asked, task.tries = None, 0
            self.state.choices = None
            self._run(task)
            return True
        if self._is_digression(task, intent):
            return False
        found = self._details(task.name, asked=asked)
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
            linked = index.link(self.turn.text, within=pool)
            one = linked.pick()
            if one is not None:
                return one.sku
        return None

    # ------------------------------------------------------------------ new messages

    def _on_request(self, intent: str) -> None:
        turn = self.turn
        if self._follow_up(intent):
            return
        numbers = order_numbers(turn)
        if intent in ("order_status", "track_order", "delivery_estimate") and len(numbers) > 1:
            for number in numbers[
                :3
            ]:  # "tracking for 580744 and 580745", "where is 581449 and the tracking for 581473"
                asked = next(
                    (n for n, _, clause in turn.secondary if number in clause and n in ORDER_QUESTIONS),
                    self._question_about(number, intent),
                )
                self._run(Task(asked, {**self._details(asked), "order": number}))
        elif intent in SPECS:
            self._run(Task(intent, self._details(intent)))
        elif intent == "greet":
            can.greet(self.ctx)
        elif intent in SMALL_TALK:
            self.ctx.say(SMALL_TALK[intent])
        elif intent == "faq":
            self.ctx.say(turn.faq_response or "utter_help")
            if turn.faq_response:
                self.state.last = Task("faq", {"response": turn.faq_response})
        elif intent == "affirm":
            self.ctx.say("utter_nothing_to_confirm")
        elif intent == "deny":
            self.ctx.say("utter_anything_else")
        elif intent == "complain":
            self._complaint()
        elif intent == "inform":
            self._inform()
        else:
            self._fallback()

    def _inform(self) -> None:
        """A message with details and no request: look up what it names."""
        turn = self.turn
        if turn.negative:
            self._offer_human("complaint")
        elif email_in(turn):
            self._run(Task("identify", self._details("identify")))
        elif order_numbers(turn) or says_latest(turn.text):
            self._run(Task("order_status", self._details("order_status")))
        elif self._mentions_product(turn.text):
            self._run(Task("product_info", self._details("product_info")))
        elif wants_to_stop(turn.text):
            self.ctx.say("utter_anything_else")
        else:
            self._fallback()

    def _complaint(self) -> None:
        """An angry question about an order is answered (not deflected); any other complaint offers a person."""
        text = self.turn.text.lower()
        about_order = any(w in text for w in ("order", "parcel", "package", "arrive", "deliver", "came", "come"))
        asks = bool(order_numbers(self.turn)) or bool(ORDER_WORDS.search(self.turn.text))
        if about_order and asks and (self.ctx.customer_id is not None or order_numbers(self.turn)):
            self._run(Task("order_status", self._details("order_status")))
            return
        self._offer_human("complaint")

    def _follow_up(self, intent: str) -> bool:
        """ "and 581473?", "sorry, I meant 581473", "what about the ivory one": the last request again.

        With an order number, the question may be named anew ("and the status of
        581110" after a tracking question): a confident order question in the
        NLU's ranking wins over repeating the last one.
        """
        last = self.state.last
        if last is None:
            return False
        turn = self.turn
        cue = is_follow_up(turn.text) or is_correction(turn.text)
        if last.name == "faq":
            short = len(turn.text.split()) <= 6  # "and to australia?" after the shipping answer
            if cue and short and intent in ("inform", "nlu_fallback", "out_of_scope") and last.details.get("response"):
                self.ctx.say(str(last.details["response"]))
                return True
            return False
        if last.name not in SPECS:
            return False
        follows = SPECS[last.name].follows
        numbers = order_numbers(turn)
        if follows == "order" and numbers:
            if intent in SPECS and "order" in SPECS[intent].needs and turn.confidence >= 0.5:
                return False
            if intent not in ("inform", "nlu_fallback") and not cue and intent in SPECS:
                return False
            name = self._named_order_question(default=last.name)
            carried = {k: v for k, v in last.details.items() if k not in ("order", "latest", "refers_back")}
            base = carried if name == last.name else {}
            for number in numbers[:3]:
                if self.state.task is not None or self.state.confirm is not None:
                    break
                self._run(Task(name, {**base, **self._details(name), "order": number}))
            return True
        plain = intent in ("inform", "nlu_fallback") or (cue and (intent == last.name or intent not in SPECS))
        if last.name == "recommend_products" and plain and (cue or turn.entity("amount") or CHEAPER.search(turn.text)):
            # "something cheaper, under £5", "and for a girl the same age?": more ideas, with what was said
            kept = {k: v for k, v in last.details.items() if k in ("category", "max_price")}
            self._run(Task("recommend_products", {**kept, **self._details("recommend_products")}))
            return True
        if follows == "product" and plain and self._mentions_product(turn.text, loose=cue):
            # "and the green?": the same question about a product of the same kind
            self._run(Task(last.name, {**self._details(last.name), "kind": bool(last.details.get("kind"))}))
            return True
        return False

    def _question_about(self, number: str, default: str) -> str:
        """The order question of the part of the message that holds ``number`` ("where is 581449 and ...")."""
        for part in re.split(r"\band\b|[,;?]", self.turn.text):
            if number in part and ORDER_WORDS.search(part):
                return order_question_of(part)
        return default

    def _named_order_question(self, default: str) -> str:
        """The order question the message names itself, if the NLU sees one (else ``default``)."""
        for name, confidence in self.turn.ranking:
            if name in ("inform", "nlu_fallback"):
                continue
            if name in ("order_status", "track_order", "delivery_estimate") and confidence >= 0.2:
                return name
            break
        if ORDER_WORDS.search(self.turn.text):
            return order_question_of(self.turn.text)
        return default

    def _secondary(self, main: str) -> None:
        """The other requests of a message ("my points and any offers?"), answered after the first.

        When the first left a question open (e.g. who the customer is), they wait
        in the pending task and run once it is answered.
        """
        later = []
        done = {main}
        for name, _confidence, clause in self.turn.secondary:
            if name in done or name not in SECONDARY:
                continue
            if name in PRODUCT_INTENTS and not self._mentions_product(clause):
                continue
            done.add(name)
            later.append([name, clause])
        if not later or self._paused():
            return
        if self.state.task is not None:
            self.state.task.details.setdefault("then", []).extend(later)
            return
        self._then(later)

    def _then(self, requests: list[Any], order: Optional[str] = None) -> None:
        """Run requests that waited; ``order``: the order number that identified the customer, for
        an order question whose own number was not theirs ("is 536365 shipped?" ... "sorry, 581449")."""
        for name, clause in requests:
            if self.state.task is not None or self._paused():
                return
            if self.state.confirm is not None and name in ASKS_YES_NO:
                continue  # one yes/no question at a time
            details = self._details(name, text=str(clause))
            if order and name in ORDER_INTENTS and "order" not in details and not details.get("latest"):
                details["order"] = order
            self._run(Task(name, details))

    def _fallback(self) -> None:
        self._fell_back = True
        self.state.fallbacks += 1
        if self.turn.negative or self.state.fallbacks >= 2:
            self.state.fallbacks = 0
            self._offer_human("misunderstanding")
        else:
            self.ctx.say("utter_default")

    def _offer_human(self, reason: str) -> None:
        self.ctx.say(
            "utter_offer_human", buttons=[button("Yes, a person please", "affirm"), button("No, thanks", "deny")]
        )
        self.state.confirm = {"what": "handoff", "reason": reason}

    def _handoff(self, reason: str) -> None:
        can.handoff(self.ctx, reason)

    def _paused(self) -> bool:
        return any(e.get("event") == "pause" for e in self.ctx.events)

    def _drop_everything(self) -> None:
        self.state.task = None
        self.state.confirm = None
        self.state.choices = None

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
        if "order" in needs and says_latest(text):
            found["latest"] = True
        if "order" in needs and refers_back(text) and not numbers:
            found["refers_back"] = True
        if "address" in needs:
            address = address_in(text, whole=asked == "address")
            if address:
                found["address"] = address
        if "reason" in needs:
            reason = reason_in(text, whole=asked == "reason")
            if reason:
                found["reason"] = reason
        if "item" in needs and (asked == "item" or self._mentions_product(text)):
            found["item"] = text
        if "product" in needs and terms(text).words:
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
        if name == "identify" and numbers and ORDER_QUESTION.search(text):
            # "my email is ... and my order is 581502, where is it?": answer it once verified
            found["then"] = [[order_question_of(text), text]]
        if name == "reorder_when" and turn.entity("product"):
            found["product_words"] = (turn.spans.get("product") or turn.entities["product"])[0]
        if "product" in needs and turn.entity("category") and "product_query" not in found:
            found["category"] = turn.entity("category")
        return found

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
            refused = account.return_refusal(
                order.number, order.status, order.delivered_at, order.return_deadline, self.ctx.now
            )
            response = "utter_cannot_return"
        elif task.name == "change_address":
            refused = account.address_refusal(order.number, order.status)
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
            "similar_products": lambda: can.similar_products(ctx, products),
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
        query = task.details.get("product_query")
        if query:
            one = index_for(self.ctx.uow()).link(query).pick()
            if one is not None:
                mentioned.append(one.sku)
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
            if k not in ("email", "identity_order", "refers_back", "then", "tried")
        }
        self.state.last = Task(task.name, kept)
        if memory.get("order"):
            self.state.order = memory["order"]
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
            customer = account.verify_identity(self.ctx.uow(), email, number)
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
            account.link_conversation(self.ctx.uow(), self.ctx.sender_id, customer.id, self.ctx.channel, self.ctx.now)
        except Exception:
            logger.exception("could not link conversation %s", self.ctx.sender_id)
        self.ctx.say("utter_identity_verified", name=customer.name.split()[0])
        return True

    # ------------------------------------------------------------------ orders

    def _recent(self) -> list[OrderSummary]:
        if self._orders is None:
            assert self.ctx.customer_id is not None
            self._orders = account.list_orders(self.ctx.uow(), self.ctx.customer_id, limit=RECENT_ORDERS)
        return self._orders

    def _own_order(self, number: str) -> Optional[OrderDetail]:
        assert self.ctx.customer_id is not None
        try:
            return account.order_of(self.ctx.uow(), self.ctx.customer_id, number)
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
                order = account.order_of(self.ctx.uow(), self.ctx.customer_id or 0, summary.number)
                if index.link(item, within=[line.sku for line in order.lines]).candidates:
                    d["order"] = order.number
                    return order
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
        query = d.get("item")
        if query:
            linked = index_for(self.ctx.uow()).link(str(query), within=skus)
            one = linked.pick()
            if one is not None:
                d["item_sku"] = one.sku
                return one.sku
            options = linked.options(limit=5)
            if len(options) > 1:
                self._ask_item(task, order, options)
                return None
            if linked.named:
                self.ctx.say("utter_item_not_on_order", item=", ".join(linked.named), order_number=order.number)
        names = {line.sku: line.name for line in order.lines}
        listed = [Listing(0, sku, names[sku], "", line.unit_price, True, 0) for sku, line in zip(skus, order.lines)]
        self._ask_item(task, order, list({item.sku: item for item in listed}.values())[:5])
        return None

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
        if not options:
            self.state.task = None
            self.ctx.say("utter_product_not_found")
            return []
        if task.name != "product_info":
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
        one: Optional[Listing] = index.link(query, within=family).pick()
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
    def _several(query: str, index: Any) -> list[Listing]:
        """ "the spaceboy lunch box and the dolly girl lunch box": each product, when each part names one."""
        parts = [p for p in re.split(r"\band\b|,|&|\bor\b", query) if p.strip()]
        if len(parts) < 2:
            return []
        found = [index.link(p).pick() for p in parts]
        return [f for f in found if f is not None] if all(found) else []

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
        self.ctx.say(ASK_RESPONSES[what])
