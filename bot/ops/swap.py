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
outside the process and a lock store both servers see; :func:`runtime_endpoints`
adds a Redis lock store when ``endpoints.yml`` has none, puts a SQLite tracker
store in WAL mode (:func:`sqlite_wal`), and a swap is refused when the tracker
store is in memory or no lock store can be had.

:func:`serve_switchboard` runs it all in one process: the action server (child),
the live Rasa server (child), and three ports:

- the public proxy (``port``): the channels only (:func:`bot.ops.proxy.is_public`);
- Rasa's HTTP API for the back ends (``127.0.0.1:api_port``, the web app's
  ``CRM_RASA_URL``), still behind Rasa's JWT and without ``PUT /model``;
- the admin API (``127.0.0.1:admin_port``, :func:`admin_app`: ``GET /status``,
  ``POST /swap``) that ``crm nlu publish`` and ``crm nlu rollback`` call. It
  always wants a token (``Authorization: Bearer``), a loopback ``Host`` and a
  JSON body, and loads only registered models whose file is unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Optional
from urllib.parse import quote, urlsplit

import httpx
import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from analytics.errors import CRMError, InvalidInput, NotAllowed, NotFound
from bot.ops.project import SHARED_TRACKER_STORES
from bot.ops.proxy import Switch, Upstream, proxy_app
from bot.ops.triage import WARMUP_PREFIX

logger = logging.getLogger(__name__)


class SwapFailed(CRMError):
    """The new server did not come up or did not answer; the old one is still live."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    """Whether a Redis server answers PING at ``redis://host:port/db``."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


@dataclass(frozen=True)
class Readiness:
    """Whether this deployment can swap models without losing conversations, and why not."""

    endpoints: Path
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def can_swap(self) -> bool:
        return not self.problems


def sqlite_wal(path: Path) -> str:
    """Put a SQLite tracker store in write-ahead-log mode (persistent in the file).

    In SQLite's default rollback-journal mode a writer waits for every reader,
    and Python's sqlite3 waits in growing sleeps: while a second server starts
    and reads the schema, the live one's writes were measured to stall by
    0.7–0.9 s. With WAL, readers and the writer do not block each other.
    """
    import sqlite3

    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(path)) as db:
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    return f"tracker store: SQLite {path.name} in {mode} journal mode"


def runtime_endpoints(
    source: Path,
    target: Path,
    *,
    lock_store_url: str,
    key_prefix: str,
    cwd: Optional[Path] = None,
    actions_port: Optional[int] = None,
) -> Readiness:
    """Write the endpoints the Rasa servers run with: ``source`` plus a Redis lock store if it has none.

    The file is copied without expanding ``${VARS}`` (Rasa expands them), so no
    secret of ``endpoints.yml`` is written out; the file is readable by its owner only.
    """
    cwd = cwd or source.parent
    data: dict[str, Any] = {}
    if source.exists():
        data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    problems: list[str] = []
    notes: list[str] = []
    tracker = data.get("tracker_store") or {}
    if str(tracker.get("type", "")).lower() not in SHARED_TRACKER_STORES:
        problems.append(
            "the tracker store is in memory (endpoints.yml has no `tracker_store:` of type SQL or redis): "
            "conversations would be lost at a swap"
        )
    if str(tracker.get("type", "")).lower() == "sql" and str(tracker.get("dialect") or "sqlite").startswith("sqlite"):
        db = Path(str(tracker.get("db") or "rasa.db"))
        notes.append(sqlite_wal(db if db.is_absolute() else cwd / db))
    lock = data.get("lock_store") or {}
    if not lock or str(lock.get("type", "")).lower() in ("in_memory", "inmemory"):
        if redis_answers(lock_store_url):
            parts = urlsplit(lock_store_url)
            data["lock_store"] = {
                "type": "redis",
                "url": parts.hostname or "127.0.0.1",
                "port": parts.port or 6379,
                "db": int((parts.path or "/1").strip("/") or 1),
                "key_prefix": key_prefix,
            }
            if parts.password:
                data["lock_store"]["password"] = parts.password
            notes.append(f"lock store: Redis at {parts.hostname}:{parts.port or 6379} (added to the endpoints)")
        else:
            problems.append(
                f"no lock store is configured and Redis does not answer at {lock_store_url}: two servers could "
                "handle one conversation's messages at once"
            )
    if actions_port is not None:  # the action server this switchboard starts, and the token it wants
        data["action_endpoint"] = {
            "url": f"http://127.0.0.1:{actions_port}/webhook",
            "headers": {"Authorization": "Bearer ${CRM_ACTION_TOKEN}"},
        }
    target.parent.mkdir(parents=True, exist_ok=True)
    target.touch(mode=0o600)  # it may hold the lock store's password
    target.chmod(0o600)
    target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return Readiness(target, tuple(problems), tuple(notes))


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
        What every server runs with (see :func:`runtime_endpoints`).
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
                switched_at=datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="milliseconds"),
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
        from bot.web.keys import rasa_api_headers

        return rasa_api_headers(self._rasa_key)

    async def _spawn(self, model: Path, niceness: Optional[int] = None) -> RasaServer:
        from bot.serve import quiet_rasa_env, rasa_server_command, rasa_server_env

        niceness = self.load_niceness if niceness is None else niceness
        prefix = ["nice", "-n", str(niceness)] if niceness and shutil.which("nice") else []

        self._count += 1
        port = free_port()
        name = f"rasa-{self._count}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                *prefix,
                *rasa_server_command(port, model, self.endpoints, self.credentials),
                cwd=str(self.cwd),
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                # behind the proxy, which appends the client's address to X-Forwarded-For: Rasa reads it
                # from there (channels put it in the message metadata; limits count per client address)
                env=quiet_rasa_env({**self.env, **rasa_server_env(self._rasa_key), "SANIC_PROXIES_COUNT": "1"}),
                start_new_session=True,
            )
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


def recent_conversations_reader(
    tracker_url: Any, *, window_seconds: float = 600.0, limit: int = 32
) -> Callable[[], list[str]]:
    """A function that lists the conversations with a customer message in the last ``window_seconds``."""
    from sqlalchemy import create_engine, desc, func, select

    from bot.ops.triage import events

    engine = None

    def read() -> list[str]:
        nonlocal engine
        engine = engine or create_engine(tracker_url)
        last = func.max(events.c.id).label("last")
        query = (
            select(events.c.sender_id, last)
            .where(events.c.type_name == "user", events.c.timestamp >= time.time() - window_seconds)
            .group_by(events.c.sender_id)
            .order_by(desc(last))
            .limit(limit)
        )
        with engine.connect() as conn:
            return [row.sender_id for row in conn.execute(query) if not row.sender_id.startswith(WARMUP_PREFIX)]

    return read


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


# --------------------------------------------------------------------------- admin API and client

#: ``ref -> file``: the registered, unchanged model file a swap request names (a registry name or a path);
#: raises :class:`~analytics.errors.NotFound` or another :class:`~analytics.errors.CRMError` to refuse.
ModelResolver = Callable[[str], Path]
#: The ``Host`` headers the admin API answers: loopback names only, so a web page whose name an attacker
#: points at 127.0.0.1 (DNS rebinding) is refused although its requests reach the port.
_LOOPBACK_HOST = re.compile(r"(?:127\.0\.0\.1|localhost|\[::1\])(?::[0-9]{1,5})?")
MIN_ADMIN_TOKEN_BYTES = 32
MAX_SWAP_BODY = 16_384
PUBLISH_HINT = "models go live through the registry: `crm nlu publish <name or file>` registers, gates and swaps it"


def loopback_host(host: str) -> bool:
    """Whether a ``Host`` header names this machine's loopback interface (with an optional port).

    Examples
    --------
    >>> [loopback_host(h) for h in ("127.0.0.1:5006", "localhost", "[::1]:5006", "evil.example:5006", "")]
    [True, True, True, False, False]
    """
    return _LOOPBACK_HOST.fullmatch(host.strip().lower()) is not None


def _bearer(request: Request) -> str:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("x-ops-token", "")


def admin_app(bluegreen: BlueGreen, *, token: str, resolve_model: ModelResolver) -> Starlette:
    """Loopback-only control of the switchboard: ``GET /status``, ``POST /swap {"model": name or path}``.

    Every request must name a loopback host (``Host: 127.0.0.1:<port>``,
    ``localhost``, ``[::1]``; else 421) and carry the token
    (``Authorization: Bearer <token>``, or ``X-Ops-Token``; else 401).
    ``POST /swap`` wants ``Content-Type: application/json`` (else 415: a web page
    can only send that to another site after a CORS preflight, which this app
    never allows) and a JSON object (else 400). Only a model of the registry
    whose file still has its registered hash is loaded (``resolve_model``; else
    404 or 409): model files hold pickles, so nothing else on the disk is
    ever loaded.

    Raises
    ------
    InvalidInput
        ``token`` is shorter than 32 bytes: the admin API is never open.
    """
    if len(token.encode()) < MIN_ADMIN_TOKEN_BYTES:
        raise InvalidInput(
            f"the admin API needs a token of at least {MIN_ADMIN_TOKEN_BYTES} bytes (CRM_OPS_TOKEN or "
            "<var>/admin-token, bot.ops.settings.admin_token)."
        )
    expected = token.encode()

    def refusal(request: Request) -> Optional[JSONResponse]:
        if not loopback_host(request.headers.get("host", "")):
            return JSONResponse(
                {"error": "the admin API answers only requests addressed to 127.0.0.1, localhost or [::1]"},
                status_code=421,
            )
        if not hmac.compare_digest(_bearer(request).encode(), expected):
            return JSONResponse(
                {"error": "bad or missing token: send `Authorization: Bearer <token>` (the token is in "
                          "<var>/admin-token, or CRM_OPS_TOKEN)"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )  # fmt: skip
        return None

    def bad(status_code: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status_code)

    async def status(request: Request) -> JSONResponse:
        return refusal(request) or JSONResponse(bluegreen.status())

    async def swap(request: Request) -> JSONResponse:
        refused = refusal(request)
        if refused is not None:
            return refused
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != "application/json":
            return bad(415, 'POST /swap wants `Content-Type: application/json` and a body {"model": name or path}')
        body = await request.body()
        if len(body) > MAX_SWAP_BODY:
            return bad(413, f"the body is over {MAX_SWAP_BODY} bytes")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return bad(400, 'the body is not JSON; send {"model": name or path, "wait_drain": true}')
        if not isinstance(data, dict):
            return bad(400, 'the body must be a JSON object: {"model": name or path, "wait_drain": true}')
        ref, wait_drain = data.get("model"), data.get("wait_drain", True)
        if not isinstance(ref, str) or not ref.strip() or "\x00" in ref:
            return bad(400, '"model" must name a registered model (its name or its file)')
        if not isinstance(wait_drain, bool):
            return bad(400, '"wait_drain" must be true or false')
        try:  # reads the store and hashes the file: off the event loop that serves customers
            model = await asyncio.to_thread(resolve_model, ref)
        except NotFound as exc:
            return bad(404, f"{exc} Nothing was loaded; {PUBLISH_HINT}.")
        except CRMError as exc:
            return bad(409, f"{exc} Nothing was loaded; {PUBLISH_HINT}.")
        try:
            report = await bluegreen.swap(model, wait_drain=wait_drain)
        except NotAllowed as exc:
            return bad(409, str(exc))
        except SwapFailed as exc:
            return bad(500, str(exc))
        return JSONResponse(report.as_dict())

    return Starlette(routes=[Route("/status", status), Route("/swap", swap, methods=["POST"])])


@dataclass(frozen=True)
class SwitchClient:
    """How ``crm nlu publish`` and ``rollback`` reach a running switchboard.

    ``token`` is the admin API's (:func:`bot.ops.settings.admin_token`), sent as ``Authorization: Bearer``.
    """

    admin_url: str
    token: str

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _error(self, answer: httpx.Response) -> str:
        try:
            message = str(answer.json().get("error") or answer.text)
        except ValueError:
            message = answer.text or str(answer.status_code)
        if answer.status_code == 401:
            message += "; `crm nlu serve` and this command must share CRM_OPS_TOKEN or the same <var>/admin-token"
        return message

    def status(self) -> Optional[dict[str, Any]]:
        """The switchboard's status, or ``None`` when none is running."""
        try:
            answer = httpx.get(f"{self.admin_url}/status", headers=self._headers(), timeout=5.0)
        except httpx.HTTPError:
            return None
        if answer.status_code != 200:
            raise SwapFailed(
                f"the switchboard at {self.admin_url} answered {answer.status_code}: {self._error(answer)}"
            )
        data: dict[str, Any] = answer.json()
        return data

    def swap(self, model: Path, timeout: float = 900.0) -> dict[str, Any]:
        """Swap to ``model``, a registered model's file (the switchboard refuses any other)."""
        try:
            answer = httpx.post(
                f"{self.admin_url}/swap",
                json={"model": str(model.resolve()), "wait_drain": True},
                headers=self._headers(),
                timeout=timeout,
            )
        except httpx.HTTPError as exc:
            raise SwapFailed(f"the switchboard at {self.admin_url} did not answer: {exc}") from exc
        if answer.status_code in (404, 409):
            raise NotAllowed(self._error(answer))
        if answer.status_code != 200:
            raise SwapFailed(self._error(answer))
        data: dict[str, Any] = answer.json()
        return data


# --------------------------------------------------------------------------- the switchboard process


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the switchboard stops both servers itself."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield


@dataclass(frozen=True)
class SwitchboardConfig:
    """What :func:`serve_switchboard` runs.

    ``port`` (on ``host``) is the public port: the channels only. Rasa's HTTP API
    is on ``127.0.0.1:api_port`` (the web app uses it) and the admin API on
    ``127.0.0.1:admin_port``, which wants ``admin_token`` and loads only what
    ``resolve_model`` accepts (see :func:`admin_app`).
    """

    cwd: Path
    model: Path
    endpoints: Path
    credentials: Path
    log_dir: Path
    admin_token: str
    resolve_model: ModelResolver
    host: str = "127.0.0.1"
    port: int = 5005
    api_port: int = 5007
    admin_port: int = 5006
    actions_port: Optional[int] = 5055
    lock_store_url: str = "redis://127.0.0.1:6379/1"
    drain_seconds: float = 30.0
    load_timeout: float = 600.0
    load_niceness: int = 10
    env: dict[str, str] = field(default_factory=dict)
    tracker_url: Any = None
    rasa_token: Optional[str] = None
    web_port: Optional[int] = None

    def __post_init__(self) -> None:
        if len(self.admin_token.encode()) < MIN_ADMIN_TOKEN_BYTES:
            raise InvalidInput(
                f"the switchboard's admin API needs a token of at least {MIN_ADMIN_TOKEN_BYTES} bytes "
                "(CRM_OPS_TOKEN, or <var>/admin-token created by bot.ops.settings.admin_token)."
            )
        ports = [self.port, self.api_port, self.admin_port, self.actions_port, self.web_port]
        used = [p for p in ports if p]
        if len(set(used)) != len(used):
            raise InvalidInput(
                f"the switchboard's ports must differ: public {self.port}, API {self.api_port}, "
                f"admin {self.admin_port}, actions {self.actions_port}, web {self.web_port}."
            )


async def _start_actions(config: SwitchboardConfig, out: IO[bytes]) -> Optional[asyncio.subprocess.Process]:
    if config.actions_port is None:
        return None
    from bot.serve import action_server_command

    process = await asyncio.create_subprocess_exec(
        *action_server_command(config.actions_port),
        cwd=str(config.cwd), stdout=out, stderr=asyncio.subprocess.STDOUT, env={**os.environ, **config.env},
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise SwapFailed(f"the action server exited with status {process.returncode}; see {out.name}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"http://127.0.0.1:{config.actions_port}/health")).status_code == 200:
                    return process
            await asyncio.sleep(0.5)
    raise SwapFailed(f"the action server did not answer within 120 s; see {out.name}")


async def _start_web(config: SwitchboardConfig) -> Any:
    """The web app (chat page, agent console) of bot/serve.py, talking to Rasa through the switch."""
    from bot.serve import ServeError, start_web_app, wait_for_web_app

    log = config.log_dir / "web.log"
    # the back end calls Rasa's HTTP API (/conversations/...) on the loopback API port; customers' browsers
    # open socket.io on the public port (unless CRM_RASA_SOCKET_URL names where they reach it)
    socket_url = config.env.get("CRM_RASA_SOCKET_URL") or os.environ.get("CRM_RASA_SOCKET_URL")
    env = {**config.env, "CRM_RASA_SOCKET_URL": socket_url or f"http://127.0.0.1:{config.port}"}
    with log.open("wb") as out:
        web = start_web_app(
            port=int(config.web_port or 0),
            rasa_url=f"http://127.0.0.1:{config.api_port}",
            rasa_token=config.rasa_token,
            env=env,
            log=out,
        )
    try:
        await asyncio.to_thread(wait_for_web_app, f"http://127.0.0.1:{config.web_port}", web, log, 60.0)
    except ServeError as exc:
        web.terminate()
        raise SwapFailed(str(exc)) from exc
    return web


async def serve_switchboard(config: SwitchboardConfig, on_ready: Optional[Callable[[Readiness], None]] = None) -> None:
    """Run the action server, the live Rasa server, the public proxy, the API proxy and the admin API until
    SIGINT/SIGTERM."""
    from bot.serve import server_secrets

    config = dataclasses.replace(config, env={**config.env, **server_secrets(config.env)})
    key = "crm" + hashlib.sha256(str(config.cwd.resolve()).encode()).hexdigest()[:8]
    readiness = runtime_endpoints(
        config.endpoints,
        config.log_dir / "endpoints.runtime.yml",
        lock_store_url=config.lock_store_url,
        key_prefix=key,
        cwd=config.cwd,
        actions_port=config.actions_port,
    )
    bluegreen = BlueGreen(
        cwd=config.cwd,
        endpoints=readiness.endpoints,
        credentials=config.credentials,
        log_dir=config.log_dir,
        env=config.env,
        drain_seconds=config.drain_seconds,
        load_timeout=config.load_timeout,
        load_niceness=config.load_niceness,
        rasa_token=config.rasa_token,
        readiness=readiness,
        recent_conversations=None if config.tracker_url is None else recent_conversations_reader(config.tracker_url),
    )
    config.log_dir.mkdir(parents=True, exist_ok=True)
    actions_log = (config.log_dir / "actions.log").open("wb")
    actions: Optional[asyncio.subprocess.Process] = None
    web: Optional[Any] = None
    servers: list[_Server] = []
    try:
        actions = await _start_actions(config, actions_log)
        await bluegreen.start(config.model)
        public = _Server(
            uvicorn.Config(proxy_app(bluegreen.switch), host=config.host, port=config.port, log_level="warning",
                           lifespan="off", ws="websockets-sansio", timeout_keep_alive=30)
        )  # fmt: skip
        api = _Server(
            uvicorn.Config(proxy_app(bluegreen.switch, api=True), host="127.0.0.1", port=config.api_port,
                           log_level="warning", lifespan="off", ws="websockets-sansio", timeout_keep_alive=30)
        )  # fmt: skip
        admin = _Server(
            uvicorn.Config(admin_app(bluegreen, token=config.admin_token, resolve_model=config.resolve_model),
                           host="127.0.0.1", port=config.admin_port, log_level="warning", lifespan="off")
        )  # fmt: skip
        servers = [public, api, admin]
        loop = asyncio.get_running_loop()

        def stop() -> None:
            for server in servers:
                server.should_exit = True

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        serving = [asyncio.create_task(s.serve()) for s in servers]
        watcher = asyncio.create_task(bluegreen.watch())
        while not all(s.started for s in servers):
            if any(t.done() for t in serving):
                break
            await asyncio.sleep(0.05)
        if config.web_port and all(s.started for s in servers):
            web = await _start_web(config)
        if on_ready is not None and all(s.started for s in servers):
            on_ready(readiness)
        done, _ = await asyncio.wait([*serving, watcher], return_when=asyncio.FIRST_COMPLETED)
        stop()
        watcher.cancel()
        await asyncio.gather(*serving, return_exceptions=True)
        for task in done:
            if task is watcher and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        if web is not None and web.poll() is None:
            web.terminate()
            await asyncio.to_thread(web.wait, 30)
        await bluegreen.stop()
        if actions is not None and actions.returncode is None:
            actions.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(actions.wait(), 15)
            except asyncio.TimeoutError:
                actions.kill()
                await actions.wait()
        actions_log.close()
