"""Custom actions, run the way the action server runs them, on recorded trackers."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import OperationalError

from actions import store
from actions.actions import ActionOrderStatus
from analytics.ingest.online_retail import import_online_retail
from analytics.store.uow import SqlAlchemyUnitOfWork
from tests.conftest import write_retail_csv

TRACKERS = Path(__file__).resolve().parent.parent / "data" / "trackers"


def recorded(name: str, **slots: Any) -> Tracker:
    state = json.loads((TRACKERS / f"{name}.json").read_text())
    state["slots"].update(slots)
    return Tracker.from_dict(state)


def run(action: ActionOrderStatus, tracker: Tracker) -> tuple[list[dict[str, Any]], list[Any]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, {}))
    return dispatcher.messages, events


@pytest.fixture
def seeded(sqlite_uow: SqlAlchemyUnitOfWork, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SqlAlchemyUnitOfWork:
    rows = [
        [
            "536365",
            "85123A",
            "WHITE HANGING HEART T-LIGHT HOLDER",
            6,
            "2010-12-01 08:26:00",
            2.55,
            "17850",
            "United Kingdom",
        ],
        ["536365", "71053", "WHITE METAL LANTERN", 2, "2010-12-01 08:26:00", 3.39, "17850", "United Kingdom"],
    ]
    import_online_retail(sqlite_uow, write_retail_csv(tmp_path / "r.csv", rows), now=datetime(2026, 1, 1))
    monkeypatch.setattr(store, "unit_of_work", lambda: sqlite_uow)
    return sqlite_uow


def test_order_status_answers_with_the_orders_state(seeded: SqlAlchemyUnitOfWork) -> None:
    messages, events = run(ActionOrderStatus(), recorded("order_status_536365"))
    assert [m["response"] for m in messages] == ["utter_order_delivered"]
    assert messages[0]["order_number"] == "536365"
    assert messages[0]["items"] == 8
    assert messages[0]["delivered_on"].endswith("2010")
    assert events == [SlotSet("order_number", "536365")]


def test_order_status_without_a_number_asks_for_it(seeded: SqlAlchemyUnitOfWork) -> None:
    messages, events = run(ActionOrderStatus(), recorded("order_status_no_number"))
    assert [m["response"] for m in messages] == ["utter_ask_order_number"]
    assert events == []


def test_order_status_uses_the_number_given_earlier(seeded: SqlAlchemyUnitOfWork) -> None:
    messages, _ = run(ActionOrderStatus(), recorded("order_status_no_number", order_number="536365"))
    assert [m["response"] for m in messages] == ["utter_order_delivered"]


def test_an_unknown_order_is_a_polite_not_found_and_forgets_the_number(seeded: SqlAlchemyUnitOfWork) -> None:
    messages, events = run(ActionOrderStatus(), recorded("order_status_no_number", order_number="999999"))
    assert [m["response"] for m in messages] == ["utter_order_not_found"]
    assert messages[0]["order_number"] == "999999"
    assert events == [SlotSet("order_number", None)]


def test_a_store_failure_is_an_apology_not_a_stack_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> SqlAlchemyUnitOfWork:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(store, "unit_of_work", broken)
    messages, events = run(ActionOrderStatus(), recorded("order_status_536365"))
    assert [m["response"] for m in messages] == ["utter_store_unavailable"]
    assert events == []
