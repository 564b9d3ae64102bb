"""Files the product creates or checks: the one checksum helper and the one secret-file helper.

:func:`file_sha256` is the checksum of imports, model artifacts and NLU models.

Secrets an installation creates once and its processes share
(:func:`installation_secret`): each secret comes from its setting (an environment variable) when one is
configured, or else from a file ``<var>/<name>`` created on first use with 32
random bytes (hex), readable by its owner only. Creation is atomic
(``O_CREAT | O_EXCL``): two processes starting together agree on one secret.
A configured secret shorter than 32 bytes, and an empty or unreadable secret
file, are refused with a message that says what to do: a process never runs
with an empty key (a Rasa started with an empty token has no authentication
at all).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from pathlib import Path

from analytics.core.errors import InvalidInput
from analytics.core.settings import Settings

MIN_SECRET_BYTES = 32


def installation_secret(settings: Settings, name: str, configured: str = "") -> str:
    """``configured`` if set, else the secret in ``<var>/<name>``, created (mode 0600) on first use.

    Raises
    ------
    InvalidInput
        ``configured`` is shorter than 32 bytes, or the file holds fewer.
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
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
                fh.flush()
                os.fsync(fh.fileno())
    value = path.read_text().strip()
    for _ in range(40):  # another process may have created the file and not written it yet
        if len(value.encode()) >= MIN_SECRET_BYTES:
            break
        time.sleep(0.05)
        value = path.read_text().strip()
    if len(value.encode()) < MIN_SECRET_BYTES:
        raise InvalidInput(
            f"{path} holds {len(value.encode())} bytes, not a secret: delete it (a new one is created) "
            "or write at least 32 random bytes into it."
        )
    return value


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of the file at ``path``, read in 1 MiB blocks (model files can be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
