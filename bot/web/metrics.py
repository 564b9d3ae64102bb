"""``/metrics`` of the web app, for the operators' Prometheus.

- request counts and latency by route (``http_requests_total``,
  ``http_request_duration_seconds``...), by prometheus-fastapi-instrumentator;
- the agents' queue, read from the store when Prometheus scrapes:
  ``crm_handoffs_waiting``, ``crm_handoff_oldest_wait_seconds`` and
  ``crm_handoffs_active``;
- ``crm_handoff_wait_seconds``: how long each handoff had waited when an agent
  took it (accepted from the queue or picked up).

Each app has its own registry (tests build many apps in one process). The
route answers loopback clients that reach it directly, or a scraper with
``CRM_METRICS_TOKEN`` (:mod:`bot.metrics_access`); anyone else gets 403.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator

from analytics.usecases import support
from analytics.usecases.store import UnitOfWork
from bot.metrics_access import may_scrape

logger = logging.getLogger(__name__)


class QueueCollector(Collector):
    """The agents' queue as gauges, asked of the store at each scrape (nothing if the store does not answer)."""

    def __init__(self, new_uow: Callable[[], UnitOfWork], clock: Callable[[], datetime]) -> None:
        self._new_uow = new_uow
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        try:
            queue = support.queue(self._new_uow(), self._clock())
        except Exception as exc:  # the scrape still answers, with the other metrics
            logger.warning("metrics: the queue could not be read: %s", exc.__class__.__name__)
            return
        yield GaugeMetricFamily("crm_handoffs_waiting", "Handoffs waiting for an agent.", value=len(queue.waiting))
        oldest = max((h.wait_seconds for h in queue.waiting), default=0.0)
        yield GaugeMetricFamily(
            "crm_handoff_oldest_wait_seconds", "How long the longest-waiting handoff has waited (0: none).", oldest
        )
        yield GaugeMetricFamily("crm_handoffs_active", "Handoffs an agent has.", value=len(queue.active))


class WebMetrics:
    """The registry of one web app, and the metrics its routes update."""

    def __init__(self, new_uow: Callable[[], UnitOfWork], clock: Callable[[], datetime]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(QueueCollector(new_uow, clock))
        self.handoff_wait = Histogram(
            "crm_handoff_wait_seconds",
            "How long handoffs had waited when an agent took them.",
            buckets=(10, 30, 60, 120, 300, 600, 1200, 1800, 3600),
            registry=self.registry,
        )

    def taken(self, wait_seconds: float) -> None:
        self.handoff_wait.observe(wait_seconds)

    def install(self, app: FastAPI, token: str) -> None:
        """Measure every request of ``app`` and serve ``GET /metrics`` to whom :func:`may_scrape` lets in."""
        Instrumentator(registry=self.registry, excluded_handlers=["/metrics"]).instrument(app)

        @app.get("/metrics", include_in_schema=False)
        def metrics(request: Request) -> Response:
            client = request.client.host if request.client else None
            if not may_scrape(client, request.headers, token):
                return JSONResponse({"detail": "metrics are for the operators' monitoring only."}, status_code=403)
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
