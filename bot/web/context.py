"""What the routers share: the app's :class:`WebContext` and the dependencies that say who is asking."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Optional

from fastapi import Depends, HTTPException, Request, Response
from fastapi.templating import Jinja2Templates
from slowapi import Limiter

from analytics.core.settings import Settings
from analytics.store.artifacts import ArtifactStore
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases import staff
from analytics.usecases.staff import UserView
from bot.logging_setup import conversation
from bot.web import sessions
from bot.web.rasa_client import RasaClient

if TYPE_CHECKING:  # the metrics module imports this one
    from bot.web.metrics import WebMetrics

UowFactory = Callable[[], SqlAlchemyUnitOfWork]


@dataclasses.dataclass(frozen=True)
class WebContext:
    """What the request handlers of one app share, kept on ``app.state.web``.

    Built once by :func:`bot.web.app.create_app`; every router is made for one
    context (the rate limiter and the clock are per app, so tests get their own).
    """

    settings: Settings
    #: signs the shop and console cookies
    secret: str
    new_uow: UowFactory
    rasa: RasaClient
    artifacts: ArtifactStore
    #: naive-UTC "now" (tests pass a fixed clock)
    clock: Callable[[], datetime]
    templates: Jinja2Templates
    #: requests per client address on the endpoints a stranger can call in a loop
    limiter: Limiter
    #: the customers the password-less demo sign-in offers (empty unless the demo flag is on)
    demo_refs: tuple[str, ...]
    #: the app's Prometheus metrics (``None``: not measured)
    metrics: Optional[WebMetrics] = None

    def set_cookie(self, response: Response, name: str, value: str, max_age: int, same_site: str) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            httponly=True,
            samesite=same_site,  # type: ignore[arg-type]
            secure=self.settings.web_secure_cookies,
            path="/",
        )

    def signed_in_customer(self, request: Request) -> Optional[int]:
        """The customer the shop cookie names (``None``: a visitor)."""
        return sessions.verify(
            request.cookies.get(sessions.SHOP_COOKIE), secret=self.secret, audience=sessions.SHOP_AUDIENCE
        )


async def conversation_in_logs(request: Request) -> AsyncIterator[None]:
    """A router dependency: the request's log lines carry the conversation it acts on
    (the ``sender_id`` in its path, or the chat's ``session_id`` in its query).

    Async, so it binds in the request's own context, which the route's thread inherits."""
    sender_id = request.path_params.get("sender_id") or request.query_params.get("session_id")
    with conversation(str(sender_id)[:128] if sender_id else None):
        yield


def session_user(request: Request) -> Optional[UserView]:
    """The active staff account the console cookie names, or ``None``."""
    web: WebContext = request.app.state.web
    found = sessions.verify_session(
        request.cookies.get(sessions.CONSOLE_COOKIE), secret=web.secret, audience=sessions.CONSOLE_AUDIENCE
    )
    if found is None:
        return None
    user_id, issued_at = found
    user = staff.get_user(web.new_uow(), user_id)
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


#: a logged-in staff account (401 otherwise)
Agent = Annotated[UserView, Depends(api_user)]
#: a logged-in operator (401 / 403 otherwise)
Operator = Annotated[UserView, Depends(api_operator)]
