"""The switchboard process of ``crm nlu serve``: blue/green Rasa servers behind one port.

:func:`serve_switchboard` runs it all in one process: the action server (child),
the live Rasa server (child), and three ports:

- the public proxy (``port``): the channels only (:func:`bot.ops.proxy.is_public`);
- Rasa's HTTP API for the back ends (``127.0.0.1:api_port``, the web app's
  ``CRM_RASA_URL``), still behind Rasa's JWT and without ``PUT /model``;
- the admin API (``127.0.0.1:admin_port``, :func:`admin_app`: ``GET /status``,
  ``POST /swap``) that ``crm nlu publish`` and ``crm nlu rollback`` call. It
  always wants a token (``Authorization: Bearer``), a loopback ``Host`` and a
  JSON body, and loads only registered models whose file is unchanged.

:func:`runtime_endpoints` writes the endpoints every Rasa server of it runs with.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Optional
from urllib.parse import urlsplit

import httpx
import uvicorn
import yaml

from analytics.core.errors import InvalidInput
from bot import launch
from bot.ops.admin import MIN_ADMIN_TOKEN_BYTES, ModelResolver, admin_app
from bot.ops.project import SHARED_TRACKER_STORES
from bot.ops.proxy import proxy_app
from bot.ops.swap import BlueGreen, Readiness, SwapFailed
from bot.ops.tracker import recent_conversations_reader


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    """Whether a Redis server answers PING at ``redis://host:port/db``."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


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
        data["action_endpoint"] = launch.action_endpoint(actions_port)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.touch(mode=0o600)  # it may hold the lock store's password
    target.chmod(0o600)
    target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return Readiness(target, tuple(problems), tuple(notes))


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
    #: where customers' browsers reach the Rasa server's socket.io (``CRM_RASA_SOCKET_URL``); empty: the public port
    rasa_socket_url: str = ""

    def __post_init__(self) -> None:
        if len(self.admin_token.encode()) < MIN_ADMIN_TOKEN_BYTES:
            raise InvalidInput(
                f"the switchboard's admin API needs a token of at least {MIN_ADMIN_TOKEN_BYTES} bytes "
                "(CRM_OPS_TOKEN, or <var>/admin-token created by bot.ops.admin.admin_token)."
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
    process = await launch.action_server(config.actions_port, env=config.env, cwd=config.cwd).start_async(out)
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
    """The web app (chat page, agent console) of :mod:`bot.launch`, talking to Rasa through the switch."""
    log = config.log_dir / "web.log"
    # the back end calls Rasa's HTTP API (/conversations/...) on the loopback API port; customers' browsers
    # open socket.io on the public port (unless CRM_RASA_SOCKET_URL names where they reach it)
    socket_url = config.env.get("CRM_RASA_SOCKET_URL") or config.rasa_socket_url
    env = {**config.env, "CRM_RASA_SOCKET_URL": socket_url or f"http://127.0.0.1:{config.port}"}
    with log.open("wb") as out:
        web = launch.start_web_app(
            port=int(config.web_port or 0),
            rasa_url=f"http://127.0.0.1:{config.api_port}",
            rasa_token=config.rasa_token,
            env=env,
            log=out,
        )
    try:
        await asyncio.to_thread(launch.wait_for_web_app, f"http://127.0.0.1:{config.web_port}", web, log, 60.0)
    except launch.ServeError as exc:
        web.terminate()
        raise SwapFailed(str(exc)) from exc
    return web


async def serve_switchboard(config: SwitchboardConfig, on_ready: Optional[Callable[[Readiness], None]] = None) -> None:
    """Run the action server, the live Rasa server, the public proxy, the API proxy and the admin API until
    SIGINT/SIGTERM."""
    config = dataclasses.replace(config, env={**config.env, **launch.server_secrets(config.env)})
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
