"""The action server, closed to everyone but the Rasa server.

rasa-sdk's own server listens on every address (``SANIC_HOST`` defaults to
0.0.0.0), allows any origin (CORS ``*``), accepts 100 MB bodies and asks
nobody who they are: anything that reaches the port can post a tracker and
run any action. This entry point runs the same rasa-sdk application with

- the address of ``CRM_ACTION_HOST`` (loopback by default; a private network
  address in production, behind the firewall);
- a bearer token (``CRM_ACTION_TOKEN``, or the installation's
  ``var/action-token``) required on every request but ``GET /health``,
  compared in constant time; Rasa sends it from the ``headers`` of its
  ``action_endpoint`` (:func:`bot.launch.action_endpoint` writes them);
- no CORS headers (browsers never call it) and a 4 MB request limit (a
  tracker of a long conversation is well under 1 MB).

    python -m bot.action_server --port 5055 [--workers N]

The identity of a conversation's customer is not taken from the tracker
either: it travels as a signed, expiring token (:mod:`analytics.security.tokens`).
"""

from __future__ import annotations

import argparse
import hmac
import logging
from functools import partial
from typing import Any, Optional

from rasa_sdk.endpoint import create_app_for_serve
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic
from sanic import response as sanic_response
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic.worker.loader import AppLoader

from analytics.core.settings import get_settings
from bot.web.keys import action_token

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 4 * 1024 * 1024
OPEN_PATHS = frozenset({"/health"})


def guarded_app(token: str, actions: str = "actions") -> Sanic:
    """The rasa-sdk app for ``actions`` that answers only requests carrying ``token``.

    Module-level so Sanic can rebuild it in each worker process.
    """
    executor = ActionExecutor()
    executor.register_package(actions)
    app = create_app_for_serve(executor, cors_origins=None)
    app.config.REQUEST_MAX_SIZE = MAX_REQUEST_BYTES
    expected = f"Bearer {token}".encode()

    @app.on_request
    async def require_token(request: Request) -> Optional[HTTPResponse]:
        if request.path in OPEN_PATHS and request.method in ("GET", "HEAD"):
            return None
        supplied = (request.headers.get("authorization") or "").encode()
        if not hmac.compare_digest(supplied, expected):
            logger.warning("refused an action call without the token from %s", request.ip)
            return sanic_response.json({"error": "unauthorised"}, status=401)
        return None

    return app


def main(argv: Optional[list[str]] = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(description="Run the assistant's action server (token required).")
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument("--workers", type=int, default=settings.action_workers)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    loader = AppLoader(factory=partial(guarded_app, action_token(settings)))
    app: Any = loader.load()
    app.prepare(host=settings.action_host, port=args.port, workers=max(1, args.workers), access_log=False)
    logger.info("action server on http://%s:%d (token required)", settings.action_host, args.port)
    Sanic.serve(primary=app, app_loader=loader)


if __name__ == "__main__":
    main()
