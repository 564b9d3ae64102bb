"""Signed cookies of the web app: the demo shop's customer login and the agents' console login.

Both are short JSON Web Tokens (HS256, PyJWT) signed with the installation's
web secret, each with its own audience so one can never be used as the
other (nor as a customer's chat token, which has a different secret). The
console session names the user's id; every request reloads the account, so
disabling a user ends their sessions at once.
"""

from __future__ import annotations

import logging
import time
from typing import Optional

import jwt

logger = logging.getLogger(__name__)

ALGORITHM = "HS256"
SHOP_AUDIENCE = "shop-web-login"
CONSOLE_AUDIENCE = "agent-console"
SHOP_COOKIE = "shop_login"
CONSOLE_COOKIE = "console_session"


def sign(subject: int, *, secret: str, audience: str, ttl_seconds: float, now: Optional[float] = None) -> str:
    issued = int(now if now is not None else time.time())
    claims = {"sub": str(subject), "aud": audience, "iat": issued, "exp": issued + int(ttl_seconds)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(value: Optional[str], *, secret: str, audience: str) -> Optional[int]:
    """The id a valid cookie of ``audience`` names, or ``None`` (forged, expired, other audience, garbage)."""
    if not value:
        return None
    try:
        claims = jwt.decode(
            value, secret, algorithms=[ALGORITHM], audience=audience, options={"require": ["sub", "exp", "aud"]}
        )
        return int(claims["sub"])
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        logger.info("refused a %s cookie: %s", audience, exc)
        return None
