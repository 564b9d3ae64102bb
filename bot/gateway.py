"""The nginx gateway of the production profile: its configuration, and how it is started.

:func:`render` fills ``deploy/nginx/crm.conf.template`` for a set of Rasa servers and a
web app (:class:`GatewayPlan`), and, when the plan has action-server processes, adds
``deploy/nginx/actions.conf.template``: a server on a loopback port of its own that Rasa
calls for actions, balancing them over those processes (a call goes to another process
only when it never reached the first). :func:`write_config` writes it under the
profile's state directory and has nginx check it (``nginx -t``); :func:`gateway` is the
:class:`~bot.launch.Launch` supervisord runs. nginx runs with ``-p <state dir>`` and
``-e <error log>``, so it reads and writes nothing outside the project.

TLS: set ``CRM_PROD_TLS_CERT`` and ``CRM_PROD_TLS_KEY`` (PEM files) and the gateway also
listens with TLS on ``CRM_PROD_TLS_PORT``; see README "Operating it".
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from analytics.core.settings import PROJECT_ROOT, ProductionSettings
from bot.launch import Launch, ServeError

TEMPLATE = PROJECT_ROOT / "deploy" / "nginx" / "crm.conf.template"
ACTIONS_TEMPLATE = TEMPLATE.with_name("actions.conf.template")
_PLACEHOLDER = re.compile(r"\{\{(\w{1,40})\}\}")


@dataclass(frozen=True)
class GatewayPlan:
    """What the gateway serves and where it keeps its files."""

    rasa_ports: tuple[int, ...]
    web_port: int
    state_dir: Path
    log_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    chat_rate: int = 5
    web_rate: int = 20
    tls_certificate: Optional[Path] = None
    tls_key: Optional[Path] = None
    tls_port: int = 8443
    #: the action-server processes' ports, and the loopback port where Rasa reaches them (both or neither)
    action_ports: tuple[int, ...] = ()
    actions_port: Optional[int] = None

    @classmethod
    def from_settings(
        cls,
        settings: ProductionSettings,
        *,
        rasa_ports: tuple[int, ...],
        web_port: int,
        state_dir: Path,
        log_dir: Path,
        action_ports: tuple[int, ...] = (),
        actions_port: Optional[int] = None,
    ) -> GatewayPlan:
        return cls(
            rasa_ports=rasa_ports,
            web_port=web_port,
            action_ports=action_ports,
            actions_port=actions_port,
            state_dir=state_dir,
            log_dir=log_dir,
            host=settings.gateway_host,
            port=settings.gateway_port,
            chat_rate=settings.chat_rate_per_second,
            web_rate=settings.web_rate_per_second,
            tls_certificate=settings.tls_certificate,
            tls_key=settings.tls_key,
            tls_port=settings.tls_port,
        )

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def actions_url(self) -> Optional[str]:
        """Where Rasa calls the action servers (the ``action_endpoint`` base), if the plan has them."""
        return f"http://127.0.0.1:{self.actions_port}" if self.actions_port is not None else None

    @property
    def config_path(self) -> Path:
        return self.state_dir / "nginx.conf"


def _listen(plan: GatewayPlan) -> str:
    lines = [f"        listen {plan.host}:{plan.port};"]
    if (plan.tls_certificate is None) != (plan.tls_key is None):
        raise ServeError("TLS needs both CRM_PROD_TLS_CERT and CRM_PROD_TLS_KEY (PEM files), or neither.")
    if plan.tls_certificate is not None and plan.tls_key is not None:
        for path in (plan.tls_certificate, plan.tls_key):
            if not path.is_file():
                raise ServeError(f"the TLS file {path} does not exist (CRM_PROD_TLS_CERT / CRM_PROD_TLS_KEY).")
        lines += [
            f"        listen {plan.host}:{plan.tls_port} ssl;",
            f"        ssl_certificate {plan.tls_certificate.resolve()};",
            f"        ssl_certificate_key {plan.tls_key.resolve()};",
            "        ssl_protocols TLSv1.2 TLSv1.3;",
            "        ssl_session_cache shared:tls:10m;",
        ]
    return "\n".join(lines)


def _fill(template: Path, values: dict[str, str]) -> str:
    text = template.read_text(encoding="utf-8")
    missing = sorted(set(_PLACEHOLDER.findall(text)) - set(values))
    if missing:
        raise ServeError(f"{template} has placeholders this version does not fill: {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def _action_gateway(plan: GatewayPlan, template: Path) -> str:
    """The loopback server in front of the action-server processes ("" when the plan has none)."""
    if bool(plan.action_ports) != (plan.actions_port is not None):
        raise ServeError("the action servers' gateway needs both the processes' ports and its own port")
    if not plan.action_ports:
        return ""
    return "\n\n" + _fill(
        template,
        {
            # a process that refused a connection is left out for 2 s; trying it again costs a refused connect
            "action_servers": "\n".join(
                f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;" for port in plan.action_ports
            ),
            "actions_port": str(plan.actions_port),
            "actions_access_log": str(plan.log_dir / "gateway-actions-access.log"),
        },
    ).rstrip("\n")


def render(plan: GatewayPlan, template: Path = TEMPLATE, actions_template: Path = ACTIONS_TEMPLATE) -> str:
    """The nginx configuration for ``plan`` (every placeholder of ``template`` filled, or :class:`ServeError`)."""
    if not plan.rasa_ports:
        raise ServeError("the gateway needs at least one Rasa server")
    values = {
        "pid_file": str(plan.state_dir / "nginx.pid"),
        "error_log": str(plan.log_dir / "gateway-error.log"),
        "access_log": str(plan.log_dir / "gateway-access.log"),
        "temp_dir": str(plan.state_dir / "tmp"),
        "chat_rate": str(plan.chat_rate),
        "chat_burst": str(4 * plan.chat_rate),
        "web_rate": str(plan.web_rate),
        "web_burst": str(4 * plan.web_rate),
        "rasa_servers": "\n".join(
            f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in plan.rasa_ports
        ),
        "web_server": f"127.0.0.1:{plan.web_port}",
        "listen": _listen(plan),
        "action_gateway": _action_gateway(plan, actions_template),
    }
    return _fill(template, values)


def nginx_executable(configured: Path) -> Path:
    """nginx, or a :class:`ServeError` that says how to install it."""
    found = configured if configured.is_file() else Path(shutil.which("nginx") or configured)
    if not found.is_file():
        raise ServeError(
            f"nginx is not installed ({configured} is missing): install Debian's package "
            "(`apt-get install -y nginx` as root) or set CRM_NGINX_BIN."
        )
    return found


def _arguments(plan: GatewayPlan) -> list[str]:
    return ["-p", str(plan.state_dir), "-c", str(plan.config_path), "-e", str(plan.log_dir / "gateway-error.log")]


def write_config(plan: GatewayPlan, nginx: Path) -> Path:
    """Write the configuration of ``plan`` and have nginx check it; :class:`ServeError` with nginx's words if not."""
    for folder in (plan.state_dir / "tmp", plan.log_dir):
        folder.mkdir(parents=True, exist_ok=True)
    plan.config_path.write_text(render(plan), encoding="utf-8")
    check = subprocess.run([str(nginx), "-t", "-q", *_arguments(plan)], capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        raise ServeError(f"nginx refused the gateway's configuration ({plan.config_path}):\n{check.stderr.strip()}")
    return plan.config_path


def gateway(plan: GatewayPlan, nginx: Path) -> Launch:
    """nginx in the foreground with ``plan``'s configuration (written first by :func:`write_config`)."""
    return Launch([str(nginx), *_arguments(plan), "-g", "daemon off;"], dict(os.environ))
