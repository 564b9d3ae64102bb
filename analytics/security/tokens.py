"""Short-lived tokens that name a signed-in customer in a chat session.

The shop's web site (our demo page stands in for it) signs a JSON Web Token
(HS256, PyJWT) with the customer's id when it opens the chat; the page passes
it in the session metadata; the action server trusts a conversation's
customer only through :func:`verify_customer_token`. A forged, expired or
malformed token identifies nobody: the caller treats the visitor as
anonymous (and logs why).

Why JWT and PyJWT: a standard format any shop back end can produce in its
own language, and a well-kept library that checks expiry and the algorithm
(tokens signed with ``none`` or another algorithm are refused).
"""

from __future__ import annotations

import logging
import time
from typing import Optional

import jwt

from analytics.core.files import installation_secret
from analytics.core.settings import Settings, get_settings

logger = logging.getLogger(__name__)

ALGORITHM = "HS256"
AUDIENCE = "shop-assistant"
_MIN_SECRET_BYTES = 32


def token_secret(settings: Optional[Settings] = None) -> str:
    """The signing secret: ``CRM_TOKEN_SECRET``, or one created once for this installation.

    The created secret lives in ``<var>/token-secret`` (mode 0600) so the web
    page and the action server, separate processes, agree on it.
    """
    settings = settings or get_settings()
    return installation_secret(settings, "token-secret", settings.token_secret)


def sign_customer_token(
    customer_id: int, *, settings: Optional[Settings] = None, now: Optional[float] = None, ttl: Optional[int] = None
) -> str:
    """A token naming ``customer_id``, valid for ``ttl`` seconds (settings default)."""
    settings = settings or get_settings()
    issued = int(now if now is not None else time.time())
    lifetime = settings.token_ttl_seconds if ttl is None else ttl
    claims = {"sub": str(customer_id), "aud": AUDIENCE, "iat": issued, "exp": issued + lifetime}
    return jwt.encode(claims, token_secret(settings), algorithm=ALGORITHM)


def verify_customer_token(
    token: object, *, settings: Optional[Settings] = None, now: Optional[float] = None
) -> Optional[int]:
    """The customer id a valid token names, or ``None`` (logged) for anything else."""
    if not isinstance(token, str) or not token:
        return None
    required = ["sub", "exp", "aud"]
    try:
        if now is None:
            claims = jwt.decode(
                token, token_secret(settings), algorithms=[ALGORITHM], audience=AUDIENCE, options={"require": required}
            )
        else:
            # verify the signature and audience here, expiry against the given clock below
            claims = jwt.decode(
                token,
                token_secret(settings),
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                options={"require": required, "verify_exp": False},
            )
            if float(claims["exp"]) <= now:
                raise jwt.ExpiredSignatureError("Signature has expired")
        return int(claims["sub"])
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        logger.warning("refused a customer token: %s", exc)
        return None


#: The audience of the identity a conversation holds once a customer is known (see below).
CONVERSATION_AUDIENCE = "shop-assistant-conversation"


def sign_conversation_identity(
    customer_id: int, conversation: str, *, settings: Optional[Settings] = None, now: Optional[float] = None
) -> str:
    """Who a conversation's customer is, as the action server keeps it between messages.

    A JWT bound to the conversation (``sid``) that expires after
    ``identity_idle_seconds`` (at most 30 minutes); the action server signs a
    fresh one at every message, so a customer who keeps talking stays known
    and one who walks away from a shared computer does not. A tracker posted
    by anyone else cannot name a customer: the slot holds this token, never a
    bare id.
    """
    settings = settings or get_settings()
    issued = int(now if now is not None else time.time())
    claims = {
        "sub": str(customer_id),
        "sid": conversation,
        "aud": CONVERSATION_AUDIENCE,
        "iat": issued,
        "exp": issued + settings.identity_idle_seconds,
    }
    return jwt.encode(claims, token_secret(settings), algorithm=ALGORITHM)


def verify_conversation_identity(
    token: object, conversation: str, *, settings: Optional[Settings] = None, now: Optional[float] = None
) -> Optional[int]:
    """The customer a conversation's identity token names, if it is valid, unexpired and this conversation's."""
    if not isinstance(token, str) or not token or len(token) > 2048:
        return None
    try:
        claims = jwt.decode(
            token,
            token_secret(settings),
            algorithms=[ALGORITHM],
            audience=CONVERSATION_AUDIENCE,
            options={"require": ["sub", "sid", "exp", "aud"], "verify_exp": now is None},
        )
        if now is not None and float(claims["exp"]) <= now:
            raise jwt.ExpiredSignatureError("Signature has expired")
        if claims["sid"] != conversation:
            raise jwt.InvalidTokenError("the identity belongs to another conversation")
        return int(claims["sub"])
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        logger.info("no conversation identity: %s", exc)
        return None
