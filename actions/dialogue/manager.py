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

This module routes the message (the order above); :class:`Dialogue` builds on three mixins, one
question each: :mod:`actions.dialogue.tasks` (a request's details and running it),
:mod:`actions.dialogue.questions` (answers to the bot's own questions) and
:mod:`actions.dialogue.resolve` (who, which order, which item, which product). What is left here is
one question, what to do with this message, hence its length.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from actions.dialogue import capabilities as can
from actions.dialogue.context import Context
from actions.dialogue.specs import (
    ASKS_YES_NO,
    BYE,
    CHEAPER,
    DIGRESSION_CONFIDENCE,
    KEPT_FOR_CORRECTION,
    ORDER_INTENTS,
    ORDER_QUESTIONS,
    OTHER_BUSINESS,
    PRODUCT_INTENTS,
    REQUEST_BESIDE_IDENTITY,
    SECONDARY,
    SMALL_TALK,
    SPECS,
    THANKS,
    faq_topic,
)
from actions.dialogue.state import DialogueState, Task
from actions.dialogue.tasks import Tasks
from actions.dialogue.understand import (
    NEGATED,
    ORDER_REFERENCE,
    ORDER_WORDS,
    RETURN_QUESTION,
    WEAK_INTENT,
    Turn,
    address_in,
    after_greeting,
    asks_about_an_order,
    asks_for_kind,
    asks_if_arrived,
    asks_price,
    asks_what_we_have,
    clauses,
    compares,
    deletes_data,
    email_in,
    is_correction,
    is_follow_up,
    is_gibberish,
    is_question,
    means_all_of_them,
    names_a_problem,
    names_product_request,
    order_numbers,
    order_question_of,
    other_orders_count,
    refers_back,
    refuses,
    says_latest,
    says_mine,
    says_not_received,
    says_other_order,
    says_reorder,
    speaks_of_next_order,
    wants_cheaper,
    wants_to_stop,
    with_new_postcode,
)
from analytics.core.errors import InvalidInput, OrderNotFound
from analytics.usecases.catalogue_search import english_words, index_for
from analytics.usecases.orders import OrderSummary, order_of

logger = logging.getLogger(__name__)


class Dialogue(Tasks):
    """One customer message handled against the conversation's state (see the module docstring)."""

    def __init__(self, ctx: Context, state: DialogueState, turn: Turn) -> None:
        self.ctx = ctx
        self.state = state
        self.turn = turn
        self._orders: Optional[list[OrderSummary]] = None
        self._fell_back = False
        self._turn_start = 0
        self._ran: set[str] = set()  # the requests run this turn: another clause asking the same is not run again

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
        if intent in ("cancel_order", "delete_data") and refuses(self.turn.text) and self._keeps(intent):
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
        self._turn_start = before
        had_confirm = self.state.confirm is not None
        self._on_request(intent)
        self._not_received(intent)
        main_end = len(self.ctx.replies)
        asked_yes_no = self.state.confirm is not None and not had_confirm
        self._secondary(intent)
        if asked_yes_no and len(self.ctx.replies) > main_end:
            # the other answers first, the yes/no question last, where the customer answers it
            main = self.ctx.replies[before:main_end]
            del self.ctx.replies[before:main_end]
            self.ctx.replies.extend(main)

    def _not_received(self, intent: str) -> None:
        """ "it says delivered but nothing's here": the delivery date is not the answer; a person looks into it."""
        if intent not in ORDER_INTENTS or not says_not_received(self.turn.text) or self.ctx.customer_id is None:
            return
        if self.state.task is not None or self.state.confirm is not None or not self.state.order:
            return
        try:
            delivered = order_of(self.ctx.uow(), self.ctx.customer_id, self.state.order).status == "delivered"
        except (OrderNotFound, InvalidInput):
            return
        if delivered:
            self._offer_human("not_received")

    def intent(self) -> str:
        """The intent to act on: the NLU's, or its best guess when the message backs it.

        A message the classifier is unsure of as a whole is still understood
        when one of its clauses is a confident request (a long polite story
        around one question), when its best guess has an entity that fits (an
        order number for an order question, a product for a product question),
        or when it says "my last order" or asks whether we sell a product.
        """
        turn = self.turn
        if self._gibberish():
            return "nlu_fallback"  # "asdfgh": not understood, whatever the classifier made of it
        for name, confidence, clause in turn.secondary:
            # "i'm not happy about that, can i talk to a manager": the person asked for, whatever else is said
            if name == "human_handoff" and confidence >= 0.9 and not NEGATED.search(clause):
                return "human_handoff"
        if turn.intent in ("out_of_scope", *PRODUCT_INTENTS) and self._compares_products():
            return "product_info"  # "which is cheaper, X or Y"
        product_question = asks_for_kind(turn.text) or asks_price(turn.text)
        if turn.intent == "out_of_scope" and product_question and self._mentions_product(turn.text):
            return "product_info"  # "do u sell money banks for kids": a product we sell is in scope
        if turn.intent == "greet":
            return self._request_after_greeting() or "greet"
        if turn.intent == "faq" and self.state.order and RETURN_QUESTION.search(turn.text) and refers_back(turn.text):
            return "return_request"  # "can i still send bits back from it" just after talking about an order
        short = len(turn.text.split()) <= 12
        if turn.intent in ("thank", "nlu_fallback") and short and THANKS.search(turn.text) and BYE.search(turn.text):
            return "goodbye"  # "cheers mate, thats me sorted, have a good one"
        asked_beside = self._request_beside_identity()
        if asked_beside:
            return asked_beside
        if turn.intent == "inform" and self._asks_a_return(REQUEST_BESIDE_IDENTITY):
            return "return_request"  # "return poppys playhouse kitchen from order 577077, it was missing pieces"
        if turn.intent != "nlu_fallback":
            return turn.intent
        if self._compares_products():
            return "product_info"
        if self.state.order and says_other_order(turn.text):
            return order_question_of(turn.text)  # "and what about my other order, the older one?"
        requests = [name for name, _, _ in turn.secondary if name not in SMALL_TALK and name != "greet"]
        if requests:
            if requests[0] == "inform" and self._asks_a_return(0.0):
                return "return_request"  # "return order 581487, i ordered too many frames": the return it asks
            return requests[0]
        name, confidence = turn.best_real
        if says_reorder(turn.text) and name in ("reorder_when", "next_order_due", "recommend_products"):
            return "reorder_when"  # "what would i normally reorder"
        if turn.entity("category") and asks_what_we_have(turn.text):
            return "recommend_products"  # "what have you got for the garden": ideas from that category
        last = self.state.last.name if self.state.last else None
        if deletes_data(turn.text) and (last == "privacy_data" or name == "delete_data"):
            return "delete_data"  # "ok thanks and delete it after that" (after the summary of their data)
        # (not "can I return something from my latest order?": a request about an order)
        about_an_order = order_numbers(turn) or says_latest(turn.text) or ORDER_REFERENCE.search(turn.text)
        policy = faq_topic(turn.text) and is_question(turn.text) and not about_an_order
        if policy and name in ("faq", "return_request", "inform"):
            return "faq"  # "wait first, will i get my money back on the same card?"
        has_order = bool(order_numbers(turn)) or says_latest(turn.text)
        if order_numbers(turn) and ORDER_WORDS.search(turn.text):
            if name in ORDER_QUESTIONS and asks_if_arrived(turn.text):
                return "order_status"  # "did 579414 arrive?": a weak guess of "when" is not what it asks
            return name if name in ORDER_INTENTS and confidence >= WEAK_INTENT else order_question_of(turn.text)
        if confidence >= WEAK_INTENT:
            if name in ORDER_INTENTS and has_order:
                return name
            if name in PRODUCT_INTENTS and self._mentions_product(turn.text):
                return name
            if name in ("goodbye", "thank", "greet") and len(turn.text.split()) <= 8:
                return name
        if name == "complain" and confidence >= WEAK_INTENT:
            return "complain"  # "are you kidding me, it was barely over a month ago. useless"
        if THANKS.search(turn.text) and len(turn.text.split()) <= 10:
            return "goodbye" if BYE.search(turn.text) else "thank"  # "found it in the shed lol thanks a bunch"
        if BYE.search(turn.text) and len(turn.text.split()) <= 8:
            return "goodbye"
        if says_latest(turn.text) or says_latest(turn.normalised):  # "wen did my last parcle get deliverd"
            return name if name in ORDER_INTENTS else "order_status"
        if self.state.order and refers_back(turn.text) and ORDER_WORDS.search(turn.text):
            return order_question_of(turn.text)  # "is it still on track to arrive on time?"
        if (asks_for_kind(turn.text) or asks_price(turn.text)) and self._mentions_product(turn.text):
            return "product_info"
        return "nlu_fallback"

    def _asks_a_return(self, confidence: float) -> bool:
        """One of the message's clauses asks for a return in so many words (beside details heard as "inform"),
        the classifier at least ``confidence`` sure of it."""
        return any(
            n == "return_request" and c >= confidence and RETURN_QUESTION.search(clause)
            for n, c, clause in self.turn.secondary
        )

    def _request_beside_identity(self) -> Optional[str]:
        """ "delete my data please, email ... order 566937", "i want to return a toy helicopter, email is ...":
        the e-mail is only how the customer proves who they are; the request beside it is what they ask, and it
        runs (verifying them first) when one of the message's clauses asks it clearly."""
        turn = self.turn
        if turn.intent not in ("identify", "nlu_fallback") or not email_in(turn):
            return None
        if turn.intent == "nlu_fallback" and turn.best_real[0] not in ("identify", *SPECS):
            return None
        for name, confidence, _clause in turn.secondary:
            needs = SPECS[name].needs if name in SPECS else ()
            if name != "identify" and "identity" in needs and confidence >= REQUEST_BESIDE_IDENTITY:
                # "email is x@y.com and my order is 581502, where is it?" is the identify task's own question
                if name in ORDER_QUESTIONS:
                    return None
                return name
        return None

    def _keeps(self, intent: str) -> bool:
        """ "actually dont cancel my order, i'll keep it", even after other questions: nothing is cancelled."""
        confirm = self.state.confirm or {}
        if intent == "cancel_order":
            number = confirm.get("order") if confirm.get("what") == "cancel" else self.state.order
            if not number:
                return False
            self.state.confirm = None
            self.ctx.say("utter_keep_order", order_number=number)
            return True
        if confirm.get("what") == "delete":
            self.state.confirm = None
            self.ctx.say("utter_deletion_cancelled")
            return True
        return False

    def _gibberish(self) -> bool:
        return is_gibberish(self.turn.text, english_words())

    def _compares_products(self) -> bool:
        """ "which is cheaper, the small or the large", "X vs Y": a comparison naming products."""
        if not compares(self.turn.text):
            return False
        try:
            return len(self._several(self.turn.text, index_for(self.ctx.uow()))) > 1
        except Exception:
            logger.exception("catalogue search failed")
            return False

    def _request_after_greeting(self) -> Optional[str]:
        """ "hello is my order delivered": the request after a greeting, which the classifier heard less
        clearly than the greeting, when what follows the greeting backs it (an order question about an
        order, a product question naming a product); a greeting with a request answers the request."""
        turn = self.turn
        rest = after_greeting(turn.text)
        if len(rest.split()) < 3:
            return None
        for name, confidence in turn.ranking:
            if name in ("greet", "nlu_fallback") or confidence < 0.05:
                continue
            about_an_order = order_numbers(turn) or says_latest(rest) or ORDER_REFERENCE.search(rest)
            if name in ORDER_QUESTIONS and ORDER_WORDS.search(rest) and about_an_order:
                return name
            if name in PRODUCT_INTENTS and self._mentions_product(rest):
                return name
            if confidence >= WEAK_INTENT and (name in SPECS or name == "faq"):
                return name
        return None

    # ------------------------------------------------------------------ new messages

    def _on_request(self, intent: str) -> None:
        turn = self.turn
        if self._follow_up(intent):
            return
        numbers = order_numbers(turn)
        several = intent in ORDER_QUESTIONS or (intent == "inform" and not email_in(turn) and not address_in(turn.text))
        if several and len(numbers) > 1:
            # "tracking for 580744 and 580745", "where is 581449 and the tracking for 581473",
            # "can you check 581119 and 581118"
            default = intent if intent in ORDER_QUESTIONS else "order_status"
            for number in numbers[:3]:
                asked = next(
                    (n for n, _, clause in turn.secondary if number in clause and n in ORDER_QUESTIONS),
                    self._question_about(number, default),
                )
                self._run(Task(asked, {**self._details(asked), "order": number}))
                if self.state.task is not None or self.state.confirm is not None:
                    return
            self.state.orders = numbers[:3]
        elif intent in ORDER_QUESTIONS and not numbers and len(self.state.orders) > 1 and means_all_of_them(turn.text):
            orders = list(self.state.orders)  # "tracking for both", "when do all of them arrive"
            for number in orders:
                self._run(Task(intent, {"order": number}))
                if self.state.task is not None:
                    return
            self.state.orders = orders
        elif intent in SPECS:
            self._run(Task(intent, self._details(intent)))
        elif intent == "greet":
            can.greet(self.ctx)
        elif intent in SMALL_TALK:
            self.ctx.say(SMALL_TALK[intent])
        elif intent == "faq":
            self._faq()
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
            # "does that start from when it was delivered?": a question about the answer just given
            about_it = refers_back(turn.text) and is_question(turn.text) and len(turn.text.split()) <= 12
            plain = intent in ("inform", "nlu_fallback", "out_of_scope")
            if ((cue and short) or about_it) and plain and last.details.get("response"):
                self.ctx.say(str(last.details["response"]))
                return True
            return False
        if last.name not in SPECS:
            return False
        follows = SPECS[last.name].follows
        numbers = order_numbers(turn)
        if last.name == "list_orders" and numbers and cue and intent in ("inform", "nlu_fallback"):
            for number in numbers[:3]:  # "and 576560?" after the list: that order's status
                if self.state.task is None and self.state.confirm is None:
                    self._run(Task("order_status", {"order": number}))
            return True
        if last.name == "return_request" and self._another_return(intent, numbers):
            return True
        if follows == "order" and numbers:
            if intent in SPECS and "order" in SPECS[intent].needs and turn.confidence >= 0.5:
                return False
            if intent not in ("inform", "nlu_fallback") and not cue and intent in SPECS:
                return False
            # "and the other one, 580956?" after "where is it?" then "when will it arrive?": the question the
            # talk about the last order started with (the "when" was a detail of that order)
            name = self._named_order_question(default=str(last.details.get("topic") or last.name))
            carried = {
                k: v
                for k, v in last.details.items()
                if k not in ("order", "latest", "refers_back", "other_than", "topic")
            }
            base = carried if name == last.name else {}
            said = self._details(name)
            if said.get("item") and said["item"] != base.get("item"):
                # "what about the wooden frame from 579123": another item, with a reason of its own
                base = {k: v for k, v in base.items() if k not in ("item_sku", "reason", "quantity")}
            for number in numbers[:3]:
                if self.state.task is not None or self.state.confirm is not None:
                    break
                self._run(Task(name, {**base, **said, "order": number}))
            if len(numbers) > 1:
                self.state.orders = numbers[:3]
            return True
        several = other_orders_count(turn.text) if follows == "order" and self.state.order else None
        if several and intent in ("inform", "nlu_fallback", *ORDER_QUESTIONS):
            # "and the other two?" after an order question: the same question about the newest other orders
            name = self._named_order_question(default=last.name)
            others = [o.number for o in self._recent() if o.number != self.state.order][:several]
            for number in others:
                if self.state.task is not None or self.state.confirm is not None:
                    break
                self._run(Task(name, {"order": number}))
            if not others:
                self.ctx.say("utter_no_other_orders")
            return True
        mine = says_mine(turn.text)
        own = mine or (cue and (says_latest(turn.text) or says_latest(turn.normalised)))
        if follows == "order" and own and intent in ("inform", "nlu_fallback", "deny", last.name, *ORDER_QUESTIONS):
            # "sorry, I meant my latest one", "that's my sister's order, what about mine": their newest order
            name = self._named_order_question(default=last.name)
            carried = {k: v for k, v in last.details.items() if k in KEPT_FOR_CORRECTION} if name == last.name else {}
            self._run(Task(name, {**carried, "latest": True}))
            return True
        correcting = intent in ("inform", "nlu_fallback", "complain", "change_address")
        if last.name == "change_address" and last.details.get("order") and correcting:
            address = address_in(turn.text) or with_new_postcode(str(last.details.get("address") or ""), turn.text)
            if address:  # "oops, wrong postcode: it's 4 Queen St, Oxford OX1 1ER": the same order, corrected
                self._run(Task("change_address", {"order": last.details["order"], "address": address}))
                return True
        short = len(turn.text.split()) <= 8 and intent in ("inform", "nlu_fallback", "thank")
        if follows == "order" and self.state.order and short and asks_about_an_order(turn.text):
            # "ok when was that", "and the tracking number?": about the order talked about
            self._run(Task(order_question_of(turn.text), {"order": self.state.order}))
            return True
        if intent == turn.intent and intent in OTHER_BUSINESS and turn.confidence >= DIGRESSION_CONFIDENCE:
            return False  # "and do you deliver to scotland?" after a product question is a question of its own
        plain = intent in ("inform", "nlu_fallback") or (cue and (intent == last.name or intent not in SPECS))
        # "and the jelly moulds from the same range" after a price: the classifier's unsure guess of another
        # product question ("similar") is not asked in words, so the price question goes on
        guessed = turn.intent == "nlu_fallback" and intent in PRODUCT_INTENTS
        plain = plain or (cue and follows == "product" and guessed and not names_product_request(intent, turn.text))
        dearer = follows == "product" and self.state.product and wants_cheaper(turn.text)
        if dearer and not turn.entity("product") and (plain or intent in (*PRODUCT_INTENTS, "recommend_products")):
            # "bit pricey, anything like it thats cheaper": products like it that cost less
            self._run(Task("similar_products", {"product_sku": self.state.product, "cheaper": True}))
            return True
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

    def _another_return(self, intent: str, numbers: list[str]) -> bool:
        """After a return: "what about the hot water bottle from 580208, the stitching is coming apart",
        "and the doormat too, same order, it leaks", "sorry, I meant the one from order 578192, it arrived
        chipped" start another return: a message that names an item or an order and says what is wrong.
        Without a number it is the same order; without an item, the same item."""
        turn, last = self.turn, self.state.last
        assert last is not None
        if intent == turn.intent and intent in OTHER_BUSINESS and turn.confidence >= DIGRESSION_CONFIDENCE:
            return False
        other_request = intent in SPECS and intent not in (*ORDER_QUESTIONS, "return_request", "product_info")
        if other_request and turn.confidence >= DIGRESSION_CONFIDENCE:
            return False  # a confident request of another kind: cancel, a new address, points...
        names_item = self._mentions_product(turn.text)
        if not names_a_problem(turn.text) or not (numbers or names_item):
            return False
        details = self._details("return_request")
        if not numbers and last.details.get("order"):
            details["order"] = last.details["order"]
        if not names_item:
            details.update({k: v for k, v in last.details.items() if k in ("item", "item_sku", "quantity")})
        self._run(Task("return_request", details))
        return True

    def _question_about(self, number: str, default: str) -> str:
        """The order question of the part of the message that holds ``number`` ("where is 581449 and ...")."""
        for part in clauses(self.turn.text):
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
        done = {main} | self._ran
        self._other_faqs()
        if main not in ORDER_INTENTS:
            # "where is 581449 and how much is the wall clock", "1) where is 580744 2) my points": a clause
            # asking about an order by its number, whatever the classifier made of it
            for number in order_numbers(self.turn):
                asked = self._question_about(number, default="")
                if asked and asked not in done:
                    done.add(asked)
                    later.append([asked, number])
        kind_too = self._kind_asked_too() if main == "product_info" else None
        if kind_too:
            later.append(["product_info", kind_too])
        # "any ideas for my next order": the ideas, then when that order is likely due
        ideas_for_next = main == "recommend_products" and speaks_of_next_order(self.turn.text)
        if ideas_for_next and self.ctx.customer_id is not None and "next_order_due" not in done:
            done.add("next_order_due")
            later.append(["next_order_due", self.turn.text])
        price_too = self._price_asked_too() if main in ("bought_together", "similar_products") else None
        if price_too and "product_info" not in done:
            done.add("product_info")
            later.append(["product_info", price_too])
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

    def _price_asked_too(self) -> Optional[str]:
        """ "what goes with the rococo wall mirror white and how much is it": the price of the product just
        answered about, asked in a later clause that names no other product (its name, to look it up by)."""
        focus = str(self.state.product or "").upper()
        if not focus:
            return None
        for clause in clauses(self.turn.text)[1:]:
            if asks_price(clause) and refers_back(clause) and not self._mentions_product(clause):
                listing = index_for(self.ctx.uow()).by_sku.get(focus)
                return listing.name if listing is not None else None
        return None

    def _kind_asked_too(self) -> Optional[str]:
        """ "how much is the botanical gardens wall clock and do you sell doormats": a later clause asking
        what we have of another kind of product than the one just answered, to be answered after it."""
        focus = str(self.state.product or "").upper()
        if not focus:
            return None
        for clause in clauses(self.turn.text)[1:]:
            if not asks_for_kind(clause) or not self._mentions_product(clause):
                continue
            linked = index_for(self.ctx.uow()).link(clause)
            if focus not in {c.listing.sku.upper() for c in linked.best_group}:
                return clause
        return None

    def _faq(self) -> None:
        """A question of the FAQ: the answer the response selector chose, and the other FAQs the message asks.

        A clause whose words name one FAQ (:data:`FAQ_TOPICS`: "can I pay with amex", "how much is
        postage to france") gets that answer; the selector's answer, chosen for the whole message, is
        kept when some clause names none (it answers that one).
        """
        turn = self.turn
        named = [faq_topic(clause) for clause in clauses(turn.normalised or turn.text)]
        topics = list(dict.fromkeys(t for t in named if t))
        answers = topics
        if turn.faq_response and turn.faq_response not in topics and (None in named or not topics):
            answers = [turn.faq_response, *topics]
        if not answers:
            self.ctx.say("utter_help")
            return
        for response in answers:
            self.ctx.say(response)
        self.state.last = Task("faq", {"response": answers[-1]})

    def _other_faqs(self) -> None:
        """ "how much is shipping to germany and can I pay with amex": every FAQ the message asks.

        The answer chosen for the whole message covers one question; another clause the NLU heard as a
        question of the FAQ is answered too when its words say which FAQ (see :data:`FAQ_TOPICS`).
        """
        if self._paused():
            return
        said = set(self.ctx.said)
        answers = []
        for name, _confidence, clause in self.turn.secondary:
            if name != "faq":
                continue
            topic = faq_topic(clause)
            if topic and topic not in said:
                said.add(topic)
                answers.append({"response": topic})
        if not answers:
            return
        # before a question the bot just asked, which stays last, where the customer answers it
        waiting = self.state.task is not None and self.state.task.asked and self._turn_start < len(self.ctx.replies)
        at = self._turn_start if waiting else len(self.ctx.replies)
        self.ctx.replies[at:at] = answers

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
            # twice not understood: another try stays open beside the offer of a person
            self._offer_human(
                "misunderstanding", "utter_offer_human" if self.turn.negative else "utter_offer_human_rephrase"
            )
        else:
            self.ctx.say("utter_default")

    def _offer_human(self, reason: str, response: str = "utter_offer_human") -> None:
        self.ctx.say(response)  # its yes/no buttons are the response's own (domain.yml)
        self.state.confirm = {"what": "handoff", "reason": reason}

    def _handoff(self, reason: str) -> None:
        can.handoff(self.ctx, reason)

    def _paused(self) -> bool:
        return any(e.get("event") == "pause" for e in self.ctx.events)

    def _drop_everything(self) -> None:
        self.state.task = None
        self.state.confirm = None
        self.state.choices = None
