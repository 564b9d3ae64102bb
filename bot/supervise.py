"""The supervised stack of ``crm serve``: supervisord keeps the action server, the Rasa server and the web app up.

:mod:`bot.launch` says what each server runs (a :class:`~bot.launch.Launch`:
command line and environment); this module turns those three launches into a
supervisord configuration (:func:`supervisor_config`) and runs ``supervisord``
in the foreground (:func:`start_supervised`). A server that dies is started
again by supervisord while the other two keep serving; one that keeps failing
to start is retried with supervisord's growing back-off (1 s, 2 s, ...,
``START_RETRIES`` times) and then left stopped (FATAL), rather than looping.

Secrets (the Rasa API key, the action server's token, whatever ``CRM_*``
secrets the caller has) go to supervisord through its environment, which its
children inherit; the configuration file carries only the non-secret
differences of each server's environment, and :func:`supervisor_config` refuses
to write a secret into it. The file is still written ``0600``.

Operators can look at and restart servers with
``supervisorctl -c var/supervisor/supervisord.conf status`` (a unix socket
readable by its owner only).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Optional

from analytics.core.settings import PROJECT_ROOT, Settings
from bot.launch import (
    Launch,
    ServeError,
    Stack,
    _check_model_loaded,
    _wait_for,
    action_server,
    endpoints_with_actions,
    rasa_executable,
    rasa_server,
    scheduler,
    server_secrets,
    web_app,
)
from bot.web import keys

#: the kinds of program of a stack, in start order (supervisord stops them in the reverse order); several
#: programs of one kind are named ``<kind>-<n>`` (``rasa-1``, ``rasa-2`` in the production profile)
PROGRAMS = ("actions", "rasa", "web", "gateway")

#: a server that exits within this many seconds of its start counts as "failed to start" (back-off)
START_SECONDS = {"actions": 3, "rasa": 10, "web": 3, "gateway": 2}
#: how often supervisord retries a server that fails to start (waiting 1 s, 2 s, ... in between) before giving up
START_RETRIES = 5
#: seconds a server has to exit after SIGTERM before supervisord kills its process group
STOP_WAIT_SECONDS = 10

#: environment names whose values never go into the configuration file
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|DATABASE_URL|_DSN", re.IGNORECASE)


def _ini(value: str) -> str:
    """``value`` as supervisord reads it literally (it expands ``%(name)s``)."""
    return value.replace("%", "%%")


def _env_line(env: Mapping[str, str]) -> str:
    for name, value in env.items():
        if '"' in value or "\n" in value:
            raise ServeError(f"cannot pass {name}={value!r} through supervisord's configuration (quote or newline)")
    return ",".join(f'{name}="{_ini(value)}"' for name, value in sorted(env.items()))


def is_secret(name: str, secret_names: frozenset[str] = frozenset()) -> bool:
    return name in secret_names or bool(_SECRET_NAME.search(name))


def program_kind(name: str) -> str:
    """``rasa`` for ``rasa-2``: the kind of program a name stands for."""
    return name.rsplit("-", 1)[0] if name.rsplit("-", 1)[-1].isdigit() else name


def program_section(
    name: str, launch: Launch, *, base_env: Mapping[str, str], log: Path, secret_names: frozenset[str]
) -> str:
    """The ``[program:name]`` section for ``launch``: its command, and the part of its environment that differs
    from supervisord's own (``base_env``, which it inherits). Raises :class:`ServeError` rather than write a
    secret."""
    own = {k: v for k, v in launch.env.items() if base_env.get(k) != v}
    leaked = sorted(k for k in own if is_secret(k, secret_names))
    if leaked:
        raise ServeError(f"the {name} server needs {', '.join(leaked)} of its own; pass secrets to supervisord's env")
    kind = program_kind(name)
    lines = [
        f"[program:{name}]",
        f"command={_ini(shlex.join(launch.argv))}",
        f"directory={_ini(str(launch.cwd))}",
        f"priority={10 * (PROGRAMS.index(kind) + 1) if kind in PROGRAMS else 100}",
        "autostart=true",
        "autorestart=true",
        f"startsecs={START_SECONDS.get(kind, 3)}",
        f"startretries={START_RETRIES}",
        "stopsignal=TERM",
        f"stopwaitsecs={STOP_WAIT_SECONDS}",
        # the whole process group: a server's own children (Rasa's, uvicorn's) go with it
        "stopasgroup=true",
        "killasgroup=true",
        "redirect_stderr=true",
        f"stdout_logfile={_ini(str(log))}",
        "stdout_logfile_maxbytes=20MB",
        "stdout_logfile_backups=5",
    ]
    if own:
        lines.append(f"environment={_env_line(own)}")
    return "\n".join(lines) + "\n"


def supervisor_config(
    launches: Mapping[str, Launch],
    *,
    base_env: Mapping[str, str],
    state_dir: Path,
    log_dir: Path,
    secret_names: frozenset[str] = frozenset(),
) -> str:
    """The supervisord configuration that runs ``launches`` (name → launch) in the foreground.

    ``base_env`` is the environment supervisord itself is started with; ``state_dir`` holds its
    socket and pid file, ``log_dir`` each server's log (``<name>.log``) and supervisord's own.
    """
    sock = state_dir / "supervisor.sock"
    head = f"""\
[supervisord]
nodaemon=true
logfile={_ini(str(log_dir / "supervisord.log"))}
logfile_maxbytes=5MB
logfile_backups=3
pidfile={_ini(str(state_dir / "supervisord.pid"))}
childlogdir={_ini(str(log_dir))}
loglevel=info

[unix_http_server]
file={_ini(str(sock))}
chmod=0700

[rpcinterface:supervisor]
supervisor.rpcinterface_factory=supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{_ini(str(sock))}
"""
    reaper = f"""\
[eventlistener:reaper]
command={_ini(shlex.join(reaper_command()))}
directory={_ini(str(PROJECT_ROOT))}
events=PROCESS_STATE_EXITED
priority=1
autorestart=true
stderr_logfile={_ini(str(log_dir / "reaper.log"))}
"""
    sections = [
        program_section(name, launch, base_env=base_env, log=log_dir / f"{name}.log", secret_names=secret_names)
        for name, launch in launches.items()
    ]
    return "\n".join([head, reaper, *sections])


def reaper_command() -> list[str]:
    return [sys.executable, "-m", "bot.supervise", "reap"]


def reap_exited_groups(stdin: IO[str] = sys.stdin, stdout: IO[str] = sys.stdout) -> None:
    """supervisord's event listener: when a server exits, kill what is left of its process group.

    A server that is killed (SIGKILL, the OOM killer) can leave children behind: Sanic's worker
    survives its killed manager and keeps the port, so the server started again cannot bind it.
    supervisord starts every server as a process-group leader (group id = its pid), so the group
    of the process that exited is exactly what it left behind.
    """
    from supervisor import childutils

    while True:
        headers, payload = childutils.listener.wait(stdin, stdout)
        if headers.get("eventname") == "PROCESS_STATE_EXITED":
            fields, _ = childutils.eventdata(payload + "\n")
            pid = int(fields.get("pid", "0"))
            if pid > 1:
                try:
                    os.killpg(pid, signal.SIGKILL)
                    print(f"killed what {fields.get('processname')} left behind (group {pid})", file=sys.stderr)
                except (ProcessLookupError, PermissionError):
                    pass
        childutils.listener.ok(stdout)


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` readable and writable by its owner only (created so, never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    return path


@dataclass
class SupervisedStack(Stack):
    """A :class:`~bot.launch.Stack` whose one process is supervisord (``processes[0]``)."""

    config: Optional[Path] = None
    programs: list[str] = field(default_factory=list)

    def ctl(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run ``supervisorctl`` against this stack (``status``, ``pid actions``, ``restart web``...)."""
        return subprocess.run(
            [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def pid(self, program: str) -> int:
        """The process id of ``program`` now (0 when it is not running)."""
        out = self.ctl("pid", program).stdout.strip()
        return int(out) if out.isdigit() else 0

    def stop(self) -> None:
        # supervisord stops the servers one after the other, each within STOP_WAIT_SECONDS
        grace = STOP_WAIT_SECONDS * (len(self.programs) + 1)
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _parent_death_signal() -> Optional[Callable[[], None]]:
    """Linux: a ``preexec_fn`` that has the kernel SIGTERM supervisord (which then stops the servers) when
    ``crm serve`` dies without stopping it (SIGKILL, a crash). Resolved here, before the fork."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1


def supervisord_command(config: Path) -> list[str]:
    return [sys.executable, "-m", "supervisor.supervisord", "--nodaemon", "--configuration", str(config)]


def start_supervised(
    *,
    model: Path,
    rasa_port: int,
    actions_port: int,
    endpoints: Path,
    credentials: Path = PROJECT_ROOT / "credentials.yml",
    log_dir: Path = PROJECT_ROOT / "var" / "log",
    state_dir: Path = PROJECT_ROOT / "var" / "supervisor",
    env: Optional[dict[str, str]] = None,
    timeout: float = 180.0,
    web_port: Optional[int] = None,
    rasa_token: Optional[str] = None,
) -> SupervisedStack:
    """What :func:`bot.launch.start_stack` starts, under supervisord; waits until every server answers.

    The parameters are :func:`~bot.launch.start_stack`'s; ``state_dir`` holds the generated
    ``supervisord.conf`` (``0600``), supervisord's socket and pid file.
    """
    if importlib.util.find_spec("supervisor") is None:
        raise ServeError("supervisor is not installed; run `make env` (or `pip install -e .[app]`).")
    if not rasa_executable().exists():
        raise ServeError(f"{rasa_executable()} is missing; run `make env` to create the Rasa environment.")
    if not model.exists():
        raise ServeError(f"model {model} does not exist; run `make train`.")
    rasa_token = rasa_token or secrets.token_urlsafe(32)
    log_dir.mkdir(parents=True, exist_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    extra = env or {}
    server_keys = {**server_secrets(env), "CRM_RASA_TOKEN": rasa_token}
    # supervisord's own environment, which every server inherits: the only way the secrets reach the servers
    base_env = {**os.environ, **extra, **server_keys}
    rasa_url, actions_url = f"http://127.0.0.1:{rasa_port}", f"http://127.0.0.1:{actions_port}"
    runtime = endpoints_with_actions(endpoints, actions_port, log_dir / "endpoints.runtime.yml")
    launches = {
        "actions": action_server(actions_port, env={**extra, **server_keys}),
        "rasa": rasa_server(
            rasa_port, model, runtime, credentials, rasa_token=rasa_token, env={**extra, **server_keys}
        ),
        # the web app's /health checks the action server too
        **(
            {
                "web": web_app(
                    web_port, rasa_url=rasa_url, rasa_token=rasa_token, env={**extra, "CRM_ACTION_URL": actions_url}
                )
            }
            if web_port
            else {}
        ),
        "jobs": scheduler(env={**extra, **server_keys}),
    }
    return start_programs(
        launches,
        base_env=base_env,
        secret_names=frozenset(server_keys),
        state_dir=state_dir,
        log_dir=log_dir,
        answers=[
            (f"{actions_url}/health", "action server"),
            (f"{rasa_url}/", "Rasa server"),
            *([(f"http://127.0.0.1:{web_port}/health", "web app")] if web_port else []),
        ],
        models_loaded=[(rasa_url, log_dir / "rasa.log")],
        timeout=timeout,
        stack=SupervisedStack(
            rasa_url=rasa_url,
            actions_url=actions_url,
            rasa_token=rasa_token,
            web_url=f"http://127.0.0.1:{web_port}" if web_port else None,
        ),
    )


def start_programs(
    launches: Mapping[str, Launch],
    *,
    base_env: Mapping[str, str],
    secret_names: frozenset[str],
    state_dir: Path,
    log_dir: Path,
    answers: list[tuple[str, str]],
    models_loaded: list[tuple[str, Path]],
    timeout: float,
    stack: SupervisedStack,
) -> SupervisedStack:
    """Run ``launches`` (name → launch) under supervisord and wait until each URL of ``answers`` (URL, what it
    is) answers and each Rasa server of ``models_loaded`` (URL, its log) has its model; ``stack`` is filled in
    and returned. Stops everything and raises :class:`ServeError` if one does not come up within ``timeout``.
    """
    config = write_private(
        state_dir / "supervisord.conf",
        supervisor_config(launches, base_env=base_env, state_dir=state_dir, log_dir=log_dir, secret_names=secret_names),
    )
    stack.config = config
    stack.programs = list(launches)
    stack.logs = [log_dir / f"{name}.log" for name in launches]
    boot_log = log_dir / "supervisord.log"
    with (log_dir / "supervisord.out").open("wb") as out:
        # a session of its own: only we signal it (Ctrl-C reaches `crm serve`, which stops it)
        stack.processes.append(
            subprocess.Popen(
                supervisord_command(config),
                cwd=PROJECT_ROOT,
                env=dict(base_env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_parent_death_signal(),
            )
        )
    try:
        supervisord = stack.processes[0]
        for url, name in answers:
            _wait_for(url, supervisord, boot_log, timeout, name)
        for rasa_url, rasa_log in models_loaded:
            _check_model_loaded(rasa_url, rasa_log, stack.rasa_token or "")
    except BaseException:
        stack.stop()
        raise
    return stack


@contextmanager
def running_supervised(**kwargs: object) -> Iterator[SupervisedStack]:
    stack = start_supervised(**kwargs)  # type: ignore[arg-type]
    try:
        yield stack
    finally:
        stack.stop()


def wait_until_stopped(stack: SupervisedStack) -> None:
    """Block until SIGINT/SIGTERM (then stop the stack) or until supervisord itself exits."""
    stopping = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    supervisord = stack.processes[0]
    try:
        while not stopping:
            if supervisord.poll() is not None:
                raise ServeError(f"supervisord exited with status {supervisord.returncode}; see {stack.logs[0].parent}")
            time.sleep(0.5)
    finally:
        print("stopping ...", flush=True)
        stack.stop()


def run_forever(
    settings: Settings, *, rasa_port: int, actions_port: int, model: Path, web_port: Optional[int] = 8000
) -> None:
    """``crm serve``: the supervised stack with ``model``; say where to talk to it; run until SIGINT/SIGTERM."""
    web = f" and the web app (:{web_port})" if web_port else ""
    print(
        f"starting the action server (:{actions_port}), the Rasa server (:{rasa_port}){web} with {model.name} "
        "under supervisord ...",
        flush=True,
    )
    stack = start_supervised(
        model=model,
        rasa_port=rasa_port,
        actions_port=actions_port,
        endpoints=PROJECT_ROOT / "endpoints.yml",
        log_dir=settings.var_dir / "log",
        state_dir=settings.var_dir / "supervisor",
        web_port=web_port,
        rasa_token=keys.rasa_token(settings),
    )
    demo = "  (demo: alice / alice-demo-password; operator olivia / olivia-demo-password)" if settings.demo else ""
    pages = (
        f"  web chat     : {stack.web_url}/\n  agent console: {stack.web_url}/console{demo}\n" if stack.web_url else ""
    )
    print(
        "\nThe assistant is up.\n"
        f"{pages}"
        f"  REST channel : POST {stack.rasa_url}/webhooks/rest/webhook\n"
        f"  try it       : curl -s {stack.rasa_url}/webhooks/rest/webhook "
        '-d \'{"sender": "me", "message": "where is my order 536365?"}\'\n'
        "  or chat in a terminal: make chat\n"
        f"  Rasa HTTP API: {stack.rasa_url}/status (token in var/rasa-token or CRM_RASA_TOKEN)\n"
        f"  action server: {stack.actions_url}/health\n"
        f"  logs         : {', '.join(str(p) for p in stack.logs)}\n"
        f"  supervisor   : {sys.executable} -m supervisor.supervisorctl -c {stack.config} status\n"
        "A server that stops is started again. Press Ctrl-C to stop.",
        flush=True,
    )
    wait_until_stopped(stack)


if __name__ == "__main__" and sys.argv[1:] == ["reap"]:
    reap_exited_groups()
