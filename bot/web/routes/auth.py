"""Who is who: the shop's sign-in (a demo stand-in), the customer's chat session, the console's log-in and log-out.

- A customer is signed in when the demo login (standing in for the shop's own
  site) has set the ``shop_login`` cookie; ``/api/session`` then hands the page
  a short-lived customer token (:func:`analytics.security.tokens.sign_customer_token`)
  to pass to the assistant. Nothing the browser sends is trusted beyond a
  cookie this app signed.
- Agents log in with a user name and password (:mod:`analytics.usecases.staff`); failed
  attempts are counted per user name and per client, and the README's demo
  passwords open nothing outside the demo.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from slowapi.util import get_remote_address
from starlette.status import HTTP_303_SEE_OTHER

from analytics.core.errors import CustomerNotFound
from analytics.security.throttle import TooManyAttempts, client_key, login_throttle
from analytics.security.tokens import sign_customer_token
from analytics.usecases import staff, support
from analytics.usecases.identity import customer_name
from analytics.usecases.orders import list_orders
from bot.web import sessions
from bot.web.context import WebContext, session_user
from bot.web.rasa_client import RasaUnavailable
from bot.web.schemas import CustomerSessionOut, refusals, to_json

logger = logging.getLogger(__name__)

SHOP_LOGIN_HOURS = 12


def router(web: WebContext) -> APIRouter:
    """The sign-in routes of the app ``web`` belongs to (the demo sign-in only with the demo flag)."""
    routes = APIRouter()
    settings, limiter, new_uow = web.settings, web.limiter, web.new_uow
    failed_logins = login_throttle(settings)

    # ------------------------------------------------------------------ customers

    def forget_identity(session_id: str, customer_id: int) -> None:
        if support.conversation_customer(new_uow(), session_id) != customer_id:
            return  # not this customer's conversation: leave it alone
        try:
            web.rasa.append(
                session_id,
                [{"event": "slot", "name": name, "value": None} for name in ("identity", "customer_name")],
                deliver=False,
            )
        except RasaUnavailable as exc:  # the identity still expires after its idle time
            logger.warning("could not clear the identity of a signed-out conversation: %s", exc)

    def demo_customers() -> list[dict[str, Any]]:
        with new_uow() as uow:
            found = [uow.customers.by_external_ref(ref) for ref in web.demo_refs]
            return [{"ref": c.external_ref, "name": c.name} for c in found if c is not None]

    @routes.get("/api/session", response_model=CustomerSessionOut)
    def customer_session(request: Request) -> dict[str, Any]:
        """Who is signed in (per the cookie), a fresh chat token for them, and where the chat server is."""
        customer_id = web.signed_in_customer(request)
        customer: Optional[dict[str, Any]] = None
        token: Optional[str] = None
        if customer_id is not None:
            try:
                name = customer_name(new_uow(), customer_id)
                orders = list_orders(new_uow(), customer_id, limit=3)
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

        @routes.post(
            "/demo/login",
            status_code=HTTP_303_SEE_OTHER,
            response_class=RedirectResponse,
            responses=refusals(403, 404, 429),
        )
        @limiter.limit("20/minute")
        def demo_login(request: Request, ref: Annotated[str, Form(max_length=32)]) -> Response:
            """Stands in for the shop's own login: sign in as one of the demo customers."""
            if ref not in web.demo_refs:
                raise HTTPException(status_code=403, detail="only the demo customers can sign in here.")
            with new_uow() as uow:
                customer = uow.customers.by_external_ref(ref)
                if customer is None:
                    raise HTTPException(status_code=404, detail=f"customer {ref} is not in this store.")
                customer_id = customer.id
            response = RedirectResponse("/", status_code=HTTP_303_SEE_OTHER)
            value = sessions.sign(
                customer_id, secret=web.secret, audience=sessions.SHOP_AUDIENCE, ttl_seconds=SHOP_LOGIN_HOURS * 3600
            )
            web.set_cookie(response, sessions.SHOP_COOKIE, value, SHOP_LOGIN_HOURS * 3600, "lax")
            return response

        @routes.post("/demo/logout", status_code=HTTP_303_SEE_OTHER, response_class=RedirectResponse)
        def demo_logout(
            request: Request, session_id: Annotated[Optional[str], Form(max_length=128)] = None
        ) -> Response:
            """Sign out; the chat this customer had open forgets who they are, so the next person at this
            computer cannot act on their account (the page then starts a new conversation)."""
            customer_id = web.signed_in_customer(request)
            if customer_id is not None and session_id:
                forget_identity(session_id, customer_id)
            response = RedirectResponse("/", status_code=HTTP_303_SEE_OTHER)
            response.delete_cookie(sessions.SHOP_COOKIE, path="/")
            return response

    # ------------------------------------------------------------------ agents

    @routes.get("/console/login", response_class=HTMLResponse)
    def login_page(request: Request) -> Response:
        if session_user(request) is not None:
            return RedirectResponse("/console", status_code=HTTP_303_SEE_OTHER)
        return web.templates.TemplateResponse(request, "login.html", {"title": "Agent console", "error": None})

    @routes.post(
        "/console/login", response_class=HTMLResponse, responses={303: {"description": "Logged in: to the console."}}
    )
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
            return web.templates.TemplateResponse(
                request,
                "login.html",
                {"title": "Agent console", "error": str(exc), "username": username},
                status_code=429,
                headers={"Retry-After": str(exc.retry_after)},
            )
        user = staff.authenticate(new_uow(), username, password)
        if user is not None and not settings.demo and staff.is_documented_demo_login(username, password):
            # the README's demo passwords are public: outside the demo they open nothing
            logger.warning("console login with the documented demo password of %r refused (CRM_DEMO is off)", username)
            user = None
        if user is None:
            failed_logins.record(keys_of_try)
            logger.info("console login refused for %r", username[:64])
            return web.templates.TemplateResponse(
                request,
                "login.html",
                {"title": "Agent console", "error": "Wrong user name or password.", "username": username},
                status_code=401,
            )
        hours = settings.console_session_hours
        value = sessions.sign(user.id, secret=web.secret, audience=sessions.CONSOLE_AUDIENCE, ttl_seconds=hours * 3600)
        response = RedirectResponse("/console", status_code=HTTP_303_SEE_OTHER)
        web.set_cookie(response, sessions.CONSOLE_COOKIE, value, int(hours * 3600), "strict")
        return response

    @routes.post("/console/logout", status_code=HTTP_303_SEE_OTHER, response_class=RedirectResponse)
    def logout(request: Request) -> Response:
        """Sign out: the cookie is dropped and every session of the account stops working (a copied cookie too)."""
        user = session_user(request)
        if user is not None:
            staff.sign_out(new_uow(), user.id)
        response = RedirectResponse("/console/login", status_code=HTTP_303_SEE_OTHER)
        response.delete_cookie(sessions.CONSOLE_COOKIE, path="/")
        return response

    return routes
