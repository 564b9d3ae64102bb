"""The production profile's pieces that need no running server: the gateway's configuration, the endpoints
Rasa runs with, the servers' environment, and the errors when PostgreSQL, Redis or nginx are missing."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import socketserver
import stat
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from analytics.core.settings import ProductionSettings, Settings
from bot import gateway
from bot.launch import ServeError
from bot.production import Ports, action_launches, check_services, production_endpoints, production_env
from bot.supervise import supervisor_config, write_private
from tests.e2e.conftest import free_port

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def plan(tmp_path: Path, **overrides: object) -> gateway.GatewayPlan:
    values: dict[str, object] = {
        "rasa_ports": (5105, 5115),
        "web_port": 8100,
        "state_dir": tmp_path / "gw",
        "log_dir": tmp_path / "log",
        "port": 8181,
        "action_ports": (5156, 5157),
        "actions_port": 8191,
    }
    values.update(overrides)
    return gateway.GatewayPlan(**values)  # type: ignore[arg-type]


def test_the_gateway_balances_chat_over_every_rasa_process_and_pins_a_socketio_client_to_one(tmp_path: Path) -> None:
    config = gateway.render(plan(tmp_path))
    rest, sockets = config.split("upstream rasa {")[1], config.split("upstream rasa_socket {")[1]
    for upstream in (rest, sockets):
        block = upstream.split("}")[0]
        assert "127.0.0.1:5105" in block and "127.0.0.1:5115" in block
    assert "hash $binary_remote_addr consistent" in sockets.split("}")[0]
    assert "ip_hash" not in sockets.split("}")[0]
    assert "listen 127.0.0.1:8181;" in config
    assert "{{" not in config


def test_tls_needs_both_the_certificate_and_the_key(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    with pytest.raises(ServeError, match="both CRM_PROD_TLS_CERT and CRM_PROD_TLS_KEY"):
        gateway.render(plan(tmp_path, tls_certificate=cert))
    with pytest.raises(ServeError, match="does not exist"):
        gateway.render(plan(tmp_path, tls_certificate=cert, tls_key=tmp_path / "missing.pem"))


def test_with_a_certificate_the_gateway_also_serves_https(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("x")
    key.write_text("y")
    config = gateway.render(plan(tmp_path, tls_certificate=cert, tls_key=key, tls_port=8443))
    assert "listen 127.0.0.1:8443 ssl;" in config
    assert f"ssl_certificate {cert.resolve()};" in config and f"ssl_certificate_key {key.resolve()};" in config


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (Debian: apt-get install -y nginx)")
def test_nginx_accepts_the_generated_configuration(tmp_path: Path) -> None:
    path = gateway.write_config(plan(tmp_path), Path(str(NGINX)))
    assert path.exists()


def test_a_missing_nginx_is_reported_with_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServeError, match="apt-get install -y nginx"):
        gateway.nginx_executable(tmp_path / "nginx")


def test_unreachable_postgresql_is_reported_before_anything_starts() -> None:
    port = free_port()  # nothing listens there
    prod = ProductionSettings(CRM_PROD_DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:{port}/crm_prod")
    with pytest.raises(ServeError, match=f"PostgreSQL does not answer at 127.0.0.1:{port}"):
        check_services(prod)


def test_unreachable_redis_is_reported_before_anything_starts() -> None:
    import psycopg

    try:  # PostgreSQL is checked first
        psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", connect_timeout=2).close()
    except psycopg.Error:
        pytest.skip("needs the local PostgreSQL (127.0.0.1:5432, database test) to get past the first check")
    port = free_port()
    prod = ProductionSettings(
        CRM_PROD_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:5432/crm_prod",
        CRM_PROD_ADMIN_DATABASE="test",
        CRM_PROD_LOCK_STORE_URL=f"redis://127.0.0.1:{port}/1",
    )
    with pytest.raises(ServeError, match=f"Redis does not answer at 127.0.0.1:{port} \\(lock store\\)"):
        check_services(prod)


def test_rasa_runs_with_the_postgresql_tracker_store_and_the_redis_lock_store(tmp_path: Path) -> None:
    source = tmp_path / "endpoints.yml"
    source.write_text("tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: var/tracker.sqlite3\n")
    prod = ProductionSettings(
        CRM_PROD_TRACKER_URL="postgresql://shop:pw@db.internal:5433/conversations",
        CRM_PROD_LOCK_STORE_URL="redis://127.0.0.1:6380/3",
    )
    out = production_endpoints(source, tmp_path / "runtime.yml", prod=prod, actions_port=5055, key_prefix="crmab12")
    data = yaml.safe_load(out.read_text())
    assert data["tracker_store"] == {
        "type": "bot.rasa_runtime.stores.ResilientSQLTrackerStore",
        "dialect": "postgresql",
        "url": "db.internal",
        "port": 5433,
        "db": "conversations",
        "username": "shop",
        "password": "pw",
        "login_db": "test",
    }
    assert data["lock_store"] == {
        "type": "bot.rasa_runtime.stores.LeaseRedisLockStore",
        "url": "127.0.0.1",
        "port": 6380,
        "db": 3,
        "key_prefix": "crmab12",
        "socket_timeout": 2,
    }
    assert data["action_endpoint"]["url"] == "http://127.0.0.1:5055/webhook"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # it holds the password


def test_the_servers_run_in_production_mode_without_the_demo_and_count_limits_in_redis() -> None:
    env = production_env(Settings(), {"CRM_DEMO": "1", "PATH": "/usr/bin"})
    assert "CRM_DEMO" not in env
    assert env["CRM_ENV"] == "production"
    assert env["CRM_RATE_LIMIT_STORAGE"].startswith("redis://")
    assert env["DATABASE_URL"].startswith("postgresql")
    Settings(**{k: v for k, v in env.items() if k.startswith("CRM_") or k == "DATABASE_URL"})  # accepted as is


def test_crm_serve_production_fails_with_one_line_when_postgresql_is_down(tmp_path: Path) -> None:
    port = free_port()
    model = tmp_path / "m.tar.gz"
    model.write_bytes(b"")
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "--production", "--model", str(model)],
        env={
            **os.environ,
            "CRM_PROD_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{port}/crm_prod",
            "CRM_RASA_BIN": sys.executable,  # exists: the check gets as far as the stores
            "CRM_VAR_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"PostgreSQL does not answer at 127.0.0.1:{port}" in done.stderr.replace("\n", " ")


@pytest.fixture
def lone_gateway(tmp_path: Path) -> Iterator[str]:
    """The gateway with nothing behind it: what it refuses itself answers 404/413/429, what it passes on 503."""
    if NGINX is None:
        pytest.skip("nginx is not installed (Debian: apt-get install -y nginx)")
    lone = plan(
        tmp_path,
        rasa_ports=(free_port(),),
        web_port=free_port(),
        port=free_port(),
        chat_rate=2,
        action_ports=(free_port(),),
        actions_port=free_port(),
    )
    with running_gateway(lone):
        yield lone.url


@contextmanager
def running_gateway(config: gateway.GatewayPlan) -> Iterator[None]:
    """nginx with ``config`` until the block ends (it answers on its public port when the block starts)."""
    assert NGINX is not None
    gateway.write_config(config, Path(NGINX))
    launch = gateway.gateway(config, Path(NGINX))
    proc = subprocess.Popen(launch.argv, env=launch.env)
    try:
        for _ in range(100):
            probe = http.client.HTTPConnection("127.0.0.1", config.port, timeout=1)
            try:
                probe.connect()
                break
            except OSError:
                time.sleep(0.05)
            finally:
                probe.close()
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def status_of(base_url: str, method: str, path: str, body: bytes | None = None) -> int:
    url = httpx.URL(base_url)
    conn = http.client.HTTPConnection(url.host, url.port, timeout=10)
    try:
        conn.request(method, path, body=body)
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.parametrize(
    "path",
    [
        "/webhooks/%2e%2e/status",
        "/webhooks/%2E%2E/status",
        "/webhooks/..%2fstatus",
        "/webhooks/rest\\..\\..\\status",
        "/webhooks/%5c..%5cstatus",
        "/webhooks/./rest/webhook",
        "/webhooks/rest/../../status",
        "//webhooks/rest/webhook",
        "/metrics",
        "/health",
    ],
)
def test_the_gateway_refuses_paths_not_in_canonical_form_and_operators_endpoints(lone_gateway: str, path: str) -> None:
    assert status_of(lone_gateway, "GET", path) == 404


def test_the_gateway_passes_the_channels_and_the_web_app_on(lone_gateway: str) -> None:
    for path in ("/webhooks/rest/webhook", "/socket.io/?EIO=4&transport=polling", "/", "/console"):
        assert status_of(lone_gateway, "GET", path) == 503, path  # passed on, and nobody answers


def test_the_gateway_refuses_a_body_over_one_mebibyte(lone_gateway: str) -> None:
    assert status_of(lone_gateway, "POST", "/webhooks/rest/webhook", b"x" * ((1 << 20) + 1)) == 413
    assert status_of(lone_gateway, "POST", "/webhooks/rest/webhook", b"x" * 1000) == 503


def test_the_gateway_limits_a_clients_chat_requests(lone_gateway: str) -> None:
    statuses = [status_of(lone_gateway, "GET", "/webhooks/rest/") for _ in range(20)]
    assert 429 in statuses and statuses[0] == 503


class ActionProcess(socketserver.ThreadingTCPServer):
    """Stands in for one action-server process on a free loopback port: counts the calls it receives, and
    answers each with 200, or (``drops``) reads it and closes the connection without answering, as a
    process that dies under a call."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, *, drops: bool = False) -> None:
        self.received = 0
        self.drops = drops
        super().__init__(("127.0.0.1", 0), _CallHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _CallHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        server = self.server
        assert isinstance(server, ActionProcess)
        headers = b""
        while not headers.endswith(b"\r\n\r\n"):
            line = self.rfile.readline()
            if not line:
                return
            headers += line
        length = next(
            (int(h.split(b":")[1]) for h in headers.split(b"\r\n") if h.lower().startswith(b"content-length:")), 0
        )
        self.rfile.read(length)
        server.received += 1
        if server.drops:
            # closed with a reset (linger on, 0 s), nothing answered
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")


def post_calls(config: gateway.GatewayPlan, count: int) -> list[int]:
    """POST ``count`` action calls, one connection each, to the gateway's loopback port for the action servers."""
    assert config.actions_port is not None
    port, statuses = config.actions_port, []
    for _ in range(count):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("POST", "/webhook", body=b'{"next_action": "action_respond"}')
            statuses.append(conn.getresponse().status)
        finally:
            conn.close()
    return statuses


def gateway_before(tmp_path: Path, action_ports: tuple[int, ...]) -> gateway.GatewayPlan:
    return plan(
        tmp_path,
        rasa_ports=(free_port(),),
        web_port=free_port(),
        port=free_port(),
        action_ports=action_ports,
        actions_port=free_port(),
    )


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (Debian: apt-get install -y nginx)")
def test_an_action_call_goes_to_the_other_process_when_one_is_down(tmp_path: Path) -> None:
    live = ActionProcess()
    try:
        config = gateway_before(tmp_path, (free_port(), live.port))  # nothing listens on the first
        with running_gateway(config):
            statuses = post_calls(config, 6)
    finally:
        live.stop()
    assert statuses == [200] * 6
    assert live.received == 6


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (Debian: apt-get install -y nginx)")
def test_an_action_call_a_process_received_is_never_sent_to_another(tmp_path: Path) -> None:
    dying, live = ActionProcess(drops=True), ActionProcess()
    try:
        config = gateway_before(tmp_path, (dying.port, live.port))
        with running_gateway(config):
            statuses = post_calls(config, 6)
    finally:
        dying.stop()
        live.stop()
    assert dying.received >= 1, "the balancer never tried the first process"
    # each call was received once: the dropped ones failed (Rasa then apologises), the others were answered
    assert statuses.count(502) == dying.received
    assert statuses.count(200) == live.received
    assert dying.received + live.received == 6


def test_each_action_server_process_is_a_supervisord_program_of_its_own(tmp_path: Path) -> None:
    from supervisor.options import ServerOptions

    metrics = tmp_path / "metrics"
    launches = action_launches((5156, 5157), ProductionSettings(), env={}, metrics_dir=metrics)
    path = write_private(
        tmp_path / "sup" / "supervisord.conf",
        supervisor_config(launches, base_env=dict(os.environ), state_dir=tmp_path / "sup", log_dir=tmp_path),
    )
    options = ServerOptions()
    options.realize(args=["-c", str(path)])
    programs = {g.name: g.process_configs[0] for g in options.process_group_configs if g.name != "reaper"}
    assert sorted(programs) == ["actions-1", "actions-2"]
    ports = []
    for program in programs.values():
        argv = program.command.split()
        assert argv[1:3] == ["-m", "bot.action_server"] and "--single-process" in argv
        ports.append(argv[argv.index("--port") + 1])
        assert program.autorestart
        # one Prometheus multi-process directory: either process's /metrics adds up both
        assert program.environment["PROMETHEUS_MULTIPROC_DIR"] == str(metrics)
    assert sorted(ports) == ["5156", "5157"]


def test_with_several_workers_an_action_server_process_runs_sanics_manager(tmp_path: Path) -> None:
    prod = ProductionSettings(CRM_PROD_ACTION_WORKERS=2)
    launches = action_launches((5156,), prod, env={}, metrics_dir=tmp_path)
    assert "--single-process" not in launches["actions-1"].argv
    assert launches["actions-1"].env["CRM_ACTION_WORKERS"] == "2"


def test_the_action_server_processes_take_the_ports_after_the_one_rasa_calls() -> None:
    ports = Ports.counting_from(5005, 2, actions=5055, web=8000, action_processes=3)
    assert ports.actions == 5055 and ports.action_servers == (5056, 5057, 5058)
    assert ports.rasa == (5005, 5015)
    assert ProductionSettings().action_processes == 2
