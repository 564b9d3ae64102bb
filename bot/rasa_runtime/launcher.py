"""Start the Rasa server with its API secret taken from the environment.

Runs in the Rasa environment (``.venv-rasa/bin/python -m bot.rasa_runtime.launcher run ...``)
and imports nothing of the application. Rasa reads its API credentials only
from command-line options, where every local user can see them (``ps``), and
its token authentication takes the token in the URL query, where access logs
keep it. This launcher reads the secret from ``CRM_RASA_TOKEN`` and hands it to
Rasa in-process as the key of JSON Web Tokens, so clients authenticate with an
``Authorization: Bearer <JWT>`` header (HS256, short-lived, role ``admin``) and
the secret appears in neither place. Without a secret of at least
:data:`MIN_SECRET_CHARS` characters it refuses to start: Rasa without one
would serve its whole HTTP API to anybody. A malformed token (e.g. ``alg: none``)
gets a 401, not the 500 Rasa answers on its own. Calls of the action server get a
deadline and a polite fallback, and a message that cannot be handled (e.g. Redis,
which holds the conversations' locks, is down) the apology (:mod:`bot.rasa_runtime.degradation`).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

MIN_SECRET_CHARS = 32
JWT_METHOD = "HS256"


def rasa_arguments(argv: list[str], secret: str) -> list[str]:
    """Rasa's command line: ``argv`` with the secret as the JWT key (raises ``SystemExit`` if it cannot be)."""
    if len(secret) < MIN_SECRET_CHARS:
        raise SystemExit(
            f"CRM_RASA_TOKEN must hold a secret of at least {MIN_SECRET_CHARS} characters "
            f"(it has {len(secret)}); the Rasa server does not start without one."
        )
    refused = {"--auth-token", "--jwt-secret", "--cors"} & {arg.split("=")[0] for arg in argv}
    if refused:
        raise SystemExit(f"{', '.join(sorted(refused))}: set by this launcher or refused; remove it.")
    # ``--option=value``: a random secret may begin with "-", which argparse
    # would otherwise read as the next option and refuse to start.
    return ["rasa", *argv, f"--jwt-secret={secret}", f"--jwt-method={JWT_METHOD}"]


def refusing_bad_tokens(create_app: Callable[..., Any]) -> Callable[..., Any]:
    """Rasa's ``create_app`` whose app answers any unreadable JWT with 401."""

    @functools.wraps(create_app)
    def create(*args: Any, **kwargs: Any) -> Any:
        from jwt import PyJWTError
        from sanic import response

        app = create_app(*args, **kwargs)

        @app.exception(PyJWTError)
        async def unauthenticated(request: Any, exception: Exception) -> Any:
            return response.json(
                {"status": "failure", "reason": "NotAuthenticated", "message": "User is not authenticated."},
                status=401,
            )

        return app

    return create


def main() -> None:
    sys.argv = rasa_arguments(sys.argv[1:], os.environ.get("CRM_RASA_TOKEN", ""))
    import rasa.server
    from rasa.__main__ import main as rasa_main

    from bot.rasa_runtime import answers, degradation

    rasa.server.create_app = refusing_bad_tokens(rasa.server.create_app)
    # a deadline on action calls, and an apology instead of silence when they or a whole message fail
    degradation.install()
    # the action server's answers checked by a schema validator built once, not once per answer
    answers.install()

    rasa_main()


if __name__ == "__main__":
    main()
