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
import os
import secrets
import time
from pathlib import Path
from typing import Optional

import jwt

from analytics.errors import InvalidInput
from analytics.settings import Settings, get_settings

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
    if settings.token_secret:
        if len(settings.token_secret.encode()) < _MIN_SECRET_BYTES:
            raise InvalidInput(
                f"CRM_TOKEN_SECRET is {len(settings.token_secret.encode())} bytes; use at least "
                f"{_MIN_SECRET_BYTES} random bytes (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)."
            )
        return settings.token_secret
    path = Path(settings.var_dir) / "token-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


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
