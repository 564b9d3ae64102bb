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
from typing import Any, Optional

from actions.base import parse_amount
from actions.dialogue import capabilities as can
from actions.dialogue.context import Context, button
from actions.dialogue.questions import Questions
from actions.dialogue.specs import (
    ASKS_YES_NO,
    BYE,
    CHEAPER,
    DIGRESSION_CONFIDENCE,
    ORDER_INTENTS,
    ORDER_QUESTIONS,
    OTHER_BUSINESS,
    PRODUCT_INTENTS,
    SECONDARY,
    SMALL_TALK,
    SPECS,
    THANKS,
    faq_topic,
)
from actions.dialogue.state import DialogueState, Task
from actions.dialogue.understand import (
    BARE_NUMBER,
    ORDER_QUESTION,
    ORDER_REFERENCE,
    ORDER_WORDS,
    WEAK_INTENT,
    Turn,
    address_in,
    after_greeting,
    asks_for_kind,
    asks_price,
    clauses,
    compares,
    email_in,
    is_correction,
    is_follow_up,
    is_gibberish,
    means_all_of_them,
    names_a_problem,
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
from analytics.catalog_search import Listing, english_words, index_for, terms

logger = logging.getLogger(__name__)


class Dialogue(Questions):
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
        if self._gibberish():
            return "nlu_fallback"  # "asdfgh": not understood, whatever the classifier made of it
        if turn.intent in ("out_of_scope", *PRODUCT_INTENTS) and self._compares_products():
            return "product_info"  # "which is cheaper, X or Y"
        product_question = asks_for_kind(turn.text) or asks_price(turn.text)
        if turn.intent == "out_of_scope" and product_question and self._mentions_product(turn.text):
            return "product_info"  # "do u sell money banks for kids": a product we sell is in scope
        if turn.intent == "greet":
            return self._request_after_greeting() or "greet"
        if turn.intent != "nlu_fallback":
            return turn.intent
        if self._compares_products():
            return "product_info"
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
            if cue and short and intent in ("inform", "nlu_fallback", "out_of_scope") and last.details.get("response"):
                self.ctx.say(str(last.details["response"]))
                return True
            return False
        if last.name not in SPECS:
            return False
        follows = SPECS[last.name].follows
        numbers = order_numbers(turn)
        if last.name == "return_request" and self._another_return(intent, numbers):
            return True
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
            if len(numbers) > 1:
                self.state.orders = numbers[:3]
            return True
        correcting = intent in ("inform", "nlu_fallback", "complain")
        if last.name == "change_address" and last.details.get("order") and correcting:
            address = address_in(turn.text)
            if address:  # "oops, wrong postcode: it's 4 Queen St, Oxford OX1 1ER": the same order, corrected
                self._run(Task("change_address", {"order": last.details["order"], "address": address}))
                return True
        if intent == turn.intent and intent in OTHER_BUSINESS and turn.confidence >= DIGRESSION_CONFIDENCE:
            return False  # "and do you deliver to scotland?" after a product question is a question of its own
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
        done = {main} | self._ran
        self._other_faqs()
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
        if "order" in needs and not numbers and len(self.state.orders) > 1:
            picked = ordinal_choice(text, len(self.state.orders))  # "the second one" of the orders just listed
            if picked is not None and not BARE_NUMBER.match(text):
                found["order"] = self.state.orders[picked]
        if "order" in needs and says_latest(text) and "order" not in found:
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
        if name == "identify" and numbers and ORDER_QUESTION.search(text):
            # "my email is ... and my order is 581502, where is it?": answer it once verified
            found["then"] = [[order_question_of(text), text]]
        if name == "reorder_when" and turn.entity("product"):
            found["product_words"] = (turn.spans.get("product") or turn.entities["product"])[0]
        if "product" in needs and turn.entity("category") and "product_query" not in found:
            found["category"] = turn.entity("category")
        return found

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
