"""The assistant's conversations, run the way the action server runs them: a tracker in, replies and events out.

Every message goes to ``action_respond``. :class:`Chat` plays a conversation
against it: each turn builds a tracker from a recorded one (the shape Rasa
sends) with the intent, entities and metadata the NLU would give, runs the
action with a collecting dispatcher, and keeps the slots it sets for the next
turn, as Rasa does. The store is the shipped sample, seeded and scored once
for the module; tests use different customers where they change the store.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select

from actions import base
from actions.conversation import ActionSessionStart
from actions.dialogue.capabilities import delivery_window
from actions.respond import ActionRespond
from analytics.core.settings import Settings
from analytics.customers.offers import seed_offers
from analytics.customers.refresh import refresh_scores
from analytics.ingest.online_retail import import_online_retail
from analytics.recommend import serving
from analytics.recommend.serving import refresh_models
from analytics.security.throttle import handoff_throttle, identity_throttle
from analytics.security.tokens import sign_conversation_identity, sign_customer_token, verify_conversation_identity
from analytics.store.artifacts import ArtifactStore
from analytics.store.db import make_engine, make_session_factory
from analytics.store.migrate import upgrade
from analytics.store.models import Customer, Handoff, Order, OrderStatus, PrivacyRequest, Return
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases import store
from analytics.usecases.identity import customer_of_conversation
from analytics.usecases.orders import list_orders, order_of
from tests.conftest import ROOT, SAMPLE

SEEDED_AT = time(6, 0)

TRACKERS = ROOT / "tests" / "data" / "trackers"
SECRET = "unit-" + "9" * 40


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlAlchemyUnitOfWork]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('shop') / 'store.sqlite3'}")
    upgrade(engine)
    uow = SqlAlchemyUnitOfWork(make_session_factory(engine))
    # a fixed time of day: which orders are still being prepared depends on the hour the store was seeded
    import_online_retail(uow, SAMPLE, shift_to_now=True, now=datetime.combine(date.today(), SEEDED_AT))
    with uow:
        seed_offers(uow)
        uow.commit()
    refresh_scores(uow)
    yield uow
    engine.dispose()


@pytest.fixture(scope="module")
def published(shop: SqlAlchemyUnitOfWork, tmp_path_factory: pytest.TempPathFactory) -> ArtifactStore:
    artifacts = ArtifactStore(tmp_path_factory.mktemp("artifacts"), keep=2)
    refresh_models(shop, artifacts)
    return artifacts


@pytest.fixture
def seeded(
    shop: SqlAlchemyUnitOfWork, published: ArtifactStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> SqlAlchemyUnitOfWork:
    monkeypatch.setattr(store, "unit_of_work", lambda: shop)
    monkeypatch.setattr(serving, "default_artifacts", lambda: published)
    settings = Settings(CRM_TOKEN_SECRET=SECRET, CRM_VAR_DIR=tmp_path)
    monkeypatch.setattr("analytics.security.tokens.get_settings", lambda: settings)
    monkeypatch.setattr("actions.respond.get_settings", lambda: settings)
    # each test counts failed identity checks and handoffs from zero (they outlive conversations)
    identity, handoffs = identity_throttle(settings), handoff_throttle(settings)
    identity.reset()
    handoffs.reset()
    return shop


def customer(uow: SqlAlchemyUnitOfWork, ref: str) -> Customer:
    with uow:
        found = uow.session.scalars(select(Customer).where(Customer.external_ref == ref)).one()
        uow.session.expunge(found)
        return found


class Chat:
    """One conversation with ``action_respond``; slots carry over between turns as in Rasa."""

    def __init__(
        self, customer_id: Optional[int] = None, metadata: Optional[dict[str, Any]] = None, sender: str = ""
    ) -> None:
        self.sender = sender
        self.slots: dict[str, Any] = {"session_started_metadata": None}
        if customer_id is not None:  # verified earlier in this conversation
            self.slots["identity"] = sign_conversation_identity(customer_id, "recorded")
        self.metadata = metadata or {}
        self.events: list[Any] = []
        self.messages: list[dict[str, Any]] = []

    def say(
        self,
        text: str,
        intent: str,
        entities: Optional[dict[str, str]] = None,
        *,
        confidence: float = 0.95,
        secondary: tuple[tuple[str, float, str], ...] = (),
        faq: Optional[str] = None,
        negative: bool = False,
        ranking: tuple[tuple[str, float], ...] = (),
    ) -> list[str]:
        """The response names the bot answers ``text`` with (``self.messages`` has the whole messages).

        ``ranking``: the NLU's other guesses, after ``intent``.
        """
        state = copy.deepcopy(json.loads((TRACKERS / "order_status_536365.json").read_text()))
        state["slots"] = dict(self.slots)
        if self.sender:
            state["sender_id"] = self.sender
        found = [
            {"entity": k, "value": v, "start": max(0, text.find(v)), "end": max(0, text.find(v)) + len(v)}
            for k, v in (entities or {}).items()
        ]
        if negative:
            found.append({"entity": "sentiment", "value": "negative", "start": 0, "end": len(text)})
        state["latest_message"] = {
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": [{"name": n, "confidence": c} for n, c in ((intent, confidence), *ranking)],
            "secondary_intents": [{"name": n, "confidence": c, "text": t} for n, c, t in secondary],
            "entities": found,
            "metadata": self.metadata,
            "response_selector": {"faq": {"response": {"utter_action": faq}}} if faq else {},
        }
        state["events"] = []
        dispatcher = CollectingDispatcher()
        self.events = asyncio.run(ActionRespond().run(dispatcher, Tracker.from_dict(state), {}))
        for event in self.events:
            if event.get("event") == "slot":
                self.slots[event["name"]] = event["value"]
        self.messages = dispatcher.messages
        return [m["response"] for m in dispatcher.messages if m.get("response")]

    def said(self, name: str) -> dict[str, Any]:
        """The variables of response ``name`` in the last answer."""
        return next(m for m in self.messages if m.get("response") == name)

    @property
    def text(self) -> str:
        return json.dumps(self.messages)


def signed_in(uow: SqlAlchemyUnitOfWork, ref: str) -> Chat:
    return Chat(customer(uow, ref).id)


def open_order(uow: SqlAlchemyUnitOfWork, ref: str) -> tuple[str, int]:
    """The order of customer ``ref`` that is being prepared, and the customer (each test changes its own)."""
    with uow:
        owner = uow.customers.by_external_ref(ref)
        assert owner is not None
        order = uow.session.scalars(
            select(Order).where(Order.customer_id == owner.id, Order.status == OrderStatus.PROCESSING)
        ).first()
        assert order is not None, f"customer {ref} has no order being prepared"
        return order.number, owner.id


# ----------------------------------------------------------------- identity


def test_an_anonymous_order_question_asks_for_the_email_then_answers_it(seeded: SqlAlchemyUnitOfWork) -> None:
    oliver = customer(seeded, "17850")
    chat = Chat()
    assert chat.say("where is my order 536365?", "order_status", {"order_number": "536365"}) == ["utter_ask_email"]
    answer = chat.say(oliver.email, "inform", {"email": oliver.email})
    assert answer == ["utter_identity_verified", "utter_order_delivered"]
    assert chat.said("utter_order_delivered")["order_number"] == "536365"
    assert verify_conversation_identity(chat.slots["identity"], "recorded") == oliver.id


def test_a_valid_token_in_the_metadata_identifies_the_customer(seeded: SqlAlchemyUnitOfWork) -> None:
    oliver = customer(seeded, "17850")
    chat = Chat(metadata={"customer_token": sign_customer_token(oliver.id)})
    assert chat.say("where is 536365", "order_status", {"order_number": "536365"}) == ["utter_order_delivered"]
    assert verify_conversation_identity(chat.slots["identity"], "recorded") == oliver.id


def test_a_forged_token_identifies_nobody(seeded: SqlAlchemyUnitOfWork) -> None:
    oliver = customer(seeded, "17850")
    forged = sign_customer_token(oliver.id, settings=Settings(CRM_TOKEN_SECRET="f" * 40))
    chat = Chat(metadata={"customer_token": forged})
    assert chat.say("where is 536365", "order_status", {"order_number": "536365"}) == ["utter_ask_email"]
    assert not chat.slots.get("identity")


def test_session_start_recognises_a_signed_in_customer_and_forgets_unfinished_business(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    hugo = customer(seeded, "12748")
    state = copy.deepcopy(json.loads((TRACKERS / "order_status_536365.json").read_text()))
    state["slots"] = {
        "session_started_metadata": {"customer_token": sign_customer_token(hugo.id)},
        "dialogue": {"task": {"name": "return_request", "asked": "reason"}},
    }
    started = Tracker.from_dict(state)
    events = asyncio.run(ActionSessionStart().run(CollectingDispatcher(), started, {}))
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    assert verify_conversation_identity(slots["identity"], "recorded") == hugo.id and "dialogue" not in slots
    assert customer_of_conversation(seeded, started.sender_id) == hugo.id


def test_email_and_order_in_one_message_verify_and_the_question_in_it_is_answered(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    carmen = customer(seeded, "15910")
    chat = Chat()
    text = f"my email is {carmen.email} and my order is 581502, where is it?"
    # the NLU also hears "where is it?" as a second request: it is answered once, not twice
    answer = chat.say(
        text,
        "identify",
        {"email": carmen.email, "order_number": "581502"},
        secondary=(("order_status", 0.9, "where is it"),),
    )
    status = order_of(seeded, carmen.id, "581502").status  # moves on with the hour of the seed
    assert answer == ["utter_identity_verified", f"utter_order_{status}"]


def test_wrong_details_are_refused_and_three_lock_the_account_questions(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = Chat()
    assert chat.say("my points please", "loyalty_status") == ["utter_ask_email"]
    for attempt in range(1, 4):
        email = f"stranger{attempt}@example.com"
        answer = chat.say(f"{email} 536365", "inform", {"email": email, "order_number": "536365"})
        assert answer == (["utter_identity_locked"] if attempt == 3 else ["utter_identity_failed", "utter_ask_email"])
    assert chat.say("how many points do I have", "loyalty_status") == ["utter_identity_locked"]


# ----------------------------------------------------------------- orders


def test_someone_elses_order_is_not_found(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "12748")
    assert chat.say("where is 536365", "order_status", {"order_number": "536365"}) == ["utter_order_not_found"]


def test_my_last_order_is_the_newest_one(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "13694")
    newest = list_orders(seeded, customer(seeded, "13694").id, limit=1)[0]
    assert chat.say("where is my last order?", "order_status") == [f"utter_order_{newest.status}"]
    assert chat.said(f"utter_order_{newest.status}")["order_number"] == newest.number


def test_a_follow_up_asks_the_same_question_about_another_order(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "12748")
    assert chat.say("tracking for 581474", "track_order", {"order_number": "581474"}) == ["utter_tracking"]
    assert chat.say("and 581473?", "inform", {"order_number": "581473"}) == ["utter_tracking"]
    assert chat.said("utter_tracking")["order_number"] == "581473"
    assert chat.say("sorry, I meant 581449", "inform", {"order_number": "581449"}) == ["utter_tracking"]
    assert chat.said("utter_tracking")["order_number"] == "581449"


def test_and_the_other_two_asks_the_same_question_about_the_newest_other_orders(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "16000")  # three orders: 581110, 581107, 581105
    assert chat.say("where is 581110", "order_status", {"order_number": "581110"}) == ["utter_order_shipped"]
    answer = chat.say("and the other two?", "nlu_fallback", confidence=0.3)
    assert answer == ["utter_order_shipped", "utter_order_shipped"], chat.text
    told = [m["order_number"] for m in chat.messages if m.get("response") == "utter_order_shipped"]
    assert told == ["581107", "581105"]


def test_another_order_after_a_detail_of_the_first_gets_the_question_the_talk_started_with(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    chat = signed_in(seeded, "16000")
    assert chat.say("where is 581107", "order_status", {"order_number": "581107"}) == ["utter_order_shipped"]
    assert chat.say("when will it arrive", "delivery_estimate") == ["utter_delivery_window"]
    assert chat.said("utter_delivery_window")["progress"] == "is on its way and"  # where it is, then when it comes
    # "when" was a detail of 581107; of the other order they want where it is (its tracking, its date)
    answer = chat.say("and the other one, 581105?", "nlu_fallback", {"order_number": "581105"}, confidence=0.5)
    assert answer == ["utter_order_shipped"], chat.text
    assert chat.said("utter_order_shipped")["order_number"] == "581105"
    # a question about when that opened the talk stays the question
    other = signed_in(seeded, "16000")
    assert other.say("when will 581107 arrive", "delivery_estimate", {"order_number": "581107"}) == [
        "utter_delivery_window"
    ]
    assert other.say("and 581105?", "inform", {"order_number": "581105"}) == ["utter_delivery_window"]


def test_whether_an_order_arrived_is_its_status_and_the_next_order_gets_its_status_too(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    chat = signed_in(seeded, "16000")
    # the classifier hesitates between "when" and "where"; "did it arrive" asks whether it is there yet
    answer = chat.say(
        "did 581107 arrive? i was out all week",
        "nlu_fallback",
        {"order_number": "581107"},
        confidence=0.5,
        ranking=(("delivery_estimate", 0.35), ("order_status", 0.29)),
    )
    assert answer == ["utter_order_shipped"], chat.text
    answer = chat.say("and what about 581105", "nlu_fallback", {"order_number": "581105"}, confidence=0.5)
    assert answer == ["utter_order_shipped"] and chat.said("utter_order_shipped")["order_number"] == "581105"


def test_tracking_of_an_order_not_yet_shipped_says_so(seeded: SqlAlchemyUnitOfWork) -> None:
    number, owner = open_order(seeded, "12680")
    answer = Chat(owner).say(f"tracking {number}", "track_order", {"order_number": number})
    assert answer == ["utter_tracking_not_yet"]


def test_a_question_about_the_order_just_talked_about_is_about_that_order(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "16000")
    assert chat.say("where is 581107", "order_status", {"order_number": "581107"}) == ["utter_order_shipped"]
    assert chat.say("ok when will it come", "inform", confidence=0.6) == ["utter_delivery_window"], chat.text
    assert chat.said("utter_delivery_window")["order_number"] == "581107"


def test_a_request_and_a_cancel_in_one_message_answers_first_and_asks_the_yes_no_last(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    _, owner = open_order(seeded, "12680")
    chat = Chat(owner)
    text = "how many points have i got and can i cancel my last order"
    secondary = (
        ("loyalty_status", 0.99, "how many points have i got"),
        ("cancel_order", 0.99, "can i cancel my last order"),
    )
    answer = chat.say(text, "loyalty_status", confidence=0.8, secondary=secondary)
    assert answer == ["utter_loyalty_status", "utter_confirm_cancel"], chat.text
    assert chat.say("no dont, just wanted to know", "deny") == ["utter_keep_order"]


def test_dont_cancel_after_another_question_keeps_the_order(seeded: SqlAlchemyUnitOfWork) -> None:
    number, owner = open_order(seeded, "12680")
    chat = Chat(owner)
    assert chat.say(f"cancel {number}", "cancel_order", {"order_number": number}) == ["utter_confirm_cancel"]
    chat.say("hmm hold on how much is the lunch bag", "product_info")  # a list to pick from is open now
    assert chat.say("actually dont cancel my order, i'll keep it", "cancel_order") == ["utter_keep_order"], chat.text
    assert chat.said("utter_keep_order")["order_number"] == number


def test_a_person_asked_for_in_one_clause_is_a_handoff(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "12748")
    secondary = (("human_handoff", 0.99, "can i talk to a manager"), ("complain", 0.95, "i'm not happy about that"))
    text = "i'm not happy about that, can i talk to a manager"
    assert chat.say(text, "complain", confidence=0.66, secondary=secondary, negative=True) == ["utter_handoff"]
    no_person = (("human_handoff", 0.95, "i don't want to talk to a person"),)
    answer = signed_in(seeded, "12748").say("i don't want to talk to a person", "complain", secondary=no_person)
    assert "utter_handoff" not in answer


def test_a_postcode_corrected_after_an_address_change_goes_to_the_same_order(seeded: SqlAlchemyUnitOfWork) -> None:
    number, owner = open_order(seeded, "17754")
    chat = Chat(owner)
    text = f"please send {number} to 8 Ashdown Road, Worthing BN11 1XY"
    assert chat.say(text, "change_address", {"order_number": number}) == ["utter_address_changed"], chat.text
    assert chat.say("oh no sorry the postcode is BN11 1XZ", "change_address", confidence=0.66) == [
        "utter_address_changed"
    ], chat.text
    assert "BN11 1XZ" in chat.said("utter_address_changed")["address"]


def test_browsing_a_category_and_asking_what_to_reorder_are_understood(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "12748")
    answer = chat.say(
        "what have you got for the garden",
        "nlu_fallback",
        {"category": "Garden & Outdoor"},
        confidence=0.5,
        ranking=(("product_info", 0.1),),
    )
    assert answer[0] == "utter_recommendations", chat.text
    answer = chat.say(
        "and what would i normally reorder", "nlu_fallback", confidence=0.5, ranking=(("reorder_when", 0.29),)
    )
    assert answer and answer[0] != "utter_default", chat.text


def test_recent_orders_are_listed(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "12748")
    assert chat.say("show me my orders", "list_orders") == ["utter_orders_list"]
    assert chat.said("utter_orders_list")["orders"].count("\n- ") == 4


def test_several_order_numbers_in_one_message_are_each_answered_and_both_then_means_them(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    chat = signed_in(seeded, "12748")
    assert chat.say("could you look up 581474 and 581473 for me", "inform", confidence=0.9) == [
        "utter_order_shipped",
        "utter_order_shipped",
    ]
    assert [m["order_number"] for m in chat.messages] == ["581474", "581473"]
    assert chat.say("and the tracking numbers of both?", "track_order") == ["utter_tracking", "utter_tracking"]
    assert [m["order_number"] for m in chat.messages] == ["581474", "581473"]
    chat.say("where is 581449", "order_status", {"order_number": "581449"})
    assert chat.say("tracking for both please", "track_order") == ["utter_tracking"]  # another order talked about now
    assert chat.said("utter_tracking")["order_number"] == "581449"


def test_a_corrected_address_right_after_a_change_goes_to_the_same_order(seeded: SqlAlchemyUnitOfWork) -> None:
    number, owner = open_order(seeded, "15910")
    chat = Chat(owner)
    text = f"please send order {number} to 3 Mill Road, Cambridge CB1 2AD"
    assert chat.say(text, "change_address", {"order_number": number}) == ["utter_address_changed"]
    # a typo fixed in a hurry reads as annoyed: it is still the new address, not a complaint
    again = chat.say("argh wrong postcode, it's 3 Mill Road, Cambridge CB1 2AZ sorry", "inform", negative=True)
    assert again == ["utter_address_changed"]
    assert chat.said("utter_address_changed")["order_number"] == number
    assert chat.said("utter_address_changed")["address"] == "3 Mill Road, Cambridge CB1 2AZ"


def test_cancelling_asks_first_and_yes_cancels_exactly_the_order_asked_about(seeded: SqlAlchemyUnitOfWork) -> None:
    number, owner = open_order(seeded, "15694")
    chat = Chat(owner)
    assert chat.say(f"cancel {number}", "cancel_order", {"order_number": number}) == ["utter_confirm_cancel"]
    other = "536365"
    # "yes, <another number>" never cancels either order: it asks about the new one
    assert chat.say(f"yes, {other}", "affirm", {"order_number": other}) == ["utter_order_not_found"]
    assert chat.say(f"cancel {number}", "cancel_order", {"order_number": number}) == ["utter_confirm_cancel"]
    assert chat.say("yes please", "affirm") == ["utter_order_cancelled_now"]
    with seeded:
        assert seeded.orders.by_number(number).status == OrderStatus.CANCELLED  # type: ignore[union-attr]


def test_no_keeps_the_order_and_a_delivered_order_cannot_be_cancelled(seeded: SqlAlchemyUnitOfWork) -> None:
    number, owner = open_order(seeded, "12680")
    chat = Chat(owner)
    chat.say(f"cancel my order {number}", "cancel_order", {"order_number": number})
    assert chat.say("no", "deny") == ["utter_keep_order"] and chat.said("utter_keep_order")["order_number"] == number
    oliver = signed_in(seeded, "17850")
    assert oliver.say("cancel 536365", "cancel_order", {"order_number": "536365"}) == ["utter_cannot_cancel"]
    assert "return" in oliver.said("utter_cannot_cancel")["reason"]


def test_dont_cancel_it_keeps_the_order_even_when_heard_as_a_cancel_request(seeded: SqlAlchemyUnitOfWork) -> None:
    number, owner = open_order(seeded, "12680")
    chat = Chat(owner)
    chat.say(f"cancel my order {number}", "cancel_order", {"order_number": number})
    assert chat.say("actually no, dont cancel it", "cancel_order") == ["utter_keep_order"]
    with seeded:
        assert seeded.orders.by_number(number).status == OrderStatus.PROCESSING  # type: ignore[union-attr]


def test_a_cancel_request_asked_again_as_a_question_is_asked_back_not_carried_out(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    number, owner = open_order(seeded, "12680")
    chat = Chat(owner)
    assert chat.say("can you cancel my latest order", "cancel_order") == ["utter_confirm_cancel"]
    chat.say("hang on, how much is the spaceboy lunch box?", "product_info", {"product": "spaceboy lunch box"})
    answer = chat.say("right, can you cancel my latest order", "cancel_order", confidence=0.99)
    assert answer == ["utter_confirm_cancel"], chat.text
    assert chat.said("utter_confirm_cancel")["order_number"] == number
    with seeded:
        assert seeded.orders.by_number(number).status == OrderStatus.PROCESSING  # type: ignore[union-attr]
    assert chat.say("no", "deny") == ["utter_keep_order"]


def test_a_yes_with_more_words_is_a_yes(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = Chat(sender="yes-more-words")
    chat.say("blorf snargle", "nlu_fallback", confidence=0.5)
    assert chat.say("zzqx vlemp", "inform", confidence=0.7) == ["utter_offer_human_rephrase"]
    assert chat.say("yes put me through", "nlu_fallback", confidence=0.4) == ["utter_handoff"]


def test_an_unrelated_question_during_a_yes_no_question_is_answered_and_the_question_asked_again(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    number, owner = open_order(seeded, "16954")
    chat = Chat(owner)
    chat.say(f"cancel {number}", "cancel_order", {"order_number": number})
    answer = chat.say("do you take amex?", "faq", faq="utter_faq/payment_methods")
    assert answer == ["utter_faq/payment_methods", "utter_back_to", "utter_confirm_cancel"]
    assert chat.say("ok yes cancel it", "cancel_order") == ["utter_order_cancelled_now"]


def test_a_new_address_in_the_first_message_is_used(seeded: SqlAlchemyUnitOfWork) -> None:
    number, owner = open_order(seeded, "17754")
    chat = Chat(owner)
    text = f"please change the delivery address of order {number} to 12 High Street, Leeds LS1 4AB"
    assert chat.say(text, "change_address", {"order_number": number}) == ["utter_address_changed"]
    assert chat.said("utter_address_changed")["address"] == "12 High Street, Leeds LS1 4AB"
    again = chat.say("can you send it to 10 Downing St, London SW1A 2AA instead", "change_address")
    assert again == ["utter_address_changed"] and chat.said("utter_address_changed")["order_number"] == number
    assert chat.say("yes", "affirm") == ["utter_nothing_to_confirm"]


def test_an_address_is_asked_for_checked_and_refused_for_a_shipped_order(seeded: SqlAlchemyUnitOfWork) -> None:
    number, owner = open_order(seeded, "16446")
    chat = Chat(owner)
    assert chat.say(f"change the address of {number}", "change_address", {"order_number": number}) == [
        "utter_ask_address_for"
    ]
    assert chat.said("utter_ask_address_for")["order_number"] == number
    assert chat.say("somewhere nice", "inform") == ["utter_did_not_get_that", "utter_ask_address_for"]
    assert chat.say("7 Mill Lane, York YO1 7HH", "inform") == ["utter_address_changed"]
    shipped = signed_in(seeded, "12748")
    answer = shipped.say("change the delivery address of 581474", "change_address", {"order_number": "581474"})
    assert answer == ["utter_cannot_change_address"]  # refused before asking for the address


def test_without_a_number_the_address_question_names_the_order_that_can_still_change(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    number, owner = open_order(seeded, "12748")  # Hugo: 206 orders, one still being prepared
    chat = Chat(owner)
    assert chat.say("can i change the delivery address on my order?", "change_address") == ["utter_ask_address_for"]
    assert chat.said("utter_ask_address_for")["order_number"] == number


def test_the_second_one_of_the_orders_just_listed_is_that_order(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "13694")
    listed = [o.number for o in list_orders(seeded, customer(seeded, "13694").id, limit=5)]
    assert chat.say("show me my recent orders", "list_orders") == ["utter_orders_list"]
    answer = chat.say("what's the tracking for the second one", "track_order")
    assert answer and chat.messages[-1].get("order_number") == listed[1], chat.text


def test_what_day_it_came_after_a_delivered_order_is_the_day_it_was_delivered(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "17850")
    assert chat.say("did 536365 get delivered", "order_status", {"order_number": "536365"}) == ["utter_order_delivered"]
    assert chat.say("and what day was that?", "nlu_fallback", confidence=0.5) == ["utter_delivery_done"]
    assert chat.said("utter_delivery_done")["order_number"] == "536365"


def test_the_other_order_is_the_one_before_the_order_talked_about(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "17850")
    newest, older = (o.number for o in list_orders(seeded, customer(seeded, "17850").id, limit=2))
    chat.say(f"where is {newest}", "order_status", {"order_number": newest})
    assert chat.messages[-1].get("order_number") == newest
    text = "and what about my other order, the older one?"
    answer = chat.say(text, "nlu_fallback", confidence=0.5, secondary=(("inform", 0.99, "the older one"),))
    assert answer and chat.messages[-1].get("order_number") == older, chat.text


def test_sorry_i_meant_my_latest_one_asks_the_same_question_about_the_newest_order(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    chat = signed_in(seeded, "17850")
    newest = list_orders(seeded, customer(seeded, "17850").id, limit=1)[0]
    assert chat.say("when did 536365 arrive", "delivery_estimate", {"order_number": "536365"}) == [
        "utter_delivery_done"
    ]
    # heard as a "no": it corrects which order was meant
    answer = chat.say("no sorry i meant my latest one", "deny", confidence=0.73)
    assert answer and chat.messages[-1].get("order_number") == newest.number, chat.text


def test_what_about_mine_after_someone_elses_order_is_the_customers_newest_order(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "17850")
    newest = list_orders(seeded, customer(seeded, "17850").id, limit=1)[0]
    assert chat.say("whats the status of order 581474", "order_status", {"order_number": "581474"}) == [
        "utter_order_not_found"
    ]
    answer = chat.say("oh hang on thats my sisters order. what about mine", "nlu_fallback", confidence=0.5)
    assert answer == [f"utter_order_{newest.status}"], chat.text
    assert chat.messages[-1]["order_number"] == newest.number


def test_a_delivered_order_that_never_came_offers_a_person(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "17850")
    assert chat.say("did 536365 get delivered", "order_status", {"order_number": "536365"}) == ["utter_order_delivered"]
    answer = chat.say("it says delivered but nothings here", "order_status")
    assert answer == ["utter_order_delivered", "utter_offer_human"], chat.text
    assert chat.say("yes please", "affirm") == ["utter_handoff"]


def test_an_order_question_and_another_request_in_one_message_are_both_answered(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "17850")
    # the classifier heard only the price question; the clause with the order number is an order question
    text = "where is 536365 and how much is the red retrospot traditional teapot"
    secondary = (("product_info", 1.0, "how much is the red retrospot traditional teapot"),)
    answer = chat.say(text, "product_info", {"order_number": "536365"}, secondary=secondary)
    assert answer == ["utter_product_info", "utter_order_delivered"], chat.text
    numbered = signed_in(seeded, "17850")
    answer = numbered.say("hi! 1) where is 536365 2) how many points have i got", "loyalty_status")
    assert answer == ["utter_loyalty_status", "utter_order_delivered"], numbered.text


def test_a_number_from_the_list_of_orders_is_answered_with_that_orders_status(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "13694")
    listed = list_orders(seeded, customer(seeded, "13694").id, limit=5)
    assert chat.say("show me my recent orders", "list_orders") == ["utter_orders_list"]
    answer = chat.say(f"and {listed[1].number}?", "nlu_fallback", confidence=0.5, ranking=(("inform", 0.49),))
    assert answer == [f"utter_order_{listed[1].status}"], chat.text
    assert chat.messages[-1]["order_number"] == listed[1].number


def test_a_delivery_window_of_one_day_is_one_date() -> None:
    monday = date(2026, 12, 7)
    assert delivery_window(monday, monday, monday) == "on Monday 7 December 2026"
    window = delivery_window(monday, date(2026, 12, 9), date(2026, 12, 8))
    assert window == "between Monday 7 December 2026 and Wednesday 9 December 2026, most likely Tuesday 8 December 2026"


# ----------------------------------------------------------------- returns


def _returnable(uow: SqlAlchemyUnitOfWork, line: int) -> tuple[str, int, str]:
    """A recently delivered order, its customer and the product of its ``line``-th line (one per test)."""
    with uow:
        orders = uow.session.scalars(
            select(Order)
            .where(Order.status == OrderStatus.DELIVERED, Order.customer_id.is_not(None))
            .order_by(Order.delivered_at.desc())
            .limit(10)
        ).all()
        order = next(o for o in orders if len({x.product_id for x in o.lines}) > 2)
        return order.number, int(order.customer_id or 0), order.lines[line].product.name


def test_a_return_with_item_and_reason_up_front_is_opened_at_once(seeded: SqlAlchemyUnitOfWork) -> None:
    number, owner, item = _returnable(seeded, 0)
    chat = Chat(owner)
    text = f"I want to return the {item.lower()} from order {number}, it arrived broken"
    answer = chat.say(text, "return_request", {"order_number": number})
    assert answer == ["utter_return_created"], chat.text
    assert chat.said("utter_return_created")["product"] == item
    with seeded:
        written = seeded.session.scalars(select(Return).order_by(Return.id.desc())).first()
        assert written is not None and written.reason == "it arrived broken"


def test_another_item_of_the_same_order_with_its_problem_is_another_return(seeded: SqlAlchemyUnitOfWork) -> None:
    number, owner, first = _returnable(seeded, 2)
    *_, second = _returnable(seeded, 3)
    chat = Chat(owner)
    text = f"return the {first.lower()} from {number}, wrong colour"
    assert chat.say(text, "return_request", {"order_number": number}) == ["utter_return_created"]
    # heard as a price question about the product it names; after a return it is the next return
    answer = chat.say(f"and the {second.lower()} too, same order, it leaks", "product_info", confidence=0.6)
    assert answer == ["utter_return_created"], chat.text
    assert chat.said("utter_return_created")["product"] == second


def test_a_question_in_the_middle_of_a_return_is_answered_and_the_return_goes_on(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    number, owner, item = _returnable(seeded, 1)
    chat = Chat(owner)
    assert chat.say(f"return the {item.lower()} from {number}", "return_request", {"order_number": number}) == [
        "utter_ask_reason"
    ]
    answer = chat.say("what do you know about me?", "privacy_data")
    assert answer == ["utter_data_summary", "utter_back_to", "utter_ask_reason"]
    assert chat.say("it's the wrong colour", "inform") == ["utter_return_created"]


def test_another_item_named_as_a_correction_while_the_reason_is_asked_changes_the_item(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    number, owner, first = _returnable(seeded, 4)  # lines no other test returns
    *_, second = _returnable(seeded, 5)
    chat = Chat(owner)
    assert chat.say(f"return the {first.lower()} from {number}", "return_request", {"order_number": number}) == [
        "utter_ask_reason"
    ]
    # "not that one" names the item meant; it is not the reason, which is still to come
    assert chat.say(f"oh actually not that one, the {second.lower()}", "inform") == ["utter_ask_reason"], chat.text
    assert chat.say("it has a small tear", "inform") == ["utter_return_created"]
    assert chat.said("utter_return_created")["product"] == second
    with seeded:
        written = seeded.session.scalars(select(Return).order_by(Return.id.desc())).first()
        assert written is not None and written.reason == "it has a small tear"


def test_the_reason_in_a_clause_of_its_own_is_taken_in_the_customers_words(seeded: SqlAlchemyUnitOfWork) -> None:
    number, owner, item = _returnable(seeded, 6)
    chat = Chat(owner)
    text = f"return the {item.lower()} from {number}, my customer cancelled"
    assert chat.say(text, "return_request", {"order_number": number}) == ["utter_return_created"], chat.text
    with seeded:
        written = seeded.session.scalars(select(Return).order_by(Return.id.desc())).first()
        assert written is not None and written.reason == "my customer cancelled"


def test_an_item_that_is_not_on_the_order_is_never_returned_in_its_place(seeded: SqlAlchemyUnitOfWork) -> None:
    number, owner, _ = _returnable(seeded, 0)
    with seeded:
        on_order = {line.product.name for line in seeded.orders.by_number(number).lines}  # type: ignore[union-attr]
        returns_before = seeded.session.scalar(select(func.count(Return.id)))
    assert "Spaceboy Lunch Box" not in on_order
    chat = Chat(owner)
    answer = chat.say(f"i want to return the spaceboy lunch box from {number}, it leaks", "return_request")
    assert "utter_return_created" not in answer and answer[-1] == "utter_ask_item", chat.text
    with seeded:
        assert seeded.session.scalar(select(func.count(Return.id))) == returns_before


def test_an_item_named_in_part_is_the_order_line_holding_every_word_said(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "12749")
    with seeded:
        on_order = {line.product.name for line in seeded.orders.by_number("580750").lines}  # type: ignore[union-attr]
    # the catalogue also sells a "Storage Tin Vintage Leaf", which is not on this order: the customer's words
    # are all in the line they bought
    assert "Round Storage Tin Vintage Leaf" in on_order and "Storage Tin Vintage Leaf" not in on_order
    text = "return the storage tin vintage leaf from 580750 - the lid is dented"
    assert chat.say(text, "return_request", {"order_number": "580750"}) == ["utter_return_created"], chat.text
    assert chat.said("utter_return_created")["product"] == "Round Storage Tin Vintage Leaf"


def test_what_is_wrong_run_on_after_the_order_number_opens_the_return(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "12749")
    text = "i want to return the alarm clock bakelike green from 580750 it buzzes and my son cant sleep"
    assert chat.say(text, "return_request", {"order_number": "580750"}) == ["utter_return_created"], chat.text
    assert chat.said("utter_return_created")["product"] == "Alarm Clock Bakelike Green"
    with seeded:
        written = seeded.session.scalars(select(Return).order_by(Return.id.desc())).first()
        assert written is not None and written.reason == "it buzzes"


def test_a_price_question_asked_first_while_the_item_is_asked_is_answered_and_the_return_goes_on(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    chat = signed_in(seeded, "12749")
    assert chat.say("return request for order 580750", "return_request", {"order_number": "580750"}) == [
        "utter_ask_item"
    ]
    # "first" is when they ask, not the first item of the list
    answer = chat.say(
        "one thing first - how much is the regency cakestand?",
        "product_info",
        {"product": "regency cakestand"},
        confidence=0.99,
    )
    assert answer == ["utter_product_info", "utter_back_to", "utter_ask_item"], chat.text
    assert chat.said("utter_product_info")["name"] == "Regency Cakestand 3 Tier"
    assert chat.say("the parisienne key cabinet", "nlu_fallback", confidence=0.5) == ["utter_ask_reason"]
    assert chat.say("the door came off", "inform") == ["utter_return_created"]
    assert chat.said("utter_return_created")["product"] == "Parisienne Key Cabinet"


def test_can_i_send_bits_back_from_it_is_a_return_of_the_order_just_talked_about(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "17850")
    assert chat.say("did 536365 get delivered", "order_status", {"order_number": "536365"}) == ["utter_order_delivered"]
    # delivered a year ago: past the return window, said at once instead of the general policy
    answer = chat.say("can i still send bits back from it", "faq", faq="utter_faq/return_policy")
    assert answer == ["utter_cannot_return"], chat.text
    assert "536365" in chat.said("utter_cannot_return")["reason"]


def test_a_question_about_the_policy_just_given_gets_the_policy_again(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = Chat()
    assert chat.say("how long do i have to send things back", "faq", faq="utter_faq/return_policy") == [
        "utter_faq/return_policy"
    ]
    answer = chat.say("does that start from when it was delivered?", "nlu_fallback", confidence=0.5)
    assert answer == ["utter_faq/return_policy"]


def test_can_i_return_items_from_a_named_order_starts_that_return_even_when_heard_as_the_policy_question(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    number, owner, _ = _returnable(seeded, 0)
    chat = Chat(owner)
    text = f"can I return items from order {number}?"
    answer = chat.say(text, "faq", {"order_number": number}, faq="utter_faq/return_policy")
    assert answer == ["utter_ask_item"], chat.text
    # without an order it is the policy question
    assert Chat(owner).say("can I return items?", "faq", faq="utter_faq/return_policy") == ["utter_faq/return_policy"]


def test_a_return_question_about_an_order_with_the_email_verifies_then_starts_the_return(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    number, owner, _ = _returnable(seeded, 0)
    with seeded:
        email = seeded.customers.get(owner).email
    chat = Chat()
    text = f"can I return items from order {number}? my email is {email}"
    secondary = (("identify", 0.99, f"my email is {email}"), ("faq", 0.63, f"can i return items from order {number}"))
    answer = chat.say(
        text, "nlu_fallback", {"order_number": number, "email": email}, confidence=0.5, secondary=secondary
    )
    assert answer == ["utter_identity_verified", "utter_ask_item"], chat.text


def _email(uow: SqlAlchemyUnitOfWork, ref: str) -> str:
    with uow:
        found = uow.customers.by_external_ref(ref)
        assert found is not None
        return str(found.email)


def test_a_request_beside_the_email_and_order_number_is_run_once_the_customer_is_verified(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    email = _email(seeded, "12995")
    text = f"delete my data please, email {email} order 566937"
    chat = Chat()
    answer = chat.say(
        text,
        "identify",
        {"email": email, "order_number": "566937"},
        confidence=0.71,
        secondary=(("delete_data", 1.0, "delete my data please"),),
        ranking=(("delete_data", 0.14),),
    )
    assert answer == ["utter_identity_verified", "utter_confirm_delete"], chat.text
    assert chat.say("yes i'm sure", "affirm") == ["utter_deletion_requested"]


def test_a_return_told_with_the_email_goes_on_once_the_order_number_proves_who_it_is(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    email = _email(seeded, "14508")
    chat = Chat()
    text = f"hiya i want to return a toy helicopter, it doesnt fly at all, email is {email}"
    answer = chat.say(
        text,
        "nlu_fallback",
        {"email": email, "category": "Toys & Games"},
        confidence=0.5,
        ranking=(("return_request", 0.47), ("identify", 0.07)),
        secondary=(
            ("identify", 0.96, f"email is {email}"),
            ("return_request", 0.88, "hiya i want to return a toy helicopter"),
        ),
    )
    assert answer == ["utter_ask_identity_order"], chat.text
    answer = chat.say("577128", "inform", {"order_number": "577128"})
    assert answer == ["utter_identity_verified", "utter_return_created"], chat.text
    assert chat.said("utter_return_created")["product"] == "Yellow Shark Helicopter"


def test_a_return_heard_as_details_is_the_return_its_first_clause_asks(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "17799")
    text = "return poppys playhouse kitchen from order 577077, it was missing pieces"
    answer = chat.say(
        text,
        "inform",
        {"order_number": "577077"},
        confidence=0.77,
        ranking=(("return_request", 0.2),),
        secondary=(
            ("inform", 1.0, "it was missing pieces"),
            ("return_request", 0.95, "return poppy's playhouse kitchen from order 577077"),
        ),
    )
    assert answer == ["utter_return_created"], chat.text
    assert chat.said("utter_return_created")["product"] == "Poppy's Playhouse Kitchen"


@pytest.mark.parametrize(
    ("ref", "message", "number", "product"),
    [
        # a typo ("fether") and "xmas": the order's green tree, not its white one
        (
            "15916",
            "return the green goose fether xmas tree from order 578275 - its shedding feathers all over",
            "578275",
            "Green Goose Feather Christmas Tree",
        ),
        # what is wrong ("a chipped plate") is not a second item
        (
            "12462",
            "the regency cakestand in my last order has a chipped plate, i want to return it",
            "",
            "Regency Cakestand 3 Tier",
        ),
    ],
)
def test_the_item_of_a_return_is_the_order_line_its_words_name(
    seeded: SqlAlchemyUnitOfWork, ref: str, message: str, number: str, product: str
) -> None:
    chat = signed_in(seeded, ref)
    answer = chat.say(message, "return_request", {"order_number": number} if number else {})
    assert answer == ["utter_return_created"], chat.text
    assert chat.said("utter_return_created")["product"] == product


def test_never_mind_drops_the_request(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "13694")
    assert chat.say("I'd like to return something", "return_request") == ["utter_ask_order"]
    assert chat.say("never mind", "deny") == ["utter_form_stopped"]
    assert chat.say("yes", "affirm") == ["utter_nothing_to_confirm"]


def test_a_return_from_an_order_not_delivered_is_refused_before_asking_anything(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "12748")
    answer = chat.say("I want to return something from 581474", "return_request", {"order_number": "581474"})
    assert answer == ["utter_cannot_return"] and "on its way" in chat.said("utter_cannot_return")["reason"]


def test_a_return_with_only_one_order_it_can_be_from_is_about_that_order(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "13747")  # one order, delivered long ago: no list of one order to pick from
    assert chat.say("can I send the lamp back, it's broken", "return_request") == ["utter_cannot_return"]
    assert "window closed" in chat.said("utter_cannot_return")["reason"]


def test_words_that_fit_several_lines_of_the_order_pick_among_the_options_just_listed(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    chat = signed_in(seeded, "13694")
    text = "I'd like to send back the christmas jumbo bags from 580742, they arrived torn"
    assert chat.say(text, "return_request", {"order_number": "580742"}) == ["utter_ask_item"]
    # three lines of the order are "vintage", one of the two Christmas bags listed is
    assert chat.say("the vintage ones", "inform") == ["utter_return_created"]
    assert chat.said("utter_return_created")["product"] == "Jumbo Bag Vintage Christmas"


def test_a_return_told_before_the_email_is_opened_once_the_customer_is_known(seeded: SqlAlchemyUnitOfWork) -> None:
    mei = customer(seeded, "16016")
    chat = Chat()
    text = "hi i need to retrun the large round wicker platter from 578676 it was scratched"
    entities = {"product": "large round wicker platter", "order_number": "578676"}
    assert chat.say(text, "return_request", entities) == ["utter_ask_email"]
    # her e-mail address names no product: the platter is still the item
    assert chat.say(mei.email, "inform", {"email": mei.email}) == ["utter_identity_verified", "utter_return_created"]
    assert chat.said("utter_return_created")["product"] == "Large Round Wicker Platter"


def test_a_choice_from_the_item_list_that_says_what_is_wrong_opens_the_return(seeded: SqlAlchemyUnitOfWork) -> None:
    number, owner, _ = _returnable(seeded, 0)
    chat = Chat(owner)
    asked = chat.say(f"I'd like to send something back from {number}", "return_request", {"order_number": number})
    assert asked == ["utter_ask_item"], chat.text
    choice = chat.said("utter_ask_item")["buttons"][-1]["title"]
    # the choice and the reason in one answer: the reason is not asked for again
    assert chat.say(f"the {choice.lower()} one, it arrived torn", "inform") == ["utter_return_created"], chat.text
    assert chat.said("utter_return_created")["product"] == choice


def test_never_mind_with_a_new_question_drops_the_request_and_answers_the_question(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    chat = signed_in(seeded, "13694")
    assert chat.say("I'd like to return something", "return_request") == ["utter_ask_order"]
    answer = chat.say(
        "actually forget it. what's the price of the retrospot lamp",
        "product_info",
        secondary=(
            ("deny", 0.9, "actually forget it"),
            ("product_info", 0.99, "what's the price of the retrospot lamp"),
        ),
    )
    assert answer == ["utter_form_stopped", "utter_product_info"]
    assert chat.said("utter_product_info")["name"] == "Retrospot Lamp"


# ----------------------------------------------------------------- products


def test_a_price_question_finds_the_product_named_with_typos(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = Chat()
    assert chat.say("how much is the red retrospot teapto", "product_info") == ["utter_product_info"]
    assert chat.said("utter_product_info")["name"] == "Red Retrospot Traditional Teapot"


def test_several_products_that_fit_are_listed_and_one_is_picked_by_position_or_name(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    chat = Chat()
    assert chat.say("how much is the alarm clock bakelike", "product_info") == ["utter_which_product"]
    assert chat.say("the pink one", "inform") == ["utter_product_info"]
    assert chat.said("utter_product_info")["name"] == "Alarm Clock Bakelike Pink"
    assert chat.say("and the ivory one?", "inform") == ["utter_product_info"]
    assert chat.said("utter_product_info")["name"] == "Alarm Clock Bakelike Ivory"
    other = Chat()
    other.say("how much is the alarm clock bakelike", "product_info")
    assert other.say("the second one", "inform") == ["utter_product_info"]


def test_a_kind_of_product_is_answered_with_a_list_and_a_new_question_is_about_the_new_product(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    chat = Chat()
    chat.say("how much is the red retrospot teapot", "product_info")
    assert chat.say("do you sell christmas lights?", "product_info") == ["utter_products_of_kind"]
    assert "Christmas Lights 10 Reindeer" in chat.text and "Teapot" not in chat.text
    assert chat.say("how much are the santas ones", "product_info") == ["utter_product_info"]
    assert chat.said("utter_product_info")["name"] == "Christmas Lights 10 Santas"


def test_an_answer_that_fits_some_of_the_listed_products_asks_again_among_those(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = Chat()
    assert chat.say("price of heart of wicker?", "product_info") == ["utter_which_product"]
    assert len(chat.messages[0]["buttons"]) == 4
    assert chat.say("the large one", "inform") == ["utter_which_product"]
    assert [b["title"] for b in chat.messages[0]["buttons"]] == ["Heart Of Wicker Large", "Large White Heart Of Wicker"]


def test_chat_around_a_product_question_is_not_taken_for_product_words(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = Chat()
    secondary = (("product_info", 0.99, "do you sell doormats"), ("affirm", 0.89, "fine whatever"))
    assert chat.say("fine whatever. do you sell doormats", "product_info", secondary=secondary) == [
        "utter_products_of_kind"
    ]
    assert "Doormat" in chat.text and "Fine Wicker Heart" not in chat.text


def test_a_kind_named_after_another_product_is_a_list_of_that_kind_not_the_product_before(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    chat = Chat()
    chat.say("how much is the doormat red retrospot", "product_info")
    assert chat.say("do you have any home sweet home doormats", "product_info") == ["utter_products_of_kind"]
    assert "Home Sweet Home" in chat.text and "Red Retrospot" not in chat.text


def test_a_product_name_with_and_in_it_is_one_product_among_several_asked_about(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = Chat()
    text = "how much are the spaceboy lunch box and the pottering mug?"
    assert chat.say(text, "product_info") == ["utter_product_info", "utter_product_info"], chat.text
    assert {m["name"] for m in chat.messages} == {"Spaceboy Lunch Box", "Pottering Mug"}


def test_something_similar_after_a_return_is_like_the_returned_product(seeded: SqlAlchemyUnitOfWork) -> None:
    number, owner, item = _returnable(seeded, 7)
    chat = Chat(owner)
    assert chat.say(f"return the {item.lower()} from {number}, it's faulty", "return_request") == [
        "utter_return_created"
    ]
    answer = chat.say("is there anything similar i could get instead", "similar_products")
    assert answer and answer[0] in {"utter_similar", "utter_similar_instead"}, chat.text
    assert item in chat.text


def test_another_product_after_a_price_is_its_price_when_the_classifier_only_guesses_otherwise(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    chat = Chat()
    assert chat.say("how much is the regency cakestand", "product_info") == ["utter_product_info"]
    # unsure, the classifier leans to "similar products" ("same range"); nothing in the words asks for that
    answer = chat.say(
        "and the regency teapot from the same range",
        "nlu_fallback",
        confidence=0.5,
        ranking=(("similar_products", 0.41), ("inform", 0.06)),
    )
    assert answer == ["utter_product_info"], chat.text
    assert chat.said("utter_product_info")["name"] == "Regency Teapot Roses"


def test_a_kind_spelt_as_it_sounds_lists_that_kind(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = Chat()
    assert chat.say("do you sell nite lites", "product_info", confidence=0.57) == ["utter_products_of_kind"]
    listed = chat.said("utter_products_of_kind")["items"].splitlines()
    assert listed and all("Light" in line for line in listed), listed


def test_a_pick_list_of_one_product_is_never_shown(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = Chat()
    # one product fits best, others nearly as well: they are the choice
    assert chat.say("how much is the black enamel candle", "product_info") == ["utter_which_product"]
    assert len(chat.messages[0]["buttons"]) > 1
    # one product fits best and no other comes close: it is the answer
    assert chat.say("how much is the white tall piece", "product_info") == ["utter_product_info"]
    assert chat.said("utter_product_info")["name"] == "White Tall Porcelain T-Light Holder"


def test_a_price_comparison_gives_the_price_of_each_product(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = Chat()
    text = "is the regency teapot roses dearer than the red retrospot traditional teapot?"
    assert chat.say(text, "nlu_fallback", confidence=0.5) == ["utter_product_info", "utter_product_info"]
    assert [m["name"] for m in chat.messages] == ["Regency Teapot Roses", "Red Retrospot Traditional Teapot"]
    chat.say("how much is the glass cloche large", "product_info")
    # "the small" names nothing by itself: the small one of the product talked about
    answer = chat.say("which costs less, the small or the large one", "bought_together", confidence=0.4)
    assert answer == ["utter_product_info", "utter_product_info"]
    assert [m["name"] for m in chat.messages] == ["Glass Cloche Small", "Glass Cloche Large"]


def test_a_product_code_after_a_product_question_is_that_product(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = Chat()
    assert chat.say("how much is 85123A", "product_info") == ["utter_product_info"]
    assert chat.say("what about 22423?", "nlu_fallback", confidence=0.5) == ["utter_product_info"]
    assert chat.said("utter_product_info")["name"] == "Regency Cakestand 3 Tier"


def test_a_shop_question_after_a_product_question_is_answered_as_asked(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = Chat()
    chat.say("how much is the vintage union jack apron", "product_info")
    # its words happen to name a product ("Metal Sign Take It Or Leave It"): it is still a delivery question
    answer = chat.say("and do you ship to wales, how long would it take", "faq", faq="utter_faq/delivery_times")
    assert answer == ["utter_faq/delivery_times"]


def test_a_product_we_sell_is_in_scope_however_the_question_was_heard(seeded: SqlAlchemyUnitOfWork) -> None:
    answer = Chat().say("have you got money banks for children", "out_of_scope", confidence=0.7)
    assert answer == ["utter_products_of_kind"]


def test_the_price_asked_beside_what_goes_with_a_product_is_that_products_price(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = Chat()
    text = "what goes with the rococo wall mirror white and how much is it"
    answer = chat.say(
        text,
        "bought_together",
        {"product": "rococo wall mirror white"},
        confidence=0.82,
        ranking=(("product_info", 0.11),),
        secondary=(("bought_together", 1.0, "what goes with the rococo wall mirror white"),),
    )
    assert answer[-1] == "utter_product_info", chat.text
    assert chat.said("utter_product_info")["name"] == "Rococo Wall Mirror White"


def test_ideas_for_my_next_order_also_say_when_it_is_likely_due(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "14245")
    answer = chat.say("any ideas for my next order", "recommend_products", confidence=0.91)
    assert answer[0] == "utter_recommendations" and answer[-1] == "utter_next_order", chat.text


def test_what_goes_together_is_said_as_bought_together_or_as_similar(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = Chat()
    answer = chat.say("what goes well with the regency cakestand", "bought_together")
    assert answer[0] in {"utter_bought_together", "utter_similar_instead"}
    assert "Regency Cakestand 3 Tier" in chat.messages[0]["product"]
    assert Chat().say("show me something like the lunch bag", "similar_products")[0] == "utter_similar"


def test_too_pricey_after_a_product_lists_cheaper_ones_like_it(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = Chat()
    assert chat.say("price check botanical gardens wall clock", "product_info") == ["utter_product_info"]
    price = float(chat.said("utter_product_info")["price"].replace(",", ""))
    answer = chat.say("bit pricey, anything like it thats cheaper", "nlu_fallback", confidence=0.4)
    assert answer == ["utter_similar_cheaper"], chat.text
    cards = chat.messages[1]["custom"]["products"]
    assert cards and all(card["price"] < price for card in cards)
    assert all(card["name"] != "Botanical Gardens Wall Clock" for card in cards)
    # a comparison is not a wish for something cheaper
    chat.say("how much is the glass cloche large", "product_info")
    assert chat.say("which is cheaper the small or the large", "product_info") == [
        "utter_product_info",
        "utter_product_info",
    ]


def test_recommendations_come_with_cards_and_respect_a_budget(seeded: SqlAlchemyUnitOfWork) -> None:
    hugo = signed_in(seeded, "12748")
    assert hugo.say("what should I buy next?", "recommend_products")[0] == "utter_recommendations"
    cards = hugo.messages[1]["custom"]["products"]
    assert 1 <= len(cards) <= 5 and all(card["reason"] and card["price"] > 0 for card in cards)
    visitor = Chat()
    visitor.say("gifts under £3", "recommend_products", {"amount": "£3"})
    assert all(card["price"] <= 3 for card in visitor.messages[1]["custom"]["products"])


def test_an_unknown_product_is_not_found(seeded: SqlAlchemyUnitOfWork) -> None:
    assert Chat().say("how much is a flux capacitor", "product_info") == ["utter_product_not_found"]


# ----------------------------------------------------------------- account


def test_two_requests_in_one_message_are_both_answered(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "12748")
    answer = chat.say(
        "what are my points and do I have any offers?",
        "ask_offers",
        secondary=(("loyalty_status", 0.98, "what are my points"),),
    )
    assert "utter_loyalty_status" in answer and ({"utter_offer", "utter_no_offer"} & set(answer))
    if "utter_offer" in answer:
        assert answer[-1] == "utter_offer"  # the yes/no question comes last, where the customer answers it


def test_privacy_summary_masks_the_email_and_deletion_needs_a_yes(seeded: SqlAlchemyUnitOfWork) -> None:
    nora = customer(seeded, "17841")
    chat = Chat(nora.id)
    assert chat.say("what data do you have about me", "privacy_data") == ["utter_data_summary"]
    assert nora.email not in chat.said("utter_data_summary")["summary"]
    assert chat.say("delete my data", "delete_data") == ["utter_confirm_delete"]
    assert chat.say("yes", "affirm") == ["utter_deletion_requested"]
    chat.say("delete my data", "delete_data")
    assert chat.say("yes", "affirm") == ["utter_deletion_already_requested"]
    with seeded:
        requests = seeded.session.scalars(select(PrivacyRequest).where(PrivacyRequest.customer_id == nora.id)).all()
        assert len(requests) == 1


def test_a_question_while_deletion_is_confirmed_is_answered_and_nothing_is_deleted_before_the_yes(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    ines = customer(seeded, "16812")
    chat = Chat(ines.id)
    assert chat.say("pls remove my data from your system", "delete_data") == ["utter_confirm_delete"]
    answer = chat.say("hang on, how many points have i got first", "loyalty_status")
    assert answer == ["utter_loyalty_status", "utter_back_to", "utter_confirm_delete"], chat.text
    # back to the question, in words that do not say a request was already made
    assert "deletion request" not in chat.said("utter_back_to")["what"]
    with seeded:
        assert not seeded.session.scalars(select(PrivacyRequest).where(PrivacyRequest.customer_id == ines.id)).all()
    assert chat.say("ok yes delete my data", "affirm") == ["utter_deletion_requested"]


def test_an_offer_is_shown_then_applied_on_yes(seeded: SqlAlchemyUnitOfWork) -> None:
    with seeded:
        ids = [c.id for c in seeded.session.scalars(select(Customer).order_by(Customer.id)).all()]
    for customer_id in ids:  # the first customer in the treatment group of some offer
        chat = Chat(customer_id)
        if chat.say("any deals for me?", "ask_offers") == ["utter_offer"]:
            break
    else:
        pytest.fail("no customer of the sample was shown an offer")
    assert chat.say("yes", "affirm") == ["utter_offer_applied"]
    assert chat.say("apply my offer", "accept_offer") == ["utter_offer_applied"]


def test_loyalty_reorder_and_next_order_for_a_regular(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "12748")
    assert chat.say("how many points have I got", "loyalty_status") == ["utter_loyalty_status"]
    assert chat.say("when should I reorder?", "reorder_when") == ["utter_reorder_advice"]
    assert chat.say("when is my next order due?", "next_order_due") == ["utter_next_order"]
    assert "next order" in chat.said("utter_next_order")["advice"]


# ----------------------------------------------------------------- conversation


def test_a_known_customer_is_greeted_by_name(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = signed_in(seeded, "12748")
    assert chat.say("hi", "greet") == ["utter_greet_known"] and chat.said("utter_greet_known")["name"] == "Hugo"
    assert Chat().say("hi", "greet") == ["utter_greet"]


def test_a_greeting_with_a_request_answers_the_request(seeded: SqlAlchemyUnitOfWork) -> None:
    hugo = signed_in(seeded, "12748")
    newest = list_orders(seeded, customer(seeded, "12748").id, limit=1)[0]
    answer = hugo.say("hi there has my order arrived", "greet", confidence=0.85, ranking=(("order_status", 0.12),))
    assert answer == [f"utter_order_{newest.status}"]
    visitor = Chat()
    answer = visitor.say("hello is my parcel delivered", "greet", confidence=0.85, ranking=(("order_status", 0.12),))
    assert answer == ["utter_ask_email"]
    assert Chat().say("hello there", "greet", ranking=(("order_status", 0.12),)) == ["utter_greet"]


def test_two_shop_questions_in_one_message_are_both_answered(seeded: SqlAlchemyUnitOfWork) -> None:
    answer = Chat().say(
        "what does postage to spain cost and do you take paypal",
        "faq",
        faq="utter_faq/shipping_costs",
        secondary=(("faq", 0.99, "do you take paypal"),),
    )
    assert answer == ["utter_faq/shipping_costs", "utter_faq/payment_methods"]


def test_keyboard_mashing_twice_offers_another_try_or_a_person(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = Chat()
    assert chat.say("sdfghj", "out_of_scope", confidence=0.98) == ["utter_default"]
    assert chat.say("kkkk llll", "inform", confidence=0.9) == ["utter_offer_human_rephrase"]


def test_a_message_best_read_as_a_complaint_offers_a_person(seeded: SqlAlchemyUnitOfWork) -> None:
    text = "are you kidding me, it was barely over a month ago. useless"
    answer = Chat().say(text, "nlu_fallback", confidence=0.5, ranking=(("complain", 0.33), ("reorder_when", 0.07)))
    assert answer == ["utter_offer_human"]


def test_thanks_with_a_goodbye_in_any_words_is_a_goodbye(seeded: SqlAlchemyUnitOfWork) -> None:
    assert Chat().say("cheers mate, thats me sorted, have a good one", "thank", confidence=0.6) == ["utter_goodbye"]
    assert Chat().say("Thank you, that's all.", "nlu_fallback", confidence=0.5) == ["utter_goodbye"]
    assert Chat().say("wonderful, dank je!", "nlu_fallback", confidence=0.5) == ["utter_welcome"]


def test_two_misunderstandings_in_a_row_offer_a_person_and_yes_hands_over(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = Chat()
    assert chat.say("blorf snargle", "nlu_fallback", confidence=0.5) == ["utter_default"]
    assert chat.say("zzqx vlemp", "inform", confidence=0.7) == ["utter_offer_human_rephrase"]
    assert chat.say("yes", "affirm") == ["utter_handoff"]
    assert ConversationPaused() in chat.events
    with seeded:
        assert "misunderstanding" in [h.reason for h in seeded.session.scalars(select(Handoff))]


def test_asking_for_a_person_hands_over_at_once(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = Chat()
    assert chat.say("agent please", "human_handoff") == ["utter_handoff"]
    assert chat.messages[0]["custom"] == {"handoff": {"reason": "customer_request"}}
    assert ConversationPaused() in chat.events


def test_guessing_details_in_new_conversations_is_stopped_and_told_when_to_try_again(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    owner = customer(seeded, "15910")
    # a stranger tries address after address against one customer's order, a new conversation each time
    for attempt in range(5):
        chat = Chat(sender=f"guess-{attempt}", metadata={"client_address": f"198.51.100.{attempt}"})
        email = f"guess{attempt}@example.com"
        answer = chat.say(f"{email} 581502", "inform", {"email": email, "order_number": "581502"})
        assert answer[0] == "utter_identity_failed"
    # from yet another conversation and address, even the right details are not checked for a while
    chat = Chat(sender="guess-last", metadata={"client_address": "198.51.100.99"})
    answer = chat.say(f"{owner.email} 581502", "inform", {"email": owner.email, "order_number": "581502"})
    assert answer == ["utter_identity_too_many"]
    assert chat.said("utter_identity_too_many")["minutes"] >= 1
    assert "identity" not in chat.slots or not chat.slots["identity"]


def test_a_right_answer_is_never_slowed_down_by_someone_elses_failures(seeded: SqlAlchemyUnitOfWork) -> None:
    for attempt in range(3):
        email = f"stranger{attempt}@example.com"
        Chat(sender=f"other-{attempt}").say(f"{email} 536365", "inform", {"email": email, "order_number": "536365"})
    carmen = customer(seeded, "15910")
    chat = Chat(sender="carmen")
    answer = chat.say(f"{carmen.email} 581502", "inform", {"email": carmen.email, "order_number": "581502"})
    assert answer[0] == "utter_identity_verified"


def test_one_client_asking_for_people_again_and_again_is_refused_politely_and_the_bot_stays(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    where = {"client_address": "203.0.113.7"}
    for attempt in range(3):
        chat = Chat(sender=f"flood-{attempt}", metadata=where)
        assert chat.say("agent please", "human_handoff") == ["utter_handoff"]
    chat = Chat(sender="flood-last", metadata=where)
    assert chat.say("agent please", "human_handoff") == ["utter_handoff_too_many"]
    assert ConversationPaused() not in chat.events
    # another customer is not affected
    assert Chat(sender="someone-else", metadata={"client_address": "203.0.113.8"}).say(
        "agent please", "human_handoff"
    ) == ["utter_handoff"]


def test_a_full_queue_keeps_the_bot_talking(seeded: SqlAlchemyUnitOfWork, monkeypatch: pytest.MonkeyPatch) -> None:
    with seeded:
        waiting = seeded.session.scalar(select(func.count()).select_from(Handoff).where(Handoff.status == "waiting"))
    busy = Settings(CRM_TOKEN_SECRET=SECRET, CRM_HANDOFF_QUEUE_MAX=max(1, waiting or 0))
    monkeypatch.setattr("actions.respond.get_settings", lambda: busy)
    if not waiting:
        assert Chat(sender="queue-first").say("agent please", "human_handoff") == ["utter_handoff"]
    chat = Chat(sender="queue-full")
    assert chat.say("agent please", "human_handoff") == ["utter_handoff_busy"]
    assert ConversationPaused() not in chat.events


def test_a_complaint_offers_a_person_but_an_angry_order_question_is_answered(seeded: SqlAlchemyUnitOfWork) -> None:
    assert Chat().say("this is the worst service ever", "complain") == ["utter_offer_human"]
    oliver = signed_in(seeded, "17850")
    answer = oliver.say("you lot are useless, where is my order 536365?!", "complain", {"order_number": "536365"})
    assert answer == ["utter_order_delivered"]


def test_a_store_failure_is_an_apology_and_the_conversation_state_is_kept(
    seeded: SqlAlchemyUnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = signed_in(seeded, "13694")
    chat.say("I'd like to return something", "return_request")
    before = copy.deepcopy(chat.slots["dialogue"])

    def broken() -> SqlAlchemyUnitOfWork:
        raise ConnectionError("database is down")

    monkeypatch.setattr(store, "unit_of_work", broken)
    assert chat.say("580742", "inform", {"order_number": "580742"}) == ["utter_store_unavailable"]
    assert chat.slots["dialogue"] == before


def test_parsing_amounts_and_quantities() -> None:
    assert base.parse_amount("under £20") == 20.0 and base.parse_amount("15,50 pounds") == 15.5
    assert base.parse_amount("50p") == 0.5 and base.parse_amount("twenty quid") == 20.0
    assert base.parse_amount("twenty five pounds") == 25.0 and base.parse_amount("something cheap") is None
    assert base.parse_quantity("2 of them") == 2 and base.parse_quantity("both") == 2
    assert base.parse_quantity("half a dozen") == 6 and base.parse_quantity("a dozen") == 12
    assert base.parse_quantity("eleven") == 11


def test_a_verified_identity_expires_after_half_an_hour_of_silence_and_is_never_a_bare_id(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    import time

    hugo = customer(seeded, "12748")
    stale = Chat()
    stale.slots["identity"] = sign_conversation_identity(hugo.id, "recorded", now=time.time() - 1801)
    assert stale.say("how many points do I have", "loyalty_status") == ["utter_ask_email"]
    assert stale.slots["identity"] is None
    forged = Chat()
    forged.slots["customer_id"] = str(hugo.id)  # what an old tracker, or a forged one, says
    forged.slots["identity"] = str(hugo.id)
    assert forged.say("how many points do I have", "loyalty_status") == ["utter_ask_email"]
    elsewhere = Chat()
    elsewhere.slots["identity"] = sign_conversation_identity(hugo.id, "another-conversation")
    assert elsewhere.say("how many points do I have", "loyalty_status") == ["utter_ask_email"]


def test_a_return_of_an_order_beside_a_clause_heard_as_information_is_that_return(seeded: SqlAlchemyUnitOfWork) -> None:
    number, owner = open_order(seeded, "12748")
    chat = Chat(owner)
    secondary = (("inform", 0.85, "we bought two by mistake"), ("return_request", 0.73, f"send back order {number}"))
    answer = chat.say(
        f"send back order {number}, we bought two by mistake",
        "nlu_fallback",
        {"order_number": number},
        confidence=0.5,
        secondary=secondary,
        ranking=(("return_request", 0.46), ("inform", 0.15)),
    )
    assert answer == ["utter_cannot_return"], chat.text


def test_some_of_the_product_just_talked_about_is_the_order_line_returned(seeded: SqlAlchemyUnitOfWork) -> None:
    number, owner, item = _returnable(seeded, 8)  # a line no other test returns
    chat = Chat(owner)
    chat.say(f"how much is the {item.lower()}", "product_info")
    text = f"i bought a couple of those in order {number} and they're faulty, can i send them back?"
    answer = chat.say(text, "return_request", {"order_number": number})
    assert answer == ["utter_return_created"], chat.text
    assert chat.said("utter_return_created")["product"] == item


def test_a_price_and_a_question_of_what_we_sell_in_one_message_are_both_answered(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = Chat()
    answer = chat.say("what does the botanical gardens wall clock cost and have you got any doormats", "product_info")
    assert answer == ["utter_product_info", "utter_products_of_kind"], chat.text
    assert "Doormat" in chat.said("utter_products_of_kind")["items"]


def test_ideas_asked_for_a_kind_of_product_list_that_kind_not_best_sellers(seeded: SqlAlchemyUnitOfWork) -> None:
    chat = Chat()
    assert chat.say("mini backpacks for children?", "recommend_products", confidence=0.7) == ["utter_products_of_kind"]
    assert "Mini Backpack" in chat.said("utter_products_of_kind")["items"]
