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
  tracker of a long conversation is well under 1 MB);
- ``GET /health`` that says whether the store answers (200 or 503, cached
  for two seconds: supervisors and gateways poll it);
- ``GET /metrics`` for Prometheus (:mod:`bot.action_metrics`), to loopback
  clients or with ``CRM_METRICS_TOKEN`` only (:mod:`bot.metrics_access`);
- JSON log lines, each carrying the conversation id of the call it belongs to
  (:mod:`bot.logging_setup`).

    python -m bot.action_server --port 5055 [--workers N | --single-process]

With workers, Sanic's manager (the main process) builds the app, listens on
the port, then starts each worker as a fresh interpreter that imports the
app again; it stops everything if a worker has not said it is ready within
its threshold (30 s by default). On a loaded machine those imports took
about 45 s, so the threshold is raised to :data:`WORKER_START_SECONDS`
(Sanic's documented ``WorkerManager.THRESHOLD``), lest a slow start end in a
restart loop. ``--single-process`` runs the app in this process with no
manager: the port is bound only once the app is built, so until then a
connection is refused (the production profile's gateway then passes the
call to another process) rather than left waiting.

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
from sanic.worker.manager import WorkerManager

from analytics.core.settings import get_settings
from analytics.usecases import recommendations, store
from bot.action_metrics import ObservedExecutor, metrics_payload
from bot.health import Health, store_check
from bot.logging_setup import configure_json_logging
from bot.metrics_access import may_scrape
from bot.web.keys import action_token

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 4 * 1024 * 1024
OPEN_PATHS = frozenset({"/health"})
#: seconds a Sanic worker has to start (import and build the app) before its manager gives up on all of them
WORKER_START_SECONDS = 180


def guarded_app(
    token: str,
    actions: str = "actions",
    *,
    metrics_token: str = "",
    health: Optional[Health] = None,
    json_logs: bool = True,
) -> Sanic:
    """The rasa-sdk app for ``actions`` that answers only requests carrying ``token``.

    Module-level so Sanic can rebuild it in each worker process (which is where
    its logging is configured). ``metrics_token`` also opens ``/metrics``;
    ``health`` checks the store (tests pass one with a fake).
    """
    if json_logs:
        configure_json_logging()
    executor: ActionExecutor = ObservedExecutor()
    executor.register_package(actions)
    app = create_app_for_serve(executor, cors_origins=None)

    @app.before_server_start
    async def load_models(_app: Sanic) -> None:
        # the recommenders and rules load in the background while the worker starts, not on a customer's turn
        recommendations.warm_up()

    app.config.REQUEST_MAX_SIZE = MAX_REQUEST_BYTES
    expected = f"Bearer {token}".encode()
    store_health = health or Health({"store": store_check(store.unit_of_work)})

    @app.on_request
    async def require_token(request: Request) -> Optional[HTTPResponse]:
        if request.path == "/metrics" and request.method == "GET":
            if not may_scrape(request.ip, request.headers, metrics_token):
                return sanic_response.json({"error": "forbidden"}, status=403)
            body, content_type = metrics_payload()
            return sanic_response.raw(body, content_type=content_type)
        if request.path in OPEN_PATHS and request.method in ("GET", "HEAD"):
            answer, status = await store_health.answer()
            return sanic_response.json(answer, status=status)
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
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--workers", type=int, default=settings.action_workers)
    how.add_argument(
        "--single-process",
        action="store_true",
        help="serve from this process, without Sanic's worker manager (the port is bound once the app is built)",
    )
    args = parser.parse_args(argv)
    configure_json_logging()
    loader = AppLoader(factory=partial(guarded_app, action_token(settings), metrics_token=settings.metrics_token))
    app: Any = loader.load()
    if args.single_process:
        app.prepare(host=settings.action_host, port=args.port, single_process=True, access_log=False)
        logger.info("action server on http://%s:%d (token required, one process)", settings.action_host, args.port)
        Sanic.serve_single(primary=app)
        return
    # in 0.1 s steps; read when the manager starts, so it is set before (sanic.dev: Worker Manager, "Worker ack")
    WorkerManager.THRESHOLD = WORKER_START_SECONDS * 10
    app.prepare(host=settings.action_host, port=args.port, workers=max(1, args.workers), access_log=False)
    logger.info("action server on http://%s:%d (token required)", settings.action_host, args.port)
    Sanic.serve(primary=app, app_loader=loader)


if __name__ == "__main__":
    main()
