"""Secrets an installation creates once and its processes share: Rasa API token, cookie key, action token."""

from __future__ import annotations

import time

import jwt

from analytics.core.files import installation_secret
from analytics.core.settings import Settings

__all__ = ["action_token", "installation_secret", "rasa_api_headers", "rasa_token", "web_secret"]

#: seconds a credential for Rasa's HTTP API stays valid
RASA_API_TOKEN_SECONDS = 300


def rasa_token(settings: Settings) -> str:
    """The token of Rasa's HTTP API (``CRM_RASA_TOKEN`` or ``<var>/rasa-token``)."""
    return installation_secret(settings, "rasa-token", settings.rasa_token)


def rasa_api_headers(token: str, *, now: float | None = None) -> dict[str, str]:
    """Headers that authenticate a call of Rasa's HTTP API: a short-lived JWT signed with ``token``.

    The Rasa server takes ``token`` as its JWT key (:mod:`bot.rasa_runtime.launcher`), so the
    token itself never travels, and never appears in a URL or an access log.
    """
    issued = int(time.time() if now is None else now)
    claims = {
        "user": {"username": "shop-assistant", "role": "admin"},
        "iat": issued,
        "exp": issued + RASA_API_TOKEN_SECONDS,
    }
    return {"Authorization": f"Bearer {jwt.encode(claims, token, algorithm='HS256')}"}


def web_secret(settings: Settings) -> str:
    """The key that signs the web app's cookies (``CRM_WEB_SECRET`` or ``<var>/web-secret``)."""
    return installation_secret(settings, "web-secret", settings.web_secret)


def action_token(settings: Settings) -> str:
    """The token the Rasa server shows the action server (``CRM_ACTION_TOKEN`` or ``<var>/action-token``)."""
    return installation_secret(settings, "action-token", settings.action_token)
