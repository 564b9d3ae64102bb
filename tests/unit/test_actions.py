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
from actions.conversation import ActionHandleFallback, ActionHandoff, ActionSessionStart, ValidateDetailsForm
from actions.customer import ActionDeleteData, ActionLoyaltyStatus, ActionPrivacyData
from actions.orders import ActionCancelOrder, ActionListOrders, ActionOrderStatus, ActionTrackOrder
from analytics import account
from analytics.ingest.online_retail import import_online_retail
from analytics.offers import seed_offers
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


@pytest.fixture
def seeded(shop: SqlAlchemyUnitOfWork, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> SqlAlchemyUnitOfWork:
    monkeypatch.setattr(store, "unit_of_work", lambda: shop)
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
