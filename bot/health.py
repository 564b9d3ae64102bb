"""``/health`` of the web app and the action server: does what they depend on answer, and how fast.

Three checks, run together, each with a short timeout: the store (a trivial
query through :func:`analytics.usecases.operations.ping_store`), the Rasa
server (``GET /``, which it answers without a key) and the action server
(``GET /health``, which checks its own store). The answer is reused for
:data:`TTL` seconds: a supervisor and a gateway poll it, and a poll must not
become load. The body names each check with its status and latency, never an
address, a key or an error's text (those go to the log). The action server
asks the same :class:`Health` about its store only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Optional

import httpx

from analytics.usecases.operations import ping_store
from analytics.usecases.store import UnitOfWork

logger = logging.getLogger(__name__)

#: seconds each check may take, and how long an answer is reused
TIMEOUT = 1.0
TTL = 2.0

Check = Callable[[], Awaitable[None]]


def sync_check(probe: Callable[[], object]) -> Check:
    """A check out of a blocking ``probe`` (run in a thread, so the server's loop keeps serving)."""

    async def check() -> None:
        await asyncio.to_thread(probe)

    return check


def store_check(new_uow: Callable[[], UnitOfWork]) -> Check:
    """Passes when the store answers a trivial query."""
    return sync_check(lambda: ping_store(new_uow()))


def http_check(url: str, *, transport: Optional[httpx.AsyncBaseTransport] = None) -> Check:
    """Passes when ``GET url`` answers 2xx."""

    async def check() -> None:
        async with httpx.AsyncClient(timeout=TIMEOUT, trust_env=False, transport=transport) as client:
            (await client.get(url)).raise_for_status()

    return check


class Health:
    """The named checks, and their last combined answer.

    Parameters
    ----------
    checks : dict
        Name to an awaitable check that raises when the dependency fails.
    clock : callable
        Monotonic seconds (tests pass their own).
    """

    def __init__(self, checks: dict[str, Check], *, clock: Callable[[], float] = time.monotonic) -> None:
        self.checks = checks
        self._clock = clock
        self._answer: Optional[tuple[dict[str, Any], int]] = None
        self._checked_at = 0.0
        self._lock = asyncio.Lock()

    async def answer(self) -> tuple[dict[str, Any], int]:
        """The body and status of ``/health``: 200 when every check passed, 503 naming those that failed."""
        async with self._lock:
            if self._answer is None or self._clock() - self._checked_at >= TTL:
                self._answer = await self._run()
                self._checked_at = self._clock()
            return self._answer

    async def _run(self) -> tuple[dict[str, Any], int]:
        names = list(self.checks)
        results = await asyncio.gather(*(self._timed(name) for name in names))
        checks = dict(zip(names, results))
        failed = [name for name, result in checks.items() if result["status"] != "ok"]
        if failed:
            return {"status": "unavailable", "failed": failed, "checks": checks}, 503
        return {"status": "ok", "checks": checks}, 200

    async def _timed(self, name: str) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(self.checks[name](), TIMEOUT)
        except Exception as exc:
            logger.warning("health: %s failed: %s: %s", name, exc.__class__.__name__, exc)
            return {"status": "fail"}
        return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


def default_health(
    new_uow: Callable[[], UnitOfWork],
    rasa_url: str,
    action_url: str,
    *,
    transport: Optional[httpx.AsyncBaseTransport] = None,
) -> Health:
    """The web app's checks: its store, the Rasa server and the action server."""
    return Health(
        {
            "store": store_check(new_uow),
            "rasa": http_check(f"{rasa_url.rstrip('/')}/", transport=transport),
            "action_server": http_check(f"{action_url.rstrip('/')}/health", transport=transport),
        }
    )
