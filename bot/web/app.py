"""The web app: the customers' chat page and the agents' console, one FastAPI application.

Pages
    ``/``                 the shop's help page with the chat widget (``static/chat.js``) and a demo login
    ``/console``          the agent console (log in at ``/console/login``): queue, transcript, context card
    ``/console/report``   handoff volumes and waits (operators)
    ``/health``           for ``crm serve`` and load balancers

The chat widget talks to Rasa's socket.io channel directly; everything else
the pages need comes from the JSON endpoints below, which call the services
and, for the console, Rasa's HTTP API with its token (:mod:`bot.web.rasa_client`).
Run it with ``uvicorn --factory bot.web.app:app_from_settings`` (``crm serve`` does).

Who is who
    - A customer is signed in when the demo login (standing in for the shop's
      own site) has set the ``shop_login`` cookie; ``/api/session`` then hands
      the page a short-lived customer token (:func:`analytics.tokens.sign_customer_token`)
      to pass to the assistant. Nothing the browser sends is trusted beyond a
      cookie this app signed.
    - Agents log in with a user name and password (:mod:`analytics.agents`);
      ``operator`` users also see the report.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Optional
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from slowapi.util import get_remote_address
from starlette.status import HTTP_303_SEE_OTHER

from analytics import account, agents, support
from analytics.agents import UserView
from analytics.artifacts import ArtifactStore
from analytics.errors import CustomerNotFound, InvalidInput, NotAllowed, NotFound
from analytics.recommendations import recommend_for
from analytics.settings import Settings, get_settings
from analytics.store.db import make_engine, make_session_factory
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.throttle import TooManyAttempts, client_key, login_throttle
from analytics.tokens import sign_customer_token
from bot.web import keys, sessions
from bot.web.rasa_client import AGENT_PREFIX, RasaClient, RasaUnavailable
from bot.web.transcript import chat_status, last_index, transcript

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SOCKET_IO_CLIENT = HERE / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
SHOP_LOGIN_HOURS = 12
MAX_MESSAGE_LENGTH = 2000
#: slot the bot reads to know a person had the conversation (see README: handoff)
HANDED_BACK_SLOT = "handed_back_at"

UowFactory = Callable[[], SqlAlchemyUnitOfWork]


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_json(value: Any) -> Any:
    """Dataclasses, times (naive UTC, sent with a ``Z``) and money as JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds") + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


class MessageIn(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_LENGTH)


class OfferIn(BaseModel):
    code: str = Field(min_length=1, max_length=32)


class HandBackIn(BaseModel):
    resolution: str = Field(min_length=1, max_length=support.MAX_RESOLUTION_LENGTH)


class SessionIn(BaseModel):
    session_id: str = Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")


@dataclasses.dataclass(frozen=True)
class WebContext:
    """What the request handlers share, kept on ``app.state.web``."""

    settings: Settings
    secret: str
    new_uow: UowFactory


def session_user(request: Request) -> Optional[UserView]:
    """The active staff account the console cookie names, or ``None``."""
    web: WebContext = request.app.state.web
    found = sessions.verify_session(
        request.cookies.get(sessions.CONSOLE_COOKIE), secret=web.secret, audience=sessions.CONSOLE_AUDIENCE
    )
    if found is None:
        return None
    user_id, issued_at = found
    user = agents.get_user(web.new_uow(), user_id)
    return user if user is not None and user.session_is_current(issued_at) else None


def api_user(request: Request) -> UserView:
    user = session_user(request)
    if user is None:
        raise HTTPException(status_code=401, detail="log in to the console first.")
    return user


def api_operator(user: Annotated[UserView, Depends(api_user)]) -> UserView:
    if not user.is_operator:
        raise HTTPException(status_code=403, detail="only operators can see this.")
    return user


Agent = Annotated[UserView, Depends(api_user)]
Operator = Annotated[UserView, Depends(api_operator)]


def create_app(
    settings: Optional[Settings] = None,
    *,
    uow_factory: Optional[UowFactory] = None,
    rasa: Optional[RasaClient] = None,
    clock: Callable[[], datetime] = utcnow,
    warm_up: bool = True,
) -> FastAPI:
    """Build the web app.

    Parameters
    ----------
    settings : Settings, optional
        Default: the process settings (environment).
    uow_factory : callable, optional
        Returns a unit of work on the store; default: one engine on ``settings.database_url``.
    rasa : RasaClient, optional
        Client of Rasa's HTTP API; default: ``settings.rasa_url`` with the installation's token.
    clock : callable
        Naive-UTC "now" (tests pass a fixed clock).
    warm_up : bool
        Load the recommender in the background when the app starts, so the first
        context card does not wait for it (about half a second).
    """
    settings = settings or get_settings()
    if uow_factory is None:
        factory = make_session_factory(make_engine(settings.database_url, echo=settings.sql_echo))

        def uow_factory() -> SqlAlchemyUnitOfWork:
            return SqlAlchemyUnitOfWork(factory)

    new_uow: UowFactory = uow_factory
    rasa_client = rasa or RasaClient(settings.rasa_url, keys.rasa_token(settings))
    artifacts = ArtifactStore(Path(settings.artifacts_dir), keep=5)
    secret = keys.web_secret(settings)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    # the password-less demo sign-in exists only with the demo flag (which production refuses)
    demo_refs = [ref.strip() for ref in settings.demo_customers.split(",") if ref.strip()] if settings.demo else []

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if warm_up:
            threading.Thread(target=_load_recommender, args=(new_uow, artifacts), daemon=True).start()
        yield
        rasa_client.close()

    app = FastAPI(title="Shop assistant: web chat and agent console", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    socket_origin = _origin(settings.rasa_socket_url or settings.rasa_url)
    page_policy = _content_security_policy(socket_origin)

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

    app.state.web = WebContext(settings=settings, secret=secret, new_uow=new_uow)
    app.state.rasa = rasa_client
    # requests per client address on the endpoints a stranger can call in a loop (slowapi over `limits`;
    # memory:// in one process, redis:// shared in production); failed logins are also counted per user name
    limiter = Limiter(key_func=get_remote_address, storage_uri=settings.rate_limit_storage)
    app.state.limiter = limiter
    failed_logins = login_throttle(settings)

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

    def set_cookie(response: Response, name: str, value: str, max_age: int, same_site: str) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            httponly=True,
            samesite=same_site,  # type: ignore[arg-type]
            secure=settings.web_secure_cookies,
            path="/",
        )

    # ------------------------------------------------------------------ customers: the shop's help page

    def signed_in_customer(request: Request) -> Optional[int]:
        return sessions.verify(
            request.cookies.get(sessions.SHOP_COOKIE), secret=secret, audience=sessions.SHOP_AUDIENCE
        )

    def forget_identity(session_id: str, customer_id: int) -> None:
        if support.conversation_customer(new_uow(), session_id) != customer_id:
            return  # not this customer's conversation: leave it alone
        try:
            rasa_client.append(
                session_id,
                [{"event": "slot", "name": name, "value": None} for name in ("identity", "customer_name")],
                deliver=False,
            )
        except RasaUnavailable as exc:  # the identity still expires after its idle time
            logger.warning("could not clear the identity of a signed-out conversation: %s", exc)

    def demo_customers() -> list[dict[str, Any]]:
        with new_uow() as uow:
            found = [uow.customers.by_external_ref(ref) for ref in demo_refs]
            return [{"ref": c.external_ref, "name": c.name} for c in found if c is not None]

    @app.get("/", response_class=HTMLResponse)
    def chat_page(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "chat.html", {"title": "Help and support"})

    @app.get("/api/session")
    def customer_session(request: Request) -> dict[str, Any]:
        """Who is signed in (per the cookie), a fresh chat token for them, and where the chat server is."""
        customer_id = signed_in_customer(request)
        customer: Optional[dict[str, Any]] = None
        token: Optional[str] = None
        if customer_id is not None:
            try:
                name = account.customer_name(new_uow(), customer_id)
                orders = account.list_orders(new_uow(), customer_id, limit=3)
            except CustomerNotFound:
                customer_id = None
            else:
                with new_uow() as uow:
                    row = uow.customers.get(customer_id)
                    ref = row.external_ref if row is not None else None
                token = sign_customer_token(customer_id, settings=settings)
                customer = {"name": name, "ref": ref, "orders": to_json(orders)}
        return {
            "customer": customer,
            "token": token,
            "token_ttl_seconds": settings.token_ttl_seconds,
            "socket": {"url": settings.rasa_socket_url or settings.rasa_url, "path": "/socket.io"},
            "demo_customers": demo_customers() if customer is None else [],
        }

    if settings.demo:

        @app.post("/demo/login")
        @limiter.limit("20/minute")
        def demo_login(request: Request, ref: Annotated[str, Form(max_length=32)]) -> Response:
            """Stands in for the shop's own login: sign in as one of the demo customers."""
            if ref not in demo_refs:
                raise HTTPException(status_code=403, detail="only the demo customers can sign in here.")
            with new_uow() as uow:
                customer = uow.customers.by_external_ref(ref)
                if customer is None:
                    raise HTTPException(status_code=404, detail=f"customer {ref} is not in this store.")
                customer_id = customer.id
            response = RedirectResponse("/", status_code=HTTP_303_SEE_OTHER)
            value = sessions.sign(
                customer_id, secret=secret, audience=sessions.SHOP_AUDIENCE, ttl_seconds=SHOP_LOGIN_HOURS * 3600
            )
            set_cookie(response, sessions.SHOP_COOKIE, value, SHOP_LOGIN_HOURS * 3600, "lax")
            return response

        @app.post("/demo/logout")
        def demo_logout(
            request: Request, session_id: Annotated[Optional[str], Form(max_length=128)] = None
        ) -> Response:
            """Sign out; the chat this customer had open forgets who they are, so the next person at this
            computer cannot act on their account (the page then starts a new conversation)."""
            customer_id = signed_in_customer(request)
            if customer_id is not None and session_id:
                forget_identity(session_id, customer_id)
            response = RedirectResponse("/", status_code=HTTP_303_SEE_OTHER)
            response.delete_cookie(sessions.SHOP_COOKIE, path="/")
            return response

    @app.post("/api/chat/register", status_code=204)
    @limiter.limit("60/minute")
    def register_chat(request: Request, body: SessionIn) -> Response:
        """The page opened (or reopened) conversation ``session_id``: list it for agents, linked if signed in.

        409 when a signed-in customer names a conversation somebody else started.
        """
        support.register_page_conversation(
            new_uow(), body.session_id, channel="socketio", customer_id=signed_in_customer(request), now=clock()
        )
        return Response(status_code=204)

    @app.get("/api/chat/history")
    def chat_history(session_id: Annotated[str, Query(min_length=8, max_length=128)]) -> dict[str, Any]:
        """The conversation so far, to redraw the chat after a reload (the session id is the page's secret).

        Only for conversations a page registered: asking Rasa for an unknown one would create it.
        """
        if not support.conversation_exists(new_uow(), session_id):
            return {"lines": [], "status": {"with": "assistant", "agent": None}}
        tracker = rasa_client.tracker(session_id)
        lines = [line for line in transcript(tracker) if line.kind != "system"]
        return {"lines": [_customer_line(line.to_json()) for line in lines], "status": chat_status(tracker)}

    # ------------------------------------------------------------------ agents: log in, log out

    @app.get("/console/login", response_class=HTMLResponse)
    def login_page(request: Request) -> Response:
        if session_user(request) is not None:
            return RedirectResponse("/console", status_code=HTTP_303_SEE_OTHER)
        return templates.TemplateResponse(request, "login.html", {"title": "Agent console", "error": None})

    @app.post("/console/login", response_class=HTMLResponse)
    @limiter.limit("10/minute")
    def login(
        request: Request,
        username: Annotated[str, Form(max_length=64)],
        password: Annotated[str, Form(max_length=1024)],
    ) -> Response:
        keys_of_try = {"username": username.strip().lower()[:64], "client": client_key(get_remote_address(request))}
        try:
            failed_logins.check(keys_of_try)  # before the (deliberately slow) password hash
        except TooManyAttempts as exc:
            logger.warning("console login locked out for %r (%s)", username[:64], exc.scope)
            return templates.TemplateResponse(
                request,
                "login.html",
                {"title": "Agent console", "error": str(exc), "username": username},
                status_code=429,
                headers={"Retry-After": str(exc.retry_after)},
            )
        user = agents.authenticate(new_uow(), username, password)
        if user is not None and not settings.demo and agents.is_documented_demo_login(username, password):
            # the README's demo passwords are public: outside the demo they open nothing
            logger.warning("console login with the documented demo password of %r refused (CRM_DEMO is off)", username)
            user = None
        if user is None:
            failed_logins.record(keys_of_try)
            logger.info("console login refused for %r", username[:64])
            return templates.TemplateResponse(
                request,
                "login.html",
                {"title": "Agent console", "error": "Wrong user name or password.", "username": username},
                status_code=401,
            )
        hours = settings.console_session_hours
        value = sessions.sign(user.id, secret=secret, audience=sessions.CONSOLE_AUDIENCE, ttl_seconds=hours * 3600)
        response = RedirectResponse("/console", status_code=HTTP_303_SEE_OTHER)
        set_cookie(response, sessions.CONSOLE_COOKIE, value, int(hours * 3600), "strict")
        return response

    @app.post("/console/logout")
    def logout(request: Request) -> Response:
        """Sign out: the cookie is dropped and every session of the account stops working (a copied cookie too)."""
        user = session_user(request)
        if user is not None:
            agents.sign_out(new_uow(), user.id)
        response = RedirectResponse("/console/login", status_code=HTTP_303_SEE_OTHER)
        response.delete_cookie(sessions.CONSOLE_COOKIE, path="/")
        return response

    @app.get("/console", response_class=HTMLResponse)
    def console_page(request: Request) -> Response:
        user = session_user(request)
        if user is None:
            return RedirectResponse("/console/login", status_code=HTTP_303_SEE_OTHER)
        return templates.TemplateResponse(request, "console.html", {"title": "Agent console", "user": user})

    @app.get("/console/report", response_class=HTMLResponse)
    def report_page(request: Request, days: Annotated[int, Query(ge=1, le=366)] = 7) -> Response:
        user = session_user(request)
        if user is None:
            return RedirectResponse("/console/login", status_code=HTTP_303_SEE_OTHER)
        if not user.is_operator:
            raise HTTPException(status_code=403, detail="only operators can see the handoff report.")
        now = clock()
        result = support.report(new_uow(), now - timedelta(days=days), now)
        return templates.TemplateResponse(
            request, "report.html", {"title": "Handoff report", "user": user, "report": result, "days": days}
        )

    # ------------------------------------------------------------------ agents: the console's data

    @app.get("/api/console/me")
    def me(user: Agent) -> dict[str, Any]:
        return {"username": user.username, "role": user.role}

    @app.get("/api/console/queue")
    def queue(user: Agent) -> dict[str, Any]:
        now = clock()
        return {"now": to_json(now), "queue": to_json(support.queue(new_uow(), now))}

    def conversation_state(sender_id: str, after: int) -> dict[str, Any]:
        tracker = rasa_client.tracker(sender_id)
        return {
            "sender_id": sender_id,
            "paused": bool(tracker.get("paused")),
            "handoff": to_json(support.open_handoff_of(new_uow(), sender_id, clock())),
            "lines": [line.to_json() for line in transcript(tracker, after=after)],
            "last_index": last_index(tracker),
        }

    @app.get("/api/console/conversations/{sender_id}")
    def conversation(user: Agent, sender_id: str) -> dict[str, Any]:
        """A conversation as the agent first sees it: transcript, handoff and the customer's context card."""
        state = conversation_state(sender_id, -1)
        customer_id = support.conversation_customer(new_uow(), sender_id)
        card = None
        if customer_id is not None:
            try:
                card = support.context_card(new_uow(), customer_id, clock(), artifacts=artifacts)
            except CustomerNotFound:
                card = None
        return {**state, "customer_id": customer_id, "card": to_json(card)}

    @app.get("/api/console/conversations/{sender_id}/transcript")
    def conversation_update(user: Agent, sender_id: str, after: Annotated[int, Query(ge=-1)] = -1) -> dict[str, Any]:
        """What is new in a conversation since line ``after`` (the console polls this)."""
        return conversation_state(sender_id, after)

    def held_by(user: UserView, sender_id: str) -> support.HandoffRecord:
        handoff = support.open_handoff_of(new_uow(), sender_id, clock())
        if handoff is None or handoff.status != "active":
            raise NotAllowed("accept or join the conversation first.")
        if handoff.agent != user.username:
            raise NotAllowed(f"{handoff.agent} has this conversation.")
        return handoff

    def author(user: UserView) -> str:
        return AGENT_PREFIX + user.username

    def display(user: UserView) -> str:
        """What the customer sees: the display name, never the login name."""
        return user.display_name or ""

    def greeting(user: UserView, rest: str) -> str:
        who = (
            f"I'm {user.display_name} from the customer service team"
            if user.display_name
            else ("I'm from the customer service team")
        )
        return f"Hi, {who}. {rest}"

    @app.post("/api/console/handoffs/{handoff_id}/accept")
    def accept(user: Agent, handoff_id: int) -> dict[str, Any]:
        record = support.accept(new_uow(), handoff_id, user.username, clock())
        rasa_client.pause(
            record.sender_id,
            text=greeting(user, "I can see our conversation so far."),
            author=author(user),
            author_name=display(user),
        )
        return {"handoff": to_json(record)}

    @app.post("/api/console/conversations/{sender_id}/pickup")
    def pick_up(user: Agent, sender_id: str) -> dict[str, Any]:
        record = support.pick_up(new_uow(), sender_id, user.username, clock())
        rasa_client.pause(
            sender_id,
            text=greeting(user, "I've joined the chat to help."),
            author=author(user),
            author_name=display(user),
        )
        return {"handoff": to_json(record)}

    @app.post("/api/console/conversations/{sender_id}/messages", status_code=201)
    def reply(user: Agent, sender_id: str, body: MessageIn) -> dict[str, Any]:
        held_by(user, sender_id)
        text = body.text.strip()
        if not text:
            raise InvalidInput("the message is empty.")
        rasa_client.say(sender_id, text, author=author(user), author_name=display(user))
        return {"sent": True}

    @app.post("/api/console/conversations/{sender_id}/offer")
    def apply_offer(user: Agent, sender_id: str, body: OfferIn) -> dict[str, Any]:
        held_by(user, sender_id)
        customer_id = support.conversation_customer(new_uow(), sender_id)
        if customer_id is None:
            raise NotAllowed("this conversation is not linked to a customer, so there is no offer to apply.")
        decision = support.apply_offer(new_uow(), customer_id, body.code, clock())
        rasa_client.say(
            sender_id,
            f"I've applied {decision.name} to your account: {decision.description}",
            author=author(user),
            author_name=display(user),
            custom={"offer": {"code": decision.code, "name": decision.name}},
        )
        return {"offer": to_json(decision)}

    @app.post("/api/console/handoffs/{handoff_id}/handback")
    def hand_back(user: Agent, handoff_id: int, body: HandBackIn) -> dict[str, Any]:
        # check everything the service will before the customer is told anything
        current = support.get_handoff(new_uow(), handoff_id, clock())
        if current.status != "active":
            raise NotAllowed("this conversation is not with an agent.")
        if current.agent != user.username and not user.is_operator:
            raise NotAllowed(f"only {current.agent}, who has this conversation, can hand it back.")
        if not body.resolution.strip():
            raise InvalidInput("say in a few words how the conversation ended (the resolution).")
        now = clock()
        rasa_client.resume(
            current.sender_id,
            text="You're back with the assistant. Thanks for your patience! Ask me anything, "
            'or say "agent" if you need a person again.',
            author=author(user),
            author_name=display(user),
            slots={HANDED_BACK_SLOT: to_json(now)},
        )
        record = support.hand_back(
            new_uow(), handoff_id, user.username, body.resolution, now, override=user.is_operator
        )
        return {"handoff": to_json(record)}

    @app.get("/api/console/report")
    def report(user: Operator, days: Annotated[int, Query(ge=1, le=366)] = 7) -> dict[str, Any]:
        now = clock()
        return to_json(support.report(new_uow(), now - timedelta(days=days), now))

    @app.get("/api/console/users")
    def users(user: Operator) -> list[dict[str, Any]]:
        return [to_json(u) for u in agents.list_users(new_uow())]

    # ------------------------------------------------------------------ assets and health

    @app.get("/vendor/socket.io.min.js")
    def socket_io_client() -> Response:
        if not SOCKET_IO_CLIENT.exists():
            return Response(
                "// socket.io-client is not installed: run `make web-assets` (npm ci in bot/web)\n",
                status_code=503,
                media_type="text/javascript",
            )
        return FileResponse(SOCKET_IO_CLIENT, media_type="text/javascript")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


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


def _customer_line(line: dict[str, Any]) -> dict[str, Any]:
    """A transcript line as the customer's own page may show it: no internal flags, and an agent's display name,
    never their login name."""
    shown = {key: line[key] for key in ("index", "at", "kind", "text", "buttons", "products")}
    shown["author"] = line.get("author_name") or None
    return shown


def app_from_settings() -> FastAPI:
    """The app on the process settings: ``uvicorn --factory bot.web.app:app_from_settings``."""
    return create_app(get_settings())
