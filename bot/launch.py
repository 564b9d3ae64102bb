"""The one launcher of the assistant's server processes: the action server, the Rasa server, the web app.

``crm serve`` (supervised: :mod:`bot.supervise`), :func:`start_stack` and the blue/green
switchboard of ``crm nlu serve`` (:mod:`bot.ops.switchboard`) all start their
processes from here: :func:`action_server`, :func:`rasa_server` and
:func:`web_app` say what to run and with which environment (a :class:`Launch`),
so one place knows each command line, where secrets go and what a server needs.

The Rasa server runs in its own environment (``.venv-rasa``: Rasa 3.6 pins
old libraries); the action server runs here, in the analytics environment,
with rasa-sdk; so does the web app (chat page and agent console, uvicorn).
:func:`start_stack` starts them as plain children and waits until they answer (tests
use it with free ports); :func:`bot.supervise.run_forever` runs the same launches
under supervisord, which restarts a server that dies.

Every process listens on loopback only. Rasa's HTTP API (``/conversations/...``,
``/model``) always needs a JWT signed with the stack's ``rasa_token`` (one is made
up when none is given); the web app gets the token through ``CRM_RASA_TOKEN``,
in its environment, never on a command line. Channels (``/webhooks/...``,
socket.io) stay open, as a chat widget needs them.

This module imports nothing of :mod:`bot.ops` (the switchboard imports it).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Optional

import requests

from analytics.core.settings import PROJECT_ROOT, Settings, get_settings
from bot.web import keys


class ServeError(RuntimeError):
    """A server could not be started; the message says why and where to look."""


def rasa_executable(settings: Optional[Settings] = None) -> Path:
    """The ``rasa`` script of Rasa's environment (``CRM_RASA_BIN``); its Python runs the Rasa server."""
    return (settings or get_settings()).rasa_bin


def quiet_rasa_env(extra: Optional[dict[str, str]] = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "RASA_TELEMETRY_ENABLED": "false",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONWARNINGS": "ignore",
        }
    )
    env.update(extra or {})
    return env


def action_server_command(port: int, *, single_process: bool = False) -> list[str]:
    """The command that starts the action server (closed to all but Rasa: :mod:`bot.action_server`);
    ``single_process``: without Sanic's worker manager."""
    return [sys.executable, "-m", "bot.action_server", "--port", str(port), *(["--single-process"] * single_process)]


#: the largest HTTP request body the Rasa server reads (a message is at most 1,000 characters)
RASA_REQUEST_MAX_BYTES = 1 << 20


def rasa_server_command(port: int, model: Path, endpoints: Path, credentials: Path) -> list[str]:
    """The command that starts a Rasa server on loopback with its HTTP API behind a JWT key.

    :mod:`bot.rasa_runtime.launcher` takes the key from ``CRM_RASA_TOKEN`` (see :func:`rasa_server_env`), so
    no secret is on the command line; no ``--cors``: only our own back ends call the API.
    """
    python = rasa_executable().parent / "python"
    return [
        str(python),
        "-m",
        "bot.rasa_runtime.launcher",
        "run",
        "--enable-api",
        "--interface",
        "127.0.0.1",
        "--port",
        str(port),
        "--model",
        str(model),
        "--endpoints",
        str(endpoints),
        "--credentials",
        str(credentials),
    ]


def rasa_server_env(rasa_token: str) -> dict[str, str]:
    """The environment :func:`rasa_server_command` needs: the API key and the request-size limit."""
    return {"CRM_RASA_TOKEN": rasa_token, "SANIC_REQUEST_MAX_SIZE": str(RASA_REQUEST_MAX_BYTES)}


def server_secrets(env: Optional[dict[str, str]] = None) -> dict[str, str]:
    """The secrets the server processes share, as environment variables (never in command lines)."""
    overrides: dict[str, Any] = {k: v for k, v in (env or {}).items() if k.startswith("CRM_")}
    settings = Settings(**overrides)
    return {"CRM_ACTION_TOKEN": keys.action_token(settings)}


def web_app_command(port: int) -> list[str]:
    """The command that starts the web app (chat page, agent console) with uvicorn on loopback."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "bot.web.app:app_from_settings",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]


@dataclass(frozen=True)
class Launch:
    """One server process to start: its command line and its whole environment (secrets travel there, never in
    ``argv``, which every local user can read)."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path = PROJECT_ROOT

    def start(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        """Start it, its output (both streams) going to ``log``; it does not wait for it to answer."""
        return subprocess.Popen(self.argv, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT, env=self.env)

    async def start_async(self, log: IO[bytes]) -> asyncio.subprocess.Process:
        """The same from an event loop, in a session of its own: a Ctrl-C reaches only the caller, which stops it."""
        return await asyncio.create_subprocess_exec(
            *self.argv, cwd=str(self.cwd), stdout=log, stderr=asyncio.subprocess.STDOUT, env=self.env,
            start_new_session=True,
        )  # fmt: skip


def action_server(
    port: int, *, env: Mapping[str, str] = {}, cwd: Path = PROJECT_ROOT, single_process: bool = False
) -> Launch:
    """The action server on ``127.0.0.1:port``; ``env`` holds the stack's secrets (:func:`server_secrets`)."""
    return Launch(action_server_command(port, single_process=single_process), {**os.environ, **env}, cwd)


def rasa_server(
    port: int,
    model: Path,
    endpoints: Path,
    credentials: Path,
    *,
    rasa_token: str,
    env: Mapping[str, str] = {},
    behind_proxy: bool = False,
    niceness: int = 0,
    cwd: Path = PROJECT_ROOT,
) -> Launch:
    """A Rasa server on ``127.0.0.1:port`` with ``model``, its HTTP API behind ``rasa_token``.

    ``behind_proxy``: the switchboard's proxy appends the client's address to
    ``X-Forwarded-For`` and Rasa reads it from there (channels put it in the
    message metadata; limits count per client address). ``niceness`` starts it
    with a lower CPU priority (``nice``, where there is one).
    """
    prefix = ["nice", "-n", str(niceness)] if niceness and shutil.which("nice") else []
    proxied = {"SANIC_PROXIES_COUNT": "1"} if behind_proxy else {}
    return Launch(
        [*prefix, *rasa_server_command(port, model, endpoints, credentials)],
        quiet_rasa_env({**env, **rasa_server_env(rasa_token), **proxied}),
        cwd,
    )


def web_app(port: int, *, rasa_url: str, rasa_token: Optional[str], env: Mapping[str, str] = {}) -> Launch:
    """The web app on ``127.0.0.1:port``, calling Rasa's HTTP API at ``rasa_url`` with ``rasa_token``."""
    web_env = {**os.environ, **env, "CRM_RASA_URL": rasa_url}
    if rasa_token:
        web_env["CRM_RASA_TOKEN"] = rasa_token
    return Launch(web_app_command(port), web_env)


def scheduler(*, env: Mapping[str, str] = {}, cwd: Path = PROJECT_ROOT) -> Launch:
    """The scheduled jobs (``crm jobs run``: refreshes, forecasts, NLU triage on their schedules)."""
    return Launch([sys.executable, "-m", "bot.cli", "jobs", "run"], {**os.environ, **env}, cwd)


def action_endpoint(actions_port: int) -> dict[str, Any]:
    """The ``action_endpoint`` of the endpoints a Rasa server runs with: the local action server and its token.

    The token stays ``${CRM_ACTION_TOKEN}`` in the file (Rasa reads the
    environment variable), so no secret is written to disk.
    """
    return {
        "url": f"http://127.0.0.1:{actions_port}/webhook",
        "headers": {"Authorization": "Bearer ${CRM_ACTION_TOKEN}"},
    }


def endpoints_with_actions(source: Path, actions_port: int, out: Path) -> Path:
    """``source`` with the action endpoint this stack uses (:func:`action_endpoint`), written to ``out``."""
    import yaml

    endpoints = yaml.safe_load(source.read_text(encoding="utf-8")) if source.exists() else None
    endpoints = endpoints if isinstance(endpoints, dict) else {}
    endpoints["action_endpoint"] = action_endpoint(actions_port)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(endpoints, sort_keys=False), encoding="utf-8")
    return out


def newest_model(models_dir: Path = PROJECT_ROOT / "models") -> Path:
    models = sorted(models_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise ServeError(f"no trained model in {models_dir}; run `make train` first.")
    return models[-1]


@dataclass
class Stack:
    rasa_url: str
    actions_url: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    #: the web app (chat page ``/``, agent console ``/console``), when started
    web_url: Optional[str] = None
    #: the key of Rasa's HTTP API
    rasa_token: Optional[str] = None

    def api_headers(self) -> dict[str, str]:
        """Headers that authenticate a call of this stack's Rasa HTTP API."""
        return keys.rasa_api_headers(self.rasa_token or "")

    def stop(self) -> None:
        stop_processes(self.processes)


def stop_processes(processes: list[subprocess.Popen[bytes]], grace: float = 15.0) -> None:
    """SIGTERM each process, then kill whichever has not exited within ``grace`` seconds."""
    for proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in processes:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float, name: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServeError(
                f"the {name} exited with status {proc.returncode}; its log ({log}) ends with:\n{_tail(log)}"
            )
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise ServeError(f"the {name} did not answer {url} within {timeout:.0f} s; see {log}:\n{_tail(log)}")


def _check_model_loaded(rasa_url: str, log: Path, token: str) -> None:
    """Rasa answers even when its model failed to load (it then ignores every message): check."""
    status = requests.get(f"{rasa_url}/status", headers=keys.rasa_api_headers(token), timeout=10)
    if status.ok and not status.json().get("model_file"):
        raise ServeError(f"the Rasa server started without a model (it failed to load); see {log}:\n{_tail(log)}")


def start_web_app(
    *,
    port: int,
    rasa_url: str,
    rasa_token: Optional[str],
    env: Optional[dict[str, str]],
    log: IO[bytes],
) -> subprocess.Popen[bytes]:
    """Start the web app (chat page and agent console) with uvicorn; it does not wait for it."""
    return web_app(port, rasa_url=rasa_url, rasa_token=rasa_token, env=env or {}).start(log)


def wait_for_web_app(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    """Wait until the web app at ``url`` serves (``/health/live``; :class:`ServeError` if it exits or times out)."""
    _wait_for(f"{url}/health/live", proc, log, timeout, "web app")


@contextmanager
def running_web_app(
    *, port: int, rasa_url: str, rasa_token: Optional[str], env: Optional[dict[str, str]], log: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The web app on ``port``, answering, for the ``with`` block (its URL and process); stopped after it."""
    with log.open("wb") as out:
        proc = start_web_app(port=port, rasa_url=rasa_url, rasa_token=rasa_token, env=env, log=out)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_web_app(url, proc, log)
        yield url, proc
    finally:
        stop_processes([proc])


def start_stack(
    *,
    model: Path,
    rasa_port: int,
    actions_port: int,
    endpoints: Path,
    credentials: Path = PROJECT_ROOT / "credentials.yml",
    log_dir: Path = PROJECT_ROOT / "var" / "log",
    env: Optional[dict[str, str]] = None,
    timeout: float = 180.0,
    web_port: Optional[int] = None,
    rasa_token: Optional[str] = None,
) -> Stack:
    """Start the action server, the Rasa server and (with ``web_port``) the web app; wait until they answer.

    Parameters
    ----------
    model, rasa_port, actions_port, endpoints, credentials, log_dir
        What the Rasa and action servers run with and where they log.
    env : dict, optional
        Extra environment of every process (e.g. ``DATABASE_URL`` of a test store).
    timeout : float
        Seconds each server may take to answer.
    web_port : int, optional
        Also start the web app (``bot.web.app``) on this port.
    rasa_token : str, optional
        The key of Rasa's HTTP API (a random one when omitted: see ``Stack.rasa_token``); the web
        app gets it too.
    """
    rasa = rasa_executable()
    rasa_token = rasa_token or secrets.token_urlsafe(32)
    if not rasa.exists():
        raise ServeError(f"{rasa} is missing; run `make env` to create the Rasa environment.")
    if not model.exists():
        raise ServeError(f"model {model} does not exist; run `make train`.")
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(
        rasa_url=f"http://127.0.0.1:{rasa_port}",
        actions_url=f"http://127.0.0.1:{actions_port}",
        rasa_token=rasa_token,
    )
    handles: list[IO[bytes]] = []
    try:
        actions_log = log_dir / "actions.log"
        out = actions_log.open("wb")
        handles.append(out)
        secret_env = server_secrets(env)
        stack.processes.append(action_server(actions_port, env={**(env or {}), **secret_env}).start(out))
        stack.logs.append(actions_log)
        rasa_log = log_dir / "rasa.log"
        out = rasa_log.open("wb")
        handles.append(out)
        runtime = endpoints_with_actions(endpoints, actions_port, log_dir / "endpoints.runtime.yml")
        rasa_launch = rasa_server(
            rasa_port, model, runtime, credentials, rasa_token=rasa_token, env={**(env or {}), **secret_env}
        )
        stack.processes.append(rasa_launch.start(out))
        stack.logs.append(rasa_log)
        if web_port is not None:
            web_log = log_dir / "web.log"
            out = web_log.open("wb")
            handles.append(out)
            stack.processes.append(
                start_web_app(
                    port=web_port,
                    rasa_url=stack.rasa_url,
                    rasa_token=rasa_token,
                    env={**(env or {}), "CRM_ACTION_URL": stack.actions_url},  # its /health checks the action server
                    log=out,
                )
            )
            stack.logs.append(web_log)
            stack.web_url = f"http://127.0.0.1:{web_port}"
        _wait_for(f"{stack.actions_url}/health", stack.processes[0], actions_log, timeout, "action server")
        _wait_for(f"{stack.rasa_url}/", stack.processes[1], rasa_log, timeout, "Rasa server")
        _check_model_loaded(stack.rasa_url, rasa_log, rasa_token)
        if stack.web_url is not None:
            wait_for_web_app(stack.web_url, stack.processes[2], stack.logs[2], timeout)
    except BaseException:
        stack.stop()
        raise
    finally:
        for handle in handles:
            handle.close()
    return stack


@contextmanager
def running_stack(**kwargs: object) -> Iterator[Stack]:
    stack = start_stack(**kwargs)  # type: ignore[arg-type]
    try:
        yield stack
    finally:
        stack.stop()
