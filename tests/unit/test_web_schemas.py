"""The web app's response models describe exactly the service views its JSON answers carry.

Each JSON route answers with ``to_json(<service dataclass>)``; its response model
(:mod:`bot.web.schemas`) must list the same fields in the same order, or the
OpenAPI schema would lie and FastAPI would drop (or refuse) a field.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from analytics.core.settings import Settings
from analytics.customers.offers import OfferDecision
from analytics.usecases import agent_context, support
from analytics.usecases.orders import OrderSummary
from analytics.usecases.recommendations import ProductSuggestion
from analytics.usecases.staff import UserView
from bot.web import schemas
from bot.web.app import create_app
from bot.web.transcript import Line

MIRRORS = [
    (support.HandoffRecord, schemas.HandoffOut),
    (support.LiveConversation, schemas.LiveConversationOut),
    (support.Queue, schemas.QueueOut),
    (support.HandoffReport, schemas.HandoffReportOut),
    (agent_context.OrderLineSummary, schemas.RecentOrder),
    (agent_context.OfferCard, schemas.OfferCardOut),
    (agent_context.AcceptedOffer, schemas.AcceptedOfferOut),
    (agent_context.ContextCard, schemas.ContextCardOut),
    (OfferDecision, schemas.OfferDecisionOut),
    (ProductSuggestion, schemas.SuggestionOut),
    (UserView, schemas.StaffUserOut),
    (Line, schemas.TranscriptLine),
    (OrderSummary, schemas.OrderOut),
]


@pytest.mark.parametrize(("view", "model"), MIRRORS, ids=[view.__name__ for view, _ in MIRRORS])
def test_each_response_model_has_the_fields_of_the_view_it_carries(view: type, model: type[BaseModel]) -> None:
    assert list(model.model_fields) == [f.name for f in dataclasses.fields(view)]


def test_every_json_route_documents_the_model_of_its_answer(tmp_path: Path) -> None:
    settings = Settings(
        CRM_VAR_DIR=tmp_path,
        CRM_TOKEN_SECRET="t" * 40,
        CRM_WEB_SECRET="w" * 40,
        CRM_DEMO=True,
        CRM_ARTIFACTS_DIR=tmp_path / "artifacts",
    )
    app = create_app(settings, uow_factory=lambda: None, rasa=object(), warm_up=False)  # type: ignore[arg-type,return-value]

    spec = app.openapi()

    undocumented = [
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for code, answer in operation["responses"].items()
        if code.startswith("2")
        and "application/json" in answer.get("content", {})
        and "$ref" not in json.dumps(answer["content"]["application/json"]["schema"])
    ]
    assert undocumented == [], "JSON routes without a response model"
    assert "/api/console/queue" in spec["paths"] and "/api/session" in spec["paths"]
