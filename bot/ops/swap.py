"""Blue/green Rasa servers behind the switch: a new model goes live without a restart and without a stall.

Rasa's own ``PUT /model`` loads the new model inside the serving process, which
answers nothing until it is done (5–6 s with this project's model under light
load, bench/swap_under_load.py; about 30 s for ``rasa init``'s). Instead:

1. a second Rasa server starts on a free loopback port with the new model,
   sharing the tracker store (SQL) and a Redis lock store with the live one;
2. when its ``/status`` names the model, it gets warm-up requests: NLU
   parses, REST turns of a ``__warmup__`` conversation (which triage ignores)
   and, concurrently, read-only fetches of the conversations active in the
   last minutes (``GET /conversations/<id>/tracker``). Measured here: without
   the last step the first message of each ongoing conversation on a fresh
   server took 0.6–0.9 s when several arrived at once (0.05 s one at a time);
   with it, 0.1–0.3 s;
3. the proxy's :class:`~bot.ops.proxy.Switch` points new requests at it;
4. the old server answers what it still holds (up to ``drain_seconds``), then
   its WebSockets are closed and it is stopped (not before ``stop_after_seconds``
   after the switch: its shutdown takes a core for about two seconds).

Loading a model keeps a core busy for tens of seconds, on the same machine as
the server that is answering customers. So the new server starts with a lower
CPU priority (``load_niceness``, ``nice -n 10``) and is set back to normal once
it is warm, just before the switch (Linux: every thread of the process; raising
a priority needs root or ``RLIMIT_NICE``, e.g. systemd ``LimitNICE=-0``; if that
is refused the server keeps running at the lower priority, which only matters
when the machine is short of CPU). The old server is lowered while it stops.

A conversation in progress continues on the new server: its events are in the
shared tracker store, and the lock store keeps two servers from handling one
conversation's messages at the same time. So a swap needs a tracker store
outside the process and a lock store both servers see; :func:`bot.ops.switchboard.runtime_endpoints`
adds a Redis lock store when ``endpoints.yml`` has none, puts a SQLite tracker
store in WAL mode (:func:`bot.ops.switchboard.sqlite_wal`), and a swap is refused when the tracker
store is in memory or no lock store can be had.

:mod:`bot.ops.switchboard` runs it all in one process; :mod:`bot.ops.admin` is the loopback API that
asks for a swap and its client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote

import httpx

from analytics.core.clock import utc_now
from analytics.core.errors import CRMError, NotAllowed
from bot import launch
from bot.ops.proxy import Switch, Upstream
from bot.ops.tracker import WARMUP_PREFIX
from bot.web.keys import rasa_api_headers

logger = logging.getLogger(__name__)


class SwapFailed(CRMError):
    """The new server did not come up or did not answer; the old one is still live."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Readiness:
    """Whether this deployment can swap models without losing conversations, and why not."""

    endpoints: Path
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def can_swap(self) -> bool:
        return not self.problems


@dataclass
class RasaServer:
    name: str
    port: int
    model: Path
    process: asyncio.subprocess.Process
    log: Path
    started_at: float
    upstream: Upstream

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "model": str(self.model),
            "pid": self.process.pid,
            "inflight": self.upstream.inflight,
            "log": str(self.log),
        }


@dataclass(frozen=True)
class SwapReport:
    model: str
    previous: Optional[str]
    server: str
    load_seconds: float
    warmup_seconds: float
    switched_at: str
    reniced: bool = True
    drained: Optional[bool] = None
    drain_seconds: Optional[float] = None
    stop_seconds: Optional[float] = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BlueGreen:
    """Starts Rasa servers, switches the proxy to a new one once it is warm, and retires the old one.

    Parameters
    ----------
    cwd : Path
        Where the Rasa servers run (the project: relative paths in the endpoints resolve from here).
    endpoints, credentials : Path
        What every server runs with (see :func:`bot.ops.switchboard.runtime_endpoints`).
    """

    cwd: Path
    endpoints: Path
    credentials: Path
    log_dir: Path
    switch: Switch = field(default_factory=Switch)
    env: dict[str, str] = field(default_factory=dict)
    drain_seconds: float = 30.0
    load_timeout: float = 600.0
    readiness: Optional[Readiness] = None
    load_niceness: int = 10
    stop_after_seconds: float = 5.0
    rasa_token: Optional[str] = None
    recent_conversations: Optional[Callable[[], list[str]]] = None
    live: Optional[RasaServer] = None
    retiring: list[RasaServer] = field(default_factory=list)
    history: list[SwapReport] = field(default_factory=list)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _tasks: set[asyncio.Task[tuple[bool, float, float]]] = field(default_factory=set)
    _count: int = 0
    _stopping: bool = False
    _rasa_key: str = ""

    def __post_init__(self) -> None:
        # Rasa's HTTP API always needs a key: the configured one, or one made up for this deployment
        self._rasa_key = self.rasa_token or secrets.token_urlsafe(32)

    async def start(self, model: Path) -> RasaServer:
        """Start the first server and point the proxy at it."""
        server = await self._spawn(model, niceness=0)
        try:
            await self._wait_loaded(server)
            await self._warm_up(server)
        except BaseException:
            await self._terminate(server)
            raise
        self.switch.switch_to(server.upstream)
        self.live = server
        return server

    async def swap(self, model: Path, *, wait_drain: bool = False) -> SwapReport:
        """Bring ``model`` live on a new server; the old one drains and stops.

        Raises
        ------
        NotAllowed
            When a swap is running, or this deployment cannot swap safely.
        SwapFailed
            When the new server does not load or answer (the old one stays live).
        """
        if self.readiness is not None and not self.readiness.can_swap:
            raise NotAllowed("cannot swap without dropping conversations: " + "; ".join(self.readiness.problems))
        if self._lock.locked():
            raise NotAllowed("another swap is in progress")
        async with self._lock:
            if not model.exists():
                raise SwapFailed(f"model file {model} does not exist")
            started = time.perf_counter()
            server = await self._spawn(model)
            try:
                await self._wait_loaded(server)
                loaded = time.perf_counter()
                await self._warm_up(server)
            except BaseException:
                await self._terminate(server)
                raise
            warm = time.perf_counter()
            reniced = renice(server.process.pid, 0) if self.load_niceness else True
            old = self.live
            self.switch.switch_to(server.upstream)
            self.live = server
            report = SwapReport(
                model=str(model),
                previous=None if old is None else str(old.model),
                server=server.name,
                load_seconds=round(loaded - started, 2),
                warmup_seconds=round(warm - loaded, 2),
                switched_at=utc_now().isoformat(timespec="milliseconds"),
                reniced=reniced,
            )
            logger.info("switched to %s (%s)", server.name, model.name)
        if old is None:
            self.history.append(report)
            return report
        self.retiring.append(old)
        retire = asyncio.create_task(self._retire(old))
        self._tasks.add(retire)  # the loop keeps only a weak reference to a task
        retire.add_done_callback(self._tasks.discard)
        if not wait_drain:
            self.history.append(report)
            return report
        drained, drain_seconds, stop_seconds = await retire
        report = SwapReport(
            **{**report.as_dict(), "drained": drained, "drain_seconds": drain_seconds, "stop_seconds": stop_seconds}
        )
        self.history.append(report)
        return report

    async def stop(self) -> None:
        self._stopping = True
        servers = [s for s in [self.live, *self.retiring] if s is not None]
        await asyncio.gather(*(self._terminate(s) for s in servers), return_exceptions=True)
        for server in servers:
            await server.upstream.close()

    def status(self) -> dict[str, Any]:
        return {
            "live": None if self.live is None else self.live.describe(),
            "retiring": [s.describe() for s in self.retiring],
            "swapping": self._lock.locked(),
            "can_swap": self.readiness.can_swap if self.readiness else True,
            "problems": list(self.readiness.problems) if self.readiness else [],
            "swaps": [r.as_dict() for r in self.history[-10:]],
        }

    async def watch(self) -> None:
        """Return when the live server exits on its own (the caller stops everything)."""
        while not self._stopping:
            live = self.live
            if live is not None and live.process.returncode is not None:
                raise SwapFailed(f"the live Rasa server ({live.name}) exited; see {live.log}")
            await asyncio.sleep(0.5)

    # ----------------------------------------------------------------------- internals

    def _headers(self) -> dict[str, str]:
        """Headers that authenticate a call of Rasa's HTTP API."""
        return rasa_api_headers(self._rasa_key)

    async def _spawn(self, model: Path, niceness: Optional[int] = None) -> RasaServer:
        niceness = self.load_niceness if niceness is None else niceness
        self._count += 1
        port = free_port()
        name = f"rasa-{self._count}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        rasa = launch.rasa_server(
            port, model, self.endpoints, self.credentials, rasa_token=self._rasa_key, env=self.env,
            behind_proxy=True, niceness=niceness, cwd=self.cwd,
        )  # fmt: skip
        with log.open("wb") as out:
            process = await rasa.start_async(out)
        upstream = Upstream(name=name, url=f"http://127.0.0.1:{port}")
        return RasaServer(name, port, model, process, log, time.monotonic(), upstream)

    async def _wait_loaded(self, server: RasaServer) -> None:
        deadline = time.monotonic() + self.load_timeout
        async with httpx.AsyncClient(base_url=server.url, timeout=5.0, headers=self._headers()) as client:
            while time.monotonic() < deadline:
                if server.process.returncode is not None:
                    raise SwapFailed(f"{server.name} exited with status {server.process.returncode}; see {server.log}")
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    answer = await client.get("/status")
                    if answer.status_code == 200 and answer.json().get("model_file"):
                        return
                await asyncio.sleep(0.25)
        raise SwapFailed(f"{server.name} did not load {server.model.name} within {self.load_timeout:.0f} s")

    async def _warm_up(self, server: RasaServer) -> None:
        sender = f"{WARMUP_PREFIX}{uuid.uuid4().hex[:12]}"
        recent: list[str] = []
        if self.recent_conversations is not None:
            try:  # a blocking database read: off the event loop that serves customers
                recent = await asyncio.to_thread(self.recent_conversations)
            except Exception as exc:  # warming is best effort
                logger.warning("could not list recent conversations to warm up: %s", exc)
        async with httpx.AsyncClient(base_url=server.url, timeout=120.0, headers=self._headers()) as client:
            for text in ("hello", "where is my order?", "thanks"):
                answer = await client.post("/model/parse", json={"text": text})
                if answer.status_code != 200:
                    raise SwapFailed(f"{server.name} answered /model/parse with {answer.status_code}; see {server.log}")
            for text in ("hello", "thanks"):
                answer = await client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
                if answer.status_code == 404:  # no REST channel configured: the parse was the warm-up
                    break
                if answer.status_code != 200:
                    raise SwapFailed(f"{server.name} answered a warm-up message with {answer.status_code}")
            gate = asyncio.Semaphore(4)

            async def fetch(conversation: str) -> None:
                async with gate:
                    with contextlib.suppress(httpx.HTTPError):
                        await client.get(f"/conversations/{quote(conversation, safe='')}/tracker")

            for _ in range(2):
                await asyncio.gather(*(fetch(c) for c in recent))

    async def _retire(self, server: RasaServer) -> tuple[bool, float, float]:
        started = time.perf_counter()
        drained = await self.switch.drained(server.upstream, self.drain_seconds)
        idle = time.perf_counter()
        if self.load_niceness:
            renice(server.process.pid, 19)  # its shutdown yields to the server now answering
        # stopping a Rasa server costs a core for about two seconds: not while the new one meets its first customers
        await asyncio.sleep(max(0.0, self.stop_after_seconds - (idle - started)))
        await server.upstream.close()
        await self._terminate(server)
        with contextlib.suppress(ValueError):
            self.retiring.remove(server)
        return drained, round(idle - started, 2), round(time.perf_counter() - idle, 2)

    @staticmethod
    async def _terminate(server: RasaServer, grace: float = 15.0) -> None:
        process = server.process
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), grace)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()


def renice(pid: int, niceness: int) -> bool:
    """Set every thread of process ``pid`` to ``niceness`` (Linux); False if not allowed or not possible."""
    try:
        threads = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        threads = [pid]
    done = True
    for tid in threads:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, niceness)
        except (PermissionError, ProcessLookupError, OSError):
            done = False
    return done
