"""The HTML pages, the chat widget's socket.io client and the health check.

Pages
    ``/``                 the shop's help page with the chat widget (``static/chat.js``) and a demo login
    ``/console``          the agent console (log in at ``/console/login``): queue, transcript, context card
    ``/console/report``   handoff volumes and waits (operators)
    ``/health``           for ``crm serve``, supervisors and load balancers: the store, Rasa and the action
                          server answer? (:mod:`bot.health`; 200 or 503 naming what failed)
    ``/health/live``      the process serves (200, checks nothing): what a launcher waits for
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.status import HTTP_303_SEE_OTHER

from analytics.usecases import support
from bot.health import Health
from bot.web.context import WebContext, session_user
from bot.web.schemas import HealthOut

#: the chat page's socket.io client, installed by `make web-assets` (npm ci in bot/web)
WEB = Path(__file__).resolve().parents[1]
SOCKET_IO_CLIENT = WEB / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"


def router(web: WebContext, health: Health) -> APIRouter:
    """The page routes of the app ``web`` belongs to (``health``: the checks of ``/health``)."""
    routes = APIRouter()
    templates = web.templates

    @routes.get("/", response_class=HTMLResponse)
    def chat_page(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "chat.html", {"title": "Help and support"})

    @routes.get("/console", response_class=HTMLResponse)
    def console_page(request: Request) -> Response:
        user = session_user(request)
        if user is None:
            return RedirectResponse("/console/login", status_code=HTTP_303_SEE_OTHER)
        return templates.TemplateResponse(request, "console.html", {"title": "Agent console", "user": user})

    @routes.get("/console/report", response_class=HTMLResponse)
    def report_page(request: Request, days: Annotated[int, Query(ge=1, le=366)] = 7) -> Response:
        user = session_user(request)
        if user is None:
            return RedirectResponse("/console/login", status_code=HTTP_303_SEE_OTHER)
        if not user.is_operator:
            raise HTTPException(status_code=403, detail="only operators can see the handoff report.")
        now = web.clock()
        result = support.report(web.new_uow(), now - timedelta(days=days), now)
        return templates.TemplateResponse(
            request, "report.html", {"title": "Handoff report", "user": user, "report": result, "days": days}
        )

    @routes.get(
        "/vendor/socket.io.min.js", response_class=FileResponse, responses={200: {"content": {"text/javascript": {}}}}
    )
    def socket_io_client() -> Response:
        if not SOCKET_IO_CLIENT.exists():
            return Response(
                "// socket.io-client is not installed: run `make web-assets` (npm ci in bot/web)\n",
                status_code=503,
                media_type="text/javascript",
            )
        return FileResponse(SOCKET_IO_CLIENT, media_type="text/javascript")

    @routes.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
    async def health_check() -> JSONResponse:
        body, status = await health.answer()
        return JSONResponse(HealthOut.model_validate(body).model_dump(exclude_none=True), status_code=status)

    @routes.get("/health/live", response_model=HealthOut)
    def alive() -> dict[str, str]:
        return {"status": "ok"}

    return routes
