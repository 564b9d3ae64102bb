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
from datetime import datetime, timezone
from typing import Optional

import jwt

logger = logging.getLogger(__name__)

ALGORITHM = "HS256"
SHOP_AUDIENCE = "shop-web-login"
CONSOLE_AUDIENCE = "agent-console"
SHOP_COOKIE = "shop_login"
CONSOLE_COOKIE = "console_session"


def sign(subject: int, *, secret: str, audience: str, ttl_seconds: float, now: Optional[float] = None) -> str:
    # the issue time to the microsecond: a sign-out revokes every session issued before it, even a second earlier
    issued = round(now if now is not None else time.time(), 6)
    claims = {"sub": str(subject), "aud": audience, "iat": issued, "exp": int(issued + ttl_seconds)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(value: Optional[str], *, secret: str, audience: str) -> Optional[int]:
    """The id a valid cookie of ``audience`` names, or ``None`` (forged, expired, other audience, garbage)."""
    found = verify_session(value, secret=secret, audience=audience)
    return found[0] if found is not None else None


def verify_session(value: Optional[str], *, secret: str, audience: str) -> Optional[tuple[int, datetime]]:
    """The id a valid cookie of ``audience`` names and when it was issued (naive UTC), or ``None``."""
    if not value:
        return None
    try:
        claims = jwt.decode(
            value, secret, algorithms=[ALGORITHM], audience=audience, options={"require": ["sub", "exp", "aud", "iat"]}
        )
        issued = datetime.fromtimestamp(float(claims["iat"]), tz=timezone.utc).replace(tzinfo=None)
        return int(claims["sub"]), issued
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError) as exc:
        logger.info("refused a %s cookie: %s", audience, exc)
        return None
