"""Secrets an installation creates once and its processes share (the Rasa API token, the cookie key)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from analytics.errors import InvalidInput
from analytics.settings import Settings

MIN_SECRET_BYTES = 32


def installation_secret(settings: Settings, name: str, configured: str = "") -> str:
    """``configured`` if set, else the secret in ``<var>/<name>``, created (mode 0600) on first use.

    Raises
    ------
    InvalidInput
        ``configured`` is shorter than 32 bytes.
    """
    if configured:
        if len(configured.encode()) < MIN_SECRET_BYTES:
            raise InvalidInput(
                f"the configured {name} is {len(configured.encode())} bytes; use at least {MIN_SECRET_BYTES} random "
                "bytes (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)."
            )
        return configured
    path = Path(settings.var_dir) / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def rasa_token(settings: Settings) -> str:
    """The token of Rasa's HTTP API (``CRM_RASA_TOKEN`` or ``<var>/rasa-token``)."""
    return installation_secret(settings, "rasa-token", settings.rasa_token)


def web_secret(settings: Settings) -> str:
    """The key that signs the web app's cookies (``CRM_WEB_SECRET`` or ``<var>/web-secret``)."""
    return installation_secret(settings, "web-secret", settings.web_secret)
