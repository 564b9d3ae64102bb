"""What only operators see: the handoff report's figures and the staff accounts (403 for agents)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from analytics.usecases import staff, support
from bot.web.context import Operator, WebContext
from bot.web.schemas import HandoffReportOut, StaffUserOut, refusals, to_json


def router(web: WebContext) -> APIRouter:
    """The operators' routes of the app ``web`` belongs to."""
    routes = APIRouter(responses=refusals(401, 403))

    @routes.get("/api/console/report", response_model=HandoffReportOut)
    def report(user: Operator, days: Annotated[int, Query(ge=1, le=366)] = 7) -> dict[str, Any]:
        """Handoff volumes and waits over the last ``days`` days."""
        now = web.clock()
        result: dict[str, Any] = to_json(support.report(web.new_uow(), now - timedelta(days=days), now))
        return result

    @routes.get("/api/console/users", response_model=list[StaffUserOut])
    def users(user: Operator) -> list[dict[str, Any]]:
        """The staff accounts."""
        return [to_json(u) for u in staff.list_users(web.new_uow())]

    return routes
