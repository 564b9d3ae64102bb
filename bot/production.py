"""The production profile (``crm serve --production``, ``make run-prod``) on one machine.

What runs, under the same supervisord as ``crm serve`` (:func:`bot.supervise.start_programs`):

- several action-server processes (``CRM_PROD_ACTION_PROCESSES``), each a supervisord program
  on a loopback port of its own, behind one loopback port of the gateway that Rasa calls: a call
  goes to another process when one is down (connection refused), never a second time once a
  process received it. One crashed process is restarted while the others answer. Their
  Prometheus figures add up in one multi-process directory, so either process's ``/metrics``
  has the totals;
- several Rasa server processes (``CRM_PROD_RASA_PROCESSES``) sharing Rasa's SQL tracker
  store in PostgreSQL and its lock store in Redis, so any of them may answer any message
  (both stores as :mod:`bot.rasa_runtime.stores` makes them survive faults: a dropped
  database connection, a killed Rasa process);
- the web app, with the customer store in PostgreSQL and the identity, login and handoff
  limits counted in Redis (``CRM_ENV=production``);
- the nginx gateway (:mod:`bot.gateway`) on the one public port, in front of the channels
  and the web app, and on a loopback port in front of the action servers.

Before anything starts, PostgreSQL and Redis must answer (:func:`check_services`; a clear
error otherwise), the two databases are created if missing (never dropped), and the
customer store is migrated and seeded with the shipped sample if it is empty.
The settings are the ``production`` section of :class:`~analytics.core.settings.Settings`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from analytics.core.settings import PROJECT_ROOT, ProductionSettings, Settings
from bot import gateway
from bot.launch import (
    Launch,
    ServeError,
    action_endpoint,
    action_server,
    rasa_executable,
    rasa_server,
    scheduler,
    server_secrets,
    web_app,
)
from bot.supervise import SupervisedStack, start_programs, wait_until_stopped
from bot.web import keys

#: seconds PostgreSQL and Redis have to answer the start-up check
CONNECT_TIMEOUT = 3
#: ports of the Rasa processes: ``rasa_port``, ``rasa_port + RASA_PORT_STEP``, ...
RASA_PORT_STEP = 10
#: Rasa's tracker store and lock store in this profile (``bot/rasa_runtime/stores.py``): Rasa's SQL and Redis
#: stores that survive a dropped database connection and a killed Rasa process
TRACKER_STORE = "bot.rasa_runtime.stores.ResilientSQLTrackerStore"
LOCK_STORE = "bot.rasa_runtime.stores.LeaseRedisLockStore"
#: seconds Redis may take to answer the lock store (Rasa's default, 10, is longer than a customer waits)
LOCK_STORE_SOCKET_TIMEOUT = 2


@dataclass(frozen=True)
class Ports:
    """The loopback ports of the profile's servers (the public one is the gateway's, from the settings).

    ``actions`` is the gateway's loopback port that Rasa calls for actions; ``action_servers`` are the
    action-server processes' own ports behind it (one process each).
    """

    rasa: tuple[int, ...]
    actions: int
    web: int
    action_servers: tuple[int, ...] = ()

    @classmethod
    def counting_from(
        cls, rasa_port: int, processes: int, *, actions: int, web: int, action_processes: int = 1
    ) -> Ports:
        """Rasa on ``rasa_port``, ``rasa_port + RASA_PORT_STEP``, ...; the action-server processes on
        ``actions + 1``, ``actions + 2``, ... behind the gateway's ``actions``."""
        return cls(
            tuple(rasa_port + RASA_PORT_STEP * i for i in range(processes)),
            actions,
            web,
            tuple(actions + 1 + i for i in range(action_processes)),
        )


@dataclass
class ProductionStack(SupervisedStack):
    """The running profile: what :class:`~bot.supervise.SupervisedStack` holds, and the gateway."""

    gateway_url: str = ""
    rasa_urls: tuple[str, ...] = ()
    #: the action-server processes (``actions_url`` is the gateway's loopback port in front of them)
    action_urls: tuple[str, ...] = ()


def _url(text: str) -> Any:
    from sqlalchemy.engine import make_url

    return make_url(text)


def check_services(prod: ProductionSettings) -> None:
    """PostgreSQL (its admin database) and Redis (locks and limits) answer, or :class:`ServeError` saying which."""
    import psycopg
    import redis

    admin = _url(prod.database_url).set(drivername="postgresql", database=prod.admin_database)
    where = f"{admin.host or 'localhost'}:{admin.port or 5432}"
    try:
        psycopg.connect(
            admin.render_as_string(hide_password=False), connect_timeout=CONNECT_TIMEOUT, autocommit=True
        ).close()
    except psycopg.Error as exc:
        raise ServeError(
            f"PostgreSQL does not answer at {where} (database {prod.admin_database!r}): "
            f"{str(exc).strip().splitlines()[0]}. Start it, or set CRM_PROD_DATABASE_URL / CRM_PROD_ADMIN_DATABASE."
        ) from None
    for name, url in (("lock store", prod.lock_store_url), ("limits", prod.limits_url)):
        client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT)
        try:
            client.ping()
        except redis.RedisError as exc:
            raise ServeError(
                f"Redis does not answer at {_redis_where(url)} ({name}): {exc}. Start it, or set "
                "CRM_PROD_LOCK_STORE_URL / CRM_PROD_LIMITS_URL."
            ) from None
        finally:
            client.close()


def _redis_where(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}"


def ensure_database(url: str, admin_database: str) -> bool:
    """Create the database ``url`` names if it does not exist (True if it was created). Never drops anything."""
    import psycopg
    from psycopg import sql

    target = _url(url)
    if not target.database:
        raise ServeError(f"{target.render_as_string()} names no database")
    admin = target.set(drivername="postgresql", database=admin_database)
    with psycopg.connect(
        admin.render_as_string(hide_password=False), connect_timeout=CONNECT_TIMEOUT, autocommit=True
    ) as conn:
        if conn.execute("select 1 from pg_database where datname = %s", (target.database,)).fetchone():
            return False
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(target.database)))
    return True


def seed_store(database_url: str, env: dict[str, str]) -> None:
    """``crm seed`` on the production store: migrate; load the shipped sample if it holds no orders."""
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "seed"], cwd=PROJECT_ROOT, env={**env, "DATABASE_URL": database_url}
    )
    if done.returncode != 0:
        raise ServeError(f"`crm seed` failed on the production store (status {done.returncode}); see above.")


def lock_key_prefix(root: Path = PROJECT_ROOT) -> str:
    """The lock store's key prefix of this installation (letters and digits only: Rasa drops any other)."""
    return "crm" + hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]


def production_endpoints(
    source: Path, out: Path, *, prod: ProductionSettings, actions_port: int, key_prefix: str
) -> Path:
    """``source`` (endpoints.yml) with the PostgreSQL tracker store, the Redis lock store and the action server.

    Written ``0600``: it may hold the databases' passwords.
    """
    from urllib.parse import urlsplit

    data = yaml.safe_load(source.read_text(encoding="utf-8")) if source.exists() else None
    data = data if isinstance(data, dict) else {}
    tracker = _url(prod.tracker_url)
    data["tracker_store"] = {
        "type": TRACKER_STORE,
        "dialect": "postgresql",
        "url": tracker.host or "127.0.0.1",
        "port": tracker.port or 5432,
        "db": tracker.database,
        "username": tracker.username or "postgres",
        **({"password": tracker.password} if tracker.password else {}),
        "login_db": prod.admin_database,
    }
    lock = urlsplit(prod.lock_store_url)
    data["lock_store"] = {
        "type": LOCK_STORE,
        "url": lock.hostname or "127.0.0.1",
        "port": lock.port or 6379,
        "db": int((lock.path or "/1").strip("/") or 1),
        "key_prefix": key_prefix,
        "socket_timeout": LOCK_STORE_SOCKET_TIMEOUT,
        **({"password": lock.password} if lock.password else {}),
    }
    broker = urlsplit(prod.event_broker_url)
    data["event_broker"] = {
        "type": "pika",
        "url": broker.hostname or "127.0.0.1",
        "port": broker.port or 5672,
        "username": broker.username or "guest",
        "password": broker.password or "guest",
        "queues": [prod.event_queue],
    }
    data["action_endpoint"] = action_endpoint(actions_port)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.touch(mode=0o600)
    out.chmod(0o600)
    out.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return out


def production_env(settings: Settings, base: Optional[dict[str, str]] = None) -> dict[str, str]:
    """The environment every server of the profile shares: production mode, the PostgreSQL store, Redis limits."""
    prod = settings.production
    env = {k: v for k, v in (base if base is not None else os.environ).items() if k != "CRM_DEMO"}
    env.update({"CRM_ENV": "production", "DATABASE_URL": prod.database_url})
    if not settings.rate_limit_storage.startswith(("redis://", "rediss://", "redis+sentinel://")):
        env["CRM_RATE_LIMIT_STORAGE"] = prod.limits_url
    return env


def start_production(
    settings: Settings,
    *,
    model: Path,
    ports: Ports,
    state_dir: Path,
    credentials: Path = PROJECT_ROOT / "credentials.yml",
    endpoints: Path = PROJECT_ROOT / "endpoints.yml",
    env: Optional[dict[str, str]] = None,
    rasa_token: Optional[str] = None,
    seed: bool = True,
    timeout: float = 240.0,
) -> ProductionStack:
    """Check PostgreSQL and Redis, prepare the databases, then start the profile and wait until it serves.

    ``state_dir`` holds the generated files (supervisord's, nginx's, the endpoints) and ``log`` with
    every server's log; ``env`` is the environment the servers start from (default: this process's).
    """
    prod = settings.production
    if not ports.action_servers:
        raise ServeError("the production profile needs at least one action-server port (Ports.action_servers)")
    nginx = gateway.nginx_executable(prod.nginx_bin)
    if not rasa_executable(settings).exists():
        raise ServeError(f"{rasa_executable(settings)} is missing; run `make env` to create the Rasa environment.")
    if not model.exists():
        raise ServeError(f"model {model} does not exist; run `make train`.")
    check_services(prod)
    for url in (prod.database_url, prod.tracker_url):
        if ensure_database(url, prod.admin_database):
            print(f"created the database {_url(url).database!r}", flush=True)
    shared = production_env(settings, env)
    if seed:
        seed_store(prod.database_url, shared)
    log_dir, supervisor_dir = state_dir / "log", state_dir / "supervisor"
    log_dir.mkdir(parents=True, exist_ok=True)
    supervisor_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    metrics_dir = state_dir / "metrics-actions"
    shutil.rmtree(metrics_dir, ignore_errors=True)  # figures of a previous run's processes would add up
    metrics_dir.mkdir(parents=True)
    rasa_token = rasa_token or keys.rasa_token(settings)
    server_keys = {**server_secrets(shared), "CRM_RASA_TOKEN": rasa_token}
    base_env = {**shared, **server_keys}
    runtime = state_dir / "endpoints.runtime.yml"
    production_endpoints(endpoints, runtime, prod=prod, actions_port=ports.actions, key_prefix=lock_key_prefix())
    plan = gateway.GatewayPlan.from_settings(
        prod,
        rasa_ports=ports.rasa,
        web_port=ports.web,
        action_ports=ports.action_servers,
        actions_port=ports.actions,
        state_dir=state_dir / "gateway",
        log_dir=log_dir,
    )
    gateway.write_config(plan, nginx)
    rasa_urls = tuple(f"http://127.0.0.1:{port}" for port in ports.rasa)
    actions_url = f"http://127.0.0.1:{ports.actions}"  # the gateway's loopback port in front of them
    workers = {"SANIC_WORKERS": str(prod.rasa_sanic_workers)} if prod.rasa_sanic_workers > 1 else {}
    launches = {
        **action_launches(ports.action_servers, prod, env=base_env, metrics_dir=metrics_dir),
        **{
            f"rasa-{i + 1}": rasa_server(
                port, model, runtime, credentials, rasa_token=rasa_token, env={**base_env, **workers}, behind_proxy=True
            )
            for i, port in enumerate(ports.rasa)
        },
        # its API calls go to the first Rasa process; customers' browsers open socket.io through the gateway
        "web": web_app(
            ports.web,
            rasa_url=rasa_urls[0],
            rasa_token=rasa_token,
            env={
                **base_env,
                "CRM_ACTION_URL": actions_url,
                "CRM_RASA_SOCKET_URL": plan.url,
                # the agent console follows Rasa's event broker (endpoints: event_broker) instead of polling
                "CRM_EVENT_BROKER_URL": prod.event_broker_url,
            },
        ),
        "gateway": gateway.gateway(plan, nginx),
        "jobs": scheduler(env=dict(base_env)),
    }
    for launch in launches.values():  # from the shared environment only: e.g. no CRM_DEMO of this shell
        for name in set(os.environ) - set(base_env):
            launch.env.pop(name, None)
    stack = ProductionStack(
        rasa_url=rasa_urls[0],
        actions_url=actions_url,
        rasa_token=rasa_token,
        web_url=f"http://127.0.0.1:{ports.web}",
        gateway_url=plan.url,
        rasa_urls=rasa_urls,
        action_urls=tuple(f"http://127.0.0.1:{port}" for port in ports.action_servers),
    )
    start_programs(
        launches,
        base_env=base_env,
        secret_names=frozenset(server_keys) | {"DATABASE_URL"},
        state_dir=supervisor_dir,
        log_dir=log_dir,
        answers=[
            *((f"{url}/health", f"action server {i + 1}") for i, url in enumerate(stack.action_urls)),
            *((f"{url}/", f"Rasa server {i + 1}") for i, url in enumerate(rasa_urls)),
            (f"http://127.0.0.1:{ports.web}/health", "web app"),
            (f"{plan.url}/", "gateway"),
            (f"{actions_url}/health", "gateway to the action servers"),
        ],
        models_loaded=[(url, log_dir / f"rasa-{i + 1}.log") for i, url in enumerate(rasa_urls)],
        timeout=timeout,
        stack=stack,
    )
    return stack


def action_launches(
    ports: tuple[int, ...], prod: ProductionSettings, *, env: dict[str, str], metrics_dir: Path
) -> dict[str, Launch]:
    """The action-server processes, ``actions-1``, ``actions-2``, ... on ``ports``: supervisord restarts each
    on its own. With one Sanic worker each (the default) a process runs without Sanic's worker manager, so a
    restarted one refuses connections (the gateway passes the call on) until it can answer them."""
    single = prod.action_workers == 1
    return {
        f"actions-{i + 1}": action_server(
            port,
            env={
                **env,
                "CRM_ACTION_WORKERS": str(prod.action_workers),
                # one directory for all: either process's /metrics has the totals, and a restarted process's
                # counts add to those of its previous run (files are named by process id)
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            },
            single_process=single,
        )
        for i, port in enumerate(ports)
    }


def run_production(settings: Settings, *, model: Path, ports: Ports) -> None:
    """``crm serve --production``: start the profile, say where to reach it, run until SIGINT/SIGTERM."""
    prod = settings.production
    state_dir = settings.var_dir / "prod"
    print(
        f"production profile: {len(ports.rasa)} Rasa processes, {len(ports.action_servers)} action-server "
        f"processes, PostgreSQL and Redis, nginx in front; model {model.name} ...",
        flush=True,
    )
    stack = start_production(settings, model=model, ports=ports, state_dir=state_dir)
    tls = (
        f"  HTTPS        : https://{prod.gateway_host}:{prod.tls_port}/ (CRM_PROD_TLS_CERT)\n"
        if prod.tls_certificate
        else ""
    )
    print(
        "\nThe assistant is up (production profile).\n"
        f"  public (gateway): {stack.gateway_url}/   web chat; agent console at {stack.gateway_url}/console\n"
        f"{tls}"
        f"  REST channel : POST {stack.gateway_url}/webhooks/rest/webhook\n"
        f"  socket.io    : {stack.gateway_url}/socket.io/\n"
        "  loopback only (not through the gateway):\n"
        f"    Rasa servers : {', '.join(stack.rasa_urls)} (HTTP API: token in var/rasa-token)\n"
        f"    action servers: {stack.actions_url}/health, /metrics (the gateway, in front of "
        f"{', '.join(f':{port}' for port in ports.action_servers)})\n"
        f"    web app      : {stack.web_url}/health, /metrics\n"
        f"  stores       : customers {_url(prod.database_url).render_as_string()}, "
        f"conversations {_url(prod.tracker_url).render_as_string()}, locks {_redis_where(prod.lock_store_url)}\n"
        f"  logs         : {state_dir / 'log'} (gateway-access.log: one JSON line per request)\n"
        f"  supervisor   : {sys.executable} -m supervisor.supervisorctl -c {stack.config} status\n"
        "A server that stops is started again. Press Ctrl-C to stop.",
        flush=True,
    )
    wait_until_stopped(stack)
