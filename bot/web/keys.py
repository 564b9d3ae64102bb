"""Secrets an installation creates once and its processes share: Rasa API token, cookie key, action token."""

from __future__ import annotations

from analytics.secrets import installation_secret
from analytics.settings import Settings

__all__ = ["action_token", "installation_secret", "rasa_token", "web_secret"]


def rasa_token(settings: Settings) -> str:
    """The token of Rasa's HTTP API (``CRM_RASA_TOKEN`` or ``<var>/rasa-token``)."""
    return installation_secret(settings, "rasa-token", settings.rasa_token)


def web_secret(settings: Settings) -> str:
    """The key that signs the web app's cookies (``CRM_WEB_SECRET`` or ``<var>/web-secret``)."""
    return installation_secret(settings, "web-secret", settings.web_secret)


def action_token(settings: Settings) -> str:
    """The token the Rasa server shows the action server (``CRM_ACTION_TOKEN`` or ``<var>/action-token``)."""
    return installation_secret(settings, "action-token", settings.action_token)
