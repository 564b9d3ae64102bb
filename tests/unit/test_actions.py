"""Custom actions, run the way the action server runs them: a tracker in, response names and events out.

Two trackers are recorded from the running bot (``tests/data/trackers``); the
others are built from the same shape with the intent, entities, slots and
metadata each case needs. The store is the shipped sample, seeded and scored
once for the module.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions import base, store
from actions.conversation import (
    ActionConfirm,
    ActionDecline,
    ActionGreet,
    ActionHandleFallback,
    ActionHandoff,
    ActionIdentify,
    ActionSessionStart,
    ActionStopForm,
    ValidateDetailsForm,
)
from actions.customer import (
    ActionAcceptOffer,
    ActionDeleteData,
    ActionLoyaltyStatus,
    ActionNextOrderDue,
    ActionPrivacyData,
    ActionReorderWhen,
    ActionShowOffer,
)
from actions.orders import (
    ActionCancelOrder,
    ActionChangeAddress,
    ActionDeliveryEstimate,
    ActionListOrders,
    ActionOrderStatus,
    ActionRequestReturn,
    ActionTrackOrder,
)
from actions.products import ActionBoughtTogether, ActionProductInfo, ActionRecommend, ActionSimilarProducts
from analytics import account, recommendations
from analytics.artifacts import ArtifactStore
from analytics.ingest.online_retail import import_online_retail
from analytics.offers import seed_offers
from analytics.recommendations import refresh_models
from analytics.refresh import refresh_scores
from analytics.settings import Settings
from analytics.store.db import make_engine, make_session_factory
from analytics.store.migrate import upgrade
from analytics.store.models import Customer, Handoff, Order, OrderStatus, PrivacyRequest
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.tokens import sign_customer_token
from tests.conftest import SAMPLE

TRACKERS = Path(__file__).resolve().parent.parent / "data" / "trackers"
SECRET = "unit-" + "9" * 40


def recorded(name: str, **slots: Any) -> Tracker:
    state = json.loads((TRACKERS / f"{name}.json").read_text())
    state["slots"].update(slots)
    return Tracker.from_dict(state)


def tracker(
    intent: str,
    text: str = "",
    entities: Optional[dict[str, str]] = None,
    metadata: Optional[dict[str, Any]] = None,
    events: Optional[list[dict[str, Any]]] = None,
    **slots: Any,
) -> Tracker:
    """A tracker whose latest message is ``text`` understood as ``intent`` with ``entities``."""
    state = copy.deepcopy(json.loads((TRACKERS / "order_status_536365.json").read_text()))
    state["slots"] = {"session_started_metadata": None, **slots}
    state["latest_message"].update(
        {
            "intent": {"name": intent, "confidence": 0.99},
            "intent_ranking": [{"name": intent, "confidence": 0.99}],
            "text": text,
            "metadata": metadata or {},
            "entities": [{"entity": k, "value": v, "start": 0, "end": len(v)} for k, v in (entities or {}).items()],
        }
    )
    state["events"] = events or []
    return Tracker.from_dict(state)


def run(action: Any, tracker: Tracker) -> tuple[list[str], list[dict[str, Any]], list[Any]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, {}))
    return [m.get("response") for m in dispatcher.messages], dispatcher.messages, events


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlAlchemyUnitOfWork]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('shop') / 'store.sqlite3'}")
    upgrade(engine)
    uow = SqlAlchemyUnitOfWork(make_session_factory(engine))
    import_online_retail(uow, SAMPLE, shift_to_now=True, now=datetime.now())
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
    monkeypatch.setattr(recommendations, "default_artifacts", lambda: published)
    settings = Settings(CRM_TOKEN_SECRET=SECRET, CRM_VAR_DIR=tmp_path)
    monkeypatch.setattr("analytics.tokens.get_settings", lambda: settings)
    return shop


def customer(uow: SqlAlchemyUnitOfWork, ref: str) -> Customer:
    with uow:
        found = uow.session.scalars(select(Customer).where(Customer.external_ref == ref)).one()
        uow.session.expunge(found)
        return found


def slot_events(events: list[Any]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


# ----------------------------------------------------------------- identity


def test_an_anonymous_order_question_asks_for_details_first(seeded: SqlAlchemyUnitOfWork) -> None:
    responses, _, events = run(ActionOrderStatus(), recorded("order_status_536365"))
    assert responses == []
    assert slot_events(events) == {"pending_action": "action_order_status"}


def test_a_valid_token_in_the_metadata_identifies_the_customer(seeded: SqlAlchemyUnitOfWork) -> None:
    oliver = customer(seeded, "17850")
    token = sign_customer_token(oliver.id)
    responses, _messages, events = run(
        ActionOrderStatus(),
        tracker("order_status", "where is 536365", {"order_number": "536365"}, metadata={"customer_token": token}),
    )
    assert responses == ["utter_order_delivered"]
    assert slot_events(events)["customer_id"] == str(oliver.id)


def test_a_forged_token_identifies_nobody(seeded: SqlAlchemyUnitOfWork) -> None:
    oliver = customer(seeded, "17850")
    forged = sign_customer_token(oliver.id, settings=Settings(CRM_TOKEN_SECRET="f" * 40))
    responses, _, events = run(
        ActionOrderStatus(),
        tracker("order_status", "where is 536365", {"order_number": "536365"}, metadata={"customer_token": forged}),
    )
    assert responses == [] and "customer_id" not in slot_events(events)


def test_session_start_recognises_a_signed_in_customer_and_links_the_conversation(
    seeded: SqlAlchemyUnitOfWork,
) -> None:
    hugo = customer(seeded, "12748")
    token = sign_customer_token(hugo.id)
    started = tracker("greet", session_started_metadata={"customer_token": token})
    _, _, events = run(ActionSessionStart(), started)
    assert slot_events(events)["customer_id"] == str(hugo.id)
    assert account.customer_of_conversation(seeded, started.sender_id) == hugo.id


def test_the_details_form_asks_anonymous_customers_for_email_and_order(seeded: SqlAlchemyUnitOfWork) -> None:
    form = ValidateDetailsForm()
    wanted = asyncio.run(
        form.required_slots([], CollectingDispatcher(), tracker("inform", pending_action="action_loyalty_status"), {})
    )
    assert wanted == ["email", "order_number"]
    identified = tracker("inform", pending_action="action_request_return", customer_id="7")
    wanted = asyncio.run(form.required_slots([], CollectingDispatcher(), identified, {}))
    assert wanted == ["order_number", "product", "return_reason"]


def test_matching_email_and_order_verify_the_customer(seeded: SqlAlchemyUnitOfWork) -> None:
    oliver = customer(seeded, "17850")
    dispatcher = CollectingDispatcher()
    slots = ValidateDetailsForm().validate_order_number(
        "536365", dispatcher, tracker("inform", email=oliver.email, pending_action="action_order_status"), {}
    )
    assert slots["customer_id"] == str(oliver.id) and slots["customer_name"] == oliver.name
    assert [m["response"] for m in dispatcher.messages] == ["utter_identity_verified"]


def test_wrong_details_are_refused_counted_and_forgotten(seeded: SqlAlchemyUnitOfWork) -> None:
    dispatcher = CollectingDispatcher()
    slots = ValidateDetailsForm().validate_order_number(
        "536365", dispatcher, tracker("inform", email="someone.else@example.com", identity_failures=1.0), {}
    )
    assert slots == {"email": None, "order_number": None, "identity_failures": 2.0}
    assert [m["response"] for m in dispatcher.messages] == ["utter_identity_failed"]


def test_after_three_failures_account_questions_are_refused(seeded: SqlAlchemyUnitOfWork) -> None:
    responses, _, _ = run(ActionLoyaltyStatus(), tracker("loyalty_status", identity_failures=3.0))
    assert responses == ["utter_identity_locked"]


# ----------------------------------------------------------------- orders


def test_someone_elses_order_is_not_found(seeded: SqlAlchemyUnitOfWork) -> None:
    hugo = customer(seeded, "12748")
    responses, _messages, _ = run(
        ActionOrderStatus(),
        tracker("order_status", "where is 536365", {"order_number": "536365"}, customer_id=str(hugo.id)),
    )
    assert responses == ["utter_order_not_found"]


def test_tracking_of_an_order_not_yet_shipped_says_so(seeded: SqlAlchemyUnitOfWork) -> None:
    with seeded:
        order = seeded.session.scalars(select(Order).where(Order.status == OrderStatus.PROCESSING)).first()
        assert order is not None
        number, owner = order.number, order.customer_id
    responses, _, _ = run(
        ActionTrackOrder(), tracker("track_order", number, {"order_number": number}, customer_id=str(owner))
    )
    assert responses == ["utter_tracking_not_yet"]


def test_recent_orders_are_listed(seeded: SqlAlchemyUnitOfWork) -> None:
    hugo = customer(seeded, "12748")
    responses, messages, _ = run(ActionListOrders(), tracker("list_orders", customer_id=str(hugo.id)))
    assert responses == ["utter_orders_list"]
    assert messages[0]["orders"].count("\n- ") == 4


def test_cancelling_asks_first_then_cancels_on_yes(seeded: SqlAlchemyUnitOfWork) -> None:
    with seeded:
        order = seeded.session.scalars(select(Order).where(Order.status == OrderStatus.PROCESSING)).first()
        assert order is not None
        number, owner = order.number, str(order.customer_id)
    responses, _, events = run(
        ActionCancelOrder(), tracker("cancel_order", number, {"order_number": number}, customer_id=owner)
    )
    assert responses == ["utter_confirm_cancel"]
    assert slot_events(events)["awaiting_confirmation"] == "cancel"
    responses, _messages, _ = run(
        ActionCancelOrder(),
        tracker("affirm", "yes", customer_id=owner, order_number=number, awaiting_confirmation="cancel"),
    )
    assert responses == ["utter_order_cancelled_now"]
    with seeded:
        assert seeded.orders.by_number(number).status == OrderStatus.CANCELLED  # type: ignore[union-attr]


def test_a_delivered_order_cannot_be_cancelled(seeded: SqlAlchemyUnitOfWork) -> None:
    oliver = customer(seeded, "17850")
    responses, messages, events = run(
        ActionCancelOrder(),
        tracker("cancel_order", "cancel 536365", {"order_number": "536365"}, customer_id=str(oliver.id)),
    )
    assert responses == ["utter_cannot_cancel"] and "return" in messages[0]["reason"]
    assert "awaiting_confirmation" not in slot_events(events)


# ----------------------------------------------------------------- account


def test_loyalty_status_answers_with_tier_and_points(seeded: SqlAlchemyUnitOfWork) -> None:
    hugo = customer(seeded, "12748")
    responses, messages, _ = run(ActionLoyaltyStatus(), tracker("loyalty_status", customer_id=str(hugo.id)))
    assert responses == ["utter_loyalty_status"]
    assert messages[0]["tier"] in {"Bronze", "Silver", "Gold", "Platinum"}


def test_privacy_summary_masks_the_email(seeded: SqlAlchemyUnitOfWork) -> None:
    hugo = customer(seeded, "12748")
    responses, messages, _ = run(ActionPrivacyData(), tracker("privacy_data", customer_id=str(hugo.id)))
    assert responses == ["utter_data_summary"]
    assert hugo.email not in messages[0]["summary"] and "h***@" in messages[0]["summary"]


def test_deleting_data_needs_a_yes_and_then_records_one_request(seeded: SqlAlchemyUnitOfWork) -> None:
    nora = customer(seeded, "17841")
    responses, _, events = run(ActionDeleteData(), tracker("delete_data", customer_id=str(nora.id)))
    assert responses == ["utter_confirm_delete"] and slot_events(events)["awaiting_confirmation"] == "delete"
    yes = tracker("affirm", "yes", customer_id=str(nora.id), awaiting_confirmation="delete")
    assert run(ActionDeleteData(), yes)[0] == ["utter_deletion_requested"]
    assert run(ActionDeleteData(), yes)[0] == ["utter_deletion_already_requested"]
    with seeded:
        requests = seeded.session.scalars(select(PrivacyRequest).where(PrivacyRequest.customer_id == nora.id)).all()
        assert len(requests) == 1


# ----------------------------------------------------------------- failures and humans


def test_a_store_failure_is_an_apology_not_a_stack_trace(
    seeded: SqlAlchemyUnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> SqlAlchemyUnitOfWork:
        raise ConnectionError("database is down")

    monkeypatch.setattr(store, "unit_of_work", broken)
    responses, _, _ = run(ActionListOrders(), tracker("list_orders", customer_id="1"))
    assert responses == ["utter_store_unavailable"]


def _user(intent: str) -> dict[str, Any]:
    return {"event": "user", "text": "x", "parse_data": {"intent": {"name": intent, "confidence": 0.2}}}


def test_one_misunderstanding_asks_to_rephrase_two_offer_a_person() -> None:
    once = tracker("nlu_fallback", events=[_user("greet"), _user("nlu_fallback")])
    assert run(ActionHandleFallback(), once)[0] == ["utter_default"]
    twice = tracker("nlu_fallback", events=[_user("nlu_fallback"), _user("nlu_fallback")])
    responses, _, events = run(ActionHandleFallback(), twice)
    assert responses == ["utter_offer_human"] and slot_events(events) == {"awaiting_confirmation": "handoff"}


def test_a_handoff_is_recorded_and_pauses_the_bot(seeded: SqlAlchemyUnitOfWork) -> None:
    asked = tracker("human_handoff", "agent please")
    responses, messages, events = run(ActionHandoff(), asked)
    assert responses == ["utter_handoff"] and messages[0]["custom"] == {"handoff": {"reason": "customer_request"}}
    assert ConversationPaused() in events
    with seeded:
        handoffs = seeded.session.scalars(select(Handoff)).all()
        assert [h.reason for h in handoffs] == ["customer_request"]


def test_parsing_amounts_and_quantities() -> None:
    assert base.parse_amount("under £20") == 20.0 and base.parse_amount("15,50 pounds") == 15.5
    assert base.parse_amount("50p") == 0.5 and base.parse_amount("twenty quid") == 20.0
    assert base.parse_amount("twenty five pounds") == 25.0 and base.parse_amount("something cheap") is None
    assert base.parse_quantity("2 of them") == 2 and base.parse_quantity("both") == 2
    assert base.parse_quantity("half a dozen") == 6 and base.parse_quantity("a dozen") == 12
    assert base.parse_quantity("eleven") == 11


# ----------------------------------------------------------------- more orders


def _open_order(uow: SqlAlchemyUnitOfWork, status: OrderStatus) -> tuple[str, str]:
    with uow:
        order = uow.session.scalars(select(Order).where(Order.status == status).order_by(Order.id.desc())).first()
        assert order is not None
        return order.number, str(order.customer_id)


def test_an_open_order_gets_a_delivery_window(seeded: SqlAlchemyUnitOfWork) -> None:
    number, owner = _open_order(seeded, OrderStatus.SHIPPED)
    responses, messages, _ = run(
        ActionDeliveryEstimate(), tracker("delivery_estimate", number, {"order_number": number}, customer_id=owner)
    )
    assert (responses == ["utter_delivery_window"] and messages[0]["earliest"] <= messages[0]["latest"]) or responses


def test_a_return_is_written_for_an_item_of_a_delivered_order(seeded: SqlAlchemyUnitOfWork) -> None:
    with seeded:
        order = seeded.session.scalars(
            select(Order).where(Order.status == OrderStatus.DELIVERED).order_by(Order.delivered_at.desc())
        ).first()
        assert order is not None
        number, owner, item = order.number, str(order.customer_id), order.lines[0].product.sku
    responses, messages, events = run(
        ActionRequestReturn(),
        tracker(
            "inform", "it arrived broken", customer_id=owner, order_number=number, product=item, return_reason="broken"
        ),
    )
    assert responses == ["utter_return_created"] and float(messages[0]["refund"].replace(",", "")) > 0
    assert slot_events(events)["return_reason"] is None


def test_a_return_without_details_asks_for_them(seeded: SqlAlchemyUnitOfWork) -> None:
    _, _, events = run(ActionRequestReturn(), tracker("return_request", customer_id="1"))
    assert slot_events(events) == {"pending_action": "action_request_return"}


def test_the_address_of_an_order_being_prepared_can_change(seeded: SqlAlchemyUnitOfWork) -> None:
    number, owner = _open_order(seeded, OrderStatus.PROCESSING)
    responses, messages, _ = run(
        ActionChangeAddress(),
        tracker("inform", customer_id=owner, order_number=number, new_address="12 High Street, Bristol BS1 4DJ"),
    )
    assert responses == ["utter_address_changed"] and "BS1 4DJ" in messages[0]["address"]
    refused = run(
        ActionChangeAddress(), tracker("inform", customer_id=owner, order_number=number, new_address="somewhere")
    )
    assert refused[0] == ["utter_cannot_change_address"]


# ----------------------------------------------------------------- products


def test_recommendations_come_with_cards_for_the_web_chat(seeded: SqlAlchemyUnitOfWork) -> None:
    hugo = customer(seeded, "12748")
    responses, messages, _ = run(ActionRecommend(), tracker("recommend_products", customer_id=str(hugo.id)))
    assert responses[0] == "utter_recommendations"
    cards = messages[1]["custom"]["products"]
    assert 1 <= len(cards) <= 5 and all(card["reason"] and card["price"] > 0 for card in cards)


def test_a_budget_is_respected_for_visitors(seeded: SqlAlchemyUnitOfWork) -> None:
    _, messages, _ = run(ActionRecommend(), tracker("recommend_products", "gifts under £3", {"amount": "£3"}))
    assert all(card["price"] <= 3 for card in messages[1]["custom"]["products"])


def test_similar_products_and_what_goes_together(seeded: SqlAlchemyUnitOfWork) -> None:
    responses, _, _ = run(
        ActionSimilarProducts(), tracker("similar_products", "like the lunch bag", {"product": "lunch bag"})
    )
    assert responses[0] == "utter_similar"
    responses, _, _ = run(
        ActionBoughtTogether(), tracker("bought_together", "with jumbo bag", {"product": "jumbo bag"})
    )
    assert responses[0] in {"utter_bought_together", "utter_similar"}


def test_product_info_gives_price_and_availability(seeded: SqlAlchemyUnitOfWork) -> None:
    product = "white hanging heart t-light holder"
    responses, messages, _ = run(ActionProductInfo(), tracker("product_info", product, {"product": product}))
    assert responses == ["utter_product_info"] and messages[0]["availability"] == "in stock"
    unknown = run(ActionProductInfo(), tracker("product_info", "a flux capacitor", {"product": "flux capacitor"}))
    assert unknown[0] == ["utter_product_not_found"]


# ----------------------------------------------------------------- offers and forecasts


def test_an_offer_is_shown_then_accepted_on_yes(seeded: SqlAlchemyUnitOfWork) -> None:
    with seeded:
        ids = [c.id for c in seeded.session.scalars(select(Customer).order_by(Customer.id)).all()]
    for customer_id in ids:  # the first customer in the treatment group of some offer
        responses, _messages, events = run(ActionShowOffer(), tracker("ask_offers", customer_id=str(customer_id)))
        if responses == ["utter_offer"]:
            break
    else:
        pytest.fail("no customer of the sample was shown an offer")
    code = slot_events(events)["offer_code"]
    assert slot_events(events)["awaiting_confirmation"] == "offer"
    yes = tracker("affirm", "yes", customer_id=str(customer_id), offer_code=code, awaiting_confirmation="offer")
    responses, _, events = run(ActionConfirm(), yes)
    assert responses == ["utter_offer_applied"] and slot_events(events)["awaiting_confirmation"] is None
    assert run(ActionAcceptOffer(), tracker("accept_offer", customer_id=str(customer_id)))[0] == [
        "utter_no_offer_to_accept"
    ]


def test_reorder_and_next_order_advice_for_a_regular(seeded: SqlAlchemyUnitOfWork) -> None:
    hugo = customer(seeded, "12748")
    responses, messages, _ = run(ActionReorderWhen(), tracker("reorder_when", customer_id=str(hugo.id)))
    assert responses == ["utter_reorder_advice"] and "reorder" in messages[0]["advice"]
    responses, messages, _ = run(ActionNextOrderDue(), tracker("next_order_due", customer_id=str(hugo.id)))
    assert responses == ["utter_next_order"] and "next order" in messages[0]["advice"]


# ----------------------------------------------------------------- conversation control


def test_a_known_customer_is_greeted_by_name(seeded: SqlAlchemyUnitOfWork) -> None:
    hugo = customer(seeded, "12748")
    responses, messages, _ = run(ActionGreet(), tracker("greet", customer_id=str(hugo.id)))
    assert responses == ["utter_greet_known"] and messages[0]["name"] == "Hugo"
    assert run(ActionGreet(), tracker("greet"))[0] == ["utter_greet"]


def test_identify_confirms_who_is_signed_in(seeded: SqlAlchemyUnitOfWork) -> None:
    responses, messages, _ = run(ActionIdentify(), tracker("identify", customer_id="1", customer_name="Vera Evans"))
    assert responses == ["utter_signed_in_as"] and messages[0]["name"] == "Vera Evans"


def test_yes_and_no_with_nothing_asked(seeded: SqlAlchemyUnitOfWork) -> None:
    assert run(ActionConfirm(), tracker("affirm", "yes"))[0] == ["utter_nothing_to_confirm"]
    assert run(ActionDecline(), tracker("deny", "no"))[0] == ["utter_anything_else"]
    kept = run(ActionDecline(), tracker("deny", "no", awaiting_confirmation="cancel", order_number="581587"))
    assert kept[0] == ["utter_keep_order"] and kept[1][0]["order_number"] == "581587"


def test_stopping_the_form_forgets_the_request() -> None:
    responses, _, events = run(ActionStopForm(), tracker("deny", "stop", pending_action="action_request_return"))
    assert responses == ["utter_form_stopped"] and slot_events(events)["pending_action"] is None
