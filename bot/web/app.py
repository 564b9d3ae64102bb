"""The web app: the customers' chat page and the agents' console, one FastAPI application.

:func:`create_app` builds it from the settings: the shared
:class:`~bot.web.context.WebContext`, the guards every response passes
(cross-site refusal, security headers, rate limits, errors as JSON) and the
routers of :mod:`bot.web.routes` (pages, auth, chat, console, admin), whose
JSON answers are the models of :mod:`bot.web.schemas`. The chat widget talks
to Rasa's socket.io channel directly; everything else the pages need comes
from the JSON endpoints, which call the services and, for the console, Rasa's
HTTP API with its token (:mod:`bot.web.rasa_client`).
Run it with ``uvicorn --factory bot.web.app:app_from_settings`` (``crm serve`` does).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from slowapi.util import get_remote_address

from analytics.core.clock import utc_now
from analytics.core.errors import InvalidInput, NotAllowed, NotFound
from analytics.core.settings import Settings, get_settings
from analytics.store.artifacts import ArtifactStore
from analytics.store.bootstrap import open_store
from analytics.usecases.recommendations import recommend_for
from bot.health import Health, default_health
from bot.logging_setup import configure_json_logging
from bot.web import keys
from bot.web.context import UowFactory, WebContext
from bot.web.metrics import WebMetrics
from bot.web.rasa_client import RasaClient, RasaUnavailable
from bot.web.routes import admin, auth, chat, console, events, jobs, pages

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent


def create_app(
    settings: Optional[Settings] = None,
    *,
    uow_factory: Optional[UowFactory] = None,
    rasa: Optional[RasaClient] = None,
    clock: Callable[[], datetime] = utc_now,
    warm_up: bool = True,
    health: Optional[Health] = None,
) -> FastAPI:
    """Build the web app.

    Parameters
    ----------
    settings : Settings, optional
        Default: the process settings (environment).
    uow_factory : callable, optional
        Returns a unit of work on the store; default: the store of ``settings``
        (:func:`analytics.store.bootstrap.open_store`).
    rasa : RasaClient, optional
        Client of Rasa's HTTP API; default: ``settings.rasa_url`` with the installation's token.
    clock : callable
        Naive-UTC "now" (tests pass a fixed clock).
    warm_up : bool
        Load the recommender in the background when the app starts, so the first
        context card does not wait for it (about half a second).
    health : Health, optional
        The checks of ``/health``; default: the store, ``settings.rasa_url`` and ``settings.action_url``.
    """
    settings = settings or get_settings()
    new_uow: UowFactory = uow_factory or open_store(settings)
    rasa_client = rasa or RasaClient(settings.rasa_url, keys.rasa_token(settings))
    artifacts = ArtifactStore(Path(settings.artifacts_dir), keep=5)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    metrics = WebMetrics(new_uow, clock)
    # requests per client address on the endpoints a stranger can call in a loop (slowapi over `limits`;
    # memory:// in one process, redis:// shared in production); failed logins are also counted per user name
    limiter = Limiter(key_func=get_remote_address, storage_uri=settings.rate_limit_storage)
    web = WebContext(
        settings=settings,
        secret=keys.web_secret(settings),
        new_uow=new_uow,
        rasa=rasa_client,
        artifacts=artifacts,
        clock=clock,
        templates=templates,
        limiter=limiter,
        # the password-less demo sign-in exists only with the demo flag (which production refuses)
        demo_refs=tuple(ref.strip() for ref in settings.demo_customers.split(",") if ref.strip())
        if settings.demo
        else (),
        metrics=metrics,
    )
    checks = health or default_health(new_uow, settings.rasa_url, settings.action_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if warm_up:
            threading.Thread(target=_load_recommender, args=(new_uow, artifacts), daemon=True).start()
        yield
        rasa_client.close()

    app = FastAPI(title="Shop assistant: web chat and agent console", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    page_policy = _content_security_policy(_origin(settings.rasa_socket_url or settings.rasa_url))

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # a form on another site must not act with an agent's or a customer's cookies
        # (the cookies are SameSite too; this also covers browsers that ignore it)
        # (compared by host, so a TLS-terminating proxy in front does not matter)
        origin = request.headers.get("origin")
        unsafe = request.method not in ("GET", "HEAD", "OPTIONS")
        if unsafe and origin:
            try:
                cross_site = urlsplit(origin).netloc != request.headers.get("host")
            except ValueError:  # not a URL ("http://[" raises): not this site either
                cross_site = True
            if cross_site:
                return JSONResponse({"detail": "cross-site request refused."}, status_code=403)
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", page_policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    app.state.web = web
    app.state.rasa = rasa_client
    app.state.limiter = limiter
    _add_error_handlers(app, templates)
    metrics.install(app, settings.metrics_token)
    app.include_router(pages.router(web, checks))
    for routes in (auth, chat, console, admin, jobs, events):
        app.include_router(routes.router(web))
    return app


def _add_error_handlers(app: FastAPI, templates: Jinja2Templates) -> None:
    """Domain errors and refusals as JSON with a ``detail`` (the login form gets its page back)."""

    @app.exception_handler(RateLimitExceeded)
    def too_many_requests(request: Request, exc: RateLimitExceeded) -> Response:
        detail = f"Too many requests ({exc.detail}); wait a minute and try again."
        if request.url.path == "/console/login":
            response: Response = templates.TemplateResponse(
                request, "login.html", {"title": "Agent console", "error": detail}, status_code=429
            )
        else:
            response = JSONResponse({"detail": detail}, status_code=429)
        response.headers["Retry-After"] = "60"
        return response

    @app.exception_handler(RasaUnavailable)
    def rasa_unavailable(_request: Request, exc: RasaUnavailable) -> JSONResponse:
        logger.warning("%s", exc)
        return JSONResponse({"detail": "The assistant's server did not answer; try again."}, status_code=502)

    @app.exception_handler(NotAllowed)
    def not_allowed(_request: Request, exc: NotAllowed) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(NotFound)
    def not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(InvalidInput)
    def invalid_input(_request: Request, exc: InvalidInput) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    def invalid_request(_request: Request, exc: RequestValidationError) -> Response:
        # where and why, never the value sent (FastAPI's own handler echoes it); escaped to ASCII, since a
        # lone surrogate ("\ud800", in a value or a key) cannot be encoded as UTF-8 and made a 500 of it
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        return Response(json.dumps({"detail": errors}), status_code=422, media_type="application/json")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _content_security_policy(socket_origin: str) -> str:
    """Our own scripts and styles only; connections to ourselves and to the chat server (HTTP and WebSocket)."""
    ws = socket_origin.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {socket_origin} {ws}; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )


def _load_recommender(new_uow: UowFactory, artifacts: ArtifactStore) -> None:
    try:
        recommend_for(new_uow(), None, n=1, artifacts=artifacts)
    except Exception as exc:  # no recommender yet: cards say so; nothing to warm
        logger.info("recommender not loaded at start: %s", exc)


def app_from_settings() -> FastAPI:
    """The app on the process settings: ``uvicorn --factory bot.web.app:app_from_settings``.

    The process logs JSON lines from here on (:mod:`bot.logging_setup`).
    """
    configure_json_logging()
    return create_app(get_settings())
